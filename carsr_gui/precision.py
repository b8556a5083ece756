"""Which precision runs the model: the fastest candidate on this device that keeps the quality,
measured once and remembered. No Qt here.

CPU flags do not tell which precision wins: bfloat16 ran 3.9x float32 on an AMX Xeon, 1.6x on
an AMD EPYC with AVX-512 BF16 and 0.6x on an Intel Xeon with AVX-512 BF16 (docs/performance.md).
So the first time a device, a CPU model, a TensorFlow version and an architecture meet, each
candidate runs one small tile of the bundled sample, timed; the fastest that changes the sample's
PSNR by at most :data:`TOLERANCE_DB` against float32 wins, and the choice is cached in the user's
cache folder.
It is not keyed by weights file: the bundled files share one architecture, so one probe serves
all three.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from carsr_gui import devices
from carsr_gui.tiling import GRID

log = logging.getLogger(__name__)

#: The largest PSNR loss against float32, on the bundled sample, that a faster precision may cost.
TOLERANCE_DB = 0.05
#: The side of the square tile each candidate is timed on (output pixels).
PROBE_TILE = 256
#: Timed runs of the probe tile after one untimed warm-up; the best counts.
PROBE_RUNS = 2
#: Set it to a folder to keep the cache elsewhere (the tests do); the default is the user's cache.
CACHE_DIR_ENV = "CARSR_CACHE_DIR"


class Runner(Protocol):
    def forward(self, x: np.ndarray, tile_geometry: np.ndarray | None = None) -> tuple: ...


@dataclass
class Choice:
    """The precision chosen, and the measurements behind it."""

    precision: str
    #: Seconds per probe tile, for each candidate timed.
    seconds: dict[str, float] = field(default_factory=dict)
    #: PSNR change on the sample against float32 (dB), for each candidate checked.
    change_db: dict[str, float] = field(default_factory=dict)
    #: Why the faster candidates were passed over, if they were.
    rejected: dict[str, str] = field(default_factory=dict)
    #: What the choice is keyed by (device, CPU, TensorFlow, architecture).
    key: str = ""
    #: True when measured by this process; False when read from the cache.
    measured: bool = False
    #: Seconds the probe took (0 when read from the cache).
    probe_seconds: float = 0.0

    def summary(self) -> str:
        """One line, e.g. ``int8 (per 256x256 tile: int8 0.091 s, bf16 0.240 s, fp32 0.325 s;
        int8 -0.007 dB against float32)``."""
        times = ", ".join(f"{p} {s:.3f} s" for p, s in sorted(self.seconds.items(), key=_second))
        changes = ", ".join(f"{p} {c:+.3f} dB" for p, c in self.change_db.items() if p != "fp32")
        origin = f"measured in {self.probe_seconds:.1f} s" if self.measured else "cached"
        parts = [f"per {PROBE_TILE}x{PROBE_TILE} tile: {times}" if times else "not timed"]
        if changes:
            parts.append(f"{changes} against float32 on the sample")
        parts += [f"{p} passed over: {why}" for p, why in self.rejected.items()]
        return f"{self.precision} ({'; '.join(parts)}; {origin})"


def _second(item: tuple[str, float]) -> float:
    return item[1]


def cache_file() -> Path:
    folder = os.environ.get(CACHE_DIR_ENV)
    if not folder:
        import platformdirs

        folder = platformdirs.user_cache_dir("carsr", appauthor=False)
    return Path(folder) / "precision.json"


def device_name(device: str) -> str:
    return devices.gpu_name() if device == "gpu" else devices.cpu_model()


def architecture(variant: str, width: int) -> str:
    return f"{variant} width {width}"


def cache_key(device: str, architecture: str) -> str:
    """What a choice holds for: the device's name, the CPU model, the TensorFlow version (its
    kernels and its TensorFlow Lite runtime) and the network's architecture."""
    from carsr_gui.tf_setup import tf

    return " | ".join(
        [
            device,
            device_name(device),
            devices.cpu_model(),
            f"TensorFlow {tf.__version__}",
            architecture,
        ]
    )


def _read_cache() -> dict:
    try:
        data = json.loads(cache_file().read_text())
    except (OSError, ValueError):  # none yet, or unreadable: measure again
        return {}
    return data if isinstance(data, dict) else {}


def cached(device: str, architecture: str) -> Choice | None:
    """The cached choice for this device and architecture, if any."""
    record = _read_cache().get(cache_key(device, architecture))
    try:
        choice = Choice(**record)
    except TypeError:  # none, or from another version of carsr
        return None
    if choice.precision not in devices.candidates(device):
        return None
    choice.measured, choice.probe_seconds = False, 0.0
    return choice


def _store(choice: Choice) -> None:
    """Add ``choice`` to the cache file atomically; a cache that cannot be written costs only a
    probe at the next start."""
    from carsr_gui import atomic

    path = cache_file()
    data = _read_cache()
    data[choice.key] = {k: v for k, v in asdict(choice).items() if k != "measured"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, json.dumps(data, indent=1))
    except OSError as exc:
        log.warning("cannot write the precision cache %s: %s", path, exc)


def sample_pair() -> tuple[np.ndarray, np.ndarray]:
    """The bundled sample as ground truth and its bicubic 2x enlargement of its 2x reduction
    (what the model gets), cropped to a multiple of 4."""
    from carsr_gui import image_io, resample
    from carsr_gui.resources import resource

    hr = resample.crop_to_multiple(image_io.load(resource("sample_car.png")).rgb, GRID)
    return hr, resample.enlarge(resample.make_low_res(hr))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from carsr_gui.metrics import psnr

    return psnr(a, b, border=2)


def time_tile(runner: Runner, tile: np.ndarray, runs: int = PROBE_RUNS) -> float:
    """Best of ``runs`` timed passes over ``tile`` after an untimed one (which also prepares
    lazy runtimes for the shape)."""
    runner.forward(tile)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        runner.forward(tile)
        best = min(best, time.perf_counter() - start)
    return best


def sample_psnr(runner: Runner, hr: np.ndarray, bicubic: np.ndarray) -> float:
    """PSNR of ``runner`` over the whole sample, in one pass."""
    y = runner.forward(bicubic[None])[0][0]
    if y.dtype != np.uint8:  # a runner built for TTA returns floats in [0, 1]
        y = np.rint(np.clip(y, 0, 1) * 255).astype(np.uint8)
    return _psnr(hr, y)


def measure(
    device: str, architecture: str, build: Callable[[str], Runner], candidates: Iterable[str]
) -> Choice:
    """Time each candidate on a :data:`PROBE_TILE` tile of the sample, then take the fastest whose
    PSNR on the whole sample is within :data:`TOLERANCE_DB` of float32's. Candidates that fail to
    build or run are passed over, with the reason logged."""
    start = time.perf_counter()
    hr, bicubic = sample_pair()
    top, left = (np.array(bicubic.shape[:2]) - PROBE_TILE) // 2 // GRID * GRID
    tile = np.ascontiguousarray(bicubic[top : top + PROBE_TILE, left : left + PROBE_TILE])[None]
    choice = Choice("fp32", key=cache_key(device, architecture), measured=True)
    runners: dict[str, Runner] = {}
    for precision in candidates:
        try:
            runners[precision] = build(precision)
            choice.seconds[precision] = round(time_tile(runners[precision], tile), 5)
        except Exception as exc:  # a runtime this machine lacks must not stop the app
            log.warning("precision %s cannot run here: %s", precision, exc)
            choice.rejected[precision] = f"cannot run ({type(exc).__name__}: {exc})"
            runners.pop(precision, None)
    if "fp32" not in runners:
        raise RuntimeError("the model does not run in float32 on this device")

    reference = None
    for precision, _ in sorted(choice.seconds.items(), key=_second):
        if precision == "fp32":
            break
        if reference is None:
            reference = sample_psnr(runners["fp32"], hr, bicubic)
        change = sample_psnr(runners[precision], hr, bicubic) - reference
        choice.change_db[precision] = round(change, 4)
        if change >= -TOLERANCE_DB:
            choice.precision = precision
            break
        choice.rejected[precision] = f"{change:+.3f} dB on the sample (limit -{TOLERANCE_DB} dB)"
    choice.probe_seconds = time.perf_counter() - start
    log.info("precision chosen for %s: %s", choice.key, choice.summary())
    return choice


def choose(
    device: str, architecture: str, build: Callable[[str], Runner], *, retime: bool = False
) -> Choice:
    """The cached choice for this device and architecture, or a new measurement (stored)."""
    if not retime and (choice := cached(device, architecture)) is not None:
        return choice
    choice = measure(device, architecture, build, devices.candidates(device))
    _store(choice)
    return choice


def fastest_float(choice: Choice | None) -> str:
    """The fastest floating-point precision a choice timed that kept the quality, for what cannot
    run in integers (training): float32 where nothing was measured."""
    timed = sorted((choice.seconds if choice else {}).items(), key=_second)
    return next(
        (p for p, _ in timed if p in devices.FLOAT_PRECISIONS and p not in choice.rejected), "fp32"
    )


def bundled_choice(device: str, *, retime: bool = False) -> Choice:
    """The choice for the bundled weights' architecture on ``device``: the cached one, or one
    measured now (``carsr info`` and training ask for it)."""
    from carsr_gui.resources import bundled_weights
    from carsr_gui.runner import ModelRunner, weights_layout

    weights, card = bundled_weights()
    variant, width = weights_layout(weights)
    cached_choice = cached(device, architecture(card.get("variant", variant), width))
    if cached_choice is not None and not retime:
        return cached_choice
    runner = ModelRunner(weights, device=device, precision="auto", retime=retime)
    assert runner.choice is not None
    return runner.choice
