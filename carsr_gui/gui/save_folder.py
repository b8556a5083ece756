"""Where the Save dialogs start: the last folder saved to; else the photo's own folder, unless it
belongs to carsr (the shipped sample lives in ``resources/``, inside the bundle when packaged) or
cannot be written; else the user's Pictures folder. No Qt, so that each branch is a plain test."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path


def default_folder(
    photo: Path,
    last: Path | None,
    *,
    app: Iterable[Path] | None = None,
    pictures: Path | None = None,
    writable: Callable[[Path], bool] | None = None,
) -> Path:
    """``last``: the folder saved to last (None, or gone: not used). ``app``, ``pictures`` and
    ``writable`` default to :func:`app_folders`, :func:`pictures_folder` and a write check."""
    if last is not None and last.is_dir():
        return last
    folder = photo.parent
    ours = app_folders() if app is None else app
    if (writable or _writable)(folder) and not any(_inside(folder, a) for a in ours):
        return folder
    return pictures_folder() if pictures is None else pictures


def app_folders() -> list[Path]:
    """Folders that are carsr's own: its resources and, in the packaged app, the bundle."""
    from carsr_gui.resources import data_dir

    folders = [data_dir("resources")]
    if getattr(sys, "frozen", False):
        exe = Path(sys.executable).resolve()
        bundle = next((p for p in exe.parents if p.suffix == ".app"), exe.parent)  # macOS
        folders += [bundle, Path(getattr(sys, "_MEIPASS", bundle))]
    return folders


def pictures_folder() -> Path:
    import platformdirs

    pictures = Path(platformdirs.user_pictures_dir())
    return pictures if pictures.is_dir() else Path.home()


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK)


def _inside(folder: Path, parent: Path) -> bool:
    return folder.resolve().is_relative_to(parent.resolve())
