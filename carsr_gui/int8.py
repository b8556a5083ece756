"""The network in 8-bit integers, through TensorFlow Lite (inside the TensorFlow we ship). No Qt.

The quantization is TensorFlow Lite's dynamic-range kind: every convolution's weights are int8
with one scale per output channel, and each convolution's input is quantized to int8 as it runs,
with a scale from that tile's own range, so no calibration set decides what the photos may hold.
The arithmetic is int8 with int32 sums (XNNPACK's kernels); additions, pooling, the global skip
and the upsampling's interleave stay in float32. A statically calibrated int8 model ran faster
but lost several times more PSNR (docs/performance.md).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

#: The file beside a weights file that holds its int8 model (``carsr quantize`` writes it).
SUFFIX = ".int8.tflite"


def path_for(weights: Path) -> Path:
    name = Path(weights).name.removesuffix(".weights.h5").removesuffix(".h5")
    return Path(weights).with_name(name + SUFFIX)


def threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def convert(keras_model) -> bytes:
    """The int8 TensorFlow Lite model of a float32 carsr network: the folded decoder of
    :func:`carsr_gui.model.inference`, taking a 1 x h x w x 3 float32 image in [0, 1] of any size
    (multiples of 4) and returning the image and the code, both float32."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from carsr_gui.model import inference
    from carsr_gui.tf_setup import tf

    net = inference(keras_model)
    spec = tf.TensorSpec([1, None, None, 3], tf.float32, name="bicubic")
    function = tf.function(lambda x: net(x), autograph=False).get_concrete_function(spec)
    # Frozen: TensorFlow Lite quantizes constants, not the variables Keras keeps its weights in.
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [convert_variables_to_constants_v2(function)]
    )
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its own deprecation notices
        return converter.convert()


class Int8Net:
    """One TensorFlow Lite interpreter over an int8 model, resized when the tile shape changes
    (all tiles of a photo share one shape, so that happens once per photo size)."""

    def __init__(self, model: bytes) -> None:
        from carsr_gui.tf_setup import tf

        with warnings.catch_warnings():
            # tf.lite.Interpreter warns that it moves to the ai-edge-litert package; it is the
            # one TensorFlow ships, and adds nothing to the packaged app.
            warnings.simplefilter("ignore")
            self._interpreter = tf.lite.Interpreter(model_content=model, num_threads=threads())
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        by_channels = {int(o["shape_signature"][-1]): o["index"] for o in outputs}
        self._image = by_channels.pop(3)
        (self._code,) = by_channels.values()
        self.channels = int(next(iter(by_channels)))
        self.shape: tuple[int, int] | None = None

    def prepare(self, height: int, width: int) -> None:
        """Plan the interpreter's memory for ``height`` x ``width`` tiles."""
        if self.shape != (height, width):
            self._interpreter.resize_tensor_input(self._input, [1, height, width, 3], strict=False)
            self._interpreter.allocate_tensors()
            self.shape = (height, width)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image (float32, unclipped) and code of one uint8 tile (1 x h x w x 3)."""
        self.prepare(x.shape[1], x.shape[2])
        self._interpreter.set_tensor(self._input, x.astype(np.float32) * np.float32(1 / 255))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._image), self._interpreter.get_tensor(self._code)


def card_for(weights: Path) -> dict:
    """The model card beside ``weights`` that names it, or an empty dict."""
    import json

    for card in Path(weights).parent.glob("model_card*.json"):
        try:
            data = json.loads(card.read_text())
        except (OSError, ValueError):
            continue
        if data.get("weights") == Path(weights).name:
            return data
    return {}


def load_or_convert(keras_model, weights: Path | None) -> bytes:
    """The committed int8 model of ``weights`` when its card vouches for it (its sha256, made
    from these weights), else one converted now (about half a second)."""
    import hashlib
    import logging

    from carsr_gui.resources import sha256

    if weights is not None and (path := path_for(weights)).is_file():
        record = card_for(weights).get("int8", {})
        model = path.read_bytes()
        digest = hashlib.sha256(model).hexdigest()
        if record.get("sha256") == digest and record.get("weights_sha256") == sha256(weights):
            return model
        logging.getLogger(__name__).warning(
            "%s does not match its model card or its weights: converting the weights again", path
        )
    return convert(keras_model)


def quantize(weights: Path) -> dict:
    """Write the int8 model of ``weights`` beside it and record it in the weights' model card
    (its sha256 and the weights' own), as ``carsr quantize`` does; return that record."""
    import hashlib
    import json

    from carsr_gui import atomic
    from carsr_gui.resources import sha256
    from carsr_gui.runner import weights_layout
    from carsr_gui.tf_setup import tf

    weights = Path(weights)
    variant, width = weights_layout(weights)
    from carsr_gui.model import build_model

    keras_model = build_model(variant, width=width, dtype="float32")
    keras_model.load_weights(weights)
    model = convert(keras_model)
    target = path_for(weights)
    atomic.write_bytes(target, model)
    record = {
        "file": target.name,
        "sha256": hashlib.sha256(model).hexdigest(),
        "weights_sha256": sha256(weights),
        "made by": f"carsr quantize, TensorFlow {tf.__version__}",
        "quantization": "TensorFlow Lite dynamic range: int8 weights, one scale per output "
        "channel; each convolution's input quantized to int8 per tile as it runs; additions, "
        "pooling, the global skip and the upsampling's interleave in float32",
    }
    for card_path in weights.parent.glob("model_card*.json"):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("weights") == weights.name:
            card["int8"] = {**card.get("int8", {}), **record}
            text = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
            atomic.write_text(card_path, text)
    return record
