"""``carsr bench``: where the time goes, measured (a benchmark, not a test).

The engine is measured in a child process started through carsr's own entry point
(``carsr bench --probe``, which works from source and from the frozen app alike): its import and
load times are what a user waits for, and its peak memory is the engine's alone. The reference,
the plain float32 model over the whole bicubic image, runs in a child of its own before and after
the engine's (``--probe --reference``), and the ratio uses the mean of the two: this build
machine's speed drifts by about 10% within minutes, and a reference timed once, minutes away from
the engine, moved the ratio by as much. (Run in this process instead, the reference kept its
TensorFlow runtime and memory alive beside the engine, whose first photo then measured several
times further behind later ones than with nothing else running: README, *Speed*.)
"""

from __future__ import annotations

import datetime
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

#: Input size at which the reference runs when a whole-image pass at the asked size does not fit.
REFERENCE_SIZE = (1024, 1024)
#: Bytes per output pixel of a whole-image float32 pass: about four live 64-channel activations.
WHOLE_PASS_BYTES_PER_PIXEL = 4 * 64 * 4
#: Megapixels of the output of a 4000x3000 photo enlarged 2x (a 12 MP phone photo).
PHOTO_OUTPUT_MP = 48.0


def photo_like(width: int, height: int) -> np.ndarray:
    """A photo-like input (smooth plus texture), not noise: activations and speed are realistic."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    img = (127 + 60 * np.sin(xx / 17) * np.cos(yy / 23))[..., None] + rng.normal(
        0, 12, (height, width, 3)
    )
    return np.clip(img, 0, 255).astype(np.uint8)


def whole_pass_fits(width: int, height: int) -> bool:
    """Whether a whole-image pass over a ``width`` x ``height`` input fits in half of the memory
    available now."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # not on every platform
        available = 8 << 30
    return 4 * width * height * WHOLE_PASS_BYTES_PER_PIXEL < available // 2


def peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux that is VmHWM: ``ru_maxrss`` keeps the
    parent's peak across the fork and exec that started this process (the bench's parent holds
    its reference passes' memory), which made the engine's peak read 4.8 GB instead of 2 GB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # no /proc: not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# -- the child: the engine alone ---------------------------------------------------------------


def probe(
    width: int, height: int, device: str, precision: str, tile: int, repeats: int, jit: bool
) -> dict:
    """Runs in the child: import, engine load, the first photo of this size and the best of
    ``repeats`` later ones, peak memory after them; then one whole-image pass with the same
    settings (if it fits) for the tile overhead."""
    t0 = time.perf_counter()
    import carsr_gui.tf_setup  # noqa: F401  (what importing TensorFlow costs)
    from carsr_gui import tiling
    from carsr_gui.engine import Engine

    t1 = time.perf_counter()
    options = {"device": device, "precision": precision, "jit": jit}
    engine = Engine(tile=tile, **options)
    t2 = time.perf_counter()
    rgb = photo_like(width, height)
    first = _timed(lambda: engine.upscale(rgb))
    later = min(_timed(lambda: engine.upscale(rgb)) for _ in range(repeats))
    peak = peak_rss_mb()
    whole = None
    if whole_pass_fits(width, height):
        one = tiling.whole_tile(2 * height, 2 * width, tiling.DEFAULT_MARGIN)
        engine = Engine(tile=one, runner=engine.runner)  # the same model, in one tile
        engine.upscale(rgb)  # the first pass of a shape is not the steady state
        whole = min(_timed(lambda: engine.upscale(rgb)) for _ in range(repeats))
    choice = engine.runner.choice
    return {
        "device": engine.description,
        "precision": choice.summary() if choice else f"{precision} (forced)",
        "xla": engine.runner.jit,
        "import_tensorflow_s": t1 - t0,
        "model_load_s": t2 - t1,
        "first_s": first,
        "later_s": later,
        "whole_s": whole,
        "peak_rss_mb": peak,
        "pid": os.getpid(),
    }


def reference_probe(width: int, height: int, device: str, repeats: int) -> dict:
    """Runs in a child: the reference's best time over ``repeats`` (see :func:`reference_timer`)."""
    return {"reference_s": reference_timer(width, height, device)(repeats), "pid": os.getpid()}


def probe_command(argv: list[str]) -> list[str]:
    """``carsr bench --probe ARGV`` through carsr's own entry point: the frozen executable takes
    carsr's arguments itself (it has no ``-c``), a source install runs ``python -m carsr_gui``."""
    entry = (
        [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "carsr_gui"]
    )
    return [*entry, "bench", "--probe", *argv]


def _run_probe(argv: list[str]) -> dict:
    done = subprocess.run(probe_command(argv), capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"the engine probe failed (exit {done.returncode}):\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- this process: the reference and the report ------------------------------------------------


@dataclass
class BenchReport:
    date: str
    cpu: str
    device: str
    #: What ran and why: the measured choice behind ``auto``, or "forced".
    precision: str
    tensorflow: str
    size: str
    tile: int
    xla: bool
    reference_size: str
    baseline_fp32_mp_s: float
    #: The reference timed before and after the engine (baseline_fp32_mp_s is their mean).
    reference_mp_s: tuple[float, float]
    engine_mp_s: float
    engine_s_per_image: float
    first_image_s: float
    speedup_vs_fp32: float
    whole_image_mp_s: float | None
    tile_overhead_pct: float | None
    s_per_4000x3000_photo: float
    peak_rss_mb: float
    startup: dict
    load_average: tuple[float, float]
    #: The processes of the reference before the engine, the engine and the reference after it.
    pids: tuple[int, int, int]
    psnr_change_db: float | None = None

    def text(self) -> str:
        w, h = (int(v) for v in self.size.split("x"))
        rw, rh = (int(v) for v in self.reference_size.split("x"))
        reference = "" if self.reference_size == self.size else f", at output {2 * rw}x{2 * rh}"
        first = 100 * (self.first_image_s / self.engine_s_per_image - 1)
        if self.tile_overhead_pct is None:
            overhead = "not measured: a whole-image pass of this size does not fit in memory"
        else:
            overhead = (
                f"{self.tile_overhead_pct:+.1f}% (against one whole-image pass with the same "
                f"precision and settings: {self.whole_image_mp_s:.3f} MP/s)"
            )
        lines = [
            f"date             {self.date}",
            f"CPU              {self.cpu}",
            f"device           {self.device}",
            f"precision        {self.precision}",
            f"TensorFlow       {self.tensorflow}",
            f"input            {self.size} (output {2 * w}x{2 * h}), tile {self.tile}, "
            f"XLA {'on' if self.xla else 'off'}",
            f"fp32 whole-image {self.baseline_fp32_mp_s:.3f} output MP/s (plain model, the "
            f"reference{reference}; mean of {self.reference_mp_s[0]:.3f} before and "
            f"{self.reference_mp_s[1]:.3f} after the engine)",
            f"engine           {self.engine_mp_s:.3f} output MP/s end to end, "
            f"{self.engine_s_per_image:.2f} s/image, {self.speedup_vs_fp32:.2f}x the reference",
            f"first image      {self.first_image_s:.2f} s ({first:+.1f}% against later ones)",
            f"tile overhead    {overhead}",
            f"4000x3000 photo  {self.s_per_4000x3000_photo:.1f} s (at this rate)",
            f"peak memory      {self.peak_rss_mb:.0f} MB (the engine's process)",
            "start-up         "
            + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in self.startup.items()),
            f"load average     {self.load_average[0]:.2f} before, {self.load_average[1]:.2f} after",
        ]
        if self.psnr_change_db is not None:
            lines.append(f"PSNR change      {self.psnr_change_db:+.4f} dB vs float32 inference")
        return "\n".join(lines)


def psnr_change(device: str, precision: str, tile: int, folder: Path, limit: int = 20) -> float:
    """Mean RGB PSNR of the engine minus that of the same weights in float32, on real photos."""
    from carsr_gui import evaluate, image_io, metrics
    from carsr_gui.engine import Engine

    engine = Engine(device=device, precision=precision, tile=tile)
    reference = Engine(device=device, precision="fp32", tile=tile)
    diffs = []
    for path in sorted(folder.iterdir())[:limit]:
        hr, lr = evaluate.ground_truth(image_io.load(path).rgb)
        diffs.append(
            metrics.psnr(engine.upscale(lr).output, hr)
            - metrics.psnr(reference.upscale(lr).output, hr)
        )
    return float(np.mean(diffs))


def reference_timer(width: int, height: int, device: str) -> Callable[[int], float]:
    """Seconds of the plain float32 model over the whole bicubic image as one ``tf.function``,
    best of the given number of repeats (built and called once here)."""
    from carsr_gui import resample
    from carsr_gui.model import build_model
    from carsr_gui.resources import bundled_weights
    from carsr_gui.tf_setup import tf

    weights, _ = bundled_weights()
    on_gpu = device == "gpu" or (device == "auto" and tf.config.list_physical_devices("GPU"))
    with tf.device("/GPU:0" if on_gpu else "/CPU:0"):
        plain = build_model("carsr", dtype="float32")
        plain.load_weights(weights)
        x = tf.constant(resample.enlarge(photo_like(width, height))[None] / np.float32(255.0))
        fn = tf.function(lambda t: plain(t, training=False))
        fn(x).numpy()

    def seconds(repeats: int) -> float:
        with tf.device("/GPU:0" if on_gpu else "/CPU:0"):
            return min(_timed(lambda: fn(x).numpy()) for _ in range(repeats))

    return seconds


def run(
    width: int = 1024,
    height: int = 1024,
    device: str = "auto",
    precision: str = "auto",
    tile: int | None = None,
    repeats: int = 2,
    quality_dir: Path | None = None,
    jit: bool = False,
) -> BenchReport:
    from carsr_gui import devices
    from carsr_gui.tiling import DEFAULT_TILE

    tile = tile or DEFAULT_TILE
    load_before = os.getloadavg()[0]
    args = [f"--size={width}x{height}", f"--device={device}", f"--precision={precision}"]
    args += [f"--tile={tile}", f"--repeats={repeats}"] + (["--xla"] if jit else [])
    ref_w, ref_h = (width, height) if whole_pass_fits(width, height) else REFERENCE_SIZE
    ref_size = f"--size={ref_w}x{ref_h}"
    ref_args = [ref_size, f"--device={device}", f"--repeats={repeats}", "--reference"]
    ref_mp = 4 * ref_w * ref_h / 1e6
    first_reference = _run_probe(ref_args)
    child = _run_probe(args)
    last_reference = _run_probe(ref_args)
    before, after = (ref_mp / r["reference_s"] for r in (first_reference, last_reference))
    from carsr_gui.tf_setup import tf  # only now: nothing of TensorFlow's here while they run

    base_mp_s = (before + after) / 2
    change = psnr_change(device, precision, tile, quality_dir) if quality_dir else None
    out_mp = 4 * width * height / 1e6
    engine_mp_s = out_mp / child["later_s"]
    whole = child["whole_s"]
    return BenchReport(
        date=datetime.date.today().isoformat(),
        cpu=devices.cpu_summary(),
        device=child["device"],
        precision=child["precision"],
        tensorflow=f"{tf.__version__} ({_build(tf)})",
        size=f"{width}x{height}",
        tile=tile,
        xla=child["xla"],
        reference_size=f"{ref_w}x{ref_h}",
        baseline_fp32_mp_s=base_mp_s,
        reference_mp_s=(before, after),
        engine_mp_s=engine_mp_s,
        engine_s_per_image=child["later_s"],
        first_image_s=child["first_s"],
        speedup_vs_fp32=engine_mp_s / base_mp_s,
        whole_image_mp_s=None if whole is None else out_mp / whole,
        tile_overhead_pct=None if whole is None else 100 * (child["later_s"] / whole - 1),
        s_per_4000x3000_photo=PHOTO_OUTPUT_MP / engine_mp_s,
        peak_rss_mb=child["peak_rss_mb"],
        startup={k: child[k] for k in ("import_tensorflow_s", "model_load_s")},
        load_average=(load_before, os.getloadavg()[0]),
        pids=(first_reference["pid"], child["pid"], last_reference["pid"]),
        psnr_change_db=change,
    )


def _build(tf) -> str:
    info = tf.sysconfig.get_build_info()
    if info.get("is_cuda_build"):
        return f"built with CUDA {info.get('cuda_version')}, cuDNN {info.get('cudnn_version')}"
    return "CPU build"


def to_json(report: BenchReport) -> str:
    return json.dumps(asdict(report), indent=1)
