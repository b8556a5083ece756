"""The ``carsr`` command line: upscale, eval, info, train."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import MISSING, fields
from pathlib import Path

from carsr_gui import __version__, batch, devices, image_io, tiling
from carsr_gui.engine import SCALES
from carsr_gui.model_choice import MODEL_SETTINGS, describe_auto
from carsr_gui.tiling import DEFAULT_MARGIN, DEFAULT_TILE
from carsr_gui.train_config import DEGRADATIONS, LOSSES, STRATEGIES, TrainConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def say(path: object, message: str) -> None:
    """The one-line report of a file's failure or note: ``carsr: <path>: <reason>``."""
    print(f"carsr: {path}: {message}" if path else f"carsr: {message}", file=sys.stderr)


def expand_inputs(inputs: Iterable[Path]) -> list[Path]:
    """Files as given; folders replaced by the images inside them (others noted and skipped)."""
    found = batch.expand(inputs)
    for path in found.skipped:
        say(path, batch.SKIPPED_REASON)
    return found.files


def _engine(args):
    from carsr_gui.model_choice import Engines

    return Engines(
        args.model,
        args.weights,
        device=args.device,
        precision=args.precision,
        tile=args.tile,
        margin=args.margin,
        tta=args.tta,
    )


def cmd_upscale(args) -> int:
    from tqdm import tqdm

    from carsr_gui.resources import WeightsError

    files = expand_inputs(args.inputs)
    if not files:
        say(None, "no images to upscale")
        return EXIT_FAILED
    try:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        say(args.output_dir, f"cannot create the output folder: {exc.strerror or exc}")
        return EXIT_USAGE
    try:
        engine = _engine(args)
    except (WeightsError, RuntimeError, ValueError) as exc:
        say(None, str(exc))
        return EXIT_FAILED
    protected = {p.resolve() for p in files}
    queue = batch.Batch()
    for src in files:
        queue.add(
            batch.Job(queue.new_id(), src, args.scale, fmt=args.format, max_pixels=args.max_pixels)
        )
    show = not args.quiet
    code = EXIT_OK
    with tqdm(
        total=len(files), unit="image", disable=not show, file=sys.stderr, desc="carsr"
    ) as bar:

        def write(done: batch.Enlarged) -> Path:
            dest = batch.write(
                done,
                args.output_dir,
                quality=args.quality,
                overwrite=args.overwrite,
                protected=protected,
            )
            result = done.result
            for note in result.notes:
                if note != result.weights:  # said by --verbose: one line per file is noise
                    bar.write(f"carsr: {done.job.path}: {note}", file=sys.stderr)
            if args.verbose:
                bar.write(
                    f"{done.job.path} -> {dest} ({result.seconds:.1f} s, {result.device}, "
                    f"{result.weights})",
                    file=sys.stderr,
                )
            return dest

        while (item := queue.start_next()) is not None:
            src = item.job.path
            tiles = tqdm(
                unit="pass" if args.tta else "tile",  # TTA: eight passes over each tile
                leave=False,
                disable=not show,
                file=sys.stderr,
                desc=src.name[:30],
            )

            def progress(done: int, total: int, tiles=tiles) -> None:
                tiles.total = total
                tiles.n = done
                tiles.refresh()

            try:
                outcome = batch.run(item.job, lambda: engine, write, progress=progress)
            except KeyboardInterrupt:
                outcome = batch.Outcome(batch.State.CANCELLED)
            finally:
                tiles.close()
            if outcome.state is batch.State.DONE:
                queue.done(item.job.id)
            elif outcome.state is batch.State.FAILED:  # this photo ends, never the batch
                queue.failed(item.job.id, outcome.reason)
                bar.write(f"carsr: {outcome.where}: {outcome.reason}", file=sys.stderr)
                if args.stop_on_error and queue.waiting:
                    say(None, f"stopped at the first failure: {len(queue.waiting)} not processed")
                    queue.cancel_waiting()
            else:  # Ctrl+C (the command line has no other cancel)
                queue.cancelled(item.job.id)
                queue.cancel_waiting()
                say(src, "interrupted; no partial output written")
                code = 130
            bar.update()
    say(None, queue.summary())
    if code == EXIT_OK and queue.count(batch.State.DONE) != len(files):
        code = EXIT_FAILED
    return code


def cmd_eval(args) -> int:
    from carsr_gui import evaluate
    from carsr_gui.resources import WeightsError

    files = expand_inputs(args.inputs)
    try:
        engine = _engine(args)
    except (WeightsError, RuntimeError, ValueError) as exc:
        say(None, str(exc))
        return EXIT_FAILED
    rows, failed = [], 0
    for path in files:
        try:
            rows.append(evaluate.evaluate_file(engine, path, args.jpeg))
        except Exception as exc:  # any failure ends this photo, never the batch
            failed += 1
            say(path, batch.reason_of(exc))
    if args.json:
        print(
            json.dumps(
                {
                    "rows": [r.as_dict() for r in rows],
                    "mean": evaluate.mean(rows).as_dict() if rows else None,
                },
                indent=1,
            )
        )
    else:
        print(evaluate.table(rows))
    return EXIT_FAILED if failed or not rows else EXIT_OK


def cmd_info(args) -> int:
    from carsr_gui import precision
    from carsr_gui.resources import WeightsError, bundled_models, bundled_weights
    from carsr_gui.tf_setup import keras, tf

    print(f"carsr {__version__}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    gpus = devices.gpus()
    print("GPUs: " + (", ".join(devices.gpu_name(i) for i in range(len(gpus))) or "none"))
    print(f"CPU: {devices.cpu_summary()}")
    device = devices.resolve_device("auto")
    choice = precision.bundled_choice(device, retime=args.retime)
    print(f"default device: {devices.describe(device, choice.precision)}")
    print(f"precision (auto): {choice.summary()}")
    print(f"  cached in {precision.cache_file()} (carsr info --retime measures again)")
    print(f"weights choice (--model auto): {describe_auto()}")
    for name in ["clean", *(n for n in bundled_models() if n != "clean")]:
        try:
            path, card = bundled_weights(name)
        except WeightsError as exc:
            say(None, str(exc))
            return EXIT_FAILED
        print(f"{name} weights: {path} (sha256 verified)")
        print(f"  model: {card.get('summary', card.get('variant'))}")
        for key, value in card.get("quality", {}).items():
            print(f"  {key}: {value}")
    return EXIT_OK


def cmd_quantize(args) -> int:
    from carsr_gui import int8
    from carsr_gui.resources import WeightsError, bundled_models, bundled_weights

    try:
        targets = args.weights or [bundled_weights(name)[0] for name in bundled_models()]
        for weights in targets:
            record = int8.quantize(weights)
            print(f"{int8.path_for(weights)}: sha256 {record['sha256'][:12]}... (from {weights})")
    except (WeightsError, OSError) as exc:
        say(None, str(exc))
        return EXIT_FAILED
    return EXIT_OK


def cmd_train(args) -> int:
    import os

    from carsr_gui.train import run_local_workers, train, worker_argv

    if args.workers > 1:
        if "TF_CONFIG" in os.environ:
            say(None, "--workers starts a cluster of its own: unset TF_CONFIG, or leave --workers")
            return EXIT_USAGE
        return run_local_workers(worker_argv(args.argv), args.workers, grace=args.timeout + 30)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    weights = train(cfg)
    if weights is not None:  # None: a worker other than the chief
        print(f"weights written to {weights}")
    return EXIT_OK


def cmd_bench(args) -> int:
    from carsr_gui import bench

    if args.probe:  # a child process that measures the engine or the reference alone
        if args.reference:
            figures = bench.reference_probe(*args.size, args.device, args.repeats)
        else:
            figures = bench.probe(
                *args.size, args.device, args.precision, args.tile, args.repeats, args.xla
            )
        print(json.dumps(figures))
        return EXIT_OK
    report = bench.run(
        *args.size,
        args.device,
        args.precision,
        args.tile,
        args.repeats,
        args.quality_dir,
        args.xla,
    )
    print(bench.to_json(report) if args.json else report.text())
    return EXIT_OK


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH such as 1024x768, not {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, not {text!r}")
    return w, h


def _quality_range(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO-HI such as 30-95, not {text!r}") from None
    if not 1 <= lo <= hi <= 100:
        raise argparse.ArgumentTypeError(f"qualities must satisfy 1 <= LO <= HI <= 100: {text!r}")
    return lo, hi


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="carsr", description="Make car photos sharper and larger.")
    p.add_argument("--version", action="version", version=f"carsr {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def engine_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--device", choices=devices.DEVICES, default="auto")
        sp.add_argument(
            "--precision",
            choices=devices.PRECISIONS,
            default="auto",
            help="auto (default): the fastest that keeps the quality, measured once per device",
        )
        sp.add_argument(
            "--tile",
            type=_positive,
            default=DEFAULT_TILE,
            help=f"tile size in output pixels (default {DEFAULT_TILE})",
        )
        sp.add_argument("--margin", type=_positive, default=DEFAULT_MARGIN, help=argparse.SUPPRESS)
        sp.add_argument(
            "--tta",
            action="store_true",
            help="average 8 flipped and turned passes: about 0.1 dB sharper, 8x slower",
        )
        sp.add_argument(
            "--model",
            choices=MODEL_SETTINGS,
            default="auto",
            help=f"bundled weights: auto picks them per photo, {describe_auto()}",
        )
        sp.add_argument(
            "--weights",
            type=Path,
            default=None,
            help="weights file; overrides --model (default: the bundled weights)",
        )

    up = sub.add_parser("upscale", help="enlarge photos and write them to a folder")
    up.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders")
    up.add_argument("--output-dir", "-o", type=Path, required=True)
    up.add_argument("--scale", type=int, choices=SCALES, default=2)
    up.add_argument("--format", choices=list(image_io.FORMATS), default="png")
    up.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (default 95)")
    up.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    up.add_argument(
        "--max-pixels",
        type=_positive,
        default=image_io.DEFAULT_MAX_PIXELS,
        help="refuse inputs that declare more pixels than this",
    )
    up.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    up.add_argument("--verbose", "-v", action="store_true", help="a line per finished file")
    up.add_argument(
        "--stop-on-error",
        action="store_true",
        help="stop at the first file that fails (default: report it and go on)",
    )
    engine_options(up)
    up.set_defaults(func=cmd_upscale)

    ev = sub.add_parser("eval", help="PSNR/SSIM of bicubic and the model on ground-truth images")
    ev.add_argument("inputs", nargs="+", type=Path, metavar="HR_PATH")
    ev.add_argument("--json", action="store_true", help="machine-readable output")
    ev.add_argument(
        "--jpeg",
        type=int,
        choices=range(1, 101),
        metavar="Q",
        help="save the low-res as a JPEG of quality Q (1-100) first, as photos come",
    )
    engine_options(ev)
    ev.set_defaults(func=cmd_eval)

    info = sub.add_parser("info", help="versions, devices, the precision chosen, the bundled model")
    info.add_argument(
        "--retime",
        action="store_true",
        help="time the precisions again and replace the cached choice (--precision auto)",
    )
    info.set_defaults(func=cmd_info)

    be = sub.add_parser("bench", help="measure speed, tile overhead, start-up and memory")
    be.add_argument(
        "--size", type=_size, default=(1024, 1024), help="input WxH (default 1024x1024)"
    )
    be.add_argument("--device", choices=devices.DEVICES, default="auto")
    be.add_argument(
        "--precision",
        choices=devices.PRECISIONS,
        default="auto",
        help="auto (default): what carsr upscale runs; or one forced",
    )
    be.add_argument("--tile", type=_positive, default=DEFAULT_TILE)
    be.add_argument("--repeats", type=_positive, default=2, help="later images timed (best of)")
    be.add_argument(
        "--quality-dir",
        type=Path,
        default=None,
        help="photos to measure the PSNR change against float32 on",
    )
    be.add_argument(
        "--xla",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="compile the model with XLA, once per tile shape (default: off; see README, Speed)",
    )
    be.add_argument("--json", action="store_true")
    be.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    be.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    be.set_defaults(func=cmd_bench, margin=DEFAULT_MARGIN)

    qu = sub.add_parser(
        "quantize", help="write the int8 model of each bundled weights file (or --weights)"
    )
    qu.add_argument("--weights", type=Path, action="append", help="a weights file (repeatable)")
    qu.set_defaults(func=cmd_quantize)

    tr = sub.add_parser("train", help="train the model on a folder of photos")
    # Every option of TrainConfig, with its default from there (``--workers`` is the CLI's own).
    train_default = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}

    def train_option(name: str, **kwargs) -> None:
        if name in train_default:
            kwargs["default"] = train_default[name]
        tr.add_argument(f"--{name.replace('_', '-')}", **kwargs)

    train_option("data", type=Path, required=True)
    train_option("val", type=Path)
    train_option("out", type=Path)
    train_option("steps", type=_positive)
    train_option("steps_per_epoch", type=_positive)
    train_option("val_images", type=_positive, help="validation photos scored per epoch")
    train_option("batch", type=_positive)
    train_option("patch", type=_positive)
    train_option("lr", type=float)
    train_option(
        "loss", choices=tuple(LOSSES), help="default l1; on --resume, the checkpoint's own"
    )
    train_option(
        "dropout", type=float, help="rate of the seed's dropout layer (default %(default)s)"
    )
    train_option(
        "degradation",
        choices=DEGRADATIONS,
        help="jpeg: most low-res patches are saved as a JPEG of a random quality first",
    )
    train_option(
        "jpeg_quality",
        type=_quality_range,
        metavar="LO-HI",
        help="JPEG qualities drawn for --degradation jpeg (default {}-{})".format(
            *train_default["jpeg_quality"]
        ),
    )
    train_option(
        "jpeg_fraction",
        type=float,
        help="share of patches made from a JPEG under --degradation jpeg (default %(default)s)",
    )
    train_option("variant", choices=("carsr", "seed"))
    train_option("width", type=_positive, help=argparse.SUPPRESS)
    train_option("seed", type=int)
    train_option("precision", choices=devices.PRECISIONS)
    train_option("strategy", choices=STRATEGIES)
    tr.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="train as N worker processes on this machine (a local cluster, see the README)",
    )
    train_option(
        "timeout",
        type=_seconds,
        help="seconds a worker waits for the others before the run ends with an error "
        "(default %(default)g)",
    )
    train_option("resume", action="store_true", help="continue the run in --out")
    train_option(
        "init",
        type=Path,
        metavar="WEIGHTS",
        help="start a new run from these weights (e.g. model_weights/carsr_x2.weights.h5)",
    )
    tr.set_defaults(func=cmd_train)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if getattr(args, "tile", None) is not None:
        try:
            tiling.check(args.tile, args.margin)
        except ValueError as exc:
            p.error(f"--tile: {exc}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
