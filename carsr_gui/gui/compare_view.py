"""The comparison view: low-res input, bicubic, feature map and output (and, in evaluation mode,
the ground truth) side by side, each titled with what it shows and its size, zoomed and panned
together."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from carsr_gui.gui.zoom_view import ViewSync, ZoomView

#: Panel keys in reading order, and their titles.
TITLES = {
    "input": "Low-res input",
    "bicubic": "Bicubic ×{scale}",
    "features": "Encoded feature map",
    "output": "Autoencoder ×{scale}",
    "truth": "Ground truth",
}


def size_text(a: np.ndarray) -> str:
    return f"{a.shape[1]}×{a.shape[0]}"


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
        self.image: np.ndarray | None = None

    def add_controls(self, widget: QWidget) -> None:
        self._head.addWidget(widget, 1, 0, 1, 2)

    def show_image(self, rgb: np.ndarray | None, item_scale: float, title: str, figures: str):
        self.image = rgb
        self.title.setText(title)
        self.figures.setText(figures)
        self.view.set_image(self.item, rgb, item_scale)


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

    def show_outcome(self, outcome, features: np.ndarray | None, features_note: str = "") -> None:
        """Show a worker :class:`~carsr_gui.gui.worker.Outcome`."""
        result = outcome.result
        out = result.output
        scale = out.shape[0] / outcome.input.shape[0]
        self.set_evaluation(outcome.truth is not None)
        p = self.panels
        shown = round(scale)
        p["input"].show_image(
            outcome.input,
            scale,
            "Low-res input" + (" (ground truth shrunk 2×)" if outcome.truth is not None else ""),
            size_text(outcome.input),
        )
        bic, model = "", ""
        s = outcome.scores
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
            result.bicubic, 1.0, f"Bicubic ×{shown}", _join(size_text(result.bicubic), bic)
        )
        p["output"].show_image(out, 1.0, f"Autoencoder ×{shown}", _join(size_text(out), model))
        fm = result.features
        if features is not None:
            p["features"].show_image(
                features,
                out.shape[0] / features.shape[0],
                "Encoded feature map",
                f"{fm.channels} ch · {fm.width}×{fm.height} (¼ of output)",
            )
        else:
            p["features"].show_image(None, 1.0, "Encoded feature map", features_note)
        if outcome.truth is not None:
            p["truth"].show_image(
                outcome.truth, 1.0, "Ground truth", _join(size_text(outcome.truth), "reference")
            )
        else:
            p["truth"].show_image(None, 1.0, "Ground truth", "")
        self.sync.set_scene_rect(QRectF(0, 0, out.shape[1], out.shape[0]))

    def update_features(self, features: np.ndarray | None, output_height: int) -> None:
        panel = self.panels["features"]
        if features is None:
            panel.view.set_image(panel.item, None, 1.0)
        else:
            panel.view.set_image(panel.item, features, output_height / features.shape[0])
        panel.image = features


def _join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)
