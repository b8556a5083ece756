"""The batch: which photos are queued, what happened to each, and where each result lives. No Qt.

``carsr upscale`` and the window share it (Mantid Imaging's model/presenter/view split: this is
the model). Folder expansion, states, one-line reasons and the summary live here once, so the
command line and the window cannot disagree.

Finished results of the window are kept on disk (:class:`ResultCache`: lossless ``.npy`` files
in a folder that lives as long as the window), so that memory does not grow with the number of
photos; the view, Save and Save All read them back.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from carsr_gui import image_io


class State(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (State.DONE, State.FAILED, State.CANCELLED)
#: The summary's words for each end state, in the order it lists them.
SUMMARY_WORDS = {State.DONE: "enlarged", State.FAILED: "failed", State.CANCELLED: "cancelled"}


@dataclass(frozen=True)
class Expansion:
    """The photos to process, and the files of the given folders that are not photos."""

    files: list[Path]
    skipped: list[Path]


def expand(paths: Iterable[Path]) -> Expansion:
    """Files as given (one that cannot be read fails later, with its reason); folders become the
    image files directly inside them, by name. Other entries of a folder are skipped (hidden
    ones without a word)."""
    files: list[Path] = []
    skipped: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):  # hidden, such as macOS's ._photo.jpg: not a photo
                continue
            if child.is_file() and child.suffix.lower() in image_io.INPUT_SUFFIXES:
                files.append(child)
            else:
                skipped.append(child)
    return Expansion(files, skipped)


SKIPPED_REASON = "skipped: not an image file"


def reason_of(exc: BaseException) -> str:
    """One line for a photo that failed, whatever failed: a bad file, memory, the model (a
    TensorFlow runtime error is no ``RuntimeError``), or a bug. The command line and the window
    both say this, in the same words."""
    if isinstance(exc, image_io.ImageError):
        return exc.reason
    text = " ".join(str(exc).split())
    if isinstance(exc, MemoryError):
        return f"out of memory ({text})" if text else "out of memory"
    if isinstance(exc, (ValueError, RuntimeError)) and text:
        return text
    name = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"unexpected error ({name})"


def check_output_size(path: Path, width: int, height: int, scale: int, fmt: str) -> None:
    """Refuse, before any work, a photo whose enlargement the output format cannot hold."""
    image_io.check_output_size(path, width * scale, height * scale, fmt)


@dataclass(frozen=True)
class Job:
    """One run of one photo with the settings it was queued with."""

    id: int
    path: Path
    scale: int = 2
    evaluate: bool = False
    max_pixels: int = image_io.DEFAULT_MAX_PIXELS
    fmt: str | None = None  # the output format whose size limits are checked before the work


@dataclass
class Stored:
    """A finished result as the window keeps it: the full-size images on disk (see
    :class:`ResultCache`), what to write with them, and the small things shown beside them."""

    files: dict[str, Path]  # "input", "bicubic", "output" and, where there is one, "alpha", "truth"
    shapes: dict[str, tuple[int, ...]]
    grey: bool
    icc_profile: bytes | None
    exif: bytes | None
    device: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    scores: Any = None  # evaluation: carsr_gui.evaluate.Scores
    features: Any = None  # carsr_gui.feature_map.FeatureMap, or None once released
    weights: str = ""  # which weights ran and why (carsr_gui.engine.Result.weights)

    def load(self, name: str) -> np.ndarray | None:
        """A full-size image read back from the cache (None: this result has none)."""
        path = self.files.get(name)
        return None if path is None else np.load(path)

    @property
    def evaluated(self) -> bool:
        return "truth" in self.files

    def save(self, path: Path, fmt: str | None, quality: int, *, replace: bool = False) -> Path:
        """Write the output with the photo's colour mode, ICC profile and EXIF (atomically);
        an existing ``path`` is replaced only with ``replace`` (see :func:`image_io.save`)."""
        return image_io.save(
            path,
            self.load("output"),
            alpha=self.load("alpha"),
            grey=self.grey,
            icc_profile=self.icc_profile,
            exif=self.exif,
            fmt=fmt,
            quality=quality,
            replace=replace,
        )


# -- one photo, start to end ---------------------------------------------------------------


@dataclass
class Enlarged:
    """A photo enlarged by :func:`run`, before the caller keeps it (a file, the window's cache)."""

    job: Job
    photo: image_io.Photo
    result: Any  # carsr_gui.engine.Result
    #: The full-size images the window keeps: "input", "output", "bicubic", "alpha" and, when
    #: evaluating, "truth" (None: this photo has none).
    arrays: dict[str, np.ndarray | None]
    notes: list[str]
    scores: Any = None  # evaluation: carsr_gui.evaluate.Scores


@dataclass
class Outcome:
    """How one job ended: DONE with ``value`` (what ``keep`` returned), FAILED with a one-line
    ``reason`` about ``where`` (the input, or the output file that failed), or CANCELLED. It
    holds no exception: a traceback's frames would tie the caller (the window's worker, a Qt
    object) into a reference cycle, left to the collector in whichever thread."""

    state: State
    value: Any = None
    reason: str = ""
    where: Path | None = None


def run(
    job: Job,
    engine: Callable[[], Any],
    keep: Callable[[Enlarged], Any],
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Any = None,
    loaded: Callable[[image_io.Photo], None] | None = None,
    log: logging.Logger | None = None,
) -> Outcome:
    """One photo for ``carsr upscale`` and the window alike: load it, refuse before the work an
    enlargement its output format cannot hold, enlarge it with the weights chosen for it
    (``engine()``: a :class:`~carsr_gui.model_choice.Engines`) or score it (``job.evaluate``), and
    hand it to ``keep``. ``loaded(photo)`` is told once it is decoded; ``cancel`` (a
    :class:`~carsr_gui.engine.CancelToken`) is checked before the work and between tiles. Any
    failure ends this photo, never the batch: it comes back with its one-line reason, and goes
    to ``log`` (the window's; with the traceback unless the file was at fault)."""
    from carsr_gui.engine import Cancelled  # TensorFlow: loaded by the first photo, not before

    try:
        if cancel is not None:
            cancel.raise_if_cancelled()
        photo = image_io.load(job.path, max_pixels=job.max_pixels)
        if loaded is not None:
            loaded(photo)
        if job.fmt is not None:  # fail before the work, not when saving
            check_output_size(job.path, *photo.size, job.scale, job.fmt)
        if cancel is not None:
            cancel.raise_if_cancelled()
        value = keep(_enlarge(job, photo, engine(), progress, cancel))
    except Cancelled:
        return Outcome(State.CANCELLED)
    except Exception as exc:  # a bad file, memory, the model, a full disk, a bug
        bad_file = isinstance(exc, image_io.ImageError)
        where, reason = exc.path if bad_file else job.path, reason_of(exc)
        if log is not None:
            level = logging.WARNING if bad_file else logging.ERROR
            log.log(level, "%s: %s", where, reason, exc_info=not bad_file)
        return Outcome(State.FAILED, reason=reason, where=where)
    return Outcome(State.DONE, value)


def _enlarge(job: Job, photo: image_io.Photo, engine: Any, progress, cancel) -> Enlarged:
    if not job.evaluate:
        result = engine.upscale_photo(photo, job.scale, progress, cancel)
        arrays: dict[str, np.ndarray | None] = {"input": photo.rgb}
        scores, notes = None, list(result.notes)
    else:  # the photo is the truth: enlarge a quarter-size copy and score it
        from carsr_gui import evaluate

        truth, low = evaluate.ground_truth(photo.rgb)
        if min(low.shape[:2]) < 1:
            raise image_io.ImageError(job.path, "too small to evaluate (under 4 pixels)")
        result = engine.upscale(low, 2, progress, cancel)
        scores = evaluate.score(job.path.name, truth, result.bicubic, result.output)
        arrays, notes = {"input": low, "truth": truth}, list(photo.notes)
    arrays.update(output=result.output, bicubic=result.bicubic, alpha=result.alpha)
    return Enlarged(job, photo, result, arrays, notes, scores)


def write(
    done: Enlarged, folder: Path, *, quality: int, overwrite: bool, protected: set[Path]
) -> Path:
    """Save a finished photo in ``folder`` as ``<stem>_x<scale>.<ext>`` (``carsr upscale``'s way
    to keep a result): numbered when the name is taken, unless ``overwrite``; never an input."""
    job, fmt = done.job, done.job.fmt or "png"
    dest = image_io.output_path(job.path, folder, job.scale, fmt, overwrite, protected)
    return image_io.save_like(
        dest,
        done.photo,
        done.result.output,
        done.result.alpha,
        fmt=fmt,
        quality=quality,
        replace=overwrite,
    )


class CacheError(RuntimeError):
    """The result cache could not keep a result; ``str()`` says what happened and where."""


class ResultCache:
    """A private folder of lossless full-size results, removed by :meth:`close`. Folders left by
    a window that did not close (a crash, a kill) are removed by the next one."""

    OWNER = "owner.pid"

    def __init__(self, parent: Path | None = None) -> None:
        if parent is None:
            import platformdirs

            parent = Path(platformdirs.user_cache_dir("carsr", appauthor=False))
        parent.mkdir(parents=True, exist_ok=True)
        for old in parent.glob("results-*"):
            if not _alive(old / self.OWNER):
                shutil.rmtree(old, ignore_errors=True)
        self.folder = Path(tempfile.mkdtemp(prefix="results-", dir=parent))
        (self.folder / self.OWNER).write_text(str(os.getpid()))
        self._next = 0

    def store(self, arrays: dict[str, np.ndarray | None], **info: Any) -> Stored:
        """Write each array (None: skipped) to its own file; ``info``: the rest of :class:`Stored`.
        If one cannot be written (a full disk), none is left and :class:`CacheError` says why."""
        self._next += 1
        files, shapes = {}, {}
        try:
            for name, array in arrays.items():
                if array is None:
                    continue
                files[name] = path = self.folder / f"{self._next}-{name}.npy"
                np.save(path, np.ascontiguousarray(array), allow_pickle=False)
                shapes[name] = array.shape
        except BaseException as exc:  # a full disk, memory, an interrupt: nothing half-kept
            for path in files.values():
                path.unlink(missing_ok=True)
            if not isinstance(exc, OSError):
                raise
            if exc.errno == errno.ENOSPC:
                raise CacheError(f"no space left in {self.folder}") from exc
            raise CacheError(f"cannot write in {self.folder}: {exc.strerror or exc}") from exc
        return Stored(files, shapes, **info)

    def keep(self, done: Enlarged) -> Stored:
        """Store a finished photo: the window's way to keep a result (see :func:`run`)."""
        photo, result = done.photo, done.result
        return self.store(
            done.arrays,
            grey=photo.grey,
            icc_profile=photo.icc_profile,
            exif=photo.exif,
            device=result.device,
            weights=result.weights,
            seconds=result.seconds,
            notes=done.notes,
            scores=done.scores,
            features=result.features,
        )

    def discard(self, stored: Stored) -> None:
        for path in stored.files.values():
            path.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _alive(owner: Path) -> bool:
    """Whether the process that wrote ``owner`` still runs (no file in a folder made in the last
    minute: being made, alive)."""
    try:
        pid = int(owner.read_text())
    except FileNotFoundError:
        try:
            return time.time() - owner.parent.stat().st_mtime < 60
        except OSError:
            return False
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: not ours to judge
        return True
    return True


@dataclass
class Item:
    """A photo in the batch: its current job, state, one-line reason and result."""

    job: Job
    state: State = State.WAITING
    reason: str = ""
    result: Stored | None = None
    notes: list[str] = field(default_factory=list)  # what the user should know (weights, fallbacks)


class Batch:
    """The queue: items by id in order, a waiting line, the running one, and a tally of the run
    in progress (reset when a new run starts on an idle queue)."""

    def __init__(self) -> None:
        self.items: dict[int, Item] = {}
        self.waiting: list[int] = []
        self.running: int | None = None
        self._next_id = 1
        self.tally: dict[State, int] = {}

    def new_id(self) -> int:
        job_id = self._next_id
        self._next_id += 1
        return job_id

    def add(self, job: Job) -> Item:
        item = Item(job)
        self.items[job.id] = item
        self.queue(job.id)
        return item

    def queue(self, job_id: int) -> None:
        """Put an item (new, or run again) at the end of the waiting line."""
        if self.idle:
            self.tally = {}
        item = self.items[job_id]
        item.state, item.reason, item.notes = State.WAITING, "", []
        self.waiting.append(job_id)

    def rerun(self, job: Job) -> Stored | None:
        """Queue ``job`` (same id) again; returns the result it replaces, for the caller to drop."""
        item = self.items[job.id]
        old, item.job, item.result = item.result, job, None
        self.queue(job.id)
        return old

    @property
    def idle(self) -> bool:
        return self.running is None and not self.waiting

    def start_next(self) -> Item | None:
        """The next waiting item, now running; None when none waits or one runs."""
        if self.running is not None or not self.waiting:
            return None
        job_id = self.waiting.pop(0)
        item = self.items[job_id]
        item.state = State.RUNNING
        self.running = job_id
        return item

    def _end(self, job_id: int, state: State, reason: str = "") -> Item | None:
        if self.running == job_id:
            self.running = None
        if job_id in self.waiting:
            self.waiting.remove(job_id)
        item = self.items.get(job_id)
        if item is not None:  # one removed while it ran is no part of the run's summary
            item.state, item.reason = state, reason
            self.tally[state] = self.tally.get(state, 0) + 1
        return item

    def done(self, job_id: int, result: Stored | None = None) -> Item | None:
        """``result``: where the window keeps it (the command line has written its file)."""
        item = self._end(job_id, State.DONE)
        if item is not None and result is not None:
            item.result = result
            item.notes = list(result.notes)
        return item

    def failed(self, job_id: int, reason: str) -> Item | None:
        return self._end(job_id, State.FAILED, reason)

    def cancelled(self, job_id: int) -> Item | None:
        return self._end(job_id, State.CANCELLED)

    def cancel_waiting(self) -> list[int]:
        """Every waiting item becomes cancelled (the running one is the worker's to stop)."""
        ids = list(self.waiting)
        for job_id in ids:
            self.cancelled(job_id)
        return ids

    def remove(self, job_id: int) -> Item | None:
        if job_id in self.waiting:
            self.waiting.remove(job_id)
        return self.items.pop(job_id, None)

    def finished_ids(self) -> list[int]:
        return [i for i, item in self.items.items() if item.state in FINISHED]

    def count(self, state: State) -> int:
        return sum(item.state is state for item in self.items.values())

    def summary(self) -> str:
        """What happened to every photo of the run: ``12 enlarged, 1 failed, 2 cancelled``."""
        return summary(self.tally)


def summary(tally: dict[State, int]) -> str:
    parts = [f"{tally[s]} {word}" for s, word in SUMMARY_WORDS.items() if tally.get(s)]
    return ", ".join(parts) or "nothing processed"
