"""The Stylizer: device policy, style encoding and the Johnson and AdaIN paths (see the package
docstring)."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from stylexfer.errors import ModelFileError, StylexferError
from stylexfer.files.images import load_image, to_tensor
from stylexfer.files.modelfile import ModelSpec, build_net, describe, read_model_file
from stylexfer.functional import EPS, channel_mean_std
from stylexfer.inference.colour import preserve_content_color
from stylexfer.inference.tiling import ALIGN, TileBlender, tile_spans
from stylexfer.nets.adain import AdaINNet, StyleCode

ImageLike = Tensor | Image.Image | str | os.PathLike
Progress = Callable[[int, int], None]

DEFAULT_STYLE_SIZE = (
    512  # styles are encoded with the shorter side at most this (pytorch-AdaIN default)
)
DEFAULT_TILE_SIZE = 512  # core of a tile, px; each tile also reads `overlap` px on every side
DEFAULT_TILE_OVERLAP = (
    64  # ≈ half the encoder+decoder receptive field (≈ 128 px at full resolution)
)
AUTO_TILE_PIXELS = (
    2_000_000  # tile="auto" tiles images above ~2 MP (untiled AdaIN needs ~1.5 GB per MP)
)


class OptionError(StylexferError, ValueError):
    """An option out of range or options that do not fit together (alpha, weights, mask, device)."""


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" -> CUDA when available, else CPU; "cuda" without a GPU is an OptionError."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise OptionError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def load_model(path: str | os.PathLike, *, device: str | torch.device = "auto") -> Stylizer:
    """A Stylizer for a training checkpoint, our .safetensors file or a fast-neural-style .pth."""
    weights = read_model_file(path)
    return Stylizer(build_net(weights), weights.spec, device=device, name=Path(path).name)


def as_image_tensor(image: ImageLike) -> Tensor:
    """Path / PIL / (3, H, W) / (B, 3, H, W) tensor in [0, 1] -> (B, 3, H, W) float32."""
    if isinstance(image, str | os.PathLike):
        image = load_image(image)
    if isinstance(image, Image.Image):
        image = to_tensor(image.convert("RGB"))
    if not isinstance(image, Tensor) or image.dim() not in (3, 4) or image.shape[-3] != 3:
        raise OptionError(
            f"expected an RGB image or a (3, H, W) tensor, got {getattr(image, 'shape', type(image))}"
        )
    return (image.unsqueeze(0) if image.dim() == 3 else image).float()


def resize_image(
    image: Image.Image, *, size: int | None = None, max_size: int | None = None
) -> Image.Image:
    """size: scale so the shorter side is `size`; max_size: then shrink (never enlarge) so the longer
    side is at most `max_size`. Aspect ratio is kept; None leaves the image as is."""
    w, h = image.size
    scale = 1.0
    if size is not None:
        if size < 1:
            raise OptionError(f"--size must be a positive number of pixels, got {size}")
        scale = size / min(w, h)
    if max_size is not None:
        if max_size < 1:
            raise OptionError(f"--max-size must be a positive number of pixels, got {max_size}")
        scale = min(scale, max_size / max(w, h))
    if scale == 1.0:
        return image
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(new, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)


def mask_labels(mask: ImageLike, n_styles: int, *, name: str = "mask") -> Tensor:
    """A mask image -> (H, W) int64 style index per pixel, for `n_styles` styles.

    The mask must show exactly `n_styles` distinct grey levels; the brightest is style 1, the next
    style 2, …, the darkest the last (two styles: white = first, black = second). Levels closer than
    24 grey values count as one and levels covering under 0.5 % of the pixels (anti-aliased edges,
    JPEG noise) go to their nearest level. An integer (H, W) tensor is taken as labels 0..n-1.
    """
    if n_styles < 2:
        raise OptionError("--mask needs at least two styles, one per mask region")
    if isinstance(mask, Tensor) and not mask.is_floating_point():
        labels = mask.long().squeeze()
        if labels.dim() != 2 or int(labels.min()) < 0 or int(labels.max()) >= n_styles:
            raise OptionError(f"{name}: label tensor must be (H, W) with values 0..{n_styles - 1}")
        return labels
    if isinstance(mask, str | os.PathLike):
        name = str(mask)
        mask = load_image(mask)
    if isinstance(mask, Image.Image):
        grey = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.int64).copy())
    else:
        t = mask.float().squeeze()
        t = t.mean(0) if t.dim() == 3 else t
        grey = (t.clamp(0, 1) * 255).round().long()
    counts = torch.bincount(grey.flatten(), minlength=256)
    centres: list[int] = []
    for value in torch.argsort(counts, descending=True).tolist():
        if counts[value] < max(1, 0.005 * grey.numel()):
            break
        if all(abs(value - c) >= 24 for c in centres):
            centres.append(value)
    if len(centres) != n_styles:
        raise OptionError(
            f"{name} has {len(centres)} grey level(s) but {n_styles} styles were given; the mask needs one "
            "level per style (brightest = first style, darkest = last)"
        )
    centres_t = torch.tensor(sorted(centres, reverse=True))
    return (grey.unsqueeze(-1) - centres_t).abs().argmin(-1)


def _check_alpha(alpha: float) -> float:
    if not isinstance(alpha, int | float) or not math.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise OptionError(
            f"--alpha must be between 0 and 1 (0 = content, 1 = full style), got {alpha}"
        )
    return float(alpha)


def _normalise_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    weights = [float(w) for w in weights]
    if len(weights) != n:
        raise OptionError(
            f"--style-weights gives {len(weights)} weight(s) for {n} style(s); give one per style"
        )
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise OptionError(
            f"--style-weights must be non-negative with a positive sum, got {weights}"
        )
    total = sum(weights)
    return [w / total for w in weights]


# -------------------------------------------------------------------------------------- AdaIN maths


def _onehot(labels: Tensor, k: int) -> Tensor:
    return F.one_hot(labels, k).permute(2, 0, 1).double()  # (K, h, w)


def _region_sums(features: Tensor, labels: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Σx, Σx² per (sample, region, channel) in float64, and the pixel count per region."""
    f = features.double()
    onehot = _onehot(labels, k)
    return (
        torch.einsum("bchw,khw->bkc", f, onehot),
        torch.einsum("bchw,khw->bkc", f * f, onehot),
        onehot.sum((1, 2)),
    )


def _stats_from_sums(total: Tensor, squares: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
    n = count.clamp_min(1)[None, :, None]
    mean = total / n
    var = (squares / n - mean * mean).clamp_min(0)  # biased variance, as channel_mean_std
    return mean.float(), (var + EPS).sqrt().float()


def _apply_styles(
    features: Tensor,
    labels: Tensor,
    mean: Tensor,
    std: Tensor,
    style_mean: Tensor,
    style_std: Tensor,
) -> Tensor:
    """AdaIN per region: (x − μ_k(x)) / σ_k(x) · σ_k(s) + μ_k(s) where pixel's label is k.
    mean/std: (B, K, C) content statistics; style_mean/std: (K, C)."""
    scale = style_std[None] / std  # (B, K, C)
    shift = style_mean[None] - mean * scale
    if scale.shape[1] == 1:
        return features.float() * scale[:, 0, :, None, None] + shift[:, 0, :, None, None]
    onehot = _onehot(labels, scale.shape[1]).float()
    scale_map = torch.einsum("bkc,khw->bchw", scale, onehot)
    shift_map = torch.einsum("bkc,khw->bchw", shift, onehot)
    return features.float() * scale_map + shift_map


def _resize_labels(labels: Tensor, size: tuple[int, ...]) -> Tensor:
    return F.interpolate(labels[None, None].float(), size=size, mode="nearest")[0, 0].long()


# ------------------------------------------------------------------------------------------ Stylizer


class Stylizer:
    """A loaded model ready to stylize; build it with :func:`load_model`.

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
    ) -> None:
        if (
            tile_overlap < ALIGN
            or tile_overlap % ALIGN
            or tile_size < 2 * tile_overlap + 2 * ALIGN
        ):
            raise OptionError(
                f"tile overlap must be a multiple of 8 and the tile at least 2·overlap+16 px "
                f"(got tile {tile_size}, overlap {tile_overlap})"
            )
        self.spec = spec
        self.name = name
        self.device = pick_device(device)
        self.tile_size, self.tile_overlap, self.auto_tile_pixels = (
            tile_size,
            tile_overlap,
            auto_tile_pixels,
        )
        on_cuda = self.device.type == "cuda"
        self.channels_last = on_cuda
        self.amp_dtype = (
            (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
            if on_cuda
            else None
        )
        net = net.eval().requires_grad_(False).to(self.device)
        self.net = net.to(memory_format=torch.channels_last) if self.channels_last else net

    # -- facts
    @property
    def kind(self) -> str:
        """ "johnson" or "adain"."""
        return self.spec.kind

    @property
    def needs_style(self) -> bool:
        """True for AdaIN (style images at run time), False for fixed-style Johnson models."""
        return self.spec.kind == "adain"

    def describe(self) -> str:
        return f"{self.name}: {describe(self.spec)} on {self.device}"

    def _no_style_error(self) -> ModelFileError:
        return ModelFileError(
            f"{self.name} is a Johnson fixed-style model (its style is built in): drop --style, "
            "or pass an AdaIN model"
        )

    # -- plumbing
    def _context(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.amp_dtype is not None:
            stack.enter_context(torch.autocast("cuda", dtype=self.amp_dtype))
        return stack

    def _to_device(self, images: Tensor) -> Tensor:
        images = images.to(self.device, non_blocking=True)
        return (
            images.contiguous(memory_format=torch.channels_last) if self.channels_last else images
        )

    def _encode(self, images: Tensor) -> Tensor:
        """relu4_1 only (the big relu1_1 … relu3_1 need not stay alive)."""
        return cast(AdaINNet, self.net).encode_content(self._to_device(images))

    # -- styles
    def encode_styles(
        self,
        styles: Sequence[ImageLike | StyleCode],
        *,
        style_size: int | None = DEFAULT_STYLE_SIZE,
    ) -> list[StyleCode]:
        """Encode style images once (AdaIN): each becomes a StyleCode (relu4_1 μ, σ), (1, 512, 1, 1).

        style_size: shrink each style so its shorter side is at most this before encoding (None: as is).
        """
        if not self.needs_style:
            raise self._no_style_error()
        codes = []
        for style in styles:
            if isinstance(style, StyleCode):
                codes.append(
                    StyleCode(style.mean.to(self.device).float(), style.std.to(self.device).float())
                )
                continue
            if isinstance(style, str | os.PathLike):
                style = load_image(style, draft_shorter_side=style_size)
            if (
                isinstance(style, Image.Image)
                and style_size is not None
                and min(style.size) > style_size
            ):
                style = resize_image(style, size=style_size)
            tensor = as_image_tensor(style)
            if style_size is not None and min(tensor.shape[-2:]) > style_size:
                scale = style_size / min(tensor.shape[-2:])
                tensor = F.interpolate(tensor, scale_factor=scale, mode="bilinear", antialias=True)
            with self._context():
                mean, std = channel_mean_std(self._encode(tensor))
            codes.append(StyleCode(mean[:1].float(), std[:1].float()))
        return codes

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
        styles: AdaIN only, images or StyleCodes from encode_styles (encode once, reuse).
        style_weights: interpolation weights, one per style (normalised to sum 1); default equal.
        alpha: 0 = content reconstruction D(E(c)), 1 = full style.
        mask: spatial control, one region per style (see mask_labels); AdaIN with ≥ 2 styles.
        tile: "auto" (tile above auto_tile_pixels), True, False, or a tile size in px.
        progress: called as progress(done, total) after each tile.
        """
        alpha = _check_alpha(alpha)
        images = as_image_tensor(content)
        height, width = images.shape[-2:]
        if self.needs_style:
            if not styles:
                raise ModelFileError(
                    f"{self.name} is an AdaIN model: it needs at least one --style image"
                )
            codes = self.encode_styles(styles)
        else:
            if styles:
                raise self._no_style_error()
            if mask is not None:
                raise OptionError("--mask needs an AdaIN model and one style per mask region")
            codes = []
        if mask is not None:
            if style_weights is not None:
                raise OptionError(
                    "--style-weights and --mask do not combine: the mask says which style goes where"
                )
            labels = _resize_labels(mask_labels(mask, len(codes)), (height, width))
            style_mean = torch.cat([c.mean.reshape(1, -1) for c in codes])
            style_std = torch.cat([c.std.reshape(1, -1) for c in codes])
        else:
            weights = _normalise_weights(style_weights, len(codes)) if codes else []
            labels = torch.zeros(height, width, dtype=torch.long)
            if codes:
                style_mean = cast(
                    Tensor, sum(w * c.mean.reshape(1, -1) for w, c in zip(weights, codes, strict=True))
                )
                style_std = cast(
                    Tensor, sum(w * c.std.reshape(1, -1) for w, c in zip(weights, codes, strict=True))
                )

        tile_size = self._tile_size(tile, height * width)
        if tile_size is None:
            with self._context():
                if self.needs_style:
                    out = self._adain_full(images, labels, style_mean, style_std, alpha)
                else:
                    out = self._johnson(self._to_device(images), alpha)
            out = out.float().cpu().clamp(0, 1)
            if progress:
                progress(1, 1)
        else:
            results = []
            for i in range(images.shape[0]):  # one image at a time keeps memory bounded
                one = images[i : i + 1]
                if self.needs_style:
                    results.append(
                        self._adain_tiled(
                            one, labels, style_mean, style_std, alpha, tile_size, progress
                        )
                    )
                else:
                    results.append(self._johnson_tiled(one, alpha, tile_size, progress))
            out = torch.cat(results)
        if preserve_color:
            out = preserve_content_color(out, images)
        return out

    def _tile_size(self, tile: bool | int | str, pixels: int) -> int | None:
        if tile == "auto":
            return self.tile_size if pixels > self.auto_tile_pixels else None
        if tile is True:
            return self.tile_size
        if tile is False or tile is None or tile == 0:
            return None
        if isinstance(tile, int) and not isinstance(tile, bool):
            if tile < 2 * self.tile_overlap + 2 * ALIGN:
                raise OptionError(
                    f"--tile must be at least {2 * self.tile_overlap + 2 * ALIGN} px, got {tile}"
                )
            return tile
        raise OptionError(f"--tile must be auto, on, off or a size in pixels, got {tile!r}")

    # -- Johnson
    def _johnson(self, x: Tensor, alpha: float) -> Tensor:
        out = self.net(x).float()
        return out if alpha == 1.0 else alpha * out + (1.0 - alpha) * x.float()

    def _johnson_tiled(
        self, image: Tensor, alpha: float, tile: int, progress: Progress | None
    ) -> Tensor:
        height, width = image.shape[-2:]
        window = (tile + 2 * self.tile_overlap) ** 2
        scale = min(1.0, math.sqrt(window / (height * width)))
        small = (
            F.interpolate(image, scale_factor=scale, mode="bilinear", antialias=True)
            if scale < 1
            else image
        )
        norms = [m for m in self.net.modules() if isinstance(m, nn.InstanceNorm2d)]
        stats: dict[nn.Module, tuple[Tensor, Tensor]] = {}

        def record(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
            var, mean = torch.var_mean(inputs[0].float(), dim=(2, 3), correction=0)
            stats[module] = (mean[0], var[0])

        hooks = [m.register_forward_pre_hook(record) for m in norms]
        try:
            with self._context():
                self.net(self._to_device(small))
        finally:
            for hook in hooks:
                hook.remove()
        blender = TileBlender(1, height, width, self.tile_overlap)
        spans_y, spans_x = (
            tile_spans(height, tile, self.tile_overlap),
            tile_spans(width, tile, self.tile_overlap),
        )
        total, done = len(spans_y) * len(spans_x), 0
        try:
            for m in norms:  # freeze whole-image statistics: every tile is normalised alike
                m.running_mean, m.running_var = stats[m]
                m.track_running_stats = True
            with self._context():
                for ys in spans_y:
                    for xs in spans_x:
                        window_img = self._to_device(image[..., ys[0] : ys[1], xs[0] : xs[1]])
                        blender.add(self._johnson(window_img, alpha), ys, xs)
                        done += 1
                        if progress:
                            progress(done, total)
        finally:
            for m in norms:
                m.running_mean, m.running_var = None, None
                m.track_running_stats = False
        return blender.result()

    # -- AdaIN
    def _adain_full(
        self, images: Tensor, labels: Tensor, style_mean: Tensor, style_std: Tensor, alpha: float
    ) -> Tensor:
        features = self._encode(images)
        small = _resize_labels(labels, features.shape[-2:]).to(self.device)
        k = style_mean.shape[0]
        mean, std = _stats_from_sums(*_region_sums(features, small, k))
        target = _apply_styles(features, small, mean, std, style_mean, style_std)
        if alpha != 1.0:
            target = alpha * target + (1.0 - alpha) * features.float()
        assert isinstance(self.net, AdaINNet)
        return self.net.decoder(target.to(features.dtype), size=tuple(images.shape[-2:]))

    def _adain_tiled(
        self,
        image: Tensor,
        labels: Tensor,
        style_mean: Tensor,
        style_std: Tensor,
        alpha: float,
        tile: int,
        progress: Progress | None,
    ) -> Tensor:
        height, width = image.shape[-2:]
        k = style_mean.shape[0]
        spans = [
            (ys, xs)
            for ys in tile_spans(height, tile, self.tile_overlap)
            for xs in tile_spans(width, tile, self.tile_overlap)
        ]
        total, done = 2 * len(spans), 0

        def window(
            ys: tuple[int, int, int, int], xs: tuple[int, int, int, int]
        ) -> tuple[Tensor, Tensor]:
            features = self._encode(image[..., ys[0] : ys[1], xs[0] : xs[1]])
            small = _resize_labels(labels[ys[0] : ys[1], xs[0] : xs[1]], features.shape[-2:]).to(
                self.device
            )
            return features, small

        # Pass 1: whole-image relu4_1 statistics per region from the non-overlapping cores.
        sums: tuple[Tensor, ...] | None = None
        with self._context():
            for ys, xs in spans:
                features, small = window(ys, xs)
                fy = slice((ys[2] - ys[0]) // ALIGN, (ys[3] - ys[0]) // ALIGN)
                fx = slice((xs[2] - xs[0]) // ALIGN, (xs[3] - xs[0]) // ALIGN)
                part = _region_sums(features[..., fy, fx], small[fy, fx], k)
                sums = (
                    part if sums is None else tuple(a + b for a, b in zip(sums, part, strict=True))
                )
                done += 1
                if progress:
                    progress(done, total)
        assert sums is not None
        mean, std = _stats_from_sums(*sums)
        # Pass 2: stylize each window with those statistics, blend.
        blender = TileBlender(1, height, width, self.tile_overlap)
        with self._context():
            for ys, xs in spans:
                features, small = window(ys, xs)
                target = _apply_styles(features, small, mean, std, style_mean, style_std)
                if alpha != 1.0:
                    target = alpha * target + (1.0 - alpha) * features.float()
                out = cast(AdaINNet, self.net).decoder(
                    target.to(features.dtype), size=(ys[1] - ys[0], xs[1] - xs[0])
                )
                blender.add(out, ys, xs)
                done += 1
                if progress:
                    progress(done, total)
        return blender.result()
