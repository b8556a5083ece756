"""One way to replace a file: the old one or the new one after any failure, never a part."""

import os
import stat

import pytest

from carsr_gui import atomic


def test_write_text_and_bytes_replace_the_file_with_the_usual_mode(tmp_path):
    path = tmp_path / "card.json"
    path.write_text("old")
    atomic.write_text(path, "new ü")
    assert path.read_text(encoding="utf-8") == "new ü"
    atomic.write_bytes(tmp_path / "w.bin", b"\0\1")
    assert (tmp_path / "w.bin").read_bytes() == b"\0\1"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's private 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "w.bin"]


def test_the_writer_gets_a_name_with_the_same_suffix_in_the_same_folder(tmp_path):
    seen = []
    atomic.replace_with(tmp_path / "checkpoint.keras", lambda tmp: seen.append(tmp) or tmp.touch())
    assert seen[0].parent == tmp_path and seen[0].name.endswith(".checkpoint.keras")
    assert seen[0] != tmp_path / "checkpoint.keras" and not seen[0].exists()


@pytest.mark.parametrize("fail_at", ["writer", "fsync", "replace"])
def test_a_failure_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch, fail_at):
    path = tmp_path / "state.json"
    path.write_text("old")

    def writer(tmp):
        tmp.write_text("half")
        if fail_at == "writer":
            raise OSError(28, "No space left on device")

    def fail(*args):
        raise OSError(5, "Input/output error")

    if fail_at != "writer":
        monkeypatch.setattr(atomic.os, fail_at, fail)
    with pytest.raises(OSError):
        atomic.replace_with(path, writer)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_the_file_is_flushed_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(
        atomic.os, "replace", lambda a, b: events.append("replace") or real_replace(a, b)
    )
    atomic.write_text(tmp_path / "a.txt", "x")
    assert events == ["fsync", "replace", "fsync"]  # the file, the rename, then the folder
