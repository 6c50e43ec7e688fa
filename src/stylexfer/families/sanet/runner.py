"""The SANet runner: styles encoded once (to the attention's keys and values), several styles with
weights, masks, α, whole-image or tiled.

Per content picture: target = α·Σₖ cₖ ⊙ T(c, sₖ) + (1 − α)·T(c, c) at relu4_1's resolution, where cₖ is
style k's weight (normalised to sum 1) or, with a mask, the indicator of its region resized to relu4_1
(each region gets its own style's transform; the merge conv's 3×3 reach blends the seams over 8 px).

Tiling (two passes, as AdaIN's runner): mvn needs the content's relu4_1 and relu5_1 statistics of the
WHOLE image, so pass 1 encodes each window and sums the features of its non-overlapping core (and, for
α < 1, keeps those core features: T(c, c) attends over every position of the whole image); pass 2
stylizes each window with those statistics and blends. Windows start on multiples of 16 so every
window's relu5_1 grid is the whole image's. The attention itself needs no window: every content
position attends to the whole style.

Video: the statistics smoother smooths the content's mvn statistics (μ, σ at relu4_1 and relu5_1) from
frame to frame, as it smooths AdaIN's relu4_1 statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor

from stylexfer.families.sanet.net import ATTENTION_LAYERS, MIN_SIDE, SANetNet, SANetStyle, Stats, StyleKeys, mean_std
from stylexfer.functional import EPS
from stylexfer.inference.device import DevicePolicy
from stylexfer.inference.inputs import Box, ImageLike, mask_labels, pad_to_min, resize_labels, style_tensor
from stylexfer.inference.request import StylizeRequest
from stylexfer.inference.temporal import StatisticsSmoother
from stylexfer.inference.tiling import Progress, Span, TileBlender, TilePolicy, tile_pass, tile_spans, whole_or_tiled

ALIGN = 16  # relu5_1 is four pools deep: windows and cores start on multiples of 16
SCALES = {"relu4_1": 8, "relu5_1": 16}


def _sums(features: Tensor) -> tuple[Tensor, Tensor, int]:
    """Σx and Σx² per (sample, channel) in float64, and the number of positions."""
    f = features.double()
    return f.sum((2, 3)), (f * f).sum((2, 3)), features.shape[-2] * features.shape[-1]


def _stats_from_sums(total: Tensor, squares: Tensor, n: int) -> Stats:
    """`mean_std`'s (μ, σ) from sums: σ with the unbiased variance, as the reference (N = 1: 0)."""
    mean = total / n
    var = ((squares - n * mean * mean) / max(n - 1, 1)).clamp_min(0)
    return mean.float()[..., None, None], (var + EPS).sqrt().float()[..., None, None]


def _smoothed(smoother: StatisticsSmoother | None, stats: dict[str, Stats]) -> dict[str, Stats]:
    """Video: each layer's (μ, σ) averaged over the frames before (see inference.temporal)."""
    if smoother is None:
        return stats
    return {name: cast(Stats, smoother(name, mean, std)) for name, (mean, std) in stats.items()}


def _aligned_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """tile_spans with every core bound and window start on a multiple of ALIGN."""
    spans = []
    for _, _, core0, core1 in tile_spans(length, tile, overlap):
        core0 = core0 // ALIGN * ALIGN
        core1 = core1 if core1 == length else core1 // ALIGN * ALIGN
        spans.append((max(0, core0 - overlap), min(length, core1 + overlap), core0, core1))
    return [s for s in spans if s[3] > s[2]]


class SANetRunner:
    """Runs a SANetNet for the façade: encode styles once, stylize with their mix or a mask."""

    min_side = MIN_SIDE

    def __init__(self, net: SANetNet, device: DevicePolicy, tiles: TilePolicy) -> None:
        self.net, self.device, self.tiles = net, device, tiles

    def _encode(self, images: Tensor) -> dict[str, Tensor]:
        return self.net.encode(self.device.to_device(images), ATTENTION_LAYERS)

    def encode_styles(self, styles: Sequence[ImageLike | SANetStyle | StyleKeys],
                      style_size: int | None) -> list[StyleKeys]:
        """Each style -> the attention's keys and values (StyleKeys), computed once for every picture."""
        codes = []
        for style in styles:
            if isinstance(style, StyleKeys):
                codes.append(StyleKeys(*(t.to(self.device.device) for t in style)))
                continue
            if not isinstance(style, SANetStyle):
                tensor, _ = pad_to_min(style_tensor(style, style_size)[:1], self.min_side)
                with self.device.context():
                    features = self._encode(tensor)
                style = SANetStyle(features["relu4_1"], features["relu5_1"])
            with self.device.context():
                keys = self.net.transform.keys_values(self.device.to_device(style.relu4_1[:1]),
                                                      self.device.to_device(style.relu5_1[:1]))
            codes.append(keys)
        return codes

    def stylize(self, images: Tensor, box: Box, codes: list[StyleKeys], request: StylizeRequest,
                tile: int | None, progress: Progress | None,
                smoother: StatisticsSmoother | None = None) -> Tensor:
        """images: (B, 3, H, W) already padded to min_side; box: where the picture is in them."""
        height, width = images.shape[-2:]
        labels = None
        if request.mask is not None:
            labels = resize_labels(mask_labels(request.mask, len(codes)), box[2:])
            labels = pad_to_min(labels[None, None].float(), self.min_side)[0][0, 0].round().long()
        mix = _Mix(codes, request.weights(), labels, request.alpha)

        def whole(images: Tensor) -> Tensor:
            features = self._encode(images)
            stats = _smoothed(smoother, {name: mean_std(features[name]) for name in ATTENTION_LAYERS})
            own = self._own_keys(features, stats, request.alpha)
            return self._decode(features, stats, mix, own, (0, height, 0, height), (0, width, 0, width))

        return whole_or_tiled(images, tile, progress, self.device, whole,
                              lambda x, size: self._tiled(x, mix, size, progress, smoother))

    def _own_keys(self, features: dict[str, Tensor], stats: dict[str, Stats], alpha: float) -> StyleKeys | None:
        """T(c, c)'s keys and values (the content's own positions), needed when α < 1."""
        if alpha == 1.0:
            return None
        return self.net.transform.keys_values(features["relu4_1"], features["relu5_1"], stats["relu4_1"],
                                              stats["relu5_1"])

    def _decode(self, features: dict[str, Tensor], stats: dict[str, Stats], mix: _Mix, own: StyleKeys | None,
                ys: Span, xs: Span) -> Tensor:
        """One window's picture: the mixed transform of its relu4_1/relu5_1 features, decoded."""
        transform, c4, c5 = self.net.transform, features["relu4_1"], features["relu5_1"]
        target: Tensor | None = None
        for k, keys in enumerate(mix.codes):
            weight = mix.weight(k, ys, xs, c4.shape[-2:])
            if weight is None:
                continue  # a region this window does not cover
            part = transform.attend(c4, c5, keys, stats["relu4_1"], stats["relu5_1"]).float() * weight
            target = part if target is None else target + part
        assert target is not None
        if own is not None:
            mine = transform.attend(c4, c5, own, stats["relu4_1"], stats["relu5_1"]).float()
            target = mix.alpha * target + (1.0 - mix.alpha) * mine
        return self.net.decoder(target.to(c4.dtype), size=(ys[1] - ys[0], xs[1] - xs[0]))

    def _tiled(self, image: Tensor, mix: _Mix, tile: int, progress: Progress | None,
               smoother: StatisticsSmoother | None) -> Tensor:
        height, width = image.shape[-2:]
        overlap = -(-self.tiles.overlap // ALIGN) * ALIGN
        rows, columns = _aligned_spans(height, tile, overlap), _aligned_spans(width, tile, overlap)
        spans = [(ys, xs) for ys in rows for xs in columns]
        keep = mix.alpha != 1.0
        whole = {name: torch.empty(0) for name in ATTENTION_LAYERS}

        def window(ys: Span, xs: Span) -> dict[str, Tensor]:
            return self._encode(image[..., ys[0] : ys[1], xs[0] : xs[1]])

        # Pass 1: whole-image statistics from the cores (a core ending at an odd image edge keeps its
        # last, partly covered cell: ceil-mode pools), and the cores' features themselves if α < 1.
        sums: dict[str, tuple[Tensor, Tensor, int]] = {}
        with self.device.context():
            for ys, xs in tile_pass(spans, 0, progress):
                features = window(ys, xs)
                for name, scale in SCALES.items():
                    fy = slice((ys[2] - ys[0]) // scale, -(-(ys[3] - ys[0]) // scale))
                    fx = slice((xs[2] - xs[0]) // scale, -(-(xs[3] - xs[0]) // scale))
                    core = features[name][..., fy, fx]
                    part, squares, n = _sums(core)
                    if name in sums:
                        part, squares, n = part + sums[name][0], squares + sums[name][1], n + sums[name][2]
                    sums[name] = (part, squares, n)
                    if keep:
                        if not whole[name].numel():
                            shape = (*core.shape[:2], math.ceil(height / scale), math.ceil(width / scale))
                            whole[name] = core.new_zeros(shape)
                        whole[name][..., ys[2] // scale : ys[2] // scale + core.shape[-2],
                                    xs[2] // scale : xs[2] // scale + core.shape[-1]] = core
            stats = {name: _stats_from_sums(*sums[name]) for name in ATTENTION_LAYERS}
            stats = _smoothed(smoother, stats)
            own = self._own_keys(whole, stats, mix.alpha) if keep else None
            del whole
        # Pass 2: stylize each window with those statistics, blend.
        blender = TileBlender(1, height, width, overlap)
        with self.device.context():
            for ys, xs in tile_pass(spans, 1, progress):
                blender.add(self._decode(window(ys, xs), stats, mix, own, ys, xs), ys, xs)
        return blender.result()


class _Mix:
    """How the styles combine: a weight per style, or a label map (one region per style)."""

    def __init__(self, codes: list[StyleKeys], weights: list[float], labels: Tensor | None, alpha: float) -> None:
        self.codes, self.weights, self.labels, self.alpha = codes, weights, labels, alpha

    def weight(self, k: int, ys: Span, xs: Span, size: torch.Size) -> float | Tensor | None:
        """Style k's coefficient over a window at relu4_1's size (None: nothing of it there)."""
        if self.labels is None:
            return self.weights[k]
        region = resize_labels(self.labels[ys[0] : ys[1], xs[0] : xs[1]], (size[0], size[1])) == k
        if not bool(region.any()):
            return None
        return region.to(self.codes[k].keys4_1.device, torch.float32)
