"""One-off measurement, not a test: seconds from launching ``carsr-gui`` (from source, a new
Python process) until its window is shown and its event loop turns, before TensorFlow loads in
the worker thread:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/measure_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CHILD = """
import os, sys, time
from PySide6.QtCore import QTimer
from carsr_gui.gui import app, main_window

shown = main_window.MainWindow.showEvent

def show(self, event):
    # Queued before the window queues the model's loading: runs on the loop's first turn.
    QTimer.singleShot(0, lambda: (print("visible", time.time(), flush=True), os._exit(0)))
    shown(self, event)

main_window.MainWindow.showEvent = show
sys.exit(app.main([]))
"""


def once() -> float:
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=False, timeout=120
    )
    if "visible" not in done.stdout:
        raise SystemExit(f"carsr-gui did not show its window:\n{done.stderr[-2000:]}")
    return float(done.stdout.split("visible")[-1]) - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    times = [once() for _ in range(args.runs)]
    print(
        f"window visible after {min(times):.2f} s (best of {args.runs}), "
        f"median {statistics.median(times):.2f} s, worst {max(times):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
