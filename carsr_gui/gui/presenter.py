"""The window's decisions, apart from its widgets (Mantid Imaging's presenter): it owns the batch
(:mod:`carsr_gui.batch`, the model), the worker thread, the result cache and the helper threads,
and tells the view what changed through signals. The view asks the user (dialogs) and forwards
clicks; nothing here touches a widget.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from carsr_gui import batch, image_io
from carsr_gui.batch import Batch, Item, Job, ResultCache, Stored
from carsr_gui.gui import display
from carsr_gui.gui.settings import Settings
from carsr_gui.gui.tasks import Tasks
from carsr_gui.gui.worker import EngineFactory, WorkerThread

log = logging.getLogger(__name__)

#: Finished photos whose feature map stays in memory besides the one on screen (each can take
#: up to 128 MB; the full-size images are on disk): the newest one, until the next photo starts
#: (whose map is then being built), so that at most two maps are held, however long the batch.
KEEP_FEATURES = 1


class BatchPresenter(QObject):
    added = Signal(int, object)  # job id, path
    changed = Signal(int)  # job id: its state, reason or notes changed
    removed = Signal(int)
    thumbnail = Signal(int, object, int, int)  # job id, RGB array, width, height
    progress = Signal(int, int, int)  # job id, tiles done, tiles in all
    busy = Signal(bool)  # a job runs or waits
    batch_progress = Signal(int, int)  # photos finished, photos in this run
    shown = Signal(object)  # a display.Shown, or the Item (None: nothing) that has no result
    features_drawn = Signal(object)  # the feature map redrawn (QImage or None)
    saved = Signal(list, list)  # paths written, one-line errors
    status = Signal(str)
    engine_loading = Signal()
    engine_ready = Signal(str)
    engine_failed = Signal(str)
    finished = Signal()  # the batch has run dry and the photo on screen is drawn

    def __init__(
        self,
        settings: Settings,
        factory: EngineFactory,
        cache: ResultCache | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.batch = Batch()
        self.cache = cache or ResultCache()
        self.worker_thread = WorkerThread(factory, self.cache, self)
        self.display_tasks = Tasks("display", self)
        self.save_tasks = Tasks("save", self)
        self._kept_features: deque[int] = deque()
        self._current: int | None = None  # the photo on screen (or asked for)
        self._generation = 0  # of display requests: only the newest one is shown
        self._finish_due = False
        self._start = 0.0
        self._closing = False
        #: Files chosen for a save, written or still queued: no later default name is one of
        #: them, and none is replaced without its own confirmation.
        self._taken: set[Path] = set()
        self.engine_description = ""
        w = self.worker_thread
        w.engine_loading.connect(self.engine_loading)
        w.engine_ready.connect(self._on_engine_ready)
        w.engine_failed.connect(self.engine_failed)
        w.started.connect(self._on_started)
        w.loaded.connect(self.thumbnail)
        w.progress.connect(self._on_progress)
        w.result.connect(self._on_result)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        w.finished.connect(self._on_finished)

    # -- the worker ---------------------------------------------------------------------------

    def start_worker(self) -> None:
        if not self._closing and not self.worker_thread.is_running():
            self.worker_thread.start()

    def configure(self, factory: EngineFactory) -> None:
        self.worker_thread.configure(factory)

    def _new_job(self, job_id: int, path: Path) -> Job:
        s = self.settings
        evaluate = s["process/evaluate"]
        return Job(
            job_id,
            path,
            2 if evaluate else s["process/scale"],
            evaluate,
            s["process/max_megapixels"] * 1_000_000,
            s["save/format"],
        )

    # -- queue --------------------------------------------------------------------------------

    def open_paths(self, paths: Iterable[Path]) -> tuple[list[int], list[Path]]:
        """Queue the photos (folders: the images inside); the new ids and the files skipped."""
        found = batch.expand(paths)
        for path in found.skipped:
            log.info("%s: %s", path, batch.SKIPPED_REASON)
        if self.batch.idle:
            self._start = time.perf_counter()
        ids = []
        for path in found.files:
            item = self.batch.add(self._new_job(self.batch.new_id(), path))
            ids.append(item.job.id)
            self.added.emit(item.job.id, path)
        self._pump()
        return ids, found.skipped

    def _pump(self) -> None:
        if self._closing:
            return
        item = self.batch.start_next()
        if item is not None:
            self._release_features(keep=0)
            self.changed.emit(item.job.id)
            self.start_worker()
            self.worker_thread.submit(item.job)
        self.busy.emit(not self.batch.idle)
        self._emit_batch_progress()

    def _emit_batch_progress(self) -> None:
        tally = sum(self.batch.tally.values())
        self.batch_progress.emit(
            tally, tally + len(self.batch.waiting) + (self.batch.running is not None)
        )

    def cancel(self) -> None:
        """Stop the running photo at the next tile and cancel the ones waiting."""
        for job_id in self.batch.cancel_waiting():
            self.changed.emit(job_id)
        if self.batch.running is not None:
            self.worker_thread.cancel(self.batch.running)
            self.status.emit("Cancelling…")
        self.busy.emit(not self.batch.idle)
        self._emit_batch_progress()
        self._maybe_finish()

    def run_again(self, job_id: int | None) -> None:
        """Process a finished photo again with the current settings."""
        item = self.batch.items.get(job_id) if job_id is not None else None
        if item is None or item.state not in batch.FINISHED:
            return
        if self.batch.idle:
            self._start = time.perf_counter()
        self._drop_result(self.batch.rerun(self._new_job(job_id, item.job.path)))
        self.changed.emit(job_id)
        if job_id == self._current:
            self.show(job_id)
        self._pump()

    def remove(self, job_id: int | None) -> None:
        if job_id is None or job_id not in self.batch.items:
            return
        if job_id == self.batch.running:
            self.worker_thread.cancel(job_id)
        item = self.batch.remove(job_id)
        if item is not None:
            self._drop_result(item.result)
        self.removed.emit(job_id)
        self.busy.emit(not self.batch.idle)

    def clear_finished(self) -> None:
        for job_id in self.batch.finished_ids():
            self.remove(job_id)

    def _drop_result(self, stored: Stored | None) -> None:
        if stored is not None:
            # After the saves already asked for, which may be reading these files.
            self.save_tasks.run(self.cache.discard, stored, done=lambda _: None)

    # -- the worker's answers -----------------------------------------------------------------

    @Slot(str)
    def _on_engine_ready(self, description: str) -> None:
        self.engine_description = description
        self.engine_ready.emit(description)

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        item = self.batch.items.get(job_id)
        if item is not None:
            self.status.emit(f"Enlarging {item.job.path.name}…")

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if job_id == self.batch.running:
            self.progress.emit(job_id, done, total)

    @Slot(int, object)
    def _on_result(self, job_id: int, stored: Stored) -> None:
        if self._closing:  # a queued answer after close(): the cache and helpers are gone
            return
        item = self.batch.done(job_id, stored)
        if item is None:  # removed while it ran
            self.save_tasks.run(self.cache.discard, stored, done=lambda _: None)
            return
        for note in stored.notes:
            log.info("%s: %s", item.job.path, note)
        self._keep_features(job_id)
        self.changed.emit(job_id)
        if self._current == job_id:
            self.show(job_id)

    @Slot(int, str)
    def _on_failed(self, job_id: int, reason: str) -> None:
        if not self._closing and self.batch.failed(job_id, reason) is not None:
            self.changed.emit(job_id)
            if self._current == job_id:
                self.show(job_id)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        if self.batch.cancelled(job_id) is not None:
            self.changed.emit(job_id)

    @Slot(int)
    def _on_finished(self, job_id: int) -> None:
        if self.batch.running == job_id:  # ended without an answer (cannot happen; be safe)
            self.batch.cancelled(job_id)
        self._emit_batch_progress()
        if self._closing:
            return
        self._pump()
        if self.batch.idle:
            self._finish_due = True
            self._maybe_finish()

    def _maybe_finish(self) -> None:
        """The batch is done and what it shows is drawn: say what happened to every photo."""
        if not (self._finish_due and self.batch.idle and not self.display_tasks.pending):
            return
        self._finish_due = False
        seconds = time.perf_counter() - self._start
        self.status.emit(f"Finished: {self.batch.summary()} in {seconds:.1f} s")
        self.finished.emit()

    def _keep_features(self, job_id: int) -> None:
        self._kept_features.append(job_id)
        self._release_features(KEEP_FEATURES)

    def _release_features(self, keep: int) -> None:
        """Drop the feature maps of all but the ``keep`` newest finished photos; the photo on
        screen keeps its own (it is redrawn when the batch moves on)."""
        on_screen = [j for j in self._kept_features if j == self._current]
        rest = deque(j for j in self._kept_features if j != self._current)
        while len(rest) > keep:
            old = self.batch.items.get(rest.popleft())
            if old is not None and old.result is not None:
                old.result.features = None
        self._kept_features = deque([*on_screen, *rest])

    # -- showing ------------------------------------------------------------------------------

    def item(self, job_id: int | None) -> Item | None:
        return None if job_id is None else self.batch.items.get(job_id)

    def show(self, job_id: int | None) -> None:
        """Prepare the photo's panels off the GUI thread; ``shown`` carries them here."""
        self._current = job_id
        self._generation += 1
        generation = self._generation
        item = self.item(job_id)
        if item is None or item.result is None:
            self.shown.emit(item)
            return
        mode, channel = self.settings["view/feature_mode"], self.settings["view/feature_channel"]

        def ready(shown: display.Shown) -> None:
            if generation == self._generation:
                self.shown.emit(shown)
            self._maybe_finish()

        def failed(exc: BaseException) -> None:
            if generation == self._generation:
                self.status.emit(f"{item.job.path.name}: cannot show the result ({exc})")
            self._maybe_finish()

        self.display_tasks.run(
            display.prepare, job_id, item.result, mode, channel, done=ready, failed=failed
        )

    def draw_features(self, features, mode: str, channel: int) -> None:
        """Redraw the feature map on screen in another mode, off the GUI thread."""
        generation = self._generation

        def ready(picture) -> None:
            if generation == self._generation:
                self.features_drawn.emit(picture)
            self._maybe_finish()

        self.display_tasks.run(
            display.draw_features, features, mode, channel, done=ready, failed=lambda _: None
        )

    # -- saving -------------------------------------------------------------------------------

    def inputs(self) -> set[Path]:
        return {item.job.path.resolve() for item in self.batch.items.values()}

    def taken(self, path: Path) -> bool:
        """Whether ``path`` was chosen for a save (its file may not be written yet)."""
        return path.resolve() in self._taken

    def default_path(self, job_id: int, folder: Path, fmt: str) -> Path:
        """A name for Save: free in ``folder``, and chosen for no other save."""
        job = self.batch.items[job_id].job
        return self._free_path(job, folder, fmt)

    def _free_path(self, job: Job, folder: Path, fmt: str) -> Path:
        protected = self.inputs() | self._taken
        return image_io.output_path(job.path, folder, job.scale, fmt, False, protected)

    def save(self, job_id: int, path: Path, *, replace: bool = False) -> None:
        """Write the photo's result to ``path`` (format from its suffix) off the GUI thread. The
        name is taken from now on; an existing file is replaced only with ``replace`` (the user
        confirmed this very path), else the write is refused with its reason."""
        stored = self.batch.items[job_id].result
        quality = self.settings["save/quality"]
        self._taken.add(path.resolve())
        self.save_tasks.run(
            partial(stored.save, replace=replace),
            path,
            None,
            quality,
            done=lambda written: self.saved.emit([written], []),
            failed=lambda exc: self.saved.emit([], [str(exc)]),
        )

    def save_all(self, folder: Path, fmt: str) -> int:
        """Write every finished result to ``folder`` as ``<stem>_x<scale>.<ext>``, numbered when
        the name is taken (now, or by a save still queued); off the GUI thread, and never over an
        existing file. Returns how many are being written."""
        quality, jobs = self.settings["save/quality"], []
        for item in self.batch.items.values():
            if item.result is not None:
                path = self._free_path(item.job, folder, fmt)
                self._taken.add(path.resolve())
                jobs.append((item.job, item.result, path))

        def write_all() -> tuple[list[Path], list[str]]:
            written, errors = [], []
            for job, stored, path in jobs:
                try:
                    written.append(stored.save(path, fmt, quality))
                except Exception as exc:  # one photo's failure does not stop the others
                    errors.append(
                        str(exc)
                        if isinstance(exc, image_io.ImageError)
                        else f"{job.path}: {batch.reason_of(exc)}"
                    )
            return written, errors

        self.save_tasks.run(write_all, done=lambda result: self.saved.emit(*result))
        return len(jobs)

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel the job, end the worker thread (at most one tile), finish the saves asked for,
        and remove the result cache."""
        if self._closing:
            return
        self._closing = True
        self.batch.waiting.clear()
        if self.batch.running is not None:
            self.worker_thread.cancel(self.batch.running)
        self.worker_thread.stop()
        self.display_tasks.close()
        self.save_tasks.close()
        self.cache.close()
