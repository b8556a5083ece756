"""What the panels show of a finished photo, prepared off the GUI thread: the full-size images
read back from the result cache, converted to sRGB through the photo's ICC profile and made
into QImages, and the feature map drawn as chosen (its PCA takes a while on a large photo)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtGui import QImage

from carsr_gui import feature_map, image_io
from carsr_gui.batch import Stored
from carsr_gui.gui.imaging import to_qimage

PANELS = ("input", "bicubic", "output", "truth")
#: Reduced copies are made down to this longest side (a panel seldom shows more pixels).
SMALLEST_LEVEL = 512


@dataclass
class Shown:
    """A finished photo as the panels show it."""

    job_id: int
    stored: Stored
    images: dict[str, QImage] = field(default_factory=dict)
    levels: dict[str, list[QImage]] = field(default_factory=dict)  # half, quarter... size
    features: QImage | None = None  # the feature map drawn as chosen, at the pooled grid's size

    def size(self, name: str) -> tuple[int, int]:
        """(width, height) of a panel's image at full size."""
        h, w = self.stored.shapes[name][:2]
        return w, h


def prepare(job_id: int, stored: Stored, mode: str, channel: int) -> Shown:
    """Runs in a helper thread: reads, converts and draws everything the panels need."""
    shown = Shown(job_id, stored)
    for name in PANELS:
        rgb = stored.load(name)
        if rgb is not None:
            rgb = image_io.for_display(rgb, stored.icc_profile)
            shown.images[name] = to_qimage(rgb)
            shown.levels[name] = reduced(rgb)
            del rgb
    shown.features = draw_features(stored.features, mode, channel)
    return shown


def reduced(rgb: np.ndarray) -> list[QImage]:
    """Copies of half, a quarter... the size (2x2 box average), down to ``SMALLEST_LEVEL``."""
    from PIL import Image

    levels = []
    img = Image.fromarray(np.ascontiguousarray(rgb))
    while max(img.size) > SMALLEST_LEVEL:
        img = img.reduce(2)
        levels.append(to_qimage(np.asarray(img)))
    return levels


def draw_features(features, mode: str, channel: int) -> QImage | None:
    """The feature map (None: released) as a colour picture; runs in a helper thread."""
    if features is None:
        return None
    picture = feature_map.render(features, mode, channel)
    return to_qimage(np.asarray(picture))
