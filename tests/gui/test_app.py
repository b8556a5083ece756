"""``carsr-gui FILE... [--eval] --screenshot PATH``: the headless mode, on the bundled model."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from carsr_gui.gui import app
from tests.gui.conftest import write_image


@pytest.mark.slow
def test_screenshot_mode_processes_the_files_and_saves_a_picture(qapp, tmp_path):
    src = write_image(tmp_path / "car.png", 44, 52)
    shot = tmp_path / "shot.png"
    code = app.main([str(src), "--eval", "--device", "cpu", "--screenshot", str(shot)])
    assert code == 0
    with Image.open(shot) as img:
        assert img.size == app.SCREENSHOT_SIZE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["car.png", "shot.png"]  # nothing else


@pytest.mark.slow
def test_screenshot_mode_exits_non_zero_when_a_file_fails(qapp, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    shot = tmp_path / "shot.png"
    assert app.main([str(bad), "--device", "cpu", "--screenshot", str(shot)]) == 1
    assert shot.is_file()  # the picture shows the failed row


def test_screenshot_without_files_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        app.main(["--screenshot", "x.png"])
    assert exit_.value.code == 2


def test_flags_apply_to_this_run_only(qtbot, settings, tiny_factory):
    from carsr_gui.gui.main_window import MainWindow
    from carsr_gui.gui.settings import Settings

    argv = ["--device", "cpu", "--tile", "512", "--scale", "4", "--eval", "--layout", "split"]
    app.apply_flags(settings, app.parser().parse_args(argv))
    window = MainWindow(settings, tiny_factory)
    qtbot.addWidget(window)
    window.show()
    assert window.split_action.isChecked() and window.eval_action.isChecked()
    assert (settings["process/device"], settings["process/tile"]) == ("cpu", 512)
    assert settings["process/scale"] == 4
    window.close()  # saves the window's settings

    saved = Settings(Path(settings.location))
    assert saved["process/device"] == "auto" and saved["process/tile"] == 1088
    assert saved["process/scale"] == 2 and saved["process/evaluate"] is False
    assert saved["view/layout"] == "panels"


def test_a_choice_made_in_the_window_is_saved_even_over_a_flag(settings):
    from carsr_gui.gui.settings import Settings

    app.apply_flags(settings, app.parser().parse_args(["--scale", "4"]))
    settings["process/scale"] = 2  # chosen in the Settings menu
    settings.sync()
    assert Settings(Path(settings.location))["process/scale"] == 2
    assert settings["process/scale"] == 2


def test_missing_xcb_libraries_are_named_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setattr(app, "loadable", lambda name: "icccm" not in name and "cursor" not in name)
    assert app.main([]) == app.EXIT_FAILED
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("carsr-gui: cannot open the window: Qt's xcb platform plugin needs ")
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in line
    assert line.endswith("(Debian/Ubuntu: sudo apt install libxcb-cursor0 libxcb-icccm4)")


def test_the_xcb_check_knows_every_library_the_plugin_loads():
    """Every library that ldd lists for PySide6's xcb plugin that is not part of every Linux
    desktop (libc, libstdc++, GL, glib...) is in the list the check looks for."""
    import shutil
    import subprocess
    import sys

    import PySide6

    if not sys.platform.startswith("linux"):  # no xcb plugin: nothing to check
        assert app.missing_xcb_libraries() == []
        return

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    qpa = Path(PySide6.__file__).parent / "Qt" / "lib" / "libQt6XcbQpa.so.6"
    assert plugin.is_file() and qpa.is_file() and shutil.which("ldd")
    needed = set()
    for library in (plugin, qpa):
        listing = subprocess.run(["ldd", str(library)], capture_output=True, text=True).stdout
        needed |= {line.split()[0] for line in listing.splitlines() if "=>" in line}
    xcb = {n for n in needed if n.startswith(("libxcb", "libxkb", "libX11"))}
    assert xcb and xcb <= set(app.XCB_LIBRARIES)
