"""Running the model: weights, device, precision, the traced graph a tile goes through, and the
move to the CPU when the GPU runs out of memory. No tiling here (that is :mod:`carsr_gui.engine`)
and no Qt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from carsr_gui import devices, tiling
from carsr_gui import precision as precision_choice
from carsr_gui.resources import FIX, WeightsError, bundled_weights

#: Length of a tile's geometry vector (see :func:`geometry`).
GEOMETRY = 7


class ModelRunner:
    """One Keras model on one device in one precision, traced once for tiles of any shape."""

    def __init__(
        self,
        weights: Path | None = None,
        *,
        model=None,
        variant: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        jit: bool = False,
        tta: bool = False,
        retime: bool = False,
    ) -> None:
        """``weights`` defaults to the bundled file (checked against its model card); ``model``
        (an already built Keras model, used by tests) replaces weights, variant and precision.
        ``precision``: ``auto`` takes the measured choice for this device and architecture
        (:mod:`carsr_gui.precision`; ``retime`` measures it again), timing the candidates here,
        while the runner is built, the first time. ``jit``: compile with XLA, per tile shape,
        so the first photo of a size waits for it inside its job. Off by default: it slowed
        bfloat16 down several times on AMX and gained little elsewhere (docs/performance.md).
        ``tta``: the plain pass returns float output, so that the engine can average it with
        the flipped and turned passes."""
        devices.enable_memory_growth()
        self.jit, self.tta = jit, tta
        self.device = devices.resolve_device(device)
        devices.check_precision(precision)
        self.card: dict = {}
        #: The measured choice behind ``auto`` (None for a forced precision).
        self.choice: precision_choice.Choice | None = None
        self.precision = "fp32"
        if model is None:
            weights, self.variant, self.width = self._weights(weights, variant)
            if precision == "auto":
                built: dict[str, ModelRunner] = {}
                self.choice = precision_choice.choose(
                    self.device, self.architecture, self._builder(weights, built), retime=retime
                )
                if (probed := built.get(self.choice.precision)) is not None:
                    choice = self.choice
                    vars(self).update(vars(probed))  # the probe's runner of the winner, as built
                    self.choice = choice
                    return
                precision = self.choice.precision
            if precision == "int8" and self.device != "cpu":
                raise ValueError("int8 runs on the CPU only (--device cpu)")
            self.precision = precision
            model = self._build()
            with self.tf_device():
                _load_weights(model, weights)
        self.weights = weights
        self.keras_model = model
        self._trace()

    @property
    def architecture(self) -> str:
        return precision_choice.architecture(self.variant, self.width)

    def _builder(self, weights: Path, built: dict):
        """Runners of this one's weights, device and TTA in a given precision, for the probe,
        kept in ``built``."""

        def build(precision: str) -> ModelRunner:
            built[precision] = ModelRunner(
                weights,
                variant=self.variant,
                device=self.device,
                precision=precision,
                jit=self.jit,
                tta=self.tta,
            )
            return built[precision]

        return build

    def _weights(self, weights: Path | None, variant: str | None) -> tuple[Path, str, int]:
        if weights is None:
            weights, self.card = bundled_weights()
        guessed_variant, width = weights_layout(Path(weights))
        return Path(weights), variant or self.card.get("variant", guessed_variant), width

    def _build(self):
        from carsr_gui.model import build_model

        with self.tf_device():
            return build_model(
                self.variant, width=self.width, dtype=devices.policy_name(self._float_precision)
            )

    @property
    def _float_precision(self) -> str:
        """The Keras model's precision: int8 converts a float32 one."""
        return "fp32" if self.precision == "int8" else self.precision

    def tf_device(self):
        from carsr_gui.tf_setup import tf

        return tf.device("/GPU:0" if self.device == "gpu" else "/CPU:0")

    def _trace(self) -> None:
        """Build the graph a tile goes through: uint8 in; the model (rearranged for speed,
        :func:`~carsr_gui.model.inference`); uint8 out (float under TTA,
        whose passes are averaged first); and the code pooled to the feature map's grid with its
        per-channel statistics, so that only small arrays leave the graph. Then trace it on a
        tiny input: tracing happens where the runner is built, and a job never traces. (Tracing
        it for the first time inside a job on a Qt worker thread crashed TensorFlow's graph
        builder in the window's tests.)"""
        from carsr_gui.model import CODE_LAYER, inference
        from carsr_gui.tf_setup import tf

        self.channels = self.keras_model.get_layer(CODE_LAYER).filters
        self._int8 = None
        if self.precision == "int8":
            self.jit = False  # XLA compiles TensorFlow graphs; TensorFlow Lite runs this one
            self._trace_int8()
            return
        net = inference(self.keras_model)
        tta = self.tta

        def image(x):
            y, code = net(tf.cast(x, tf.float32) / 255.0)
            y = tf.clip_by_value(tf.cast(y, tf.float32), 0.0, 1.0)
            return (y if tta else tf.cast(tf.round(y * 255.0), tf.uint8)), code

        def with_features(x, geometry):
            y, code = image(x)
            return (y, *_pool_in_graph(tf, code[0], geometry))

        # One trace serves every tile shape: the signatures leave height and width open.
        # Without XLA, TensorFlow runs the traced graph at any shape without tracing again.
        options = {"autograph": False, "jit_compile": self.jit or None}
        tiles = tf.TensorSpec([1, None, None, 3], tf.uint8)
        self._run = tf.function(
            with_features, input_signature=[tiles, tf.TensorSpec([GEOMETRY], tf.int32)], **options
        )
        self._run_image = tf.function(lambda x: image(x)[0], input_signature=[tiles], **options)
        x = np.zeros((1, 8, 8, 3), np.uint8)
        self.forward(x, geometry(tiling.Tile(0, 0, 8, 8, 0, 8, 0, 8), 1))
        if tta:
            self.forward(x)

    def _trace_int8(self) -> None:
        """The int8 network: the weights' committed int8 file when it matches them, else one
        converted now. Nothing to trace: it pools the code in NumPy (:func:`_pool_in_numpy`)."""
        from carsr_gui import int8

        self._int8 = int8.Int8Net(int8.load_or_convert(self.keras_model, self.weights))

    @property
    def description(self) -> str:
        return devices.describe(self.device, self.precision)

    def forward(self, x: np.ndarray, tile_geometry: np.ndarray | None = None) -> tuple:
        """The model over one uint8 tile (1 x h x w x 3): the output (uint8; float in [0, 1]
        under TTA), then, given the tile's :func:`geometry`, the pooled code, its sums of
        squares, minimum and maximum."""
        if self._int8 is not None:
            y, code = self._int8(x)
            y = np.clip(y, 0.0, 1.0)
            y = y if self.tta else np.rint(y * 255.0).astype(np.uint8)
            return (y,) if tile_geometry is None else (y, *_pool_in_numpy(code[0], tile_geometry))
        with self.tf_device():
            if tile_geometry is None:
                return (self._run_image(x).numpy(),)
            return tuple(t.numpy() for t in self._run(x, tile_geometry))

    def move_to_cpu(self) -> None:
        """Rebuild on the CPU, in the CPU's cached choice (the GPU's bfloat16 or float16 is many
        times slower on most CPUs; float32 where the CPU was never measured: this runs inside a
        job, where nothing is timed), with the same weights, and trace again."""
        self.device = "cpu"
        old = self.keras_model
        if hasattr(self, "variant"):
            choice = precision_choice.cached("cpu", self.architecture)
            self.precision = choice.precision if choice else "fp32"
            self.keras_model = self._build()
        else:  # a model given by a test: a float32 clone
            from carsr_gui.tf_setup import keras

            with self.tf_device():
                self.keras_model = keras.models.clone_model(old)
        self.keras_model.set_weights(old.get_weights())
        self._trace()


def geometry(t: tiling.Tile, stride: int) -> np.ndarray:
    """Where the core of tile ``t`` lies in its code (top, left, height, width: the code is at
    1/4 of the tile), how far its first row and column lie past the start of a cell of the
    feature map's ``stride`` grid, and that stride."""
    top, left = (t.y0 - t.y) // tiling.GRID, (t.x0 - t.x) // tiling.GRID
    height, width = -(-(t.y1 - t.y0) // tiling.GRID), -(-(t.x1 - t.x0) // tiling.GRID)
    lead_y, lead_x = t.y0 // tiling.GRID % stride, t.x0 // tiling.GRID % stride
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
    rows, cols = (lead_y + height + pad_y) // stride, (lead_x + width + pad_x) // stride
    # Rows first, then columns: two reductions over one axis each ran 3x faster on the CPU
    # than one reduction over both axes of a 5-d view.
    sums = tf.reduce_sum(tf.reshape(padded, tf.stack([rows, stride, -1])), axis=1)
    sums = tf.reduce_sum(tf.reshape(sums, tf.stack([rows, cols, stride, -1])), axis=2)
    return sums, squares, low, high


def _pool_in_numpy(code: np.ndarray, geometry: np.ndarray) -> tuple:
    """:func:`_pool_in_graph` for a code that is already a NumPy array (the int8 path)."""
    from carsr_gui.feature_map import pool

    top, left, height, width, lead_y, lead_x, stride = (int(v) for v in geometry)
    core = code[top : top + height, left : left + width]
    squares = np.square(core).sum((0, 1), dtype=np.float32)
    return pool(core, lead_y, lead_x, stride), squares, core.min((0, 1)), core.max((0, 1))


def _load_weights(model, weights: Path) -> None:
    try:
        model.load_weights(weights)
    except FileNotFoundError:
        raise WeightsError(f"{weights}: model weights missing") from None
    except Exception as exc:  # h5py and Keras raise many types for a bad file
        raise WeightsError(
            f"{weights}: cannot load model weights ({type(exc).__name__}: {exc}); "
            "the file is damaged or is not a carsr weights file"
        ) from None


def weights_layout(path: Path) -> tuple[str, int]:
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
