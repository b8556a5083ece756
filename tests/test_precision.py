"""``--precision auto``: the fastest candidate that keeps the quality, measured once and cached.
Timings and PSNR are faked where the choice is the point; the real probe runs once on the tiny
model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from carsr_gui import devices, precision
from carsr_gui.engine import Engine
from carsr_gui.runner import ModelRunner
from tests.conftest import drawn_image


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """An empty cache of this test's own."""
    monkeypatch.setenv(precision.CACHE_DIR_ENV, str(tmp_path))
    return tmp_path / "precision.json"


class Fake:
    """A runner whose speed and quality the test sets."""

    def __init__(self, name: str) -> None:
        self.name = name


def faked(monkeypatch, seconds: dict, psnr: dict) -> tuple[list[str], object]:
    """Make ``measure`` see these timings and sample PSNRs; returns the log of builds."""
    built: list[str] = []
    monkeypatch.setattr(precision, "time_tile", lambda runner, tile: seconds[runner.name])
    monkeypatch.setattr(precision, "sample_psnr", lambda runner, hr, bic: psnr[runner.name])
    monkeypatch.setattr(devices, "candidates", lambda device: list(seconds))

    def build(name: str) -> Fake:
        built.append(name)
        if seconds[name] is None:
            raise RuntimeError("no such runtime here")
        return Fake(name)

    return built, build


CASES = {
    # seconds per tile, PSNR on the sample, expected choice
    "the fastest keeps the quality": (
        {"fp32": 0.30, "bf16": 0.20, "int8": 0.10},
        {"fp32": 30.0, "bf16": 29.99, "int8": 29.97},
        "int8",
    ),
    "the fastest loses 0.06 dB: the next": (
        {"fp32": 0.30, "bf16": 0.20, "int8": 0.10},
        {"fp32": 30.0, "bf16": 30.0, "int8": 29.94},
        "bf16",
    ),
    "both faster ones lose too much": (
        {"fp32": 0.30, "bf16": 0.20, "int8": 0.10},
        {"fp32": 30.0, "bf16": 29.9, "int8": 29.0},
        "fp32",
    ),
    "bfloat16 slower than float32 (an Intel Xeon with AVX-512 BF16)": (
        {"fp32": 0.30, "bf16": 0.48, "int8": 0.31},
        {"fp32": 30.0, "bf16": 30.0, "int8": 30.0},
        "fp32",
    ),
    "a GPU": (
        {"fp32": 0.05, "bf16": 0.02, "fp16": 0.021},
        {"fp32": 30, "bf16": 30, "fp16": 30},
        "bf16",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_fastest_candidate_that_keeps_the_quality_wins(monkeypatch, cache, case):
    seconds, psnr, expected = CASES[case]
    built, build = faked(monkeypatch, seconds, psnr)
    choice = precision.choose("cpu", "carsr width 64", build)
    assert choice.precision == expected
    assert choice.seconds == seconds and choice.measured
    assert sorted(built) == sorted(seconds)  # each candidate built and timed once
    # Only candidates faster than the winner are checked, fastest first.
    faster = [p for p in seconds if seconds[p] < seconds[expected]]
    assert sorted(choice.change_db) == sorted(faster + ([expected] if expected != "fp32" else []))
    assert set(choice.rejected) == set(faster)
    assert expected in choice.summary()


def test_a_candidate_that_cannot_run_is_passed_over(monkeypatch, cache):
    _built, build = faked(monkeypatch, {"fp32": 0.3, "int8": None}, {"fp32": 30})
    choice = precision.choose("cpu", "carsr width 64", build)
    assert choice.precision == "fp32"
    assert "no such runtime here" in choice.rejected["int8"]


def test_the_choice_is_cached_and_read_back_without_timing(monkeypatch, cache):
    seconds = {"fp32": 0.3, "bf16": 0.2, "int8": 0.1}
    built, build = faked(monkeypatch, seconds, {"fp32": 30, "bf16": 30, "int8": 30})
    first = precision.choose("cpu", "carsr width 64", build)
    assert json.loads(cache.read_text())[first.key]["precision"] == "int8"
    built.clear()
    again = precision.choose("cpu", "carsr width 64", build)
    assert (again.precision, again.seconds, again.measured) == ("int8", seconds, False)
    assert built == []  # nothing built, nothing timed
    assert "cached" in again.summary()


def test_the_cache_is_keyed_by_device_cpu_tensorflow_and_architecture(monkeypatch, cache):
    from carsr_gui.tf_setup import tf

    seconds = {"fp32": 0.3, "int8": 0.1}
    built, build = faked(monkeypatch, seconds, {"fp32": 30, "int8": 30})
    monkeypatch.setattr(devices, "cpu_model", lambda: "Intel Xeon Platinum")
    key = precision.choose("cpu", "carsr width 64", build).key
    assert key.split(" | ") == [
        "cpu", "Intel Xeon Platinum", "Intel Xeon Platinum", f"TensorFlow {tf.__version__}",
        "carsr width 64",
    ]  # fmt: skip
    built.clear()
    precision.choose("cpu", "carsr width 32", build)  # another architecture
    assert built == ["fp32", "int8"]
    built.clear()
    monkeypatch.setattr(devices, "cpu_model", lambda: "AMD EPYC")  # another machine
    precision.choose("cpu", "carsr width 64", build)
    assert built == ["fp32", "int8"]
    built.clear()
    monkeypatch.setattr(tf, "__version__", "9.9.9")  # another TensorFlow
    precision.choose("cpu", "carsr width 64", build)
    assert built == ["fp32", "int8"]
    assert len(json.loads(cache.read_text())) == 4


def test_retime_measures_again_and_replaces_the_choice(monkeypatch, cache):
    seconds = {"fp32": 0.3, "int8": 0.1}
    _built, build = faked(monkeypatch, seconds, {"fp32": 30, "int8": 30})
    assert precision.choose("cpu", "a", build).precision == "int8"
    seconds["int8"] = 0.5  # the machine changed its mind
    assert precision.choose("cpu", "a", build).precision == "int8"  # cached
    assert precision.choose("cpu", "a", build, retime=True).precision == "fp32"
    assert precision.choose("cpu", "a", build).precision == "fp32"


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"cpu | x": {"precision": 1}}'])
def test_a_damaged_cache_means_measuring_again(monkeypatch, cache, content):
    built, build = faked(monkeypatch, {"fp32": 0.3, "int8": 0.1}, {"fp32": 30, "int8": 30})
    cache.write_text(content)
    assert precision.choose("cpu", "a", build).precision == "int8"
    assert built == ["fp32", "int8"]


def test_a_cached_choice_this_machine_cannot_run_is_measured_again(monkeypatch, cache):
    _built, build = faked(monkeypatch, {"fp32": 0.3, "int8": 0.1}, {"fp32": 30, "int8": 30})
    precision.choose("cpu", "a", build)
    monkeypatch.setattr(devices, "candidates", lambda device: ["fp32"])  # TF Lite gone
    assert precision.cached("cpu", "a") is None


def test_an_unwritable_cache_costs_only_a_probe(monkeypatch, tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv(precision.CACHE_DIR_ENV, str(blocked / "sub"))
    _built, build = faked(monkeypatch, {"fp32": 0.3, "int8": 0.1}, {"fp32": 30, "int8": 30})
    assert precision.choose("cpu", "a", build).precision == "int8"
    assert "cannot write the precision cache" in caplog.text


def test_training_takes_the_fastest_float_precision_of_the_choice():
    choice = precision.Choice(
        "int8", seconds={"fp32": 0.3, "bf16": 0.2, "int8": 0.1}, change_db={"int8": 0.0}
    )
    assert precision.fastest_float(choice) == "bf16"
    choice.rejected["bf16"] = "-0.2 dB on the sample"
    assert precision.fastest_float(choice) == "fp32"
    assert precision.fastest_float(None) == "fp32"


def test_training_auto_follows_the_measured_choice(monkeypatch):
    choice = precision.Choice("int8", seconds={"fp32": 0.3, "bf16": 0.2, "int8": 0.1})
    monkeypatch.setattr(precision, "bundled_choice", lambda device: choice)
    assert devices.training_policy("auto") == "mixed_bfloat16"
    choice.seconds["bf16"] = 0.5
    assert devices.training_policy("auto") == "float32"
    assert devices.training_policy("fp16") == "mixed_float16"  # forced
    with pytest.raises(ValueError, match="int8"):
        devices.training_policy("int8")


# -- the real probe, on the tiny model -----------------------------------------------------


def test_the_real_probe_times_every_candidate_and_the_runner_keeps_the_winner(tiny_weights, cache):
    runner = ModelRunner(tiny_weights, device="cpu")
    choice = runner.choice
    assert choice is not None and choice.measured
    assert set(choice.seconds) == set(devices.candidates("cpu"))
    assert all(0 < s < 5 for s in choice.seconds.values())
    assert runner.precision == choice.precision
    assert runner.description.endswith(devices.NAMES[choice.precision])
    again = ModelRunner(tiny_weights, device="cpu")
    assert again.choice.precision == choice.precision and not again.choice.measured


def test_nothing_is_timed_or_traced_inside_a_job(tiny_weights, cache, monkeypatch):
    """The probe and the tracing happen while the engine is built; a job runs what was built."""
    from carsr_gui.tf_setup import tf

    engine = Engine(tiny_weights, device="cpu", tile=96, margin=28)
    traces: list = []
    real_function = tf.function
    monkeypatch.setattr(tf, "function", lambda *a, **k: traces.append(a) or real_function(*a, **k))

    def refuse(*args, **kwargs):
        raise AssertionError("timed inside a job")

    monkeypatch.setattr(precision, "measure", refuse)
    monkeypatch.setattr(precision, "time_tile", refuse)
    runner = engine.runner
    before = runner._run.experimental_get_tracing_count() if runner._int8 is None else 0
    for size in ((60, 44), (130, 70)):  # two tile shapes, several tiles
        engine.upscale(drawn_image(*size))
    after = runner._run.experimental_get_tracing_count() if runner._int8 is None else 0
    assert (after, traces) == (before, [])


def test_a_forced_precision_is_not_measured(tiny_weights, cache, monkeypatch):
    monkeypatch.setattr(precision, "measure", lambda *a, **k: pytest.fail("measured"))
    runner = ModelRunner(tiny_weights, device="cpu", precision="int8")
    assert (runner.precision, runner.choice) == ("int8", None)
    assert not cache.exists()


# -- int8 ----------------------------------------------------------------------------------


def test_int8_follows_float32_closely(tiny_weights):
    img = drawn_image(64, 80)
    fp32 = Engine(tiny_weights, device="cpu", precision="fp32", tile=96, margin=28).upscale(img)
    int8 = Engine(tiny_weights, device="cpu", precision="int8", tile=96, margin=28).upscale(img)
    diff = np.abs(fp32.output.astype(int) - int8.output.astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.5
    # The feature map comes from the same pass: the code, dequantized.
    a, b = fp32.features.grid, int8.features.grid
    assert a.shape == b.shape
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_int8_runs_on_the_cpu_only(tiny_weights, monkeypatch):
    monkeypatch.setattr(devices, "resolve_device", lambda device: "gpu")
    with pytest.raises(ValueError, match="int8 runs on the CPU only"):
        ModelRunner(tiny_weights, device="gpu", precision="int8")


def seam_profile(diff: np.ndarray, cuts: list[int], axis: int) -> tuple[float, float]:
    """Mean |step| of ``diff`` across the lines between tiles, and across every other line."""
    steps = np.abs(np.diff(diff.astype(np.float64), axis=axis)).mean(axis=(1 - axis, 2))
    on = [steps[c - 1] for c in cuts]
    off = np.delete(steps, [c - 1 for c in cuts])
    return float(np.mean(on)), float(np.mean(off))


def test_int8_tiles_stitch_without_seams(monkeypatch):
    """The bundled weights in int8, tiled against one whole-image int8 pass of the same photo.
    Each tile quantizes its activations with its own range (dynamic-range int8), so the two
    differ by a grey level here and there, everywhere alike; a seam would be a step in that
    difference where the tiles meet."""
    from carsr_gui import tiling

    img = drawn_image(152, 200, seed=3)
    runner = ModelRunner(device="cpu", precision="int8")
    tiles = tiling.plan(304, 400, 160, tiling.DEFAULT_MARGIN)
    stitched = Engine(runner=runner, tile=160).upscale(img).output
    whole = Engine(runner=runner, tile=tiling.whole_tile(304, 400, 24)).upscale(img).output
    diff = stitched.astype(int) - whole.astype(int)
    assert len(tiles) >= 6
    assert np.abs(diff).max() <= 3
    assert np.mean(diff != 0) < 0.25
    for axis, cuts in ((0, {t.y0 for t in tiles} - {0}), (1, {t.x0 for t in tiles} - {0})):
        on, off = seam_profile(diff, sorted(cuts), axis)
        assert on < 2 * off + 0.02, (axis, on, off)


def test_a_committed_int8_file_is_used_only_when_its_card_vouches_for_it(tiny_weights, tmp_path):
    import hashlib
    import shutil

    from carsr_gui import int8
    from carsr_gui.model import build_model

    weights = tmp_path / "tiny.weights.h5"
    shutil.copy(tiny_weights, weights)
    model = build_model("carsr", width=4)
    model.load_weights(weights)
    converted = int8.convert(model)
    int8.path_for(weights).write_bytes(b"not a model")
    card = tmp_path / "model_card_tiny.json"
    card.write_text(json.dumps({"weights": weights.name}))
    assert int8.load_or_convert(model, weights) == converted  # no record: converted again
    int8.path_for(weights).write_bytes(converted)
    record = {
        "sha256": hashlib.sha256(converted).hexdigest(),
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    card.write_text(json.dumps({"weights": weights.name, "int8": record}))
    calls = []
    real = int8.convert
    int8.convert = lambda m: calls.append(m) or real(m)
    try:
        assert int8.load_or_convert(model, weights) == converted
        assert calls == []
    finally:
        int8.convert = real


# -- the command line ----------------------------------------------------------------------


def test_info_shows_the_choice_its_timings_and_the_cache_and_retime_measures_again(cache, capsys):
    from carsr_gui import cli

    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("precision (auto): "))
    assert "per 256x256 tile: " in line and "fp32 " in line and "measured in" in line
    assert f"cached in {cache} (carsr info --retime measures again)" in out
    assert cli.main(["info"]) == 0
    assert "; cached)" in capsys.readouterr().out
    assert cli.main(["info", "--retime"]) == 0
    assert "measured in" in capsys.readouterr().out


def test_quantize_writes_the_int8_model_and_vouches_for_it_in_the_card(tiny_weights, tmp_path):
    import hashlib
    import shutil

    from carsr_gui import cli, int8

    weights = tmp_path / "tiny.weights.h5"
    shutil.copy(tiny_weights, weights)
    card = tmp_path / "model_card_tiny.json"
    card.write_text(json.dumps({"weights": weights.name, "sha256": "kept"}))
    assert cli.main(["quantize", "--weights", str(weights)]) == 0
    model = int8.path_for(weights).read_bytes()
    record = json.loads(card.read_text())["int8"]
    assert json.loads(card.read_text())["sha256"] == "kept"
    assert record["file"] == "tiny.int8.tflite"
    assert record["sha256"] == hashlib.sha256(model).hexdigest()
    assert record["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    # The int8 runner takes this file, and runs.
    runner = ModelRunner(weights, device="cpu", precision="int8")
    assert runner.forward(drawn_image(16, 16)[None])[0].shape == (1, 16, 16, 3)


def test_quantize_of_a_missing_file_fails_in_one_line(tmp_path, capsys):
    from carsr_gui import cli

    assert cli.main(["quantize", "--weights", str(tmp_path / "none.weights.h5")]) == 1
    assert "none.weights.h5: model weights missing" in capsys.readouterr().err
