"""Park & Lee (2019) "Arbitrary Style Transfer with Style-Attentional Networks", as GlebSBrykin/SANET runs
it (`Eval.py`) and trains it (`Train.ipynb`): the normalised VGG-19 encoder to relu5_1, two style-attention
modules at relu4_1 and relu5_1 merged by a 3×3 conv, and AdaIN's decoder.

Any input size: with the encoder's ceil-mode pools relu4_1 is ⌈H/8⌉ and relu5_1 ⌈H/16⌉ rows, so the ×2
upsampled relu5_1 branch has one row (column) more than relu4_1 when ⌈H/8⌉ is odd, where the reference
fails to add them. Here that extra row is cropped: a ceil-mode pool pools an odd last row on its own, so
the last relu5_1 row stands for relu4_1's last row alone, and its nearest ×2 copy below lies outside the
image. Wherever the reference runs nothing is cropped and the two agree.

Memory: the reference materialises the (H·W/64) × (H'·W'/64) attention matrix; `style_attention` runs
`scaled_dot_product_attention`, whose CPU and CUDA kernels work through it in blocks, so memory grows
linearly with the content's size. mvn statistics are always those of the whole feature map.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylexfer.functional import EPS
from stylexfer.nets.decoder import Decoder
from stylexfer.nets.vgg import VGGFeatures

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # relu1_1 … relu5_1: the reference's vgg[:44]
ATTENTION_LAYERS = ("relu4_1", "relu5_1")
CHANNELS = 512
MIN_SIDE = 17  # smallest side whose reflection pads fit: relu5_1 is ⌈H/16⌉ ≥ 2 rows


def mean_std(features: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """(B, C, H, W) -> per-sample, per-channel μ and σ, each (B, C, 1, 1), in fp32.

    σ = sqrt(var + ε) with the *unbiased* variance Σ(x − μ)²/(N − 1) over the N = H·W positions, as
    GlebSBrykin/SANET's `calc_mean_std` computes it (its released weights were trained so; at relu5_1 of
    a 256² crop, N = 256, the biased σ would differ by 0.2 %). One position (N = 1) has variance 0.
    """
    n = features.shape[-2] * features.shape[-1]
    var, mean = torch.var_mean(features.float(), dim=(2, 3), correction=1 if n > 1 else 0, keepdim=True)
    return mean, (var + eps).sqrt()


Stats = tuple[Tensor, Tensor]  # (μ, σ), each (B, C, 1, 1): a feature map's mvn statistics


def mean_variance_norm(features: Tensor, stats: Stats | None = None) -> Tensor:
    """mvn(x) = (x − μ(x)) / σ(x) per sample and channel (`mean_std`'s σ); same shape and dtype.
    stats: (μ, σ) measured elsewhere (the whole image's, when `features` is one tile of it)."""
    mean, std = mean_std(features) if stats is None else stats
    return ((features.float() - mean) / std).to(features.dtype)


def _positions(features: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, 1, H·W, C): one attention head; a view when the tensor is channels_last."""
    b, c, h, w = features.shape
    return features.permute(0, 2, 3, 1).reshape(b, 1, h * w, c)


def style_attention(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """O = H·softmax(FᵀG)ᵀ (Park & Lee eq. 2–3) with no 1/√C scaling.

    query F: (B, C, H, W) content positions; key G and value H: (B or 1, C, H', W') style positions.
    Returns (B, C, H, W): at each content position the softmax-weighted mean of the style values.
    `scaled_dot_product_attention(scale=1.0)`: its fused kernels never hold the whole (H·W) × (H'·W')
    matrix, so memory grows linearly with H·W.
    """
    b, c, h, w = query.shape
    q = _positions(query)
    k = _positions(key).expand(b, -1, -1, -1)
    v = _positions(value).expand(b, -1, -1, -1)
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (B, 1, H·W, C)
    return out.reshape(b, h, w, c).permute(0, 3, 1, 2)


class SANet(nn.Module):
    """One style-attention module (Park & Lee §3.2): F = f(mvn(c)), G = g(mvn(s)), H = h(s), 1×1 convs;
    output = out_conv(style_attention(F, G, H)) + c. content (B, C, H, W), style (B or 1, C, H', W')."""

    def __init__(self, channels: int = CHANNELS) -> None:
        super().__init__()
        self.f = nn.Conv2d(channels, channels, 1)
        self.g = nn.Conv2d(channels, channels, 1)
        self.h = nn.Conv2d(channels, channels, 1)
        self.out_conv = nn.Conv2d(channels, channels, 1)

    def keys_values(self, style: Tensor, stats: Stats | None = None) -> tuple[Tensor, Tensor]:
        """G = g(mvn(s)) and H = h(s): what the content attends to (computed once per style)."""
        return self.g(mean_variance_norm(style, stats)), self.h(style)

    def attend(self, content: Tensor, keys: Tensor, values: Tensor, stats: Stats | None = None) -> Tensor:
        """out_conv(attention(f(mvn(c)), G, H)) + c; stats: the content's (μ, σ) if not its own."""
        attended = style_attention(self.f(mean_variance_norm(content, stats)), keys, values)
        return self.out_conv(attended) + content

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        return self.attend(content, *self.keys_values(style))


class Transform(nn.Module):
    """T(c, s) = merge_conv(SANet₄(c₄, s₄) + up×2(SANet₅(c₅, s₅))), a reflection-padded 3×3 merge conv.

    The ×2 nearest upsampling of the relu5_1 branch is cropped to relu4_1's size (see the module
    docstring); its state-dict keys are the reference's (`sanet4_1.f.weight`, …, `merge_conv.bias`).
    """

    def __init__(self, channels: int = CHANNELS) -> None:
        super().__init__()
        self.sanet4_1 = SANet(channels)
        self.sanet5_1 = SANet(channels)
        self.merge_conv = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")

    def keys_values(self, style4_1: Tensor, style5_1: Tensor, stats4_1: Stats | None = None,
                    stats5_1: Stats | None = None) -> StyleKeys:
        """Both modules' G and H for one style (the inference runner computes them once per style)."""
        return StyleKeys(*self.sanet4_1.keys_values(style4_1, stats4_1),
                         *self.sanet5_1.keys_values(style5_1, stats5_1))

    def attend(self, content4_1: Tensor, content5_1: Tensor, keys: StyleKeys, stats4_1: Stats | None = None,
               stats5_1: Stats | None = None) -> Tensor:
        """T(c, s) from the style's keys; stats: the content's mvn (μ, σ) per layer if not its own."""
        h, w = content4_1.shape[-2:]
        deep = self.sanet5_1.attend(content5_1, keys.keys5_1, keys.values5_1, stats5_1)
        deep = F.interpolate(deep, scale_factor=2, mode="nearest")
        shallow = self.sanet4_1.attend(content4_1, keys.keys4_1, keys.values4_1, stats4_1)
        return self.merge_conv(shallow + deep[..., :h, :w])

    def forward(self, content4_1: Tensor, style4_1: Tensor, content5_1: Tensor, style5_1: Tensor) -> Tensor:
        return self.attend(content4_1, content5_1, self.keys_values(style4_1, style5_1))


class StyleKeys(NamedTuple):
    """One style as both attention modules read it: G = g(mvn(s)) and H = h(s) at relu4_1 and relu5_1,
    each (1 or B, 512, h, w)."""

    keys4_1: Tensor
    values4_1: Tensor
    keys5_1: Tensor
    values5_1: Tensor


class SANetStyle(NamedTuple):
    """A style reduced to what the transform reads: its relu4_1 and relu5_1 features, each (1 or B, 512,
    h, w). Encode a style once and reuse it for a whole folder."""

    relu4_1: Tensor
    relu5_1: Tensor


class SANetNet(nn.Module):
    """output = D(α·Σₖ wₖ·T(c, sₖ) + (1 − α)·T(c, c)) on the frozen encoder's relu4_1 and relu5_1.

    content, styles: (B, 3, H, W) RGB in [0, 1] (a style may be (1, 3, H', W') for the whole batch, or a
    precomputed SANetStyle), sides ≥ MIN_SIDE (the inference API pads smaller pictures). The output is
    the decoder's raw image at the content's size, not clamped.

    α blends with T(c, c), the content's own transform, rather than with the raw relu4_1 features: the
    decoder never sees raw encoder features in training, while the identity loss trains D(T(c, c)) to
    give back c. α < 1 runs the transform a second time (attention over the content's own positions).
    """

    def __init__(self, encoder_weights: str | os.PathLike = "imagenet") -> None:
        super().__init__()
        self.encoder = VGGFeatures("vgg19", STYLE_LAYERS, weights=encoder_weights, padding_mode="reflect")
        for module in self.encoder.modules():
            if isinstance(module, nn.MaxPool2d):
                module.ceil_mode = True  # the reference's vgg_normalised pools round up, as AdaINNet's do
        self.transform = Transform()
        self.decoder = Decoder()

    def encode(self, images: Tensor, layers: tuple[str, ...] = STYLE_LAYERS) -> dict[str, Tensor]:
        """relu1_1 … relu5_1 of the frozen encoder (or the subset `layers`)."""
        return self.encoder(images, layers)

    def encode_style(self, style: Tensor) -> SANetStyle:
        features = self.encode(style, ATTENTION_LAYERS)
        return SANetStyle(features["relu4_1"], features["relu5_1"])

    def forward(self, content: Tensor, style: Tensor | SANetStyle | Sequence[Tensor | SANetStyle],
                alpha: float = 1.0, style_weights: Sequence[float] | None = None) -> Tensor:
        """style: one style or several; style_weights: their wₖ (default equal), used as given."""
        styles = [style] if isinstance(style, Tensor | SANetStyle) else list(style)
        codes = [s if isinstance(s, SANetStyle) else self.encode_style(s) for s in styles]
        target = self.stylize_features(self.encode_style(content), codes, alpha, style_weights)
        return self.decoder(target, size=content.shape[-2:])

    def stylize_features(self, content: SANetStyle, styles: Sequence[SANetStyle], alpha: float = 1.0,
                         style_weights: Sequence[float] | None = None) -> Tensor:
        """α·Σₖ wₖ·T(c, sₖ) + (1 − α)·T(c, c) at relu4_1's size: what the decoder sees."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if not styles:
            raise ValueError("SANet needs at least one style")
        weights = [1.0 / len(styles)] * len(styles) if style_weights is None else list(style_weights)
        if len(weights) != len(styles):
            raise ValueError(f"{len(weights)} style weights for {len(styles)} styles; give one per style")
        target: Tensor | None = None
        for weight, code in zip(weights, styles, strict=True):
            part = weight * self.transform(content.relu4_1, code.relu4_1, content.relu5_1, code.relu5_1)
            target = part if target is None else target + part
        assert target is not None
        if alpha == 1.0:
            return target
        own = self.transform(content.relu4_1, content.relu4_1, content.relu5_1, content.relu5_1)
        return alpha * target + (1.0 - alpha) * own
