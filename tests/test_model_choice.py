"""Choosing the weights per photo: clean weights for lossless input, JPEG weights by quality."""

import json

import numpy as np
import pytest
from PIL import Image

from carsr_gui import cli, evaluate, image_io, resources
from carsr_gui.model_choice import JPEG_BANDS, Choice, Engines, choose
from tests.conftest import drawn_image


def test_auto_picks_by_estimated_quality():
    assert choose("auto", None) == Choice("clean", "not a JPEG")
    assert choose("auto", 30) == Choice("jpeg", "JPEG quality ~30")
    (low, low_top), (high, high_top) = JPEG_BANDS
    assert choose("auto", low_top).name == low == "jpeg"
    assert choose("auto", low_top + 1) == Choice(high, f"JPEG quality ~{low_top + 1}")
    assert choose("auto", high_top).name == high == "jpeg-high"
    assert choose("auto", high_top + 1).name == "clean"
    assert choose("clean", 40) == Choice("clean", "chosen; JPEG quality ~40")
    assert choose("jpeg", None).name == "jpeg"
    assert choose("auto", 60).note == "jpeg weights (JPEG quality ~60)"


@pytest.fixture
def two_models(tmp_path, monkeypatch):
    """A weights folder with tiny clean and JPEG weights (all different), found as the bundled
    one."""
    import keras

    from carsr_gui.model import build_model

    folder = tmp_path / "model_weights"
    folder.mkdir()
    for seed, (name, card_name) in enumerate(resources.MODEL_CARDS.items()):
        keras.utils.set_random_seed(seed)
        weights = folder / f"{name}.weights.h5"
        build_model("carsr", width=4).save_weights(weights)
        card = {"summary": f"tiny {name}", "weights": weights.name}
        card["sha256"] = resources.sha256(weights)
        (folder / card_name).write_text(json.dumps(card))
    real = resources.data_dir
    monkeypatch.setattr(
        resources, "data_dir", lambda name: folder if name == "model_weights" else real(name)
    )
    return folder


def jpeg_photo(tmp_path, quality):
    path = tmp_path / f"q{quality}.jpg"
    Image.fromarray(drawn_image(48, 64)).save(path, quality=quality)
    return image_io.load(path)


def test_engines_load_every_bundled_model_and_pick_per_photo(two_models, tmp_path):
    engines = Engines("auto", device="cpu", precision="fp32", tile=96)
    assert set(engines.engines) == {"clean", "jpeg", "jpeg-high"}
    assert engines.card["summary"] == "tiny clean"
    png = image_io.Photo(drawn_image(48, 64))
    clean = engines.upscale_photo(png)
    assert clean.notes[-1] == "clean weights (not a JPEG)"
    photo = jpeg_photo(tmp_path, 60)
    compressed = engines.upscale_photo(photo)
    assert compressed.notes[-1] == "jpeg weights (JPEG quality ~60)"
    # The JPEG weights really ran: the clean engine gives another result on the same pixels.
    other = engines.engines["clean"].upscale_photo(photo)
    assert np.abs(compressed.output.astype(int) - other.output).max() > 0
    light = engines.upscale_photo(jpeg_photo(tmp_path, 90))
    assert light.notes[-1] == "jpeg-high weights (JPEG quality ~90)"
    assert np.abs(light.output.astype(int) - compressed.output).max() > 0
    high = engines.upscale_photo(jpeg_photo(tmp_path, 97))
    assert high.notes[-1] == "clean weights (JPEG quality ~97)"


def test_a_fixed_choice_loads_one_model(two_models, tmp_path):
    engines = Engines("jpeg", device="cpu", precision="fp32", tile=96)
    assert list(engines.engines) == ["jpeg"]
    result = engines.upscale_photo(image_io.Photo(drawn_image(48, 64)))
    assert result.notes[-1] == "jpeg weights (chosen; not a JPEG)"


def test_weights_file_overrides_the_choice(two_models, tiny_weights, tmp_path):
    engines = Engines("jpeg", tiny_weights, device="cpu", precision="fp32", tile=96)
    assert list(engines.engines) == ["file"]
    result = engines.upscale_photo(jpeg_photo(tmp_path, 50))
    assert result.notes[-1] == f"file weights (--weights {tiny_weights.name})"


def test_auto_without_a_bands_weights_runs_the_nearest_and_says_so(two_models, tmp_path):
    (two_models / resources.MODEL_CARDS["jpeg-high"]).unlink()
    engines = Engines("auto", device="cpu", precision="fp32", tile=96)
    assert list(engines.engines) == ["clean", "jpeg"]
    result = engines.upscale_photo(jpeg_photo(tmp_path, 90))
    assert result.notes[-1] == "jpeg weights (JPEG quality ~90; no jpeg-high weights installed)"
    (two_models / resources.MODEL_CARDS["jpeg"]).unlink()
    engines = Engines("auto", device="cpu", precision="fp32", tile=96)
    assert list(engines.engines) == ["clean"]
    result = engines.upscale_photo(jpeg_photo(tmp_path, 50))
    assert result.notes[-1] == "clean weights (JPEG quality ~50; no jpeg weights installed)"
    (two_models / resources.MODEL_CARDS["clean"]).unlink()
    with pytest.raises(resources.WeightsError, match="model card missing"):
        Engines("auto")


def test_unknown_model_setting_is_an_error():
    with pytest.raises(ValueError, match="unknown model 'sharp'"):
        Engines("sharp")


def test_eval_jpeg_starts_bicubic_and_model_from_the_same_jpeg(two_models, tmp_path, capsys):
    hr_path = tmp_path / "hr.png"
    Image.fromarray(drawn_image(64, 80)).save(hr_path)
    argv = ["eval", str(hr_path), "--json", "--jpeg", "70", "--precision", "fp32"]
    assert cli.main(argv) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    truth, lr = evaluate.ground_truth(drawn_image(64, 80))
    from carsr_gui import jpeg, metrics, resample

    decoded = jpeg.roundtrip(lr, 70)
    assert row["bicubic_psnr"] == pytest.approx(metrics.psnr(resample.enlarge(decoded), truth))
    # ... and the model that ran is the JPEG one, picked from the JPEG's own tables.
    engines = Engines("jpeg", device="cpu", precision="fp32")
    want = engines.engines["jpeg"].upscale(decoded, 2).output
    assert row["model_psnr"] == pytest.approx(metrics.psnr(want, truth), abs=1e-6)
    assert evaluate.compressed(lr, 70).jpeg_quality == 70


def test_eval_rejects_a_quality_out_of_range(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["eval", "x.png", "--jpeg", "0"])
    assert info.value.code == 2


def test_upscale_reports_the_weights_per_file(two_models, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(drawn_image(40, 48)).save(src / "a.jpg", quality=75)
    Image.fromarray(drawn_image(40, 48)).save(src / "b.png")
    out = tmp_path / "out"
    assert cli.main(["upscale", str(src), "-o", str(out), "-q", "-v"]) == 0
    err = capsys.readouterr().err
    assert "a.jpg -> " in err and ", jpeg weights (JPEG quality ~75))" in err
    assert "b.png -> " in err and ", clean weights (not a JPEG))" in err


def test_info_covers_every_bundled_weights_file(two_models, capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("clean", "jpeg", "jpeg-high"):
        assert f"{name} weights: {two_models / (name + '.weights.h5')} (sha256 verified)" in out
        assert f"  model: tiny {name}" in out
    (two_models / "jpeg.weights.h5").write_bytes(b"damaged")
    assert cli.main(["info"]) == 1
    assert "jpeg.weights.h5: model weights damaged" in capsys.readouterr().err
