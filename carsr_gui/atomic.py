"""Replace a file in one step: written in full under a temporary name in its folder, flushed to
disk, then renamed over the old one, so that a crash at any point leaves the old file or the
new one, never half of one. No Qt, no TensorFlow."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)
#: mkstemp makes its files private; what we write gets the mode of any other new file.
_FILE_MODE = 0o666 & ~_UMASK


def replace_with(
    path: os.PathLike | str, writer: Callable[[Path], object], *, replace: bool = True
) -> Path:
    """Call ``writer(tmp)`` to write the whole file at ``tmp``, then move it over ``path``.

    ``tmp`` is in ``path``'s folder (a rename within one file system is atomic) and ends with
    ``path``'s name, so that writers that go by the suffix (Keras's ``.keras``,
    ``.weights.h5``) accept it. With ``replace=False`` an existing ``path`` is never replaced,
    even one that appeared while this was writing: ``FileExistsError``. If ``writer`` or the
    move fails, ``tmp`` is removed and ``path`` is left as it was; the exception propagates.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=".", suffix=f".part.{path.name}", dir=path.parent)
    tmp = Path(name)
    try:
        os.chmod(fd, _FILE_MODE)
        os.close(fd)
        writer(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone after os.replace; a second name after a link
    fsync_folder(path.parent)
    return path


def _link_new(tmp: Path, path: Path) -> None:
    """Give the complete file ``tmp`` the name ``path`` too, unless that name exists (a rename
    would replace it). ``FileExistsError`` if it exists."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system (FAT, some network shares)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE))  # claim it
        try:
            os.replace(tmp, path)
        except OSError:
            path.unlink(missing_ok=True)
            raise


def write_bytes(path: os.PathLike | str, data: bytes) -> Path:
    return replace_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: os.PathLike | str, text: str, encoding: str = "utf-8") -> Path:
    return replace_with(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; some file systems cannot sync a folder, no error."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
