"""The Stylizer façade: one loaded model, its device policy, and the runner its family provides (see
the package docstring).

A runner has ``min_side`` and ``stylize(images, box, codes, request, tile, progress, smoother)``;
families that need a style also have ``encode_styles(styles, style_size) -> list[StyleCode]``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from stylexfer.errors import StylexferError, display_path
from stylexfer.files.modelfile import ModelSpec, ModelWeights, build_net, describe, read_model_file
from stylexfer.inference.colour import preserve_content_color
from stylexfer.inference.device import DevicePolicy
from stylexfer.inference.inputs import ImageLike, as_image_tensor, crop_box, pad_to_min
from stylexfer.inference.request import (
    DEFAULT_STYLE_SIZE,
    StyleKindError,
    StylizeRequest,
    literal,
)
from stylexfer.inference.temporal import StatisticsSmoother
from stylexfer.inference.tiling import (
    AUTO_TILE_PIXELS,
    DEFAULT_TILE_OVERLAP,
    DEFAULT_TILE_SIZE,
    Progress,
    TilePolicy,
)
from stylexfer.nets.codes import StyleCode
from stylexfer.registry import get_family


def load_model(path: str | os.PathLike | ModelWeights, *, device: str | torch.device = "auto",
               precision: str | None = None) -> Stylizer:
    """A Stylizer for a training checkpoint, our .safetensors file or a fast-neural-style .pth (or for
    ModelWeights already read with read_model_file).

    precision: "fp32", "bf16", "auto" (bf16 on a GPU that has it, or on a CPU whose hardware runs it faster:
    AMX, or AMD with avx512_bf16) or None (the device's default: fp32 on the CPU, auto on CUDA); see
    inference.device."""
    return open_model(path, device=device, precision=precision)


def open_model(model: str | os.PathLike | ModelWeights, request: StylizeRequest | None = None, *,
               device: str | torch.device = "auto", precision: str | None = None,
               name: str | None = None) -> Stylizer:
    """The one set-up of a stylize run, shared by every entry (files, folders, stdin, video, sheet, GUI):
    read the model file, check the request against the model's family before building the net (a
    style-taking model without styles, a mask for a model without masks), then load it on `device` in
    `precision` (default: the request's). name: how messages call the model (default its file name)."""
    weights = model if isinstance(model, ModelWeights) else read_model_file(model)
    shown = name or Path(weights.source if isinstance(model, ModelWeights) else str(model)).name or "model"
    if request is not None:
        request.check_model(weights.spec.kind, shown)
        if precision is None:
            precision = request.precision
    return Stylizer(build_net(weights), weights.spec, device=device, name=shown, precision=precision)


class Stylizer:
    """A loaded model ready to stylize; build it with :func:`load_model`.

    Facts: `kind` (the model family's name, stylexfer.registry), `needs_style` (the family takes style
    images at run time; False for fixed-style models), `device`, `precision` (what the networks run in:
    "fp32", "bf16" or, CUDA without bf16, "fp16"), `tile_size`, `tile_overlap`.

    Not thread-safe: give each thread its own, or serialise calls (the GUI runs one worker thread).
    """

    def __init__(
        self,
        net: nn.Module,
        spec: ModelSpec,
        *,
        device: str | torch.device = "auto",
        name: str = "model",
        tile_size: int = DEFAULT_TILE_SIZE,
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        auto_tile_pixels: int = AUTO_TILE_PIXELS,
        precision: str | None = None,
    ) -> None:
        self.tiles = TilePolicy(tile_size, tile_overlap, auto_tile_pixels)
        self.spec, self.name = spec, name
        self.policy = DevicePolicy(device, precision)
        self.family = get_family(spec.kind)
        self.net = self.policy.prepare(net, self.family.fp32_layers(net))
        self.runner = self.family.runner(self.net, self.policy, self.tiles)
        self.kind: str = spec.kind
        self.needs_style: bool = self.family.needs_style
        self.device: torch.device = self.policy.device
        self.precision: str = self.policy.precision
        self.tile_size, self.tile_overlap = self.tiles.size, self.tiles.overlap

    def describe(self) -> str:
        return f"{self.name}: {describe(self.spec)} on {self.device} ({self.precision})"

    # -- styles
    def encode_styles(
        self,
        styles: Sequence[ImageLike | StyleCode],
        *,
        style_size: int | None = DEFAULT_STYLE_SIZE,
    ) -> list[StyleCode]:
        """Encode style images once (families that need a style): each becomes a StyleCode.

        style_size: shrink each style so its shorter side is at most this before encoding (None: as is).
        """
        if not self.needs_style:
            raise StyleKindError(f"{literal(self.name)} is a {self.family.title} model (its style is built "
                                 "in): drop {styles}, or pass a model that takes a style", "styles")
        return self.runner.encode_styles(styles, style_size)

    # -- stylize
    def stylize(
        self,
        content: ImageLike,
        styles: Sequence[ImageLike | StyleCode] | None = None,
        *,
        style_weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        preserve_color: bool = False,
        mask: ImageLike | None = None,
        tile: bool | int | str = "auto",
        progress: Progress | None = None,
    ) -> Tensor:
        """Stylize content -> (B, 3, H, W) float32 on the CPU in [0, 1], the content's size.

        content: path, PIL image, (3, H, W) or (B, 3, H, W) tensor in [0, 1].
        styles: models that need a style: images or StyleCodes from encode_styles (encode once, reuse).
        style_weights: interpolation weights, one per style (normalised to sum 1); default equal.
        alpha: 0 = content reconstruction D(E(c)), 1 = full style.
        mask: spatial control, one region per style (see mask_labels); families with masks, ≥ 2 styles.
        tile: "auto" (tile above auto_tile_pixels), True, False, or a tile size in px.
        progress: called as progress(done, total) after each tile.
        """
        weights = None if style_weights is None else tuple(style_weights)
        request = StylizeRequest(alpha=alpha, n_styles=len(styles or ()), style_weights=weights,
                                 preserve_color=preserve_color, mask=mask, tile=tile)
        return self.run(request, content, styles, progress=progress)

    def run(
        self,
        request: StylizeRequest,
        content: ImageLike,
        styles: Sequence[ImageLike | StyleCode] | None = None,
        *,
        progress: Progress | None = None,
        smoother: StatisticsSmoother | None = None,
    ) -> Tensor:
        """Stylize content as a validated request says (what :meth:`stylize` does after building it).

        Images smaller than the network's minimum side are padded to it and cropped back, so every
        size from 1×1 comes out at its own size. smoother: the batch is consecutive video frames whose
        normalisation statistics are smoothed across frames (see :class:`stylexfer.inference.FrameStream`)."""
        request.check_model(self.family, self.name)
        images = as_image_tensor(content)
        padded, box = pad_to_min(images, self.runner.min_side)
        tile = self.tiles.tile_for(request.tile, box[2] * box[3])
        codes = self.runner.encode_styles(styles or [], request.style_size) if self.needs_style else []
        out = self.runner.stylize(padded, box, codes, request, tile, progress, smoother)
        out = crop_box(out, box)
        if request.preserve_color:
            out = preserve_content_color(out, images)
        if not bool(torch.isfinite(out).all()):  # refused before anyone saves them as an all-black picture
            raise NonFiniteOutputError(
                f"{display_path(self.name)}: the model computes NaN or infinite pixels (its weights overflow); "
                "the model is damaged or diverged: retrain it or use another model file"
            )
        return out


class NonFiniteOutputError(StylexferError, RuntimeError):
    """The network computed NaN or infinite pixels: its weights overflow (finite, but huge)."""
