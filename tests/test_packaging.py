"""The packaged app: entry-point dispatch, the PyInstaller spec, build helpers and shipped resources.

Nothing here runs PyInstaller (``.ci/build_bundle.sh`` builds and checks the real bundle); the spec
is executed with stand-ins for PyInstaller's classes, which record what it asks for.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import carsr_gui
from carsr_gui import __main__ as entry

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
BUILD_SPEC = ROOT / "build_spec"


def load(name: str) -> types.ModuleType:
    """A module of build_spec/ (not a package) by file path."""
    spec = importlib.util.spec_from_file_location(f"_carsr_build_{name}", BUILD_SPEC / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def buildinfo():
    return load("buildinfo")


# -- __main__: one executable, three front doors ---------------------------------------------------


@pytest.mark.parametrize(
    "argv, target",
    [
        ([], "gui"),
        (["car.png"], "gui"),
        (["a.png", "b.jpg", "--eval"], "gui"),
        (["--eval", "a.png"], "gui"),
        (["car.png", "--screenshot", "shot.png"], "gui"),
        (["--self-test"], "selftest"),
        (["--self-test", "--device", "cpu"], "selftest"),
        (["upscale", "car.png", "-o", "out"], "cli"),
        (["eval", "hr.png"], "cli"),
        (["info"], "cli"),
        (["train", "--data", "d"], "cli"),
        (["--version"], "cli"),
        (["-h"], "cli"),
        (["--help"], "cli"),
        (["--help-window"], "gui"),
    ],
)
def test_arguments_are_routed(argv, target):
    assert entry.route(argv) == target


def test_every_cli_subcommand_is_routed_to_the_cli():
    assert {"upscale", "eval", "info", "train"} <= entry.cli_commands()


@pytest.fixture
def spies(monkeypatch):
    """Stand-ins for the three mains; the window's module is faked so that Qt is not imported."""
    calls = []

    def spy(name, code):
        def main(argv=None):
            calls.append((name, list(argv)))
            return code

        return main

    monkeypatch.setattr("carsr_gui.cli.main", spy("cli", 3))
    monkeypatch.setattr("carsr_gui.selftest.main", spy("selftest", 4))
    fake_app = types.ModuleType("carsr_gui.gui.app")
    fake_app.main = spy("gui", 5)
    monkeypatch.setitem(sys.modules, "carsr_gui.gui.app", fake_app)
    return calls


@pytest.mark.parametrize(
    "argv, call, code",
    [
        ([], ("gui", []), 5),
        (["x.png", "--screenshot", "s.png"], ("gui", ["x.png", "--screenshot", "s.png"]), 5),
        (["info"], ("cli", ["info"]), 3),
        (["upscale", "x.png", "-o", "o"], ("cli", ["upscale", "x.png", "-o", "o"]), 3),
        (["--self-test", "--device", "cpu"], ("selftest", ["--device", "cpu"]), 4),
    ],
)
def test_main_dispatches_and_returns_the_exit_status(spies, argv, call, code):
    assert entry.main(argv) == code
    assert spies == [call]


def test_help_lists_the_modes_before_the_command_line_help(spies, capsys):
    assert entry.main(["-h"]) == 3 and spies == [("cli", ["-h"])]
    out = capsys.readouterr().out
    assert "open the window" in out and "--self-test" in out and "--help-window" in out


def test_help_window_shows_the_window_options(spies):
    assert entry.main(["--help-window"]) == 5 and spies == [("gui", ["--help"])]


def test_main_reads_sys_argv_by_default(spies, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["carsr", "info"])
    assert entry.main() == 3 and spies == [("cli", ["info"])]


def test_python_dash_m_prints_the_version():
    done = subprocess.run(
        [sys.executable, "-m", "carsr_gui", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"carsr {carsr_gui.__version__}"


# -- the spec, run with stand-ins for PyInstaller ---------------------------------------------------


class Recorder:
    """Stands in for Analysis/PYZ/EXE/COLLECT: keeps its arguments."""

    made: list[Recorder]

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.made.append(self)
        self.pure, self.scripts, self.binaries, self.datas = [], [], [], []


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    """The spec's globals and the objects it made, by class name."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [f"{package}.selftest", f"{package}.gui.app"]
    saved = {k: sys.modules.get(k) for k in ("PyInstaller", "PyInstaller.utils", "buildinfo")}
    sys.modules.setdefault("PyInstaller", types.ModuleType("PyInstaller"))
    sys.modules.setdefault("PyInstaller.utils", types.ModuleType("PyInstaller.utils"))
    saved_hooks = sys.modules.get("PyInstaller.utils.hooks")
    sys.modules["PyInstaller.utils.hooks"] = hooks
    made: dict[str, list[Recorder]] = {}
    namespace = {
        "SPECPATH": str(BUILD_SPEC),
        "workpath": str(tmp_path_factory.mktemp("work")),
        "DISTPATH": str(tmp_path_factory.mktemp("dist")),
    }
    for name in ("Analysis", "PYZ", "EXE", "COLLECT"):
        made[name] = []
        namespace[name] = type(name, (Recorder,), {"made": made[name]})
    saved_path = list(sys.path)
    try:
        exec(compile((BUILD_SPEC / "carsr.spec").read_text(), "carsr.spec", "exec"), namespace)
    finally:
        sys.path[:] = saved_path
        for key, value in [*saved.items(), ("PyInstaller.utils.hooks", saved_hooks)]:
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    return namespace, {k: v[0] for k, v in made.items()}


def test_spec_builds_one_folder_named_carsr_without_upx(spec):
    _, made = spec
    exe, coll = made["EXE"], made["COLLECT"]
    assert exe.kwargs["exclude_binaries"] is True  # one-folder: binaries go to COLLECT
    assert exe.kwargs["name"] == coll.kwargs["name"] == "carsr"
    assert exe.kwargs["upx"] is False and coll.kwargs["upx"] is False
    assert exe.kwargs["console"] is True
    assert coll.args[0] is exe


def test_spec_strips_only_tensorflow_and_drops_the_gtk_theme(spec):
    """PyInstaller's strip breaks auditwheel-patched libraries such as numpy's OpenBLAS."""
    namespace, made = spec
    assert made["EXE"].kwargs["strip"] is False and made["COLLECT"].kwargs["strip"] is False
    assert "buildinfo.strip_libraries(" in (BUILD_SPEC / "carsr.spec").read_text()
    assert "PySide6/Qt/plugins/platformthemes/libqgtk3.so" in namespace["UNUSED_BINARIES"]


def test_spec_keeps_our_sources_for_autograph(spec):
    mode = spec[1]["Analysis"].kwargs["module_collection_mode"]
    assert mode == {"carsr_gui": "pyz+py"}


def test_spec_enters_through_main_and_collects_our_modules(spec):
    analysis = spec[1]["Analysis"]
    (script,) = analysis.args[0]
    assert Path(script) == ROOT / "carsr_gui" / "__main__.py"
    assert "carsr_gui.selftest" in analysis.kwargs["hiddenimports"]


def test_spec_bundles_weights_card_and_resources_but_not_the_screenshot(spec):
    datas = spec[1]["Analysis"].kwargs["datas"]
    shipped = {(Path(src).name, dest) for src, dest in datas}
    from carsr_gui import resources

    for card in resources.MODEL_CARDS.values():  # every bundled weights file and its card
        weights = json.loads((ROOT / "model_weights" / card).read_text())["weights"]
        assert (card, "model_weights") in shipped and (weights, "model_weights") in shipped
    for name in ("sample_car.png", "carsr.png", "carsr.desktop", "LICENSES.md"):
        assert (name, "resources") in shipped
    assert ("LGPL-3.0.txt", str(Path("resources/licenses"))) in shipped
    assert not any(name.startswith("screenshot") for name, _ in shipped)
    assert all(Path(src).is_file() for src, _ in datas)


def test_spec_ships_third_party_licence_texts(spec):
    dests = {dest for _, dest in spec[1]["Analysis"].kwargs["datas"]}
    for dist in ("keras", "numpy", "pillow"):
        assert str(Path("licenses") / dist) in dests


def test_spec_excludes_are_grouped_and_cover_what_carsr_does_not_use(spec):
    excludes = spec[1]["Analysis"].kwargs["excludes"]
    for name in (
        "PyQt5",
        "PyQt6",
        "PySide2",
        "tkinter",
        "tensorboard",
        "pytest",
        "hypothesis",
        "IPython",
        "jupyter",
        "matplotlib",
        "PySide6.QtWebEngineCore",
        "PySide6.Qt3DCore",
        "PySide6.QtQuick",
        "PySide6.QtMultimedia",
    ):
        assert name in excludes
    for needed in ("tensorflow", "keras", "PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"):
        assert needed not in excludes
    text = (BUILD_SPEC / "carsr.spec").read_text()
    groups = re.findall(
        r"^    # (.+)$", text.split("EXCLUDES = [")[1].split("]\n")[0], re.MULTILINE
    )
    assert len(groups) >= 5  # each group says why


def test_spec_version_and_icons_come_from_the_package(spec, buildinfo):
    namespace, made = spec
    assert namespace["VERSION"] == carsr_gui.__version__
    icon = made["EXE"].kwargs["icon"]
    if sys.platform == "win32":
        assert icon.endswith("carsr.ico")
    elif sys.platform == "darwin":
        assert icon.endswith("carsr.icns")
    else:
        assert icon is None
    for name in ("carsr.ico", "carsr.icns"):
        assert (
            name in (BUILD_SPEC / "carsr.spec").read_text()
            or name in Path(buildinfo.__file__).read_text()
        )


def test_windows_version_resource_is_generated_from_the_version(buildinfo):
    captured = {}

    def structure(name):
        def make(*args, **kwargs):
            captured.setdefault(name, []).append((args, kwargs))
            return (name, args, kwargs)

        return make

    names = (
        "VSVersionInfo FixedFileInfo StringFileInfo StringTable StringStruct VarFileInfo VarStruct"
    )
    eval(buildinfo.windows_version_text("2.13.4"), {n: structure(n) for n in names.split()})
    (_, ffi), *_ = captured["FixedFileInfo"]
    assert ffi["filevers"] == ffi["prodvers"] == (2, 13, 4, 0)
    strings = dict(args for args, _ in captured["StringStruct"])
    assert strings["ProductVersion"] == strings["FileVersion"] == "2.13.4"
    assert strings["OriginalFilename"] == "carsr.exe"


@pytest.mark.parametrize(
    "text, numbers",
    [("0.1.0", (0, 1, 0, 0)), ("1.2", (1, 2, 0, 0)), ("3.4.5rc1+g00d", (3, 4, 5, 0))],
)
def test_version_tuple(buildinfo, text, numbers):
    assert buildinfo.version_tuple(text) == numbers


def test_version_and_archive_name(buildinfo):
    assert buildinfo.version() == carsr_gui.__version__
    name = buildinfo.archive_name()
    assert re.fullmatch(
        rf"carsr-{re.escape(carsr_gui.__version__)}-(linux|windows|macos)-[a-z0-9_]+(-cuda)?"
        r"\.(tar\.gz|zip)",
        name,
    )
    assert buildinfo.archive_name("1.0", "linux-x86_64").startswith("carsr-1.0-linux-x86_64.")


# -- build.py's archive ------------------------------------------------------------------------------


def test_archive_has_one_top_folder_and_keeps_symlinks(tmp_path):
    build = load("build")
    bundle = tmp_path / "carsr"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "carsr").write_bytes(b"\x7fELF" + b"x" * 100)
    (bundle / "_internal" / "libfoo.so.2").write_bytes(b"y" * 50)
    if os.name != "nt":
        (bundle / "libfoo.so.2").symlink_to("_internal/libfoo.so.2")
    assert build.tree_size(bundle) == 154  # the symbolic link is not counted twice
    archive = build.make_archive(bundle, tmp_path / "out" / "carsr-0-linux-x86_64.tar.gz")
    assert not list((tmp_path / "out").glob("*.partial"))
    with tarfile.open(archive) as t:
        names = set(t.getnames())
        assert names >= {"carsr", "carsr/carsr", "carsr/_internal/libfoo.so.2"}
        assert all(n == "carsr" or n.startswith("carsr/") for n in names)
        if os.name != "nt":
            assert t.getmember("carsr/libfoo.so.2").issym()


def test_build_environment_is_made_once_per_requirements(tmp_path, monkeypatch):
    build = load("build")
    made, installed = [], []

    class FakeBuilder:
        def __init__(self, **kwargs):
            assert kwargs == {"with_pip": True}

        def create(self, env):
            made.append(Path(env))
            Path(env).mkdir(parents=True)

    monkeypatch.setattr(build.venv, "EnvBuilder", FakeBuilder)
    monkeypatch.setattr(build.subprocess, "run", lambda cmd, check: installed.append(cmd))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tensorflow-cpu==2.21.0\n")
    env = tmp_path / "env"
    python = build.ensure_env(env, requirements)
    assert python == build.env_python(env) and made == [env]
    assert installed[0][-2:] == ["-r", str(requirements)]
    build.ensure_env(env, requirements)  # same requirements: nothing to do
    assert len(made) == 1 and len(installed) == 1
    requirements.write_text("tensorflow-cpu==2.22.0\n")
    build.ensure_env(env, requirements)  # changed: made anew
    assert len(made) == 2 and len(installed) == 2


def test_ci_script_is_executable_bash():
    script = ROOT / ".ci" / "build_bundle.sh"
    assert os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/usr/bin/env bash")
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(script)], check=True)


# -- resources ---------------------------------------------------------------------------------------


def test_sample_photo_is_a_detailed_640x400_rgb_picture():
    with Image.open(RESOURCES / "sample_car.png") as img:
        assert img.format == "PNG" and img.mode == "RGB" and img.size == (640, 400)
        a = np.asarray(img).astype(np.float64)
    assert a.std() > 30  # not flat
    # Detail for super-resolution to recover: plenty of strong local edges.
    grad = np.abs(np.diff(a.mean(-1), axis=1))
    assert (grad > 20).mean() > 0.02


def test_sample_photo_is_what_the_generator_draws():
    make = load("make_resources")
    drawn = np.asarray(make.sample_car()).astype(int)
    with Image.open(RESOURCES / "sample_car.png") as img:
        shipped = np.asarray(img).astype(int)
    diff = np.abs(drawn - shipped)
    # Equal with the Pillow that drew it; another Pillow may rasterise text a little differently.
    assert diff.mean() < 0.5 and (diff > 8).mean() < 0.01


def test_icons_are_valid_at_every_size():
    with Image.open(RESOURCES / "carsr.png") as png:
        assert png.size == (256, 256) and png.mode == "RGBA"
        assert png.getpixel((0, 0))[3] == 0 and png.getpixel((128, 128))[3] == 255
    with Image.open(RESOURCES / "carsr.ico") as ico:
        assert ico.format == "ICO"
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(RESOURCES / "carsr.icns") as icns:
        assert icns.format == "ICNS" and icns.size[0] >= 256


DESKTOP_KEYS = {
    "Type", "Version", "Name", "GenericName", "Comment", "Exec", "TryExec", "Icon", "Terminal",
    "Categories", "MimeType", "Keywords", "StartupNotify", "StartupWMClass", "NoDisplay",
}  # fmt: skip


def test_desktop_file_is_a_valid_application_entry():
    path = RESOURCES / "carsr.desktop"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("[Desktop Entry]\n")
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(text)
    assert parser.sections() == ["Desktop Entry"]
    entry_ = parser["Desktop Entry"]
    assert set(entry_) <= DESKTOP_KEYS
    assert entry_["Type"] == "Application" and entry_["Name"] == "carsr"
    assert re.fullmatch(r"carsr( %[fFuU])?", entry_["Exec"])
    assert (RESOURCES / f"{entry_['Icon']}.png").is_file()
    for key in ("Terminal", "StartupNotify"):
        assert entry_[key] in ("true", "false")
    for key in ("Categories", "MimeType", "Keywords"):
        assert entry_[key].endswith(";")
    assert "Graphics" in entry_["Categories"].split(";")
    assert all(re.fullmatch(r"image/[a-z0-9.+-]+", m) for m in entry_["MimeType"].split(";")[:-1])
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(path)], check=True)


def test_licences_are_noted():
    text = (RESOURCES / "LICENSES.md").read_text(encoding="utf-8")
    for needle in ("CC0", "sample_car.png", "LGPL-3.0", "Apache-2.0", "TensorFlow", "Qt"):
        assert needle in text
    for name in ("LGPL-3.0.txt", "GPL-3.0.txt", "CC0-1.0.txt"):
        assert (RESOURCES / "licenses" / name).stat().st_size > 5000


@pytest.mark.skipif(not shutil.which("strip") or os.name == "nt", reason="needs binutils' strip")
def test_strip_libraries_strips_elf_files_and_leaves_the_rest(tmp_path, buildinfo):
    import ctypes
    import math

    source = Path(math.__file__) if hasattr(math, "__file__") else None
    if source is None or source.suffix != ".so":
        pytest.skip("math is built into this interpreter")
    (tmp_path / "sub").mkdir()
    lib = tmp_path / "sub" / "libcopy.so.1"
    shutil.copyfile(source, lib)
    (tmp_path / "notes.so.txt").write_text("not a library")
    (tmp_path / "link.so").symlink_to(lib)
    saved = buildinfo.strip_libraries(tmp_path)
    assert saved == source.stat().st_size - lib.stat().st_size >= 0
    assert (tmp_path / "notes.so.txt").read_text() == "not a library"
    ctypes.CDLL(str(lib))  # still loads
    assert buildinfo.strip_libraries(tmp_path / "missing") == 0
