"""The inference worker: one QObject in one QThread that owns the engine (after superqt's
``_qthreading.py`` and Picard's ``util/thread.py``).

The window sends it one :class:`~carsr_gui.batch.Job` at a time, run by
:func:`carsr_gui.batch.run` (the per-photo pipeline of ``carsr upscale`` too, with the same
reasons). It answers with signals that Qt queues to the GUI thread: ``started``, ``loaded``
(thumbnail and size), ``progress`` (tiles), then ``result`` (a :class:`~carsr_gui.batch.Stored`:
the full-size images are written to the window's :class:`~carsr_gui.batch.ResultCache` here, off
the GUI thread, and not kept in memory), ``failed`` (a one-line reason; logged, with the
traceback unless the file was at fault) or ``cancelled``, and always ``finished``. Cancelling
sets the job's :class:`~carsr_gui.engine.CancelToken`, which the engine checks between tiles; it
is safe from any thread.

``carsr_gui.engine`` (and with it TensorFlow) is imported here only inside the worker thread, so the
window shows before TensorFlow has loaded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from carsr_gui import batch
from carsr_gui.batch import Job, ResultCache, State, Stored
from carsr_gui.gui import garbage
from carsr_gui.gui.imaging import thumbnail
from carsr_gui.tiling import DEFAULT_TILE

log = logging.getLogger(__name__)

WORKER_STACK_BYTES = 256 << 20

#: Builds the engine; called once, in the worker thread.
EngineFactory = Callable[[], Any]


@dataclass(frozen=True)
class EngineOptions:
    weights: Path | None = None
    device: str = "auto"
    tile: int = DEFAULT_TILE
    tta: bool = False
    model: str = "auto"  # carsr_gui.model_choice.MODEL_SETTINGS


def engine_factory(options: EngineOptions) -> EngineFactory:
    """The factory the window uses: the bundled weights (every file the model setting can pick,
    chosen per photo) or the given ones, on the chosen device."""

    def build():
        from carsr_gui.model_choice import Engines

        return Engines(
            options.model,
            options.weights,
            device=options.device,
            tile=options.tile,
            tta=options.tta,
        )

    return build


class Worker(QObject):
    engine_loading = Signal()
    engine_ready = Signal(str)  # the engine's description: device and precision
    engine_failed = Signal(str)
    started = Signal(int)
    loaded = Signal(int, object, int, int)  # job id, thumbnail (RGB array), width, height
    progress = Signal(int, int, int)  # job id, tiles done, tiles in all
    result = Signal(int, object)  # job id, Stored
    failed = Signal(int, str)  # job id, reason
    cancelled = Signal(int)
    finished = Signal(int)

    def __init__(self, factory: EngineFactory, cache: ResultCache) -> None:
        super().__init__()
        self._factory = factory
        self._cache = cache
        self._engine = None
        self._engine_error: str | None = None
        self._lock = threading.Lock()
        self._tokens: dict[int, Any] = {}
        self._submitted: set[int] = set()  # jobs sent and not yet finished
        self._cancelled: set[int] = set()

    # -- called from the GUI thread ----------------------------------------------------------

    def expect(self, job_id: int) -> None:
        """``job_id`` is on its way (called before it is sent): from now on it can be cancelled."""
        with self._lock:
            self._submitted.add(job_id)
            self._cancelled.discard(job_id)

    def cancel(self, job_id: int) -> None:
        """Stop ``job_id`` at the next tile, or before it starts. Safe from any thread. A cancel
        that comes after the job has finished is ignored: it must not stop a later run of it."""
        with self._lock:
            if job_id not in self._submitted:
                return
            self._cancelled.add(job_id)
            token = self._tokens.get(job_id)
        if token is not None:
            token.cancel()

    # -- slots, run in the worker thread ------------------------------------------------------

    @Slot(object)
    def set_factory(self, factory: EngineFactory) -> None:
        """Use another engine (device or tile changed); it is built before the next job."""
        self._factory = factory
        self._engine = None
        self._engine_error = None
        self.load_engine()

    @Slot()
    def load_engine(self) -> None:
        if self._engine is not None or self._engine_error is not None:
            return
        self.engine_loading.emit()
        try:
            self._engine = self._factory()  # the Engine traces its model as it is built
        except Exception as exc:  # WeightsError, no GPU, a bad tile, a broken TensorFlow
            log.exception("cannot load the model")
            self._engine_error = str(exc) or type(exc).__name__
            self.engine_failed.emit(self._engine_error)
            return
        self.engine_ready.emit(self._engine.description)

    @Slot(object)
    def run(self, job: Job) -> None:
        from carsr_gui.engine import CancelToken

        token = CancelToken()
        with self._lock:
            self._tokens[job.id] = token
            if job.id in self._cancelled:
                self._cancelled.discard(job.id)
                token.cancel()
        self.started.emit(job.id)
        try:
            outcome = batch.run(
                job,
                self._loaded_engine,
                self._keep,
                progress=lambda done, total: self.progress.emit(job.id, done, total),
                cancel=token,
                loaded=lambda photo: self.loaded.emit(job.id, thumbnail(photo.rgb), *photo.size),
                log=log,
            )
            if outcome.state is State.DONE:
                self.result.emit(job.id, outcome.value)
            elif outcome.state is State.CANCELLED:
                self.cancelled.emit(job.id)
            else:
                self.failed.emit(job.id, outcome.reason)
        finally:
            with self._lock:
                self._tokens.pop(job.id, None)
                self._submitted.discard(job.id)
                self._cancelled.discard(job.id)
            self.finished.emit(job.id)

    def _loaded_engine(self):
        self.load_engine()
        if self._engine is None:
            raise RuntimeError(f"the model could not be loaded: {self._engine_error}")
        return self._engine

    def _keep(self, done: batch.Enlarged) -> Stored:
        """The full-size images go to the cache, off the GUI thread; memory keeps none."""
        stored = self._cache.keep(done)
        log.info("%s: %.2f s", done.job.path, done.result.seconds)
        return stored


class WorkerThread(QObject):
    """The QThread and its worker: start, submit, cancel, and stop (cancel, quit, wait).

    It repeats the worker's signals as its own. This object lives in the GUI thread, so they reach
    any receiver there, a plain function included, in the GUI thread (a function connected to the
    worker itself would run in the worker thread).
    """

    engine_loading = Signal()
    engine_ready = Signal(str)
    engine_failed = Signal(str)
    started = Signal(int)
    loaded = Signal(int, object, int, int)
    progress = Signal(int, int, int)
    result = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)
    finished = Signal(int)

    _submit = Signal(object)
    _configure = Signal(object)

    def __init__(
        self, factory: EngineFactory, cache: ResultCache, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("carsr-inference")
        # TensorFlow's first trace of the model crashed here (segmentation fault in graph
        # building) when it ran during a job with a full-size photo on the default 8 MB thread
        # stack; the ModelRunner traces when it is built, before any job, and a large stack is a
        # second guard (the pages are reserved, not used).
        self.thread.setStackSize(WORKER_STACK_BYTES)
        self.worker = Worker(factory, cache)
        self.worker.moveToThread(self.thread)
        self._submit.connect(self.worker.run)
        self._configure.connect(self.worker.set_factory)
        self.thread.started.connect(self.worker.load_engine)
        for name in (
            "engine_loading",
            "engine_ready",
            "engine_failed",
            "started",
            "loaded",
            "progress",
            "result",
            "failed",
            "cancelled",
            "finished",
        ):
            getattr(self.worker, name).connect(getattr(self, name))
        self._current: int | None = None
        self._holding = False
        self.started.connect(self._on_started)
        self.finished.connect(self._on_finished)

    def start(self) -> None:
        if self.thread.isRunning():
            return
        garbage.hold()  # no cyclic collection in the worker thread (see carsr_gui.gui.garbage)
        self._holding = True
        self.thread.start()

    def submit(self, job: Job) -> None:
        self.worker.expect(job.id)
        self._submit.emit(job)

    def configure(self, factory: EngineFactory) -> None:
        self._configure.emit(factory)

    def cancel(self, job_id: int) -> None:
        self.worker.cancel(job_id)

    def stop(self) -> None:
        """Cancel what runs, end the thread's event loop and wait for it (at most one tile)."""
        if self._current is not None:
            self.worker.cancel(self._current)
        if self.thread.isRunning():
            self.thread.quit()
            self.thread.wait()
        if self._holding:
            self._holding = False
            garbage.release()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        self._current = job_id

    @Slot(int)
    def _on_finished(self, job_id: int) -> None:
        if self._current == job_id:
            self._current = None
