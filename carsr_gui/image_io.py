"""Reading and writing photos with Pillow: colour, alpha, ICC and EXIF kept; writes are atomic."""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# carsr checks the declared size itself (``max_pixels``) before decoding, with a limit the user can
# raise; Pillow's own check would raise a different error, or warn, at a fixed limit.
Image.MAX_IMAGE_PIXELS = None

#: Default refusal limit for a declared image size: 20000x20000, a 1.6 GB enlargement.
DEFAULT_MAX_PIXELS = 400_000_000
INPUT_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".gif",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
        ".jfif",
    }
)
#: Output formats: name -> (Pillow format, file suffix).
FORMATS = {
    "png": ("PNG", ".png"),
    "jpg": ("JPEG", ".jpg"),
    "webp": ("WEBP", ".webp"),
    "tiff": ("TIFF", ".tif"),
}
_UMASK = os.umask(0o22)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK
_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003


class ImageError(Exception):
    """A file that cannot be read or written; ``str()`` is one line that names the file."""

    def __init__(self, path: os.PathLike | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass
class Photo:
    """A decoded photo: 8-bit RGB pixels, the alpha kept apart, and what to carry to the output."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    grey: bool = False
    icc_profile: bytes | None = None
    exif: bytes | None = None
    path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.rgb.shape[1], self.rgb.shape[0]


def load(path: os.PathLike | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode ``path`` upright into a :class:`Photo`; raise :class:`ImageError` with the reason."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageError(path, "is a folder, not an image")
        if path.stat().st_size == 0:
            raise ImageError(path, "empty file (0 bytes)")
        with Image.open(path) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(
                    path,
                    f"declares {w}x{h} pixels ({w * h / 1e6:.0f} MP), above the limit of "
                    f"{max_pixels / 1e6:.0f} MP (raise it with --max-pixels or in the settings)",
                )
            return _decode(img, path)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(
            path, "not an image carsr can read (unknown or unsupported format)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason or isinstance(exc, EOFError):
            reason = f"truncated or damaged file ({reason})"
        raise ImageError(path, f"cannot decode: {reason}") from None


def _decode(img: Image.Image, path: Path) -> Photo:
    notes = []
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        notes.append(f"animated image: used the first of {frames} frames")
        img.seek(0)
    img.load()
    icc = img.info.get("icc_profile") or None
    exif = img.getexif()
    img = ImageOps.exif_transpose(img) or img
    mode = img.mode

    alpha = None
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA") if mode != "LA" else img
        alpha = np.asarray(img.getchannel("A"))
    grey = mode in ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")

    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        rgb = np.repeat(_to_8bit(np.asarray(img))[..., None], 3, axis=2)
    elif mode == "CMYK":
        rgb = np.asarray(_cmyk_to_rgb(img, icc))
        icc = None  # the pixels are sRGB now; the CMYK profile no longer describes them
    else:
        rgb = np.asarray(img.convert("RGB"))
    if grey and icc and _profile_space(icc) != "GRAY":
        icc = None
    exif[_ORIENTATION] = 1
    return Photo(np.ascontiguousarray(rgb), alpha, grey, icc, exif.tobytes(), path, notes)


def _to_8bit(a: np.ndarray) -> np.ndarray:
    """16-bit (or 32-bit integer, or float) greyscale to 8 bits by scaling, not clipping."""
    if a.dtype.kind == "f":
        a = a * (255.0 if a.max(initial=0) <= 1.0 else 1.0)
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return np.clip(np.rint(a.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _profile_space(icc: bytes) -> str:
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip()
    except (OSError, ImageCms.PyCMSError):
        return ""


def _cmyk_to_rgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(
                img, src, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
        except (OSError, ImageCms.PyCMSError):
            pass  # a broken profile: fall back to Pillow's naive conversion below
    return img.convert("RGB")


def output_exif(exif: bytes | None, width: int, height: int) -> bytes | None:
    """The input's EXIF for an output of ``width`` x ``height``, upright (orientation 1)."""
    if not exif:
        return None
    data = Image.Exif()
    data.load(exif)
    data[_ORIENTATION] = 1
    # get_ifd() adds an empty Exif IFD when there is none, which TIFF writers reject.
    if _EXIF_IFD in data:
        ifd = data.get_ifd(_EXIF_IFD)
        ifd[_PIXEL_X], ifd[_PIXEL_Y] = width, height
    return data.tobytes()


def to_image(rgb: np.ndarray, alpha: np.ndarray | None = None, grey: bool = False) -> Image.Image:
    """A Pillow image of the pixels: L/LA for greyscale sources, RGB/RGBA otherwise."""
    img = Image.fromarray(rgb, "RGB")
    if grey:
        img = img.convert("L")
    if alpha is not None:
        img.putalpha(Image.fromarray(alpha, "L"))
    return img


def save(
    path: os.PathLike | str,
    rgb: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    grey: bool = False,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    fmt: str | None = None,
    quality: int = 95,
) -> Path:
    """Write atomically: a temporary file in the target folder, renamed over ``path`` when complete.

    ``fmt`` is a key of :data:`FORMATS` (default: from the suffix). JPEG has no alpha channel, so a
    transparent image is composited onto white there. Raises :class:`ImageError` naming ``path``.
    """
    path = Path(path)
    fmt = fmt or _format_for(path)
    pil_format = FORMATS[fmt][0]
    img = to_image(rgb, alpha, grey)
    if pil_format == "JPEG" and alpha is not None:
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
        img = img.convert("L" if grey else "RGB")
    options: dict = {"format": pil_format}
    if icc_profile:
        options["icc_profile"] = icc_profile
    exif = output_exif(exif, img.width, img.height)
    if exif:
        options["exif"] = exif
    if pil_format in ("JPEG", "WEBP"):
        options["quality"] = quality
    if pil_format == "TIFF":
        options["compression"] = "tiff_deflate"

    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        tmp = Path(name)
        os.chmod(fd, _FILE_MODE)  # mkstemp makes the file private; outputs get the usual mode
        with os.fdopen(fd, "wb") as f:
            img.save(f, **options)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ImageError(path, f"cannot write in {path.parent}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def _format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    for name, (_, ext) in FORMATS.items():
        if (
            suffix == ext
            or (name == "jpg" and suffix == ".jpeg")
            or (name == "tiff" and suffix == ".tiff")
        ):
            return name
    raise ImageError(
        path,
        f"unsupported output format {suffix or '(no suffix)'}; use one of {', '.join(FORMATS)}",
    )
