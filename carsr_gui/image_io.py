"""Reading and writing photos with Pillow: colour, alpha, ICC and EXIF kept; writes are atomic."""

from __future__ import annotations

import functools
import io
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from carsr_gui import atomic, jpeg

log = logging.getLogger(__name__)

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
        ".avif",
        ".jp2",
        ".j2k",
        ".qoi",
        ".dib",
        ".mpo",
    }
)
#: What Pillow may decode for carsr. Others it recognises (EPS, PDF, PSD, ICO...) are refused by
#: name: some need external programs, and none is a photo format.
INPUT_FORMATS = frozenset(
    {
        "PNG",
        "JPEG",
        "MPO",
        "WEBP",
        "TIFF",
        "BMP",
        "DIB",
        "GIF",
        "PPM",
        "TGA",
        "AVIF",
        "JPEG2000",
        "QOI",
    }
)
#: Leading bytes of the formats above, to tell a damaged image from something that is no image.
_MAGIC = {
    b"\x89PNG": "PNG",
    b"\xff\xd8": "JPEG",
    b"GIF8": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}
#: Largest width or height each output format can hold (PNG and TIFF: beyond any photo).
_MAX_SIDE = {"JPEG": 65500, "WEBP": 16383}
#: Output formats: name -> (Pillow format, file suffix).
FORMATS = {
    "png": ("PNG", ".png"),
    "jpg": ("JPEG", ".jpg"),
    "webp": ("WEBP", ".webp"),
    "tiff": ("TIFF", ".tif"),
}
_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
_MAKER_NOTE, _USER_COMMENT = 0x927C, 0x9286
_JPEG_MAX_EXIF = 65533 - 6  # a marker's payload, less the Exif header
#: First-IFD EXIF tags that describe the photo, not the layout of the file it came from (a TIFF's
#: first IFD also holds its strips, sizes and sample formats, which must not reach another file).
_DESCRIPTIVE_TAGS = frozenset(
    {
        0x010D,  # DocumentName
        0x010E,  # ImageDescription
        0x010F,  # Make
        0x0110,  # Model
        _ORIENTATION,
        0x011A,  # XResolution
        0x011B,  # YResolution
        0x0128,  # ResolutionUnit
        0x0131,  # Software
        0x0132,  # DateTime
        0x013B,  # Artist
        0x013C,  # HostComputer
        0x8298,  # Copyright
        0x9C9B,  # XPTitle
        0x9C9C,  # XPComment
        0x9C9D,  # XPAuthor
        0x9C9E,  # XPKeywords
        0x9C9F,  # XPSubject
        _EXIF_IFD,
        _GPS_IFD,
    }
)
#: EXIF orientation -> how to turn the stored pixels upright (numpy, rows first).
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


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
    #: The quality of a JPEG as estimated from its quantization tables; None for other formats.
    jpeg_quality: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.rgb.shape[1], self.rgb.shape[0]


def load(path: os.PathLike | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode ``path`` upright into a :class:`Photo`; raise :class:`ImageError` with the reason.

    The declared size is checked against ``max_pixels`` before any pixel is decoded. Whatever the
    file holds, the only exception raised is :class:`ImageError`; Pillow's warnings about a file
    (damaged metadata, say) become notes of the photo.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageError(path, "is a folder, not an image")
        if path.stat().st_size == 0:
            raise ImageError(path, "empty file (0 bytes)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(path) as img:
                if img.format not in INPUT_FORMATS:
                    raise ImageError(
                        path,
                        f"unsupported format {img.format or '(unknown)'}; carsr reads "
                        f"{', '.join(sorted(INPUT_FORMATS))}",
                    )
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageError(
                        path,
                        f"declares {w}x{h} pixels ({w * h / 1e6:.0f} MP), above the limit of "
                        f"{max_pixels / 1e6:.0f} MP (raise it with --max-pixels or in the settings)",
                    )
                photo = _decode(img, path)
        for warning in caught:
            note = str(warning.message).splitlines()[0] if str(warning.message) else ""
            if note and note not in photo.notes:
                photo.notes.append(note)
        return photo
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except UnidentifiedImageError:
        kind = _magic(path)
        if kind:
            raise ImageError(path, f"truncated or damaged {kind} file") from None
        raise ImageError(
            path, "not an image carsr can read (unknown or unsupported format)"
        ) from None
    except MemoryError:
        raise ImageError(path, "not enough memory to decode it") from None
    except Exception as exc:  # Pillow's decoders raise many types for damaged data
        log.debug("decoding %s failed", path, exc_info=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in reason.lower() or isinstance(exc, EOFError):
            kind = _magic(path)
            what = f"{kind} file" if kind else "file"
            raise ImageError(path, f"truncated or damaged {what} ({reason})") from None
        raise ImageError(path, f"cannot decode: {reason}") from None


def _magic(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


def _decode(img: Image.Image, path: Path) -> Photo:
    notes = []
    quality = jpeg.quality_of_image(img)
    frames = getattr(img, "n_frames", 1)
    if frames > 1 and img.format == "TIFF":
        notes.append(f"multi-page image: used the first of {frames} pages")
    elif frames > 1 and img.format != "MPO":  # an MPO's other frames are previews or depth maps
        notes.append(f"animated image: used the first of {frames} frames")
    img.seek(0)
    grey = img.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F") or (
        img.mode in ("RGB", "RGBA") and _stored_grey(img)
    )
    img.load()
    icc = img.info.get("icc_profile") or None
    exif, orientation = _exif_of(img, notes)
    mode = img.mode

    alpha = None
    keyed = mode in ("P", "L", "RGB") and "transparency" in img.info  # a colour made clear
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or keyed:
        if mode not in ("RGBA", "LA"):
            img = img.convert("RGBA")
        alpha = np.asarray(img.getchannel("A"))

    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        rgb = np.repeat(_to_8bit(np.asarray(img))[..., None], 3, axis=2)
    elif mode == "CMYK":
        rgb = np.asarray(_cmyk_to_rgb(img, icc))
        icc = None  # the pixels are sRGB now; the CMYK profile no longer describes them
    elif mode == "RGB" and not keyed:
        rgb = np.asarray(img)
    else:
        rgb = np.asarray(img.convert("RGB"))
    if icc and _profile_space(icc) != ("GRAY" if grey else "RGB"):
        icc = None  # a profile for other pixels than those carsr writes (CMYK, or RGB for grey)
    upright = _UPRIGHT.get(orientation)
    if upright is not None:
        rgb = upright(rgb)
        alpha = None if alpha is None else np.ascontiguousarray(upright(alpha))
    return Photo(np.ascontiguousarray(rgb), alpha, grey, icc, exif, path, notes, quality)


def _stored_grey(img: Image.Image) -> bool:
    """Whether Pillow widened grey samples to RGB(A) (it does so for 16-bit grey with alpha)."""
    tile = getattr(img, "tile", None)
    args = tile[0].args if tile else None
    rawmode = args[0] if isinstance(args, tuple) and args else args
    return isinstance(rawmode, str) and rawmode.startswith(("L;", "LA;", "I;16"))


def _exif_of(img: Image.Image, notes: list[str]) -> tuple[bytes | None, int]:
    """The photo's EXIF for the output (descriptive tags only, upright) and its orientation."""
    try:
        exif = img.getexif()
        orientation = exif.get(_ORIENTATION, 1)
        kept = Image.Exif()
        for tag, value in exif.items():
            if tag in (_EXIF_IFD, _GPS_IFD):
                sub = dict(exif.get_ifd(tag))
                if _INTEROP_IFD in sub:  # nested: Pillow writes it only as a dictionary
                    sub[_INTEROP_IFD] = dict(exif.get_ifd(_INTEROP_IFD))
                    if not sub[_INTEROP_IFD]:
                        del sub[_INTEROP_IFD]
                if sub:
                    kept[tag] = sub
            elif tag in _DESCRIPTIVE_TAGS:
                kept[tag] = value
        kept.pop(_ORIENTATION, None)
        if not kept.keys():
            return None, orientation if isinstance(orientation, int) else 1
        kept[_ORIENTATION] = 1
        return kept.tobytes(), orientation if isinstance(orientation, int) else 1
    except Exception as exc:  # damaged metadata must not cost the pixels
        log.debug("EXIF of %s unreadable", getattr(img, "filename", "?"), exc_info=True)
        notes.append(f"damaged EXIF metadata not carried over ({type(exc).__name__})")
        return None, 1


def _to_8bit(a: np.ndarray) -> np.ndarray:
    """16-bit (or 32-bit integer, or float) greyscale to 8 bits by scaling, not clipping.

    16-bit samples map 0..65535 onto 0..255 (divided by 257); 32-bit integers beyond the 16-bit
    range are scaled by their maximum; floats are taken as 0..1, or 0..255, or 0..65535 by range.
    """
    if a.dtype.kind == "f":
        top = float(np.nanmax(a, initial=0))
        a = np.nan_to_num(a) * (255.0 if top <= 1.0 else 1.0 if top <= 255.0 else 255.0 / 65535.0)
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    top = int(a.max(initial=0))
    divisor = 257.0 if top <= 65535 else top / 255.0
    return np.clip(np.rint(a.astype(np.float64) / divisor), 0, 255).astype(np.uint8)


def _profile_space(icc: bytes) -> str:
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip()
    except (OSError, ImageCms.PyCMSError):
        return ""


@functools.lru_cache(maxsize=8)
def _to_srgb(icc: bytes):
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), "RGB", "RGB")


def for_display(rgb: np.ndarray, icc_profile: bytes | None) -> np.ndarray:
    """``rgb`` (pixels in the colour space of ``icc_profile``) converted to sRGB for a screen.
    Files keep their own pixels and profile; this is only what a panel shows. Untagged, grey
    and unreadable profiles: the pixels as they are."""
    if not icc_profile or _profile_space(icc_profile) != "RGB":
        return rgb
    try:
        transform = _to_srgb(icc_profile)
    except (OSError, ImageCms.PyCMSError):
        return rgb
    img = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    return np.asarray(ImageCms.applyTransform(img, transform))


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


def output_exif(
    exif: bytes | None, width: int, height: int, *, sub_ifds: bool = True
) -> bytes | None:
    """The input's EXIF for an output of ``width`` x ``height``, upright (orientation 1).

    Only tags that describe the photo are kept (a TIFF input's layout tags are not). With
    ``sub_ifds`` false (TIFF output: libtiff cannot write them) the Exif and GPS blocks are left out.
    """
    if not exif:
        return None
    data = Image.Exif()
    data.load(exif)
    out = Image.Exif()
    for tag, value in data.items():
        if tag in (_EXIF_IFD, _GPS_IFD):
            sub = dict(data.get_ifd(tag)) if sub_ifds else {}
            if _INTEROP_IFD in sub:
                interop = dict(data.get_ifd(_INTEROP_IFD))
                sub[_INTEROP_IFD] = interop
                if not interop:
                    del sub[_INTEROP_IFD]
            if tag == _EXIF_IFD and sub:
                sub[_PIXEL_X], sub[_PIXEL_Y] = width, height
            if sub:
                out[tag] = sub
        elif tag in _DESCRIPTIVE_TAGS:
            out[tag] = value
    out[_ORIENTATION] = 1
    return out.tobytes()


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
    replace: bool = False,
) -> Path:
    """Write atomically: a temporary file in the target folder, given the name ``path`` when
    complete. An existing ``path`` is replaced only with ``replace`` (the user confirmed that
    very file, or asked for ``--overwrite``); else it is refused, even if it appeared while
    this was being written (a second save to the same name).

    ``fmt`` is a key of :data:`FORMATS` (default: from the suffix). JPEG has no alpha channel, so a
    transparent image is composited onto white there. The ICC profile is written where it
    describes the written pixels (not a greyscale profile in WebP, which stores RGB); EXIF gets
    the new size and orientation 1 (TIFF: the first IFD only; JPEG: without the maker's private
    block when over 64 KB). On any failure the temporary file is removed, an existing ``path`` is
    left as it was, and :class:`ImageError` names ``path`` (and the folder, for write errors).
    """
    path = Path(path)
    fmt = fmt or _format_for(path)
    pil_format = FORMATS[fmt][0]
    check_output_size(path, rgb.shape[1], rgb.shape[0], fmt)
    img = to_image(rgb, alpha, grey)
    if pil_format == "JPEG" and alpha is not None:
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
        img = img.convert("L" if grey else "RGB")
    options: dict = {"format": pil_format}
    # WebP stores grey as RGB: a greyscale profile would not describe what is written.
    space = "GRAY" if img.mode in ("L", "LA") and pil_format != "WEBP" else "RGB"
    if icc_profile and _profile_space(icc_profile) == space:
        options["icc_profile"] = icc_profile
    exif = output_exif(exif, img.width, img.height, sub_ifds=pil_format != "TIFF")
    if exif and pil_format == "JPEG" and len(exif) > _JPEG_MAX_EXIF:
        # A JPEG marker holds 64 KB: leave out the camera maker's private block, else all EXIF.
        data = Image.Exif()
        data.load(exif)
        sub = data.get_ifd(_EXIF_IFD)
        for tag in (_MAKER_NOTE, _USER_COMMENT):
            sub.pop(tag, None)
        exif = data.tobytes()
        if len(exif) > _JPEG_MAX_EXIF:
            log.warning("%s: EXIF too large for a JPEG (%d bytes): not written", path, len(exif))
            exif = None
    if exif:
        options["exif"] = exif
    if pil_format in ("JPEG", "WEBP"):
        options["quality"] = quality
    if pil_format == "TIFF":
        options["compression"] = "tiff_deflate"

    try:

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                img.save(f, **options)

        atomic.replace_with(path, write, replace=replace)
    except FileExistsError:
        raise ImageError(path, "exists already; not replaced") from None
    except OSError as exc:
        if exc.errno is None:  # Pillow's encoders raise OSError without an errno for bad data
            raise ImageError(path, f"cannot encode as {fmt}: {exc}") from None
        raise ImageError(path, f"cannot write in {path.parent}: {exc.strerror or exc}") from None
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:  # the encoder refused the data
        raise ImageError(path, f"cannot encode as {fmt}: {exc}") from None
    return path


def check_output_size(path: os.PathLike | str, width: int, height: int, fmt: str) -> None:
    """Raise :class:`ImageError` if ``fmt`` cannot hold a ``width`` x ``height`` image."""
    limit = _MAX_SIDE.get(FORMATS[fmt][0])
    if limit and max(width, height) > limit:
        raise ImageError(
            path,
            f"{width}x{height} is too large for {fmt} (at most {limit} pixels a side); "
            "choose png or tiff",
        )


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


def output_path(
    src: Path, out_dir: Path, scale: int, fmt: str, overwrite: bool, protected: set[Path]
) -> Path:
    """``<dir>/<stem>_x<scale>.<ext>``, numbered when taken (unless ``overwrite``); never an input."""
    suffix = FORMATS[fmt][1]
    base = f"{src.stem}_x{scale}"
    candidate = out_dir / f"{base}{suffix}"
    n = 1
    while candidate.resolve() in protected or (candidate.exists() and not overwrite):
        candidate = out_dir / f"{base}-{n}{suffix}"
        n += 1
    return candidate


def save_like(
    path: os.PathLike | str,
    photo: Photo,
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    *,
    fmt: str | None = None,
    quality: int = 95,
    replace: bool = False,
) -> Path:
    """:func:`save` new pixels of ``photo`` with its colour mode, ICC profile and EXIF."""
    return save(
        path,
        rgb,
        alpha=alpha,
        grey=photo.grey,
        icc_profile=photo.icc_profile,
        exif=photo.exif,
        fmt=fmt,
        quality=quality,
        replace=replace,
    )
