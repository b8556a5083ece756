"""The settings wrapper: defaults in one place, typed round-trip, bad values fall back."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSettings

from carsr_gui.gui.settings import DEFAULTS, MAX_RECENT, Settings


def test_defaults_when_nothing_is_stored(settings):
    for key, default in DEFAULTS.items():
        assert settings[key] == default


def test_values_round_trip_through_the_file_with_their_types(tmp_path):
    path = tmp_path / "carsr.ini"
    first = Settings(path)
    values = {
        "window/geometry": QByteArray(b"\x01\x02\x00geometry"),
        "paths/open_dir": "/photos/cars",
        "paths/recent": ["/photos/one.jpg"],  # one item: the ini backend gives back a string
        "process/scale": 4,
        "process/device": "cpu",
        "process/tile": 256,
        "process/evaluate": True,
        "save/format": "webp",
        "save/quality": 80,
        "view/layout": "split",
        "view/feature_mode": "channel",
        "view/feature_channel": 17,
    }
    for key, value in values.items():
        first[key] = value
    first.sync()
    second = Settings(path)
    for key, value in values.items():
        assert second[key] == value
        assert type(second[key]) is type(value)


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("process/scale", "3"),
        ("process/device", "tpu"),
        ("process/tile", "sixty"),
        ("save/format", "bmp"),
        ("save/quality", "101"),
        ("process/evaluate", "perhaps"),
    ],
)
def test_a_bad_stored_value_falls_back_to_the_default(tmp_path, key, raw):
    path = tmp_path / "carsr.ini"
    raw_settings = QSettings(str(path), QSettings.Format.IniFormat)
    raw_settings.setValue(key, raw)
    raw_settings.sync()
    assert Settings(path)[key] == DEFAULTS[key]


def test_recent_files_newest_first_without_duplicates_and_bounded(settings):
    for n in range(MAX_RECENT + 3):
        settings.add_recent(Path(f"/p/{n}.png"))
    settings.add_recent(Path("/p/5.png"))
    recent = settings.recent()
    assert recent[0] == Path("/p/5.png")
    assert len(recent) == MAX_RECENT == len(set(recent))
    settings.remove_recent(Path("/p/5.png"))
    assert Path("/p/5.png") not in settings.recent()


def test_unknown_keys_are_refused(settings):
    with pytest.raises(KeyError):
        settings["no/such/key"] = 1
