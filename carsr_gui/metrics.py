"""PSNR and SSIM as super-resolution papers compute them (pure NumPy, no TensorFlow)."""

from __future__ import annotations

import numpy as np

#: Pixels cropped from each edge before measuring (the usual protocol for 2x).
BORDER = 2


def to_y(rgb: np.ndarray) -> np.ndarray:
    """Luma of ITU-R BT.601 in [16, 235] from RGB in [0, 255] (MATLAB's rgb2ycbcr)."""
    rgb = rgb.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def _prepare(a: np.ndarray, b: np.ndarray, y: bool, border: int) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    a, b = (to_y(a), to_y(b)) if y else (a.astype(np.float64), b.astype(np.float64))
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, *, y: bool = False, border: int = BORDER) -> float:
    """Peak signal-to-noise ratio in dB of two uint8-range images (RGB, or luma with ``y``)."""
    a, b = _prepare(a, b, y, border)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _gaussian_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of a 2-D array with the 1-D kernel ``k`` on both axes."""
    n = len(k)
    rows = sum(k[i] * x[i : x.shape[0] - n + 1 + i] for i in range(n))
    return sum(k[i] * rows[:, i : x.shape[1] - n + 1 + i] for i in range(n))


def _ssim_2d(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    t = np.arange(11) - 5.0
    k = np.exp(-(t**2) / (2 * 1.5**2))
    k /= k.sum()
    mu_a, mu_b = _gaussian_valid(a, k), _gaussian_valid(b, k)
    var_a = _gaussian_valid(a * a, k) - mu_a**2
    var_b = _gaussian_valid(b * b, k) - mu_b**2
    cov = _gaussian_valid(a * b, k) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim(a: np.ndarray, b: np.ndarray, *, y: bool = False, border: int = BORDER) -> float:
    """Structural similarity (Wang et al. 2004: 11x11 Gaussian, sigma 1.5), mean over RGB or on luma."""
    a, b = _prepare(a, b, y, border)
    if a.ndim == 2:
        return _ssim_2d(a, b)
    return float(np.mean([_ssim_2d(a[..., c], b[..., c]) for c in range(a.shape[2])]))
