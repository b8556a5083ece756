import numpy as np
import pytest

from carsr_gui.model import CODE_LAYER, build_model, inference, with_code_output


def conv_layers(model):
    return [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]


@pytest.mark.parametrize("variant", ["seed", "carsr"])
def test_seed_architecture_shapes(variant):
    model = build_model(variant)
    out, code = with_code_output(model).predict(np.zeros((1, 256, 256, 3), np.float32), verbose=0)
    assert out.shape == (1, 256, 256, 3)
    assert code.shape == (1, 64, 64, 256)
    convs = conv_layers(model)
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 128, 128, 64, 64, 3]
    assert all(c.kernel_size == (3, 3) and c.padding == "same" for c in convs)
    hidden = [c.activation.__name__ for c in convs[:-1]]
    assert hidden == ["relu"] * 9
    last = convs[-1].activation.__name__
    assert last == ("relu" if variant == "seed" else "linear")
    assert model.get_layer("dropout").rate == 0.3
    assert model.get_layer(CODE_LAYER).filters == 256


def test_seed_variant_has_activity_regulariser_and_no_global_skip():
    seed, carsr = build_model("seed", width=4), build_model("carsr", width=4)
    assert all(c.activity_regularizer is not None for c in conv_layers(seed))
    names = {layer.name for layer in carsr.layers}
    assert "detail" in names and "detail" not in {layer.name for layer in seed.layers}


def test_carsr_variant_adds_its_detail_to_the_input_and_runs_any_multiple_of_four():
    model = build_model("carsr", width=4)
    detail = model.get_layer("detail")
    detail.set_weights([np.zeros_like(w) for w in detail.get_weights()])
    x = np.random.default_rng(0).random((2, 36, 52, 3)).astype(np.float32)
    # With no detail predicted, the global skip passes the bicubic input through exactly.
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


def test_last_layer_stays_float32_under_mixed_precision():
    model = build_model("carsr", width=4, dtype="mixed_bfloat16")
    assert model.get_layer("enc1a").compute_dtype == "bfloat16"
    assert model.get_layer("detail").compute_dtype == "float32"
    assert model.outputs[0].dtype == "float32"


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown model variant"):
        build_model("unet")


def test_weights_round_trip(tmp_path):
    a, b = build_model("carsr", width=4), build_model("carsr", width=4)
    path = tmp_path / "w.weights.h5"
    a.save_weights(path)
    b.load_weights(path)
    x = np.random.default_rng(1).random((1, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))


def randomised(model, seed=0):
    """``model`` with every weight random, biases included (Keras starts them at zero)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("variant", ["seed", "carsr"])
@pytest.mark.parametrize("shape", [(1, 4, 4), (2, 36, 52), (1, 60, 28)])
def test_inference_computes_the_model_with_its_upsamplings_folded(variant, shape):
    model = randomised(build_model(variant, width=4))
    x = np.random.default_rng(1).random((*shape, 3)).astype(np.float32)
    want_image, want_code = with_code_output(model).predict(x, verbose=0)
    image, code = (t.numpy() for t in inference(model)(x))
    # float32 rounding of sums over hundreds of terms of size ~10 (random weights)
    np.testing.assert_allclose(code, want_code, atol=1e-5 * np.abs(want_code).max())
    np.testing.assert_allclose(image, want_image, atol=1e-5 * np.abs(want_image).max())
    assert np.abs(image - x).max() > 0.1  # the decoder's work shows, not a pass-through


def test_inference_keeps_the_models_mixed_precision():
    model = randomised(build_model("carsr", width=4, dtype="mixed_bfloat16"))
    x = np.random.default_rng(2).random((1, 20, 24, 3)).astype(np.float32)
    want_image, want_code = with_code_output(model).predict(x, verbose=0)
    image, code = inference(model)(x)
    assert (code.dtype.name, image.dtype.name) == ("bfloat16", "float32")
    # bfloat16 keeps 8 bits: the folded taps are summed before rounding, the model's after.
    for got, want in ((image, want_image), (code, want_code)):
        got = got.numpy().astype(np.float32)
        assert np.abs(got - want).max() <= 0.03 * np.abs(want).max()


def test_inference_trains_as_the_model_does():
    """Training calls the folded network: its gradients are the model's."""
    from carsr_gui.tf_setup import tf

    model = randomised(build_model("carsr", width=4), seed=3)
    model.get_layer("dropout").rate = 0  # as training sets it (--dropout 0)
    x = tf.constant(np.random.default_rng(4).random((2, 16, 20, 3)), tf.float32)
    target = tf.constant(np.random.default_rng(5).random((2, 16, 20, 3)), tf.float32)
    grads = []
    for forward in (lambda x: model(x, training=True), lambda x: inference(model)(x)[0]):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(forward(x) - target))
        grads.append(tape.gradient(loss, model.trainable_variables))
    for want, got in zip(*grads, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want.numpy()).max())


def test_inference_leaves_nothing_to_xla():
    """Keras compiles a convolution over an input of unknown channels with XLA, once per shape
    (inside a job): every channel count stays known through the folded upsamplings."""
    from carsr_gui.tf_setup import tf

    forward = inference(build_model("carsr", width=4))
    spec = tf.TensorSpec([1, None, None, 3], tf.float32)
    fn = tf.function(forward, input_signature=[spec], autograph=False).get_concrete_function()
    assert [f.signature.name for f in fn.graph.as_graph_def().library.function] == []
