"""One-off measurement, not a test: RGB PSNR gain over bicubic of each weights file and of the
per-photo choice (``--model auto``) on ground-truth photos whose low-res was saved as a JPEG.

For every photo and quality it does what ``carsr eval --jpeg Q`` does (Pillow bicubic 2x shrink,
JPEG of quality Q in memory, bicubic and the model both from the decoded JPEG) once per weights
file, and scores ``auto`` as the weights that ``Engines.choose`` picks from the JPEG's own tables:

    .venv/bin/python tests/measure_jpeg_quality.py ../shared/data/cars/val \\
        [--qualities clean 50 75 90 95] [--limit 200] [--candidate jpeg=runs/jpeg/model.weights.h5]
        [--only jpeg] [--precision int8]

``--candidate NAME=FILE`` scores a file as the bundled weights ``NAME`` (before it is installed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from carsr_gui import evaluate, image_io, metrics, resample
from carsr_gui.engine import Engine
from carsr_gui.model_choice import Engines
from carsr_gui.train import image_paths


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("folder", type=Path)
    p.add_argument("--qualities", nargs="+", default=["clean", "50", "75", "90", "95"])
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--candidate", action="append", default=[], metavar="NAME=FILE")
    p.add_argument("--only", nargs="+", metavar="NAME", help="score only these (no auto column)")
    p.add_argument("--json", type=Path, help="write the per-photo figures here")
    p.add_argument("--precision", default="fp32", help="fp32 (default), bf16 or int8, forced")
    p.add_argument(
        "--auto-only",
        action="store_true",
        help="run only the weights auto picks (a third the work)",
    )
    args = p.parse_args()

    engines = Engines("auto", device="cpu", precision=args.precision)
    for candidate in args.candidate:
        name, path = candidate.split("=", 1)
        engines.engines[name] = Engine(Path(path), device="cpu", precision=args.precision)
    names = [] if args.auto_only else args.only or list(engines.engines)
    paths = image_paths(args.folder)[args.offset : args.offset + args.limit]
    gains: dict[str, dict[str, list[float]]] = {
        q: {n: [] for n in [*names, "auto"]} for q in args.qualities
    }
    chosen: dict[str, set[str]] = {q: set() for q in args.qualities}
    bicubic: dict[str, list[float]] = {q: [] for q in args.qualities}
    for i, path in enumerate(paths, 1):
        hr, lr = evaluate.ground_truth(image_io.load(path).rgb)
        for q in args.qualities:
            photo = image_io.Photo(lr) if q == "clean" else evaluate.compressed(lr, int(q))
            base = metrics.psnr(resample.enlarge(photo.rgb), hr)
            bicubic[q].append(base)
            for name in names:
                out = engines.engines[name].upscale_photo(photo).output
                gains[q][name].append(metrics.psnr(out, hr) - base)
            pick = engines.choose(photo.jpeg_quality).name
            chosen[q].add(pick)
            if pick in names:
                gains[q]["auto"].append(gains[q][pick][-1])
            elif args.auto_only:
                out = engines.engines[pick].upscale_photo(photo).output
                gains[q]["auto"].append(metrics.psnr(out, hr) - base)
        if i % 20 == 0:
            print(f"{i}/{len(paths)}", flush=True)
    print(
        f"{len(paths)} photos from {args.folder}, {args.precision}; RGB PSNR gain over bicubic "
        "of the same low-res"
    )
    print("low-res | bicubic dB | " + " | ".join(names) + " | auto (picks)")
    for q in args.qualities:
        row = " | ".join(f"{np.mean(gains[q][n]):+.3f}" for n in names)
        label = "clean PNG" if q == "clean" else f"JPEG q{q}"
        # Auto is a mean over every photo, so only when all of its picks were scored.
        auto = gains[q]["auto"]
        auto = f"{np.mean(auto):+.3f}" if len(auto) == len(bicubic[q]) else "not scored"
        picks = ", ".join(sorted(chosen[q]))
        print(f"{label} | {np.mean(bicubic[q]):.2f} | {row} | {auto} ({picks})")
    if args.json:
        args.json.write_text(json.dumps({"bicubic": bicubic, "gains": gains}, indent=1))


if __name__ == "__main__":
    main()
