"""The main window: widgets, menus, dialogs and drag and drop, drawn over the batch.

Decisions (what runs next, what a cancel stops, where results live and how they are saved) are the
:class:`~carsr_gui.gui.presenter.BatchPresenter`'s; this view forwards clicks to it and draws what
its signals say. Everything here runs in the GUI thread and does no heavy work: full-size images
arrive prepared, and saving runs on a helper thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from carsr_gui import __version__, image_io
from carsr_gui.batch import FINISHED, Item, State
from carsr_gui.gui import menus, messages, save_folder, saving
from carsr_gui.gui.compare_view import CompareView
from carsr_gui.gui.display import Shown
from carsr_gui.gui.drop_hint import DropHint
from carsr_gui.gui.feature_panel import FeatureControls
from carsr_gui.gui.presenter import BatchPresenter
from carsr_gui.gui.queue_view import QueueView
from carsr_gui.gui.settings import Settings
from carsr_gui.gui.split_view import SplitView
from carsr_gui.gui.worker import EngineFactory, EngineOptions, engine_factory
from carsr_gui.gui.zoom_view import ViewSync

TITLE = "carsr: sharper car photos, twice as large"
SAMPLE = "sample_car.png"
SAMPLE_LICENCE = (
    "a street scene with a red saloon, drawn by code and dedicated to the public domain "
    "(CC0 1.0; see LICENSES.md in carsr's resources)"
)


class MainWindow(QMainWindow):
    """``engine_factory`` replaces the bundled model (tests pass a tiny one); ``weights`` points the
    default engine at another weights file."""

    batch_finished = Signal()  # the queue has run dry and the photo on screen is drawn

    def __init__(
        self,
        settings: Settings | None = None,
        engine_factory: EngineFactory | None = None,
        *,
        weights: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self._factory_override = engine_factory
        self._weights = weights
        self._closing = False

        self.setWindowTitle(TITLE)
        icon = _resource(self, "carsr.png")
        if icon is not None:
            self.setWindowIcon(QIcon(str(icon)))
        self.setAcceptDrops(True)
        self.presenter = BatchPresenter(self.settings, self._make_factory(), parent=self)
        self._build_views()
        menus.setup(self)
        self._build_hint()
        self._build_status_bar()
        self._restore_settings()

        p = self.presenter
        p.added.connect(self.queue.add)
        p.changed.connect(self._draw_row)
        p.removed.connect(self._row_removed)
        p.thumbnail.connect(self.queue.set_thumbnail)
        p.progress.connect(self._on_progress)
        p.busy.connect(self._set_busy)
        p.batch_progress.connect(self._on_batch_progress)
        p.shown.connect(self._on_shown)
        p.features_drawn.connect(self._on_features_drawn)
        p.saved.connect(self._on_saved)
        p.status.connect(self.statusBar().showMessage)
        p.engine_loading.connect(lambda: self.device_label.setText("model loading…"))
        p.engine_ready.connect(self._on_engine_ready)
        p.engine_failed.connect(self._on_engine_failed)
        p.finished.connect(self.batch_finished)
        self.worker_thread = p.worker_thread
        self.statusBar().showMessage("Loading TensorFlow and the model in the background…")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # Start loading TensorFlow once the window is up, so that it shows at once.
        QTimer.singleShot(0, self.presenter.start_worker)

    # -- building ---------------------------------------------------------------------------

    def _build_views(self) -> None:
        self.sync = ViewSync(self)
        self.features = FeatureControls()
        self.compare = CompareView(self.sync, self.features)
        self.split = SplitView(self.sync)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.compare)
        self.stack.addWidget(self.split)
        self.queue = QueueView()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.queue)
        self.splitter.addWidget(self.stack)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 1000])
        self.setCentralWidget(self.splitter)
        self.queue.job_selected.connect(self._show_job)
        self.features.changed.connect(self._features_changed)
        self.split.before_changed.connect(lambda key: self.store_setting("view/before", key))
        self.sync.zoom_changed.connect(self._zoom_changed)

    def _build_hint(self) -> None:
        """Shown instead of the panels while the queue is empty (it needs the open actions)."""
        self.hint = DropHint(self.open_action, self.sample_action)
        self.stack.addWidget(self.hint)
        model = self.queue.model()
        model.rowsInserted.connect(self._show_page)
        model.rowsRemoved.connect(self._show_page)
        self._show_page()

    def _show_page(self) -> None:
        empty = self.queue.count() == 0
        split = self.split_action.isChecked()
        self.stack.setCurrentWidget(self.hint if empty else self.split if split else self.compare)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.image_progress = QProgressBar()
        self.image_progress.setMaximumWidth(160)
        self.image_progress.setFormat("image %p%")
        self.batch_progress = QProgressBar()
        self.batch_progress.setMaximumWidth(180)
        self.batch_progress.setFormat("%v of %m images")
        self.batch_progress.setVisible(False)  # until a batch of several photos runs
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip(
            "Stop the current image between tiles and the rest of the batch"
        )
        self.cancel_button.clicked.connect(self.cancel)
        self.zoom_label = QLabel()
        self.device_label = QLabel("model loading…")
        self.device_label.setToolTip("The device that runs the model, and its precision")
        self.time_label = QLabel()
        self.time_label.setToolTip("Time the model took for the image shown")
        for widget in (
            self.image_progress,
            self.batch_progress,
            self.cancel_button,
            self.zoom_label,
            self.device_label,
            self.time_label,
        ):
            bar.addPermanentWidget(widget)
        self._set_busy(False)

    # -- settings -----------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        s = self.settings
        if not s["window/geometry"].isEmpty():
            self.restoreGeometry(s["window/geometry"])
        else:
            self.resize(1400, 900)
        if not s["window/state"].isEmpty():
            self.restoreState(s["window/state"])
        if not s["window/splitter"].isEmpty():
            self.splitter.restoreState(s["window/splitter"])
        self.features.set_choice(s["view/feature_mode"], s["view/feature_channel"])
        self.split.set_before(s["view/before"])
        self.eval_action.setChecked(s["process/evaluate"])
        self.tta_action.setChecked(s["process/tta"])
        self.split_action.setChecked(s["view/layout"] == "split")
        self.compare.set_evaluation(s["process/evaluate"])

    def save_settings(self) -> None:
        s = self.settings
        s["window/geometry"] = self.saveGeometry()
        s["window/state"] = self.saveState()
        s["window/splitter"] = self.splitter.saveState()
        s["view/feature_mode"] = self.features.mode
        s["view/feature_channel"] = self.features.channel
        s["view/before"] = self.split.before
        s["view/layout"] = "split" if self.split_action.isChecked() else "panels"
        s["process/evaluate"] = self.eval_action.isChecked()
        s.sync()

    def store_setting(self, key: str, value) -> None:
        self.settings[key] = value

    def _make_factory(self) -> EngineFactory:
        if self._factory_override is not None:
            return self._factory_override
        s = self.settings
        return engine_factory(
            EngineOptions(
                self._weights,
                s["process/device"],
                s["process/tile"],
                s["process/tta"],
                s["process/model"],
            )
        )

    def set_engine_option(self, key: str, value) -> None:
        if self.settings[key] == value:
            return
        self.settings[key] = value
        self.presenter.configure(self._make_factory())

    def set_scale(self, scale: int) -> None:
        self.settings["process/scale"] = scale
        self.statusBar().showMessage(
            f"Scale {scale}×: applies to images opened from now on (F5 runs the selected one again)"
        )

    def ask_quality(self) -> None:
        value = messages.ask_int(
            self, "Quality", "JPEG and WebP quality (1-100):", self.settings["save/quality"], 1, 100
        )
        if value is not None:
            self.settings["save/quality"] = value

    # -- opening ------------------------------------------------------------------------------

    def open_paths(self, paths: Iterable[Path]) -> list[int]:
        """Queue the images (folders: the images inside); returns the new job ids."""
        paths = [Path(p) for p in paths]
        for path in paths:
            if path.exists():
                self.settings.add_recent(path)
        ids, skipped = self.presenter.open_paths(paths)
        if skipped:
            names = ", ".join(p.name for p in skipped[:3]) + (", …" if len(skipped) > 3 else "")
            self.statusBar().showMessage(
                f"Skipped {len(skipped)} file{'s' * (len(skipped) != 1)} that "
                f"{'are' if len(skipped) != 1 else 'is'} not an image: {names}",
                10000,
            )
        if not ids:
            self.statusBar().showMessage("No images found in " + ", ".join(p.name for p in paths))
            return []
        if self.queue.current_job() is None:
            self.queue.select(ids[0])
        return ids

    def open_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(image_io.INPUT_SUFFIXES))
        files = messages.ask_open_files(
            self, self._folder("paths/open_dir"), f"Images ({patterns});;All files (*)"
        )
        if files:
            self.settings["paths/open_dir"] = str(files[0].parent)
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = messages.ask_folder(
            self, "Open a folder of images", self._folder("paths/open_dir")
        )
        if folder is not None:
            self.settings["paths/open_dir"] = str(folder)
            self.open_paths([folder])

    def open_sample(self) -> None:
        path = _resource(self, SAMPLE)
        if path is None:
            messages.error(
                self, "Sample missing", "The sample car photo is not part of this installation."
            )
            return
        if self.open_paths([path]):
            self.statusBar().showMessage(f"Sample: {SAMPLE_LICENCE}", 10000)

    def _folder(self, key: str) -> Path | None:
        folder = self.settings[key]
        return Path(folder) if folder and Path(folder).is_dir() else None

    def reopen_last(self) -> None:
        recent = self.settings.recent()
        if recent:
            self.open_recent(recent[0])

    def open_recent(self, path: Path) -> None:
        if not path.exists():
            self.settings.remove_recent(path)
            self.statusBar().showMessage(f"{path} no longer exists; removed from the recent files")
            return
        self.open_paths([path])

    # -- drag and drop ------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_paths(paths)

    # -- running ------------------------------------------------------------------------------

    @Slot()
    def cancel(self) -> None:
        """Stop the current image at the next tile and drop the rest of the batch."""
        self.presenter.cancel()

    def run_again(self) -> None:
        self.presenter.run_again(self.queue.current_job())

    def remove_selected(self) -> None:
        self.presenter.remove(self.queue.current_job())

    def clear_finished(self) -> None:
        self.presenter.clear_finished()

    @Slot(int)
    def _draw_row(self, job_id: int) -> None:
        item = self.presenter.item(job_id)
        if item is None:
            return
        detail = {
            State.RUNNING: "0%",
            State.DONE: (
                ", ".join(filter(None, [f"in {item.result.seconds:.1f} s", item.result.weights]))
                if item.result is not None
                else ""
            ),
            State.FAILED: item.reason,
        }.get(item.state, "")
        self.queue.set_state(job_id, item.state, detail)
        self.queue.set_notes(job_id, item.notes)
        current = self.queue.current_job()
        if item.state is State.DONE and (current is None or self._no_result(current)):
            self.queue.select(job_id)  # show the first result while the rest run
        if item.state is State.RUNNING:
            self.image_progress.setValue(0)

    def _no_result(self, job_id: int) -> bool:
        item = self.presenter.item(job_id)
        return item is None or item.result is None

    @Slot(int)
    def _row_removed(self, job_id: int) -> None:
        self.queue.remove(job_id)
        if self.queue.current_job() is None:
            self._on_shown(None)

    @Slot(str)
    def _on_engine_ready(self, description: str) -> None:
        self.device_label.setText(description)
        if self.presenter.batch.running is None:
            self.statusBar().showMessage(f"Model ready on {description}", 5000)

    @Slot(str)
    def _on_engine_failed(self, reason: str) -> None:
        self.device_label.setText("no model")
        messages.error(self, "The model could not be loaded", reason)

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        self.image_progress.setMaximum(max(total, 1))
        self.image_progress.setValue(done)
        if total:
            self.queue.set_state(job_id, State.RUNNING, f"{100 * done // total}%")

    @Slot(bool)
    def _set_busy(self, busy: bool) -> None:
        self.image_progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.cancel_action.setEnabled(busy)

    @Slot(int, int)
    def _on_batch_progress(self, done: int, total: int) -> None:
        self.batch_progress.setMaximum(max(total, 1))
        self.batch_progress.setValue(min(done, total))
        self.batch_progress.setVisible(total > 1)

    # -- showing ------------------------------------------------------------------------------

    @Slot(int)
    def _show_job(self, job_id: int) -> None:
        self.presenter.show(job_id)

    @Slot(object)
    def _on_shown(self, shown: Shown | Item | None) -> None:
        """Draw a prepared photo; an unfinished or failed one (an Item) clears the panels."""
        if not isinstance(shown, Shown):
            self.compare.clear()
            self.split.clear()
            self.features.set_features(None)
            self.time_label.setText("")
            self.setWindowTitle(TITLE)
            if shown is not None and shown.state is State.FAILED:
                self.statusBar().showMessage(f"{shown.job.path.name}: {shown.reason}")
            return
        stored = shown.stored
        self.features.set_features(stored.features)
        note = "" if stored.features is not None else "released to save memory: F5 shows it again"
        self.compare.show(shown, note)
        self.split.show(shown)
        self.sync.refresh()
        self.device_label.setText(", ".join(filter(None, [stored.device, stored.weights])))
        self.time_label.setText(f"{stored.seconds:.2f} s")
        self.setWindowTitle(f"{self.presenter.item(shown.job_id).job.path.name} – {TITLE}")

    def _features_changed(self) -> None:
        self.settings["view/feature_mode"] = self.features.mode
        self.settings["view/feature_channel"] = self.features.channel
        fm = self.features.features
        if fm is not None:
            self.presenter.draw_features(fm, self.features.mode, self.features.channel)

    @Slot(object)
    def _on_features_drawn(self, picture) -> None:
        item = self.presenter.item(self.queue.current_job())
        if item is not None and item.result is not None:
            self.compare.update_features(picture, item.result.shapes["output"][0])

    def set_split(self, on: bool) -> None:
        self._show_page()
        self.settings["view/layout"] = "split" if on else "panels"
        QTimer.singleShot(0, self.sync.refresh)

    def set_evaluation(self, on: bool) -> None:
        if self.eval_action.isChecked() != on:
            self.eval_action.setChecked(on)  # toggled calls back here
            return
        self.settings["process/evaluate"] = on
        self.statusBar().showMessage(
            "Evaluation mode: each image is the ground truth; carsr shrinks it 2× and measures "
            "the enlargements against it"
            if on
            else "Evaluation mode off"
        )
        item = self.presenter.item(self.queue.current_job())
        if item is not None and item.state in FINISHED:
            self.run_again()
        elif item is None:
            self.compare.set_evaluation(on)

    def _zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"zoom {zoom * 100:.0f}%")

    # -- saving -------------------------------------------------------------------------------

    def save_current(self) -> Path | None:
        """Save the enlarged image shown (on a helper thread); the path being written, or None.
        An existing file is replaced only once the user has confirmed that very path."""
        job_id = self.queue.current_job()
        item = self.presenter.item(job_id)
        if item is None or item.result is None:
            self.statusBar().showMessage("Nothing to save yet: select a finished image")
            return None
        fmt = self.settings["save/format"]
        folder = save_folder.default_folder(item.job.path, self._folder("paths/save_dir"))
        chosen = messages.ask_save_file(
            self, self.presenter.default_path(job_id, folder, fmt), saving.name_filter()
        )
        if chosen is None:
            return None
        path = saving.with_suffix(chosen, fmt)
        if path.resolve() in self.presenter.inputs():
            messages.error(
                self, "Not saved", f"{path} is an input image; carsr never replaces its inputs."
            )
            return None
        replace = path.exists() or self.presenter.taken(path)  # taken: a save still queued
        if replace and not messages.confirm_replace(self, path):
            self.statusBar().showMessage(f"Not saved: {path} exists")
            return None
        self.settings["paths/save_dir"] = str(path.parent)
        self.statusBar().showMessage(f"Saving {path}…")
        self.presenter.save(job_id, path, replace=replace)
        return path

    def save_all(self) -> int:
        """Save every finished image to a folder as ``<stem>_x<scale>.<ext>``, numbered when
        taken, on a helper thread; returns how many are being saved."""
        done = [item for item in self.presenter.batch.items.values() if item.result is not None]
        if not done:
            self.statusBar().showMessage("Nothing to save yet")
            return 0
        start = save_folder.default_folder(done[0].job.path, self._folder("paths/save_dir"))
        folder = messages.ask_folder(self, "Save all enlarged images to", start)
        if folder is None:
            return 0
        self.settings["paths/save_dir"] = str(folder)
        count = self.presenter.save_all(folder, self.settings["save/format"])
        self.statusBar().showMessage(f"Saving {count} image{'s' * (count != 1)} to {folder}…")
        return count

    @Slot(list, list)
    def _on_saved(self, written: list[Path], errors: list[str]) -> None:
        if len(written) == 1 and not errors:
            self.statusBar().showMessage(f"Saved {written[0]}")
        elif written:
            folder = written[0].parent
            self.statusBar().showMessage(
                f"Saved {len(written)} image{'s' * (len(written) != 1)} to {folder}"
            )
        if errors:
            title = "Not saved" if not written else "Some images were not saved"
            messages.error(self, title, "\n".join(errors))

    # -- about and closing --------------------------------------------------------------------

    def about(self) -> None:
        from carsr_gui.resources import WeightsError, bundled_models, load_card

        lines = []
        for name in bundled_models() or ["clean"]:
            try:
                lines.append(f"{name} weights: {load_card(name=name).get('summary', '')}")
            except WeightsError as exc:
                lines.append(f"{name} weights: {exc}")
        summary = "<br>".join(lines)
        running = self.presenter.engine_description or "(loading)"
        messages.about(
            self,
            "About carsr",
            f"<b>carsr {__version__}</b><br>Sharper car photos, twice as large, with a Keras "
            f"autoencoder.<br><br>Model: {summary}<br>Running on: {running}"
            + f"<br><br>Open Sample shows {SAMPLE}: {SAMPLE_LICENCE}.",
        )

    @property
    def failed_count(self) -> int:
        return self.presenter.batch.count(State.FAILED)

    @property
    def done_count(self) -> int:
        return self.presenter.batch.count(State.DONE)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel the job, end the worker thread and wait for it (at most one tile), finish the
        saves asked for and remove the cached results."""
        if not self._closing:
            self._closing = True
            self.save_settings()
            self.presenter.close()
        event.accept()


def _local_paths(mime) -> list[Path]:
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def _resource(parent: QWidget, name: str) -> Path | None:
    from carsr_gui.resources import resource

    try:
        path = resource(name)
    except (OSError, ModuleNotFoundError, TypeError):
        return None
    return path if path.is_file() else None
