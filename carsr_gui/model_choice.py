"""Which weights enlarge a photo: the clean ones for lossless input, and for a JPEG the weights
trained for its band of estimated quality, as measured (docs/performance.md, *Quality on JPEG
photos*)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from carsr_gui.image_io import Photo

#: ``--model`` and the window's Settings > Model, with what that menu calls each: ``auto``
#: decides per photo.
MODEL_LABELS = {
    "auto": "Automatic (by Each Photo's JPEG Quality)",
    "clean": "Clean Weights (Lossless Input)",
    "jpeg": "JPEG Weights (Compressed Input)",
    "jpeg-high": "High-Quality JPEG Weights (Lightly Compressed Input)",
}
MODEL_SETTINGS = tuple(MODEL_LABELS)
#: What ``auto`` runs on a JPEG: the weights of the first band whose top quality is at or above
#: the photo's estimated quality. Above the last band a JPEG is treated as clean: its artefacts
#: are too faint for JPEG weights to gain over the clean ones (measured on the car validation
#: photos).
JPEG_BANDS = (("jpeg", 77), ("jpeg-high", 92))


def describe_auto() -> str:
    """What ``--model auto`` does, for help texts and ``carsr info``."""
    bands = ", ".join(f"{name} up to quality {top}" for name, top in JPEG_BANDS)
    return f"by the JPEG quality estimated from the file: {bands}; clean otherwise"


@dataclass(frozen=True)
class Choice:
    """The weights that run on a photo and why, as the queue row and status bar say it."""

    name: str
    reason: str

    @property
    def note(self) -> str:
        return f"{self.name} weights ({self.reason})"


def choose(setting: str, quality: int | None) -> Choice:
    """The weights for a photo of estimated JPEG ``quality`` (None: not a JPEG) under
    ``setting`` (one of :data:`MODEL_SETTINGS`)."""
    described = "not a JPEG" if quality is None else f"JPEG quality ~{quality}"
    if setting != "auto":
        return Choice(setting, f"chosen; {described}")
    for name, top in JPEG_BANDS:
        if quality is not None and quality <= top:
            return Choice(name, described)
    return Choice("clean", described)


class Engines:
    """One engine per weights file that ``model`` can pick, every one loaded and warmed here (no
    load or trace per photo); :meth:`upscale_photo` runs the one chosen for each photo.

    ``weights`` (a file, e.g. from ``--weights``) overrides the choice: it then runs on every
    photo. Other keyword arguments go to each :class:`~carsr_gui.engine.Engine`.
    """

    def __init__(self, model: str = "auto", weights: Path | None = None, **options) -> None:
        from carsr_gui.engine import Engine
        from carsr_gui.resources import WeightsError, bundled_models, bundled_weights

        if model not in MODEL_SETTINGS:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_SETTINGS)}")
        self.setting = model
        self.weights = weights
        self.engines: dict[str, Engine] = {}
        if weights is not None:
            self.setting = "file"
            self.engines["file"] = Engine(weights, **options)
            return
        names = bundled_models() if model == "auto" else [model]
        if model == "auto" and "clean" not in names:
            names.insert(0, "clean")  # its card is missing: say so through bundled_weights
        for name in names:
            path, card = bundled_weights(name)
            engine = Engine(path, **options)
            engine.runner.card = card
            self.engines[name] = engine
        if not self.engines:
            raise WeightsError("no bundled weights found")

    @property
    def default(self):
        """The engine of lossless photos (and of every photo with a fixed choice)."""
        return self.engines.get("clean") or next(iter(self.engines.values()))

    @property
    def description(self) -> str:
        return self.default.description

    @property
    def card(self) -> dict:
        return self.default.card

    def choose(self, quality: int | None) -> Choice:
        if self.weights is not None:
            return Choice("file", f"--weights {Path(self.weights).name}")
        choice = choose(self.setting, quality)
        if choice.name in self.engines:
            return choice
        # auto without these weights installed: the nearest JPEG band that is, else clean
        order = [name for name, _ in JPEG_BANDS]
        wanted = order.index(choice.name)
        bands = [name for name in order if name in self.engines]
        fallback = min(bands, key=lambda name: abs(order.index(name) - wanted), default="clean")
        return Choice(fallback, f"{choice.reason}; no {choice.name} weights installed")

    def upscale(self, rgb, scale: int = 2, progress=None, cancel=None):
        """Enlarge pixels of unknown origin with the clean (default) weights."""
        return self.default.upscale(rgb, scale, progress, cancel)

    def upscale_photo(self, photo: Photo, scale: int = 2, progress=None, cancel=None):
        """Enlarge ``photo`` with the weights chosen for it; its notes say which and why."""
        choice = self.choose(photo.jpeg_quality)
        result = self.engines[choice.name].upscale_photo(photo, scale, progress, cancel)
        result.weights = choice.note
        result.notes.append(choice.note)
        return result
