"""Every image decode and encode in the tool goes through here.

`load_image` turns any file into an RGB PIL image or raises ImageError with a one-line reason:
missing, zero-byte, not an image, corrupt or truncated, a decompression bomb, or more pixels
than allowed. Grayscale, CMYK, palette, 16-bit, float and alpha images become RGB (alpha is
composited on white). Big JPEGs can be decoded at reduced scale (draft mode). No global Pillow
switch is touched.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from stylexfer.errors import ImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")
SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
                ".tiff": "TIFF"}
# Decoded pixels allowed by default: 16k × 16k. Pillow itself refuses headers over 2 × 89.5 MP.
DEFAULT_MAX_PIXELS = 16384 * 16384


def is_image_file(path: str | os.PathLike) -> bool:
    """True for a name with a known image suffix (no decoding)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def load_image(
    path: str | os.PathLike,
    *,
    draft_shorter_side: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode `path` into an RGB image with EXIF orientation applied.

    draft_shorter_side: for JPEGs, decode at the smallest 1/2, 1/4 or 1/8 scale whose shorter side is
    still ≥ this (8× fewer pixels to decode per halving, for 100-megapixel paintings).
    max_pixels: refuse images that would decode to more pixels than this.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes); replace it with a real image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # size is checked below against our own limit
            with Image.open(path) as image:
                return _decode(image, path, draft_shorter_side, max_pixels)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(f"{path}: refused as a decompression bomb ({err}); shrink the image first") from err
    except MemoryError as err:
        raise ImageError(f"{path}: not enough memory to decode this image; shrink it first") from err
    except Exception as err:  # Pillow raises many types on malformed data
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ImageError(f"{path}: not a readable image ({reason}); check the file or re-save it") from err


def _decode(image: Image.Image, path: Path, draft_shorter_side: int | None, max_pixels: int) -> Image.Image:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"{path}: image has no pixels ({width}×{height})")
    if draft_shorter_side and image.format == "JPEG" and min(width, height) > 2 * draft_shorter_side:
        scale = draft_shorter_side / min(width, height)
        image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"{path}: {width}×{height} is {width * height / 1e6:.0f} megapixels, over the limit of "
            f"{max_pixels / 1e6:.0f}; resize it first"
        )
    image.load()  # Pillow's LOAD_TRUNCATED_IMAGES stays False: a truncated file is an error
    with contextlib.suppress(Exception):  # malformed EXIF: keep the pixels as stored
        image = ImageOps.exif_transpose(image)
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        pixels = np.asarray(image, dtype=np.float32)
        peak = float(np.nanmax(pixels)) if pixels.size else 0.0
        if mode == "F" and peak <= 1.0:
            pixels = pixels * 255.0
        elif peak > 255.0:
            pixels = pixels / 257.0  # 16-bit range to 8-bit
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=255.0, neginf=0.0).clip(0, 255).astype(np.uint8)
        return Image.fromarray(pixels, mode="L").convert("RGB")
    if (mode == "P" and "transparency" in image.info) or mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def to_tensor(image: Image.Image) -> Tensor:
    """RGB PIL image -> (3, H, W) float32 in [0, 1]."""
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


def to_pil(images: Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) float in [0, 1] (clamped) -> RGB PIL image."""
    if images.dim() == 4:
        images = images[0]
    array = images.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGB")


def load_tensor(path: str | os.PathLike, **kwargs: object) -> Tensor:
    """load_image + to_tensor: (3, H, W) float in [0, 1]."""
    return to_tensor(load_image(path, **kwargs))  # type: ignore[arg-type]


def save_image(image: Tensor | Image.Image, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write atomically: a temporary file in the same folder, then rename, so a crash never leaves
    half an image under the final name. The format follows the suffix."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown output format; use one of {', '.join(sorted(SAVE_FORMATS))}")
    if not overwrite and path.exists():
        raise ImageError(f"{path}: already exists; pass --overwrite to replace it")
    pil = to_pil(image) if isinstance(image, Tensor) else image
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:40]}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            pil.save(handle, format=fmt, **options)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
