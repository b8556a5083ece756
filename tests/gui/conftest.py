"""Qt fixtures for the window's tests: offscreen platform, no dialogs, a tiny model, settings in a
temporary file, and an engine that can be held mid-job to test cancel and close."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import drawn_image

# The offscreen platform plugin says so when a window sets its size hints; not a problem of ours.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints"


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if "tests/gui" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture(autouse=True)
def no_dialogs():
    """Messages are logged, questions get their default answer: nothing waits for a click."""
    from carsr_gui.gui import messages

    messages.set_interactive(False)
    yield
    messages.set_interactive(True)


@pytest.fixture
def settings(tmp_path):
    from carsr_gui.gui.settings import Settings

    return Settings(tmp_path / "settings" / "carsr.ini")


@pytest.fixture(scope="session")
def tiny_engine(tiny_model):
    """One engine on the tiny model for the whole session (each window's worker uses it in turn)."""
    from carsr_gui.engine import Engine

    return Engine(model=tiny_model, tile=96, margin=28)


@pytest.fixture
def tiny_factory(tiny_engine):
    return lambda: tiny_engine


class GatedEngine:
    """The tiny engine, held after its first tile (of several) until ``gate`` is set or the job
    is cancelled: a job that is certainly mid-way while the test looks at the window. Give it
    photos of several tiles (``SEVERAL_TILES``); ``held_at`` is where it held, (done, total)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.held_at: tuple[int, int] | None = None

    @property
    def description(self) -> str:
        return self.engine.description

    def _hold(self, progress, cancel):
        def report(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total)
            if 1 <= done < total and not self.entered.is_set():
                self.held_at = (done, total)
                self.entered.set()
                while not self.gate.wait(0.005):
                    if cancel is not None and cancel.cancelled:
                        break

        return report

    def upscale_photo(self, photo, scale=2, progress=None, cancel=None):
        return self.engine.upscale_photo(photo, scale, self._hold(progress, cancel), cancel)

    def upscale(self, rgb, scale=2, progress=None, cancel=None):
        return self.engine.upscale(rgb, scale, self._hold(progress, cancel), cancel)


@pytest.fixture
def gated(tiny_engine):
    engine = GatedEngine(tiny_engine)
    yield engine
    engine.gate.set()


@pytest.fixture
def make_window(qtbot, settings, tiny_factory):
    """``make_window(factory=None, settings=None)``: a shown window on the tiny model."""
    from carsr_gui.gui.main_window import MainWindow

    def make(factory=None, settings_=None):
        window = MainWindow(settings_ or settings, factory or tiny_factory)
        qtbot.addWidget(window)
        window.show()
        return window

    return make


#: (height, width) of a photo that the tiny engine (tile 96, margin 28) enlarges in several tiles.
SEVERAL_TILES = (72, 80)


def write_image(path: Path, height: int = 40, width: int = 48, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(drawn_image(height, width, seed)).save(path)
    return path


def read(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))
