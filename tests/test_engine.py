import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from carsr_gui import feature_map, resample, tiling
from carsr_gui.engine import Cancelled, CancelToken, Engine
from carsr_gui.feature_map import FeatureMap
from tests.conftest import drawn_image


def padded_input(img: np.ndarray) -> np.ndarray:
    """The bicubic enlargement, mirrored at its far ends to a multiple of 4, in [0, 1]."""
    bicubic = resample.enlarge(img)
    h, w = bicubic.shape[:2]
    pad = [(0, -h % 4), (0, -w % 4), (0, 0)]
    return np.pad(bicubic, pad, mode="reflect").astype(np.float32) / 255


def whole_image_reference(model, img: np.ndarray) -> np.ndarray:
    """The model over the whole image in one ``predict``, independent of the engine."""
    y = model.predict(padded_input(img)[None], verbose=0)[0]
    return np.rint(np.clip(y, 0, 1) * 255)[: 2 * img.shape[0], : 2 * img.shape[1]]


def test_tiled_output_matches_whole_image_inference(engine, tiny_model):
    img = drawn_image(150, 230)
    result = engine.upscale(img)
    assert result.output.shape == (300, 460, 3) and result.output.dtype == np.uint8
    reference = whole_image_reference(tiny_model, img)
    assert np.abs(result.output.astype(int) - reference).max() <= 1


def test_tiled_matches_whole_with_the_bundled_model():
    engine = Engine(tile=128, precision="fp32")  # the default margin; several tiles
    img = drawn_image(90, 110, seed=3)
    result = engine.upscale(img)
    assert result.output.shape == (180, 220, 3)
    reference = whole_image_reference(engine.runner.keras_model, img)
    assert np.abs(result.output.astype(int) - reference).max() <= 1
    assert engine.card["sha256"]


def test_bicubic_and_feature_map_come_with_the_result(engine):
    img = drawn_image(40, 60)
    result = engine.upscale(img)
    np.testing.assert_array_equal(result.bicubic, resample.enlarge(img))
    fm = result.features
    assert (fm.height, fm.width, fm.channels) == (20, 30, 16)
    assert fm.grid.shape == (20, 30, 16)
    assert "CPU" in result.device


@pytest.mark.parametrize("max_cells", [feature_map.MAX_CELLS, 40, 8])
def test_feature_map_equals_the_encoder_code(engine, tiny_model, monkeypatch, max_cells):
    """Pooled inside the graph tile by tile, as FeatureMap.add pools the whole code at once
    (strides 1, 8 and 16: cells cut by tile edges)."""
    from carsr_gui.model import with_code_output

    monkeypatch.setattr(feature_map, "MAX_CELLS", max_cells)
    img = drawn_image(60, 84, seed=1)
    result = engine.upscale(img)
    _, code = with_code_output(tiny_model).predict(padded_input(img)[None], verbose=0)
    code = code[0, :30, :42]
    expected = FeatureMap(30, 42, code.shape[-1])
    expected.add(code, 0, 0)
    assert result.features.stride == expected.stride
    np.testing.assert_allclose(result.features.grid, expected.grid, atol=1e-4)
    got, want = result.features.stats, expected.stats
    for name in ("mean", "std", "min", "max"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), atol=1e-4)


def test_progress_is_reported_per_tile_and_reaches_the_total(engine):
    seen = []
    engine.upscale(drawn_image(100, 100), progress=lambda d, t: seen.append((d, t)))
    total = seen[-1][1]
    assert total > 1
    assert [d for d, _ in seen] == list(range(total + 1))


def test_scale_four_runs_two_passes(engine):
    seen = []
    result = engine.upscale(drawn_image(20, 30), scale=4, progress=lambda d, t: seen.append(t))
    assert result.output.shape == (80, 120, 3)
    assert result.bicubic.shape == (80, 120, 3)
    passes = [tiling.plan(40, 60, 96, 28), tiling.plan(80, 120, 96, 28)]
    assert seen[-1] == sum(len(p) for p in passes)


def test_cancel_stops_between_tiles(engine):
    token = CancelToken()
    done = []

    def progress(d, t):
        done.append(d)
        if d == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        engine.upscale(drawn_image(200, 200), progress=progress, cancel=token)
    assert done[-1] == 2


def test_tta_averages_the_eight_flips_and_turns_without_seams(tiny_model):
    engine = Engine(model=tiny_model, tile=96, margin=28, tta=True)
    assert "8 passes (TTA)" in engine.description
    img = drawn_image(60, 84, seed=1)
    result = engine.upscale(img)  # several tiles, so each flip and turn is stitched
    # Reference: whole-image passes, each flip and turn undone.
    x = padded_input(img)
    outs = []
    for turns in range(4):
        for mirrored in (False, True):
            t = np.rot90(x, turns)
            t = t[:, ::-1] if mirrored else t
            y = np.clip(tiny_model.predict(np.ascontiguousarray(t)[None], verbose=0)[0], 0, 1)
            outs.append(np.rot90(y[:, ::-1] if mirrored else y, -turns))
    reference = np.rint(np.mean(outs, axis=0) * 255)[:120, :168]
    assert np.abs(result.output.astype(int) - reference).max() <= 1
    plain = Engine(model=tiny_model, tile=96, margin=28).upscale(img)
    assert np.abs(plain.output.astype(int) - reference).max() > 1  # TTA changed the output
    np.testing.assert_allclose(result.features.grid, plain.features.grid, atol=1e-5)


def test_tta_progress_counts_passes_and_cancel_stops_between_them(tiny_model):
    engine = Engine(model=tiny_model, tile=96, margin=28, tta=True)
    seen = []
    engine.upscale(drawn_image(16, 16), progress=lambda d, t: seen.append((d, t)))
    assert len(tiling.plan(32, 32, 96, 28)) == 1 and seen == [(d, 8) for d in range(9)]

    token = CancelToken()
    done = []

    def progress(d, t):
        done.append(d)
        if d == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        engine.upscale(drawn_image(16, 16), progress=progress, cancel=token)
    assert done[-1] == 3  # mid-tile: the remaining passes of that tile never ran


def test_cancel_from_another_thread_stops_before_the_next_tile(engine, monkeypatch):
    """Another thread cancels once the first tile is done (the engine waits in its progress
    callback until it has): the second tile never reaches the model."""
    token = CancelToken()
    first_done, cancelled = threading.Event(), threading.Event()

    def canceller():
        first_done.wait(30)
        token.cancel()
        cancelled.set()

    forwards = []
    forward = engine.runner.forward
    monkeypatch.setattr(engine.runner, "forward", lambda *a: forwards.append(1) or forward(*a))
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done == 1:
            first_done.set()
            assert cancelled.wait(30)

    thread = threading.Thread(target=canceller)
    thread.start()
    with pytest.raises(Cancelled):
        engine.upscale(drawn_image(300, 300), cancel=token, progress=progress)
    thread.join()
    total = seen[0][1]
    assert total > 2 and seen == [(0, total), (1, total)] and len(forwards) == 1


def test_alpha_is_enlarged_separately(engine):
    from carsr_gui.image_io import Photo

    alpha = np.zeros((20, 30), np.uint8)
    alpha[5:15, 5:25] = 255
    result = engine.upscale_photo(Photo(drawn_image(20, 30), alpha=alpha, notes=["n"]))
    np.testing.assert_array_equal(result.alpha, resample.enlarge(alpha))
    assert result.notes == ["n"]


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)])
def test_bad_arrays_and_scales_are_refused(engine, bad):
    with pytest.raises(ValueError):
        engine.upscale(bad)
    with pytest.raises(ValueError, match="scale"):
        engine.upscale(drawn_image(8, 8), scale=3)


def test_explicit_weights_file_sets_variant_and_width(tiny_weights, tiny_model):
    engine = Engine(tiny_weights, tile=96, precision="fp32")  # auto is bf16 on AVX-512 BF16
    x = np.random.default_rng(0).random((1, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(
        engine.runner.keras_model.predict(x, verbose=0), tiny_model.predict(x, verbose=0), atol=1e-6
    )


ALLOCATOR_PROBE = """
from carsr_gui.tf_setup import tf
from tensorflow.python.util import _pywrap_util_port

small = tf.ones((64, 64)) + 1  # 16 KiB, alive while its allocator is asked
try:
    counted = tf.config.experimental.get_memory_info("CPU:0")["current"]
except ValueError:
    allocator = "malloc"  # TensorFlow's plain allocator keeps no statistics
else:
    # The BFC allocator counts every tensor. oneDNN's allocator (TensorFlow's default where
    # oneDNN is on) keeps statistics too, but hands tensors under 256 KiB to malloc uncounted.
    allocator = "bfc" if counted >= 64 * 64 * 4 else "onednn"
print(_pywrap_util_port.IsMklEnabled(), allocator)
"""


@pytest.mark.parametrize(
    ("setting", "onednn", "expected"),
    [(None, "0", "bfc"), (None, "1", "bfc"), ("false", "0", "malloc"), ("false", "1", "onednn")],
)
def test_tensorflow_keeps_cpu_tensors_in_its_bfc_allocator_unless_the_user_says_not(
    setting, onednn, expected
):
    """On every CPU: whether TensorFlow turns oneDNN on by itself depends on the CPU (on where it
    has AVX-512 VNNI or BF16, or AMX), so both are forced here and each is checked."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    if setting is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = setting
    done = subprocess.run(
        [sys.executable, "-c", ALLOCATOR_PROBE], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == [str(onednn == "1"), expected]
