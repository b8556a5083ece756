"""Facts about a build shared by ``carsr.spec`` and ``build.py``: version, platform, archive name,
what to bundle, and the Windows version resource. Standard library only; never imports carsr (its
package sets environment variables for TensorFlow) or PyInstaller."""

from __future__ import annotations

import importlib.metadata
import platform
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = "carsr"
#: Documentation pictures kept in resources/ for the README but not shipped in the bundle.
NOT_SHIPPED = ("screenshot*.png",)


def version(root: Path = ROOT) -> str:
    """``carsr_gui.__version__``, read from the source without importing the package."""
    text = (root / "carsr_gui" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if not match:
        raise RuntimeError("carsr_gui/__init__.py defines no __version__")
    return match.group(1)


def version_tuple(text: str) -> tuple[int, int, int, int]:
    """``"1.2.3rc1"`` -> ``(1, 2, 3, 0)``: the four numbers a Windows version resource holds."""
    numbers = [int(n) for n in re.findall(r"\d+", text.split("+")[0])[:3]]
    return (*numbers, *[0] * (4 - len(numbers)))  # type: ignore[return-value]


def has_cuda_libraries() -> bool:
    """True where the build environment has NVIDIA's CUDA wheels (``tensorflow[and-cuda]``), which
    the TensorFlow hook bundles: a GPU build, named as such."""
    return any(
        (d.metadata["Name"] or "").lower().startswith("nvidia-cudnn")
        for d in importlib.metadata.distributions()
    )


def platform_tag() -> str:
    """``linux-x86_64``, ``windows-x86_64``, ``macos-arm64``; ``-cuda`` for a GPU build."""
    system = {"win32": "windows", "darwin": "macos"}.get(
        sys.platform, sys.platform.rstrip("0123456789")
    )
    machine = {"amd64": "x86_64", "aarch64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    return f"{system}-{machine}" + ("-cuda" if has_cuda_libraries() else "")


def archive_name(ver: str | None = None, tag: str | None = None) -> str:
    """``carsr-0.1.0-linux-x86_64.tar.gz`` (``.zip`` on Windows)."""
    ext = ".zip" if sys.platform == "win32" else ".tar.gz"
    return f"{APP}-{ver or version()}-{tag or platform_tag()}{ext}"


def data_files(root: Path = ROOT) -> list[tuple[str, str]]:
    """(source file, folder in the bundle) for the weights, their model card and resources/."""
    out = []
    for folder, patterns in (
        ("model_weights", ("*.h5", "*.json", "*.md", "*.tflite")),
        ("resources", ("**/*",)),
    ):
        for pattern in patterns:
            for path in sorted((root / folder).glob(pattern)):
                if path.is_file() and not any(path.match(p) for p in NOT_SHIPPED):
                    out.append((str(path), str(path.parent.relative_to(root))))
    return out


def _requirement_names(requirements: list[str]) -> list[str]:
    """Names of the unconditional requirements (those without extras or environment markers that
    fail here) in ``requirements``."""
    names = []
    for req in requirements:
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        name = re.match(r"\s*([A-Za-z0-9_.\-]+)", spec)
        if name:
            names.append(name.group(1))
    return names


#: Distributions that provide the same package under another name (the CPU bundle is built with
#: tensorflow-cpu, see requirements-cpu.txt).
ALIASES = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos")}


def runtime_distributions(root: Path = ROOT) -> list[importlib.metadata.Distribution]:
    """carsr's run-time dependencies (from ``pyproject.toml``) and theirs, as installed here."""
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    todo = _requirement_names(project["dependencies"])
    seen: dict[str, importlib.metadata.Distribution] = {}
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        dist = None
        for candidate in ALIASES.get(name, (name,)):
            try:
                dist = importlib.metadata.distribution(candidate)
                break
            except importlib.metadata.PackageNotFoundError:
                continue  # optional on this platform (e.g. tensorflow-io-gcs-filesystem)
        if dist is None:
            continue
        seen[name] = dist
        todo += _requirement_names(dist.requires or [])
    return [seen[k] for k in sorted(seen)]


LICENCE_NAME = re.compile(r"^(licen[cs]e|copying|notice|third_party_notices)", re.IGNORECASE)


def licence_files(root: Path = ROOT) -> list[tuple[str, str]]:
    """(licence file, ``licenses/<distribution>`` folder) for every bundled distribution that ships
    its licence text in its metadata (TensorFlow keeps it under ``include/``, which is not bundled)."""
    out = []
    for dist in runtime_distributions(root):
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        for file in dist.files or []:
            parts = Path(str(file)).parts
            in_metadata = parts[0].endswith(".dist-info")
            top_level_notice = len(parts) == 2 and parts[0] == "tensorflow"
            tf_licence = str(file) == "tensorflow/include/LICENSE"
            if LICENCE_NAME.match(parts[-1]) and (in_metadata or top_level_notice or tf_licence):
                path = Path(str(dist.locate_file(file)))
                if path.is_file():
                    sub = Path(*parts[1:-1]) if in_metadata else Path()
                    if sub.parts and sub.parts[0] == "licenses":
                        sub = Path(*sub.parts[1:])
                    out.append((str(path), str(Path("licenses") / name / sub)))
    return out


def icon(root: Path = ROOT) -> str | None:
    """The executable's icon: ``.ico`` on Windows, ``.icns`` on macOS; Linux uses the .desktop file."""
    name = {"win32": "carsr.ico", "darwin": "carsr.icns"}.get(sys.platform)
    return str(root / "resources" / name) if name else None


def windows_version_text(ver: str | None = None) -> str:
    """A PyInstaller version-resource file (the text form of ``VSVersionInfo``) for ``ver``."""
    ver = ver or version()
    nums = version_tuple(ver)
    strings = {
        "CompanyName": "carsr",
        "FileDescription": "carsr: sharper, larger car photos",
        "FileVersion": ver,
        "InternalName": APP,
        "LegalCopyright": "MIT licence; bundled components under their own licences",
        "OriginalFilename": f"{APP}.exe",
        "ProductName": "carsr",
        "ProductVersion": ver,
    }
    rows = ",\n".join(f"          StringStruct({k!r}, {v!r})" for k, v in strings.items())
    return f"""# UTF-8
# Generated by build_spec/buildinfo.py from carsr_gui.__version__ ({ver}); do not edit.
VSVersionInfo(
  ffi=FixedFileInfo(
    filevers={nums},
    prodvers={nums},
    mask=0x3f,
    flags=0x0,
    OS=0x40004,
    fileType=0x1,
    subtype=0x0,
    date=(0, 0)
  ),
  kids=[
    StringFileInfo([
      StringTable(
        '040904B0',
        [
{rows}
        ])
    ]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""


def strip_libraries(folder: Path) -> int:
    """Strip the symbol tables of the ELF libraries under ``folder`` (in place); bytes saved.

    Only TensorFlow's libraries are passed here: they ship unstripped (libtensorflow_cc.so sheds a
    fifth of its size). PyInstaller's own ``strip=True`` would also strip the libraries that
    auditwheel patched (``numpy.libs/``, ``pillow.libs/``), which then fail to load ("ELF load
    command address/offset not page-aligned").
    """
    import shutil
    import subprocess

    strip = shutil.which("strip")
    if strip is None or not folder.is_dir():
        return 0
    saved = 0
    for path in sorted(folder.rglob("*.so*")):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        before = path.stat().st_size
        subprocess.run([strip, str(path)], check=True)
        saved += before - path.stat().st_size
    return saved


if __name__ == "__main__":  # build.py asks the build environment for its platform tag
    print(platform_tag())
