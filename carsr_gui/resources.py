"""Where the bundled weights, model card and resources live: source checkout, wheel or frozen app."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import sys
from pathlib import Path

CARD_NAME = "model_card.json"
#: The bundled weights by name, each named by its model card: ``clean`` for lossless input (the
#: model's own training degradation), ``jpeg`` for photos that were saved as JPEGs,
#: ``jpeg-high`` for JPEGs of high quality (:data:`carsr_gui.model_choice.JPEG_BANDS`).
MODEL_CARDS = {
    "clean": CARD_NAME,
    "jpeg": "model_card_jpeg.json",
    "jpeg-high": "model_card_jpeg_high.json",
}


def data_dir(name: str) -> Path:
    """The folder ``model_weights`` or ``resources``, wherever this copy of carsr was installed."""
    if getattr(sys, "frozen", False):  # PyInstaller puts data beside the bundled interpreter
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / name
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    return Path(str(importlib.resources.files("carsr_gui").joinpath(name)))


def resource(name: str) -> Path:
    return data_dir("resources") / name


class WeightsError(Exception):
    """The model weights are missing or damaged; the message names the file and what to do."""


FIX = "reinstall carsr, or point --weights at a file that `carsr train` wrote"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_card(folder: Path | None = None, name: str = "clean") -> dict:
    """The model card of the bundled weights ``name``: what they are, how they were trained,
    what they reach."""
    path = (folder or data_dir("model_weights")) / MODEL_CARDS[name]
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{path}: model card missing; {FIX}") from None
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: model card unreadable ({exc}); {FIX}") from None


def bundled_models(folder: Path | None = None) -> list[str]:
    """The names of the bundled weights present (those whose model card is there)."""
    folder = folder or data_dir("model_weights")
    return [name for name, card in MODEL_CARDS.items() if (folder / card).is_file()]


def bundled_weights(name: str = "clean") -> tuple[Path, dict]:
    """The bundled weights file ``name``, checked against the sha256 in its card, and the card."""
    folder = data_dir("model_weights")
    card = load_card(folder, name)
    path = folder / card["weights"]
    if not path.is_file():
        raise WeightsError(f"{path}: model weights missing; {FIX}")
    digest = sha256(path)
    if digest != card["sha256"]:
        raise WeightsError(
            f"{path}: model weights damaged (sha256 {digest[:12]}... does not match the model "
            f"card's {card['sha256'][:12]}...); {FIX}"
        )
    return path, card
