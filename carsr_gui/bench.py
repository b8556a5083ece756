"""``carsr bench``: where the time goes, measured (a benchmark, not a test)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# Measured in a fresh interpreter so that import and model load are what a user waits for.
_STARTUP = """
import json, sys, time
t0 = time.perf_counter()
import carsr_gui.tf_setup
from carsr_gui.engine import Engine
t1 = time.perf_counter()
e = Engine(device=sys.argv[1], precision=sys.argv[2])
t2 = time.perf_counter()
import numpy as np
e.upscale(np.zeros((64, 64, 3), np.uint8))
t3 = time.perf_counter()
print(json.dumps({"import_tensorflow_s": t1 - t0, "model_load_s": t2 - t1,
                  "first_result_s": t3 - t2}))
"""


@dataclass
class BenchReport:
    device: str
    tensorflow: str
    size: str
    tile: int
    batch: int
    xla: bool
    baseline_fp32_mp_s: float
    engine_mp_s: float
    engine_s_per_image: float
    speedup_vs_fp32: float
    whole_image_mp_s: float
    tile_overhead_pct: float
    s_per_12mp_output: float
    peak_rss_mb: float
    startup: dict
    psnr_change_db: float | None = None

    def text(self) -> str:
        lines = [
            f"device           {self.device}",
            f"TensorFlow       {self.tensorflow}",
            f"input            {self.size} (output {self._out()}), tile {self.tile}, batch {self.batch}, XLA {'on' if self.xla else 'off'}",
            f"fp32 whole-image {self.baseline_fp32_mp_s:.3f} output MP/s (plain model, baseline)",
            f"engine           {self.engine_mp_s:.3f} output MP/s end to end, "
            f"{self.engine_s_per_image:.2f} s/image, {self.speedup_vs_fp32:.2f}x the baseline",
            f"tile overhead    {self.tile_overhead_pct:+.1f}% (tiled vs one pass, same precision: "
            f"{self.whole_image_mp_s:.3f} MP/s)",
            f"12 MP output     {self.s_per_12mp_output:.1f} s",
            f"peak memory      {self.peak_rss_mb:.0f} MB (process RSS)",
            "start-up         "
            + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in self.startup.items()),
        ]
        if self.psnr_change_db is not None:
            lines.append(f"PSNR change      {self.psnr_change_db:+.4f} dB vs float32 inference")
        return "\n".join(lines)

    def _out(self) -> str:
        w, h = (int(v) for v in self.size.split("x"))
        return f"{2 * w}x{2 * h}"


def _best_of(fn, repeats: int) -> float:
    fn()  # warm-up: tracing and first-call allocations are not steady-state cost
    return min(_timed(fn) for _ in range(repeats))


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def startup_times(device: str, precision: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _STARTUP, device, precision],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def psnr_change(engine, folder: Path, limit: int = 20) -> float:
    """Mean RGB PSNR of ``engine`` minus that of the same weights in float32, on real photos."""
    from carsr_gui import evaluate, image_io, metrics
    from carsr_gui.engine import Engine

    reference = Engine(device=engine.device, precision="fp32", tile=engine.tile)
    diffs = []
    for path in sorted(folder.iterdir())[:limit]:
        hr, lr = evaluate.ground_truth(image_io.load(path).rgb)
        diffs.append(
            metrics.psnr(engine.upscale(lr).output, hr)
            - metrics.psnr(reference.upscale(lr).output, hr)
        )
    return float(np.mean(diffs))


def run(
    width: int = 1024,
    height: int = 1024,
    device: str = "auto",
    precision: str = "auto",
    tile: int | None = None,
    batch: int = 1,
    repeats: int = 2,
    quality_dir: Path | None = None,
    jit: bool = True,
) -> BenchReport:
    from carsr_gui import resample
    from carsr_gui.engine import DEFAULT_TILE, Engine
    from carsr_gui.model import build_model
    from carsr_gui.resources import bundled_weights
    from carsr_gui.tf_setup import tf

    rng = np.random.default_rng(0)
    # A photo-like input (smooth plus texture), not noise: activations and speed are realistic.
    yy, xx = np.mgrid[0:height, 0:width]
    img = (127 + 60 * np.sin(xx / 17) * np.cos(yy / 23))[..., None] + rng.normal(
        0, 12, (height, width, 3)
    )
    rgb = np.clip(img, 0, 255).astype(np.uint8)
    out_mp = 4 * width * height / 1e6

    engine = Engine(
        device=device, precision=precision, tile=tile or DEFAULT_TILE, batch=batch, jit=jit
    )
    bicubic = resample.enlarge(rgb)

    # The baseline: the plain float32 model over the whole bicubic image, as a tf.function.
    weights, _ = bundled_weights()
    with engine._tf_device():
        plain = build_model("carsr", dtype="float32")
        plain.load_weights(weights)
        x = tf.constant(bicubic[None].astype(np.float32) / 255.0)
        fn = tf.function(lambda t: plain(t, training=False))
        base_s = _best_of(lambda: fn(x).numpy(), repeats)

    engine_s = _best_of(lambda: engine.upscale(rgb), repeats)
    whole_s = _best_of(lambda: engine.whole(bicubic), repeats)
    startup = startup_times(device, precision)
    change = psnr_change(engine, quality_dir) if quality_dir else None
    return BenchReport(
        device=engine.description,
        tensorflow=f"{tf.__version__} ({_build(tf)})",
        size=f"{width}x{height}",
        tile=engine.tile,
        batch=batch,
        xla=jit,
        baseline_fp32_mp_s=out_mp / base_s,
        engine_mp_s=out_mp / engine_s,
        engine_s_per_image=engine_s,
        speedup_vs_fp32=base_s / engine_s,
        whole_image_mp_s=out_mp / whole_s,
        tile_overhead_pct=100 * (engine_s / whole_s - 1),
        s_per_12mp_output=12 / (out_mp / engine_s),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        startup=startup,
        psnr_change_db=change,
    )


def _build(tf) -> str:
    info = tf.sysconfig.get_build_info()
    if info.get("is_cuda_build"):
        return f"built with CUDA {info.get('cuda_version')}, cuDNN {info.get('cudnn_version')}"
    return "CPU build"


def to_json(report: BenchReport) -> str:
    return json.dumps(asdict(report), indent=1)
