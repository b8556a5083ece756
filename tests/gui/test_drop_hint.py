"""The empty window says what to do: a drop target with Open and Open Sample in place of the
panels, and the same in words in the queue, until a photo is there and again once it is gone."""

from __future__ import annotations

from PySide6.QtCore import Qt

from carsr_gui.gui.drop_hint import HINT
from tests.gui.conftest import write_image

TIMEOUT = 60_000


def hint_shown(window) -> bool:
    return window.hint.isVisible() and window.queue.empty_hint.isVisible()


def test_the_empty_window_shows_where_to_drop_photos(make_window):
    window = make_window()
    assert hint_shown(window)
    assert window.stack.currentWidget() is window.hint
    assert not window.compare.isVisible() and not window.split.isVisible()
    assert window.hint.title.text() == HINT
    assert HINT in window.queue.empty_hint.text()
    for button in (window.hint.open_button, window.hint.sample_button):  # not clipped
        assert button.isVisible() and button.width() >= button.sizeHint().width()
    assert window.hint.title.width() >= window.hint.title.sizeHint().width()


def test_the_hint_buttons_trigger_open_and_open_sample(qtbot, make_window, monkeypatch, tmp_path):
    import carsr_gui.resources

    sample = write_image(tmp_path / "sample_car.png")
    monkeypatch.setattr(carsr_gui.resources, "resource", lambda name: tmp_path / name)
    window = make_window()
    for button, action in (
        (window.hint.open_button, window.open_action),
        (window.hint.sample_button, window.sample_action),
    ):
        with qtbot.waitSignal(action.triggered, timeout=1000):
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert [window.presenter.item(i).job.path for i in window.queue.job_ids()] == [sample]


def test_the_hint_goes_with_the_first_photo_and_comes_back_when_the_queue_is_empty(
    qtbot, make_window, tmp_path
):
    window = make_window()
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        (job,) = window.open_paths([write_image(tmp_path / "car.png")])
    assert not window.hint.isVisible() and not window.queue.empty_hint.isVisible()
    assert window.compare.isVisible()
    window.split_action.setChecked(True)  # the layout chosen shows, not the hint
    assert window.split.isVisible() and not window.hint.isVisible()
    window.queue.select(job)
    window.remove_action.trigger()
    assert window.queue.count() == 0
    assert hint_shown(window)
