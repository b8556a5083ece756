"""The worker thread's signals: result, failure, cancel, a model that cannot load."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import Qt

from carsr_gui.gui.worker import Job, WorkerThread
from tests.gui.conftest import write_image

TIMEOUT = 60_000  # ms; the first job traces the tiny model


@pytest.fixture
def thread(qtbot, tiny_factory):
    worker_thread = WorkerThread(tiny_factory)
    worker_thread.start()
    yield worker_thread
    worker_thread.stop()
    assert not worker_thread.is_running()


def test_a_job_reports_started_progress_result_and_finished(qtbot, thread, tmp_path):
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
    outcome = result.args[1]
    assert outcome.result.output.shape == (80, 96, 3)
    assert outcome.result.bicubic.shape == (80, 96, 3)
    assert outcome.truth is None and outcome.scores is None
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


def test_cancel_before_the_job_starts(qtbot, thread, tmp_path):
    src = write_image(tmp_path / "car.png")
    w = thread
    thread.cancel(3)
    with (
        qtbot.waitSignal(w.cancelled, timeout=TIMEOUT) as cancelled,
        qtbot.assertNotEmitted(w.result),
    ):
        thread.submit(Job(3, src))
    assert cancelled.args == [3]


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

    thread = WorkerThread(broken)
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

    thread = WorkerThread(Exploding)
    thread.start()
    try:
        with (
            caplog.at_level(logging.ERROR, logger="carsr_gui.gui.worker"),
            qtbot.waitSignal(thread.failed, timeout=TIMEOUT) as failed,
        ):
            thread.submit(Job(6, write_image(tmp_path / "car.png")))
    finally:
        thread.stop()
    assert failed.args[1].startswith("unexpected error (TypeError: boom)")
    record = next(r for r in caplog.records if r.name == "carsr_gui.gui.worker")
    assert record.exc_info is not None and record.exc_info[0] is TypeError
