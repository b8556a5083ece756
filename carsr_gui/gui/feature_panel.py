"""The controls of the feature-map panel: which picture of the 256-channel code, and its statistics
(the picture itself is drawn off the GUI thread: see :mod:`carsr_gui.gui.display`)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from carsr_gui import feature_map

MODES = (
    ("mean", "Mean activation"),
    ("pca", "Principal components (RGB)"),
    ("channel", "One channel"),
)


class FeatureControls(QWidget):
    """Mode selector, channel spin box and a line of statistics; emits ``changed`` on any edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode_box = QComboBox()
        for key, label in MODES:
            self.mode_box.addItem(label, key)
        self.mode_box.setToolTip("How to draw the encoder's code")
        self.channel_box = QSpinBox()
        self.channel_box.setRange(0, 255)
        self.channel_box.setPrefix("channel ")
        self.channel_box.setToolTip("The channel shown in 'One channel' mode")
        self.stats_label = QLabel()
        self.stats_label.setObjectName("featureStats")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.mode_box)
        layout.addWidget(self.channel_box)
        layout.addWidget(self.stats_label, 1)
        self._features: feature_map.FeatureMap | None = None
        self.mode_box.currentIndexChanged.connect(self._edited)
        self.channel_box.valueChanged.connect(self._edited)
        self._update_enabled()

    @property
    def mode(self) -> str:
        return self.mode_box.currentData()

    @property
    def channel(self) -> int:
        return self.channel_box.value()

    @property
    def features(self) -> feature_map.FeatureMap | None:
        """The feature map of the photo on screen (None: none, or released)."""
        return self._features

    def set_choice(self, mode: str, channel: int) -> None:
        index = self.mode_box.findData(mode)
        self.mode_box.setCurrentIndex(max(index, 0))
        self.channel_box.setValue(channel)

    def set_features(self, features: feature_map.FeatureMap | None) -> None:
        self._features = features
        if features is not None:
            self.channel_box.setMaximum(features.channels - 1)
        self._update_stats()

    @Slot()
    def _edited(self) -> None:
        self._update_enabled()
        self._update_stats()
        self.changed.emit()

    def _update_enabled(self) -> None:
        self.channel_box.setEnabled(self.mode == "channel")

    def _update_stats(self) -> None:
        fm = self._features
        if fm is None:
            self.stats_label.setText("")
            return
        stats = fm.stats
        if self.mode == "channel":
            c = min(self.channel, fm.channels - 1)
            text = (
                f"ch {c}: mean {stats.mean[c]:.3g} · std {stats.std[c]:.3g} · "
                f"min {stats.min[c]:.3g} · max {stats.max[c]:.3g}"
            )
        else:
            active = int(np.count_nonzero(stats.max > 0))
            text = (
                f"{active} of {fm.channels} channels active · mean {float(stats.mean.mean()):.3g}"
            )
        if fm.stride > 1:
            text += f" · pooled {fm.stride}×{fm.stride}"
        self.stats_label.setText(text)
