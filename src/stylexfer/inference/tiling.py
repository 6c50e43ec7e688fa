"""Tiling of large images: overlapping windows blended with linear ramps (see the Stylizer docstring
for how each network keeps its statistics whole-image)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

ALIGN = 8  # the AdaIN encoder pools three times: tiles start on multiples of 8


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Split [0, length) into cores of about `tile` px (starting on multiples of 8); each window is its
    core plus `overlap` px on each side that has a neighbour. Returns (win0, win1, core0, core1)."""
    count = max(1, math.ceil(length / tile))
    bounds = [0] + [round(i * length / count / ALIGN) * ALIGN for i in range(1, count)] + [length]
    return [
        (max(0, a - overlap), min(length, b + overlap), a, b)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]


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

    def add(
        self, tile: Tensor, ys: tuple[int, int, int, int], xs: tuple[int, int, int, int]
    ) -> None:
        wy = _ramp(*ys, self.h, self.overlap)
        wx = _ramp(*xs, self.w, self.overlap)
        weight = wy[:, None] * wx[None, :]
        self.out[:, :, ys[0] : ys[1], xs[0] : xs[1]] += tile.float().cpu().clamp(0, 1) * weight
        self.weight[:, :, ys[0] : ys[1], xs[0] : xs[1]] += weight

    def result(self) -> Tensor:
        return (self.out / self.weight.clamp_min(1e-8)).clamp_(0, 1)
