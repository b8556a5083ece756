"""One-off measurement, not a test: peak memory of enlarging a 6000x4000 photo to 12000x8000.

It runs what ``carsr upscale`` runs (load, engine, save as PNG) with the real model size (the bundled
weights, width 64) in a child process, and prints the child's peak resident memory (VmHWM) after
each stage. It takes many minutes on a CPU:

    .venv/bin/python tests/measure_memory.py [--size 6000x4000] [--tile 1088] [--device cpu]

``--no-network`` passes tiles through unchanged: the image-sized buffers (decoded input, bicubic
enlargement, output, feature map, encoding) in a minute; the network's share does not grow with
the image, since every tile has one shape.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from carsr_gui.tiling import DEFAULT_TILE


def _status(field: str) -> int:
    """A ``/proc/self/status`` memory field, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _report(stage: str, **extra) -> None:
    print(
        json.dumps({"stage": stage, "peak": _status("VmHWM"), "rss": _status("VmRSS"), **extra}),
        flush=True,
    )


def child(src: Path, out_dir: Path, tile: int, device: str, no_network: bool) -> None:
    _report("python started")
    from carsr_gui import image_io
    from carsr_gui.engine import Engine

    _report("imports (TensorFlow) done")
    if no_network:  # the image-sized buffers only, in seconds: tiles pass through unchanged
        import network_stub  # beside this script

        network_stub.install()
    engine = Engine(tile=tile, device=device)
    _report("engine built", device=engine.description)
    photo = image_io.load(src)
    _report("input decoded", size=photo.size)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            print(
                f"tile {done}/{total}, {time.perf_counter() - start:.0f} s, "
                f"peak {_status('VmHWM') / 2**30:.2f} GiB",
                file=sys.stderr,
                flush=True,
            )

    result = engine.upscale_photo(photo, 2, progress)
    _report("upscaled", seconds=round(time.perf_counter() - start), shape=result.output.shape)
    dest = image_io.save(
        out_dir / "out_x2.png", result.output, icc_profile=photo.icc_profile, exif=photo.exif
    )
    _report("saved", bytes=dest.stat().st_size)


def make_input(path: Path, width: int, height: int) -> None:
    """A photo-like test image built in strips, so that making it stays small too."""
    rng = np.random.default_rng(0)
    img = Image.new("RGB", (width, height))
    xx = np.arange(width, dtype=np.float32)[None, :]
    for y0 in range(0, height, 500):
        yy = np.arange(y0, min(y0 + 500, height), dtype=np.float32)[:, None]
        strip = np.stack(
            [
                128 + 100 * np.sin(xx / 37.0 + yy * 0),
                128 + 100 * np.cos(yy / 23.0 + xx / 51.0),
                255 * ((xx // 41 + yy // 29) % 2),
            ],
            axis=-1,
        )
        strip += rng.normal(0, 8, strip.shape).astype(np.float32)
        img.paste(Image.fromarray(np.clip(strip, 0, 255).astype(np.uint8)), (0, y0))
    img.save(path, quality=92)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="6000x4000", help="input WIDTHxHEIGHT")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--no-network",
        action="store_true",
        help="skip the network (tiles pass through): measures the image-sized buffers quickly",
    )
    p.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child, args.tile, args.device, args.no_network)
        return 0
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="carsr-mem-") as tmp:
        src = Path(tmp) / "input.jpg"
        make_input(src, width, height)
        cmd = [sys.executable, __file__, "--tile", str(args.tile), "--device", args.device]
        cmd += ["--no-network"] if args.no_network else []
        proc = subprocess.Popen([*cmd, "--child", str(src), tmp], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            row = json.loads(line)
            extra = {k: v for k, v in row.items() if k not in ("stage", "peak", "rss")}
            print(
                f"{row['stage']:<28} peak {row['peak'] / 2**30:6.2f} GiB   "
                f"now {row['rss'] / 2**30:6.2f} GiB   {extra or ''}",
                flush=True,
            )
        status = proc.wait()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(
        f"peak resident memory of the job (ru_maxrss): {peak / 2**30:.2f} GiB ({peak / 1e9:.2f} GB)"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
