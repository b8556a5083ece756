"""The super-resolution engine: bicubic enlargement, tiled inference, stitching. No Qt here.

One :class:`Engine` owns one model; build it once and reuse it for every image (it is not
thread-safe: the window gives it to one worker thread).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carsr_gui import devices, resample, tiling
from carsr_gui.feature_map import FeatureMap
from carsr_gui.image_io import Photo
from carsr_gui.resources import FIX, WeightsError, bundled_weights

log = logging.getLogger(__name__)

#: ``progress(done, total)``, in model passes over a tile (one per tile, eight with TTA), called
#: from the thread that runs the engine.
ProgressCallback = Callable[[int, int], None]
SCALES = (2, 4)
DEFAULT_TILE = 1088
DEFAULT_MARGIN = 24
XLA_MIN_TILES = 4
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
    """Runs the autoencoder over images of any size in tiles of one shape."""

    def __init__(
        self,
        weights: Path | None = None,
        *,
        model=None,
        variant: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        tile: int = DEFAULT_TILE,
        margin: int = DEFAULT_MARGIN,
        batch: int = 1,
        jit: bool = True,
        tta: bool = False,
    ) -> None:
        """``weights`` defaults to the bundled file (checked against its model card); ``model``
        (an already built Keras model, used by tests) replaces weights, variant and precision.
        ``tta``: average the model over the eight flips and quarter turns of each tile (eight
        times the work, about 0.1 dB sharper on car photos)."""
        self.tile, self.margin, self.batch, self.jit = tile, margin, batch, jit
        self.passes = len(TTA_TRANSFORMS) if tta else 1
        tiling.plan(tile, tile, tile, margin)  # validate tile and margin now, not mid-job
        devices.enable_memory_growth()
        self.device = devices.resolve_device(device)
        self.precision = (
            "fp32" if model is not None else devices.resolve_precision(precision, self.device)
        )
        self.card: dict = {}
        if model is None:
            model = self._load(weights, variant)
        self._keras_model = model
        self._build_function()
        self.warm_up()

    def warm_up(self) -> None:
        """Trace the model now, on a tiny input: the first image's time is then the model's own,
        and tracing happens where the engine is built. (Tracing it for the first time inside a
        job on a Qt worker thread crashed TensorFlow's graph builder in the window's tests.)"""
        for xla in (False, True):
            self._forward(np.zeros((1, 8, 8, 3), np.float32), xla)

    def _load(self, weights: Path | None, variant: str | None):
        from carsr_gui.model import build_model

        if weights is None:
            weights, self.card = bundled_weights()
        guessed_variant, width = _weights_layout(Path(weights))
        variant = variant or self.card.get("variant", guessed_variant)
        with self._tf_device():
            model = build_model(variant, width=width, dtype=devices.policy_name(self.precision))
            try:
                model.load_weights(weights)
            except FileNotFoundError:
                raise WeightsError(f"{weights}: model weights missing") from None
            except Exception as exc:  # h5py and Keras raise many types for a bad file
                raise WeightsError(
                    f"{weights}: cannot load model weights ({type(exc).__name__}: {exc}); "
                    "the file is damaged or is not a carsr weights file"
                ) from None
        return model

    def _tf_device(self):
        from carsr_gui.tf_setup import tf

        return tf.device("/GPU:0" if self.device == "gpu" else "/CPU:0")

    def _build_function(self) -> None:
        from carsr_gui.model import with_code_output
        from carsr_gui.tf_setup import tf

        net = with_code_output(self._keras_model)

        def run(x):
            y, code = net(x, training=False)
            return tf.clip_by_value(tf.cast(y, tf.float32), 0.0, 1.0), tf.cast(code, tf.float32)

        # One trace serves every window shape: the signature leaves batch, height and width open.
        # Both functions are traced by warm_up(), never during a job: tracing a graph on the
        # window's worker thread while a job runs crashed TensorFlow (segmentation fault in
        # graph building). XLA then compiles per concrete shape in C++, with no Python tracing.
        signature = [tf.TensorSpec([None, None, None, 3], tf.float32)]
        self._run = tf.function(run, input_signature=signature, autograph=False)
        # XLA fuses the element-wise work between the convolutions (measured: 0.19 vs 0.15 MP/s
        # for 1024-pixel tiles on a 2-core AVX2 CPU).
        self._run_xla = (
            tf.function(run, input_signature=signature, autograph=False, jit_compile=True)
            if self.jit
            else self._run
        )

    @property
    def description(self) -> str:
        described = devices.describe(self.device, self.precision)
        return described + (f", {self.passes} passes (TTA)" if self.passes > 1 else "")

    # -- inference ---------------------------------------------------------------------------

    def _forward(self, x: np.ndarray, xla: bool) -> tuple[np.ndarray, np.ndarray]:
        with self._tf_device():
            y, code = (self._run_xla if xla else self._run)(x)
        return y.numpy(), code.numpy()

    def _infer(
        self,
        batch: np.ndarray,
        xla: bool = False,
        step: Callable[[int], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """uint8 output and float32 code of a batch of uint8 tiles. With TTA the output is the
        mean of the passes over each flip and turn of the tiles, each undone on its result (the
        flips and turns keep the 4-pixel grid, so tiles still stitch without seams); the code
        is the plain pass's."""
        x = batch.astype(np.float32) / np.float32(255.0)
        total, code = 0.0, None
        for turns, mirrored in TTA_TRANSFORMS[: self.passes]:
            if cancel is not None:
                cancel.raise_if_cancelled()
            t = np.rot90(x, turns, axes=(1, 2))
            t = t[:, :, ::-1] if mirrored else t
            y, c = self._forward(np.ascontiguousarray(t), xla)
            code = c if code is None else code  # the plain pass comes first
            total = total + np.rot90(y[:, :, ::-1] if mirrored else y, -turns, axes=(1, 2))
            if step is not None:
                step(len(batch))
        return np.rint(total * (255.0 / self.passes)).astype(np.uint8), code

    def whole(self, bicubic: np.ndarray) -> np.ndarray:
        """One pass over the whole (mirror-padded) image: the reference tiling must match."""
        t = tiling.whole_window(bicubic.shape[0], bicubic.shape[1], self.margin)
        y, _ = self._infer(tiling.extract(bicubic, t.y, t.x, t.h, t.w)[None])
        return np.ascontiguousarray(tiling.core_of(y[0], t))

    def _pass(
        self,
        bicubic: np.ndarray,
        tile: int,
        step: Callable[[int], None],
        cancel: CancelToken | None,
    ) -> tuple[np.ndarray, FeatureMap]:
        h, w = bicubic.shape[:2]
        out = np.empty_like(bicubic)
        features = None
        tiles = tiling.plan(h, w, tile, self.margin)
        # XLA compiles once per window shape (seconds): worth it for images of several tiles.
        xla = len(tiles) >= XLA_MIN_TILES
        for group in tiling.batches(tiles, self.batch):
            x = np.stack([tiling.extract(bicubic, t.y, t.x, t.h, t.w) for t in group])
            y, code = self._infer(x, xla, step, cancel)
            if features is None:
                features = FeatureMap(-(-h // 4), -(-w // 4), code.shape[-1])
            for t, yi, ci in zip(group, y, code, strict=True):
                out[t.y0 : t.y1, t.x0 : t.x1] = tiling.core_of(yi, t)
                features.add(tiling.core_of(ci, t, 4), t.y0 // 4, t.x0 // 4)
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
        smaller = tile // 2 // tiling.ALIGN * tiling.ALIGN
        if smaller > 2 * self.margin + 32:
            return (
                smaller,
                f"out of memory on {self.device.upper()} at tile {tile}: retrying with tile {smaller}",
            )
        if self.device == "gpu":
            from carsr_gui.tf_setup import keras

            self.device = "cpu"
            with self._tf_device():
                clone = keras.models.clone_model(self._keras_model)
                clone.set_weights(self._keras_model.get_weights())
            self._keras_model = clone
            self._build_function()
            self.warm_up()
            return self.tile, "out of GPU memory even at small tiles: continuing on the CPU"
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


def _weights_layout(path: Path) -> tuple[str, int]:
    """Variant and width of a Keras weights file: the carsr variant has a third Add (its global
    skip); the first convolution's kernel is 3x3x3xwidth."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            variant = "carsr" if "layers/add_2" in f else "seed"
            return variant, int(f["layers/conv2d/vars/0"].shape[-1])
    except FileNotFoundError:
        raise WeightsError(f"{path}: model weights missing") from None
    except (OSError, KeyError) as exc:
        raise WeightsError(f"{path}: not a carsr weights file or damaged ({exc}); {FIX}") from None


def _is_oom(exc: Exception) -> bool:
    from carsr_gui.tf_setup import tf

    return isinstance(exc, tf.errors.ResourceExhaustedError)
