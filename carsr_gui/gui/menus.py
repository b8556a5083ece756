"""The window's actions, menus and toolbar, set up on it in the manner of Qt Designer's
``setupUi``: each action becomes an attribute of the window (``window.save_action``) and calls one
of its slots."""

from __future__ import annotations

import functools

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtGui import QKeySequence as Keys
from PySide6.QtWidgets import QApplication, QMenu

from carsr_gui.devices import DEVICES
from carsr_gui.engine import SCALES
from carsr_gui.gui.saving import FORMAT_LABELS
from carsr_gui.gui.settings import MAX_MEGAPIXELS, TILES
from carsr_gui.model_choice import MODEL_LABELS


def setup(window) -> None:
    """Create the actions (before the status bar and settings, which use them), then the menus
    and the toolbar."""
    _build_actions(window)
    _build_menus_and_toolbar(window)


def _action(window, text: str, slot, shortcut=None, *, tip: str = "", checkable=False) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(shortcut)
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.setCheckable(checkable)
    (action.toggled if checkable else action.triggered).connect(slot)
    return action


def _build_actions(window) -> None:
    a = functools.partial(_action, window)
    window.open_action = a("&Open…", window.open_dialog, Keys.StandardKey.Open, tip="Open images")
    window.open_folder_action = a(
        "Open &Folder…",
        window.open_folder_dialog,
        "Ctrl+Shift+O",
        tip="Open every image in a folder",
    )
    window.sample_action = a(
        "Open &Sample",
        window.open_sample,
        "Ctrl+Alt+O",
        tip="Open the car photo shipped with carsr",
    )
    window.save_action = a(
        "&Save…", window.save_current, Keys.StandardKey.Save, tip="Save the enlarged image shown"
    )
    window.save_all_action = a(
        "Save &All…", window.save_all, "Ctrl+Shift+S", tip="Save every enlarged image to a folder"
    )
    window.reopen_action = a(
        "Reopen &Last", window.reopen_last, "Ctrl+Shift+T", tip="Open the most recent file again"
    )
    window.quit_action = a("&Quit", window.close, Keys.StandardKey.Quit)
    window.cancel_action = a(
        "&Cancel", window.cancel, "Esc", tip="Stop the current image and the rest of the batch"
    )
    window.rerun_action = a(
        "&Run Again",
        window.run_again,
        "F5",
        tip="Process the selected image again with the current settings",
    )
    window.remove_action = a("&Remove from Queue", window.remove_selected, Keys.StandardKey.Delete)
    window.clear_action = a("Clear &Finished", window.clear_finished, "Ctrl+Shift+Del")
    window.eval_action = a(
        "&Evaluation Mode",
        window.set_evaluation,
        "Ctrl+E",
        tip="Treat each image as ground truth: shrink it 2×, enlarge it, and measure PSNR/SSIM",
        checkable=True,
    )
    window.split_action = a(
        "&Before/After Split",
        window.set_split,
        "Ctrl+T",
        tip="One large view with a line to drag between before and after",
        checkable=True,
    )
    window.zoom_in_action = a(
        "Zoom &In", lambda: window.sync.zoom_by(1.25), Keys.StandardKey.ZoomIn
    )
    window.zoom_out_action = a(
        "Zoom &Out", lambda: window.sync.zoom_by(0.8), Keys.StandardKey.ZoomOut
    )
    window.fit_action = a("&Fit", window.sync.fit, "Ctrl+0", tip="Fit the image in the panels")
    window.zoom_actions = {
        z: a(
            f"{z}%",
            lambda _=False, z=z: window.sync.set_zoom(z / 100),
            f"Ctrl+{z // 100}",
            tip=f"{z}% of the output's pixels",
        )
        for z in (100, 200, 400)
    }
    window.quality_action = a("JPEG/WebP &Quality…", window.ask_quality)
    window.tta_action = a(
        "&Best Quality (8 Passes)",
        lambda on: window.set_engine_option("process/tta", on),
        tip="Average the model over 8 flips and turns of each tile: "
        "about 0.1 dB sharper, 8× slower",
        checkable=True,
    )
    window.about_action = a("&About carsr", window.about)
    window.about_qt_action = a("About &Qt", QApplication.aboutQt)


def _choice_menu(window, title: str, key: str, choices: dict, slot) -> QMenu:
    menu = QMenu(title, window)
    group = QActionGroup(menu)
    current = window.settings[key]
    for value, label in choices.items():
        action = menu.addAction(label)
        action.setCheckable(True)
        action.setChecked(value == current)
        action.setData(value)
        group.addAction(action)
        action.triggered.connect(lambda _=False, v=value: slot(v))
    return menu


def _build_menus_and_toolbar(window) -> None:
    bar = window.menuBar()
    file = bar.addMenu("&File")
    file.addActions([window.open_action, window.open_folder_action, window.sample_action])
    window.recent_menu = file.addMenu("Open &Recent")
    window.recent_menu.aboutToShow.connect(lambda: fill_recent(window))
    file.addSeparator()
    file.addActions([window.save_action, window.save_all_action])
    file.addSeparator()
    file.addAction(window.quit_action)

    process = bar.addMenu("&Process")
    process.addActions([window.cancel_action, window.rerun_action, window.eval_action])
    process.addSeparator()
    process.addActions([window.remove_action, window.clear_action])

    view = bar.addMenu("&View")
    view.addAction(window.split_action)
    view.addSeparator()
    view.addActions([window.zoom_in_action, window.zoom_out_action, window.fit_action])
    view.addActions(list(window.zoom_actions.values()))

    options = bar.addMenu("&Settings")
    window.scale_menu = _choice_menu(
        window,
        "&Scale",
        "process/scale",
        {s: f"{s}×" + (f" ({s.bit_length() - 1} passes)" if s > 2 else "") for s in SCALES},
        window.set_scale,
    )
    window.device_menu = _choice_menu(
        window,
        "&Device",
        "process/device",
        {d: "Automatic" if d == "auto" else d.upper() for d in DEVICES},
        lambda v: window.set_engine_option("process/device", v),
    )
    window.tile_menu = _choice_menu(
        window,
        "&Tile Size",
        "process/tile",
        {t: f"{t} px" for t in TILES},
        lambda v: window.set_engine_option("process/tile", v),
    )
    window.model_menu = _choice_menu(
        window,
        "&Model",
        "process/model",
        MODEL_LABELS,
        lambda v: window.set_engine_option("process/model", v),
    )
    window.pixel_limit_menu = _choice_menu(
        window,
        "&Pixel Limit",
        "process/max_megapixels",
        {mp: f"Refuse photos over {mp} MP" for mp in MAX_MEGAPIXELS},
        lambda v: window.store_setting("process/max_megapixels", v),
    )
    window.format_menu = _choice_menu(
        window,
        "Output &Format",
        "save/format",
        FORMAT_LABELS,
        lambda v: window.store_setting("save/format", v),
    )
    menus = (
        window.scale_menu,
        window.device_menu,
        window.tile_menu,
        window.model_menu,
        window.pixel_limit_menu,
        window.format_menu,
    )
    for menu in menus:
        options.addMenu(menu)
    options.addAction(window.tta_action)
    options.addAction(window.quality_action)

    help_menu = bar.addMenu("&Help")
    help_menu.addActions([window.about_action, window.about_qt_action])

    tools = window.addToolBar("Main")
    tools.setObjectName("mainToolbar")
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    tools.addActions(
        [window.open_action, window.sample_action, window.save_action, window.save_all_action]
    )
    tools.addSeparator()
    tools.addActions([window.eval_action, window.split_action])
    tools.addSeparator()
    tools.addAction(window.fit_action)
    tools.addActions(list(window.zoom_actions.values()))
    tools.addSeparator()
    tools.addAction(window.cancel_action)


def fill_recent(window) -> None:
    """The Open Recent menu, filled again each time it opens."""
    menu = window.recent_menu
    menu.clear()
    recent = window.settings.recent()
    for n, path in enumerate(recent, 1):
        label = f"&{n} {path.name}" if n < 10 else path.name
        action = menu.addAction(label)
        action.setToolTip(str(path))
        action.setStatusTip(str(path))
        action.triggered.connect(lambda _=False, p=path: window.open_recent(p))
    if not recent:
        menu.addAction("(none)").setEnabled(False)
    menu.addSeparator()
    menu.addAction(window.reopen_action)
    menu.addAction("Clear List", lambda: window.store_setting("paths/recent", []))
