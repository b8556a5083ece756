"""Inputs carsr must refuse: one clear line naming the file, and the batch goes on. The loader
raises only its own error type, whatever bytes it is given (a property test)."""

from __future__ import annotations

import contextlib
import io
import signal
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from carsr_gui import cli, image_io
from tests.corpus import Corpus, pattern, png_declaring


@pytest.fixture
def corpus(tmp_path):
    c = Corpus(tmp_path / "in")
    yield c
    assert c.changed() == [], "an input file was changed"


def encoded(fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pattern(24, 32)).save(buf, fmt, **options)
    return buf.getvalue()


def eps() -> bytes:
    return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nnewpath 0 0 moveto showpage\n"


#: name -> (contents, what the one-line reason says)
BAD = {
    "empty.png": (lambda: b"", "empty file (0 bytes)"),
    "cut.jpg": (lambda: encoded("JPEG")[:600], "truncated or damaged JPEG file"),
    "cut.png": (lambda: encoded("PNG")[:300], "truncated or damaged PNG file"),
    "cut-header.png": (lambda: encoded("PNG")[:20], "truncated or damaged PNG file"),
    "letter.jpg": (lambda: b"Dear garage,\nmy car is red.\n", "not an image carsr can read"),
    "drawing.eps": (eps, "unsupported format EPS"),
    "page.pdf": (lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n", "not an image carsr can read"),
    "bomb.png": (lambda: png_declaring(100_000, 100_000), "declares 100000x100000 pixels"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_refused_with_one_line_naming_the_file(corpus, name):
    data, reason = BAD[name]
    path = corpus.write(name, data())
    with pytest.raises(image_io.ImageError) as info:
        image_io.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and reason in message
    assert "\n" not in message and info.value.path == path


def test_bomb_is_refused_before_decoding(corpus, monkeypatch):
    path = corpus.write("bomb.png", png_declaring(100_000, 100_000))

    def no_decoding(self):
        raise AssertionError("decoded a refused image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(image_io.ImageError, match=r"above the limit of 400 MP.*--max-pixels"):
        image_io.load(path)


def test_pixel_limit_can_be_raised(corpus):
    path = corpus.write("big.png", png_declaring(3000, 2000))
    with pytest.raises(image_io.ImageError, match="declares 3000x2000 pixels"):
        image_io.load(path, max_pixels=5_000_000)
    with pytest.raises(image_io.ImageError, match="truncated"):  # decoded, and found short
        image_io.load(path, max_pixels=6_000_000)


def test_folder_and_missing_file_are_refused(tmp_path):
    with pytest.raises(image_io.ImageError, match="is a folder"):
        image_io.load(tmp_path)
    with pytest.raises(image_io.ImageError, match="no such file"):
        image_io.load(tmp_path / "gone.jpg")


def test_cli_refuses_each_bad_file_on_one_line_and_goes_on(corpus, tmp_path, tiny_weights, capsys):
    good = [corpus.image(f"good{i}.png", Image.fromarray(pattern(8, 6, seed=i))) for i in (1, 2)]
    bad = [corpus.write(name, data()) for name, (data, _) in BAD.items()]
    out = tmp_path / "out"
    argv = ["upscale", good[0], *bad, good[1], "-o", out, "--weights", tiny_weights, "-q"]
    assert cli.main(list(map(str, argv))) == 1
    *lines, summary = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == len(bad)
    assert summary == f"carsr: 2 enlarged, {len(bad)} failed"
    for line, path, (_, reason) in zip(lines, bad, BAD.values(), strict=True):
        assert line.startswith(f"carsr: {path}: ") and reason in line
    assert sorted(p.name for p in out.iterdir()) == ["good1_x2.png", "good2_x2.png"]


def test_cli_max_pixels_raises_the_limit(corpus, tmp_path, tiny_weights, capsys):
    path = corpus.image("photo.png", Image.fromarray(pattern(30, 40)))
    out = tmp_path / "out"
    argv = ["upscale", str(path), "-o", str(out), "--weights", str(tiny_weights), "-q"]
    assert cli.main([*argv, "--max-pixels", "1199"]) == 1
    assert "above the limit" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert cli.main([*argv, "--max-pixels", "1200"]) == 0
    assert (out / "photo_x2.png").is_file()


# -- property: any bytes either load or raise ImageError, promptly --------------------------

SEEDS = {
    "png": encoded("PNG"),
    "jpg": encoded("JPEG", quality=80),
    "gif": encoded("GIF"),
    "webp": encoded("WEBP", quality=80),
    "tif": encoded("TIFF"),
    "bmp": encoded("BMP"),
}


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[suffix])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            data[at : at + 8] = bytes(len(data[at : at + 8]))
    return suffix, bytes(data)


inputs = st.one_of(
    mutated(),
    st.tuples(st.sampled_from(sorted(SEEDS)), st.binary(max_size=256)),
    st.tuples(
        st.sampled_from(sorted(SEEDS)),
        st.sampled_from(list(SEEDS.values())).flatmap(
            lambda seed: st.binary(max_size=64).map(lambda tail: seed[:12] + tail)
        ),
    ),
)


class Hung(BaseException):
    """Not an Exception, so that the loader's own handlers cannot turn it into an ImageError."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail, rather than hang, if the block runs longer than ``seconds`` (the deadline below
    only judges examples that finish)."""

    def expire(signum, frame):
        raise Hung(f"image_io.load ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@settings(
    max_examples=150,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(inputs)
def test_loader_loads_or_raises_its_own_error_for_any_bytes(case):
    suffix, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz.{suffix}"
        path.write_bytes(data)
        try:
            with time_limit(10):
                photo = image_io.load(path, max_pixels=4_000_000)
        except image_io.ImageError as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        else:
            assert photo.rgb.dtype == np.uint8 and photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3
        assert path.read_bytes() == data
