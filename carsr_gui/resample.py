"""Bicubic resampling with Pillow: the degradation the model was trained on, and its input."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_bicubic(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a uint8 HxW or HxWxC array with Pillow's bicubic filter (per channel for >4 bands)."""
    if img.ndim == 2 or img.shape[2] in (3, 4):
        return np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BICUBIC))
    return np.stack([resize_bicubic(img[..., c], width, height) for c in range(img.shape[2])], -1)


def enlarge(img: np.ndarray, factor: int = 2) -> np.ndarray:
    """Bicubic enlargement by an integer factor: the model's input and the comparison baseline."""
    return resize_bicubic(img, img.shape[1] * factor, img.shape[0] * factor)


def crop_to_multiple(img: np.ndarray, multiple: int) -> np.ndarray:
    """Crop the bottom and right edges so that height and width are multiples of ``multiple``."""
    h, w = img.shape[0] // multiple * multiple, img.shape[1] // multiple * multiple
    return img[:h, :w]


def make_low_res(hr: np.ndarray, factor: int = 2) -> np.ndarray:
    """The evaluation protocol's low-res input: ``hr`` (cropped to a multiple) shrunk by ``factor``."""
    hr = crop_to_multiple(hr, factor)
    return resize_bicubic(hr, hr.shape[1] // factor, hr.shape[0] // factor)
