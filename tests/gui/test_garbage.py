"""Cyclic garbage collection stays in the GUI thread while the window's helper threads run: a
collection in the worker would destroy Qt objects caught in cycles from the wrong thread."""

from __future__ import annotations

import gc
import threading

import pytest

from carsr_gui.batch import Job, ResultCache
from carsr_gui.gui import garbage
from carsr_gui.gui.worker import WorkerThread
from tests.gui.conftest import SEVERAL_TILES, write_image


@pytest.fixture
def collections():
    """The name of the thread of every collection, with thresholds low enough that the worker's
    allocations would start many collections there if automatic collection were on."""
    threads: list[str] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            threads.append(threading.current_thread().name)

    old = gc.get_threshold()
    gc.set_threshold(10, 1, 1)
    gc.callbacks.append(record)
    yield threads
    gc.callbacks.remove(record)
    gc.set_threshold(*old)


def test_a_job_in_the_worker_collects_only_in_the_gui_thread(
    qtbot, tiny_factory, tmp_path, collections
):
    assert gc.isenabled()
    cache = ResultCache(tmp_path / "cache")
    thread = WorkerThread(tiny_factory, cache)
    thread.start()
    try:
        assert not gc.isenabled() and garbage.held()
        src = write_image(tmp_path / "car.png", *SEVERAL_TILES)
        with qtbot.waitSignal(thread.result, timeout=60_000):
            thread.submit(Job(1, src))
        qtbot.wait(3 * garbage.INTERVAL_MS)  # the GUI thread's timer collects meanwhile
    finally:
        thread.stop()
        cache.close()
    assert collections, "the GUI thread's timer never collected"
    assert set(collections) == {threading.main_thread().name}
    assert gc.isenabled() and not garbage.held()


def test_the_last_release_gives_collection_back_as_it_was(qtbot):
    garbage.hold()
    garbage.hold()
    garbage.release()
    assert not gc.isenabled()
    garbage.release()
    assert gc.isenabled()
    garbage.release()  # one release too many changes nothing
    assert gc.isenabled()

    gc.disable()  # someone else had turned it off: it stays off
    try:
        garbage.hold()
        garbage.release()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collect_due_collects_the_oldest_generation_over_its_threshold():
    old = gc.get_threshold()
    gc.disable()  # as while held: only collect_due collects
    try:
        gc.collect()
        gc.set_threshold(100_000, 10, 10)
        assert garbage.collect_due() is None
        gc.set_threshold(1, 10, 10)
        junk = [[] for _ in range(10)]  # container allocations count towards generation 0
        assert garbage.collect_due() == 0
        assert gc.get_count()[0] == 0
        del junk
    finally:
        gc.set_threshold(*old)
        gc.enable()


@pytest.fixture
def listed(monkeypatch):
    """The generation of every ``gc.get_objects`` call (None: all), under thresholds of 1 with
    automatic collection off, as while held; starts after a full collection."""
    calls: list[int | None] = []
    get_objects = gc.get_objects

    def spy(generation=None):
        calls.append(generation)
        return get_objects(generation)

    old = gc.get_threshold()
    gc.disable()
    gc.collect()
    gc.set_threshold(1, 1, 1)
    monkeypatch.setattr(gc, "get_objects", spy)
    monkeypatch.setattr(garbage, "_long_lived", 0)
    monkeypatch.setattr(garbage, "_promoted", 0, raising=False)
    yield calls
    gc.set_threshold(*old)
    gc.enable()


def make_oldest_due() -> None:
    for _ in range(gc.get_threshold()[2] + 1):
        gc.collect(1)  # each counts towards generation 2


def test_a_full_collection_waits_until_the_oldest_generation_has_grown_by_a_quarter(
    listed, monkeypatch
):
    make_oldest_due()
    monkeypatch.setattr(garbage, "_long_lived", 10**9)  # hardly grown
    for _ in range(5):  # tick after tick while it is due: the oldest is never listed
        junk = [[] for _ in range(10)]  # the younger ones become due
        assert garbage.collect_due() != 2
        del junk
    assert gc.get_count()[2] > gc.get_threshold()[2]  # still due
    assert 2 not in listed and None not in listed

    make_oldest_due()
    monkeypatch.setattr(garbage, "_long_lived", 100_000)
    monkeypatch.setattr(garbage, "_promoted", 25_000)  # grown by a quarter exactly: not yet
    assert garbage.collect_due() != 2
    monkeypatch.setattr(garbage, "_promoted", 25_001)
    assert garbage.collect_due() == 2
    assert gc.get_count()[2] == 0
    assert garbage._promoted == 0
    assert abs(garbage._long_lived - len(gc.get_objects(2))) < 100  # its new size


def test_collecting_generation_1_counts_its_survivors_into_the_oldest(listed):
    kept = [[] for _ in range(1000)]
    cycles = [[] for _ in range(500)]
    for cycle in cycles:
        cycle.append(cycle)
    del cycles  # unreachable: collected, not moved on
    gc.collect(0)
    gc.collect(0)  # generation 1 is due and holds them all; generation 2 is not
    assert garbage.collect_due() == 1
    assert 1000 <= garbage._promoted < 1100
    assert 2 not in listed and None not in listed
    del kept
