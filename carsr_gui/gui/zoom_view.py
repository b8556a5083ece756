"""A QGraphicsView of pixel images with wheel zoom at the cursor and drag to pan, and
:class:`ViewSync`, which keeps several of them at one zoom and one centre.

All views share one coordinate system, the pixels of the enlarged output: an image with fewer
pixels (the low-res input, the feature map) is drawn scaled up to cover the same area. Zoom is in
output pixels (100% = one output pixel per screen pixel). Wherever an image's own pixels are shown
larger than a screen pixel, it is drawn with nearest-neighbour sampling so that pixels stay honest;
smaller than that, smoothly.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPalette, QTransform, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsItem, QGraphicsScene, QGraphicsView

MIN_ZOOM, MAX_ZOOM = 1 / 64, 64.0
WHEEL_STEP = 1.25


class ImageItem(QGraphicsItem):
    """A QImage drawn as it is: showing one costs no conversion in the GUI thread (a QPixmap of a
    48 MP output would be converted there), and only the exposed part is painted. Reduced copies
    (``levels``: half, quarter... size, made off the GUI thread) are drawn where the view shows
    the image smaller, so that painting a fitted 48 MP output stays cheap (and less aliased)."""

    def __init__(self) -> None:
        super().__init__()
        self._image = QImage()
        self._levels: list[QImage] = []
        self._mode = Qt.TransformationMode.SmoothTransformation
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def image(self) -> QImage:
        return self._image

    def set_image(self, image: QImage, levels: list[QImage] | None = None) -> None:
        self.prepareGeometryChange()
        self._image = image
        self._levels = list(levels or [])
        self.update()

    def transformationMode(self) -> Qt.TransformationMode:
        return self._mode

    def setTransformationMode(self, mode: Qt.TransformationMode) -> None:
        self._mode = mode
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._image.width(), self._image.height())

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._image.isNull():
            return
        smooth = self._mode == Qt.TransformationMode.SmoothTransformation
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        exposed = option.exposedRect.intersected(self.boundingRect())
        if smooth:  # a pixel's worth of border, so that filtering at the edge has its neighbours
            exposed = exposed.adjusted(-1, -1, 1, 1).intersected(self.boundingRect())
        # The coarsest level whose pixels are still no smaller than the screen's.
        scale = abs(painter.worldTransform().m11())
        k = 0
        while k < len(self._levels) and scale * 2 ** (k + 1) <= 1.0:
            k += 1
        if k == 0:
            painter.drawImage(exposed, self._image, exposed)
            return
        level = self._levels[k - 1]
        f = 2**k
        source = QRectF(exposed.x() / f, exposed.y() / f, exposed.width() / f, exposed.height() / f)
        source = source.intersected(QRectF(level.rect()))
        target = QRectF(source.x() * f, source.y() * f, source.width() * f, source.height() * f)
        painter.drawImage(target, level, source)


class ZoomView(QGraphicsView):
    """Shows pixel images in output coordinates; zoom and pan go through its :class:`ViewSync`."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(False)  # drops go to the window
        self.setBackgroundBrush(self.palette().color(QPalette.ColorRole.Dark))
        self.setMinimumSize(80, 60)
        self.sync: ViewSync | None = None
        self._items: list[tuple[ImageItem, float]] = []

    def add_image(self, image: QImage | None, item_scale: float = 1.0, z: float = 0.0):
        """Show ``image`` drawn ``item_scale`` times larger (output pixels per image pixel)."""
        item = ImageItem()
        item.setZValue(z)
        self.scene().addItem(item)
        self._items.append((item, item_scale))
        self.set_image(item, image, item_scale)
        return item

    def set_image(
        self,
        item: ImageItem,
        image: QImage | None,
        item_scale: float,
        levels: list[QImage] | None = None,
    ):
        """``image`` and its reduced ``levels`` are built beforehand (off the GUI thread for a
        full-size one)."""
        item.set_image(image if image is not None else QImage(), levels)
        item.setVisible(image is not None)
        item.setScale(item_scale)
        self._items = [(i, item_scale if i is item else s) for i, s in self._items]
        self.update_sampling()

    def clear_images(self) -> None:
        for item, _ in self._items:
            item.setVisible(False)

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def update_sampling(self) -> None:
        """Nearest-neighbour where an image pixel covers more than one screen pixel."""
        for item, scale in self._items:
            mode = (
                Qt.TransformationMode.FastTransformation
                if self.zoom * scale > 1.0 + 1e-9
                else Qt.TransformationMode.SmoothTransformation
            )
            if item.transformationMode() != mode:
                item.setTransformationMode(mode)

    def center(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def show_at(self, zoom: float, center: QPointF) -> None:
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self.centerOn(center)
        self.update_sampling()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if not steps:
            return
        self.zoom_by(WHEEL_STEP**steps)
        event.accept()

    def zoom_by(self, factor: float) -> None:
        factor = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM) / self.zoom
        self.scale(factor, factor)  # anchored under the mouse
        self.update_sampling()
        if self.sync is not None:
            self.sync.follow(self, fitted=False)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if self.sync is not None:
            self.sync.follow(self)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.sync is not None:
            self.sync.resized(self)


class ViewSync(QObject):
    """Keeps views at the same zoom and centre: one moves, the others follow."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.views: list[ZoomView] = []
        self.scene_rect = QRectF()
        self.fitted = True
        self._busy = False
        self._zoom = 1.0
        self._center = QPointF()

    @property
    def zoom(self) -> float:
        return self._zoom

    def add(self, view: ZoomView) -> None:
        view.sync = self
        self.views.append(view)

    def set_scene_rect(self, rect: QRectF) -> None:
        """The area of the output image, in output pixels (every view's scene rect)."""
        moved = rect != self.scene_rect
        self.scene_rect = QRectF(rect)
        for v in self.views:
            v.setSceneRect(rect)
        if self.fitted or moved:
            self.fit()
        else:
            self._apply(None)

    def follow(self, source: ZoomView, fitted: bool | None = None) -> None:
        if self._busy or not source.isVisible():
            return
        if fitted is not None:
            self.fitted = fitted
        self._zoom, self._center = source.zoom, source.center()
        self._apply(source)

    def _apply(self, source: ZoomView | None) -> None:
        self._busy = True
        try:
            for v in self.views:
                if v is not source:
                    v.show_at(self._zoom, self._center)
        finally:
            self._busy = False
        self.zoom_changed.emit(self._zoom)

    def set_zoom(self, zoom: float) -> None:
        """100% is 1.0; keeps the centre."""
        self.fitted = False
        self._zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        if not self._center_known():
            self._center = self.scene_rect.center()
        self._apply(None)

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self._zoom * factor)

    def fit(self) -> None:
        """Zoom so that the whole image fits the smallest visible view."""
        self.fitted = True
        visible = [v for v in self.views if v.isVisible()] or self.views
        if not visible or self.scene_rect.isEmpty():
            return
        zoom = min(
            min(
                (v.viewport().width() - 4) / self.scene_rect.width(),
                (v.viewport().height() - 4) / self.scene_rect.height(),
            )
            for v in visible
        )
        self._zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        self._center = self.scene_rect.center()
        self._apply(None)

    def refresh(self) -> None:
        """Apply the shared zoom and centre again (after a layout change)."""
        if self.fitted:
            self.fit()
        else:
            self._apply(None)

    def resized(self, view: ZoomView) -> None:
        if self._busy:
            return
        if self.fitted:
            self.fit()
        else:
            self._busy = True
            try:
                view.show_at(self._zoom, self._center)
            finally:
                self._busy = False

    def _center_known(self) -> bool:
        return not self.scene_rect.isEmpty() and self.scene_rect.adjusted(-1, -1, 1, 1).contains(
            self._center
        )
