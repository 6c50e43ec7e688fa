"""Malformed image files for fuzzing `images.load_image`, and a harness that runs them safely.

`make_case(seed, index)` builds one input deterministically: the first `len(SPECIALS)` indices are a
fixed catalogue of hostile or unusual files (headers claiming 100,000×100,000 pixels, a PNG
decompression bomb, 16-bit, CMYK, float, palette+alpha, EXIF orientations, huge metadata, odd TIFF
IFDs, ...); every later index is a random mutation (truncation, bit flips, byte edits, splices),
random bytes, a zero-byte file or a valid image under a wrong extension, drawn from images that
Pillow encodes here (and real photos when a data folder is given).

`run_fuzz` feeds each case to the loader in worker processes with a per-load time limit and an
address-space limit, so a hang, a crash or a memory blow-up is reported as a failure instead of
taking the harness down. Allowed outcomes: an RGB image (≥ 1×1) or an ImageError whose message is
one line naming the file. Used by `scripts/fuzz_images.py` (full count) and `tests/files/test_fuzz.py`.
"""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import importlib
import io
import math
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import random
import re
import shutil
import struct
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

try:
    import resource
except ImportError:  # Windows: no rlimits; the catalogue still builds, the harness runs without a memory cap
    resource = None  # type: ignore[assignment]

DEFAULT_LOADER = "stylexfer.files.images:load_image"
DRAFT_SHORTER_SIDE = 512  # what training passes (SPEC: shorter side to 512, then crop)
DEFAULT_TIMEOUT_S = 5.0  # "no hang over a few seconds per file"; the slowest real load is < 1 s
DEFAULT_MEMORY_BUDGET_MB = 2560

Expect = str | None  # "ok": must load; "refuse": must raise ImageError; None: either


@dataclass(frozen=True)
class FuzzCase:
    """One input file: what it is, the bytes, the suffix it is saved under, what must happen."""

    index: int
    kind: str
    description: str
    suffix: str
    data: bytes
    expect: Expect = None


# --------------------------------------------------------------------------- crafting helpers


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def picture(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A gradient with noise (JPEG-like content, not flat), in any of Pillow's common modes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    red = x * 255 // max(width - 1, 1)
    green = y * 255 // max(height - 1, 1)
    blue = (x + y) * 127 // max(width + height - 2, 1) + rng.integers(0, 64, size=(height, width))
    rgb = np.stack([red, green, blue], axis=-1).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, mode="RGB")
    if mode == "RGBA":
        alpha = Image.fromarray((x * 255 // max(width - 1, 1)).astype(np.uint8))
        image.putalpha(alpha)
        return image
    if mode == "I;16":
        return Image.fromarray(green.astype(np.uint16) * 257)  # dtype uint16 -> mode I;16
    if mode == "F":
        return Image.fromarray((red / 255.0).astype(np.float32))  # float32 -> mode F
    if mode == "P":
        return image.quantize(16)
    return image.convert(mode)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with a correct CRC, so Pillow's CRC check passes and the payload is parsed."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_file(
    width: int,
    height: int,
    *,
    bit_depth: int = 8,
    colour_type: int = 2,
    idat: bytes | None = None,
    before: Iterable[bytes] = (),
    after: Iterable[bytes] = (),
) -> bytes:
    """A PNG with any IHDR; IDAT defaults to zero-filled rows (compressed), so it may be a bomb."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    if idat is None:
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour_type, 3)
        row = 1 + math.ceil(width * channels * bit_depth / 8)
        idat = _zeros_deflated(row * height)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + b"".join(before)
            + png_chunk(b"IDAT", idat) + b"".join(after) + png_chunk(b"IEND", b""))


@functools.lru_cache(maxsize=16)
def _zeros_deflated(size: int) -> bytes:
    """zlib stream of `size` zero bytes, built in 1 MiB steps (never holds the inflated data)."""
    compressor = zlib.compressobj(9)
    block = bytes(min(size, 1 << 20))
    parts = []
    left = size
    while left > 0:
        step = min(left, len(block))
        parts.append(compressor.compress(block[:step]))
        left -= step
    parts.append(compressor.flush())
    return b"".join(parts)


def png_raw(width: int, height: int, rows: bytes, *, bit_depth: int, colour_type: int,
            before: Iterable[bytes] = ()) -> bytes:
    """A PNG from unfiltered pixel bytes (filter byte 0 is added per row)."""
    stride = len(rows) // height
    data = b"".join(b"\0" + rows[i * stride:(i + 1) * stride] for i in range(height))
    return png_file(width, height, bit_depth=bit_depth, colour_type=colour_type,
                    idat=zlib.compress(data), before=before)


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """Patch the SOF marker of a JPEG to claim another size (the scan data stays tiny)."""
    out = bytearray(data)
    position = 2
    while position + 9 < len(out):
        if out[position] != 0xFF:
            break
        marker = out[position + 1]
        length = struct.unpack(">H", out[position + 2:position + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            out[position + 5:position + 9] = struct.pack(">HH", height, width)
            return bytes(out)
        position += 2 + length
    raise ValueError("no SOF marker")


def gif_file(screen: tuple[int, int], frame: tuple[int, int], lzw: bytes = b"\x02\x02\x44\x01\x00") -> bytes:
    """GIF89a with a logical screen and one frame of any declared size and raw LZW sub-blocks."""
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, *frame, 0)
    return header + descriptor + lzw + b"\x3b"


def bmp_file(width: int, height: int, *, bits: int = 24, compression: int = 0, pixels: bytes = b"\0" * 64,
             colours: int = 0) -> bytes:
    """BITMAPINFOHEADER BMP with any (signed) size; the pixel array is whatever is given."""
    palette = b"\0\0\0\0\xff\xff\xff\0" * (colours // 2) if colours else b""
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, compression, len(pixels), 2835, 2835,
                       colours, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


_TIFF_TYPES = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 7: "B", 11: "f", 12: "d", 16: "Q"}


def tiff_file(
    width: int,
    height: int,
    *,
    strip: bytes = b"\0" * 16,
    samples: int = 3,
    bits: int = 8,
    photometric: int = 2,
    compression: int = 1,
    extra: Iterable[tuple[int, int, object]] = (),
    next_ifd: int | None = 0,
    rows_per_strip: int | None = None,
) -> bytes:
    """Little-endian classic TIFF with one strip and any tags (tag, type, values).

    next_ifd: offset of the next IFD; None points the IFD at itself (a loop).
    """
    entries: dict[int, tuple[int, object]] = {
        256: (4, [width]), 257: (4, [height]), 258: (3, [bits] * samples), 259: (3, [compression]),
        262: (3, [photometric]), 273: (4, [0]), 277: (3, [samples]),
        278: (4, [rows_per_strip if rows_per_strip is not None else height]), 279: (4, [len(strip)]),
    }
    strip_offset = 8
    ifd_offset = strip_offset + len(strip) + (len(strip) & 1)
    entries[273] = (4, [strip_offset])
    for tag, kind, values in extra:
        entries[tag] = (kind, values)
    count = len(entries)
    data_offset = ifd_offset + 2 + 12 * count + 4
    ifd = bytearray(struct.pack("<H", count))
    data_area = bytearray()
    for tag in sorted(entries):
        kind, values = entries[tag]
        if isinstance(values, (bytes, str)):
            payload = values.encode("latin-1") if isinstance(values, str) else values
            number = len(payload)
        else:
            values = list(values)  # type: ignore[call-overload]
            number = len(values) // 2 if kind == 5 else len(values)
            payload = struct.pack("<" + _TIFF_TYPES[kind] * len(values), *values)
        if len(payload) <= 4:
            ifd += struct.pack("<HHI", tag, kind, number) + payload.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, number, data_offset + len(data_area))
            data_area += payload + (b"\0" if len(payload) & 1 else b"")
    ifd += struct.pack("<I", ifd_offset if next_ifd is None else next_ifd)
    return b"II*\0" + struct.pack("<I", ifd_offset) + strip + b"\0" * (len(strip) & 1) + ifd + data_area


def webp_vp8x(width: int, height: int, frame: bytes) -> bytes:
    """An extended WebP whose canvas claims width×height around a small real frame chunk."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + struct.pack("<I", width - 1)[:3] \
        + struct.pack("<I", height - 1)[:3]
    body = b"WEBP" + vp8x + frame
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _webp_frame_chunk() -> bytes:
    data = _encode(picture(4, 4), "WEBP", lossless=True)
    return data[12:]  # the VP8L chunk after "RIFF....WEBP"


def exif_bytes(tags: dict[int, object]) -> bytes:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[tag] = value
    return exif.tobytes()


def ppm_header(magic: bytes, width: int, height: int, maxval: int | None = 255) -> bytes:
    fields = [magic, str(width).encode(), str(height).encode()]
    if maxval is not None:
        fields.append(str(maxval).encode())
    return b"\n".join(fields) + b"\n"


# --------------------------------------------------------------------------- the special catalogue

Special = Callable[[random.Random], tuple[str, bytes, Expect]]
SPECIALS: list[tuple[str, Special]] = []


def _special(name: str) -> Callable[[Special], Special]:
    def register(function: Special) -> Special:
        SPECIALS.append((name, function))
        return function
    return register


def _thin(fmt: str, suffix: str, size: tuple[int, int], mode: str = "L", expect: Expect = "ok",
          **options: object) -> None:
    @_special(f"{fmt.lower()}{'' if mode in ('L', 'RGB') else ' ' + mode} {size[0]}x{size[1]}")
    def _make(rng: random.Random) -> tuple[str, bytes, Expect]:
        return suffix, _cached_encode(fmt, size, mode, tuple(sorted(options.items()))), expect


@functools.lru_cache(maxsize=64)
def _cached_encode(fmt: str, size: tuple[int, int], mode: str, options: tuple) -> bytes:
    if size[0] * size[1] > 1_000_000:  # a photo-sized picture: upscale a small one (much faster)
        image = picture(size[0] // 10, size[1] // 10).resize(size, Image.Resampling.BILINEAR)
    else:
        image = picture(*size)
    return _encode(image.convert(mode) if mode != "RGB" else image, fmt, **dict(options))


# 1×1 and 1×100000 (or each format's maximum) in every format the tool reads.
for _fmt, _suffix, _limit in (("PNG", ".png", 100000), ("GIF", ".gif", 65535), ("BMP", ".bmp", 100000),
                              ("TIFF", ".tif", 100000), ("PPM", ".ppm", 100000), ("JPEG", ".jpg", 65500),
                              ("WEBP", ".webp", 16383)):
    _thin(_fmt, _suffix, (1, 1), mode="RGB")
    _thin(_fmt, _suffix, (1, _limit))
    _thin(_fmt, _suffix, (_limit, 1))


# Headers that claim 100,000×100,000 pixels (or the format's maximum) with a few bytes of data.
@_special("png header 100000x100000")
def _png_huge(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".png", png_file(100000, 100000, idat=zlib.compress(b"\0" * 64)), "refuse"


@_special("png header 2^31-1 x 1")
def _png_max_width(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".png", png_file(2**31 - 1, 1, idat=zlib.compress(b"\0" * 64)), "refuse"


@_special("png header 0x0")
def _png_zero(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".png", png_file(0, 0, idat=zlib.compress(b"\0")), "refuse"


@_special("jpeg SOF 65535x65535")
def _jpeg_huge(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".jpg", jpeg_with_size(_cached_encode("JPEG", (16, 16), "RGB", ()), 65535, 65535), "refuse"


@_special("jpeg SOF 16000x12000 (draft target, data truncated)")
def _jpeg_big_claim(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".jpg", jpeg_with_size(_cached_encode("JPEG", (16, 16), "RGB", ()), 16000, 12000), "refuse"


@_special("jpeg SOF 0x0")
def _jpeg_zero(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".jpg", jpeg_with_size(_cached_encode("JPEG", (16, 16), "RGB", ()), 0, 0), "refuse"


@_special("gif screen 65535x65535, frame 1x1")
def _gif_huge_screen(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".gif", gif_file((65535, 65535), (1, 1)), "refuse"


@_special("gif screen 1x1, frame 65535x65535")
def _gif_huge_frame(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".gif", gif_file((1, 1), (65535, 65535)), "refuse"


@_special("bmp header 100000x100000")
def _bmp_huge(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".bmp", bmp_file(100000, 100000), "refuse"


@_special("bmp header 100000x-100000 (top-down)")
def _bmp_huge_topdown(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".bmp", bmp_file(100000, -100000), "refuse"


@_special("bmp header -2^31 width")
def _bmp_negative(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".bmp", bmp_file(-(2**31), 1), "refuse"


@_special("bmp rle8 100000x100000")
def _bmp_rle_huge(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".bmp", bmp_file(100000, 100000, bits=8, compression=1, colours=256, pixels=b"\0\1" * 8), "refuse"


@_special("tiff header 100000x100000")
def _tiff_huge(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".tif", tiff_file(100000, 100000), "refuse"


@_special("tiff header 100000x100000 deflate")
def _tiff_huge_deflate(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".tif", tiff_file(100000, 100000, compression=8, strip=zlib.compress(b"\0" * 4096)), "refuse"


@_special("webp VP8X canvas 16384x16384")
def _webp_huge(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".webp", webp_vp8x(16384, 16384, _webp_frame_chunk()), "refuse"


@_special("webp VP8X canvas 16777216x16777216")
def _webp_max(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".webp", webp_vp8x(2**24, 2**24, _webp_frame_chunk()), "refuse"


@_special("ppm header 100000x100000")
def _ppm_huge(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".ppm", ppm_header(b"P6", 100000, 100000) + b"\0" * 64, "refuse"


@_special("pgm header 1x100000 16-bit, data truncated")
def _pgm_truncated(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".pgm", ppm_header(b"P5", 1, 100000, 65535) + b"\xff" * 64, "refuse"


# Decompression bombs: tiny files that inflate to hundreds of megabytes.
@_special("png bomb 14000x14000 zero IDAT (196 MP, over Pillow's bomb limit)")
def _png_bomb_refused(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".png", png_file(14000, 14000, colour_type=0), "refuse"


@_special("png bomb 8000x8000 zero IDAT (64 MP, under the limit)")
def _png_bomb_loads(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".png", png_file(8000, 8000, colour_type=0), "ok"


@_special("png zTXt bomb 64 MiB of zeros")
def _png_ztxt_bomb(rng: random.Random) -> tuple[str, bytes, Expect]:
    payload = b"Comment\0\0" + _zeros_deflated(64 << 20)
    return ".png", png_raw(2, 2, b"\0" * 12, bit_depth=8, colour_type=2,
                           before=[png_chunk(b"zTXt", payload)]), None


@_special("png iCCP bomb 64 MiB of zeros")
def _png_iccp_bomb(rng: random.Random) -> tuple[str, bytes, Expect]:
    payload = b"icc\0\0" + _zeros_deflated(64 << 20)
    return ".png", png_raw(2, 2, b"\0" * 12, bit_depth=8, colour_type=2,
                           before=[png_chunk(b"iCCP", payload)]), None


@_special("png 4 MiB tEXt chunk")
def _png_big_text(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".png", png_raw(2, 2, b"\0" * 12, bit_depth=8, colour_type=2,
                           before=[png_chunk(b"tEXt", b"Comment\0" + b"x" * (4 << 20))]), None


@_special("png 80 zTXt chunks of 1 MiB each (80 MiB of text from 80 KiB)")
def _png_many_texts(rng: random.Random) -> tuple[str, bytes, Expect]:
    chunk = png_chunk(b"zTXt", b"Comment\0\0" + _zeros_deflated((1 << 20) - 1024))
    return ".png", png_raw(2, 2, b"\0" * 12, bit_depth=8, colour_type=2, before=[chunk] * 80), None


@_special("png 50000 unknown ancillary chunks")
def _png_many_chunks(rng: random.Random) -> tuple[str, bytes, Expect]:
    chunk = png_chunk(b"zzZz", b"")
    return ".png", png_raw(2, 2, b"\0" * 12, bit_depth=8, colour_type=2, before=[chunk] * 50000), "ok"


@_special("png IDAT split into 1-byte chunks")
def _png_split_idat(rng: random.Random) -> tuple[str, bytes, Expect]:
    rows = b"".join(b"\0" + bytes(range(48)) for _ in range(64))
    stream = zlib.compress(rows, 0)
    pieces = [png_chunk(b"IDAT", stream[i:i + 1]) for i in range(len(stream))]
    head = png_file(16, 64, idat=b"")
    ihdr_end = 8 + 25
    return ".png", head[:ihdr_end] + b"".join(pieces) + png_chunk(b"IEND", b""), "ok"


@_special("png eXIf orientation 6 and XMP orientation 8")
def _png_exif_xmp(rng: random.Random) -> tuple[str, bytes, Expect]:
    xmp = b'XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>'
    data = png_raw(3, 2, b"\x10" * 18, bit_depth=8, colour_type=2,
                   before=[png_chunk(b"eXIf", exif_bytes({0x0112: 6})[6:]), png_chunk(b"iTXt", xmp)])
    return ".png", data, "ok"


# Colour modes the loader must turn into RGB.
@_special("png 16-bit grey")
def _png_i16(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".png", _encode(picture(24, 16, "I;16"), "PNG"), "ok"


@_special("png 16-bit RGB and RGBA")
def _png_rgb16(rng: random.Random) -> tuple[str, bytes, Expect]:
    colour_type = rng.choice((2, 6))
    channels = 3 if colour_type == 2 else 4
    rows = bytes(rng.randrange(256) for _ in range(8 * 6 * channels * 2))
    return ".png", png_raw(8, 6, rows, bit_depth=16, colour_type=colour_type), "ok"


@_special("png grey with tRNS, 1/2/4-bit grey")
def _png_low_bits(rng: random.Random) -> tuple[str, bytes, Expect]:
    bits = rng.choice((1, 2, 4, 8))
    rows = bytes(rng.randrange(256) for _ in range(math.ceil(8 * bits / 8) * 8))
    trns = [png_chunk(b"tRNS", b"\0\0")] if rng.random() < 0.5 else []
    return ".png", png_raw(8, 8, rows, bit_depth=bits, colour_type=0, before=trns), "ok"


for _mode in ("LA", "RGBA", "P", "1", "L", "CMYK"):
    _fmt = "JPEG" if _mode == "CMYK" else "PNG"
    _thin(_fmt, ".jpg" if _fmt == "JPEG" else ".png", (20, 12), mode=_mode)


@_special("png palette with transparency")
def _png_palette_alpha(rng: random.Random) -> tuple[str, bytes, Expect]:
    image = picture(20, 12, "P")
    return ".png", _encode(image, "PNG", transparency=bytes(range(0, 256, 16))), "ok"


@_special("gif palette with transparency")
def _gif_transparent(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".gif", _encode(picture(20, 12, "P"), "GIF", transparency=3), "ok"


@_special("tiff I;16, F, I, CMYK, LAB, 1-bit G4, RGBA, YCbCr-JPEG")
def _tiff_modes(rng: random.Random) -> tuple[str, bytes, Expect]:
    choice = rng.choice(("I;16", "F", "I", "CMYK", "LAB", "1", "RGBA", "jpeg"))
    if choice == "jpeg":
        return ".tif", _encode(picture(24, 16), "TIFF", compression="jpeg"), "ok"
    if choice == "1":
        return ".tif", _encode(picture(24, 16).convert("1"), "TIFF", compression="group4"), "ok"
    if choice == "I":
        return ".tif", _encode(picture(24, 16, "I;16").convert("I"), "TIFF"), "ok"
    if choice in ("I;16", "F"):
        return ".tif", _encode(picture(24, 16, choice), "TIFF"), "ok"
    # LAB has no conversion to RGB without a colour profile: refusing it is allowed.
    return ".tif", _encode(picture(24, 16).convert(choice), "TIFF"), None if choice == "LAB" else "ok"


@_special("tiff F with NaN and inf")
def _tiff_nan(rng: random.Random) -> tuple[str, bytes, Expect]:
    values = np.array([[np.nan, np.inf, -np.inf, 0.5], [1e30, -1e30, 0.0, 1.0]], dtype=np.float32)
    return ".tif", _encode(Image.fromarray(values), "TIFF"), "ok"


@_special("animated gif 300 frames")
def _gif_animated(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".gif", _animated("GIF", 300), "ok"


@_special("animated png 100 frames")
def _apng(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".png", _animated("PNG", 100), "ok"


@_special("animated webp 50 frames")
def _webp_animated(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".webp", _animated("WEBP", 50), "ok"


@_special("multi-page tiff 500 pages")
def _tiff_pages(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".tif", _animated("TIFF", 500), "ok"


@_special("mpo two frames")
def _mpo(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".jpg", _animated("MPO", 2), "ok"


@functools.lru_cache(maxsize=8)
def _animated(fmt: str, frames: int) -> bytes:
    images = [picture(16, 12, seed=i) for i in range(frames)]
    if fmt == "GIF":
        images = [image.quantize(8) for image in images]
    return _encode(images[0], fmt, save_all=True, append_images=images[1:], duration=10)


# EXIF: every orientation, and malformed EXIF blocks.
@_special("jpeg EXIF orientation 1-8")
def _jpeg_orientation(rng: random.Random) -> tuple[str, bytes, Expect]:
    value = rng.randrange(1, 9)
    return ".jpg", _encode(picture(24, 16), "JPEG", exif=exif_bytes({0x0112: value})), "ok"


@_special("jpeg EXIF orientation out of range or of the wrong type")
def _jpeg_orientation_bad(rng: random.Random) -> tuple[str, bytes, Expect]:
    entry = rng.choice((  # (TIFF type, count, 4 value bytes): 0, 9 and 65535; ASCII; LONG; UNDEFINED;
        # two SHORTs; a RATIONAL past the end; 2^30 SHORTs; an IFD-typed orientation
        (3, 1, struct.pack("<HH", 0, 0)), (3, 1, struct.pack("<HH", 9, 0)),
        (3, 1, struct.pack("<HH", 65535, 0)), (2, 2, b"6\0\0\0"), (4, 1, struct.pack("<I", 6)),
        (7, 1, b"\x06\0\0\0"), (3, 2, struct.pack("<HH", 6, 6)), (5, 1, struct.pack("<I", 0xFFFF0000)),
        (3, 0x40000000, struct.pack("<I", 0xFFFFFF00)), (13, 1, b"\0" * 4),
    ))
    kind, count, value = entry
    tiff = b"II*\0" + struct.pack("<IH", 8, 1) + struct.pack("<HHI", 0x0112, kind, count) + value + b"\0" * 4
    return ".jpg", _encode(picture(24, 16), "JPEG", exif=b"Exif\0\0" + tiff), "ok"


@_special("jpeg EXIF random bytes")
def _jpeg_exif_random(rng: random.Random) -> tuple[str, bytes, Expect]:
    junk = b"Exif\0\0" + rng.choice((b"II*\0", b"MM\0*", b"")) + rng.randbytes(rng.randrange(0, 400))
    return ".jpg", _encode(picture(24, 16), "JPEG", exif=junk), "ok"


@_special("jpeg EXIF IFD loops and huge counts")
def _jpeg_exif_loop(rng: random.Random) -> tuple[str, bytes, Expect]:
    # IFD0 at 8 with: Orientation=6, ExifIFD -> 8 (itself), GPS -> 8, a tag claiming 2^30 values.
    entries = [(0x0112, 3, 1, 6), (0x8769, 4, 1, 8), (0x8825, 4, 1, 8), (0x010E, 2, 2**30, 8)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries)
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 8)
    return ".jpg", _encode(picture(24, 16), "JPEG", exif=b"Exif\0\0" + tiff), "ok"


@_special("jpeg 64 KiB EXIF and 1 MiB ICC profile")
def _jpeg_big_metadata(rng: random.Random) -> tuple[str, bytes, Expect]:
    exif = exif_bytes({0x0112: 3, 0x010E: "x" * 65000})
    icc = rng.randbytes(1 << 20)
    return ".jpg", _encode(picture(24, 16), "JPEG", exif=exif, icc_profile=icc), "ok"


@_special("jpeg 2000 COM segments")
def _jpeg_comments(rng: random.Random) -> tuple[str, bytes, Expect]:
    data = _cached_encode("JPEG", (16, 16), "RGB", ())
    comment = b"\xff\xfe" + struct.pack(">H", 2 + 1000) + b"c" * 1000
    return ".jpg", data[:2] + comment * 2000 + data[2:], "ok"


@_special("jpeg 3000x2000 photo (draft decode)")
def _jpeg_big(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".jpg", _cached_encode("JPEG", (3000, 2000), "RGB", (("quality", 80),)), "ok"


@_special("jpeg 3000x2000 truncated at half")
def _jpeg_big_truncated(rng: random.Random) -> tuple[str, bytes, Expect]:
    data = _cached_encode("JPEG", (3000, 2000), "RGB", (("quality", 80),))
    return ".jpg", data[: len(data) // 2], "refuse"


@_special("progressive jpeg truncated")
def _jpeg_progressive_truncated(rng: random.Random) -> tuple[str, bytes, Expect]:
    data = _cached_encode("JPEG", (64, 48), "RGB", (("progressive", True),))
    return ".jpg", data[: len(data) * 2 // 3], "refuse"


@_special("png truncated inside IDAT")
def _png_truncated(rng: random.Random) -> tuple[str, bytes, Expect]:
    data = _cached_encode("PNG", (64, 48), "RGB", ())
    return ".png", data[: len(data) // 2], "refuse"


# TIFF structure: loops, deep chains, odd tags.
@_special("tiff IFD pointing at itself")
def _tiff_loop(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".tif", tiff_file(2, 2, strip=b"\x80" * 12, next_ifd=None), "ok"


@_special("tiff EXIF/GPS/SubIFD pointers looping to IFD0")
def _tiff_sub_loop(rng: random.Random) -> tuple[str, bytes, Expect]:
    loops = [(34665, 4, [8 + 12]), (34853, 4, [8 + 12]), (330, 4, [8 + 12] * 3), (274, 3, [6])]
    return ".tif", tiff_file(2, 2, strip=b"\x80" * 12, extra=loops), None


@_special("tiff chain of 2000 IFDs")
def _tiff_chain(rng: random.Random) -> tuple[str, bytes, Expect]:
    first = bytearray(tiff_file(1, 1, strip=b"\x80" * 4, samples=1, photometric=1))
    ifd_offset = struct.unpack("<I", first[4:8])[0]
    count = struct.unpack("<H", first[ifd_offset:ifd_offset + 2])[0]
    ifd = bytes(first[ifd_offset:ifd_offset + 2 + 12 * count])
    out = bytearray(first[:ifd_offset])
    for i in range(2000):
        nxt = ifd_offset + (i + 1) * (len(ifd) + 4) if i < 1999 else 0
        out += ifd + struct.pack("<I", nxt)
    return ".tif", bytes(out), None


@_special("tiff tag claiming 2^31 values past EOF")
def _tiff_huge_count(rng: random.Random) -> tuple[str, bytes, Expect]:
    data = tiff_patch(tiff_file(2, 2, strip=b"\x80" * 12, extra=[(270, 2, b"x" * 8)]), 270,
                      count=2**31 - 1, value=0xFFFFFF00)
    return ".tif", data, None


def tiff_patch(data: bytes, tag: int, *, count: int | None = None, value: int | None = None) -> bytes:
    """Rewrite the count and/or value-or-offset field of one tag in IFD0 of a little-endian TIFF."""
    out = bytearray(data)
    ifd = struct.unpack("<I", out[4:8])[0]
    for i in range(struct.unpack("<H", out[ifd:ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", out[entry:entry + 2])[0] == tag:
            if count is not None:
                out[entry + 4:entry + 8] = struct.pack("<I", count)
            if value is not None:
                out[entry + 8:entry + 12] = struct.pack("<I", value)
    return bytes(out)


@_special("tiff 1x1 with 65536x65536 tiles")
def _tiff_huge_tile(rng: random.Random) -> tuple[str, bytes, Expect]:
    tiles = [(322, 4, [65536]), (323, 4, [65536]), (324, 4, [8]), (325, 4, [16])]
    return ".tif", tiff_file(1, 1, compression=8, strip=zlib.compress(b"\0" * 16), extra=tiles), None


@_special("tiff strip byte count 0xffffffff, offset past EOF")
def _tiff_bad_strip(rng: random.Random) -> tuple[str, bytes, Expect]:
    extra = [(273, 4, [10**9]), (279, 4, [0xFFFFFFFF])]
    data = bytearray(tiff_file(4, 4, extra=extra))
    return ".tif", bytes(data), "refuse"


@_special("tiff 1x100000 one row per strip")
def _tiff_many_strips(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".tif", _cached_encode("TIFF", (1, 100000), "L", (("compression", "tiff_lzw"),)), "ok"


@_special("tiff float64 and 64-bit samples")
def _tiff_float64(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".tif", tiff_file(2, 2, samples=1, bits=64, photometric=1, strip=b"\x3f" * 32,
                             extra=[(339, 3, [3])]), None


@_special("tiff 2 MiB ImageDescription and XMP")
def _tiff_big_text(rng: random.Random) -> tuple[str, bytes, Expect]:
    big = [(270, 2, b"d" * (2 << 20)), (700, 1, b'<x tiff:Orientation="6"/>' + b" " * (1 << 20))]
    return ".tif", tiff_file(2, 2, strip=b"\x80" * 12, extra=big), "ok"


# Formats outside the tool's list, whatever they are named: refused, never handed to Ghostscript.
@_special("eps named .jpg")
def _eps(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n", "refuse"


@_special("foreign formats (ICO, TGA, PCX, QOI, JPEG 2000, DDS, SGI, IM) named .png")
def _foreign(rng: random.Random) -> tuple[str, bytes, Expect]:
    fmt = rng.choice(("ICO", "TGA", "PCX", "QOI", "JPEG2000", "DDS", "SGI", "IM"))
    return ".png", _encode(picture(16, 16), fmt), "refuse"


@_special("text file named .png")
def _text(rng: random.Random) -> tuple[str, bytes, Expect]:
    return ".png", b"<svg xmlns='http://www.w3.org/2000/svg' width='100000' height='100000'/>\n", "refuse"


@_special("zero-byte file")
def _empty(rng: random.Random) -> tuple[str, bytes, Expect]:
    return rng.choice((".jpg", ".png", ".gif")), b"", "refuse"


# --------------------------------------------------------------------------- sources and mutations


@dataclass(frozen=True)
class Source:
    label: str
    suffix: str
    data: bytes


@functools.lru_cache(maxsize=4)
def sources(data_dir: str | None = None) -> tuple[Source, ...]:
    """Valid images in every readable format: generated pictures, plus real photos when available."""
    pictures = [("gradient 48x32", picture(48, 32, seed=1)), ("gradient 17x61", picture(17, 61, seed=2))]
    if data_dir and Path(data_dir).is_dir():
        for path in sorted(Path(data_dir).rglob("*"))[:12]:
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                with Image.open(path) as photo:
                    photo.draft("RGB", (192, 192))
                    small = photo.convert("RGB")
                    small.thumbnail((128, 128))
                pictures.append((f"photo {path.name}", small))
    out: list[Source] = []
    for label, image in pictures:
        rgba = image.convert("RGBA")
        rgba.putalpha(image.convert("L"))
        variants: list[tuple[str, str, Image.Image, str, dict]] = [
            ("jpeg", ".jpg", image, "JPEG", {"quality": 85}),
            ("jpeg progressive", ".jpg", image, "JPEG", {"progressive": True}),
            ("jpeg grey", ".jpg", image.convert("L"), "JPEG", {}),
            ("jpeg cmyk", ".jpg", image.convert("CMYK"), "JPEG", {}),
            ("jpeg exif orientation 6", ".jpg", image, "JPEG", {"exif": exif_bytes({0x0112: 6})}),
            ("png rgb", ".png", image, "PNG", {}),
            ("png rgba", ".png", rgba, "PNG", {}),
            ("png palette", ".png", image.quantize(32), "PNG", {}),
            ("png palette+alpha", ".png", image.quantize(32), "PNG", {"transparency": 0}),
            ("png 16-bit grey", ".png", picture(image.width, image.height, "I;16"), "PNG", {}),
            ("png la", ".png", rgba.convert("LA"), "PNG", {}),
            ("webp lossy", ".webp", image, "WEBP", {"quality": 70}),
            ("webp lossless alpha", ".webp", rgba, "WEBP", {"lossless": True}),
            ("gif", ".gif", image.quantize(64), "GIF", {}),
            ("tiff raw", ".tif", image, "TIFF", {}),
            ("tiff lzw", ".tif", image, "TIFF", {"compression": "tiff_lzw"}),
            ("tiff deflate", ".tif", image, "TIFF", {"compression": "tiff_adobe_deflate"}),
            ("tiff packbits", ".tif", image, "TIFF", {"compression": "packbits"}),
            ("tiff jpeg", ".tif", image, "TIFF", {"compression": "jpeg"}),
            ("tiff float", ".tif", picture(image.width, image.height, "F"), "TIFF", {}),
            ("bmp", ".bmp", image, "BMP", {}),
            ("bmp palette", ".bmp", image.quantize(16), "BMP", {}),
            ("ppm", ".ppm", image, "PPM", {}),
            ("pgm", ".pgm", image.convert("L"), "PPM", {}),
        ]
        for name, suffix, variant, fmt, options in variants:
            out.append(Source(f"{name} ({label})", suffix, _encode(variant, fmt, **options)))
    out.append(Source("animated gif (gradient)", ".gif", _animated("GIF", 4)))
    out.append(Source("animated webp (gradient)", ".webp", _animated("WEBP", 3)))
    out.append(Source("apng (gradient)", ".png", _animated("PNG", 3)))
    out.append(Source("multi-page tiff (gradient)", ".tif", _animated("TIFF", 3)))
    return tuple(out)


_MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb", b"GIF89a", b"GIF87a", b"II*\0",
           b"MM\0*", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"RIFF\xff\xff\xff\x7fWEBPVP8X", b"P6\n",
           b"P5 ", b"P4\n", b"Pf\n", b"%!PS-Adobe-3.0 EPSF-3.0\n", b"8BPS", b"\0\0\1\0", b"qoif",
           b"\0\0\0\x0cjP  \r\n\x87\n", b"SIMPLE  =", b"DDS ")
_INTERESTING = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff", b"\x00\x00", b"\xff\xff\xff\xff",
                b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"\x00\x01\x00\x00", b"\xff\xfe")


def _position(rng: random.Random, size: int) -> int:
    """Mostly anywhere, often in the header, where parsers make their decisions."""
    if rng.random() < 0.5:
        return rng.randrange(min(size, 256))
    return rng.randrange(size)


def truncate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    cut = _position(rng, len(data))
    return f"truncated at {cut} of {len(data)} bytes", data[:max(cut, 1)]


def flip_bits(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    out = bytearray(data)
    flips = rng.choice((1, 1, 2, 4, 8, 32))
    for _ in range(flips):
        position = _position(rng, len(out))
        out[position] ^= 1 << rng.randrange(8)
    return f"{flips} bit(s) flipped", bytes(out)


def edit_bytes(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    out = bytearray(data)
    edits = []
    for _ in range(rng.randrange(1, 5)):
        position = _position(rng, max(len(out), 1))
        action = rng.choice(("overwrite", "interesting", "insert", "delete", "duplicate"))
        if action == "overwrite":
            out[position:position + 1] = rng.randbytes(1)
            out[position:position + rng.randrange(1, 16)] = rng.randbytes(rng.randrange(1, 16))
        elif action == "interesting":
            value = rng.choice(_INTERESTING)
            out[position:position + len(value)] = value
        elif action == "insert":
            out[position:position] = rng.randbytes(rng.randrange(1, 64))
        elif action == "delete":
            del out[position:position + rng.randrange(1, 64)]
        else:
            length = rng.randrange(1, 256)
            out[position:position] = out[position:position + length] * rng.randrange(1, 8)
        edits.append(f"{action}@{position}")
    return "bytes edited: " + ",".join(edits), bytes(out) or b"\0"


def splice(data: bytes, other: bytes, rng: random.Random) -> tuple[str, bytes]:
    cut, cut_other = rng.randrange(len(data)), rng.randrange(len(other))
    return f"spliced {cut} + {len(other) - cut_other} bytes of another file", data[:cut] + other[cut_other:]


_MUTATORS = (truncate, flip_bits, flip_bits, edit_bytes, edit_bytes)
_RANDOM_KINDS = (("truncated", 20), ("bitflip", 24), ("edited", 18), ("spliced", 4), ("random-bytes", 8),
                 ("wrong-extension", 4), ("zero-byte", 1), ("special", 6), ("special-mutated", 15))


def make_case(seed: int, index: int, data_dir: str | None = None) -> FuzzCase:
    """The index-th input of a run with this seed (same seed and index -> same bytes, any machine)."""
    rng = random.Random(f"stylexfer-fuzz/{seed}/{index}")
    if index < len(SPECIALS):
        name, make = SPECIALS[index]
        suffix, data, expect = make(rng)
        return FuzzCase(index, "special", name, suffix, data, expect)
    kinds, weights = zip(*_RANDOM_KINDS, strict=True)
    kind = rng.choices(kinds, weights)[0]
    pool = sources(data_dir)
    if kind in ("special", "special-mutated"):
        name, make = rng.choice(SPECIALS)
        suffix, data, expect = make(rng)
        if kind == "special" or not data:
            return FuzzCase(index, kind, name, suffix, data, expect)
        how, data = rng.choice(_MUTATORS)(data, rng)
        return FuzzCase(index, kind, f"{name}, {how}", suffix, data)
    if kind == "random-bytes":
        length = int(2 ** rng.uniform(0, 16))
        prefix = rng.choice(_MAGICS) if rng.random() < 0.6 else b""
        suffix = rng.choice((".jpg", ".png", ".gif", ".webp", ".tif", ".bmp", ".ppm", ".bin"))
        return FuzzCase(index, kind, f"{len(prefix)}-byte magic {prefix[:12]!r} + {length} random bytes",
                        suffix, prefix + rng.randbytes(length))
    if kind == "zero-byte":
        return FuzzCase(index, kind, "zero-byte file", rng.choice((".jpg", ".png")), b"", "refuse")
    source = rng.choice(pool)
    if kind == "wrong-extension":
        suffix = rng.choice([s for s in (".jpg", ".png", ".gif", ".webp", ".tif", ".bmp", ".txt", "")
                             if s != source.suffix])
        return FuzzCase(index, kind, f"{source.label} named '*{suffix}'", suffix, source.data, "ok")
    if kind == "spliced":
        how, data = splice(source.data, rng.choice(pool).data, rng)
    else:
        mutate = {"truncated": truncate, "bitflip": flip_bits, "edited": edit_bytes}[kind]
        how, data = mutate(source.data, rng)
    suffix = source.suffix if rng.random() < 0.9 else rng.choice((".jpg", ".png", ".tif"))
    return FuzzCase(index, kind, f"{source.label}, {how}", suffix, data)


# --------------------------------------------------------------------------- checking one load


@dataclass
class LoadResult:
    """One call of the loader on one file: 'ok', 'refused' (category) or 'failure' (why)."""

    status: str
    category: str
    detail: str
    seconds: float = 0.0


_CATEGORIES = (
    ("empty", re.compile(r"empty file")),
    ("not an image", re.compile(r"not a supported image|cannot identify")),
    ("too large", re.compile(r"megapixels, over the limit|decompression bomb|no pixels")),
    ("metadata too large", re.compile(r"metadata too large")),
    ("truncated", re.compile(r"truncated")),
    ("out of memory", re.compile(r"not enough memory")),
    ("unsupported mode", re.compile(r"unsupported colour mode")),
    ("not a file", re.compile(r"no such file|not a regular file|is a directory|cannot open|permission")),
)


def refusal_category(message: str) -> str:
    for name, pattern in _CATEGORIES:
        if pattern.search(message):
            return name
    return "corrupt"


def _pillow_switches() -> tuple[object, ...]:
    from PIL import ImageFile, PngImagePlugin

    return (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS, PngImagePlugin.MAX_TEXT_CHUNK,
            PngImagePlugin.MAX_TEXT_MEMORY)


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def check_load(loader: Callable[..., object], path: Path, draft: int | None, expect: Expect) -> LoadResult:
    """Call the loader once and judge the outcome against the allowed ones."""
    from stylexfer.errors import ImageError

    switches, fds = _pillow_switches(), _open_fds()
    start = time.perf_counter()
    try:
        image = loader(path, draft_shorter_side=draft)
    except ImageError as err:
        message = str(err)
        if "\n" in message or "\r" in message:
            return LoadResult("failure", "multi-line error", repr(message))
        if str(path) not in message:
            return LoadResult("failure", "error does not name the file", message)
        category = refusal_category(message)
        if category == "out of memory":
            return LoadResult("failure", "memory blow-up", f"needed more than the memory budget: {message}")
        result = LoadResult("refused", category, message)
    except MemoryError as err:
        return LoadResult("failure", "memory blow-up", f"MemoryError escaped: {err}")
    except BaseException as err:  # noqa: BLE001 - everything else is the failure we look for
        return LoadResult("failure", f"unexpected {type(err).__name__}", str(err)[:300])
    else:
        if not isinstance(image, Image.Image):
            return LoadResult("failure", "not a PIL image", type(image).__name__)
        width, height = image.size
        if image.mode != "RGB" or width < 1 or height < 1:
            return LoadResult("failure", "not an RGB image", f"mode {image.mode}, size {image.size}")
        try:  # the pixels must really be there (a closed or lazy image fails here)
            image.getpixel((0, 0))
            image.getpixel((width - 1, height - 1))
        except Exception as err:  # noqa: BLE001
            return LoadResult("failure", "unusable image", f"{type(err).__name__}: {err}")
        result = LoadResult("ok", "loaded", f"{width}x{height}")
    result.seconds = time.perf_counter() - start
    if _pillow_switches() != switches:
        return LoadResult("failure", "global Pillow setting changed", repr(_pillow_switches()))
    if fds >= 0 and _open_fds() > fds:
        return LoadResult("failure", "file descriptor leaked", f"{fds} -> {_open_fds()} open")
    if expect == "ok" and result.status != "ok":
        return LoadResult("failure", "valid image refused", result.detail)
    if expect == "refuse" and result.status == "ok":
        return LoadResult("failure", "hostile input accepted", result.detail)
    return result


# --------------------------------------------------------------------------- the worker pool


def _resolve(loader: str | Callable[..., object]) -> Callable[..., object]:
    if callable(loader):
        return loader
    module, _, name = loader.partition(":")
    return getattr(importlib.import_module(module), name)


def _rss_mb() -> float:
    if resource is None:
        return 0.0  # no peak-RSS figure without `resource`: the leak check then sees no growth
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _worker(conn: mp_connection.Connection, seed: int, data_dir: str | None, memory_budget_mb: int,
            loader: str | Callable[..., object], quiet: bool, scratch: str) -> None:
    """Serve case indices until told to stop; every load is announced before it starts."""
    function = _resolve(loader)
    from stylexfer.errors import ImageError  # noqa: F401 - imported before the memory limit

    sources(data_dir)  # build the pool before the limit, so it never counts against a case
    if memory_budget_mb > 0 and resource is not None:
        limit = _address_space() + memory_budget_mb * (1 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if quiet:  # libtiff and libjpeg print warnings on stderr for every broken file
        faulthandler.disable()  # a crash is reported by its exit code; no C traceback on the console
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    baseline = _rss_mb()
    directory = Path(tempfile.mkdtemp(dir=scratch))  # removed by run_fuzz even if this worker dies
    conn.send(("ready", baseline))
    try:
        while True:
            index = conn.recv()
            if index is None:
                break
            case = make_case(seed, index, data_dir)
            path = directory / f"case-{index}{case.suffix}"
            path.write_bytes(case.data)
            results = []
            for draft in (None, DRAFT_SHORTER_SIDE):
                conn.send(("start", index, draft))
                results.append(check_load(function, path, draft, case.expect))
            path.unlink()
            conn.send(("done", index, case.kind, case.description, results, _rss_mb()))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Failure:
    index: int
    description: str
    reason: str
    detail: str
    draft: int | None = None


@dataclass
class FuzzReport:
    """Tally of a run: every load is one of ok / refused (by category) / failure."""

    seed: int
    count: int
    data_dir: str | None = None
    inputs: int = 0
    loads: int = 0
    ok: int = 0
    refused: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    baseline_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    peak_case: str = ""
    wall_seconds: float = 0.0

    def record(self, index: int, kind: str, description: str, results: list[LoadResult],
               rss_mb: float) -> None:
        self.inputs += 1
        self.kinds[kind] += 1
        failed = False
        for draft, result in zip((None, DRAFT_SHORTER_SIDE), results, strict=True):
            self.loads += 1
            if result.status == "ok":
                self.ok += 1
            elif result.status == "refused":
                self.refused[result.category] += 1
            elif not failed:  # one failure per input is enough to reproduce it
                failed = True
                self.failures.append(Failure(index, description, result.category, result.detail, draft))
            if result.seconds > self.slowest[0]:
                draft_note = f", draft {draft}" if draft else ""
                self.slowest = (result.seconds, f"#{index} {description}{draft_note}")
        if rss_mb > self.peak_rss_mb:
            self.peak_rss_mb, self.peak_case = rss_mb, f"#{index} {description}"


def run_fuzz(
    count: int,
    *,
    seed: int = 0,
    start: int = 0,
    jobs: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_budget_mb: int = DEFAULT_MEMORY_BUDGET_MB,
    data_dir: str | None = None,
    loader: str | Callable[..., object] = DEFAULT_LOADER,
    indices: Iterable[int] | None = None,
    start_method: str = "forkserver",
    quiet: bool = True,
    progress: Callable[[FuzzReport], None] | None = None,
) -> FuzzReport:
    """Run cases start..start+count-1 (or `indices`) through the loader in `jobs` worker processes.

    Each load gets `timeout_s` seconds, each worker `memory_budget_mb` of address space above what it
    holds after importing the loader; a hang, a crash or a limit hit is a failure, and the worker is
    replaced. A callable loader needs start_method="fork" (it is not pickled).
    """
    report = FuzzReport(seed=seed, count=count, data_dir=data_dir)
    todo = list(indices) if indices is not None else list(range(start, start + count))
    todo.reverse()
    context = mp.get_context(start_method)
    if start_method == "forkserver" and isinstance(loader, str):
        context.set_forkserver_preload([loader.partition(":")[0], __name__])
    began = time.perf_counter()
    workers: dict[int, dict] = {}
    scratch = tempfile.mkdtemp(prefix="stylexfer-fuzz-")

    def launch(slot: int) -> None:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, daemon=True,
                                  args=(child, seed, data_dir, memory_budget_mb, loader, quiet, scratch))
        process.start()
        child.close()
        workers[slot] = {"process": process, "conn": parent, "index": None, "draft": None,
                         "deadline": time.monotonic() + 120.0, "ready": False}

    def retire(slot: int) -> None:
        worker = workers.pop(slot)
        with contextlib.suppress(Exception):
            worker["process"].kill()
        worker["process"].join(5)
        worker["conn"].close()

    def give_work(slot: int) -> None:
        worker = workers[slot]
        if todo:
            worker["index"] = todo.pop()
            worker["deadline"] = time.monotonic() + timeout_s
            worker["conn"].send(worker["index"])
        else:
            worker["index"] = None

    for slot in range(max(1, min(jobs, len(todo) or 1))):
        launch(slot)
    try:
        while workers:
            busy = [w for w in workers.values() if w["index"] is not None or not w["ready"]]
            if not busy:
                break
            wait_for = [w["conn"] for w in busy] + [w["process"].sentinel for w in busy]
            next_deadline = min(w["deadline"] for w in busy)
            mp_connection.wait(wait_for, timeout=max(0.0, next_deadline - time.monotonic()))
            for slot in list(workers):
                worker = workers[slot]
                conn = worker["conn"]
                try:
                    while conn.poll():
                        message = conn.recv()
                        if message[0] == "ready":
                            worker["ready"] = True
                            report.baseline_rss_mb = max(report.baseline_rss_mb, message[1])
                            give_work(slot)
                        elif message[0] == "start":
                            worker["draft"] = message[2]
                            worker["deadline"] = time.monotonic() + timeout_s
                        elif message[0] == "done":
                            _, index, kind, description, results, rss = message
                            report.record(index, kind, description, results, rss)
                            if progress is not None:
                                progress(report)
                            give_work(slot)
                except (EOFError, OSError):
                    pass
                alive = worker["process"].is_alive()
                late = time.monotonic() > worker["deadline"]
                if (worker["index"] is not None or not worker["ready"]) and (not alive or late):
                    index = worker["index"]
                    if index is None:
                        retire(slot)
                        raise RuntimeError("fuzz worker failed to start (see its stderr: run with --verbose)")
                    try:
                        case = make_case(seed, index, data_dir)
                    except Exception as err:  # noqa: BLE001 - report it as this case's failure
                        case = FuzzCase(index, "unknown", f"(case could not be generated: {err!r})", "", b"")
                    if late and alive:
                        reason, detail = "hang", f"no result within {timeout_s:.0f} s"
                    else:
                        code = worker["process"].exitcode
                        reason, detail = "crash", f"worker died with exit code {code}" + (
                            " (killed by a signal)" if code is not None and code < 0 else "")
                    report.inputs += 1
                    report.kinds[case.kind] += 1
                    report.loads += 1
                    report.failures.append(Failure(index, case.description, reason, detail, worker["draft"]))
                    if progress is not None:
                        progress(report)
                    retire(slot)
                    if todo:
                        launch(slot)
        for slot in list(workers):
            with contextlib.suppress(Exception):
                workers[slot]["conn"].send(None)
            workers[slot]["process"].join(5)
            retire(slot)
    finally:
        for slot in list(workers):
            retire(slot)
        shutil.rmtree(scratch, ignore_errors=True)
    report.wall_seconds = time.perf_counter() - began
    return report


def format_report(report: FuzzReport) -> str:
    """The tally as printed by scripts/fuzz_images.py."""
    refused = sum(report.refused.values())
    sources_flag = f"--data {report.data_dir}" if report.data_dir else "--no-data"
    lines = [
        f"inputs tried:      {report.inputs} (seed {report.seed}; first {len(SPECIALS)}: the catalogue)",
        f"loader calls:      {report.loads} (each input with draft_shorter_side=None and "
        f"{DRAFT_SHORTER_SIDE})",
        f"loaded OK (RGB):   {report.ok}",
        f"refused (ImageError, one line naming the file): {refused}",
    ]
    lines += [f"    {name:<18} {number}" for name, number in report.refused.most_common()]
    lines.append(f"failures:          {len(report.failures)}")
    for failure in report.failures[:50]:
        draft = f", draft_shorter_side={failure.draft}" if failure.draft else ""
        lines.append(f"    #{failure.index} [{failure.reason}] {failure.description}{draft}: {failure.detail}"
                     f"  (reproduce: --seed {report.seed} --case {failure.index} {sources_flag})")
    if len(report.failures) > 50:
        lines.append(f"    ... and {len(report.failures) - 50} more")
    lines += [
        f"input kinds:       {', '.join(f'{k} {n}' for k, n in sorted(report.kinds.items()))}",
        f"slowest load:      {report.slowest[0]:.2f} s  {report.slowest[1]}",
        f"peak RSS:          {report.peak_rss_mb:.0f} MB in a worker ({report.baseline_rss_mb:.0f} MB after "
        f"importing stylexfer; reached by {report.peak_case})",
        f"wall time:         {report.wall_seconds:.0f} s",
    ]
    return "\n".join(lines)
