"""``carsr-gui FILE... [--eval] --screenshot PATH``: the headless mode, on the bundled model."""

from __future__ import annotations

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
