"""The Save dialog's formats and the suffix added to a name typed without one. Names for Save
All (``<stem>_x<scale>.<ext>``, numbered when taken, never an input) come from
:func:`carsr_gui.image_io.output_path`; writing is :meth:`carsr_gui.batch.Stored.save`."""

from __future__ import annotations

from pathlib import Path

from carsr_gui import image_io

FORMAT_LABELS = {"png": "PNG", "jpg": "JPEG", "webp": "WebP", "tiff": "TIFF"}
FORMAT_PATTERNS = {"png": "*.png", "jpg": "*.jpg *.jpeg", "webp": "*.webp", "tiff": "*.tif *.tiff"}


def name_filter() -> str:
    """The file dialog's list of output formats."""
    return ";;".join(f"{FORMAT_LABELS[k]} ({FORMAT_PATTERNS[k]})" for k in FORMAT_LABELS)


def with_suffix(path: Path, fmt: str) -> Path:
    """``path`` as typed, given the format's suffix if it has none."""
    return path if path.suffix else path.with_suffix(image_io.FORMATS[fmt][1])
