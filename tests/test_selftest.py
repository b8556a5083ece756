"""``carsr --self-test``: the verdict logic with tiny or stand-in engines, and its one-line report."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from carsr_gui import resample, selftest
from carsr_gui.engine import Engine, Result
from carsr_gui.evaluate import ground_truth
from carsr_gui.resources import WeightsError
from tests.conftest import drawn_image

LINE = re.compile(
    r"^carsr self-test: (PASS|FAIL)  .*model (\d+\.\d) dB vs bicubic (\d+\.\d) dB \(([+-]\d+\.\d) dB\) "
    r"on \S+\.png, (CPU|GPU).*, \d+\.\d s(; jpeg weights on it as JPEG q75: .* dB\))?$"
)


class OracleEngine:
    """Knows the ground truth and answers with it (or with whatever ``answer`` makes of it)."""

    description = "CPU (test), float32"

    def __init__(self, hr: np.ndarray, answer=lambda hr, bicubic: hr) -> None:
        self.hr, self.answer = hr, answer
        self.card: dict = {}

    def upscale(self, rgb: np.ndarray, scale: int = 2) -> Result:
        bicubic = resample.enlarge(rgb, scale)
        return Result(self.answer(self.hr, bicubic), bicubic, None, self.description, 0.01)


@pytest.fixture
def sample(tmp_path) -> Path:
    """A small ground-truth photo (the shipped one is used by the slow test only)."""
    from PIL import Image

    path = tmp_path / "small_car.png"
    Image.fromarray(drawn_image(64, 96, seed=5)).save(path)
    return path


def hr_of(path: Path) -> np.ndarray:
    from carsr_gui import image_io

    return ground_truth(image_io.load(path).rgb)[0]


def test_judge_passes_only_when_the_model_is_strictly_better():
    hr = drawn_image(48, 64)
    bicubic = resample.enlarge(resample.make_low_res(hr))
    assert selftest.judge(hr, bicubic, hr)[0]
    passed, reason, model_db, bicubic_db = selftest.judge(hr, bicubic, bicubic)
    assert not passed and "does not beat bicubic" in reason and model_db == bicubic_db
    worse = np.clip(bicubic.astype(int) + 9, 0, 255).astype(np.uint8)
    assert not selftest.judge(hr, bicubic, worse)[0]


def test_judge_rejects_an_output_of_the_wrong_shape_or_type():
    hr = drawn_image(48, 64)
    passed, reason, model_db, _ = selftest.judge(hr, hr, hr[:40])
    assert not passed and "expected (48, 64, 3) uint8" in reason and math.isnan(model_db)
    assert not selftest.judge(hr, hr, hr.astype(np.float32))[0]


def test_a_better_than_bicubic_engine_passes(sample):
    verdict = selftest.run(OracleEngine(hr_of(sample)), sample)
    assert verdict.passed and verdict.gain > 0
    assert verdict.line().startswith("carsr self-test: PASS  model inf dB vs bicubic")


def test_a_slightly_better_engine_passes_with_the_figures_in_one_line(sample):
    def nearly(hr, bicubic):  # halfway from bicubic to the truth
        return ((hr.astype(int) + bicubic.astype(int)) // 2).astype(np.uint8)

    verdict = selftest.run(OracleEngine(hr_of(sample), nearly), sample)
    line = verdict.line()
    match = LINE.match(line)
    assert verdict.passed and match, line
    assert float(match.group(4)) == pytest.approx(verdict.gain, abs=0.06) and verdict.gain > 1
    assert "\n" not in line and "small_car.png, CPU (test), float32" in line


def test_a_model_that_returns_bicubic_fails(sample, tiny_model):
    """The carsr variant adds its last layer to the bicubic input: zeroed, it is bicubic exactly."""
    import keras

    clone = keras.models.clone_model(tiny_model)
    clone.set_weights([np.zeros_like(w) for w in tiny_model.get_weights()])
    verdict = selftest.run(Engine(model=clone, tile=96), sample)
    assert not verdict.passed
    assert verdict.model_psnr == pytest.approx(verdict.bicubic_psnr)
    line = verdict.line()
    assert line.startswith("carsr self-test: FAIL  the model does not beat bicubic: model ")
    assert LINE.match(line) and "CPU (" in line


def psnr_of(a: np.ndarray, b: np.ndarray) -> float:
    """RGB PSNR with the protocol's 2-pixel border left out, written out here."""
    diff = a[2:-2, 2:-2].astype(float) - b[2:-2, 2:-2]
    return 10 * math.log10(255**2 / np.mean(diff**2))


def test_a_tiny_real_engine_is_scored_as_the_self_test_says(sample, tiny_model):
    """What the line claims, recomputed: the sample shrunk 2x with bicubic, enlarged again by
    the model and by bicubic, each scored against the sample; PASS only when the model wins."""
    from PIL import Image

    with Image.open(sample) as img:
        hr = np.asarray(img.convert("RGB"))
    hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
    lr = np.asarray(Image.fromarray(hr).resize((hr.shape[1] // 2, hr.shape[0] // 2), Image.BICUBIC))
    engine = Engine(model=tiny_model, tile=96)
    model_db = psnr_of(engine.upscale(lr).output, hr)
    bicubic = np.asarray(Image.fromarray(lr).resize(hr.shape[1::-1], Image.BICUBIC))
    bicubic_db = psnr_of(bicubic, hr)

    started = time.perf_counter()
    verdict = selftest.run(engine, sample)
    elapsed = time.perf_counter() - started
    assert verdict.model_psnr == pytest.approx(model_db, abs=1e-9)
    assert verdict.bicubic_psnr == pytest.approx(bicubic_db, abs=1e-9)
    assert model_db != pytest.approx(bicubic_db, abs=0.01)  # the tiny model changes the picture
    assert verdict.passed == (model_db > bicubic_db)
    assert 0 < verdict.seconds <= elapsed
    scores = (
        f"model {model_db:.1f} dB vs bicubic {bicubic_db:.1f} dB ({model_db - bicubic_db:+.1f} dB) "
        f"on small_car.png, {engine.description}, {verdict.seconds:.1f} s"
    )
    verdict_word = "PASS  " if verdict.passed else "FAIL  the model does not beat bicubic: "
    assert verdict.line() == f"carsr self-test: {verdict_word}{scores}"


def test_an_untrained_placeholder_is_named_in_the_failure(sample):
    engine = OracleEngine(hr_of(sample), lambda hr, bicubic: bicubic)
    engine.card = {"summary": "UNTRAINED placeholder (random weights)"}
    assert "untrained placeholder" in selftest.run(engine, sample).line()


def test_missing_weights_fail_in_one_line(sample, monkeypatch):
    def missing(name="clean"):
        raise WeightsError("/x/carsr_x2.weights.h5: model weights missing; reinstall carsr")

    monkeypatch.setattr("carsr_gui.resources.bundled_weights", missing)
    line = selftest.run(sample=sample, device="cpu").line()
    assert line == (
        "carsr self-test: FAIL  cannot load the model: "
        "/x/carsr_x2.weights.h5: model weights missing; reinstall carsr"
    )


def test_an_unreadable_sample_fails_in_one_line(tmp_path):
    bad = tmp_path / "sample_car.png"
    bad.write_bytes(b"not a png")
    verdict = selftest.run(OracleEngine(drawn_image(8, 8)), bad)
    assert not verdict.passed
    assert verdict.line().startswith("carsr self-test: FAIL  cannot read the sample photo: ")
    assert str(bad) in verdict.line()


@pytest.mark.parametrize("passed, code", [(True, 0), (False, 1)])
def test_main_prints_one_line_and_sets_the_exit_status(monkeypatch, capsys, passed, code):
    seen = {}

    def fake_run(engine=None, sample=None, *, device="auto"):
        seen.update(sample=sample, device=device)
        return selftest.Verdict(passed, "" if passed else "nope", 30.0, 29.0, "s.png", "CPU", 1.0)

    monkeypatch.setattr(selftest, "run", fake_run)
    assert selftest.main(["--device", "cpu"]) == code
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(
        f"carsr self-test: {'PASS' if passed else 'FAIL'}"
    )
    assert seen == {"sample": None, "device": "cpu"}


def test_main_reports_an_unexpected_error_in_one_line(monkeypatch, capsys):
    def broken(**_):
        raise ImportError("No module named 'tensorflow.python.something'\nmore detail")

    monkeypatch.setattr(selftest, "run", broken)
    assert selftest.main([]) == 1
    captured = capsys.readouterr()
    assert captured.out == (
        "carsr self-test: FAIL  ImportError: No module named 'tensorflow.python.something'\n"
    )
    assert "Traceback" in captured.err


def test_the_self_test_imports_no_qt():
    code = (
        "import sys, carsr_gui.selftest, carsr_gui.__main__\n"
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'carsr_gui.gui'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_bundled_model_on_the_shipped_sample():
    """The real thing: passes with trained weights; the untrained placeholder may fail, but the
    report must still be one well-formed line."""
    from carsr_gui.resources import load_card

    done = subprocess.run(
        [sys.executable, "-m", "carsr_gui", "--self-test", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = done.stdout.strip()
    assert LINE.match(line) and "sample_car.png" in line, done.stdout + done.stderr
    if "UNTRAINED" not in load_card().get("summary", "").upper():
        assert done.returncode == 0 and line.startswith("carsr self-test: PASS"), line
    else:
        assert (done.returncode == 0) == line.startswith("carsr self-test: PASS")


@pytest.mark.parametrize("jpeg_answer, passed", [(lambda hr, bicubic: hr, True), (None, False)])
def test_the_jpeg_weights_must_beat_bicubic_on_the_sample_as_a_jpeg(
    sample, monkeypatch, jpeg_answer, passed
):
    hr = hr_of(sample)
    clean = OracleEngine(hr)
    jpeg = OracleEngine(hr, jpeg_answer or (lambda hr, bicubic: bicubic))
    seen = []

    def upscale(rgb, scale=2):
        seen.append(rgb)
        return OracleEngine.upscale(jpeg, rgb, scale)

    jpeg.upscale = upscale

    class FakeEngines:
        def __init__(self, model, device):
            self.default, self.engines = clean, {"clean": clean, "jpeg": jpeg}

    monkeypatch.setattr("carsr_gui.model_choice.Engines", FakeEngines)
    verdict = selftest.run(sample=sample)
    line = verdict.line()
    assert verdict.passed == passed and line.count("\n") == 0, line
    assert (
        line.endswith(" dB)")
        and "CPU (test), float32, 0.0 s; jpeg weights on it as JPEG q75: " in line
    )
    if not passed:
        assert line.startswith("carsr self-test: FAIL  the jpeg weights: the model does not beat")
    # The JPEG weights ran on the low-res as decoded from a JPEG, not on the clean pixels.
    lr = ground_truth(drawn_image(64, 96, seed=5))[1]
    assert seen[0].shape == lr.shape and np.abs(seen[0].astype(int) - lr).max() > 0
