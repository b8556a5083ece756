"""The second layout: one large view, the output on the right of a split line that the user drags,
and the bicubic enlargement (or the low-res input) on its left."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from carsr_gui.gui.zoom_view import ViewSync, ZoomView

GRAB_PIXELS = 8  # how near the line (in screen pixels) a press grabs it


class SplitCanvas(ZoomView):
    """After image underneath; before image above it, clipped to the left of the split."""

    split_moved = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.after = self.add_image(None, 1.0, z=0)
        self._clip = QGraphicsRectItem()
        self._clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
        self._clip.setPen(QPen(Qt.PenStyle.NoPen))
        self._clip.setZValue(1)
        self.scene().addItem(self._clip)
        self.before = self.add_image(None, 1.0, z=1)
        self.before.setParentItem(self._clip)
        self.fraction = 0.5
        self.labels = ("Bicubic", "Autoencoder")
        self._width = 0.0
        self._height = 0.0
        self._dragging = False
        self.setMouseTracking(True)

    def set_size(self, width: float, height: float) -> None:
        self._width, self._height = width, height
        self.set_fraction(self.fraction)

    def set_fraction(self, fraction: float) -> None:
        self.fraction = min(max(fraction, 0.0), 1.0)
        self._clip.setRect(QRectF(0, 0, self._width * self.fraction, self._height))
        self.viewport().update()
        self.split_moved.emit(self.fraction)

    def line_x(self) -> float:
        """The split line's position in viewport pixels."""
        return self.mapFromScene(QPointF(self._width * self.fraction, 0)).x()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if not self._width:
            return
        x = self._width * self.fraction
        painter.save()
        pen = QPen(QColor(255, 255, 255, 230), 2)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        # Labels in screen pixels, either side of the line at the top of the view.
        painter.resetTransform()
        vx = self.line_x()
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        left, right = self.labels
        for text, tx in ((left, vx - metrics.horizontalAdvance(left) - 12), (right, vx + 12)):
            box = QRectF(tx - 4, 6, metrics.horizontalAdvance(text) + 8, metrics.height() + 4)
            painter.fillRect(box, QColor(0, 0, 0, 150))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _near_line(self, x: float) -> bool:
        return bool(self._width) and abs(x - self.line_x()) <= GRAB_PIXELS

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._near_line(event.position().x()):
            self._dragging = True
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            x = self.mapToScene(event.position().toPoint()).x()
            self.set_fraction(x / self._width)
            event.accept()
            return
        near = self._near_line(event.position().x())
        self.viewport().setCursor(
            Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor
        )
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            event.accept()
            return
        super().mouseReleaseEvent(event)


class SplitView(QWidget):
    """The canvas and a choice of what the left side shows."""

    before_changed = Signal(str)

    def __init__(self, sync: ViewSync, parent=None) -> None:
        super().__init__(parent)
        self.canvas = SplitCanvas()
        sync.add(self.canvas)
        self.before_box = QComboBox()
        self.before_box.addItem("Bicubic ×2", "bicubic")
        self.before_box.addItem("Low-res input", "input")
        self.before_box.setToolTip("What the left of the line shows")
        hint = QLabel("Drag the line to compare; drag elsewhere to pan, wheel to zoom.")
        hint.setEnabled(False)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(QLabel("Left:"))
        bar.addWidget(self.before_box)
        bar.addWidget(hint, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)
        self._shown = None
        self.before_box.currentIndexChanged.connect(self._before_changed)

    @property
    def before(self) -> str:
        return self.before_box.currentData()

    def set_before(self, key: str) -> None:
        self.before_box.setCurrentIndex(max(self.before_box.findData(key), 0))

    def clear(self) -> None:
        self._shown = None
        self.canvas.clear_images()
        self.canvas.set_size(0, 0)

    def show(self, shown) -> None:
        """Show a :class:`~carsr_gui.gui.display.Shown` photo."""
        self._shown = shown
        width, height = shown.size("output")
        self.canvas.set_image(
            self.canvas.after, shown.images["output"], 1.0, shown.levels.get("output")
        )
        self.canvas.set_size(width, height)
        self._show_before()

    def _show_before(self) -> None:
        shown = self._shown
        if shown is None:
            return
        scale = shown.size("output")[1] / shown.size("input")[1]
        self.before_box.setItemText(0, f"Bicubic ×{round(scale)}")
        key, item_scale, label = (
            ("input", scale, "Low-res input")
            if self.before == "input"
            else ("bicubic", 1.0, "Bicubic")
        )
        self.canvas.set_image(
            self.canvas.before, shown.images[key], item_scale, shown.levels.get(key)
        )
        self.canvas.labels = (label, "Autoencoder")
        self.canvas.viewport().update()

    def _before_changed(self) -> None:
        self._show_before()
        self.before_changed.emit(self.before)
