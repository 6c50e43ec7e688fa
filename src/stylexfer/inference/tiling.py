"""Tiling of large images: when to tile, overlapping windows, blending with linear ramps (the
families' runners keep each network's statistics whole-image)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor

from stylexfer.inference.device import DevicePolicy
from stylexfer.inference.request import RequestError, literal

Progress = Callable[[int, int], None]  # progress(done, total) after each tile
Span = tuple[int, int, int, int]  # (win0, win1, core0, core1)
T = TypeVar("T")
ALIGN = 8  # a VGG encoder to relu4_1 pools three times: tiles start on multiples of 8
DEFAULT_TILE_SIZE = 512  # core of a tile, px; each tile also reads `overlap` px on every side
DEFAULT_TILE_OVERLAP = 64  # ≈ half the encoder+decoder receptive field (≈ 128 px at full resolution)
AUTO_TILE_PIXELS = 2_000_000  # tile="auto" tiles images above ~2 MP (untiled VGG encoder/decoder: ~1.5 GB per MP)
# The memory bound of a tiled stylization (README "Large images"): the full-resolution buffers (input
# tensor, blended output, blend weights, decoded and saved 8-bit copies) take about 30 bytes per pixel,
# one tile's working set about 0.9 GB (a VGG-19 encoder and decoder at the default 640×640 window).
TILED_BYTES_PER_PIXEL = 30
TILE_WORKING_SET_BYTES = 900 << 20


def tiled_memory_bytes(pixels: int) -> int:
    """The README's bound on the memory a tiled stylization of `pixels` pixels takes."""
    return TILED_BYTES_PER_PIXEL * pixels + TILE_WORKING_SET_BYTES


def longer_side_within(width: int, height: int, budget: int) -> int:
    """The longer side (a multiple of 64 px, at least 64) to shrink width×height to so that
    tiled_memory_bytes fits in `budget` bytes; at most AUTO_TILE_PIXELS when even one tile does not
    fit (images that small are not tiled, and this bound does not apply to them)."""
    pixels = max(AUTO_TILE_PIXELS, (budget - TILE_WORKING_SET_BYTES) / TILED_BYTES_PER_PIXEL)
    scale = math.sqrt(pixels / max(1, width * height))
    return max(64, int(max(width, height) * scale) // 64 * 64)


@dataclass(frozen=True)
class TilePolicy:
    """Tile size and overlap, and when "auto" tiles."""

    size: int = DEFAULT_TILE_SIZE
    overlap: int = DEFAULT_TILE_OVERLAP
    auto_pixels: int = AUTO_TILE_PIXELS

    def __post_init__(self) -> None:
        if self.overlap < ALIGN or self.overlap % ALIGN or self.size < self.min_tile:
            raise RequestError(
                f"tile overlap must be a multiple of 8 and the tile at least 2·overlap+16 px "
                f"(got tile {self.size}, overlap {self.overlap})"
            )

    @property
    def min_tile(self) -> int:
        return 2 * self.overlap + 2 * ALIGN

    def tile_for(self, tile: bool | int | str | None, pixels: int) -> int | None:
        """The tile core size for a request's `tile` on an image of `pixels`, or None: no tiling."""
        if tile == "auto":
            return self.size if pixels > self.auto_pixels else None
        if tile is True:
            return self.size
        if tile is False or tile is None or tile == 0:
            return None
        if isinstance(tile, int):
            if tile < self.min_tile:
                raise RequestError(f"{{tile}} must be at least {self.min_tile} px, got {tile}", "tile")
            return tile
        raise RequestError(f"{{tile}} must be auto, on, off or a size in pixels, got {literal(tile)!r}", "tile")


def whole_or_tiled(images: Tensor, tile: int | None, progress: Progress | None, device: DevicePolicy,
                   whole: Callable[[Tensor], Tensor], tiled: Callable[[Tensor, int], Tensor]) -> Tensor:
    """A runner's result for a batch: whole(images) in the device's context, one step of progress, brought
    to the CPU in [0, 1]; or, with a tile size, tiled(image, tile) one image at a time (memory stays bounded)."""
    if tile is None:
        with device.context():
            out = whole(images)
        if progress:
            progress(1, 1)
        return out.float().cpu().clamp(0, 1)
    return torch.cat([tiled(images[i : i + 1], tile) for i in range(images.shape[0])])


def tile_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Split [0, length) into cores of about `tile` px (starting on multiples of 8); each window is its
    core plus `overlap` px on each side that has a neighbour. Returns (win0, win1, core0, core1)."""
    count = max(1, math.ceil(length / tile))
    bounds = [0] + [round(i * length / count / ALIGN) * ALIGN for i in range(1, count)] + [length]
    return [
        (max(0, a - overlap), min(length, b + overlap), a, b)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]


def tile_grid(height: int, width: int, tile: int, overlap: int) -> list[tuple[Span, Span]]:
    """Every window of an image as (ys, xs), row by row."""
    return [(ys, xs) for ys in tile_spans(height, tile, overlap) for xs in tile_spans(width, tile, overlap)]


def tile_pass(spans: list[T], index: int, progress: Progress | None, passes: int = 2) -> Iterator[T]:
    """The spans for pass `index` of a tiling that goes `passes` times over them, reporting
    progress(done, passes·len(spans)) after each one's work."""
    for done, span in enumerate(spans, index * len(spans) + 1):
        yield span
        if progress:
            progress(done, passes * len(spans))


def _ramp(win0: int, win1: int, core0: int, core1: int, length: int, overlap: int) -> Tensor:
    """1-D blend weights of a window: 1 inside, linear ramps over the central `overlap` px of the zone
    shared with each neighbour (the outer half of the overlap is read for context but not used, since
    pixels near a window's edge see reflection padding instead of the image); neighbours' ramps add
    up to exactly 1."""
    x = torch.arange(win0, win1, dtype=torch.float32) + 0.5
    w = torch.ones(win1 - win0)
    half = overlap / 2
    if core0 > 0:
        w = torch.minimum(w, ((x - (core0 - half)) / overlap).clamp(0, 1))
    if core1 < length:
        w = torch.minimum(w, (((core1 + half) - x) / overlap).clamp(0, 1))
    return w


class TileBlender:
    """Accumulates weighted tile outputs into a CPU image: memory 4 floats per pixel."""

    def __init__(self, batch: int, height: int, width: int, overlap: int) -> None:
        self.out = torch.zeros(batch, 3, height, width)
        self.weight = torch.zeros(1, 1, height, width)
        self.h, self.w, self.overlap = height, width, overlap

    def add(self, tile: Tensor, ys: Span, xs: Span) -> None:
        wy = _ramp(*ys, self.h, self.overlap)
        wx = _ramp(*xs, self.w, self.overlap)
        weight = wy[:, None] * wx[None, :]
        self.out[:, :, ys[0] : ys[1], xs[0] : xs[1]] += tile.float().cpu().clamp(0, 1) * weight
        self.weight[:, :, ys[0] : ys[1], xs[0] : xs[1]] += weight

    def result(self) -> Tensor:
        return (self.out / self.weight.clamp_min(1e-8)).clamp_(0, 1)
