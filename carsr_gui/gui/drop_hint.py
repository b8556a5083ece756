"""What the window shows in place of its panels while the queue is empty: where to drop photos,
and buttons for the Open and Open Sample actions. Drops themselves go to the window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

HINT = "Drop car photos or folders here"
#: The queue's words for the same, while it is empty.
QUEUE_HINT = f"No photos yet.\n\n{HINT}, or use File > Open."


class DropHint(QWidget):
    def __init__(
        self, open_action: QAction, sample_action: QAction, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("dropHint")
        box = QFrame()
        box.setObjectName("dropBox")
        box.setStyleSheet("#dropBox { border: 2px dashed palette(mid); border-radius: 16px; }")
        box.setMinimumSize(560, 260)
        self.title = QLabel(HINT)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        words = QLabel("carsr enlarges each photo and shows it beside the bicubic enlargement.")
        words.setAlignment(Qt.AlignmentFlag.AlignCenter)
        words.setWordWrap(True)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip(open_action.toolTip())
        self.open_button.clicked.connect(open_action.trigger)
        self.sample_button = QPushButton("Open Sample")
        self.sample_button.setToolTip(sample_action.toolTip())
        self.sample_button.clicked.connect(sample_action.trigger)
        for button in (self.open_button, self.sample_button):
            button.setMinimumSize(140, 36)
        buttons = QHBoxLayout()
        buttons.setSpacing(16)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_button)
        buttons.addStretch(1)
        inner = QVBoxLayout(box)
        inner.setContentsMargins(40, 32, 40, 32)
        inner.setSpacing(16)
        inner.addStretch(1)
        inner.addWidget(self.title)
        inner.addWidget(words)
        inner.addLayout(buttons)
        inner.addStretch(1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addWidget(box, 0, Qt.AlignmentFlag.AlignCenter)
