"""Every image decode and encode in the tool goes through here.

`load_image` turns any file into an RGB PIL image or raises ImageError with a one-line reason that
names the file: missing, not a regular file, zero-byte, not a supported image, corrupt or truncated,
a decompression bomb, or more pixels than allowed. Grayscale, CMYK, palette, 16-bit, float and alpha
images become RGB (alpha is composited on white). Big JPEGs can be decoded at reduced scale (draft
mode). No global Pillow switch is touched: limits are checked here, per call, from the header,
before any pixel is decoded. Fuzzed with 10,000 malformed files by `scripts/fuzz_images.py`.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from stylexfer.errors import ImageError, display_path, one_line
from stylexfer.files.atomic import atomic_open, exists_error
from stylexfer.files.userfile import open_regular_file
from stylexfer.runtime import available_memory

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")
SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
                ".tif": "TIFF", ".tiff": "TIFF"}
# Decoded pixels allowed by default: 16k × 16k. Pillow itself refuses headers over 2 × 89.5 MP.
DEFAULT_MAX_PIXELS = 16384 * 16384

# Only the decoders behind IMAGE_SUFFIXES may see a file, whatever its name: Pillow would otherwise
# sniff ~40 formats, some of which hand the bytes to Ghostscript (EPS) or allocate per header (ICO).
# (Multi-picture JPEGs still open: the JPEG opener returns them as "MPO".)
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "PPM")
_JPEG_FORMATS = ("JPEG", "MPO")
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
_WHITE = (255, 255, 255)


def is_image_file(path: str | os.PathLike) -> bool:
    """True for a name with a known image suffix (no decoding)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def images_under(folder: str | os.PathLike) -> list[Path]:
    """The image files (by suffix) anywhere below `folder`, sorted: what a folder argument means."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and is_image_file(p))


def load_image(
    path: str | os.PathLike,
    *,
    draft_shorter_side: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode `path` into an RGB image (mode "RGB", at least 1×1) with EXIF orientation applied.

    draft_shorter_side: for JPEGs, decode at the smallest 1/2, 1/4 or 1/8 scale whose shorter side is
    still ≥ this (8× fewer pixels to decode per halving, for 100-megapixel paintings).
    max_pixels: refuse images that would decode to more pixels than this (checked on the header).
    Raises ImageError (one line, naming the file) for anything that is not a usable image.
    """
    path = Path(path)
    handle = open_regular_file(path, ImageError, empty="replace it with a real image")  # never blocks on a FIFO
    try:
        return _load_from(handle, display_path(path), draft_shorter_side, max_pixels)
    finally:
        handle.close()


def decode_image(
    data: bytes,
    *,
    name: str = "<stdin>",
    draft_shorter_side: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """load_image for bytes already in memory (an image piped into stdin): the same checks and
    messages, naming `name`."""
    shown = display_path(name)
    if not data:
        raise ImageError(f"{shown}: empty (0 bytes); pipe an image into it")
    return _load_from(io.BytesIO(data), shown, draft_shorter_side, max_pixels)


def _load_from(handle: BinaryIO, shown: str, draft_shorter_side: int | None, max_pixels: int) -> Image.Image:
    """Decode an open image file (see load_image); every failure is one ImageError line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # size is checked below against our own limit
            _check_claimed_size(handle, shown, max_pixels)
            # A handle, not a path: Pillow then never memory-maps the file (a file that shrinks
            # under a map raises SIGBUS) and never keeps it open after we return.
            image = Image.open(handle, formats=_OPEN_FORMATS)
            return _decode(image, shown, draft_shorter_side, max_pixels)
    except ImageError:
        raise
    except Image.UnidentifiedImageError as err:
        raise ImageError(
            f"{shown}: not a supported image (expected JPEG, PNG, WebP, GIF, TIFF, BMP or PPM data); "
            "check the file or convert it"
        ) from err
    except Image.DecompressionBombError as err:
        claimed = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(claimed[1]) / 1e6:.0f} megapixels" if claimed else "too many pixels"
        raise ImageError(
            f"{shown}: refused as a possible decompression bomb: its header claims {size}, over Pillow's "
            f"limit of {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f}; shrink the image first"
        ) from err
    except MemoryError as err:
        raise ImageMemoryError(f"{shown}: not enough memory to decode this image; shrink it first") from err
    except RecursionError as err:
        raise ImageError(f"{shown}: corrupt image (structure nested too deeply); re-save it") from err
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ...
        reason = one_line(err)
        if "MAX_TEXT" in reason:  # Pillow's per-file caps on PNG text/ICC chunks
            raise ImageError(
                f"{shown}: metadata too large ({reason}); re-save the image without its text chunks"
            ) from err
        if "truncated" in reason.lower():
            raise ImageError(f"{shown}: truncated image file ({reason}); re-download or re-save it") from err
        raise ImageError(f"{shown}: corrupt image data ({reason}); check the file or re-save it") from err


def _check_claimed_size(handle: BinaryIO, shown: str, max_pixels: int) -> None:
    """Refuse a WebP whose header claims too many pixels before Pillow opens it: libwebp allocates
    two canvases when the decoder is created, before any size check of ours could run (other formats'
    openers read headers only, so their size is checked in _decode, still before decoding)."""
    head = handle.read(30)
    handle.seek(0)
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return
    chunk, size = head[12:16], None
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        size = (int.from_bytes(head[26:28], "little") & 0x3FFF,
                int.from_bytes(head[28:30], "little") & 0x3FFF)
    elif chunk == b"VP8X":
        size = (int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1)
    elif chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        size = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if size is not None:
        _check_pixels(*size, max_pixels, shown)


def _check_pixels(width: int, height: int, max_pixels: int, shown: str) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"{shown}: {width}×{height} is {width * height / 1e6:.0f} megapixels, over the limit of "
            f"{max_pixels / 1e6:.0f}; resize it first"
        )


def _decode(image: Image.Image, shown: str, draft_shorter_side: int | None, max_pixels: int) -> Image.Image:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"{shown}: image has no pixels ({width}×{height})")
    if draft_shorter_side and image.format in _JPEG_FORMATS and min(width, height) > 2 * draft_shorter_side:
        scale = draft_shorter_side / min(width, height)
        image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
        width, height = image.size
    _check_pixels(width, height, max_pixels, shown)  # the header's size: Pillow's open reads headers only
    _check_decode_memory(width, height, image.mode, shown)
    image.load()  # Pillow's LOAD_TRUNCATED_IMAGES stays False: a truncated file is an error
    with contextlib.suppress(Exception):  # upright as the EXIF orientation says; malformed EXIF: as stored
        ImageOps.exif_transpose(image, in_place=True)
    image = _to_rgb(image, shown)
    if image.mode != "RGB" or image.width < 1 or image.height < 1:  # defensive: never hand on odd images
        raise ImageError(f"{shown}: decoded to an unusable {image.mode} {image.width}×{image.height} image")
    return image


class ImageMemoryError(ImageError):
    """An image whose decode would need more memory than the process may allocate."""


# Bytes per pixel Pillow keeps for a decoded image of each mode (RGB is stored as 32 bits per pixel).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


def decode_bytes(width: int, height: int, mode: str) -> int:
    """Memory to decode a width×height image of `mode` into RGB: the decoded pixels, plus the RGB
    copy any other mode is converted into (4-8 bytes per pixel; README "Size limits")."""
    return width * height * (_MODE_BYTES.get(mode, 4) + (0 if mode == "RGB" else 4))


def _check_decode_memory(width: int, height: int, mode: str, shown: str) -> None:
    """ImageMemoryError before decoding when the pixels cannot fit in the memory this process may
    still allocate (an address-space limit such as `ulimit -v`, else the system's available memory)."""
    need = decode_bytes(width, height, mode)
    available = available_memory()
    if available is not None and need > available:
        raise ImageMemoryError(
            f"{shown}: decoding its {width}×{height} pixels needs about {need / 2**20:,.0f} MB, more than the "
            f"{available / 2**20:,.0f} MB of memory available; shrink the image first"
        )


def _to_rgb(image: Image.Image, shown: str) -> Image.Image:
    """Any decoded mode -> RGB, creating at most one new full-size RGB image for common modes."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image  # already decoded into memory; the file is not held open
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _wide_to_rgb(image)
    if ("transparency" in image.info and mode in ("P", "L", "RGB", "1")) or mode in ("PA", "La", "RGBa"):
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in _ALPHA_MODES:
        # paste with the alpha band as mask blends onto white in one pass: no RGBA intermediate.
        rgb = Image.new("RGB", image.size, _WHITE)
        rgb.paste(image, (0, 0), image)
        return rgb
    try:
        return image.convert("RGB")
    except ValueError as err:  # e.g. LAB or HSV, which Pillow cannot turn into RGB without a profile
        raise ImageError(f"{shown}: unsupported colour mode {mode}; convert it to RGB first") from err


def _wide_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images -> RGB grey, in bands of rows so a huge image never
    needs float copies of itself. I;16: 0..65535 -> 0..255. I: the same when values exceed 255.
    F: [0, 1] when its maximum is ≤ 1, else 0..255. NaN and ±inf become 0."""
    width, height = image.size
    rows = max(1, (1 << 22) // width)  # ~4 M pixels (16 MB of float32) per band
    bands = [(top, min(height, top + rows)) for top in range(0, height, rows)]

    def band(top: int, bottom: int) -> np.ndarray:
        values = np.array(image.crop((0, top, width, bottom)), dtype=np.float32)
        return np.nan_to_num(values, copy=False, nan=0.0, posinf=0.0, neginf=0.0)

    scale = 1.0 / 257.0
    if not image.mode.startswith("I;16"):
        peak = max((float(band(top, bottom).max()) for top, bottom in bands), default=0.0)
        if image.mode == "F" and peak <= 1.0:
            scale = 255.0
        elif peak <= 255.0:
            scale = 1.0
    grey = np.empty((height, width), dtype=np.uint8)
    for top, bottom in bands:
        values = band(top, bottom)
        values *= scale
        values += 0.5  # round to nearest
        np.clip(values, 0.0, 255.0, out=values)
        grey[top:bottom] = values
    return Image.fromarray(grey).convert("RGB")


def resized_size(width: int, height: int, *, size: int | None = None,
                 max_size: int | None = None) -> tuple[int, int]:
    """(width, height) after scaling the shorter side to `size`, then shrinking (never enlarging) so
    the longer side is at most `max_size`; aspect ratio kept, each side at least 1."""
    scale = 1.0
    if size is not None:
        scale = size / min(width, height)
    if max_size is not None:
        scale = min(scale, max_size / max(width, height))
    if scale == 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def resample(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The tool's one resampling rule for a picture: Lanczos to shrink, bicubic to enlarge."""
    if size == image.size:
        return image
    upscale = size[0] > image.size[0]
    return image.resize(size, Image.Resampling.BICUBIC if upscale else Image.Resampling.LANCZOS)


def to_tensor(image: Image.Image) -> Tensor:
    """RGB PIL image -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)


def to_pil(images: Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) float in [0, 1] (clamped) -> RGB PIL image."""
    if images.dim() == 4:
        images = images[0]
    array = images.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGB")


def save_image(image: Tensor | Image.Image, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write atomically: a temporary file in the same folder, then rename, so a crash never leaves
    half an image under the final name. The format follows the suffix. overwrite=False never replaces
    an existing file, even one created while encoding (the final step is a hard link, which fails
    if the name exists). Encoder and disk errors become ImageError; no temporary file is left."""
    path = Path(path)
    shown = display_path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{shown}: unknown output format; use one of {', '.join(sorted(SAVE_FORMATS))}")
    if not overwrite and path.exists():
        raise exists_error(ImageError, path)
    pil = to_pil(image) if isinstance(image, Tensor) else image
    try:  # a file where a folder of the path should be is FileExistsError too: not "already exists"
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ImageError(f"{shown}: cannot write the image ({one_line(err)})") from err
    try:
        with atomic_open(path, overwrite=overwrite) as handle:
            _encode(pil, fmt, handle)
    except FileExistsError:
        raise exists_error(ImageError, path) from None
    except (OSError, ValueError, KeyError) as err:  # encoder refused the mode, disk full, read-only folder
        raise ImageError(f"{shown}: cannot write the image ({one_line(err)})") from err
    return path


def _encode(image: Image.Image, fmt: str, handle: BinaryIO) -> None:
    image.save(handle, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))


def encode_image(image: Tensor | Image.Image, ext: str = ".png") -> bytes:
    """The image as the bytes of a file with suffix `ext` (for stdout), encoded as save_image does."""
    fmt = SAVE_FORMATS.get(ext.lower() if ext.startswith(".") else f".{ext.lower()}")
    if fmt is None:
        raise ImageError(f"{display_path(ext)}: unknown image format; use one of {', '.join(sorted(SAVE_FORMATS))}")
    buffer = io.BytesIO()
    try:
        _encode(to_pil(image) if isinstance(image, Tensor) else image, fmt, buffer)
    except (OSError, ValueError, KeyError) as err:
        raise ImageError(f"cannot encode the image as {fmt} ({one_line(err)})") from err
    return buffer.getvalue()
