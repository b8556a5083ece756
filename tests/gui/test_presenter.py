"""The window's presenter without the window: the batch, the worker and the result cache."""

from __future__ import annotations

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
