"""Where Save starts: the last folder saved to; else the photo's folder unless it is carsr's own or
cannot be written; else Pictures. Never inside the app (the sample lives in its resources)."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from carsr_gui.gui import messages, save_folder
from carsr_gui.gui.save_folder import default_folder
from tests.gui.conftest import write_image

TIMEOUT = 60_000


@pytest.fixture
def place(tmp_path):
    """A photo in a user's folder, an app folder, a Pictures folder."""
    for name in ("photos", "app/resources", "pictures", "last"):
        (tmp_path / name).mkdir(parents=True)
    return tmp_path


def choose(place, photo: Path, last: Path | None = None, writable=lambda f: True) -> Path:
    return default_folder(
        photo,
        last,
        app=[place / "app" / "resources"],
        pictures=place / "pictures",
        writable=writable,
    )


def test_the_last_folder_saved_to_comes_first(place):
    assert choose(place, place / "photos" / "car.png", place / "last") == place / "last"
    sample = place / "app" / "resources" / "sample_car.png"
    assert choose(place, sample, place / "last") == place / "last"


def test_without_one_the_photos_own_folder(place):
    photo = place / "photos" / "car.png"
    assert choose(place, photo) == place / "photos"
    assert choose(place, photo, place / "gone") == place / "photos"  # removed since


def test_a_folder_of_the_app_gives_pictures(place):
    assert choose(place, place / "app" / "resources" / "sample_car.png") == place / "pictures"
    (place / "app" / "resources" / "sub").mkdir()
    assert choose(place, place / "app" / "resources" / "sub" / "x.png") == place / "pictures"


def test_a_folder_that_cannot_be_written_gives_pictures(place):
    photo = place / "photos" / "car.png"
    assert choose(place, photo, writable=lambda f: f != place / "photos") == place / "pictures"
    # The real check: a folder that is not there cannot be written.
    assert choose(place, place / "gone" / "car.png", writable=None) == place / "pictures"


def test_the_real_checks_take_the_apps_resources_and_pictures(place, monkeypatch):
    import carsr_gui.resources

    monkeypatch.setattr(carsr_gui.resources, "data_dir", lambda name: place / "app" / name)
    monkeypatch.setattr(platformdirs, "user_pictures_dir", lambda: str(place / "pictures"))
    assert default_folder(place / "app" / "resources" / "s.png", None) == place / "pictures"
    assert default_folder(place / "photos" / "car.png", None) == place / "photos"
    monkeypatch.setattr(platformdirs, "user_pictures_dir", lambda: str(place / "no-pictures"))
    assert default_folder(place / "app" / "resources" / "s.png", None) == Path.home()


@pytest.mark.parametrize("mac", [False, True], ids=["folder", "macos-app"])
def test_the_frozen_bundle_is_the_apps(place, monkeypatch, mac):
    bundle = place / ("carsr.app/Contents" if mac else "carsr")
    exe = bundle / ("MacOS/carsr" if mac else "carsr")
    internal = bundle / ("Frameworks" if mac else "_internal")
    for folder in (exe.parent, internal, place / "carsr" / "photos"):
        folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    folders = save_folder.app_folders()
    assert folders[0] == internal / "resources"
    assert (place / "carsr.app" if mac else bundle) in folders and internal in folders
    inside = (place / "carsr.app" if mac else bundle) / "photos" / "car.png"
    inside.parent.mkdir(parents=True, exist_ok=True)
    assert default_folder(inside, None, pictures=place / "pictures") == place / "pictures"


def test_saving_the_sample_starts_in_pictures_then_in_the_folder_saved_to(
    qtbot, make_window, settings, place, monkeypatch
):
    import carsr_gui.resources

    monkeypatch.setattr(carsr_gui.resources, "data_dir", lambda name: place / "app" / name)
    monkeypatch.setattr(platformdirs, "user_pictures_dir", lambda: str(place / "pictures"))
    write_image(place / "app" / "resources" / "sample_car.png")
    window = make_window()
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        window.sample_action.trigger()
    offered = []
    out = place / "out" / "mine.png"
    out.parent.mkdir()

    def ask(parent, default, name_filter):
        offered.append(default)
        return out

    monkeypatch.setattr(messages, "ask_save_file", ask)
    with qtbot.waitSignal(window.presenter.saved, timeout=TIMEOUT):
        window.save_current()
    assert offered[0].parent == place / "pictures"
    assert offered[0].name == "sample_car_x2.png"
    assert out.is_file()
    asked = []
    monkeypatch.setattr(messages, "ask_folder", lambda p, c, folder: asked.append(folder))
    window.save_all()
    assert asked == [place / "out"]
    window.close()

    again = make_window(settings_=settings)  # remembered in the settings
    with qtbot.waitSignal(again.batch_finished, timeout=TIMEOUT):
        again.sample_action.trigger()
    monkeypatch.setattr(messages, "ask_save_file", lambda p, default, f: offered.append(default))
    again.save_current()
    assert offered[1].parent == place / "out"
