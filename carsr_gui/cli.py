"""The ``carsr`` command line: upscale, eval, info, train."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from carsr_gui import __version__, batch, devices, image_io, tiling
from carsr_gui.engine import SCALES
from carsr_gui.model_choice import MODEL_SETTINGS, describe_auto
from carsr_gui.tiling import DEFAULT_MARGIN, DEFAULT_TILE

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
    from carsr_gui.resources import WeightsError, bundled_models, bundled_weights
    from carsr_gui.tf_setup import keras, tf

    print(f"carsr {__version__}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    gpus = devices.gpus()
    print("GPUs: " + (", ".join(devices.gpu_name(i) for i in range(len(gpus))) or "none"))
    print(f"CPU bfloat16 support (AVX-512 BF16/AMX): {'yes' if devices.cpu_has_bf16() else 'no'}")
    device = devices.resolve_device("auto")
    print(f"default device: {devices.describe(device, devices.resolve_precision('auto', device))}")
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


def cmd_train(args) -> int:
    import os

    from carsr_gui.train import TrainConfig, run_local_workers, train, worker_argv

    if args.workers > 1:
        if "TF_CONFIG" in os.environ:
            say(None, "--workers starts a cluster of its own: unset TF_CONFIG, or leave --workers")
            return EXIT_USAGE
        return run_local_workers(worker_argv(args.argv), args.workers, grace=args.timeout + 30)
    cfg = TrainConfig(
        data=args.data,
        val=args.val,
        out=args.out,
        variant=args.variant,
        steps=args.steps,
        batch=args.batch,
        patch=args.patch,
        lr=args.lr,
        loss=args.loss,
        dropout=args.dropout,
        seed=args.seed,
        precision=args.precision,
        strategy=args.strategy,
        resume=args.resume,
        init=args.init,
        width=args.width,
        steps_per_epoch=args.steps_per_epoch,
        val_images=args.val_images,
        degradation=args.degradation,
        jpeg_quality=args.jpeg_quality,
        jpeg_fraction=args.jpeg_fraction,
        timeout=args.timeout,
    )
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
        sp.add_argument("--precision", choices=devices.PRECISIONS, default="auto")
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

    info = sub.add_parser("info", help="versions, devices and the bundled model")
    info.set_defaults(func=cmd_info)

    be = sub.add_parser("bench", help="measure speed, tile overhead, start-up and memory")
    be.add_argument(
        "--size", type=_size, default=(1024, 1024), help="input WxH (default 1024x1024)"
    )
    be.add_argument("--device", choices=devices.DEVICES, default="auto")
    be.add_argument("--precision", choices=devices.PRECISIONS, default="auto")
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

    tr = sub.add_parser("train", help="train the model on a folder of photos")
    tr.add_argument("--data", type=Path, required=True)
    tr.add_argument("--val", type=Path)
    tr.add_argument("--out", type=Path, default=Path("runs/carsr"))
    tr.add_argument("--steps", type=_positive, default=20_000)
    tr.add_argument("--steps-per-epoch", type=_positive, default=250)
    tr.add_argument(
        "--val-images", type=_positive, default=50, help="validation photos scored per epoch"
    )
    tr.add_argument("--batch", type=_positive, default=16)
    tr.add_argument("--patch", type=_positive, default=64)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument(
        "--loss", choices=("l1", "mse"), help="default l1; on --resume, the checkpoint's own"
    )
    tr.add_argument(
        "--dropout", type=float, default=0.0, help="rate of the seed's dropout layer (default 0)"
    )
    tr.add_argument(
        "--degradation",
        choices=("clean", "jpeg"),
        default="clean",
        help="jpeg: most low-res patches are saved as a JPEG of a random quality first",
    )
    tr.add_argument(
        "--jpeg-quality",
        type=_quality_range,
        default=(30, 95),
        metavar="LO-HI",
        help="JPEG qualities drawn for --degradation jpeg (default 30-95)",
    )
    tr.add_argument(
        "--jpeg-fraction",
        type=float,
        default=0.85,
        help="share of patches made from a JPEG under --degradation jpeg (default 0.85)",
    )
    tr.add_argument("--variant", choices=("carsr", "seed"), default="carsr")
    tr.add_argument("--width", type=_positive, default=64, help=argparse.SUPPRESS)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--precision", choices=devices.PRECISIONS, default="auto")
    tr.add_argument(
        "--strategy", choices=("auto", "default", "mirrored", "multiworker"), default="auto"
    )
    tr.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="train as N worker processes on this machine (a local cluster, see the README)",
    )
    tr.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        help="seconds a worker waits for the others before the run ends with an error (default 60)",
    )
    tr.add_argument("--resume", action="store_true", help="continue the run in --out")
    tr.add_argument(
        "--init",
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
