"""One entry point for ``python -m carsr_gui`` and the frozen ``carsr`` executable.

* no arguments, or photos and window options (``FILE... [--eval] [--screenshot PATH]``): the window;
* a command-line subcommand (``upscale``, ``eval``, ``info``, ...), ``--version``, ``-h``: ``carsr``
  (``-h`` first lists these modes);
* ``--self-test [--device D]``: the headless self-test (:mod:`carsr_gui.selftest`);
* ``--help-window``: the window's options.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

SELF_TEST = "--self-test"
WINDOW_HELP = "--help-window"
HELP = frozenset({"-h", "--help"})
#: Options that belong to the command line.
CLI_OPTIONS = frozenset({"--version"}) | HELP
MODES = """\
carsr: make car photos sharper and twice as large.

  carsr                                 open the window
  carsr FILE... [--eval] [--screenshot PATH] [window options]
                                        open photos in the window (--help-window lists its options)
  carsr --self-test [--device D]        check the bundled model against bicubic on a sample photo
  carsr COMMAND ...                     the command line:
"""


def cli_commands() -> frozenset[str]:
    """The subcommands of ``carsr`` (read from its parser, so new ones are routed too)."""
    import argparse

    from carsr_gui import cli

    for action in cli.parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return frozenset(action.choices)
    return frozenset()


def route(argv: Sequence[str]) -> str:
    """``"selftest"``, ``"cli"`` or ``"gui"``: which part of carsr handles these arguments."""
    if not argv:
        return "gui"
    first = argv[0]
    if first == SELF_TEST:
        return "selftest"
    if first == WINDOW_HELP:
        return "gui"
    if first in CLI_OPTIONS or first in cli_commands():
        return "cli"
    return "gui"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    target = route(argv)
    if target == "selftest":
        from carsr_gui import selftest

        return selftest.main(argv[1:])
    if target == "cli":
        from carsr_gui import cli

        if argv[0] in HELP:
            print(MODES)
        return cli.main(argv)
    from carsr_gui.gui.app import main as gui_main

    return gui_main(["--help"] if argv[:1] == [WINDOW_HELP] else argv)


if __name__ == "__main__":
    if getattr(sys, "frozen", False):
        # PyInstaller: lets a child that multiprocessing starts (tqdm's lock starts a resource
        # tracker) run its own code instead of opening a second carsr.
        import multiprocessing

        multiprocessing.freeze_support()
    sys.exit(main())
