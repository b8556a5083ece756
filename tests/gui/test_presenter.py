"""The window's presenter without the window: the batch, the worker and the result cache."""

from __future__ import annotations

import threading

import pytest

from carsr_gui.batch import ResultCache, State
from carsr_gui.gui.presenter import BatchPresenter
from tests.gui.conftest import SEVERAL_TILES, write_image

TIMEOUT = 60_000


@pytest.fixture
def make_presenter(qtbot, settings, tmp_path):
    made = []

    def make(factory):
        presenter = BatchPresenter(settings, factory, ResultCache(tmp_path / "cache"))
        made.append(presenter)
        return presenter

    yield make
    for presenter in made:
        presenter.close()


def test_a_batch_runs_one_photo_at_a_time_and_says_what_happened(
    qtbot, make_presenter, tiny_factory, tmp_path
):
    presenter = make_presenter(tiny_factory)
    states = []
    presenter.changed.connect(lambda i: states.append((i, presenter.item(i).state)))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    with qtbot.waitSignal(presenter.finished, timeout=TIMEOUT):
        ids, skipped = presenter.open_paths([write_image(tmp_path / "a.png"), bad])
    assert skipped == []
    assert states == [
        (ids[0], State.RUNNING),
        (ids[0], State.DONE),
        (ids[1], State.RUNNING),
        (ids[1], State.FAILED),
    ]
    assert presenter.batch.summary() == "1 enlarged, 1 failed"
    assert presenter.item(ids[1]).reason.startswith("not an image")


def test_cancel_stops_the_running_photo_mid_job_and_the_waiting_ones(
    qtbot, make_presenter, gated, tmp_path
):
    presenter = make_presenter(lambda: gated)
    photos = [write_image(tmp_path / f"{n}.png", *SEVERAL_TILES, seed=n) for n in range(3)]
    ids, _ = presenter.open_paths(photos)
    qtbot.waitUntil(gated.entered.is_set, timeout=TIMEOUT)
    assert 1 <= gated.held_at[0] < gated.held_at[1]
    with qtbot.waitSignal(presenter.finished, timeout=TIMEOUT):
        presenter.cancel()
    assert [presenter.item(i).state for i in ids] == [State.CANCELLED] * 3
    assert presenter.batch.summary() == "3 cancelled"

    gated.gate.set()  # Run Again after the cancel: the photo is enlarged
    with qtbot.waitSignal(presenter.finished, timeout=TIMEOUT):
        presenter.run_again(ids[0])
    assert presenter.item(ids[0]).state is State.DONE
    assert presenter.batch.summary() == "1 enlarged"


def test_a_photo_removed_while_it_runs_is_left_out_of_the_summary(
    qtbot, make_presenter, gated, tmp_path
):
    presenter = make_presenter(lambda: gated)
    photos = [write_image(tmp_path / f"{n}.png", *SEVERAL_TILES, seed=n) for n in range(2)]
    ids, _ = presenter.open_paths(photos)
    qtbot.waitUntil(gated.entered.is_set, timeout=TIMEOUT)  # the first photo is mid-way
    with qtbot.waitSignal(presenter.finished, timeout=TIMEOUT):
        presenter.remove(ids[0])
        gated.gate.set()
    assert list(presenter.batch.items) == [ids[1]]
    assert presenter.batch.summary() == "1 enlarged"


def test_a_name_chosen_for_a_save_is_taken_and_never_written_over_unasked(
    qtbot, make_presenter, tiny_factory, tmp_path
):
    """The writes are queued: a second Save or Save All, while the first waits, must neither be
    offered its name nor replace its file without the user's confirmation of that very file."""
    presenter = make_presenter(tiny_factory)
    with qtbot.waitSignal(presenter.finished, timeout=TIMEOUT):
        (job,), _ = presenter.open_paths([write_image(tmp_path / "a.png")])
    out = tmp_path / "out"
    out.mkdir()
    saved = []
    presenter.saved.connect(lambda written, errors: saved.append((written, errors)))
    hold = threading.Event()
    presenter.save_tasks.run(hold.wait, done=lambda _: None)  # the writes wait behind this
    try:
        first = presenter.default_path(job, out, "png")
        presenter.save(job, first)
        assert presenter.taken(first)
        second = presenter.default_path(job, out, "png")
        assert (first.name, second.name) == ("a_x2.png", "a_x2-1.png")
        assert presenter.save_all(out, "png") == 1  # takes the next free name: a_x2-1.png
        presenter.save(job, first)  # the same name again, not confirmed: refused
        presenter.save(job, first, replace=True)  # confirmed: replaced
    finally:
        hold.set()
    qtbot.waitUntil(lambda: len(saved) == 4, timeout=TIMEOUT)
    assert saved == [
        ([first], []),
        ([second], []),
        ([], [f"{first}: exists already; not replaced"]),
        ([first], []),
    ]
    assert sorted(p.name for p in out.iterdir()) == ["a_x2-1.png", "a_x2.png"]


def test_answers_that_arrive_after_close_are_dropped(qtbot, make_presenter, tiny_factory, tmp_path):
    """The worker's last answers are queued signals: they can reach the presenter after close(),
    when its helper threads and cache are gone. Seen as "cannot schedule new futures after
    shutdown" when a window closed mid-job."""
    presenter = make_presenter(tiny_factory)
    answers = []
    presenter.worker_thread.result.connect(lambda i, stored: answers.append((i, stored)))
    with qtbot.waitSignal(presenter.finished, timeout=TIMEOUT):
        presenter.open_paths([write_image(tmp_path / "a.png")])
    ((job_id, stored),) = answers
    presenter.batch.queue(job_id)  # running again, as far as the batch knows, and on screen
    assert presenter.batch.start_next().job.id == job_id
    presenter._current = job_id
    presenter.close()
    presenter._on_result(job_id, stored)  # as if delivered late
    presenter._on_failed(job_id, "late")
    presenter._on_cancelled(job_id)
    presenter._on_finished(job_id)
