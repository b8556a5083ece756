"""Import TensorFlow and Keras once, quietly, without holding up the window's thread.

TensorFlow's native libraries print start-up chatter (CUDA probing, absl's "before InitializeLog"
notice) straight to file descriptor 2, before ``TF_CPP_MIN_LOG_LEVEL`` takes effect, so the first
import and device scan run with descriptor 2 pointed at the null device.

The import machinery loads an extension module, and with it TensorFlow's 1.3 GB of C++ libraries
and their static initialisers, while holding Python's lock: in the window that froze the GUI
thread for 0.7 s while the worker imported TensorFlow. Loading those libraries first through
libc's ``dlopen``, a foreign call that ctypes makes without the lock, moves that work off it;
the import then finds them loaded. Linux only; anything unexpected leaves it to the import.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

#: TensorFlow's C++ runtime, in load order; no Python in them, so they can load without the lock.
NATIVE_LIBRARIES = ("libtensorflow_framework.so.2", "libtensorflow_cc.so.2")


def _tensorflow_folders() -> list[Path]:
    folders = []
    if getattr(sys, "frozen", False):  # PyInstaller puts the package's libraries here
        folders.append(Path(getattr(sys, "_MEIPASS", "")) / "tensorflow")
    spec = importlib.util.find_spec("tensorflow")
    if spec is not None and spec.submodule_search_locations:
        folders.extend(Path(p) for p in spec.submodule_search_locations)
    return folders


def preload_native_libraries() -> list[Path]:
    """``dlopen`` TensorFlow's C++ libraries without holding Python's lock; returns those loaded."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        dlopen = ctypes.CDLL(None).dlopen
    except (OSError, AttributeError):  # no dlopen in the process's namespace (glibc < 2.34)
        return []
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    for folder in _tensorflow_folders():
        paths = [folder / name for name in NATIVE_LIBRARIES]
        if all(path.is_file() for path in paths):
            return [
                path for path in paths if dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL)
            ]
    return []


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _native_stderr_silenced():
    preloaded = preload_native_libraries()
    import keras
    import tensorflow as tf

    tf.config.list_physical_devices()

__all__ = ["keras", "preloaded", "tf"]
