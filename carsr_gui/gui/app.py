"""``carsr-gui [FILE...]``: start the window; ``--screenshot PATH`` runs headless for docs and checks."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from carsr_gui import __version__

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SCREENSHOT_SIZE = (1600, 1000)


def parser() -> argparse.ArgumentParser:
    from carsr_gui.gui.settings import DEVICES, TILES

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
    p.add_argument("--scale", type=int, choices=(2, 4), help="enlargement factor")
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
        for key, value in (
            ("process/device", args.device),
            ("process/tile", args.tile),
            ("process/scale", args.scale),
            ("view/layout", args.layout),
        ):
            if value is not None:
                settings[key] = value
        if args.eval:
            settings["process/evaluate"] = True

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
        print(
            f"carsr-gui: {window.failed_count} image(s) failed; see the queue in {path}",
            file=sys.stderr,
        )
    outcome["code"] = (
        EXIT_OK if ok and not window.failed_count and window.done_count else EXIT_FAILED
    )
    app.exit(outcome["code"])


if __name__ == "__main__":
    sys.exit(main())
