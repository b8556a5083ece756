"""The window: drag and drop, the queue, cancel and close during a job, saving, evaluation mode."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from carsr_gui import image_io
from carsr_gui.batch import State
from carsr_gui.gui import messages
from carsr_gui.image_io import ImageError
from tests.conftest import drawn_image
from tests.gui.conftest import SEVERAL_TILES, read, write_image

TIMEOUT = 60_000


def drag_and_drop(window, urls: list[QUrl]) -> tuple[bool, bool]:
    """Send a real drag-enter and drop with ``urls``; whether each was accepted."""
    mime = QMimeData()
    mime.setUrls(urls)
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(
        QPointF(50, 50), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(
        QPointF(50, 50), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, drop)
    return enter.isAccepted(), drop.isAccepted()


def run_batch(qtbot, window, paths) -> list[int]:
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        ids = window.open_paths(paths)
    return ids


def output_of(window, job_id: int) -> np.ndarray:
    return window.presenter.item(job_id).result.load("output")


def wait_saved(qtbot, window, action):
    """Run a Save action and wait until its helper thread has written; the paths written."""
    with qtbot.waitSignal(window.presenter.saved, timeout=TIMEOUT) as saved:
        action()
    written, errors = saved.args
    assert errors == []
    return written


def test_window_module_does_not_import_tensorflow():
    """The window must show before TensorFlow loads: only the worker thread imports it."""
    code = (
        "import sys, carsr_gui.gui.app, carsr_gui.gui.main_window; "
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_dropping_files_and_a_folder_queues_every_image(qtbot, make_window, tmp_path):
    window = make_window()
    a = write_image(tmp_path / "a.png", seed=1)
    folder = tmp_path / "more"
    b = write_image(folder / "b.jpg", seed=2)
    c = write_image(folder / "c.png", seed=3)
    (folder / "notes.txt").write_text("not an image")
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        accepted = drag_and_drop(
            window, [QUrl.fromLocalFile(str(a)), QUrl.fromLocalFile(str(folder))]
        )
    assert accepted == (True, True)
    ids = window.queue.job_ids()
    assert [window.presenter.item(i).job.path for i in ids] == [a, b, c]
    assert all(window.queue.state(i) is State.DONE for i in ids)
    assert "48×40" in window.queue.row_text(ids[0])
    assert re.search(r"done in \d+\.\d s", window.queue.row_text(ids[0]))


def test_a_drag_without_local_files_is_refused(make_window):
    window = make_window()
    accepted = drag_and_drop(window, [QUrl("https://example.com/car.png")])
    assert accepted == (False, False)
    assert window.queue.count() == 0


def test_a_failed_file_becomes_a_failed_row_and_the_batch_goes_on(qtbot, make_window, tmp_path):
    window = make_window()
    good1 = write_image(tmp_path / "1.png", seed=1)
    bad = tmp_path / "2.png"
    bad.write_bytes(b"\x89PNG not really")
    good2 = write_image(tmp_path / "3.png", seed=3)
    ids = run_batch(qtbot, window, [good1, bad, good2])
    states = [window.queue.state(i) for i in ids]
    assert states == [State.DONE, State.FAILED, State.DONE]
    with pytest.raises(ImageError) as reason:
        image_io.load(bad)
    assert window.queue.detail(ids[1]) == reason.value.reason != ""
    assert "failed:" in window.queue.row_text(ids[1])
    assert window.failed_count == 1 and window.done_count == 2
    assert "1 failed" in window.statusBar().currentMessage()


def test_the_event_loop_runs_during_a_job(qtbot, make_window, gated, tmp_path):
    window = make_window(lambda: gated)
    ticks = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    (job,) = window.open_paths([write_image(tmp_path / "car.png", *SEVERAL_TILES)])
    qtbot.waitUntil(gated.entered.is_set, timeout=TIMEOUT)
    seen = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) >= seen + 5, timeout=5000)  # the worker is still held
    assert window.queue.state(job) is State.RUNNING
    assert window.cancel_button.isVisibleTo(window)
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        gated.gate.set()
    timer.stop()
    assert window.queue.state(job) is State.DONE


def test_cancel_stops_the_image_and_the_rest_of_the_batch(qtbot, make_window, gated, tmp_path):
    window = make_window(lambda: gated)
    photos = [write_image(tmp_path / f"{n}.png", *SEVERAL_TILES, seed=n) for n in range(3)]
    ids = window.open_paths(photos)
    qtbot.waitUntil(gated.entered.is_set, timeout=TIMEOUT)
    done, total = gated.held_at
    assert 1 <= done < total  # really mid-job: a tile done, others to do
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert [window.queue.state(i) for i in ids] == [State.CANCELLED] * 3
    assert window.presenter.item(ids[0]).result is None
    assert window.statusBar().currentMessage().startswith("Finished: 3 cancelled in ")


def test_closing_during_a_job_cancels_and_waits_for_the_thread(qtbot, make_window, gated, tmp_path):
    window = make_window(lambda: gated)
    src = write_image(tmp_path / "in" / "car.png", *SEVERAL_TILES)
    before = sorted(tmp_path.rglob("*"))
    window.open_paths([src])
    qtbot.waitUntil(gated.entered.is_set, timeout=TIMEOUT)
    assert 1 <= gated.held_at[0] < gated.held_at[1]
    assert window.worker_thread.is_running()
    window.close()  # not released by the test: the cancel must free the worker
    assert not window.worker_thread.is_running()
    settings_file = Path(window.settings.location)
    after = [p for p in sorted(tmp_path.rglob("*")) if settings_file not in (p, *p.parents)]
    assert [p for p in after if p not in before and p != settings_file.parent] == []


def test_save_uses_the_default_name_and_never_overwrites(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window()
    src = write_image(tmp_path / "car.png", 40, 48)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    run_batch(qtbot, window, [src])
    offered = []

    def accept_default(parent, default, name_filter):
        offered.append(default)
        return default

    monkeypatch.setattr(messages, "ask_save_file", accept_default)
    (first,) = wait_saved(qtbot, window, window.save_current)
    (second,) = wait_saved(qtbot, window, window.save_current)
    assert first == tmp_path / "car_x2.png"
    assert second == tmp_path / "car_x2-1.png"  # the name is taken: numbered, not replaced
    assert offered == [first, second]
    assert np.array_equal(read(first), output_of(window, window.queue.current_job()))
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest

    window.settings["save/format"] = "jpg"
    window.settings["save/quality"] = 90
    (third,) = wait_saved(qtbot, window, window.save_current)
    assert third == tmp_path / "car_x2.jpg"
    with Image.open(third) as img:
        assert img.format == "JPEG" and img.size == (96, 80)

    monkeypatch.setattr(messages, "ask_save_file", lambda parent, default, f: src)
    assert window.save_current() is None  # the input itself is refused
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
    assert not list(tmp_path.glob(".*.part*"))


def test_save_all_writes_every_result_numbering_taken_names(
    qtbot, make_window, tmp_path, monkeypatch
):
    window = make_window()
    a = write_image(tmp_path / "in" / "a.png", seed=1)
    b = write_image(tmp_path / "in" / "b.png", seed=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x2.webp").write_bytes(b"someone else's file")
    run_batch(qtbot, window, [a, b])
    window.settings["save/format"] = "webp"
    monkeypatch.setattr(messages, "ask_folder", lambda parent, caption, folder: out)
    saved = wait_saved(qtbot, window, window.save_all)
    assert saved == [out / "a_x2-1.webp", out / "b_x2.webp"]
    assert (out / "a_x2.webp").read_bytes() == b"someone else's file"
    with Image.open(saved[1]) as img:
        assert img.format == "WEBP" and img.size == (96, 80)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    a = a[2:-2, 2:-2].astype(np.float64)
    b = b[2:-2, 2:-2].astype(np.float64)
    return float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. (2004) per channel with an 11x11 Gaussian (sigma 1.5), written out in NumPy."""
    from numpy.lib.stride_tricks import sliding_window_view

    t = np.arange(11) - 5.0
    g = np.exp(-(t**2) / 4.5)
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for ch in range(3):
        x = a[2:-2, 2:-2, ch].astype(np.float64)
        y = b[2:-2, 2:-2, ch].astype(np.float64)

        def blur(z):
            return np.einsum("ijkl,kl->ij", sliding_window_view(z, (11, 11)), kernel)

        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        values.append(s.mean())
    return float(np.mean(values))


def _figures(panel) -> tuple[float, float]:
    match = re.search(r"PSNR (\d+\.\d+) dB · SSIM (\d\.\d+)", panel.figures.text())
    assert match, panel.figures.text()
    return float(match[1]), float(match[2])


def test_evaluation_mode_shows_the_ground_truth_and_measures_both_enlargements(
    qtbot, make_window, tmp_path
):
    window = make_window()
    window.set_evaluation(True)
    rgb = drawn_image(66, 75, seed=4)  # cropped to 64 x 72 (multiples of 4)
    src = tmp_path / "truth.png"
    Image.fromarray(rgb).save(src)
    (job,) = run_batch(qtbot, window, [src])
    panels = window.compare.panels

    truth = rgb[:64, :72]
    low = np.asarray(Image.fromarray(truth).resize((36, 32), Image.Resampling.BICUBIC))
    bicubic = np.asarray(Image.fromarray(low).resize((72, 64), Image.Resampling.BICUBIC))
    output = output_of(window, job)
    assert panels["truth"].isVisibleTo(window) and np.array_equal(panels["truth"].image, truth)
    assert np.array_equal(panels["input"].image, low)
    assert np.array_equal(panels["bicubic"].image, bicubic)
    assert np.array_equal(panels["output"].image, output)
    assert "36×32" in panels["input"].figures.text()
    assert "72×64" in panels["truth"].figures.text()

    bic_psnr, bic_ssim = _figures(panels["bicubic"])
    out_psnr, out_ssim = _figures(panels["output"])
    assert bic_psnr == pytest.approx(_psnr(bicubic, truth), abs=0.006)
    assert bic_ssim == pytest.approx(_ssim(bicubic, truth), abs=6e-5)
    assert out_psnr == pytest.approx(_psnr(output, truth), abs=0.006)
    assert out_ssim == pytest.approx(_ssim(output, truth), abs=6e-5)


def test_panels_show_every_stage_with_its_size(qtbot, make_window, tmp_path):
    window = make_window()
    run_batch(qtbot, window, [write_image(tmp_path / "car.png", 40, 48)])
    p = window.compare.panels
    assert not p["truth"].isVisibleTo(window)
    assert p["input"].figures.text() == "48×40"
    assert p["bicubic"].figures.text() == "96×80" and p["bicubic"].title.text() == "Bicubic ×2"
    assert p["output"].figures.text() == "96×80"
    assert p["features"].figures.text().startswith("16 ch · 24×20")  # the tiny model's code
    assert p["features"].image.shape[:2] == (20, 24)
    assert window.device_label.text().startswith("CPU")
    assert re.fullmatch(r"\d+\.\d\d s", window.time_label.text())


def test_feature_map_selector_draws_the_chosen_channel(qtbot, make_window, tmp_path):
    from carsr_gui import feature_map

    window = make_window()
    (job,) = run_batch(qtbot, window, [write_image(tmp_path / "car.png")])
    fm = window.presenter.item(job).result.features
    controls = window.features
    panel = window.compare.panels["features"]
    assert not controls.channel_box.isEnabled()
    controls.set_choice("channel", 3)
    assert controls.channel_box.isEnabled() and controls.channel_box.maximum() == 15
    wanted = feature_map.render(fm, "channel", 3)
    qtbot.waitUntil(lambda: np.array_equal(panel.image, wanted), timeout=TIMEOUT)
    stats = fm.stats
    assert f"mean {stats.mean[3]:.3g}" in controls.stats_label.text()
    assert f"max {stats.max[3]:.3g}" in controls.stats_label.text()
    controls.set_choice("pca", 0)
    wanted = feature_map.render(fm, "pca")
    qtbot.waitUntil(lambda: np.array_equal(panel.image, wanted), timeout=TIMEOUT)
    assert window.settings["view/feature_mode"] == "pca"


def test_zoom_and_pan_are_synchronised_with_nearest_neighbour_above_100(
    qtbot, make_window, tmp_path
):
    window = make_window()
    run_batch(qtbot, window, [write_image(tmp_path / "car.png", 40, 48)])
    views = [p.view for p in window.compare.panels.values() if p.isVisibleTo(window)]
    window.zoom_actions[200].trigger()
    assert {round(v.zoom, 6) for v in views} == {2.0}
    assert window.zoom_label.text() == "zoom 200%"
    fast = Qt.TransformationMode.FastTransformation
    assert all(item.transformationMode() == fast for v in views for item, _ in v._items)

    window.zoom_actions[100].trigger()
    input_view = window.compare.panels["input"].view
    output_view = window.compare.panels["output"].view
    assert input_view._items[0][0].transformationMode() == fast  # 1 input pixel = 2 screen pixels
    assert (
        output_view._items[0][0].transformationMode() == Qt.TransformationMode.SmoothTransformation
    )

    output_view.zoom_by(3.0)  # what the wheel does, at the cursor
    assert all(v.zoom == pytest.approx(3.0) for v in views)
    output_view.horizontalScrollBar().setValue(output_view.horizontalScrollBar().value() + 20)
    centre = output_view.center()
    for v in views:
        assert v.center().x() == pytest.approx(centre.x(), abs=1.0)
        assert v.center().y() == pytest.approx(centre.y(), abs=1.0)

    window.fit_action.trigger()
    assert window.sync.fitted and all(v.zoom == pytest.approx(views[0].zoom) for v in views)


def test_split_view_line_follows_the_mouse(qtbot, make_window, tmp_path):
    window = make_window()
    run_batch(qtbot, window, [write_image(tmp_path / "car.png", 40, 48)])
    window.split_action.trigger()
    assert window.stack.currentWidget() is window.split
    canvas = window.split.canvas
    qtbot.waitUntil(lambda: canvas.viewport().width() > 100)
    window.sync.fit()
    assert canvas.fraction == 0.5
    start = QPoint(round(canvas.line_x()), canvas.viewport().height() // 2)
    target = QPoint(round(canvas.mapFromScene(QPointF(24, 40)).x()), start.y())  # a quarter
    qtbot.mousePress(canvas.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas.viewport(), target)
    qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert canvas.fraction == pytest.approx(0.25, abs=0.03)
    assert canvas.labels == ("Bicubic", "Autoencoder")
    window.split.set_before("input")
    assert canvas.labels[0] == "Low-res input" and canvas.before.scale() == 2.0
    assert window.settings["view/before"] == "input"


def test_recent_files_are_listed_and_missing_ones_dropped(qtbot, make_window, tmp_path):
    window = make_window()
    src = write_image(tmp_path / "car.png")
    run_batch(qtbot, window, [src])
    assert window.settings.recent()[0] == src
    window.recent_menu.aboutToShow.emit()
    labels = [a.text() for a in window.recent_menu.actions()]
    assert labels[0] == "&1 car.png"
    gone = tmp_path / "gone.png"
    window.settings.add_recent(gone)
    window.open_recent(gone)
    assert gone not in window.settings.recent()


def test_open_sample_queues_the_shipped_photo(qtbot, make_window, tmp_path, monkeypatch):
    import carsr_gui.resources

    sample = write_image(tmp_path / "sample_car.png")
    monkeypatch.setattr(carsr_gui.resources, "resource", lambda name: tmp_path / name)
    window = make_window()
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        window.sample_action.trigger()
    assert window.presenter.item(window.queue.job_ids()[0]).job.path == sample
    monkeypatch.setattr(carsr_gui.resources, "resource", lambda name: tmp_path / "missing" / name)
    window.sample_action.trigger()  # a missing sample is reported, not a crash
    assert window.queue.count() == 1


def test_settings_are_restored_in_a_new_window(qtbot, make_window, settings, tmp_path):
    first = make_window()
    first.resize(760, 540)
    size = (first.width(), first.height())
    assert size != (1400, 900)  # not the default
    first.splitter.setSizes([260, 500])
    queue_width = first.splitter.sizes()[0]
    first.split_action.setChecked(True)
    first.eval_action.setChecked(True)
    first.features.set_choice("channel", 5)
    first.close()

    second = make_window(settings_=settings)
    assert (second.width(), second.height()) == size
    assert second.splitter.sizes()[0] == queue_width
    assert second.split_action.isChecked() and second.stack.currentWidget() is second.hint
    with qtbot.waitSignal(second.batch_finished, timeout=TIMEOUT):
        second.open_paths([write_image(tmp_path / "car.png")])  # its page is the split view
    assert second.stack.currentWidget() is second.split
    assert second.eval_action.isChecked()
    assert (second.features.mode, second.features.channel) == ("channel", 5)


def test_the_pixel_limit_setting_refuses_large_photos_before_decoding(
    qtbot, make_window, settings, tmp_path
):
    from tests.corpus import png_declaring

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(12_000, 10_000))  # 120 MP declared, a few hundred bytes
    window = make_window()
    window.pixel_limit_menu.actions()[0].trigger()  # 100 MP
    assert settings["process/max_megapixels"] == 100
    (job,) = run_batch(qtbot, window, [bomb])
    assert window.queue.state(job) == State.FAILED
    assert "above the limit of 100 MP" in window.queue.detail(job)
    window.pixel_limit_menu.actions()[1].trigger()  # 400 MP: now it is decoded (and found short)
    (job,) = run_batch(qtbot, window, [bomb])
    assert "limit" not in window.queue.detail(job)


def test_best_quality_rebuilds_the_engine_with_tta_and_is_remembered(
    qtbot, settings, tiny_factory, tiny_weights, monkeypatch
):
    from carsr_gui.gui import main_window, worker

    built = []

    def factory(options):
        built.append(options)
        return tiny_factory

    monkeypatch.setattr(main_window, "engine_factory", factory)
    window = main_window.MainWindow(settings)
    qtbot.addWidget(window)
    assert not window.tta_action.isChecked() and built[-1].tta is False
    window.tta_action.trigger()
    assert settings["process/tta"] is True and built[-1].tta is True
    window.close()

    again = main_window.MainWindow(settings)
    qtbot.addWidget(again)
    assert again.tta_action.isChecked() and built[-1].tta is True
    again.close()
    # The real factory builds an engine that averages eight passes.
    options = worker.EngineOptions(tiny_weights, "cpu", 96, tta=True)
    assert worker.engine_factory(options)().default.passes == 8


class TaggedEngine:
    """The tiny engine, built for one model setting: it records the setting of every photo it
    enlarges in ``served``."""

    def __init__(self, engine, model: str, served: list[str]) -> None:
        self.engine, self.model, self.served = engine, model, served

    @property
    def description(self) -> str:
        return f"{self.engine.description}, {self.model} model"

    def upscale_photo(self, photo, scale=2, progress=None, cancel=None):
        self.served.append(self.model)
        return self.engine.upscale_photo(photo, scale, progress, cancel)

    def upscale(self, rgb, scale=2, progress=None, cancel=None):
        self.served.append(self.model)
        return self.engine.upscale(rgb, scale, progress, cancel)


def test_the_model_setting_rebuilds_the_engine_in_the_worker_and_is_remembered(
    qtbot, settings, tiny_engine, tmp_path, monkeypatch
):
    from carsr_gui.gui import main_window

    built = []  # (model setting, in the GUI thread?) of each engine built
    served = []  # the model setting of the engine that enlarged each photo

    def factory(options):
        def build():
            built.append((options.model, threading.current_thread() is threading.main_thread()))
            return TaggedEngine(tiny_engine, options.model, served)

        return build

    def shown_window():
        window = main_window.MainWindow(settings)
        qtbot.addWidget(window)
        with qtbot.waitSignal(window.presenter.engine_ready, timeout=TIMEOUT):
            window.show()
        return window

    monkeypatch.setattr(main_window, "engine_factory", factory)
    photo = write_image(tmp_path / "car.png")
    window = shown_window()
    assert built == [("auto", False)]
    jpeg = next(a for a in window.model_menu.actions() if a.data() == "jpeg")
    with qtbot.waitSignal(window.presenter.engine_ready, timeout=TIMEOUT) as ready:
        jpeg.trigger()
    assert ready.args[0].endswith(", jpeg model")
    assert built == [("auto", False), ("jpeg", False)]
    run_batch(qtbot, window, [photo])
    assert served == ["jpeg"] and settings["process/model"] == "jpeg"
    window.close()

    again = shown_window()
    assert built[2:] == [("jpeg", False)]
    assert next(a for a in again.model_menu.actions() if a.data() == "jpeg").isChecked()
    run_batch(qtbot, again, [photo])
    assert served == ["jpeg", "jpeg"]
    again.close()


@pytest.mark.slow
def test_a_jpeg_runs_the_jpeg_weights_and_the_window_says_so(qtbot, settings, tmp_path):
    """The real bundled weights, chosen per photo: a JPEG of quality 75 and a PNG."""
    from carsr_gui.gui import main_window

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(drawn_image(48, 64)).save(folder / "a.jpg", quality=75)
    Image.fromarray(drawn_image(48, 64)).save(folder / "b.png")
    window = main_window.MainWindow(settings)
    qtbot.addWidget(window)
    jpg, png = run_batch(qtbot, window, [folder / "a.jpg", folder / "b.png"])
    assert window.queue.detail(jpg).endswith(", jpeg weights (JPEG quality ~75)")
    assert window.queue.detail(png).endswith(", clean weights (not a JPEG)")
    window.queue.select(jpg)
    qtbot.waitUntil(lambda: "jpeg weights (JPEG quality ~75)" in window.device_label.text())
    assert "CPU" in window.device_label.text()
    window.close()


def test_the_save_dialog_never_replaces_a_file_that_was_not_confirmed(
    qtbot, make_window, tmp_path, monkeypatch
):
    """Typing ``car`` where ``car.png`` exists: the suffix is added after the dialog's own
    check, so carsr asks about ``car.png`` itself, and without a yes keeps it."""
    window = make_window()
    run_batch(qtbot, window, [write_image(tmp_path / "in" / "photo.png")])
    existing = tmp_path / "car.png"
    existing.write_bytes(b"someone's picture")
    monkeypatch.setattr(messages, "ask_save_file", lambda parent, default, f: tmp_path / "car")
    assert window.save_current() is None  # not confirmed (the no-dialog answer is no)
    assert existing.read_bytes() == b"someone's picture"

    asked = []
    monkeypatch.setattr(
        messages, "confirm_replace", lambda parent, path: asked.append(path) or True
    )
    assert wait_saved(qtbot, window, window.save_current) == [existing]
    assert asked == [existing]
    assert np.array_equal(read(existing), output_of(window, window.queue.current_job()))


def test_heavy_work_runs_off_the_gui_thread(qtbot, make_window, tmp_path, monkeypatch):
    """Reading results back and converting them for display, the feature map's PCA, and
    encoding with fsync on save all run on helper threads."""
    import threading

    from carsr_gui import feature_map
    from carsr_gui.gui import display

    seen: dict[str, list[threading.Thread]] = {}

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            seen.setdefault(name, []).append(threading.current_thread())
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    spy(display, "to_qimage")  # full-size images made into QImages
    spy(image_io, "for_display")  # colour conversion
    spy(feature_map, "render")  # mean, PCA or channel
    spy(image_io, "save")  # encoding, fsync, rename
    window = make_window()
    run_batch(qtbot, window, [write_image(tmp_path / "car.png")])
    window.features.set_choice("pca", 0)
    qtbot.waitUntil(lambda: len(seen.get("render", [])) == 2, timeout=TIMEOUT)
    monkeypatch.setattr(messages, "ask_save_file", lambda parent, default, f: default)
    wait_saved(qtbot, window, window.save_current)
    assert set(seen) == {"to_qimage", "for_display", "render", "save"}
    main = threading.main_thread()
    assert all(thread is not main for threads in seen.values() for thread in threads)


def test_panels_show_colours_through_the_photo_profile_and_files_keep_theirs(
    qtbot, make_window, tmp_path, monkeypatch
):
    from tests.corpus import red_green_swapped_profile

    profile = red_green_swapped_profile()
    red = np.zeros((40, 48, 3), np.uint8)
    red[..., 0] = 255
    src = tmp_path / "wide_gamut.png"
    Image.fromarray(red).save(src, icc_profile=profile)
    window = make_window()
    (job,) = run_batch(qtbot, window, [src])
    shown = window.compare.panels["input"].image
    assert shown[..., 1].min() == 255 and shown[..., 0].max() == 0  # red in it is green on screen
    out = window.compare.panels["output"].image
    assert out[..., 1].mean() > 200 and out[..., 0].mean() < 50

    monkeypatch.setattr(messages, "ask_save_file", lambda parent, default, f: default)
    (saved,) = wait_saved(qtbot, window, window.save_current)
    with Image.open(saved) as img:
        assert img.info.get("icc_profile") == profile  # the file: its own pixels and profile
        assert np.array_equal(np.asarray(img.convert("RGB")), output_of(window, job))


def test_finished_results_live_on_disk_until_the_window_closes(qtbot, make_window, tmp_path):
    """Memory does not grow with the batch: each result's full-size images are files in the
    cache folder, and only the newest feature map (besides the one on screen) stays."""
    from carsr_gui.gui import presenter

    window = make_window()
    ids = run_batch(qtbot, window, [write_image(tmp_path / f"{n}.png", seed=n) for n in range(4)])
    folder = window.presenter.cache.folder
    for job_id in ids:
        stored = window.presenter.item(job_id).result
        assert set(stored.files) == {"input", "bicubic", "output"}
        assert all(p.parent == folder and p.is_file() for p in stored.files.values())
        assert not any(isinstance(v, np.ndarray) for v in vars(stored).values())
    kept = [i for i in ids if window.presenter.item(i).result.features is not None]
    on_screen = window.queue.current_job()
    assert on_screen is not None
    assert kept == sorted({on_screen, *ids[-presenter.KEEP_FEATURES :]})
    assert window.features.features is not None  # the photo on screen keeps its feature map
    window.close()
    assert not folder.exists()


def test_run_again_after_a_late_cancel_finishes(qtbot, make_window, tmp_path):
    window = make_window()
    (job,) = run_batch(qtbot, window, [write_image(tmp_path / "car.png")])
    window.worker_thread.cancel(job)  # Esc as the job ended: too late to stop anything
    window.queue.select(job)
    with qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT):
        window.rerun_action.trigger()
    assert window.queue.state(job) is State.DONE


def test_skipped_files_of_a_folder_are_reported(qtbot, make_window, tmp_path):
    folder = tmp_path / "photos"
    write_image(folder / "a.png")
    (folder / "notes.txt").write_text("not an image")
    window = make_window()
    ids = window.open_paths([folder])
    assert len(ids) == 1
    assert "Skipped 1 file that is not an image: notes.txt" in window.statusBar().currentMessage()
    qtbot.waitSignal(window.batch_finished, timeout=TIMEOUT).wait()


def test_the_summary_says_what_happened_to_every_photo(qtbot, make_window, tmp_path):
    window = make_window()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a picture")
    run_batch(
        qtbot, window, [write_image(tmp_path / "a.png"), bad, write_image(tmp_path / "b.png")]
    )
    assert window.statusBar().currentMessage().startswith("Finished: 2 enlarged, 1 failed in ")
