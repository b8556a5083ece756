"""The carsr window (PySide6). Every Qt import of carsr lives in this package; the core does not
know it exists. Start it with :func:`carsr_gui.gui.app.main` (the ``carsr-gui`` command)."""
