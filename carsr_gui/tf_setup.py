"""Import TensorFlow and Keras once, quietly.

TensorFlow's native libraries print start-up chatter (CUDA probing, absl's "before InitializeLog"
notice) straight to file descriptor 2, before ``TF_CPP_MIN_LOG_LEVEL`` takes effect, so the first
import and device scan run with descriptor 2 pointed at the null device.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


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
    import keras
    import tensorflow as tf

    tf.config.list_physical_devices()

__all__ = ["keras", "tf"]
