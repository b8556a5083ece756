"""Output names and writing for Save and Save All: ``<stem>_x<scale>.<ext>``, numbered when the name
is taken, never an input; written atomically by :func:`carsr_gui.image_io.save`."""

from __future__ import annotations

from pathlib import Path

from carsr_gui import image_io

FORMAT_LABELS = {"png": "PNG", "jpg": "JPEG", "webp": "WebP", "tiff": "TIFF"}
FORMAT_PATTERNS = {"png": "*.png", "jpg": "*.jpg *.jpeg", "webp": "*.webp", "tiff": "*.tif *.tiff"}


def name_filter() -> str:
    """The file dialog's list of output formats."""
    return ";;".join(f"{FORMAT_LABELS[k]} ({FORMAT_PATTERNS[k]})" for k in FORMAT_LABELS)


def default_path(src: Path, folder: Path, scale: int, fmt: str, inputs: set[Path]) -> Path:
    """A free name in ``folder`` for the enlargement of ``src`` (the command line's rule)."""

    return image_io.output_path(src, folder, scale, fmt, False, inputs)


def with_suffix(path: Path, fmt: str) -> Path:
    """``path`` as typed, given the format's suffix if it has none."""
    return path if path.suffix else path.with_suffix(image_io.FORMATS[fmt][1])


def write(outcome, path: Path, fmt: str | None, quality: int) -> Path:
    """Write a worker :class:`~carsr_gui.gui.worker.Outcome`'s output with the photo's metadata
    (format from the suffix when ``fmt`` is None). Raises :class:`~carsr_gui.image_io.ImageError`."""
    result = outcome.result
    return image_io.save_like(
        path, outcome.photo, result.output, result.alpha, fmt=fmt, quality=quality
    )
