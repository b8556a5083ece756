"""Build the carsr bundle and its archive in one command::

    python3 build_spec/build.py --env build/bundle-venv
    # -> dist/carsr/ and dist/carsr-<version>-<platform>.tar.gz (.zip on Windows)

With ``--env``, the build runs in that virtual environment, made (and remade whenever the
requirements file changes) from ``build_spec/requirements-cpu.txt``: carsr's run-time dependencies
with TensorFlow's CPU-only wheel, and PyInstaller, nothing else. Without it, PyInstaller runs in
the current interpreter (which then needs the ``build`` extra: ``pip install -e .[build]``).

Runs PyInstaller on ``build_spec/carsr.spec`` (one folder), then packs ``dist/carsr/`` into an
archive whose top folder is ``carsr/``, and prints the build time, the bundle's size on disk and
the archive's size. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import buildinfo

SPEC = buildinfo.ROOT / "build_spec" / "carsr.spec"
REQUIREMENTS = buildinfo.ROOT / "build_spec" / "requirements-cpu.txt"
STAMP = ".carsr-requirements"


def env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def ensure_env(env: Path, requirements: Path) -> Path:
    """The interpreter of ``env``, made from ``requirements`` unless it already was."""
    stamp = env / STAMP
    wanted = requirements.read_text(encoding="utf-8")
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return env_python(env)
    if env.exists():
        shutil.rmtree(env)
    print(f"+ making {env} from {requirements}", flush=True)
    venv.EnvBuilder(with_pip=True).create(env)
    python = env_python(env)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(requirements)], check=True)
    stamp.write_text(wanted, encoding="utf-8")
    return python


def tree_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed, each file counted once)."""
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def make_archive(bundle: Path, archive: Path, level: int = 6) -> Path:
    """Pack ``bundle`` (a folder) into ``archive`` with the folder as its single top entry."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    if archive.suffix == ".zip":
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
            for path in sorted(bundle.rglob("*")):
                z.write(path, Path(bundle.name) / path.relative_to(bundle))
    else:
        with tarfile.open(partial, "w:gz", compresslevel=level) as t:
            t.add(bundle, arcname=bundle.name)  # keeps the symbolic links PyInstaller made
    partial.replace(archive)
    return archive


def mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", type=Path, help="build in this virtual environment (made if needed)")
    p.add_argument(
        "--requirements",
        type=Path,
        default=REQUIREMENTS,
        help="what --env holds (default build_spec/requirements-cpu.txt; requirements-cuda.txt "
        "for the GPU build)",
    )
    p.add_argument("--distpath", type=Path, default=buildinfo.ROOT / "dist")
    p.add_argument("--workpath", type=Path, default=buildinfo.ROOT / "build")
    p.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    p.add_argument("--no-archive", action="store_true", help="build dist/carsr/ only")
    p.add_argument("--level", type=int, default=6, help="gzip/deflate level (default 6)")
    args = p.parse_args(argv)

    python = ensure_env(args.env, args.requirements) if args.env else Path(sys.executable)
    cmd = [
        str(python), "-m", "PyInstaller", str(SPEC), "--noconfirm",
        "--distpath", str(args.distpath), "--workpath", str(args.workpath),
    ]  # fmt: skip
    if args.clean:
        cmd.append("--clean")
    print("+", " ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    built = time.perf_counter() - start
    bundle = args.distpath / buildinfo.APP
    exe = bundle / (buildinfo.APP + (".exe" if sys.platform == "win32" else ""))
    if not exe.is_file():
        print(f"build.py: {exe} was not made", file=sys.stderr)
        return 1
    print(f"bundle: {bundle} {mb(tree_size(bundle))} on disk, built in {built:.0f} s", flush=True)
    if not args.no_archive:
        start = time.perf_counter()
        # The platform tag comes from the build environment (a -cuda suffix for the GPU build).
        tag = subprocess.run(
            [str(python), str(Path(__file__).with_name("buildinfo.py"))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        archive = make_archive(bundle, args.distpath / buildinfo.archive_name(tag=tag), args.level)
        print(
            f"archive: {archive} {mb(archive.stat().st_size)}, "
            f"packed in {time.perf_counter() - start:.0f} s"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        print(f"build.py: {exc.cmd[0]} failed (exit status {exc.returncode})", file=sys.stderr)
        sys.exit(exc.returncode or 1)
    except KeyboardInterrupt:
        sys.exit(130)
