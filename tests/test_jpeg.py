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


def test_a_nudged_libjpeg_table_maps_to_the_nearest_quality():
    ref = jpeg._reference_tables()[79].astype(int)
    nudged = {0: list(ref[0] + (np.arange(64) % 7 == 0)), 1: list(ref[1])}
    assert abs(jpeg.estimate_quality(nudged) - 80) <= 1


def table(text: str) -> list[int]:
    return [int(v) for v in text.split()]


# Tables that other encoders write, in natural order (rows of the 8x8 block), not libjpeg's
# scaled ones: a camera's, flat at 26 in the chroma, and Photoshop's own 0-12 and 0-100 scales,
# whose high frequencies are finer than their low ones. GIMP's plug-ins/jpeg/jpegqual.c lists
# each by the sums of its two tables and the libjpeg quality it is nearest to.
FOREIGN = {
    "Canon PowerShot A95, S1, S2 'Fine'": (
        table("""
            1  1  1  2  3  6  8 10   1  1  2  3  4  8  9  8   2  2  2  3  6  8 10  8
            2  2  3  4  7 12 11  9   3  3  8 11 10 16 15 11   3  5  8 10 12 15 16 13
            7 10 11 12 15 17 17 14  14 13 13 15 15 14 14 14"""),
        table("""
            4  4  5  9 15 26 26 26   4  4  5 10 19 26 26 26   5  5  8  9 26 26 26 26
            9 10  9 13 26 26 26 26  15 19 26 26 26 26 26 26  26 26 26 26 26 26 26 26
           26 26 26 26 26 26 26 26  26 26 26 26 26 26 26 26"""),
        "4:2:2",
        (533, 1325, 89),
    ),
    "Photoshop CS2 'Save for Web' 80": (
        table("""
            2  2  2  2  3  4  5  6   2  2  2  2  3  4  5  6   2  2  2  2  4  5  7  9
            2  2  2  4  5  7  9 12   3  3  4  5  8 10 12 12   4  4  5  7 10 12 12 12
            5  5  7  9 12 12 12 12   6  6  9 12 12 12 12 12"""),
        table("""
            3  3  5  9 13 15 15 15   3  4  6 11 14 12 12 12   5  6  9 14 12 12 12 12
            9 11 14 12 12 12 12 12  13 14 12 12 12 12 12 12
           15 12 12 12 12 12 12 12  15 12 12 12 12 12 12 12  15 12 12 12 12 12 12 12"""),
        "4:4:4",
        (406, 724, 93),
    ),
    "Photoshop 7, CS, CS2 or Lightroom quality 12 of 12": (
        table("""
            1  1  1  1  1  1  1  1   1  1  1  1  1  1  1  1   1  1  1  1  1  1  1  2
            1  1  1  1  1  1  2  2   1  1  1  1  1  2  2  3   1  1  1  1  2  2  3  3
            1  1  1  2  2  3  3  3   1  1  2  2  3  3  3  3"""),
        table("""
            1  1  1  1  2  3  3  3   1  1  1  2  3  3  3  3   1  1  1  3  3  3  3  3
            1  2  3  3  3  3  3  3   2  3  3  3  3  3  3  3   3  3  3  3  3  3  3  3
            3  3  3  3  3  3  3  3   3  3  3  3  3  3  3  3"""),
        "4:4:4",
        (95, 166, 98),
    ),
}


@pytest.mark.parametrize("encoder", FOREIGN)
def test_other_encoders_files_get_the_quality_of_the_libjpeg_tables_nearest_to_theirs(
    encoder, tmp_path
):
    """A real file carrying the encoder's tables: the estimate is within 3 of GIMP's nearest
    libjpeg quality, and picks the same weights as that quality would."""
    from carsr_gui import model_choice

    luma, chroma, subsampling, (luma_sum, chroma_sum, nearest) = FOREIGN[encoder]
    assert (sum(luma), sum(chroma)) == (luma_sum, chroma_sum)  # the data as GIMP lists it
    path = tmp_path / "photo.jpg"
    Image.fromarray(drawn_image(40, 56)).save(
        path, "JPEG", qtables=[luma, chroma], subsampling=subsampling
    )
    with Image.open(path) as img:
        assert img.quantization == {0: luma, 1: chroma}
    quality = jpeg.quality_of_file(path)
    assert abs(quality - nearest) <= 3, quality
    chosen = model_choice.choose("auto", quality).name
    assert chosen == model_choice.choose("auto", nearest).name


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
