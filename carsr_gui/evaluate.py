"""The evaluation protocol: ground truth, its bicubic 2x shrink, and PSNR/SSIM of the enlargements."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from carsr_gui import image_io, jpeg, metrics, resample
from carsr_gui.tiling import GRID


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
    hr = resample.crop_to_multiple(rgb, GRID)
    return hr, resample.make_low_res(hr)


def compressed(lr: np.ndarray, quality: int) -> image_io.Photo:
    """``lr`` as the app would load it after it was saved as a JPEG of ``quality``: decoded by
    Pillow, with the quality estimated from that JPEG's own tables."""
    with Image.open(io.BytesIO(jpeg.compress(lr, quality))) as img:
        return image_io.Photo(
            np.asarray(img.convert("RGB")), jpeg_quality=jpeg.quality_of_image(img)
        )


def evaluate_file(engine, path: Path, jpeg_quality: int | None = None) -> Scores:
    """Scores of ``path`` as ground truth; with ``jpeg_quality``, the low-res is saved as a JPEG
    of that quality first, and bicubic and the model both start from the decoded JPEG."""
    hr, lr = ground_truth(image_io.load(path).rgb)
    photo = image_io.Photo(lr) if jpeg_quality is None else compressed(lr, jpeg_quality)
    result = engine.upscale_photo(photo, 2)
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
