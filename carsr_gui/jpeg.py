"""JPEG compression as photos get it (Pillow, 4:2:0 chroma), and how compressed a JPEG is: its
quality estimated from the quantization tables in its header."""

from __future__ import annotations

import functools
import io
import os

import numpy as np
from PIL import Image


def compress(img: np.ndarray, quality: int) -> bytes:
    """``img`` (uint8 RGB) saved as a JPEG of ``quality`` with 4:2:0 chroma, as cameras and
    Pillow write it."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=int(quality), subsampling="4:2:0")
    return buf.getvalue()


def roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """``img`` compressed as a JPEG of ``quality`` and decoded again by Pillow."""
    with Image.open(io.BytesIO(compress(img, quality))) as decoded:
        return np.asarray(decoded.convert("RGB"))


@functools.cache
def _reference_tables() -> np.ndarray:
    """The luma and chroma tables that libjpeg (through Pillow) writes at qualities 1..100, as a
    (100, 2, 64) array: the scale that most encoders, cameras included, follow or approximate."""
    tiny = Image.new("RGB", (8, 8))
    out = np.empty((100, 2, 64), np.float64)
    for q in range(1, 101):
        buf = io.BytesIO()
        tiny.save(buf, "JPEG", quality=q)
        with Image.open(buf) as img:
            out[q - 1] = [img.quantization[0], img.quantization[1]]
    return out


def estimate_quality(tables: dict[int, list[int]]) -> int | None:
    """The libjpeg quality (1-100) whose tables are nearest to ``tables`` (Pillow's
    ``Image.quantization``), compared on a log scale so that fine and coarse steps count alike;
    None without tables."""
    if not tables:
        return None
    ref = np.log(_reference_tables())
    ids = sorted(tables)[:2]
    got = np.log(np.maximum(np.array([tables[i] for i in ids], np.float64), 1))
    dist = np.abs(ref[:, : len(ids)] - got[None]).sum(axis=(1, 2))
    return int(np.argmin(dist)) + 1


def quality_of_image(img: Image.Image) -> int | None:
    """The estimated quality of an opened JPEG; None for any other format."""
    if img.format != "JPEG":
        return None
    return estimate_quality(getattr(img, "quantization", None) or {})


def quality_of_file(path: os.PathLike | str) -> int | None:
    """The estimated quality of the JPEG at ``path`` (reads the header only); None for other
    formats and for files Pillow cannot open."""
    try:
        with Image.open(path) as img:
            return quality_of_image(img)
    except (OSError, ValueError):
        return None
