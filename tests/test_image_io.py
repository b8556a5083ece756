"""Image input and output: every kind of photo people drop is read upright in the right colours,
and what the format allows (alpha, ICC profile, EXIF) reaches the output. Inputs are generated
here (``tests/corpus.py``) and hashed before and after each test."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from carsr_gui import cli, image_io, resample
from carsr_gui.engine import Engine
from tests.corpus import (
    Corpus,
    cmyk_profile,
    cyan_prints_red,
    grey_profile,
    pattern,
    png16,
    tiff16_rgb,
)

ORIENTATION, EXIF_IFD, GPS_IFD = 0x0112, 0x8769, 0x8825
MAKE, DATE_ORIGINAL, PIXEL_X, PIXEL_Y = 0x010F, 0x9003, 0xA002, 0xA003
MAKER_NOTE = 0x927C
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def corpus(tmp_path):
    c = Corpus(tmp_path / "in")
    yield c
    assert c.changed() == [], "an input file was changed"


@pytest.fixture(scope="module")
def wide_engine(tiny_model):
    """Big tiles: a 20000-pixel-long image in a few dozen tiles."""
    return Engine(model=tiny_model, tile=512, margin=28)


def opened(path):
    with Image.open(path) as img:
        img.load()
        return img.copy(), dict(img.info), img.getexif()


def camera_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "Carmaker"
    exif[ORIENTATION] = orientation
    exif.get_ifd(EXIF_IFD)  # (a fresh Exif has no Exif block yet)
    exif[EXIF_IFD] = {DATE_ORIGINAL: "2024:05:01 10:00:00", PIXEL_X: 24, PIXEL_Y: 16}
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0)}
    return exif


# -- orientation -------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_rotated_jpeg_comes_out_upright(corpus, orientation):
    stored = Image.fromarray(pattern(16, 24))
    stored.info["exif"] = camera_exif(orientation).tobytes()
    path = corpus.image("phone.jpg", stored, quality=100, exif=stored.info["exif"])
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img).convert("RGB")).astype(int)

    photo = image_io.load(path)
    assert photo.rgb.shape == expected.shape
    assert np.array_equal(photo.rgb, expected)
    assert image_io.output_exif(photo.exif, 2, 2) is not None
    exif = Image.Exif()
    exif.load(photo.exif)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "Carmaker"


def test_rotated_alpha_turns_with_the_colours(corpus):
    rgba = np.dstack([pattern(4, 6), np.arange(24, dtype=np.uint8).reshape(4, 6) * 10])
    path = corpus.image("turned.png", Image.fromarray(rgba), exif=camera_exif(6).tobytes())
    photo = image_io.load(path)
    assert np.array_equal(photo.rgb, np.rot90(rgba[..., :3], -1))
    assert np.array_equal(photo.alpha, np.rot90(rgba[..., 3], -1))


# -- colour models and bit depths -------------------------------------------------------------


def test_greyscale_png_stays_greyscale(corpus, tmp_path):
    grey = pattern(5, 7)[..., 0]
    photo = image_io.load(corpus.image("grey.png", Image.fromarray(grey)))
    assert photo.grey and photo.alpha is None
    assert all(np.array_equal(photo.rgb[..., c], grey) for c in range(3))
    out = image_io.save(tmp_path / "g.png", photo.rgb, grey=photo.grey)
    assert opened(out)[0].mode == "L"


def test_palette_png_gives_its_colours(corpus):
    img = Image.fromarray(pattern(6, 8)).quantize(colors=8)
    photo = image_io.load(corpus.image("palette.png", img))
    assert np.array_equal(photo.rgb, np.asarray(img.convert("RGB")))
    assert photo.alpha is None and not photo.grey


def test_palette_gif_with_transparency_keeps_alpha(corpus):
    img = Image.new("P", (4, 3), 1)
    img.putpalette([0, 0, 0, 200, 30, 40])
    img.putpixel((0, 0), 0)
    photo = image_io.load(corpus.image("logo.gif", img, transparency=0))
    assert photo.alpha is not None and photo.alpha[0, 0] == 0 and photo.alpha[1, 1] == 255
    assert tuple(photo.rgb[1, 1]) == (200, 30, 40)


@pytest.mark.parametrize(("mode", "key"), [("RGB", (10, 20, 30)), ("L", 10)])
def test_png_with_a_transparent_colour_gets_alpha(corpus, mode, key):
    img = Image.new(mode, (4, 2), key)
    img.putpixel((1, 1), (200, 20, 30) if mode == "RGB" else 200)
    photo = image_io.load(corpus.image(f"keyed-{mode}.png", img, transparency=key))
    assert photo.alpha.tolist() == [[0, 0, 0, 0], [0, 255, 0, 0]]
    assert photo.grey == (mode == "L") and photo.rgb[1, 1, 0] == 200


@pytest.mark.parametrize("fmt", ["png", "webp", "tiff"])
@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_kept_and_enlarged_separately(corpus, tmp_path, engine, mode, fmt):
    rgb = pattern(10, 12)
    alpha = np.zeros((10, 12), np.uint8)
    alpha[:, 6:] = 255
    pixels = np.dstack([rgb, alpha]) if mode == "RGBA" else np.dstack([rgb[..., 0], alpha])
    photo = image_io.load(corpus.image(f"{mode}.png", Image.fromarray(pixels, mode)))
    assert np.array_equal(photo.alpha, alpha) and photo.grey == (mode == "LA")

    result = engine.upscale_photo(photo)
    assert np.array_equal(result.alpha, resample.enlarge(alpha))  # bicubic, apart from colour
    out = image_io.save(tmp_path / "o", result.output, alpha=result.alpha, grey=photo.grey, fmt=fmt)
    img = opened(out)[0]
    assert img.size == (24, 20) and img.mode == (mode if fmt != "webp" else "RGBA")
    assert np.array_equal(np.asarray(img.getchannel("A")), result.alpha)


def test_16_bit_greyscale_png_is_scaled_not_clipped(corpus):
    samples = np.array([[0, 257, 25700, 32896, 65280, 65535]], np.uint16)
    photo = image_io.load(corpus.write("grey16.png", png16(samples)))
    assert photo.grey
    assert photo.rgb[..., 0].tolist() == [[0, 1, 100, 128, 254, 255]]


def test_16_bit_greyscale_with_alpha_png_stays_greyscale(corpus):
    samples = np.dstack([np.full((2, 3), 25700), np.full((2, 3), 65535)]).astype(np.uint16)
    photo = image_io.load(corpus.write("grey16a.png", png16(samples)))
    assert photo.grey and (photo.rgb == 100).all() and (photo.alpha == 255).all()


def ramp16(width: int = 64) -> np.ndarray:
    """Every 16-bit level band from black to white, in R; G and B reversed and constant."""
    r = np.linspace(0, 65535, width).astype(np.uint16)
    return np.stack([r, r[::-1], np.full_like(r, 40000)], axis=-1)[None]


def assert_scaled(photo_rgb, samples):
    expected = np.rint(samples[..., :3] / 257.0)
    assert np.abs(photo_rgb.astype(int) - expected).max() <= 1  # Pillow keeps the high byte
    assert photo_rgb[0, 0, 0] == 0 and photo_rgb[0, -1, 0] == 255
    assert (np.diff(photo_rgb[0, :, 0].astype(int)) >= 0).all()


@pytest.mark.parametrize("alpha", [False, True])
def test_16_bit_rgb_png_is_scaled_not_clipped(corpus, alpha):
    samples = ramp16()
    if alpha:
        samples = np.dstack([samples, np.full(samples.shape[:2], 32768, np.uint16)])
    photo = image_io.load(corpus.write("rgb16.png", png16(samples)))
    assert_scaled(photo.rgb, samples)
    assert (photo.alpha == 128).all() if alpha else photo.alpha is None


def test_16_bit_rgb_tiff_is_scaled_not_clipped(corpus):
    samples = ramp16()
    photo = image_io.load(corpus.write("rgb16.tif", tiff16_rgb(samples)))
    assert_scaled(photo.rgb, samples)
    assert not photo.grey


def test_16_bit_greyscale_tiff_is_scaled(corpus):
    samples = np.array([[0, 257, 25700, 65535]], np.uint16)
    photo = image_io.load(corpus.image("grey16.tif", Image.fromarray(samples)))
    assert photo.grey and photo.rgb[..., 1].tolist() == [[0, 1, 100, 255]]


def test_32_bit_integer_tiff_is_scaled(corpus):
    samples = np.array([[0, 25700, 65535]], np.int32)
    photo = image_io.load(corpus.image("int32.tif", Image.fromarray(samples, "I")))
    assert photo.grey and photo.rgb[..., 0].tolist() == [[0, 100, 255]]


def cmyk_inks() -> Image.Image:
    """Four columns: pure cyan, magenta, yellow ink, and bare paper."""
    cmyk = np.zeros((8, 32, 4), np.uint8)
    for i in range(3):
        cmyk[:, 8 * i : 8 * i + 8, i] = 255
    return Image.fromarray(cmyk, "CMYK")


def test_adobe_cmyk_jpeg_without_profile_has_the_right_colours(corpus):
    path = corpus.image("print.jpg", cmyk_inks(), quality=100)
    assert b"Adobe" in path.read_bytes()  # libjpeg stores CMYK inverted, as Photoshop does
    photo = image_io.load(path)
    colours = photo.rgb[4, 4::8].astype(int)
    expected = [(0, 255, 255), (255, 0, 255), (255, 255, 0), (255, 255, 255)]
    assert np.abs(colours - expected).max() <= 3
    assert photo.icc_profile is None


def test_cmyk_jpeg_colours_come_from_its_icc_profile(corpus, tmp_path):
    profile = cmyk_profile(cyan_prints_red)
    path = corpus.image("proof.jpg", cmyk_inks(), quality=100, icc_profile=profile)
    photo = image_io.load(path)
    colours = photo.rgb[4, 4::8].astype(int)
    expected = [(255, 0, 0), (255, 0, 255), (255, 255, 0), (255, 255, 255)]
    assert np.abs(colours - expected).max() <= 12  # a 2-point lut through 8-bit Lab
    assert photo.icc_profile is None  # the pixels are sRGB now: the CMYK profile is not kept
    out = image_io.save(tmp_path / "o.png", photo.rgb, icc_profile=photo.icc_profile)
    assert "icc_profile" not in opened(out)[1]


# -- what reaches the output ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(image_io.FORMATS))
def test_icc_profile_is_kept_in_the_output(corpus, tmp_path, fmt):
    path = corpus.image("tagged.png", Image.fromarray(pattern(6, 8)), icc_profile=SRGB)
    photo = image_io.load(path)
    assert photo.icc_profile == SRGB
    out = image_io.save(
        tmp_path / f"o{image_io.FORMATS[fmt][1]}", photo.rgb, icc_profile=photo.icc_profile
    )
    assert opened(out)[1].get("icc_profile") == SRGB


@pytest.mark.parametrize("fmt", list(image_io.FORMATS))
def test_greyscale_profile_is_kept_where_the_output_is_greyscale(corpus, tmp_path, fmt):
    grey = Image.fromarray(pattern(4, 6)[..., 0])
    profile = grey_profile()
    photo = image_io.load(corpus.image("grey.png", grey, icc_profile=profile))
    assert photo.grey and photo.icc_profile == profile
    out = image_io.save(tmp_path / "o", photo.rgb, grey=True, icc_profile=profile, fmt=fmt)
    img, info, _ = opened(out)
    if fmt == "webp":  # WebP holds RGB only: a greyscale profile would lie about it
        assert img.mode == "RGB" and "icc_profile" not in info
    else:
        assert img.mode == "L" and info["icc_profile"] == profile


def test_a_profile_for_other_pixels_is_dropped(corpus):
    grey = Image.fromarray(pattern(4, 4)[..., 0])
    photo = image_io.load(corpus.image("srgb-tagged-grey.png", grey, icc_profile=SRGB))
    assert photo.grey and photo.icc_profile is None


@pytest.mark.parametrize("fmt", list(image_io.FORMATS))
def test_exif_is_carried_with_new_size_and_upright(corpus, tmp_path, fmt):
    path = corpus.image(
        "camera.jpg", Image.fromarray(pattern(16, 24)), exif=camera_exif(6).tobytes()
    )
    photo = image_io.load(path)
    up = np.repeat(np.repeat(photo.rgb, 2, 0), 2, 1)
    out = image_io.save(tmp_path / "o", up, exif=photo.exif, fmt=fmt)
    img, _, exif = opened(out)
    assert img.size == (32, 48)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "Carmaker"
    if fmt == "tiff":  # libtiff cannot write the Exif and GPS blocks; the first IFD is kept
        assert 256 in exif and exif[256] == 32
        return
    sub = exif.get_ifd(EXIF_IFD)
    assert (sub[PIXEL_X], sub[PIXEL_Y]) == (32, 48)
    assert sub[DATE_ORIGINAL] == "2024:05:01 10:00:00"
    assert exif.get_ifd(GPS_IFD)[1] == "N"


def test_exif_too_large_for_a_jpeg_loses_the_maker_note_only(corpus, tmp_path):
    exif = camera_exif()
    exif[EXIF_IFD] = {**exif[EXIF_IFD], MAKER_NOTE: bytes(70_000)}
    photo = image_io.load(corpus.image("big-exif.png", Image.fromarray(pattern(4, 4)), exif=exif))
    _, _, kept = opened(image_io.save(tmp_path / "o.jpg", photo.rgb, exif=photo.exif))
    assert kept[MAKE] == "Carmaker" and MAKER_NOTE not in kept.get_ifd(EXIF_IFD)
    assert kept.get_ifd(EXIF_IFD)[DATE_ORIGINAL] == "2024:05:01 10:00:00"
    _, _, all_of_it = opened(image_io.save(tmp_path / "o.png", photo.rgb, exif=photo.exif))
    assert len(all_of_it.get_ifd(EXIF_IFD)[MAKER_NOTE]) == 70_000


def test_a_tiff_inputs_layout_tags_do_not_reach_the_output(corpus, tmp_path):
    path = corpus.write("scan.tif", tiff16_rgb(ramp16(8)))
    photo = image_io.load(path)
    assert photo.exif is None  # strips, sample sizes and so on describe that file only
    out = image_io.save(tmp_path / "o.jpg", photo.rgb, exif=photo.exif)
    assert 258 not in opened(out)[2]


def test_damaged_exif_costs_the_metadata_not_the_pixels(corpus):
    good = io.BytesIO()
    Image.fromarray(pattern(8, 8)).save(good, "JPEG", exif=camera_exif().tobytes())
    data = good.getvalue()
    at = data.index(b"Exif\0\0") + 6
    damaged = data[:at] + b"XX" + data[at + 2 :]  # the byte-order mark of the TIFF header
    photo = image_io.load(corpus.write("odd.jpg", damaged))
    assert photo.rgb.shape == (8, 8, 3)


@pytest.mark.parametrize(
    ("name", "options", "note"),
    [
        ("anim.gif", {}, "animated image: used the first of 3 frames"),
        ("anim.webp", {"lossless": True}, "animated image: used the first of 3 frames"),
        ("pages.tif", {}, "multi-page image: used the first of 3 pages"),
    ],
)
def test_animated_and_multi_page_images_give_the_first_frame_with_a_note(
    corpus, name, options, note
):
    frames = [Image.new("RGB", (5, 4), c) for c in ("red", "lime", "blue")]
    path = corpus.image(name, frames[0], save_all=True, append_images=frames[1:], **options)
    photo = image_io.load(path)
    assert (photo.rgb == (255, 0, 0)).all()
    assert photo.notes == [note]


def test_the_command_line_shows_the_note(corpus, tmp_path, tiny_weights, capsys):
    frames = [Image.new("RGB", (5, 4), c) for c in ("red", "lime")]
    path = corpus.image("anim.gif", frames[0], save_all=True, append_images=frames[1:])
    argv = ["upscale", str(path), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)]
    assert cli.main([*argv, "-q"]) == 0
    err = capsys.readouterr().err
    assert f"carsr: {path}: animated image: used the first of 2 frames" in err.splitlines()


def test_phone_mpo_is_a_photo_not_an_animation(corpus):
    frames = [Image.fromarray(pattern(8, 8)), Image.new("RGB", (8, 8))]
    path = corpus.image(
        "phone.jpg", frames[0], format="MPO", save_all=True, append_images=frames[1:]
    )
    photo = image_io.load(path)
    assert photo.notes == [] and photo.rgb.shape == (8, 8, 3)


# -- sizes and names ------------------------------------------------------------------------


@pytest.mark.parametrize(("h", "w"), [(1, 1), (3, 5), (5, 3)])
def test_tiny_images_are_enlarged(corpus, engine, h, w):
    photo = image_io.load(corpus.image(f"tiny{h}x{w}.png", Image.fromarray(pattern(h, w))))
    result = engine.upscale_photo(photo, 2)
    assert result.output.shape == (2 * h, 2 * w, 3)
    assert engine.upscale_photo(photo, 4).output.shape == (4 * h, 4 * w, 3)


@pytest.mark.parametrize(("h", "w"), [(40, 20000), (20000, 40)])
def test_very_wide_and_tall_images_are_enlarged(corpus, wide_engine, h, w):
    photo = image_io.load(corpus.image("strip.png", Image.fromarray(pattern(h, w))))
    result = wide_engine.upscale_photo(photo, 2)
    assert result.output.shape == (2 * h, 2 * w, 3) and result.output.dtype == np.uint8


def test_names_with_spaces_and_non_ascii_characters(corpus, tmp_path, tiny_weights, capsys):
    names = ["voiture rouge été.png", "車 の 写真.jpg", "Ünïcödé – ½.webp"]
    picture = Image.fromarray(pattern(6, 8))
    inputs = [
        corpus.image(n, picture, **({"lossless": True} if "webp" in n else {})) for n in names
    ]
    out = tmp_path / "sortie élevée"
    argv = ["upscale", *map(str, inputs), "-o", str(out), "--weights", str(tiny_weights), "-q"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n.rsplit('.', 1)[0]}_x2.png" for n in names
    )


# -- writing --------------------------------------------------------------------------------


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "o.png"
    target.write_bytes(b"old")
    image_io.save(target, pattern(4, 4), replace=True)
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]
    assert opened(target)[0].size == (4, 4)


def test_jpeg_quality_option_and_alpha_on_white(tmp_path):
    rgb = pattern(32, 32, seed=3)
    low = image_io.save(tmp_path / "low.jpg", rgb, quality=30)
    high = image_io.save(tmp_path / "high.jpg", rgb, quality=95)
    assert low.stat().st_size < high.stat().st_size
    alpha = np.zeros((32, 32), np.uint8)
    flat = image_io.save(tmp_path / "a.jpg", rgb, alpha=alpha)
    assert np.asarray(opened(flat)[0]).min() >= 250  # transparent over white is white


def test_output_format_comes_from_the_suffix_or_is_refused(tmp_path):
    with Image.open(image_io.save(tmp_path / "o.tiff", pattern(3, 3))) as img:
        assert img.format == "TIFF"
    with pytest.raises(image_io.ImageError, match=r"o\.gif: unsupported output format \.gif"):
        image_io.save(tmp_path / "o.gif", pattern(3, 3))
    assert list(tmp_path.iterdir()) == [tmp_path / "o.tiff"]


@pytest.mark.parametrize(("fmt", "side"), [("webp", 16384), ("jpg", 65501)])
def test_an_output_too_large_for_its_format_is_refused_clearly(tmp_path, fmt, side):
    with pytest.raises(image_io.ImageError, match=f"too large for {fmt}.*choose png or tiff"):
        image_io.save(tmp_path / "o", np.zeros((2, side, 3), np.uint8), fmt=fmt)
    assert list(tmp_path.iterdir()) == []
