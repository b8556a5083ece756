"""Work that must not stall the window (reading results back, colour conversion, encoding and
fsync on save, the feature map's PCA) runs on a helper thread; its result or error comes back
to the GUI thread (after Picard's ``util/thread.py``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from carsr_gui.gui import garbage

log = logging.getLogger(__name__)


class Tasks(QObject):
    """One helper thread running functions in order; callbacks run in the GUI thread."""

    _done = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"carsr-{name}")
        self._pending = 0
        self._closed = False
        garbage.hold()  # its thread runs Python: no cyclic collection there (until close)
        # Emitted from the helper thread to this object of the GUI thread: a queued connection.
        self._done.connect(self._deliver)

    @property
    def pending(self) -> int:
        """Tasks submitted whose callback has not run yet."""
        return self._pending

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        """``fn(*args)`` in the helper thread, then ``done(value)`` or ``failed(error)`` here."""
        self._pending += 1

        def job() -> None:
            try:
                value = fn(*args)
            except Exception as exc:
                log.warning("%s failed", getattr(fn, "__qualname__", fn), exc_info=True)
                self._done.emit((failed, exc))
            else:
                self._done.emit((done, value))

        self._pool.submit(job)

    @Slot(object)
    def _deliver(self, packet: tuple) -> None:
        self._pending -= 1
        callback, value = packet
        if callback is not None and not self._closed:
            callback(value)

    def close(self) -> None:
        """Wait for what was submitted (a save in progress finishes); no callback runs after."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        garbage.release()
