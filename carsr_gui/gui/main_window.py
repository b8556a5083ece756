"""The main window: queue, comparison views, menus, progress and saving.

The window owns a :class:`~carsr_gui.gui.worker.WorkerThread` and feeds it one job at a time;
everything that touches widgets runs here, in the GUI thread, in answer to the worker's signals.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtGui import QKeySequence as Keys
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from carsr_gui import __version__, image_io
from carsr_gui.gui import messages, saving
from carsr_gui.gui.compare_view import CompareView
from carsr_gui.gui.feature_panel import FeatureControls
from carsr_gui.gui.queue_view import QueueView, State
from carsr_gui.gui.saving import FORMAT_LABELS
from carsr_gui.gui.settings import MAX_MEGAPIXELS, TILES, Settings
from carsr_gui.gui.split_view import SplitView
from carsr_gui.gui.worker import (
    EngineFactory,
    EngineOptions,
    Job,
    Outcome,
    WorkerThread,
    engine_factory,
)
from carsr_gui.gui.zoom_view import ViewSync

log = logging.getLogger(__name__)

#: Finished images whose full feature map is kept (each can take up to 128 MB).
KEEP_FEATURES = 4
TITLE = "carsr: sharper car photos, twice as large"
SAMPLE = "sample_car.png"
SAMPLE_LICENCE = (
    "a street scene with a red saloon, drawn by code and dedicated to the public domain "
    "(CC0 1.0; see LICENSES.md in carsr's resources)"
)


@dataclass
class Entry:
    job: Job
    state: State = State.WAITING
    outcome: Outcome | None = None
    reason: str = ""


def image_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given (an unreadable one fails in the queue with its reason); folders become
    the images directly inside them, by name."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                child
                for child in sorted(path.iterdir())
                if child.is_file() and child.suffix.lower() in image_io.INPUT_SUFFIXES
            )
        else:
            files.append(path)
    return files


class MainWindow(QMainWindow):
    """``engine_factory`` replaces the bundled model (tests pass a tiny one); ``weights`` points the
    default engine at another weights file."""

    batch_finished = Signal()  # the queue has run dry: every image is done, failed or cancelled

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
        self._entries: dict[int, Entry] = {}
        self._pending: deque[int] = deque()
        self._running: int | None = None
        self._next_id = 1
        self._kept_features: deque[int] = deque()
        self._batch = {"total": 0, "done": 0, "failed": 0, "start": 0.0}
        self._closing = False
        self.engine_description = ""

        self.setWindowTitle(TITLE)
        icon = _resource(self, "carsr.png")
        if icon is not None:
            self.setWindowIcon(QIcon(str(icon)))
        self.setAcceptDrops(True)
        self._build_views()
        self._build_actions()
        self._build_status_bar()
        self._build_menus_and_toolbar()
        self._restore_settings()

        self.worker_thread = WorkerThread(self._make_factory(), self)
        w = self.worker_thread
        w.engine_loading.connect(self._on_engine_loading)
        w.engine_ready.connect(self._on_engine_ready)
        w.engine_failed.connect(self._on_engine_failed)
        w.started.connect(self._on_started)
        w.loaded.connect(self._on_loaded)
        w.progress.connect(self._on_progress)
        w.result.connect(self._on_result)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        w.finished.connect(self._on_finished)
        self.statusBar().showMessage("Loading TensorFlow and the model in the background…")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # Start loading TensorFlow once the window is up, so that it shows at once.
        QTimer.singleShot(0, self._start_worker)

    def _start_worker(self) -> None:
        if not self._closing and not self.worker_thread.is_running():
            self.worker_thread.start()

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
        self.split.before_changed.connect(lambda key: self._store("view/before", key))
        self.sync.zoom_changed.connect(self._zoom_changed)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.image_progress = QProgressBar()
        self.image_progress.setMaximumWidth(160)
        self.image_progress.setFormat("image %p%")
        self.batch_progress = QProgressBar()
        self.batch_progress.setMaximumWidth(180)
        self.batch_progress.setFormat("%v of %m images")
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

    def _action(self, text: str, slot, shortcut=None, *, tip: str = "", checkable=False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        (action.toggled if checkable else action.triggered).connect(slot)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a("&Open…", self.open_dialog, Keys.StandardKey.Open, tip="Open images")
        self.open_folder_action = a(
            "Open &Folder…",
            self.open_folder_dialog,
            "Ctrl+Shift+O",
            tip="Open every image in a folder",
        )
        self.sample_action = a(
            "Open &Sample",
            self.open_sample,
            "Ctrl+Alt+O",
            tip="Open the car photo shipped with carsr",
        )
        self.save_action = a(
            "&Save…", self.save_current, Keys.StandardKey.Save, tip="Save the enlarged image shown"
        )
        self.save_all_action = a(
            "Save &All…", self.save_all, "Ctrl+Shift+S", tip="Save every enlarged image to a folder"
        )
        self.reopen_action = a(
            "Reopen &Last", self.reopen_last, "Ctrl+Shift+T", tip="Open the most recent file again"
        )
        self.quit_action = a("&Quit", self.close, Keys.StandardKey.Quit)
        self.cancel_action = a(
            "&Cancel", self.cancel, "Esc", tip="Stop the current image and the rest of the batch"
        )
        self.rerun_action = a(
            "&Run Again",
            self.run_again,
            "F5",
            tip="Process the selected image again with the current settings",
        )
        self.remove_action = a("&Remove from Queue", self.remove_selected, Keys.StandardKey.Delete)
        self.clear_action = a("Clear &Finished", self.clear_finished, "Ctrl+Shift+Del")
        self.eval_action = a(
            "&Evaluation Mode",
            self.set_evaluation,
            "Ctrl+E",
            tip="Treat each image as ground truth: shrink it 2×, enlarge it, and measure PSNR/SSIM",
            checkable=True,
        )
        self.split_action = a(
            "&Before/After Split",
            self._split_toggled,
            "Ctrl+T",
            tip="One large view with a line to drag between before and after",
            checkable=True,
        )
        self.zoom_in_action = a(
            "Zoom &In", lambda: self.sync.zoom_by(1.25), Keys.StandardKey.ZoomIn
        )
        self.zoom_out_action = a(
            "Zoom &Out", lambda: self.sync.zoom_by(0.8), Keys.StandardKey.ZoomOut
        )
        self.fit_action = a("&Fit", self.sync.fit, "Ctrl+0", tip="Fit the image in the panels")
        self.zoom_actions = {
            z: a(
                f"{z}%",
                lambda _=False, z=z: self.sync.set_zoom(z / 100),
                f"Ctrl+{z // 100}",
                tip=f"{z}% of the output's pixels",
            )
            for z in (100, 200, 400)
        }
        self.quality_action = a("JPEG/WebP &Quality…", self.ask_quality)
        self.tta_action = a(
            "&Best Quality (8 Passes)",
            lambda on: self._set_engine_option("process/tta", on),
            tip="Average the model over 8 flips and turns of each tile: "
            "about 0.1 dB sharper, 8× slower",
            checkable=True,
        )
        self.about_action = a("&About carsr", self.about)
        self.about_qt_action = a("About &Qt", QApplication.aboutQt)

    def _choice_menu(self, title: str, key: str, choices: dict, slot) -> QMenu:
        menu = QMenu(title, self)
        group = QActionGroup(menu)
        current = self.settings[key]
        for value, label in choices.items():
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(value == current)
            action.setData(value)
            group.addAction(action)
            action.triggered.connect(lambda _=False, v=value: slot(v))
        return menu

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addActions([self.open_action, self.open_folder_action, self.sample_action])
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        file.addSeparator()
        file.addActions([self.save_action, self.save_all_action])
        file.addSeparator()
        file.addAction(self.quit_action)

        process = bar.addMenu("&Process")
        process.addActions([self.cancel_action, self.rerun_action, self.eval_action])
        process.addSeparator()
        process.addActions([self.remove_action, self.clear_action])

        view = bar.addMenu("&View")
        view.addAction(self.split_action)
        view.addSeparator()
        view.addActions([self.zoom_in_action, self.zoom_out_action, self.fit_action])
        view.addActions(list(self.zoom_actions.values()))

        options = bar.addMenu("&Settings")
        self.scale_menu = self._choice_menu(
            "&Scale", "process/scale", {2: "2×", 4: "4× (two passes)"}, self.set_scale
        )
        self.device_menu = self._choice_menu(
            "&Device",
            "process/device",
            {"auto": "Automatic", "cpu": "CPU", "gpu": "GPU"},
            lambda v: self._set_engine_option("process/device", v),
        )
        self.tile_menu = self._choice_menu(
            "&Tile Size",
            "process/tile",
            {t: f"{t} px" for t in TILES},
            lambda v: self._set_engine_option("process/tile", v),
        )
        self.pixel_limit_menu = self._choice_menu(
            "&Pixel Limit",
            "process/max_megapixels",
            {mp: f"Refuse photos over {mp} MP" for mp in MAX_MEGAPIXELS},
            lambda v: self._store("process/max_megapixels", v),
        )
        self.format_menu = self._choice_menu(
            "Output &Format", "save/format", FORMAT_LABELS, lambda v: self._store("save/format", v)
        )
        menus = (
            self.scale_menu,
            self.device_menu,
            self.tile_menu,
            self.pixel_limit_menu,
            self.format_menu,
        )
        for menu in menus:
            options.addMenu(menu)
        options.addAction(self.tta_action)
        options.addAction(self.quality_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.about_action, self.about_qt_action])

        tools = self.addToolBar("Main")
        tools.setObjectName("mainToolbar")
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tools.addActions(
            [self.open_action, self.sample_action, self.save_action, self.save_all_action]
        )
        tools.addSeparator()
        tools.addActions([self.eval_action, self.split_action])
        tools.addSeparator()
        tools.addAction(self.fit_action)
        tools.addActions(list(self.zoom_actions.values()))
        tools.addSeparator()
        tools.addAction(self.cancel_action)

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

    def _store(self, key: str, value) -> None:
        self.settings[key] = value

    def _make_factory(self) -> EngineFactory:
        if self._factory_override is not None:
            return self._factory_override
        s = self.settings
        return engine_factory(
            EngineOptions(self._weights, s["process/device"], s["process/tile"], s["process/tta"])
        )

    def _set_engine_option(self, key: str, value) -> None:
        if self.settings[key] == value:
            return
        self.settings[key] = value
        self.worker_thread.configure(self._make_factory())

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
        files = image_files(paths)
        for path in paths:
            if path.exists():
                self.settings.add_recent(path)
        if not files:
            self.statusBar().showMessage("No images found in " + ", ".join(p.name for p in paths))
            return []
        ids = [self._enqueue(f) for f in files]
        if self.queue.current_job() is None:
            self.queue.select(ids[0])
        self._pump()
        return ids

    def _enqueue(self, path: Path) -> int:
        job_id = self._next_id
        self._next_id += 1
        self._entries[job_id] = Entry(self._new_job(job_id, path))
        self.queue.add(job_id, path)
        self._queue_job(job_id)
        return job_id

    def _new_job(self, job_id: int, path: Path) -> Job:
        evaluate = self.eval_action.isChecked()
        scale = 2 if evaluate else self.settings["process/scale"]
        max_pixels = self.settings["process/max_megapixels"] * 1_000_000
        return Job(job_id, path, scale, evaluate, max_pixels)

    def _queue_job(self, job_id: int) -> None:
        if self._running is None and not self._pending:
            self._batch = {"total": 0, "done": 0, "failed": 0, "start": time.perf_counter()}
        self._batch["total"] += 1
        self._pending.append(job_id)
        self._update_batch_progress()

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

    def _fill_recent(self) -> None:
        menu = self.recent_menu
        menu.clear()
        recent = self.settings.recent()
        for n, path in enumerate(recent, 1):
            label = f"&{n} {path.name}" if n < 10 else path.name
            action = menu.addAction(label)
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _=False, p=path: self.open_recent(p))
        if not recent:
            menu.addAction("(none)").setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.reopen_action)
        menu.addAction("Clear List", lambda: self._store("paths/recent", []))

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

    def _pump(self) -> None:
        if self._running is not None or self._closing:
            return
        while self._pending:
            job_id = self._pending.popleft()
            entry = self._entries.get(job_id)
            if entry is None:
                continue
            self._running = job_id
            entry.state = State.RUNNING
            self.queue.set_state(job_id, State.RUNNING, "0%")
            self.image_progress.setValue(0)
            self._set_busy(True)
            self._start_worker()
            self.worker_thread.submit(entry.job)
            return
        self._set_busy(False)

    @Slot()
    def cancel(self) -> None:
        """Stop the current image at the next tile and drop the rest of the batch."""
        for job_id in self._pending:
            self._mark(job_id, State.CANCELLED, "")
        self._pending.clear()
        if self._running is not None:
            self.worker_thread.cancel(self._running)
            self.statusBar().showMessage("Cancelling…")
        self._update_batch_progress()

    def run_again(self) -> None:
        job_id = self.queue.current_job()
        if job_id is None or job_id == self._running or job_id in self._pending:
            return
        entry = self._entries[job_id]
        entry.job = self._new_job(job_id, entry.job.path)
        entry.outcome, entry.reason = None, ""
        self._mark(job_id, State.WAITING, "")
        self._queue_job(job_id)
        self._show_job(job_id)
        self._pump()

    def remove_selected(self) -> None:
        job_id = self.queue.current_job()
        if job_id is None:
            return
        if job_id == self._running:
            self.worker_thread.cancel(job_id)
        if job_id in self._pending:
            self._pending.remove(job_id)
        self._forget(job_id)

    def clear_finished(self) -> None:
        for job_id, entry in list(self._entries.items()):
            if entry.state in (State.DONE, State.FAILED, State.CANCELLED):
                self._forget(job_id)

    def _forget(self, job_id: int) -> None:
        self._entries.pop(job_id, None)
        if job_id in self._kept_features:
            self._kept_features.remove(job_id)
        self.queue.remove(job_id)
        if self.queue.current_job() is None:
            self.compare.clear()
            self.split.clear()

    def _mark(self, job_id: int, state: State, detail: str) -> None:
        entry = self._entries.get(job_id)
        if entry is not None:
            entry.state = state
        self.queue.set_state(job_id, state, detail)

    @Slot()
    def _on_engine_loading(self) -> None:
        self.device_label.setText("model loading…")

    @Slot(str)
    def _on_engine_ready(self, description: str) -> None:
        self.engine_description = description
        self.device_label.setText(description)
        if self._running is None:
            self.statusBar().showMessage(f"Model ready on {description}", 5000)

    @Slot(str)
    def _on_engine_failed(self, reason: str) -> None:
        self.device_label.setText("no model")
        messages.error(self, "The model could not be loaded", reason)

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        entry = self._entries.get(job_id)
        if entry is not None:
            self.statusBar().showMessage(f"Enlarging {entry.job.path.name}…")

    @Slot(int, object, int, int)
    def _on_loaded(self, job_id: int, thumb, width: int, height: int) -> None:
        self.queue.set_thumbnail(job_id, thumb, width, height)

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        self.image_progress.setMaximum(max(total, 1))
        self.image_progress.setValue(done)
        if job_id == self._running and total:
            self.queue.set_state(job_id, State.RUNNING, f"{100 * done // total}%")

    @Slot(int, object)
    def _on_result(self, job_id: int, outcome: Outcome) -> None:
        entry = self._entries.get(job_id)
        if entry is None:
            return
        entry.outcome = outcome
        result = outcome.result
        self._mark(job_id, State.DONE, f"in {result.seconds:.1f} s")
        self._keep_features(job_id)
        for note in outcome.notes:
            log.info("%s: %s", entry.job.path, note)
        current = self.queue.current_job()
        if current == job_id:
            self._show_job(job_id)
        elif current is None or self._entries.get(current, entry).outcome is None:
            self.queue.select(job_id)

    @Slot(int, str)
    def _on_failed(self, job_id: int, reason: str) -> None:
        self._batch["failed"] += 1
        entry = self._entries.get(job_id)
        if entry is not None:
            entry.reason = reason
        self._mark(job_id, State.FAILED, reason)
        if self.queue.current_job() == job_id:
            self._show_job(job_id)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        self._mark(job_id, State.CANCELLED, "")

    @Slot(int)
    def _on_finished(self, job_id: int) -> None:
        if self._running == job_id:
            self._running = None
        self._batch["done"] += 1
        self._update_batch_progress()
        if self._closing:
            return
        self._pump()
        if self._running is None and not self._pending:
            b = self._batch
            text = f"Finished {b['done']} image{'s' if b['done'] != 1 else ''}"
            if b["failed"]:
                text += f", {b['failed']} failed"
            self.statusBar().showMessage(f"{text} in {time.perf_counter() - b['start']:.1f} s")
            self.batch_finished.emit()

    def _set_busy(self, busy: bool) -> None:
        self.image_progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.cancel_action.setEnabled(busy or bool(self._pending))

    def _update_batch_progress(self) -> None:
        b = self._batch
        self.batch_progress.setMaximum(max(b["total"], 1))
        self.batch_progress.setValue(min(b["done"], b["total"]))
        self.batch_progress.setVisible(b["total"] > 1)

    def _keep_features(self, job_id: int) -> None:
        self._kept_features.append(job_id)
        while len(self._kept_features) > KEEP_FEATURES:
            old = self._entries.get(self._kept_features.popleft())
            if old is not None and old.outcome is not None:
                old.outcome.result.features = None

    # -- showing ------------------------------------------------------------------------------

    @Slot(int)
    def _show_job(self, job_id: int) -> None:
        entry = self._entries.get(job_id)
        if entry is None or entry.outcome is None:
            self.compare.clear()
            self.split.clear()
            self.features.set_features(None)
            self.time_label.setText("")
            self.setWindowTitle(TITLE)
            if entry is not None and entry.state is State.FAILED:
                self.statusBar().showMessage(f"{entry.job.path.name}: {entry.reason}")
            return
        outcome = entry.outcome
        result = outcome.result
        self.features.set_features(result.features)
        note = "" if result.features is not None else "released to save memory: F5 shows it again"
        self.compare.show_outcome(outcome, self.features.picture(), note)
        self.split.show_outcome(outcome)
        self.sync.refresh()
        self.device_label.setText(result.device)
        self.time_label.setText(f"{result.seconds:.2f} s")
        self.setWindowTitle(f"{entry.job.path.name} – {TITLE}")

    def _features_changed(self) -> None:
        self.settings["view/feature_mode"] = self.features.mode
        self.settings["view/feature_channel"] = self.features.channel
        entry = self._entries.get(self.queue.current_job() or -1)
        if entry is not None and entry.outcome is not None:
            out = entry.outcome.result.output
            self.compare.update_features(self.features.picture(), out.shape[0])

    def _split_toggled(self, on: bool) -> None:
        self.stack.setCurrentWidget(self.split if on else self.compare)
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
        entry = self._entries.get(self.queue.current_job() or -1)
        if entry is not None and entry.state in (State.DONE, State.FAILED, State.CANCELLED):
            self.run_again()
        elif entry is None:
            self.compare.set_evaluation(on)

    def _zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"zoom {zoom * 100:.0f}%")

    # -- saving -------------------------------------------------------------------------------

    def _inputs(self) -> set[Path]:
        return {e.job.path.resolve() for e in self._entries.values()}

    def _default_name(self, entry: Entry, folder: Path, fmt: str) -> Path:
        return saving.default_path(entry.job.path, folder, entry.job.scale, fmt, self._inputs())

    def save_current(self) -> Path | None:
        """Save the enlarged image shown; the dialog asks before replacing a file."""
        entry = self._entries.get(self.queue.current_job() or -1)
        if entry is None or entry.outcome is None:
            self.statusBar().showMessage("Nothing to save yet: select a finished image")
            return None
        fmt = self.settings["save/format"]
        folder = self._folder("paths/save_dir") or entry.job.path.parent
        path = messages.ask_save_file(
            self, self._default_name(entry, folder, fmt), saving.name_filter()
        )
        if path is None:
            return None
        path = saving.with_suffix(path, fmt)
        if path.resolve() in self._inputs():
            messages.error(
                self, "Not saved", f"{path} is an input image; carsr never replaces its inputs."
            )
            return None
        try:
            self._write(entry, path, None)
        except image_io.ImageError as exc:
            messages.error(self, "Not saved", str(exc))
            return None
        self.settings["paths/save_dir"] = str(path.parent)
        self.statusBar().showMessage(f"Saved {path}")
        return path

    def save_all(self) -> list[Path]:
        """Save every finished image to a folder as ``<stem>_x<scale>.<ext>``, numbered when taken."""
        done = [e for e in self._entries.values() if e.outcome is not None]
        if not done:
            self.statusBar().showMessage("Nothing to save yet")
            return []
        folder = messages.ask_folder(
            self, "Save all enlarged images to", self._folder("paths/save_dir")
        )
        if folder is None:
            return []
        fmt = self.settings["save/format"]
        saved, errors = [], []
        for entry in done:
            try:
                saved.append(self._write(entry, self._default_name(entry, folder, fmt), fmt))
            except image_io.ImageError as exc:
                errors.append(str(exc))
        self.settings["paths/save_dir"] = str(folder)
        self.statusBar().showMessage(
            f"Saved {len(saved)} image{'s' * (len(saved) != 1)} to {folder}"
        )
        if errors:
            messages.error(self, "Some images were not saved", "\n".join(errors))
        return saved

    def _write(self, entry: Entry, path: Path, fmt: str | None) -> Path:
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            return saving.write(entry.outcome, path, fmt, self.settings["save/quality"])
        finally:
            QApplication.restoreOverrideCursor()

    # -- about and closing --------------------------------------------------------------------

    def about(self) -> None:
        from carsr_gui.resources import WeightsError, load_card

        try:
            summary = load_card().get("summary", "")
        except WeightsError as exc:
            summary = str(exc)
        messages.about(
            self,
            "About carsr",
            f"<b>carsr {__version__}</b><br>Sharper car photos, twice as large, with a Keras "
            f"autoencoder.<br><br>Model: {summary}<br>Running on: {self.engine_description or '(loading)'}"
            + f"<br><br>Open Sample shows {SAMPLE}: {SAMPLE_LICENCE}.",
        )

    @property
    def failed_count(self) -> int:
        return sum(e.state is State.FAILED for e in self._entries.values())

    @property
    def done_count(self) -> int:
        return sum(e.state is State.DONE for e in self._entries.values())

    def entry(self, job_id: int) -> Entry:
        return self._entries[job_id]

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel the job, end the worker thread and wait for it (at most one tile)."""
        if not self._closing:
            self._closing = True
            self.save_settings()
            self._pending.clear()
            if self._running is not None:
                self.worker_thread.cancel(self._running)
            self.worker_thread.stop()
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
