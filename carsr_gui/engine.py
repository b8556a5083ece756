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
from carsr_gui.tiling import DEFAULT_MARGIN, DEFAULT_TILE

log = logging.getLogger(__name__)

#: ``progress(done, total)``, in model passes over a tile (one per tile, eight with TTA), called
#: from the thread that runs the engine.
ProgressCallback = Callable[[int, int], None]
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
        jit: bool = False,
        tta: bool = False,
    ) -> None:
        """``weights`` defaults to the bundled file (checked against its model card); ``model``
        (an already built Keras model, used by tests) replaces weights, variant and precision.
        ``jit``: compile the model with XLA, per tile shape, so the first photo of a size waits
        for it inside its job. Off by default: it slowed bfloat16 down several times on AMX and
        gained little elsewhere (README, *Speed*).
        ``tta``: average the model over the eight flips and quarter turns of each tile (eight
        times the work, about 0.1 dB sharper on car photos)."""
        tiling.check(tile, margin)  # now, not mid-job
        self.tile, self.margin, self.jit = tile, margin, jit
        self.passes = len(TTA_TRANSFORMS) if tta else 1
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
        """Trace the model now, on a tiny input: tracing happens where the engine is built, and
        a job never traces. (Tracing it for the first time inside a job on a Qt worker thread
        crashed TensorFlow's graph builder in the window's tests.)"""
        x = np.zeros((1, 8, 8, 3), np.uint8)
        self._forward(x, _geometry(tiling.Tile(0, 0, 8, 8, 0, 8, 0, 8), 1))
        if self.passes > 1:
            self._forward(x)

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
        """The graph a tile goes through: uint8 in; the model; uint8 out (float with TTA, whose
        passes are averaged first); and the code pooled to the feature map's grid with its
        per-channel statistics, so that only small arrays leave the graph."""
        from carsr_gui.model import with_code_output
        from carsr_gui.tf_setup import tf

        net = with_code_output(self._keras_model)
        self.channels = int(net.outputs[1].shape[-1])
        tta = self.passes > 1

        def image(x):
            y, code = net(tf.cast(x, tf.float32) / 255.0, training=False)
            y = tf.clip_by_value(tf.cast(y, tf.float32), 0.0, 1.0)
            return (y if tta else tf.cast(tf.round(y * 255.0), tf.uint8)), code

        def with_features(x, geometry):
            y, code = image(x)
            return (y, *_pool_in_graph(tf, code[0], geometry))

        # One trace serves every tile shape: the signatures leave height and width open, and
        # warm_up() traces both before any job. Without XLA, TensorFlow runs the traced graph
        # at any shape without tracing again.
        jit = {"autograph": False, "jit_compile": self.jit or None}
        tiles = tf.TensorSpec([1, None, None, 3], tf.uint8)
        self._run = tf.function(
            with_features,
            input_signature=[tiles, tf.TensorSpec([GEOMETRY], tf.int32)],
            **jit,
        )
        self._run_image = tf.function(lambda x: image(x)[0], input_signature=[tiles], **jit)

    @property
    def description(self) -> str:
        described = devices.describe(self.device, self.precision)
        return described + (f", {self.passes} passes (TTA)" if self.passes > 1 else "")

    # -- inference ---------------------------------------------------------------------------

    def _forward(self, x: np.ndarray, geometry: np.ndarray | None = None) -> tuple:
        """The model over one uint8 tile (1 x h x w x 3): the output, then, given the tile's
        :func:`_geometry`, the pooled code, its sums of squares, minimum and maximum."""
        with self._tf_device():
            if geometry is None:
                return (self._run_image(x).numpy(),)
            return tuple(t.numpy() for t in self._run(x, geometry))

    def _infer(
        self,
        x: np.ndarray,
        geometry: np.ndarray,
        step: Callable[[int], None],
        cancel: CancelToken | None,
    ) -> tuple:
        """uint8 output of one uint8 tile and its pooled code (see :meth:`_forward`). With TTA
        the output is the mean of the passes over each flip and turn of the tile, each undone
        on its result (the flips and turns keep the 4-pixel grid, so tiles still stitch
        without seams); the code is the plain pass's."""
        total, features = 0.0, ()
        for turns, mirrored in TTA_TRANSFORMS[: self.passes]:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if turns == 0 and not mirrored:  # the plain pass comes first
                y, *features = self._forward(x, geometry)
            else:
                t = np.rot90(x, turns, axes=(1, 2))
                (y,) = self._forward(np.ascontiguousarray(t[:, :, ::-1] if mirrored else t))
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
        features = FeatureMap(-(-h // 4), -(-w // 4), self.channels)
        for t in tiling.plan(h, w, tile, self.margin):
            x = tiling.extract(bicubic, t.y, t.x, t.h, t.w)[None]
            y, sums, squares, low, high = self._infer(
                x, _geometry(t, features.stride), step, cancel
            )
            out[t.y0 : t.y1, t.x0 : t.x1] = tiling.core_of(y[0], t)
            core = (-(-(t.y1 - t.y0) // 4), -(-(t.x1 - t.x0) // 4))
            features.add_pooled(sums, t.y0 // 4, t.x0 // 4, core, squares, low, high)
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
        if smaller >= tiling.smallest_tile(self.margin):
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


#: Length of a tile's geometry vector (see :func:`_geometry`).
GEOMETRY = 7


def _geometry(t: tiling.Tile, stride: int) -> np.ndarray:
    """Where the core of tile ``t`` lies in its code (top, left, height, width: the code is at
    1/4 of the tile), how far its first row and column lie past the start of a cell of the
    feature map's ``stride`` grid, and that stride."""
    top, left = (t.y0 - t.y) // 4, (t.x0 - t.x) // 4
    height, width = -(-(t.y1 - t.y0) // 4), -(-(t.x1 - t.x0) // 4)
    lead_y, lead_x = t.y0 // 4 % stride, t.x0 // 4 % stride
    return np.array([top, left, height, width, lead_y, lead_x, stride], np.int32)


def _pool_in_graph(tf, code, geometry) -> tuple:
    """:func:`carsr_gui.feature_map.pool` of a tile's core code, and its per-channel sums of
    squares, minimum and maximum, as TensorFlow ops (float32 sums; min and max are exact in any
    precision)."""
    top, left, height, width, lead_y, lead_x, stride = tf.unstack(geometry)
    core = code[top : top + height, left : left + width]
    low = tf.cast(tf.reduce_min(core, axis=(0, 1)), tf.float32)
    high = tf.cast(tf.reduce_max(core, axis=(0, 1)), tf.float32)
    core = tf.cast(core, tf.float32)
    squares = tf.reduce_sum(tf.square(core), axis=(0, 1))
    pad_y, pad_x = -(lead_y + height) % stride, -(lead_x + width) % stride
    padded = tf.pad(core, [[lead_y, pad_y], [lead_x, pad_x], [0, 0]])
    cells = tf.stack(
        [
            (lead_y + height + pad_y) // stride,
            stride,
            (lead_x + width + pad_x) // stride,
            stride,
            -1,
        ]
    )
    sums = tf.reduce_sum(tf.reshape(padded, cells), axis=(1, 3))
    return sums, squares, low, high


def _is_oom(exc: Exception) -> bool:
    from carsr_gui.tf_setup import tf

    return isinstance(exc, tf.errors.ResourceExhaustedError)
