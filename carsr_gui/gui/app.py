"""``carsr-gui [FILE...]``: start the window; ``--screenshot PATH`` runs headless for docs and checks."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from carsr_gui import __version__

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SCREENSHOT_SIZE = (1600, 1000)


def parser() -> argparse.ArgumentParser:
    from carsr_gui.devices import DEVICES
    from carsr_gui.engine import SCALES
    from carsr_gui.gui.settings import TILES

    p = argparse.ArgumentParser(
        prog="carsr-gui", description="The carsr window: make car photos sharper and larger."
    )
    p.add_argument("files", nargs="*", type=Path, metavar="FILE", help="images or folders to open")
    p.add_argument("--version", action="version", version=f"carsr {__version__}")
    p.add_argument(
        "--eval", action="store_true", help="evaluation mode: treat FILEs as ground truth"
    )
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="process FILEs, save a picture of the window to PATH and exit (no dialogs; "
        "your settings are neither read nor changed)",
    )
    p.add_argument("--device", choices=DEVICES, help="device that runs the model")
    p.add_argument("--tile", type=int, choices=TILES, help="tile size in output pixels")
    p.add_argument("--scale", type=int, choices=SCALES, help="enlargement factor")
    p.add_argument("--weights", type=Path, help="weights file (default: the bundled model)")
    p.add_argument(
        "--layout", choices=("panels", "split"), help="side-by-side panels or split view"
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log what happens")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="carsr-gui: %(levelname)s: %(name)s: %(message)s",
    )
    if args.screenshot is not None and not args.files:
        parser().error("--screenshot needs at least one FILE")
    missing = missing_xcb_libraries()
    if missing:
        packages = " ".join(XCB_LIBRARIES[name] for name in missing)
        print(
            f"carsr-gui: cannot open the window: Qt's xcb platform plugin needs "
            f"{', '.join(missing)}, which {'are' if len(missing) > 1 else 'is'} not installed "
            f"(Debian/Ubuntu: sudo apt install {packages})",
            file=sys.stderr,
        )
        return EXIT_FAILED

    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    from carsr_gui.gui import messages
    from carsr_gui.gui.main_window import MainWindow
    from carsr_gui.gui.settings import APPLICATION, ORGANIZATION, Settings

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "carsr-gui"])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)

    with tempfile.TemporaryDirectory(prefix="carsr-gui-") as scratch:
        headless = args.screenshot is not None
        if headless:
            messages.set_interactive(False)
            settings = Settings(Path(scratch) / "settings.ini")
        else:
            messages.install_excepthook()
            settings = Settings()
        apply_flags(settings, args)

        window = MainWindow(settings, weights=args.weights)
        if headless:
            window.resize(*SCREENSHOT_SIZE)
        window.show()
        outcome = {"code": EXIT_OK}
        if headless:
            window.batch_finished.connect(
                lambda: _screenshot(app, window, args.screenshot, outcome)
            )
        restore_sigint = _close_on_interrupt(window)
        try:
            if args.files and not window.open_paths(args.files):
                print(f"carsr-gui: no images in {' '.join(map(str, args.files))}", file=sys.stderr)
                if headless:
                    return EXIT_FAILED
            code = app.exec()
        finally:
            restore_sigint()
            window.close()  # cancels a job and waits for the worker thread
            # Closing the last window posts a Quit event; drop it so that it cannot end an event
            # loop that runs later in this process (a program or test that called main()).
            QCoreApplication.removePostedEvents(app, QEvent.Type.Quit)
        return outcome["code"] if headless else code


def apply_flags(settings, args: argparse.Namespace) -> None:
    """The command line's choices hold for this run only: they are not saved as settings."""
    for key, value in (
        ("process/device", args.device),
        ("process/tile", args.tile),
        ("process/scale", args.scale),
        ("view/layout", args.layout),
        ("process/evaluate", True if args.eval else None),
    ):
        if value is not None:
            settings.override(key, value)


#: Libraries Qt's xcb platform plugin loads (``ldd`` of PySide6's ``libqxcb.so`` and
#: ``libQt6XcbQpa.so.6``, PySide6 6.x), with the Debian/Ubuntu package of each.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
}


def loadable(name: str) -> bool:
    import ctypes

    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def missing_xcb_libraries() -> list[str]:
    """The xcb plugin's libraries that cannot be loaded, where the window would use that plugin
    (Linux, no other platform chosen, not a Wayland session); Qt would abort with a generic
    message."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or getattr(sys, "frozen", False):
        return []
    if platform and not platform.startswith("xcb"):
        return []
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return []
    return [name for name in XCB_LIBRARIES if not loadable(name)]


def _close_on_interrupt(window) -> Callable[[], None]:
    """Ctrl+C in the terminal closes the window (cancelling a job) instead of being ignored while
    Qt's event loop runs: a timer lets the interpreter run its signal handler."""
    import signal

    from PySide6.QtCore import QTimer

    try:
        previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    except ValueError:  # not the main thread (an embedding application): leave it alone
        return lambda: None
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)

    def restore() -> None:
        timer.stop()
        signal.signal(signal.SIGINT, previous)

    return restore


def _screenshot(app, window, path: Path, outcome: dict) -> None:
    """Picture of the whole window once the batch is done; exit non-zero if an image failed."""
    window.sync.refresh()
    app.processEvents()
    picture = window.grab()
    ok = picture.save(str(path))
    if not ok:
        print(f"carsr-gui: {path}: cannot write the screenshot", file=sys.stderr)
    if window.failed_count or not window.done_count:
        summary = window.presenter.batch.summary()
        print(f"carsr-gui: {summary}; see the queue in {path}", file=sys.stderr)
    outcome["code"] = (
        EXIT_OK if ok and not window.failed_count and window.done_count else EXIT_FAILED
    )
    app.exit(outcome["code"])


if __name__ == "__main__":
    sys.exit(main())
