"""The batch model shared by ``carsr upscale`` and the window: folder expansion, states, the
summary, one-line reasons and the result cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from carsr_gui import batch, image_io
from carsr_gui.batch import Batch, Job, ResultCache, State
from tests.conftest import disk_full_on_second_array, drawn_image


def test_expand_keeps_files_as_given_and_reports_what_a_folder_skips(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("b.JPG", "a.png"):
        Image.fromarray(drawn_image(4, 4)).save(folder / name, format="PNG")
    (folder / "notes.txt").write_text("x")
    (folder / ".hidden.png").write_bytes(b"x")
    (folder / "sub").mkdir()
    given = tmp_path / "given.txt"  # a file given by name is kept: it fails later with a reason
    found = batch.expand([given, folder])
    assert found.files == [given, folder / "a.png", folder / "b.JPG"]
    assert found.skipped == [folder / "notes.txt", folder / "sub"]


def test_states_tally_and_summary_of_a_run():
    queue = Batch()
    ids = [queue.add(Job(queue.new_id(), f"{n}.png")).job.id for n in range(5)]
    assert [queue.start_next().job.id, queue.start_next()] == [ids[0], None]  # one at a time
    queue.done(ids[0])
    queue.start_next()
    queue.failed(ids[1], "not an image")
    queue.start_next()
    assert queue.cancel_waiting() == ids[3:]
    queue.cancelled(ids[2])
    assert queue.idle and queue.summary() == "1 enlarged, 1 failed, 3 cancelled"
    assert queue.items[ids[1]].reason == "not an image"
    assert queue.finished_ids() == ids

    queue.rerun(Job(ids[1], "1.png"))  # a new run on an idle queue starts a new tally
    assert queue.items[ids[1]].state is State.WAITING and queue.items[ids[1]].reason == ""
    queue.start_next()
    queue.done(ids[1])
    assert queue.summary() == "1 enlarged"


def test_a_photo_removed_while_it_runs_is_not_counted():
    queue = Batch()
    ids = [queue.add(Job(queue.new_id(), f"{n}.png")).job.id for n in range(2)]
    queue.start_next()
    queue.remove(ids[0])  # the worker is told to stop; it answers "cancelled" (or "done")
    queue.cancelled(ids[0])
    assert queue.running is None
    queue.start_next()
    queue.done(ids[1])
    assert queue.summary() == "1 enlarged"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (image_io.ImageError("x.png", "not an image"), "not an image"),
        (MemoryError(), "out of memory"),
        (MemoryError("tile 512"), "out of memory (tile 512)"),
        (RuntimeError("the model could not\nbe loaded"), "the model could not be loaded"),
        (KeyError("k"), "unexpected error (KeyError: 'k')"),
        (TypeError(), "unexpected error (TypeError)"),
    ],
)
def test_reasons_are_one_line(error, reason):
    assert batch.reason_of(error) == reason


def test_a_tensorflow_error_is_a_reason_too():
    from carsr_gui.tf_setup import tf

    error = tf.errors.InternalError(None, None, "CUDA error:\n an illegal memory access")
    assert batch.reason_of(error) == (
        "unexpected error (InternalError: CUDA error: an illegal memory access)"
    )


@pytest.mark.parametrize(
    ("fmt", "side", "ok"),
    [("webp", 8191, True), ("webp", 8192, False), ("jpg", 32750, True), ("jpg", 32751, False)],
)
def test_output_limits_are_checked_on_the_enlarged_size(tmp_path, fmt, side, ok):
    if ok:
        batch.check_output_size(tmp_path / "p.png", side, 10, 2, fmt)
    else:
        with pytest.raises(image_io.ImageError, match=f"too large for {fmt}"):
            batch.check_output_size(tmp_path / "p.png", 10, side, 2, fmt)
    batch.check_output_size(tmp_path / "p.png", 40000, 10, 2, "png")  # PNG and TIFF: no limit


def test_the_cache_keeps_results_lossless_on_disk_and_close_removes_it(tmp_path):
    cache = ResultCache(tmp_path / "cache")
    rgb = drawn_image(30, 40)
    alpha = np.arange(30 * 40, dtype=np.uint8).reshape(30, 40)
    stored = cache.store(
        {"input": rgb, "output": rgb, "alpha": alpha, "truth": None},
        grey=False,
        icc_profile=None,
        exif=None,
        device="CPU",
        seconds=1.0,
    )
    assert stored.files.keys() == {"input", "output", "alpha"}
    assert np.array_equal(stored.load("output"), rgb) and stored.load("truth") is None
    assert stored.shapes["alpha"] == (30, 40) and not stored.evaluated
    written = stored.save(tmp_path / "out.png", None, 95)
    with Image.open(written) as img:
        assert img.mode == "RGBA" and np.array_equal(np.asarray(img)[..., 3], alpha)
    assert cache.folder.is_dir()
    cache.close()
    assert not cache.folder.exists()


def test_for_display_converts_through_the_profile_and_leaves_untagged_pixels(tmp_path):
    from tests.corpus import grey_profile, red_green_swapped_profile

    red = np.zeros((2, 3, 3), np.uint8)
    red[..., 0] = 255
    green = image_io.for_display(red, red_green_swapped_profile())
    assert (green[..., 1] == 255).all() and (green[..., 0] == 0).all()
    assert image_io.for_display(red, None) is red
    assert image_io.for_display(red, grey_profile()) is red
    assert image_io.for_display(red, b"not a profile") is red


def test_a_cache_left_by_a_window_that_died_is_removed_by_the_next(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    left = tmp_path / "results-old"
    left.mkdir()
    (left / ResultCache.OWNER).write_text(dead.stdout.strip())
    (left / "1-output.npy").write_bytes(b"x")
    other = ResultCache(tmp_path)  # a window still open
    cache = ResultCache(tmp_path)
    assert not left.exists()
    assert other.folder.is_dir() and cache.folder.is_dir()
    other.close()
    cache.close()


def test_a_full_disk_leaves_nothing_in_the_cache_and_says_where(tmp_path, monkeypatch):
    cache = ResultCache(tmp_path / "cache")
    disk_full_on_second_array(monkeypatch)
    rgb = drawn_image(6, 8)
    with pytest.raises(batch.CacheError) as info:
        cache.store({"input": rgb, "output": rgb, "bicubic": rgb}, grey=False)
    assert batch.reason_of(info.value) == f"no space left in {cache.folder}"
    assert [p.name for p in cache.folder.iterdir()] == [ResultCache.OWNER]
    cache.close()
