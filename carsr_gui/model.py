"""The autoencoder: the seed architecture and carsr's variant of it (a global skip)."""

from __future__ import annotations

from typing import Literal

from carsr_gui.tf_setup import keras, tf
from carsr_gui.tiling import GRID

layers = keras.layers

Variant = Literal["carsr", "seed"]
VARIANTS: tuple[Variant, ...] = ("carsr", "seed")

#: Height and width of the input must be multiples of this (two 2x2 max-pools).
MULTIPLE = GRID
#: Name of the encoder's last layer, the 256-channel code shown by the window.
CODE_LAYER = "code"


@keras.saving.register_keras_serializable(package="carsr")
class ActivityL1(keras.regularizers.L1):
    """The seed's L1 activity penalty, summed in float32: under a mixed-precision policy the
    activations are bfloat16/float16, and Keras will not add a half-precision penalty to the
    float32 loss (training the seed variant under mixed_bfloat16 failed with a TypeError)."""

    def __call__(self, x):
        return super().__call__(keras.ops.cast(x, "float32"))


def build_model(
    variant: Variant = "carsr", *, width: int = 64, dtype: str | None = None
) -> keras.Model:
    """Build the autoencoder for RGB input in [0, 1] already enlarged 2x with bicubic.

    ``seed`` is the seed notebook's network: ReLU everywhere and a tiny L1 activity regulariser.
    ``carsr`` predicts the missing detail: a linear last layer added to the input (global skip),
    computed in float32 even under a mixed-precision policy so that bfloat16 costs no accuracy.
    ``width`` scales the channel counts (64/128/256); tests use a small one for speed.
    ``dtype`` is a Keras dtype policy name such as ``"mixed_bfloat16"`` (default: global policy).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    reg = ActivityL1(1e-10) if variant == "seed" else None

    def conv(filters: int, name: str) -> layers.Conv2D:
        return layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            activity_regularizer=reg,
            name=name,
            dtype=dtype,
        )

    w1, w2, w4 = width, 2 * width, 4 * width
    inp = keras.Input((None, None, 3), name="bicubic")
    e1 = conv(w1, "enc1a")(inp)
    e1 = conv(w1, "enc1b")(e1)
    x = layers.MaxPooling2D(2, name="pool1", dtype=dtype)(e1)
    x = layers.Dropout(0.3, name="dropout", dtype=dtype)(x)
    e2 = conv(w2, "enc2a")(x)
    e2 = conv(w2, "enc2b")(e2)
    x = layers.MaxPooling2D(2, name="pool2", dtype=dtype)(e2)
    code = conv(w4, CODE_LAYER)(x)

    x = layers.UpSampling2D(2, name="up1", dtype=dtype)(code)
    x = conv(w2, "dec2a")(x)
    x = conv(w2, "dec2b")(x)
    x = layers.Add(name="skip2", dtype=dtype)([x, e2])
    x = layers.UpSampling2D(2, name="up2", dtype=dtype)(x)
    x = conv(w1, "dec1a")(x)
    x = conv(w1, "dec1b")(x)
    x = layers.Add(name="skip1", dtype=dtype)([x, e1])
    if variant == "seed":
        out = layers.Conv2D(
            3,
            3,
            padding="same",
            activation="relu",
            activity_regularizer=reg,
            name="out",
            dtype=dtype,
        )(x)
    else:
        detail = layers.Conv2D(3, 3, padding="same", name="detail", dtype="float32")(x)
        out = layers.Add(name="out", dtype="float32")([inp, detail])
    return keras.Model(inp, out, name=f"carsr_{variant}")


def with_code_output(model: keras.Model) -> keras.Model:
    """The same network (shared weights) returning ``[image, code]``."""
    return keras.Model(model.inputs, [model.outputs[0], model.get_layer(CODE_LAYER).output])


def inference(model: keras.Model):
    """The network of ``model`` (shared weights) as a function of a batch of bicubic images
    returning ``(image, code)``, rearranged for speed: each 2x nearest-neighbour upsampling and
    the 3x3 convolution after it run as one 2x2 convolution at the lower resolution into the four
    output phases, which :func:`tf.nn.depth_to_space` interleaves. That is 16 of the 36 taps'
    work per output pixel in the decoder's two widest convolutions, a fifth of the whole pass
    (README, *Speed*). Equal to the model up to float rounding (the tests check it)."""
    layer = model.get_layer
    residual = any(lay.name == "detail" for lay in model.layers)  # the carsr variant

    def forward(x):
        e1 = layer("enc1b")(layer("enc1a")(x))
        e2 = layer("enc2b")(layer("enc2a")(layer("pool1")(e1)))
        code = layer(CODE_LAYER)(layer("pool2")(e2))
        d = layer("skip2")([layer("dec2b")(_upsampled_conv(layer("dec2a"), code)), e2])
        d = layer("skip1")([layer("dec1b")(_upsampled_conv(layer("dec1a"), d)), e1])
        if residual:
            return layer("out")([x, layer("detail")(d)]), code
        return layer("out")(d), code

    return forward


#: Output phases (row, column) in :func:`tf.nn.depth_to_space`'s channel order.
_PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def _upsampled_conv(conv: layers.Conv2D, x):
    """``conv`` (3x3, "same" zero padding) over ``x`` enlarged 2x by repeating pixels, computed
    at the resolution of ``x``. Output row ``2i`` sees input rows ``i-1, i, i`` through the
    kernel's rows ``0, 1, 2`` and row ``2i+1`` sees ``i, i, i+1``: two taps each, ``(k0, k1+k2)``
    over rows ``i-1, i`` and ``(k0+k1, k2)`` over ``i, i+1``; the same along columns. One 2x2
    convolution over ``x`` padded by a zero pixel yields all four phases, each at its offset."""

    def fold(kernel, axis):
        k0, k1, k2 = tf.unstack(kernel, axis=axis)
        return tf.stack([k0, k1 + k2], axis), tf.stack([k0 + k1, k2], axis)

    kernel = tf.convert_to_tensor(conv.kernel)
    taps = [cols for rows in fold(kernel, 0) for cols in fold(rows, 1)]
    kernel = tf.cast(tf.concat(taps, axis=-1), x.dtype)
    bias = tf.cast(tf.tile(tf.convert_to_tensor(conv.bias), [len(_PHASES)]), x.dtype)
    y = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), kernel, 1, "VALID")
    y = conv.activation(tf.nn.bias_add(y, bias))
    height, width, filters = tf.shape(x)[1], tf.shape(x)[2], conv.filters
    phases = [
        y[:, a : a + height, b : b + width, i * filters : (i + 1) * filters]
        for i, (a, b) in enumerate(_PHASES)
    ]
    # depth_to_space leaves the channels unknown, and Keras compiles a convolution over an input
    # of unknown channels with XLA, once per shape; a reshape names them (and, unlike
    # ensure_shape, converts to TensorFlow Lite for the int8 path).
    y = tf.nn.depth_to_space(tf.concat(phases, axis=-1), 2)
    return tf.reshape(y, tf.stack([tf.shape(x)[0], 2 * height, 2 * width, filters]))
