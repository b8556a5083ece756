"""TensorFlow's C++ libraries are loaded ahead of its import, without Python's lock, and they are
the very files the import then uses (one copy of each in the process)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from carsr_gui import tf_setup

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="dlopen of .so files")


def mapped_files(name: str) -> set[str]:
    with open("/proc/self/maps") as maps:
        return {line.split()[-1] for line in maps if line.rstrip().endswith(name)}


@linux_only
def test_the_preloaded_libraries_are_the_ones_tensorflow_runs_on():
    assert [path.name for path in tf_setup.preloaded] == list(tf_setup.NATIVE_LIBRARIES)
    for path in tf_setup.preloaded:
        assert mapped_files(path.name) == {str(path.resolve())}


def test_a_folder_without_the_libraries_loads_nothing(monkeypatch, tmp_path):
    (tmp_path / tf_setup.NATIVE_LIBRARIES[0]).write_bytes(b"")  # one of two is not enough
    monkeypatch.setattr(tf_setup, "_tensorflow_folders", lambda: [tmp_path / "none", tmp_path])
    assert tf_setup.preload_native_libraries() == []


def test_a_file_that_is_no_library_is_left_to_the_import(monkeypatch, tmp_path):
    for name in tf_setup.NATIVE_LIBRARIES:
        (tmp_path / name).write_bytes(b"not an ELF file")
    monkeypatch.setattr(tf_setup, "_tensorflow_folders", lambda: [tmp_path])
    assert tf_setup.preload_native_libraries() == []


def test_nothing_is_preloaded_off_linux(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    assert tf_setup.preload_native_libraries() == []


def test_a_frozen_app_looks_in_its_own_folder_first(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    folders = tf_setup._tensorflow_folders()
    assert folders[0] == Path(tmp_path) / "tensorflow"
    assert any((folder / "libtensorflow_cc.so.2").is_file() for folder in folders[1:])
