import math

import numpy as np
import pytest

from carsr_gui import metrics


def test_psnr_of_a_known_error():
    a = np.full((20, 20, 3), 100, np.uint8)
    b = a.copy()
    b[::2] += 10  # half the pixels off by 10: MSE 50
    assert metrics.psnr(a, b, border=0) == pytest.approx(10 * math.log10(255**2 / 50))
    assert metrics.psnr(a, a) == math.inf


def test_border_is_cropped():
    a = np.zeros((10, 10, 3), np.uint8)
    b = a.copy()
    b[:2] = 255
    assert metrics.psnr(a, b) == math.inf
    assert metrics.psnr(a, b, border=0) < 10


def test_luma_is_bt601():
    white, black = np.full((1, 1, 3), 255), np.zeros((1, 1, 3))
    assert metrics.to_y(white)[0, 0] == pytest.approx(235.0)
    assert metrics.to_y(black)[0, 0] == pytest.approx(16.0)


def test_ssim_is_one_for_equal_images_and_falls_with_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (40, 40, 3)).astype(np.uint8)
    noisy = np.clip(a + rng.normal(0, 30, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, noisy) < metrics.ssim(a, np.clip(a + 3, 0, 255).astype(np.uint8)) < 1
    assert metrics.ssim(a, noisy, y=True) == pytest.approx(metrics.ssim(noisy, a, y=True))


def test_ssim_of_constant_images_follows_the_formula():
    a, b = np.full((20, 20), 100.0), np.full((20, 20), 120.0)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    assert metrics.ssim(a, b, border=0) == pytest.approx(expected)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
