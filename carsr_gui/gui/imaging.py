"""NumPy pixels to Qt images and back. QImage may be built in any thread (the window builds the
full-size ones off the GUI thread); QPixmap only in the GUI thread."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(rgb: np.ndarray) -> QImage:
    """An HxWx3 uint8 array (or HxW grey) as a QImage that owns a copy of the pixels.

    The pixels are copied by NumPy into the image's own buffer: NumPy lets other threads run
    meanwhile, where ``QImage.copy()`` would hold Python's lock (150 ms for a 48 MP output,
    a stall of the window when it is made on a helper thread)."""
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    h, w = rgb.shape[:2]
    image = QImage(w, h, QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.bits(), np.uint8, image.sizeInBytes())
    rows.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3)[...] = rgb
    return image


def to_array(image: QImage) -> np.ndarray:
    """The pixels of an RGB888 QImage as an HxWx3 uint8 array (a copy)."""
    h, w = image.height(), image.width()
    rows = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    return rows.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(rgb))


def thumbnail(rgb: np.ndarray, size: int = 96) -> np.ndarray:
    """A small copy (longest side ``size``) for the queue, made with Pillow off the GUI thread."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb))
    img.thumbnail((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img)
