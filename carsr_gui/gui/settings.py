"""The window's settings: one small wrapper over QSettings with every default in one place
(after Picard's ``picard/config.py``). Tests point it at a temporary ini file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from carsr_gui import image_io
from carsr_gui.devices import DEVICES
from carsr_gui.engine import SCALES
from carsr_gui.model_choice import MODEL_SETTINGS
from carsr_gui.tiling import DEFAULT_TILE

ORGANIZATION = "carsr"
APPLICATION = "carsr"
MAX_RECENT = 10
TILES = (256, 512, DEFAULT_TILE)
LAYOUTS = ("panels", "split")
FEATURE_MODES = ("mean", "pca", "channel")
BEFORE_SIDES = ("bicubic", "input")
#: Photos declaring more pixels than this are refused before decoding (decompression bombs).
MAX_MEGAPIXELS = (100, 400, 1600)

#: Every setting and its default; the type of the default is the type read back.
DEFAULTS: dict[str, Any] = {
    "window/geometry": QByteArray(),
    "window/state": QByteArray(),
    "window/splitter": QByteArray(),
    "paths/open_dir": "",
    "paths/save_dir": "",
    "paths/recent": [],
    "process/scale": 2,
    "process/device": "auto",
    "process/tile": DEFAULT_TILE,
    "process/evaluate": False,
    "process/tta": False,
    "process/model": "auto",
    "process/max_megapixels": image_io.DEFAULT_MAX_PIXELS // 1_000_000,
    "save/format": "png",
    "save/quality": 95,
    "view/layout": "panels",
    "view/feature_mode": "mean",
    "view/feature_channel": 0,
    "view/before": "bicubic",
}

#: Values outside these choices (a hand-edited file, an older version) fall back to the default.
CHOICES: dict[str, tuple] = {
    "process/scale": SCALES,
    "process/device": DEVICES,
    "process/tile": TILES,
    "process/model": MODEL_SETTINGS,
    "process/max_megapixels": MAX_MEGAPIXELS,
    "save/format": tuple(image_io.FORMATS),
    "view/layout": LAYOUTS,
    "view/feature_mode": FEATURE_MODES,
    "view/before": BEFORE_SIDES,
}
RANGES: dict[str, tuple[int, int]] = {"save/quality": (1, 100), "view/feature_channel": (0, 4095)}


class Settings:
    """``settings["process/scale"]`` reads a typed, validated value; assignment writes it."""

    def __init__(self, path: Path | None = None) -> None:
        """``path``: an ini file (tests, the headless mode); default: the user's settings."""
        if path is None:
            self._q = QSettings(ORGANIZATION, APPLICATION)
        else:
            self._q = QSettings(str(path), QSettings.Format.IniFormat)
        self._overrides: dict[str, Any] = {}

    def override(self, key: str, value: Any) -> None:
        """``value`` for this run only (a command-line flag): read back, never written. Setting
        the key to another value (the user chose in a menu) ends the override and is saved."""
        if key not in DEFAULTS:
            raise KeyError(key)
        self._overrides[key] = value

    @property
    def location(self) -> str:
        return self._q.fileName()

    def __getitem__(self, key: str) -> Any:
        if key in self._overrides:
            return _copy(self._overrides[key])
        default = DEFAULTS[key]
        raw = self._q.value(key)
        if raw is None:
            return _copy(default)
        try:
            value = _convert(raw, default)
        except (TypeError, ValueError):
            return _copy(default)
        if key in CHOICES and value not in CHOICES[key]:
            return _copy(default)
        if key in RANGES and not RANGES[key][0] <= value <= RANGES[key][1]:
            return _copy(default)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        if key in self._overrides:
            if value == self._overrides[key]:
                return
            del self._overrides[key]
        if isinstance(DEFAULTS[key], list):
            value = [str(v) for v in value]
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()

    def recent(self) -> list[Path]:
        return [Path(p) for p in self["paths/recent"]]

    def add_recent(self, path: Path) -> None:
        entries = [str(path)] + [p for p in self["paths/recent"] if p != str(path)]
        self["paths/recent"] = entries[:MAX_RECENT]

    def remove_recent(self, path: Path) -> None:
        self["paths/recent"] = [p for p in self["paths/recent"] if p != str(path)]


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, QByteArray):
        return QByteArray(value)
    return value


def _convert(raw: Any, default: Any) -> Any:
    """QSettings' ini backend gives strings back for numbers and booleans, and a string for a
    one-item list: bring each back to the type of its default."""
    if isinstance(default, bool):
        if isinstance(raw, str):
            if raw.lower() in ("true", "1"):
                return True
            if raw.lower() in ("false", "0"):
                return False
            raise ValueError(raw)
        return bool(raw)
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, list):
        if isinstance(raw, str):
            return [raw] if raw else []
        return [str(v) for v in raw]
    if isinstance(default, QByteArray):
        if isinstance(raw, QByteArray):
            return raw
        if isinstance(raw, bytes):
            return QByteArray(raw)
        raise TypeError(type(raw))
    return str(raw)
