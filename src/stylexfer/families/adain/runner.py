"""The AdaIN runner (Huang & Belongie 2017 §7): style encoding, interpolation, spatial control, α,
whole-image or tiled (two passes: whole-image relu4_1 statistics, then stylize each window).

With the EFDM transfer (Zhang et al. 2022) a style code also holds the style's sorted relu4_1 values;
several styles mix their quantiles (resampled to the content's length: the same as mixing the matched
targets, since the content's ranks are shared); a mask matches quantiles per region; tiling gathers the
whole relu4_1 map from the windows' cores (ranks are those of the whole image), matches it once, and
decodes each window from it. The video statistics smoother does not apply to EFDM (it smooths μ and σ):
it is ignored, with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from stylexfer.families.adain.net import MIN_SIDE, AdaINNet, StyleCode
from stylexfer.functional import EPS, efdm_with_quantiles, resample_sorted
from stylexfer.inference.device import DevicePolicy
from stylexfer.inference.inputs import Box, ImageLike, mask_labels, pad_to_min, resize_labels, style_tensor
from stylexfer.inference.request import StylizeRequest
from stylexfer.inference.temporal import StatisticsSmoother
from stylexfer.inference.tiling import ALIGN, Progress, TileBlender, TilePolicy, tile_grid, tile_pass, whole_or_tiled


def _onehot(labels: Tensor, k: int) -> Tensor:
    return F.one_hot(labels, k).permute(2, 0, 1).double()  # (K, h, w)


def region_sums(features: Tensor, labels: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Σx, Σx² per (sample, region, channel) in float64, and the pixel count per region."""
    f = features.double()
    onehot = _onehot(labels, k)
    return (
        torch.einsum("bchw,khw->bkc", f, onehot),
        torch.einsum("bchw,khw->bkc", f * f, onehot),
        onehot.sum((1, 2)),
    )


def stats_from_sums(total: Tensor, squares: Tensor, count: Tensor, unbiased: bool = False) -> tuple[Tensor, Tensor]:
    n = count.clamp_min(1)[None, :, None]
    mean = total / n
    var = (squares / n - mean * mean).clamp_min(0)  # biased variance, as channel_mean_std
    if unbiased:  # the file's convention (pytorch-AdaIN's calc_mean_std): var·N/(N−1)
        var = var * n / (n - 1).clamp_min(1)
    return mean.float(), (var + EPS).sqrt().float()


def apply_styles(features: Tensor, labels: Tensor, mean: Tensor, std: Tensor, style_mean: Tensor,
                 style_std: Tensor) -> Tensor:
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


class AdaINRunner:
    """Runs an AdaINNet for the façade: encode styles once, stylize with their mix or a mask."""

    min_side = MIN_SIDE

    def __init__(self, net: AdaINNet, device: DevicePolicy, tiles: TilePolicy) -> None:
        self.net, self.device, self.tiles = net, device, tiles

    def _encode(self, images: Tensor) -> Tensor:
        """relu4_1 only (the big relu1_1 … relu3_1 need not stay alive)."""
        return self.net.encode_content(self.device.to_device(images))

    def encode_styles(self, styles: Sequence[ImageLike | StyleCode], style_size: int | None) -> list[StyleCode]:
        codes = []
        for style in styles:
            if isinstance(style, StyleCode):
                if self.net.transfer == "efdm" and style.quantiles is None:
                    raise ValueError("this style code was made for an AdaIN model, not an EFDM one: "
                                     "encode the style with this model")
                codes.append(style.to_float(self.device.device))
                continue
            tensor, _ = pad_to_min(style_tensor(style, style_size), self.min_side)
            with self.device.context():
                code = self.net.code_of(self._encode(tensor)[:1])
            codes.append(code.to_float())
        return codes

    def stylize(self, images: Tensor, box: Box, codes: list[StyleCode], request: StylizeRequest,
                tile: int | None, progress: Progress | None,
                smoother: StatisticsSmoother | None = None) -> Tensor:
        """images: (B, 3, H, W) already padded to min_side; box: where the picture is in them.
        smoother: video frames in order; their relu4_1 statistics are smoothed across frames."""
        height, width = images.shape[-2:]
        if request.mask is not None:
            labels = resize_labels(mask_labels(request.mask, len(codes)), box[2:])
            labels = pad_to_min(labels[None, None].float(), self.min_side)[0][0, 0].round().long()
        else:
            labels = torch.zeros(height, width, dtype=torch.long)
        if self.net.transfer == "efdm":
            if smoother is not None:  # shown once (the default warning filter): not once per frame
                warnings.warn("the video statistics smoother does not apply to EFDM models: frames are "
                              "stylized one by one", UserWarning, stacklevel=2)
            return self._efdm(images, labels, codes, request, tile, progress)
        if request.mask is not None:
            style_mean = torch.cat([c.mean.reshape(1, -1) for c in codes])
            style_std = torch.cat([c.std.reshape(1, -1) for c in codes])
        else:
            pairs = list(zip(request.weights(), codes, strict=True))
            style_mean = torch.stack([w * c.mean.reshape(-1) for w, c in pairs]).sum(0, keepdim=True)
            style_std = torch.stack([w * c.std.reshape(-1) for w, c in pairs]).sum(0, keepdim=True)
        return whole_or_tiled(
            images, tile, progress, self.device,
            lambda x: self._whole(x, labels, style_mean, style_std, request.alpha, smoother),
            lambda x, size: self._tiled(x, labels, style_mean, style_std, request.alpha, size, progress, smoother),
        )

    def _target(self, features: Tensor, labels: Tensor, mean: Tensor, std: Tensor, style_mean: Tensor,
                style_std: Tensor, alpha: float) -> Tensor:
        target = apply_styles(features, labels, mean, std, style_mean, style_std)
        if alpha != 1.0:
            target = alpha * target + (1.0 - alpha) * features.float()
        return target.to(features.dtype)

    def _whole(self, images: Tensor, labels: Tensor, style_mean: Tensor, style_std: Tensor,
               alpha: float, smoother: StatisticsSmoother | None = None) -> Tensor:
        features = self._encode(images)
        small = resize_labels(labels, features.shape[-2:]).to(self.device.device)
        mean, std = stats_from_sums(*region_sums(features, small, style_mean.shape[0]), unbiased=self.net.unbiased)
        if smoother is not None:
            mean, std = smoother("relu4_1", mean, std)
        target = self._target(features, small, mean, std, style_mean, style_std, alpha)
        return self.net.decoder(target, size=tuple(images.shape[-2:]))

    def _tiled(self, image: Tensor, labels: Tensor, style_mean: Tensor, style_std: Tensor, alpha: float,
               tile: int, progress: Progress | None, smoother: StatisticsSmoother | None = None) -> Tensor:
        height, width = image.shape[-2:]
        k, overlap = style_mean.shape[0], self.tiles.overlap
        spans = tile_grid(height, width, tile, overlap)

        def window(ys: tuple[int, int, int, int], xs: tuple[int, int, int, int]) -> tuple[Tensor, Tensor]:
            features = self._encode(image[..., ys[0] : ys[1], xs[0] : xs[1]])
            small = resize_labels(labels[ys[0] : ys[1], xs[0] : xs[1]], features.shape[-2:])
            return features, small.to(self.device.device)

        # Pass 1: whole-image relu4_1 statistics per region from the non-overlapping cores (a core
        # ending at an odd image edge keeps its last, partly covered feature cell: ceil-mode pools).
        sums: tuple[Tensor, ...] | None = None
        with self.device.context():
            for ys, xs in tile_pass(spans, 0, progress):
                features, small = window(ys, xs)
                fy = slice((ys[2] - ys[0]) // ALIGN, -(-(ys[3] - ys[0]) // ALIGN))
                fx = slice((xs[2] - xs[0]) // ALIGN, -(-(xs[3] - xs[0]) // ALIGN))
                part = region_sums(features[..., fy, fx], small[fy, fx], k)
                sums = part if sums is None else tuple(a + b for a, b in zip(sums, part, strict=True))
        assert sums is not None
        sum_x, sum_x2, count = sums
        mean, std = stats_from_sums(sum_x, sum_x2, count, unbiased=self.net.unbiased)
        if smoother is not None:
            mean, std = smoother("relu4_1", mean, std)
        # Pass 2: stylize each window with those statistics, blend.
        blender = TileBlender(1, height, width, overlap)
        with self.device.context():
            for ys, xs in tile_pass(spans, 1, progress):
                features, small = window(ys, xs)
                target = self._target(features, small, mean, std, style_mean, style_std, alpha)
                blender.add(self.net.decoder(target, size=(ys[1] - ys[0], xs[1] - xs[0])), ys, xs)
        return blender.result()

    # ---- EFDM (the transfer "efdm"): rank matching needs the whole relu4_1 map at once

    def _efdm(self, images: Tensor, labels: Tensor, codes: list[StyleCode], request: StylizeRequest,
              tile: int | None, progress: Progress | None) -> Tensor:
        quantiles = [c.quantiles for c in codes if c.quantiles is not None]
        assert len(quantiles) == len(codes)  # encode_styles made them for this net
        weights = None if request.mask is not None else request.weights()

        def whole(images: Tensor) -> Tensor:
            features = self._encode(images)
            small = resize_labels(labels, features.shape[-2:]).to(self.device.device)
            target = self._efdm_target(features, small, quantiles, weights, request.alpha)
            return self.net.decoder(target, size=tuple(images.shape[-2:]))

        return whole_or_tiled(images, tile, progress, self.device, whole, lambda x, size: self._efdm_tiled(
            x, labels, quantiles, weights, request.alpha, size, progress))

    @staticmethod
    def _efdm_target(features: Tensor, labels: Tensor, quantiles: list[Tensor], weights: list[float] | None,
                     alpha: float) -> Tensor:
        """EFDM of relu4_1 `features` (B, C, h, w). weights: mix the styles' quantiles, each resampled to
        the content's h·w ranks (Σ w_k·q_k at rank r is Σ w_k·EFDM(x, y_k) at the position of rank r);
        None: region k of `labels` (h, w) takes style k's distribution, its ranks those within the region."""
        flat = features.float().reshape(*features.shape[:2], -1)
        if weights is not None:
            length = flat.shape[-1]
            mixed = sum(w * resample_sorted(q, length) for w, q in zip(weights, quantiles, strict=True))
            matched = efdm_with_quantiles(flat, mixed)  # type: ignore[arg-type]
        else:
            matched = flat.clone()
            regions = labels.reshape(-1)
            for k, q in enumerate(quantiles):
                where = (regions == k).nonzero().squeeze(1)
                if where.numel():
                    matched[..., where] = efdm_with_quantiles(flat[..., where], q)
        target = matched.reshape(features.shape)
        if alpha != 1.0:
            target = alpha * target + (1.0 - alpha) * features.float()
        return target.to(features.dtype)

    def _efdm_tiled(self, image: Tensor, labels: Tensor, quantiles: list[Tensor], weights: list[float] | None,
                    alpha: float, tile: int, progress: Progress | None) -> Tensor:
        height, width = image.shape[-2:]
        overlap = self.tiles.overlap
        spans = tile_grid(height, width, tile, overlap)
        # Pass 1: the whole relu4_1 map from the windows' cores (cores and windows start on multiples of
        # 8: core k's cells are k's own; a core ending at an odd image edge keeps its last, partly
        # covered cell, as the whole image's ceil-mode pools do).
        whole: Tensor | None = None
        with self.device.context():
            for ys, xs in tile_pass(spans, 0, progress):
                features = self._encode(image[..., ys[0] : ys[1], xs[0] : xs[1]])
                if whole is None:
                    whole = features.new_empty(*features.shape[:2], -(-height // ALIGN), -(-width // ALIGN))
                fy = slice((ys[2] - ys[0]) // ALIGN, -(-(ys[3] - ys[0]) // ALIGN))
                fx = slice((xs[2] - xs[0]) // ALIGN, -(-(xs[3] - xs[0]) // ALIGN))
                cy = slice(ys[2] // ALIGN, -(-ys[3] // ALIGN))
                cx = slice(xs[2] // ALIGN, -(-xs[3] // ALIGN))
                whole[..., cy, cx] = features[..., fy, fx]
            assert whole is not None
            small = resize_labels(labels, whole.shape[-2:]).to(self.device.device)
            target = self._efdm_target(whole, small, quantiles, weights, alpha)
            del whole
        # Pass 2: decode each window from the matched map, blend.
        blender = TileBlender(1, height, width, overlap)
        with self.device.context():
            for ys, xs in tile_pass(spans, 1, progress):
                window = target[..., ys[0] // ALIGN : -(-ys[1] // ALIGN), xs[0] // ALIGN : -(-xs[1] // ALIGN)]
                blender.add(self.net.decoder(window, size=(ys[1] - ys[0], xs[1] - xs[0])), ys, xs)
        return blender.result()
