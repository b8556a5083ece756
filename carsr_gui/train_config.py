"""What a training run is told: the one place that holds each training option's default, read by
``carsr train``'s options as well. Imports neither TensorFlow nor Qt, so that the command line
starts without them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carsr_gui.model import Variant

LOSSES = {"l1": "mae", "mse": "mse"}
DEGRADATIONS = ("clean", "jpeg")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
#: Seconds a worker waits for the others to join at start, and in each training step's
#: exchange, before giving up (the exchanges after decoding and validating photos, work of
#: unequal length, wait for the slowest; a dead worker is noticed by the heartbeats).
DEFAULT_TIMEOUT = 60.0


@dataclass
class TrainConfig:
    data: Path
    val: Path | None = None
    out: Path = Path("runs/carsr")
    variant: Variant = "carsr"
    width: int = 64
    steps: int = 20_000
    batch: int = 16
    patch: int = 64
    lr: float = 1e-3
    # None: L1 for a new run, the checkpoint's own loss on --resume.
    loss: str | None = None
    # The seed's Dropout(0.3) after the first pool: noise in the features of a regression net
    # slows fitting and costs PSNR, and inference never uses it, so training turns it off.
    dropout: float = 0.0
    # "jpeg": most patches' low-res is saved as a JPEG of a random quality before enlarging.
    degradation: str = "clean"
    jpeg_quality: tuple[int, int] = (30, 95)
    jpeg_fraction: float = 0.85
    steps_per_epoch: int = 250
    val_images: int = 50
    seed: int = 0
    precision: str = "auto"
    strategy: str = "auto"
    timeout: float = DEFAULT_TIMEOUT
    resume: bool = False
    # A new run that starts from these weights (e.g. the bundled ones) with a fresh optimizer.
    init: Path | None = None
