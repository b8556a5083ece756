"""One-off measurement, not a test: the longest stall of the window's event loop while it loads
the model, enlarges a 4000x3000 photo, shows it, draws the feature map's principal components,
switches to the split view (zoomed to 100% and fitted again) and saves the result as PNG. Actions are taken one at
a time, with the event loop running between them, as a user would.

A 5 ms timer runs on the GUI thread; a stall is the time between two of its ticks beyond 5 ms.
It prints the longest stall of each stage:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/measure_stall.py [--size 4000x3000] [--no-network]

``--no-network`` passes tiles through the engine unchanged (the window's work is the same; the
enlargement takes seconds instead of minutes).

``--batch N`` instead opens N photos of ``--size`` at once and times each tick of the garbage
collector's timer (:mod:`carsr_gui.gui.garbage`) on the GUI thread, while the batch runs and for
``--idle`` seconds after, then 10 s with generation 2 made due (as in a long session), by what
each tick did:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/measure_stall.py --batch 50 --size 1600x1200 --no-network --idle 30
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

TICK_MS = 5


def make_photo(path: Path, width: int, height: int) -> None:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack(
        [128 + 100 * np.sin(xx / 37.0), 128 + 100 * np.cos(yy / 23.0 + xx / 51.0), (xx + yy) % 256],
        axis=-1,
    )
    rgb += np.random.default_rng(0).normal(0, 8, rgb.shape).astype(np.float32)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path, quality=92)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="4000x3000")
    p.add_argument("--no-network", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=0, help="time the collector's ticks over N photos")
    p.add_argument("--idle", type=float, default=90.0, help="seconds of ticks after the batch")
    args = p.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    if args.no_network:
        import network_stub  # beside this script

        network_stub.install()

    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from carsr_gui.gui import messages
    from carsr_gui.gui.main_window import MainWindow
    from carsr_gui.gui.settings import Settings

    _app = QApplication.instance() or QApplication([sys.argv[0]])  # kept alive
    messages.set_interactive(False)
    stalls: dict[str, float] = {}
    stage = ["start"]
    clock = QElapsedTimer()
    last = [0]

    def tick() -> None:
        now = clock.elapsed()
        gap = now - last[0] - TICK_MS
        last[0] = now
        stalls[stage[0]] = max(stalls.get(stage[0], 0.0), gap)

    def wait_for(signal, timeout_s: float) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        signal.disconnect(loop.quit)

    if args.batch:
        return measure_collector_ticks(args.batch, width, height, args.device, args.idle, wait_for)

    with tempfile.TemporaryDirectory(prefix="carsr-stall-") as tmp:
        src = Path(tmp) / "photo.jpg"
        make_photo(src, width, height)
        settings = Settings(Path(tmp) / "settings.ini")
        settings["process/device"] = args.device
        window = MainWindow(settings)
        window.resize(1600, 1000)
        window.show()
        timer = QTimer()
        timer.setInterval(TICK_MS)
        timer.timeout.connect(tick)
        clock.start()
        timer.start()
        start = time.perf_counter()

        stage[0] = "TensorFlow and the model loading"
        wait_for(window.presenter.engine_ready, 600)

        def pause(ms: int = 300) -> None:
            loop = QEventLoop()
            QTimer.singleShot(ms, loop.quit)
            loop.exec()

        stage[0] = "idle (the machine's own jitter)"
        pause(3000)

        stage[0] = "enlarge and show"
        window.open_paths([src])
        wait_for(window.batch_finished, 3600)
        print(
            f"enlarged in {time.perf_counter() - start:.0f} s: {window.statusBar().currentMessage()}"
        )

        stage[0] = "feature map: principal components"
        window.features.set_choice("pca", 0)
        wait_for(window.presenter.features_drawn, 600)

        for name, action in (
            ("split view", window.split_action),
            ("zoom 100%", window.zoom_actions[100]),
            ("fit", window.fit_action),
            ("panels again", window.split_action),
        ):
            stage[0] = name
            action.trigger()
            pause()

        stage[0] = "save as PNG"
        out = Path(tmp) / "out.png"
        messages.ask_save_file = lambda parent, default, name_filter: out
        window.save_current()
        wait_for(window.presenter.saved, 600)
        stage[0] = "after"
        timer.stop()
        window.close()
        ok = out.is_file()

    print(f"{width}x{height} photo, output {2 * width}x{2 * height}; saved: {ok}")
    for name, ms in stalls.items():
        if name not in ("start", "after"):
            print(f"  {name:<36} longest stall {ms:5.0f} ms")
    photo = {
        k: v for k, v in stalls.items() if not k.startswith(("start", "after", "Tensor", "idle"))
    }
    print(f"longest stall of the event loop with the photo: {max(photo.values()):.0f} ms")
    return 0


def measure_collector_ticks(
    count: int, width: int, height: int, device: str, idle: float, wait_for
) -> int:
    """Time every tick of the collector's timer in the GUI thread: the batch, then ``idle`` s."""
    from PySide6.QtCore import QEventLoop, QTimer

    from carsr_gui.gui import garbage
    from carsr_gui.gui.main_window import MainWindow
    from carsr_gui.gui.settings import Settings

    ticks: list[tuple[float, bool, int | None]] = []  # ms, generation 2 due, generation collected
    collect_due = garbage.collect_due

    def timed() -> int | None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        start = time.perf_counter()
        generation = collect_due()
        ticks.append(((time.perf_counter() - start) * 1000, counts[2] > thresholds[2], generation))
        return generation

    garbage.collect_due = timed  # before the worker starts: hold() connects the timer to it
    with tempfile.TemporaryDirectory(prefix="carsr-ticks-") as tmp:
        photos = []
        for n in range(count):
            photos.append(Path(tmp) / f"car{n:03}.jpg")
            make_photo(photos[-1], width, height)
        settings = Settings(Path(tmp) / "settings.ini")
        settings["process/device"] = device
        window = MainWindow(settings)
        window.show()
        wait_for(window.presenter.engine_ready, 600)
        start = time.perf_counter()
        window.open_paths(photos)
        wait_for(window.batch_finished, 3600)
        seconds = time.perf_counter() - start
        during = len(ticks)

        def pause(ms: float) -> None:
            loop = QEventLoop()
            QTimer.singleShot(int(ms), loop.quit)
            loop.exec()

        pause(idle * 1000)
        idled = len(ticks)
        # A long session gets there by itself: generation 2 due (after 11 collections of
        # generation 1), collected in full, and due again before it has grown by a quarter.
        for _ in range(2):
            for _ in range(gc.get_threshold()[2] + 1):
                gc.collect(1)
            pause(2 * garbage.INTERVAL_MS)
        pause(10_000)
        window.close()

    print(
        f"{count} photos of {width}x{height} in {seconds:.0f} s; {during} ticks, then "
        f"{idled - during} idle, then {len(ticks) - idled} with generation 2 made due; "
        f"{len(gc.get_objects())} objects tracked"
    )

    def kind(due: bool, generation: int | None) -> str:
        did = "nothing" if generation is None else f"generation {generation}"
        return f"{'2 due, not grown: ' if due and generation != 2 else ''}{did}"

    for name in sorted({kind(due, g) for _, due, g in ticks}):
        ms = np.array([t[0] for t in ticks if kind(t[1], t[2]) == name])
        print(
            f"  {name:<32} {ms.size:4} ticks: median {np.median(ms):7.2f} ms, max {ms.max():7.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
