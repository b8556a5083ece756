"""The comparison view: low-res input, bicubic, feature map and output (and, in evaluation mode,
the ground truth) side by side, each titled with what it shows and its size, zoomed and panned
together."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from carsr_gui.gui.display import Shown
from carsr_gui.gui.imaging import to_array
from carsr_gui.gui.zoom_view import ViewSync, ZoomView

#: Panel keys in reading order, and their titles.
TITLES = {
    "input": "Low-res input",
    "bicubic": "Bicubic ×{scale}",
    "features": "Encoded feature map",
    "output": "Autoencoder ×{scale}",
    "truth": "Ground truth",
}


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


class Panel(QFrame):
    """A title, a line of figures (size, metrics), optional controls, and a :class:`ZoomView`."""

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.setObjectName(f"panel_{key}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(TITLES[key].format(scale=2))
        self.title.setStyleSheet("font-weight: bold")
        self.figures = QLabel()  # size and, in evaluation mode, PSNR/SSIM
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = ZoomView()
        self.item = self.view.add_image(None)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        head = QWidget()
        self._head = QGridLayout(head)
        self._head.setContentsMargins(2, 0, 2, 0)
        self._head.addWidget(self.title, 0, 0)
        self._head.addWidget(self.figures, 0, 1, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(head)
        layout.addWidget(self.view, 1)

    @property
    def image(self) -> np.ndarray | None:
        """The pixels shown (sRGB), read back from the panel (tests look at them)."""
        image = self.item.image()
        return None if image.isNull() or not self.item.isVisible() else to_array(image)

    def add_controls(self, widget: QWidget) -> None:
        self._head.addWidget(widget, 1, 0, 1, 2)

    def show_image(
        self,
        image: QImage | None,
        item_scale: float,
        title: str,
        figures: str,
        levels: list[QImage] | None = None,
    ):
        self.title.setText(title)
        self.figures.setText(figures)
        self.view.set_image(self.item, image, item_scale, levels)


class CompareView(QWidget):
    """Four panels (five in evaluation mode) in two rows; the lower row compares at output size."""

    def __init__(self, sync: ViewSync, feature_controls: QWidget, parent=None) -> None:
        super().__init__(parent)
        self.sync = sync
        self.panels = {key: Panel(key) for key in TITLES}
        for panel in self.panels.values():
            sync.add(panel.view)
        self.panels["features"].add_controls(feature_controls)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(4)
        self.evaluation = None
        self.set_evaluation(False)

    def set_evaluation(self, on: bool) -> None:
        """Upper row: input and feature map; lower row: bicubic, output (and ground truth)."""
        if on == self.evaluation:
            return
        self.evaluation = on
        for panel in self.panels.values():
            self._grid.removeWidget(panel)
        cols = 3 if on else 2
        self._grid.addWidget(self.panels["input"], 0, 0)
        self._grid.addWidget(self.panels["features"], 0, 1, 1, cols - 1)
        self._grid.addWidget(self.panels["bicubic"], 1, 0)
        self._grid.addWidget(self.panels["output"], 1, 1)
        if on:
            self._grid.addWidget(self.panels["truth"], 1, 2)
        self.panels["truth"].setVisible(on)
        for c in range(3):
            self._grid.setColumnStretch(c, 1 if c < cols else 0)
        self._grid.setRowStretch(0, 1)
        self._grid.setRowStretch(1, 1)

    def clear(self) -> None:
        for key, panel in self.panels.items():
            panel.show_image(None, 1.0, TITLES[key].format(scale=2), "")

    def show(self, shown: Shown, features_note: str = "") -> None:
        """Show a finished photo, prepared off the GUI thread."""
        stored = shown.stored
        out_w, out_h = shown.size("output")
        in_w, in_h = shown.size("input")
        scale = out_h / in_h
        self.set_evaluation(stored.evaluated)
        p = self.panels
        shown_scale = round(scale)
        p["input"].show_image(
            shown.images["input"],
            scale,
            "Low-res input" + (" (ground truth shrunk 2×)" if stored.evaluated else ""),
            size_text((in_w, in_h)),
            shown.levels.get("input"),
        )
        bic, model = "", ""
        s = stored.scores
        if s is not None:
            bic = f"PSNR {s.bicubic_psnr:.2f} dB · SSIM {s.bicubic_ssim:.4f}"
            model = f"PSNR {s.model_psnr:.2f} dB · SSIM {s.model_ssim:.4f}"
            p["bicubic"].figures.setToolTip(
                f"Y channel: PSNR {s.bicubic_psnr_y:.2f} dB · SSIM {s.bicubic_ssim_y:.4f}"
            )
            p["output"].figures.setToolTip(
                f"Y channel: PSNR {s.model_psnr_y:.2f} dB · SSIM {s.model_ssim_y:.4f}"
            )
        p["bicubic"].show_image(
            shown.images["bicubic"],
            1.0,
            f"Bicubic ×{shown_scale}",
            _join(size_text(shown.size("bicubic")), bic),
            shown.levels.get("bicubic"),
        )
        p["output"].show_image(
            shown.images["output"],
            1.0,
            f"Autoencoder ×{shown_scale}",
            _join(size_text((out_w, out_h)), model),
            shown.levels.get("output"),
        )
        fm = stored.features
        if shown.features is not None and fm is not None:
            p["features"].show_image(
                shown.features,
                out_h / shown.features.height(),
                "Encoded feature map",
                f"{fm.channels} ch · {fm.width}×{fm.height} (¼ of output)",
            )
        else:
            p["features"].show_image(None, 1.0, "Encoded feature map", features_note)
        if "truth" in shown.images:
            p["truth"].show_image(
                shown.images["truth"],
                1.0,
                "Ground truth",
                _join(size_text(shown.size("truth")), "reference"),
                shown.levels.get("truth"),
            )
        else:
            p["truth"].show_image(None, 1.0, "Ground truth", "")
        self.sync.set_scene_rect(QRectF(0, 0, out_w, out_h))

    def update_features(self, features: QImage | None, output_height: int) -> None:
        panel = self.panels["features"]
        if features is None:
            panel.view.set_image(panel.item, None, 1.0)
        else:
            panel.view.set_image(panel.item, features, output_height / features.height())


def _join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)
