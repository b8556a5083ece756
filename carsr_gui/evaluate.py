"""The evaluation protocol: ground truth, its bicubic 2x shrink, and PSNR/SSIM of the enlargements."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from carsr_gui import image_io, metrics, resample
from carsr_gui.tiling import ALIGN as MULTIPLE


@dataclass
class Scores:
    name: str
    bicubic_psnr: float
    model_psnr: float
    bicubic_psnr_y: float
    model_psnr_y: float
    bicubic_ssim: float
    model_ssim: float
    bicubic_ssim_y: float
    model_ssim_y: float

    def as_dict(self) -> dict:
        return asdict(self)


def score(name: str, hr: np.ndarray, bicubic: np.ndarray, output: np.ndarray) -> Scores:
    """All eight figures of one image (2-pixel border cropped)."""
    return Scores(
        name,
        metrics.psnr(bicubic, hr),
        metrics.psnr(output, hr),
        metrics.psnr(bicubic, hr, y=True),
        metrics.psnr(output, hr, y=True),
        metrics.ssim(bicubic, hr),
        metrics.ssim(output, hr),
        metrics.ssim(bicubic, hr, y=True),
        metrics.ssim(output, hr, y=True),
    )


def ground_truth(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth cropped to a multiple of 4 and its low-res input (Pillow bicubic 2x shrink)."""
    hr = resample.crop_to_multiple(rgb, MULTIPLE)
    return hr, resample.make_low_res(hr)


def evaluate_file(engine, path: Path) -> Scores:
    hr, lr = ground_truth(image_io.load(path).rgb)
    result = engine.upscale(lr, 2)
    return score(path.name, hr, result.bicubic, result.output)


def mean(rows: list[Scores]) -> Scores:
    fields = list(Scores.__dataclass_fields__)[1:]
    return Scores(
        f"mean of {len(rows)}", *(float(np.mean([getattr(r, f) for r in rows])) for f in fields)
    )


def table(rows: list[Scores]) -> str:
    head = (
        f"{'image':<24} {'PSNR bicubic':>12} {'PSNR carsr':>10} {'gain':>6} "
        f"{'PSNR-Y bic':>10} {'PSNR-Y carsr':>12} {'SSIM bic':>8} {'SSIM carsr':>10} "
        f"{'SSIM-Y bic':>10} {'SSIM-Y carsr':>12}"
    )
    lines = [head, "-" * len(head)]
    for r in [*rows, mean(rows)] if rows else []:
        lines.append(
            f"{r.name[:24]:<24} {r.bicubic_psnr:12.2f} {r.model_psnr:10.2f} "
            f"{r.model_psnr - r.bicubic_psnr:+6.2f} {r.bicubic_psnr_y:10.2f} {r.model_psnr_y:12.2f} "
            f"{r.bicubic_ssim:8.4f} {r.model_ssim:10.4f} {r.bicubic_ssim_y:10.4f} {r.model_ssim_y:12.4f}"
        )
    return "\n".join(lines)
