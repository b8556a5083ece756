"""The super-resolution engine: bicubic enlargement, tiled inference, stitching. No Qt here.

One :class:`Engine` owns one :class:`~carsr_gui.runner.ModelRunner`; build it once and reuse it
for every image (it is not thread-safe: the window gives it to one worker thread).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carsr_gui import resample, tiling
from carsr_gui.feature_map import FeatureMap
from carsr_gui.image_io import Photo
from carsr_gui.runner import ModelRunner, geometry
from carsr_gui.tiling import DEFAULT_MARGIN, DEFAULT_TILE, GRID

log = logging.getLogger(__name__)

#: ``progress(done, total)``, in model passes over a tile (one per tile, eight with TTA), called
#: from the thread that runs the engine.
ProgressCallback = Callable[[int, int], None]
#: The enlargements offered everywhere: 2x is one pass, 4x two.
SCALES = (2, 4)
#: Test-time augmentation: the eight flips and quarter turns of a tile, as (turns, mirrored).
TTA_TRANSFORMS = tuple((turns, mirrored) for turns in range(4) for mirrored in (False, True))


class Cancelled(Exception):
    """The job was cancelled; nothing was written."""


class CancelToken:
    """Set from any thread; the engine checks it between tiles."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled


@dataclass
class Result:
    """An enlarged photo and what the window shows beside it."""

    output: np.ndarray
    bicubic: np.ndarray
    features: FeatureMap
    device: str
    seconds: float
    alpha: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    #: Which weights ran and why ("jpeg weights (JPEG quality ~75)"), also the last note.
    weights: str = ""


class Engine:
    """The tiled pipeline: bicubic enlargement, tiles of one shape through a
    :class:`~carsr_gui.runner.ModelRunner`, TTA, stitching and the feature map."""

    def __init__(
        self,
        weights: Path | None = None,
        *,
        tile: int = DEFAULT_TILE,
        margin: int = DEFAULT_MARGIN,
        tta: bool = False,
        runner: ModelRunner | None = None,
        **options,
    ) -> None:
        """``weights`` and ``options`` (model, variant, device, precision, jit) make the
        :class:`~carsr_gui.runner.ModelRunner` unless one is given (the bench runs one runner
        through tiles of two sizes). ``tta``: average the model over the eight flips and
        quarter turns of each tile (eight times the work, about 0.1 dB sharper on car
        photos)."""
        tiling.check(tile, margin)  # now, not mid-job
        self.tile, self.margin = tile, margin
        self.passes = len(TTA_TRANSFORMS) if tta else 1
        self.runner = runner or ModelRunner(weights, tta=tta, **options)
        if self.runner.tta != tta:
            raise ValueError("the runner and the engine disagree on TTA")

    @property
    def card(self) -> dict:
        return self.runner.card

    @property
    def description(self) -> str:
        described = self.runner.description
        return described + (f", {self.passes} passes (TTA)" if self.passes > 1 else "")

    # -- inference ---------------------------------------------------------------------------

    def _infer(
        self,
        x: np.ndarray,
        where: np.ndarray,
        step: Callable[[int], None],
        cancel: CancelToken | None,
    ) -> tuple:
        """uint8 output of one uint8 tile and its pooled code (see :meth:`ModelRunner.forward`). With TTA
        the output is the mean of the passes over each flip and turn of the tile, each undone
        on its result (the flips and turns keep the 4-pixel grid, so tiles still stitch
        without seams); the code is the plain pass's."""
        total, features = 0.0, ()
        for turns, mirrored in TTA_TRANSFORMS[: self.passes]:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if turns == 0 and not mirrored:  # the plain pass comes first
                y, *features = self.runner.forward(x, where)
            else:
                t = np.rot90(x, turns, axes=(1, 2))
                (y,) = self.runner.forward(np.ascontiguousarray(t[:, :, ::-1] if mirrored else t))
                y = np.rot90(y[:, :, ::-1] if mirrored else y, -turns, axes=(1, 2))
            total = total + y if self.passes > 1 else y
            step(1)
        if self.passes > 1:
            total = np.rint(total * (255.0 / self.passes)).astype(np.uint8)
        return total, *features

    def _pass(
        self,
        bicubic: np.ndarray,
        tile: int,
        step: Callable[[int], None],
        cancel: CancelToken | None,
    ) -> tuple[np.ndarray, FeatureMap]:
        h, w = bicubic.shape[:2]
        out = np.empty_like(bicubic)
        features = FeatureMap(-(-h // GRID), -(-w // GRID), self.runner.channels)
        for t in tiling.plan(h, w, tile, self.margin):
            x = tiling.extract(bicubic, t.y, t.x, t.h, t.w)[None]
            y, sums, squares, low, high = self._infer(x, geometry(t, features.stride), step, cancel)
            out[t.y0 : t.y1, t.x0 : t.x1] = tiling.core_of(y[0], t)
            core = (-(-(t.y1 - t.y0) // GRID), -(-(t.x1 - t.x0) // GRID))
            features.add_pooled(sums, t.y0 // GRID, t.x0 // GRID, core, squares, low, high)
        return out, features

    def upscale(
        self,
        rgb: np.ndarray,
        scale: int = 2,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Result:
        """Enlarge an HxWx3 uint8 image ``scale`` times (2: one pass, 4: two passes)."""
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, not {scale}")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 image, got {rgb.shape} {rgb.dtype}")
        start = time.perf_counter()
        notes: list[str] = []
        tile = self.tile
        while True:
            try:
                out, features, bicubic = self._scale(rgb, scale, tile, progress, cancel)
                break
            except Exception as exc:
                if not _is_oom(exc):
                    raise
                tile, reason = self._recover_from_oom(tile)
                notes.append(reason)
                log.warning(reason)
        return Result(
            out, bicubic, features, self.description, time.perf_counter() - start, notes=notes
        )

    def _scale(
        self, rgb, scale, tile, progress, cancel
    ) -> tuple[np.ndarray, FeatureMap, np.ndarray]:
        """The passes, and the bicubic enlargement of ``rgb`` by ``scale`` for comparison (at 2x
        that is the first pass's input, kept rather than computed twice: a large photo's peak
        memory is set here)."""
        h, w = rgb.shape[:2]
        sizes = [(2 * h, 2 * w)] + ([(4 * h, 4 * w)] if scale == 4 else [])
        total = self.passes * sum(len(tiling.plan(a, b, tile, self.margin)) for a, b in sizes)
        done = 0

        def step(tiles: int) -> None:
            nonlocal done
            done += tiles
            if progress is not None:
                progress(done, total)

        if progress is not None:
            progress(0, total)
        image = rgb
        for i, _ in enumerate(sizes):
            model_input = resample.enlarge(image)
            if i == 0:
                bicubic = model_input if scale == 2 else resample.enlarge(rgb, scale)
            image, features = self._pass(model_input, tile, step, cancel)
            del model_input
        return image, features, bicubic

    def _recover_from_oom(self, tile: int) -> tuple[int, str]:
        """Halve the tile after an out-of-memory error; below the smallest useful tile, use the CPU."""
        smaller = tile // 2 // GRID * GRID
        if smaller >= tiling.smallest_tile(self.margin):
            device = self.runner.device.upper()
            return (
                smaller,
                f"out of memory on {device} at tile {tile}: retrying with tile {smaller}",
            )
        if self.runner.device == "gpu":
            self.runner.move_to_cpu()
            return self.tile, (
                f"out of GPU memory even at small tiles: continuing on the {self.runner.description}"
            )
        raise MemoryError(f"out of memory even with tile {tile}")

    def upscale_photo(
        self,
        photo: Photo,
        scale: int = 2,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Result:
        """:meth:`upscale` for a loaded photo: its alpha channel is enlarged with bicubic."""
        result = self.upscale(photo.rgb, scale, progress, cancel)
        if photo.alpha is not None:
            result.alpha = resample.enlarge(photo.alpha, scale)
        result.notes[:0] = photo.notes
        return result


def _is_oom(exc: Exception) -> bool:
    from carsr_gui.tf_setup import tf

    return isinstance(exc, tf.errors.ResourceExhaustedError)
