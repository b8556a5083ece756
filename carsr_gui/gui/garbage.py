"""Python's cyclic garbage collector, kept in the GUI thread while a worker thread runs (after
pyqtgraph's ``util/garbage_collector.py`` and calibre).

CPython collects in whichever thread crosses the allocation threshold. While a job runs that is
mostly the worker thread (TensorFlow allocates a lot), and a collection there destroys any Qt
objects caught in reference cycles from the wrong thread: a segmentation fault ("Garbage-collecting"
inside a TensorFlow trace in the worker, seen in CI on 2026-11-29). So while the window's
worker (:class:`~carsr_gui.gui.worker.WorkerThread`) or helper threads
(:class:`~carsr_gui.gui.tasks.Tasks`) run, automatic collection is off and a timer in the GUI
thread collects each generation when the interpreter would have. A collection holds Python's lock
whichever thread runs it, so the window waits for it either way.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QTimer

INTERVAL_MS = 500

_holders = 0
_was_enabled = True
_timer: QTimer | None = None
#: The oldest generation's size after the last full collection, and the objects moved into it
#: since (survivors of collections of generation 1). Like the interpreter, a full collection waits
#: until that generation has grown by a quarter: with TensorFlow and the model loaded one takes
#: 0.25-0.9 s, all of it under Python's lock. Counting survivors walks only the young
#: generations: listing the oldest on every tick stalled the GUI thread (tests/measure_stall.py).
_long_lived = 0
_promoted = 0


def collect_due() -> int | None:
    """Collect the oldest generation whose count is over its threshold, as the interpreter's own
    collector would; returns that generation, or None when none is due."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if thresholds[generation] and counts[generation] > thresholds[generation]:
            if generation == 2 and _promoted <= _long_lived // 4:
                continue  # not grown enough to be worth it: the younger ones may be due
            _collect(generation)
            return generation
    return None


def _collect(generation: int) -> None:
    global _long_lived, _promoted
    if generation == 0:
        gc.collect(0)
    elif generation == 1:
        young = len(gc.get_objects(0)) + len(gc.get_objects(1))
        _promoted += max(young - gc.collect(1), 0)
    else:
        gc.collect(2)
        _long_lived, _promoted = len(gc.get_objects(2)), 0


def hold() -> None:
    """A worker thread starts: collect only in this (the GUI) thread until :func:`release`."""
    global _holders, _was_enabled, _timer
    if _holders == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
        _timer = QTimer()
        _timer.timeout.connect(collect_due)
        _timer.start(INTERVAL_MS)
    _holders += 1


def release() -> None:
    """A worker thread has ended; the last one gives collection back to the interpreter."""
    global _holders, _timer
    if _holders == 0:
        return
    _holders -= 1
    if _holders == 0:
        assert _timer is not None
        _timer.stop()
        _timer = None
        if _was_enabled:
            gc.enable()


def held() -> bool:
    return _holders > 0
