"""The queue beside the view: one row per image with its thumbnail, size, state and notes (the
batch's :class:`~carsr_gui.batch.Item`, drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QWidget

from carsr_gui.batch import State
from carsr_gui.gui.drop_hint import QUEUE_HINT
from carsr_gui.gui.imaging import to_pixmap

THUMB = 64
JOB_ROLE = Qt.ItemDataRole.UserRole


class QueueView(QListWidget):
    """Rows keyed by job id; ``job_selected`` tells the window which image to show."""

    job_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queue")
        self.setIconSize(QSize(THUMB, THUMB))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setMinimumWidth(180)
        self.setAcceptDrops(False)  # drops go to the window
        self._rows: dict[int, QListWidgetItem] = {}
        self._info: dict[int, dict] = {}
        self._placeholder = _placeholder_icon()
        self.currentItemChanged.connect(self._current_changed)
        self.empty_hint = QLabel(QUEUE_HINT, self.viewport())
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.model().rowsInserted.connect(self._show_hint)
        self.model().rowsRemoved.connect(self._show_hint)

    def _show_hint(self) -> None:
        self.empty_hint.setVisible(self.count() == 0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.empty_hint.setGeometry(self.viewport().rect().adjusted(12, 12, -12, -12))

    def add(self, job_id: int, path: Path) -> None:
        item = QListWidgetItem(self._placeholder, "")
        item.setData(JOB_ROLE, job_id)
        item.setToolTip(str(path))
        self.addItem(item)
        self._rows[job_id] = item
        self._info[job_id] = {
            "name": path.name,
            "size": "",
            "state": State.WAITING,
            "detail": "",
            "notes": [],
        }
        self._render(job_id)

    def remove(self, job_id: int) -> None:
        item = self._rows.pop(job_id, None)
        self._info.pop(job_id, None)
        if item is not None:
            self.takeItem(self.row(item))

    def job_ids(self) -> list[int]:
        return [self.item(i).data(JOB_ROLE) for i in range(self.count())]

    def state(self, job_id: int) -> State:
        return self._info[job_id]["state"]

    def detail(self, job_id: int) -> str:
        return self._info[job_id]["detail"]

    def row_text(self, job_id: int) -> str:
        return self._rows[job_id].text()

    def set_thumbnail(self, job_id: int, rgb: np.ndarray, width: int, height: int) -> None:
        if job_id not in self._rows:
            return
        self._rows[job_id].setIcon(QIcon(to_pixmap(rgb)))
        self._info[job_id]["size"] = f"{width}×{height}"
        self._render(job_id)

    def set_state(self, job_id: int, state: State, detail: str = "") -> None:
        if job_id not in self._rows:
            return
        self._info[job_id].update(state=state, detail=detail)
        self._render(job_id)

    def set_notes(self, job_id: int, notes: list[str]) -> None:
        """What the user should know about the result (which weights ran, a fallback): in the
        row's tooltip, and counted on the row."""
        if job_id not in self._rows or self._info[job_id]["notes"] == notes:
            return
        self._info[job_id]["notes"] = list(notes)
        self._render(job_id)

    def notes(self, job_id: int) -> list[str]:
        return self._info[job_id]["notes"]

    def select(self, job_id: int) -> None:
        if job_id in self._rows:
            self.setCurrentItem(self._rows[job_id])

    def current_job(self) -> int | None:
        item = self.currentItem()
        return None if item is None else item.data(JOB_ROLE)

    def _render(self, job_id: int) -> None:
        info, item = self._info[job_id], self._rows[job_id]
        state: State = info["state"]
        status = state.value + (f" {info['detail']}" if info["detail"] else "")
        if state is State.FAILED:
            status = f"failed: {info['detail']}"
        notes = info["notes"]
        if notes:
            status += f" · {len(notes)} note{'s' * (len(notes) != 1)}"
        size = info["size"] or ("…" if state in (State.WAITING, State.RUNNING) else "")
        lines = [line for line in (info["name"], size, status) if line]
        item.setText("\n".join(lines))
        path = str(item.toolTip()).split("\n")[0]
        item.setToolTip("\n".join([path, *lines[1:], *notes]))
        colour = {
            State.FAILED: QBrush(QColor(200, 40, 40)),
            State.CANCELLED: self.palette().brush(
                QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text
            ),
        }.get(state)
        item.setForeground(
            colour if colour is not None else self.palette().brush(QPalette.ColorRole.Text)
        )

    @Slot()
    def _current_changed(self, current: QListWidgetItem | None, _previous=None) -> None:
        if current is not None:
            self.job_selected.emit(current.data(JOB_ROLE))


def _placeholder_icon() -> QIcon:
    pixmap = QPixmap(THUMB, THUMB)
    pixmap.fill(QColor(90, 90, 90))
    return QIcon(pixmap)
