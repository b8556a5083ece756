"""Fixtures shared by the core tests: drawn images and a tiny model (the real one is slow here)."""

from __future__ import annotations

import numpy as np
import pytest


def drawn_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth colour image with edges and texture, like a photo more than like noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack(
        [
            128 + 100 * np.sin(xx / 7.0 + seed),
            128 + 100 * np.cos(yy / 5.0 + xx / 11.0),
            255 * ((xx // 9 + yy // 13) % 2),
        ],
        axis=-1,
    )
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_model():
    import keras

    from carsr_gui.model import build_model

    keras.utils.set_random_seed(7)
    return build_model("carsr", width=4)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("weights") / "tiny.weights.h5"
    tiny_model.save_weights(path)
    return path


@pytest.fixture
def engine(tiny_model):
    from carsr_gui.engine import Engine

    return Engine(model=tiny_model, tile=96, margin=28)
