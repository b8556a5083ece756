"""The one place that talks to the user through dialogs (after qutebrowser's ``misc/msgbox.py``).

Every message box and file dialog of the window goes through this module. With
:func:`set_interactive` ``(False)`` (tests, the headless screenshot mode) nothing is shown: messages
are logged and questions get their default answer, so nothing can block waiting for a click.
Tests replace the ``ask_*`` functions with ``monkeypatch`` to answer file dialogs.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

log = logging.getLogger(__name__)

_interactive = True


def set_interactive(on: bool) -> None:
    """``False``: log instead of showing dialogs (tests, headless runs)."""
    global _interactive
    _interactive = on


def error(parent: QWidget | None, title: str, text: str, details: str = "") -> None:
    log.error("%s: %s%s", title, text, f"\n{details}" if details else "")
    if _interactive:
        box = QMessageBox(
            QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, parent
        )
        if details:
            box.setDetailedText(details)
        box.exec()


def info(parent: QWidget | None, title: str, text: str) -> None:
    log.info("%s: %s", title, text)
    if _interactive:
        QMessageBox.information(parent, title, text)


def about(parent: QWidget | None, title: str, text: str) -> None:
    log.info("%s: %s", title, text)
    if _interactive:
        QMessageBox.about(parent, title, text)


def ask_open_files(parent: QWidget | None, folder: Path | None, name_filter: str) -> list[Path]:
    if not _interactive:
        log.info("not interactive: no file chosen")
        return []
    names, _ = QFileDialog.getOpenFileNames(parent, "Open images", str(folder or ""), name_filter)
    return [Path(n) for n in names]


def ask_folder(parent: QWidget | None, caption: str, folder: Path | None) -> Path | None:
    if not _interactive:
        log.info("not interactive: no folder chosen for %r", caption)
        return None
    name = QFileDialog.getExistingDirectory(parent, caption, str(folder or ""))
    return Path(name) if name else None


def ask_save_file(parent: QWidget | None, default: Path, name_filter: str) -> Path | None:
    """The user's choice of output file, as typed. The dialog does not ask about replacing a
    file: the caller adds the suffix and then asks with :func:`confirm_replace` about the path
    it will really write."""
    if not _interactive:
        log.info("not interactive: not saving %s", default)
        return None
    name, _ = QFileDialog.getSaveFileName(
        parent,
        "Save enlarged image",
        str(default),
        name_filter,
        options=QFileDialog.Option.DontConfirmOverwrite,
    )
    return Path(name) if name else None


def confirm_replace(parent: QWidget | None, path: Path) -> bool:
    """Whether the user wants ``path``, which exists, replaced (not interactive: no)."""
    if not _interactive:
        log.info("not interactive: not replacing %s", path)
        return False
    answer = QMessageBox.question(
        parent,
        "Replace file?",
        f"{path} already exists. Replace it?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_int(
    parent: QWidget | None, title: str, label: str, value: int, low: int, high: int
) -> int | None:
    if not _interactive:
        return None
    number, ok = QInputDialog.getInt(parent, title, label, value, low, high)
    return number if ok else None


def install_excepthook() -> None:
    """Log an uncaught exception with its traceback and show it, rather than dying silently."""

    def hook(kind, value, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        details = "".join(traceback.format_exception(kind, value, tb))
        log.critical("uncaught exception\n%s", details)
        error(
            None,
            "carsr: unexpected error",
            f"Something went wrong: {kind.__name__}: {value}\n\n"
            "carsr keeps running; the details below help to report the problem.",
            details,
        )

    sys.excepthook = hook
