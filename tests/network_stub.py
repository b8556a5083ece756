"""For the measurement scripts (not a test): tiles pass through the engine unchanged, so the
image-sized buffers are measured in seconds; the network's own share does not grow with the
image, since every tile has one shape."""

from __future__ import annotations

import numpy as np


def install() -> None:
    from carsr_gui.runner import ModelRunner

    def forward(self, x, geometry=None):
        if geometry is None:
            return (x.copy(),)
        _, _, height, width, lead_y, lead_x, stride = (int(v) for v in geometry)
        cells = (-(-(lead_y + height) // stride), -(-(lead_x + width) // stride), 256)
        channel = np.zeros(256, np.float32)
        return x.copy(), np.zeros(cells, np.float32), channel, channel, channel

    ModelRunner.forward = forward
