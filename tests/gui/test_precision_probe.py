"""The precision probe runs where the window's engine is built: in the worker thread, at start-up,
before any job, and never on the GUI thread."""

from __future__ import annotations

import threading

from carsr_gui import precision
from carsr_gui.batch import ResultCache
from carsr_gui.engine import Engine
from carsr_gui.gui.worker import WorkerThread


def test_the_probe_runs_in_the_worker_at_start_up_not_on_the_gui_thread(
    qtbot, tiny_weights, tmp_path, monkeypatch
):
    monkeypatch.setenv(precision.CACHE_DIR_ENV, str(tmp_path / "empty"))
    threads: list[str] = []
    real_measure = precision.measure

    def measure(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(precision, "measure", measure)
    cache = ResultCache(tmp_path / "cache")
    worker = WorkerThread(lambda: Engine(tiny_weights, device="cpu", tile=96, margin=28), cache)
    with qtbot.waitSignal(worker.engine_ready, timeout=60_000) as ready:
        worker.start()
    try:
        assert len(threads) == 1
        assert threads[0] != threading.main_thread().name
        assert ready.args[0].startswith("CPU")  # the precision that ran, e.g. "CPU (x86_64), int8"
        assert ready.args[0].rsplit(", ", 1)[1] in ("float32", "bfloat16", "int8")
    finally:
        worker.stop()
        cache.close()
