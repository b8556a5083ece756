"""``carsr --self-test``: does this copy of carsr work, and does its model beat bicubic?

Headless (no Qt), for a freshly installed or frozen copy: load the bundled model, shrink the shipped
sample photo 2x the way the evaluation protocol does, enlarge it again with the model and with
bicubic, and compare both with the original by PSNR. One line says what happened::

    carsr self-test: PASS  model 31.2 dB vs bicubic 29.8 dB (+1.4 dB) on sample_car.png, CPU (x86_64), float32, 3.1 s; jpeg weights on it as JPEG q75: 29.0 dB vs bicubic 28.1 dB (+0.9 dB)

The exit status is 0 only when every bundled model loaded, produced an image of the right shape and
scored strictly better than bicubic (the JPEG weights on the sample's low-res saved as a JPEG); any failure is one line starting ``carsr self-test: FAIL``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carsr_gui.devices import DEVICES

PREFIX = "carsr self-test:"
SAMPLE = "sample_car.png"
#: The JPEG weights are checked on the sample's low-res saved as a JPEG of this quality.
JPEG_SAMPLE_QUALITY = 75
EXIT_PASS, EXIT_FAIL = 0, 1


@dataclass
class Verdict:
    """The outcome; :meth:`line` is what the user sees."""

    passed: bool
    reason: str = ""
    model_psnr: float = math.nan
    bicubic_psnr: float = math.nan
    sample: str = SAMPLE
    device: str = ""
    seconds: float = 0.0
    #: The figures of the other bundled weights (those for JPEG photos), said after the rest.
    extra: str = ""

    @property
    def gain(self) -> float:
        return self.model_psnr - self.bicubic_psnr

    def line(self) -> str:
        if not math.isnan(self.model_psnr):
            scores = (
                f"model {self.model_psnr:.1f} dB vs bicubic {self.bicubic_psnr:.1f} dB "
                f"({self.gain:+.1f} dB) on {self.sample}, {self.device}, {self.seconds:.1f} s"
                f"{self.extra}"
            )
            text = scores if self.passed else f"{self.reason}: {scores}"
        else:
            text = self.reason
        return f"{PREFIX} {'PASS' if self.passed else 'FAIL'}  {text}"


def judge(
    hr: np.ndarray, bicubic: np.ndarray, output: np.ndarray
) -> tuple[bool, str, float, float]:
    """``(passed, reason, model_psnr, bicubic_psnr)`` of an enlargement against its ground truth."""
    from carsr_gui import metrics

    if output.shape != hr.shape or output.dtype != np.uint8:
        reason = f"model output is {output.shape} {output.dtype}, expected {hr.shape} uint8"
        return False, reason, math.nan, math.nan
    model_db, bicubic_db = metrics.psnr(output, hr), metrics.psnr(bicubic, hr)
    if not math.isfinite(bicubic_db) or math.isnan(model_db):
        return False, "PSNR is not a number", model_db, bicubic_db
    if model_db <= bicubic_db:
        return False, "the model does not beat bicubic", model_db, bicubic_db
    return True, "", model_db, bicubic_db


def run(engine=None, sample: Path | None = None, *, device: str = "auto") -> Verdict:
    """Run the self-test. ``engine`` (anything with ``upscale`` and ``description``, tests pass a
    tiny one) defaults to the bundled model; ``sample`` to the shipped photo."""
    from carsr_gui import evaluate, image_io
    from carsr_gui.resources import resource

    start = time.perf_counter()
    sample = sample or resource(SAMPLE)
    try:
        hr, lr = evaluate.ground_truth(image_io.load(sample).rgb)
    except image_io.ImageError as exc:
        return Verdict(False, f"cannot read the sample photo: {exc}", sample=sample.name)
    others: dict = {}
    bundled = engine is None
    if bundled:
        from carsr_gui.model_choice import Engines
        from carsr_gui.resources import WeightsError

        try:
            engines = Engines("auto", device=device)
        except (WeightsError, RuntimeError, ValueError) as exc:
            return Verdict(False, f"cannot load the model: {exc}", sample=sample.name)
        engine = engines.default
        others = {name: e for name, e in engines.engines.items() if e is not engine}
    result = engine.upscale(lr, 2)
    passed, reason, model_db, bicubic_db = judge(hr, result.bicubic, result.output)
    card = getattr(engine, "card", None) or {}
    if not passed and "UNTRAINED" in str(card.get("summary", "")).upper():
        reason += " (the bundled weights are an untrained placeholder)"
    extra = ""
    # The other weights (for JPEG photos) must beat bicubic on the sample saved as a JPEG.
    for name, other in others.items():
        photo = evaluate.compressed(lr, JPEG_SAMPLE_QUALITY)
        got = other.upscale(photo.rgb, 2)
        ok, why, m_db, b_db = judge(hr, got.bicubic, got.output)
        extra += (
            f"; {name} weights on it as JPEG q{JPEG_SAMPLE_QUALITY}: {m_db:.1f} dB vs bicubic "
            f"{b_db:.1f} dB ({m_db - b_db:+.1f} dB)"
        )
        if passed and not ok:
            passed, reason = False, f"the {name} weights: {why}"
    if bundled:
        passed, reason, extra = _check_int8(engine, lr, hr, passed, reason, extra)
    return Verdict(
        passed,
        reason,
        model_db,
        bicubic_db,
        sample.name,
        engine.description,
        time.perf_counter() - start,
        extra,
    )


def _check_int8(engine, lr, hr, passed: bool, reason: str, extra: str) -> tuple[bool, str, str]:
    """Where the CPU runs int8 (TensorFlow Lite is there), the int8 path of the default weights
    must beat bicubic too, whichever precision the measurement chose."""
    from carsr_gui import devices
    from carsr_gui.engine import Engine

    runner = getattr(engine, "runner", None)
    if runner is None:  # an engine a test made up
        return passed, reason, extra
    if runner.device != "cpu" or not devices.int8_available():
        return passed, reason, extra + "; int8: not available here"
    if runner.precision != "int8":
        engine = Engine(runner.weights, device="cpu", precision="int8")
    got = engine.upscale(lr, 2)
    ok, why, m_db, b_db = judge(hr, got.bicubic, got.output)
    extra += f"; int8: {m_db:.1f} dB vs bicubic {b_db:.1f} dB ({m_db - b_db:+.1f} dB)"
    if passed and not ok:
        passed, reason = False, f"int8: {why}"
    return passed, reason, extra


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="carsr --self-test",
        description="Check that the bundled model loads and beats bicubic on the sample photo.",
    )
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--sample", type=Path, default=None, help="another ground-truth photo")
    args = p.parse_args(argv)
    try:
        verdict = run(sample=args.sample, device=args.device)
    except Exception as exc:  # a broken install: say so in one line, keep the traceback on stderr
        traceback.print_exc()
        verdict = Verdict(False, f"{type(exc).__name__}: {exc}".splitlines()[0])
    print(verdict.line(), flush=True)
    return EXIT_PASS if verdict.passed else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
