"""Every menu action, triggered once, with each dialog answered by its default: none may raise or
show an error (Help > About once read a field that had moved to the presenter)."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from carsr_gui.gui import menus, messages
from tests.gui.conftest import write_image

TIMEOUT = 60_000


@pytest.fixture
def dialogs(monkeypatch):
    """The real dialog code of :mod:`messages` runs, down to Qt's entry points, which answer at
    once: Ok, the default button, Cancel, no file. Returns what was shown, as (kind, text)."""
    shown: list[tuple[str, str]] = []
    messages.set_interactive(True)  # the autouse ``no_dialogs`` turns it off again

    def record(kind, answer, text_at=2):
        def dialog(*args, **kwargs):
            shown.append((kind, str(args[text_at]) if len(args) > text_at else ""))
            return answer

        return staticmethod(dialog)

    def exec_box(box):
        kind = "error" if box.icon() == QMessageBox.Icon.Critical else "box"
        shown.append((kind, box.text()))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "exec", exec_box)
    monkeypatch.setattr(QMessageBox, "about", record("about", None))
    monkeypatch.setattr(QMessageBox, "information", record("info", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "question", record("question", QMessageBox.StandardButton.No))
    monkeypatch.setattr(QMessageBox, "critical", record("error", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "warning", record("error", QMessageBox.StandardButton.Ok))
    # The action is connected when the window is built, so this must come before it.
    monkeypatch.setattr(QApplication, "aboutQt", record("about Qt", None, text_at=0))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", record("open", ([], "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", record("folder", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", record("save", ("", "")))
    monkeypatch.setattr(QInputDialog, "getInt", record("number", (0, False)))
    return shown


def menu_actions(window) -> list[QAction]:
    """Every action reachable from the menu bar, submenus included, in menu order; Quit last."""
    menus.fill_recent(window)  # filled as the menu opens
    found: list[QAction] = []

    def walk(menu) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu())
            elif not action.isSeparator() and action not in found:
                found.append(action)

    for top in window.menuBar().actions():
        walk(top.menu())
    found.remove(window.quit_action)
    return [*found, window.quit_action]


def settled(window) -> bool:
    b = window.presenter.batch
    return b.running is None and not b.waiting


@pytest.mark.parametrize("with_photo", [False, True], ids=["empty", "with-a-photo"])
def test_every_menu_action_runs_without_an_error(
    qtbot, make_window, dialogs, caplog, tmp_path, monkeypatch, with_photo
):
    import carsr_gui.resources

    sample = write_image(tmp_path / "res" / "sample_car.png", seed=4)
    monkeypatch.setattr(carsr_gui.resources, "resource", lambda name: sample.parent / name)
    window = make_window()
    if with_photo:
        with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
            window.open_paths([write_image(tmp_path / "in" / "car.png")])
    actions = menu_actions(window)
    assert window.about_action in actions and len(actions) > 30
    caplog.set_level(logging.ERROR)
    triggered = []
    for action in actions:
        if action.isEnabled():
            action.trigger()
            triggered.append(action.text())
            qtbot.waitUntil(lambda: settled(window), timeout=TIMEOUT)
    assert not window.isVisible()  # Quit, last
    assert {"&About carsr", "About &Qt", "&Save…", "&Quit"} <= set(triggered)
    kinds = [kind for kind, _ in dialogs]
    assert "about" in kinds and "about Qt" in kinds
    assert [shown for shown in dialogs if shown[0] == "error"] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    about = next(text for kind, text in dialogs if kind == "about")
    assert "carsr" in about and "Running on:" in about
