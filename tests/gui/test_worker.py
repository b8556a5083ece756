"""The worker thread's signals: result, failure, cancel, a model that cannot load."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import Qt

from carsr_gui import cli
from carsr_gui.batch import Job, ResultCache
from carsr_gui.gui.worker import WorkerThread
from tests.conftest import disk_full_on_second_array
from tests.gui.conftest import SEVERAL_TILES, write_image

TIMEOUT = 60_000  # ms; the first job traces the tiny model


@pytest.fixture
def cache(tmp_path):
    results = ResultCache(tmp_path / "cache")
    yield results
    results.close()


@pytest.fixture
def thread(qtbot, tiny_factory, cache):
    worker_thread = WorkerThread(tiny_factory, cache)
    worker_thread.start()
    yield worker_thread
    worker_thread.stop()
    assert not worker_thread.is_running()


def test_a_job_reports_started_progress_result_and_finished(qtbot, thread, cache, tmp_path):
    src = write_image(tmp_path / "car.png", 40, 48)
    w = thread
    progress = []
    w.progress.connect(lambda job_id, done, total: progress.append((job_id, done, total)))
    with (
        qtbot.waitSignal(w.started, timeout=TIMEOUT) as started,
        qtbot.waitSignal(w.loaded, timeout=TIMEOUT) as loaded,
        qtbot.waitSignal(w.result, timeout=TIMEOUT) as result,
        qtbot.waitSignal(w.finished, timeout=TIMEOUT) as finished,
    ):
        thread.submit(Job(7, src))
    assert started.args == [7] and finished.args == [7]
    job_id, thumb, width, height = loaded.args
    assert (job_id, width, height) == (7, 48, 40) and thumb.shape[2] == 3
    stored = result.args[1]
    # The full-size images are in the cache folder, not in memory.
    assert all(path.parent == cache.folder for path in stored.files.values())
    assert stored.load("output").shape == (80, 96, 3)
    assert stored.load("bicubic").shape == (80, 96, 3)
    assert stored.load("input").shape == (40, 48, 3)
    assert not stored.evaluated and stored.scores is None
    assert progress[0] == (7, 0, progress[-1][2]) and progress[-1][1] == progress[-1][2]


def test_an_unreadable_file_fails_with_its_reason_and_the_next_job_runs(qtbot, thread, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a picture")
    good = write_image(tmp_path / "good.png")
    w = thread
    with qtbot.waitSignal(w.failed, timeout=TIMEOUT) as failed:
        thread.submit(Job(1, bad))
    assert failed.args[0] == 1
    assert "not an image" in failed.args[1]
    with qtbot.waitSignal(w.result, timeout=TIMEOUT) as result:
        thread.submit(Job(2, good))
    assert result.args[0] == 2


def test_cancel_before_the_job_starts(qtbot, gated, cache, tmp_path):
    thread = WorkerThread(lambda: gated, cache)
    thread.start()
    results = []
    thread.result.connect(lambda job_id, stored: results.append(job_id))
    try:
        thread.submit(Job(2, write_image(tmp_path / "first.png", *SEVERAL_TILES)))
        qtbot.waitUntil(gated.entered.is_set, timeout=TIMEOUT)  # job 2 holds the worker
        thread.submit(Job(3, write_image(tmp_path / "car.png")))
        thread.cancel(3)  # waiting behind job 2
        with qtbot.waitSignal(thread.cancelled, timeout=TIMEOUT) as cancelled:
            gated.gate.set()
        assert cancelled.args == [3]
        qtbot.waitUntil(lambda: results == [2], timeout=TIMEOUT)
    finally:
        thread.stop()
    assert results == [2]


def test_cancel_mid_job_stops_at_the_next_tile(qtbot, thread, tmp_path):
    # 2 x (72 x 80) = 144 x 160 output: several tiles of 96 with margin 28.
    src = write_image(tmp_path / "car.png", 72, 80)
    w = thread
    seen = []

    def on_progress(job_id: int, done: int, total: int) -> None:
        seen.append(done)
        if done == 1:
            thread.cancel(job_id)  # runs in the worker thread, between two tiles

    thread.worker.progress.connect(on_progress, Qt.ConnectionType.DirectConnection)
    with (
        qtbot.waitSignal(w.cancelled, timeout=TIMEOUT),
        qtbot.assertNotEmitted(w.result),
    ):
        thread.submit(Job(4, src))
    assert seen == [0, 1]


def test_a_model_that_cannot_load_fails_each_job_with_the_reason(qtbot, tmp_path):
    from carsr_gui.resources import WeightsError

    def broken():
        raise WeightsError("/x/carsr_x2.weights.h5: model weights missing; reinstall carsr")

    thread = WorkerThread(broken, ResultCache(tmp_path / "cache"))
    with qtbot.waitSignal(thread.engine_failed, timeout=TIMEOUT) as failed:
        thread.start()
    try:
        assert "model weights missing" in failed.args[0]
        with qtbot.waitSignal(thread.failed, timeout=TIMEOUT) as job_failed:
            thread.submit(Job(5, write_image(tmp_path / "car.png")))
        assert "could not be loaded" in job_failed.args[1]
        assert "model weights missing" in job_failed.args[1]
    finally:
        thread.stop()


def test_an_unexpected_error_is_reported_and_logged_with_its_traceback(qtbot, tmp_path, caplog):
    class Exploding:
        description = "test device"

        def upscale_photo(self, *args, **kwargs):
            raise TypeError("boom")

    thread = WorkerThread(Exploding, ResultCache(tmp_path / "cache"))
    thread.start()
    try:
        with (
            caplog.at_level(logging.ERROR, logger="carsr_gui.gui.worker"),
            qtbot.waitSignal(thread.failed, timeout=TIMEOUT) as failed,
        ):
            thread.submit(Job(6, write_image(tmp_path / "car.png")))
    finally:
        thread.stop()
    assert failed.args[1] == "unexpected error (TypeError: boom)"
    record = next(r for r in caplog.records if r.name == "carsr_gui.gui.worker")
    assert record.exc_info is not None and record.exc_info[0] is TypeError


def test_a_cancel_that_comes_after_the_job_left_does_not_stop_its_next_run(qtbot, thread, tmp_path):
    """Run Again cannot cancel itself: Esc pressed as a job ended must not cancel its rerun."""
    src = write_image(tmp_path / "car.png")
    w = thread
    with qtbot.waitSignal(w.finished, timeout=TIMEOUT):
        thread.submit(Job(8, src))
    thread.cancel(8)  # late: the job has left the worker
    with (
        qtbot.waitSignal(w.result, timeout=TIMEOUT) as result,
        qtbot.assertNotEmitted(w.cancelled),
    ):
        thread.submit(Job(8, src))
    assert result.args[0] == 8


def test_a_photo_too_large_for_the_output_format_fails_before_the_model_runs(
    qtbot, cache, tmp_path
):
    class Counting:
        description = "test device"
        calls = 0

        def upscale_photo(self, *args, **kwargs):
            Counting.calls += 1
            raise AssertionError("the model must not run")

    thread = WorkerThread(Counting, cache)
    thread.start()
    try:
        wide = write_image(tmp_path / "wide.png", 4, 8200)  # 16400 pixels wide at 2x
        with qtbot.waitSignal(thread.failed, timeout=TIMEOUT) as failed:
            thread.submit(Job(9, wide, fmt="webp"))
    finally:
        thread.stop()
    assert "16400x8 is too large for webp" in failed.args[1]
    assert Counting.calls == 0


def reason_from_the_worker(qtbot, thread, job: Job) -> str:
    with qtbot.waitSignal(thread.failed, timeout=TIMEOUT) as failed:
        thread.submit(job)
    return failed.args[1]


def reason_from_the_command_line(capsys, path, weights, out, fmt: str) -> str:
    argv = ["upscale", path, "-o", out, "--format", fmt, "--weights", weights, "-q"]
    assert cli.main(list(map(str, argv))) == 1
    (line,) = [n for n in capsys.readouterr().err.splitlines() if n.startswith(f"carsr: {path}")]
    return line


@pytest.mark.parametrize("fault", ["not an image", "too large for the format", "a bug"])
def test_the_window_and_the_command_line_give_the_same_reason(
    qtbot, thread, tmp_path, tiny_weights, capsys, monkeypatch, fault
):
    """One pipeline (batch.run): the window's reason is the command line's line, file aside."""
    from carsr_gui.engine import Engine

    fmt, path = "png", tmp_path / "car.png"
    if fault == "not an image":
        path.write_bytes(b"this is not a picture")
    elif fault == "too large for the format":
        fmt = "webp"
        write_image(path, 4, 8200)  # 16400 pixels wide at 2x
    else:

        def explode(self, *args, **kwargs):
            raise TypeError("boom")

        write_image(path)
        monkeypatch.setattr(Engine, "upscale_photo", explode)
    reason = reason_from_the_worker(qtbot, thread, Job(1, path, fmt=fmt))
    line = reason_from_the_command_line(capsys, path, tiny_weights, tmp_path / "out", fmt)
    assert line == f"carsr: {path}: {reason}"
    assert "\n" not in reason


def test_a_full_disk_fails_the_photo_says_where_and_leaves_nothing_in_the_cache(
    qtbot, thread, cache, tmp_path, monkeypatch
):
    disk_full_on_second_array(monkeypatch)
    reason = reason_from_the_worker(qtbot, thread, Job(1, write_image(tmp_path / "car.png")))
    assert reason == f"no space left in {cache.folder}"
    assert [p.name for p in cache.folder.iterdir()] == [ResultCache.OWNER]
