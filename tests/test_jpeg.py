"""Estimating a JPEG's quality from its quantization tables."""

import io

import numpy as np
import pytest
from PIL import Image

from carsr_gui import jpeg
from tests.conftest import drawn_image


def jpeg_bytes(quality, mode="RGB", **kw) -> bytes:
    img = Image.fromarray(drawn_image(40, 56)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("quality", [20, 30, 50, 62, 75, 85, 90, 95, 100])
@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
def test_pillow_qualities_are_found_exactly(quality, subsampling, tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(quality, subsampling=subsampling))
    assert jpeg.quality_of_file(path) == quality


def test_greyscale_jpeg_has_one_table():
    with Image.open(io.BytesIO(jpeg_bytes(70, mode="L"))) as img:
        assert len(img.quantization) == 1
        assert jpeg.quality_of_image(img) == 70


def test_other_encoders_tables_map_to_the_nearest_quality():
    # A camera-like table: libjpeg's quality-80 tables with a few steps nudged.
    ref = jpeg._reference_tables()[79].astype(int)
    nudged = {0: list(ref[0] + (np.arange(64) % 7 == 0)), 1: list(ref[1])}
    assert abs(jpeg.estimate_quality(nudged) - 80) <= 1


def test_lossless_and_unreadable_files_have_no_quality(tmp_path):
    png = tmp_path / "a.png"
    Image.fromarray(drawn_image(16, 16)).save(png)
    broken = tmp_path / "b.jpg"
    broken.write_bytes(b"not a jpeg")
    assert jpeg.quality_of_file(png) is None
    assert jpeg.quality_of_file(broken) is None
    assert jpeg.quality_of_file(tmp_path / "missing.jpg") is None
    assert jpeg.estimate_quality({}) is None


def test_loaded_photos_carry_their_jpeg_quality(tmp_path):
    from carsr_gui import image_io

    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(60))
    Image.fromarray(drawn_image(16, 16)).save(tmp_path / "b.png")
    assert image_io.load(tmp_path / "a.jpg").jpeg_quality == 60
    assert image_io.load(tmp_path / "b.png").jpeg_quality is None


def test_roundtrip_loses_more_at_lower_quality():
    from carsr_gui import metrics

    img = drawn_image(64, 80, seed=2)
    assert jpeg.roundtrip(img, 30).shape == img.shape
    errors = [metrics.psnr(jpeg.roundtrip(img, q), img) for q in (30, 75, 95)]
    assert errors[0] < errors[1] < errors[2]
