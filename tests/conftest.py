"""Fixtures shared by the core tests: drawn images and a tiny model (the real one is slow here)."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="session")
def _precision_cache(tmp_path_factory):
    """The measured precision choices live in a folder of the test session's, never the user's:
    the first test that builds a runner with ``precision="auto"`` times the candidates, the rest
    read its choice (child processes inherit the variable)."""
    from carsr_gui.precision import CACHE_DIR_ENV

    old = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop(CACHE_DIR_ENV, None)
    else:
        os.environ[CACHE_DIR_ENV] = old


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


def disk_full_on_second_array(monkeypatch) -> None:
    """The result cache's second ``np.save`` writes a few bytes, then finds the disk full."""
    from carsr_gui import batch

    real_save = np.save
    calls = 0

    def save(path, array, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            with open(path, "wb") as f:
                f.write(b"\x93NUMPY partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(path, array, **kwargs)

    monkeypatch.setattr(batch.np, "save", save)


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
