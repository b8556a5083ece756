"""One-off measurement, not a test: peak memory of the window over a batch of N photos.

It makes N photos of about 2 MP (car photos from ``--photos``, enlarged with Pillow's bicubic to
1632x1224) in a temporary folder, runs ``carsr-gui FOLDER --screenshot PATH`` on them in a child
process and prints the child's peak resident memory (VmHWM) once the window has closed:

    .venv/bin/python tests/measure_batch_memory.py --photos ../shared/data/cars/val 2 12 50

``--no-network`` passes tiles through the engine unchanged (as ``tests/measure_memory.py`` does):
everything that is kept per photo (decoded input, bicubic, output, feature map, the window's
copies) in seconds a photo rather than a minute; the network's own share does not depend on how
many photos there are.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

SIZE = (1632, 1224)  # 2.0 MP

CHILD = """
import sys
import numpy as np
if {no_network}:
    sys.path.insert(0, {tests!r})
    import network_stub

    network_stub.install()
from carsr_gui.gui import app

code = app.main([{folder!r}, "--device", "cpu", "--screenshot", {shot!r}])
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("peak", int(line.split()[1]) * 1024)
sys.exit(code)
"""


def make_photos(source: Path, folder: Path, count: int) -> None:
    cars = sorted(source.glob("*.jpg"))
    for i in range(count):
        with Image.open(cars[i % len(cars)]) as img:
            photo = img.convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
        photo.save(folder / f"car{i:03d}.jpg", quality=92)


def measure(count: int, source: Path, no_network: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="carsr-batch-mem-") as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        make_photos(source, folder, count)
        code = CHILD.format(
            no_network=no_network,
            folder=str(folder),
            shot=str(Path(tmp) / "shot.png"),
            tests=str(Path(__file__).resolve().parent),
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"carsr-gui failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return int(done.stdout.split("peak")[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("counts", nargs="+", type=int, help="batch sizes to measure")
    p.add_argument("--photos", type=Path, required=True, help="a folder of car photos (JPEG)")
    p.add_argument("--no-network", action="store_true", help="tiles pass through the engine")
    args = p.parse_args()
    for count in args.counts:
        peak = measure(count, args.photos, args.no_network)
        print(f"{count:3d} photos of {SIZE[0]}x{SIZE[1]}: peak {peak / 1e9:.2f} GB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
