"""What a panel is given: sRGB pixels and reduced copies for drawing the image smaller."""

from __future__ import annotations

import numpy as np

from carsr_gui.gui import display
from carsr_gui.gui.imaging import to_array, to_qimage
from tests.conftest import drawn_image


def test_qimages_hold_the_exact_pixels_whatever_the_row_padding():
    for height, width in ((5, 7), (3, 4), (1, 1)):  # 21 and 3 bytes a row are padded to 24, 4
        rgb = drawn_image(height, width)
        assert np.array_equal(to_array(to_qimage(rgb)), rgb)
    grey = drawn_image(6, 5)[..., 0]
    assert np.array_equal(to_array(to_qimage(grey)), np.repeat(grey[..., None], 3, axis=2))


def test_reduced_copies_halve_down_to_the_smallest_level():
    rgb = drawn_image(700, 2100)
    levels = display.reduced(rgb)
    assert [(q.width(), q.height()) for q in levels] == [(1050, 350), (525, 175), (263, 88)]
    half = to_array(levels[0]).astype(int)
    box = rgb.reshape(350, 2, 1050, 2, 3).mean(axis=(1, 3))
    assert np.abs(half - box).max() <= 1  # a 2x2 average
    assert display.reduced(drawn_image(40, 48)) == []
