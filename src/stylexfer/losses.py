"""Perceptual losses. Each returns raw, unweighted terms; the training system weighs them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from stylexfer.functional import channel_mean_std, gram_matrix, rank_matched_style, total_variation
from stylexfer.nets.adain import CONTENT_LAYER, STYLE_LAYERS, AdaINNet, StyleCode
from stylexfer.nets.vgg import VGGFeatures

JOHNSON_CONTENT_LAYER = "relu2_2"
JOHNSON_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
STYLE_REDUCTIONS = ("sum", "mean")


def content_loss(output_features: Tensor, target_features: Tensor) -> Tensor:
    """‖φ(o) − φ(c)‖² / (C·H·W), averaged over the batch (Johnson et al. eq. 2)."""
    return F.mse_loss(output_features.float(), target_features.float())


def gram_style_loss(output_features: Tensor, target_gram: Tensor, reduction: str = "sum") -> Tensor:
    """Squared Gram difference for one layer, averaged over the batch; target_gram (1 or B, C, C).

    Grams are divided by C·H·W (`gram_matrix`). reduction "sum": ‖G(o) − G(s)‖²_F, the sum over
    the C×C entries (the seed's formula); "mean": the mean over them, i.e. pytorch/examples'
    fast-neural-style `mse_loss(gram_y, gram_s)`. The two differ by exactly C² per layer
    (4,096 at relu1_2 … 262,144 at relu4_3).
    """
    if reduction not in STYLE_REDUCTIONS:
        raise ValueError(f"reduction must be one of {STYLE_REDUCTIONS}, got {reduction!r}")
    diff = (gram_matrix(output_features) - target_gram).square()
    if reduction == "mean":
        return diff.mean(dim=(1, 2)).mean()
    return diff.sum(dim=(1, 2)).mean()


def mean_std_loss(output_features: Tensor, style_features: Tensor) -> Tensor:
    """‖μ(o) − μ(s)‖₂ + ‖σ(o) − σ(s)‖₂ for one layer as mean squared errors (Huang & Belongie eq. 13,
    scaled as in their released code, so λ = 10 means what it means there).

    σ is the *biased* standard deviation, sqrt(var_N + 1e-5) with var_N = Σ(x − μ)²/N over the H·W
    positions (`channel_mean_std`), the same σ that AdaIN itself uses at inference. pytorch-AdaIN's
    `calc_mean_std` uses the unbiased var_{N−1}; at relu1_1 of a 256² crop σ differs by a factor
    sqrt(N/(N−1)) ≈ 1 + 8e-6, so the two losses agree to about 1e-4 relative.
    """
    out_mean, out_std = channel_mean_std(output_features)
    style_mean, style_std = channel_mean_std(style_features)
    return F.mse_loss(out_mean, style_mean.expand_as(out_mean)) + F.mse_loss(out_std, style_std.expand_as(out_std))


class JohnsonCriterion(nn.Module):
    """Content (relu2_2), Gram style (relu1_2, relu2_2, relu3_3, relu4_3) and total-variation terms
    against one fixed style image, on a frozen VGG-16 (ImageNet-normalised [0, 1] input, which is
    what pytorch/examples' `normalize_batch(x·255)` feeds its VGG too: the features are the same).

    style_reduction: "sum" over the Gram entries (the seed) or "mean" (pytorch/examples); see
    `gram_style_loss`.

    The style's Grams are computed once, as (1, C, C) buffers that broadcast over the batch; they are
    not saved (the style image is part of the configuration).
    """

    def __init__(
        self,
        style_image: Tensor,
        vgg_weights: str | os.PathLike = "imagenet",
        content_layer: str = JOHNSON_CONTENT_LAYER,
        style_layers: Sequence[str] = JOHNSON_STYLE_LAYERS,
        style_reduction: str = "sum",
    ) -> None:
        super().__init__()
        if style_reduction not in STYLE_REDUCTIONS:
            raise ValueError(f"style_reduction must be one of {STYLE_REDUCTIONS}, got {style_reduction!r}")
        self.style_reduction = style_reduction
        self.content_layer = content_layer
        self.style_layers = tuple(style_layers)
        self.vgg = VGGFeatures("vgg16", (*self.style_layers, content_layer), weights=vgg_weights)
        self.set_style(style_image)

    def set_style(self, style_image: Tensor) -> None:
        """style_image: (1, 3, H, W) in [0, 1]."""
        features = self.vgg(style_image.to(self.vgg.normalize.weight.device))
        for name in self.style_layers:
            self.register_buffer(f"gram_{name}", gram_matrix(features[name]).detach(), persistent=False)

    def forward(self, output: Tensor, content: Tensor) -> dict[str, Tensor]:
        out_features = self.vgg(output)
        content_features = self.vgg(content)[self.content_layer]
        per_layer = (
            gram_style_loss(out_features[name], getattr(self, f"gram_{name}"), self.style_reduction)
            for name in self.style_layers
        )
        style = cast(Tensor, sum(per_layer))  # sum() is typed `| Literal[0]`; the layer list is never empty
        return {
            "content": content_loss(out_features[self.content_layer], content_features),
            "style": style,
            "tv": total_variation(output),
        }


def adain_loss_terms(net: AdaINNet, content: Tensor, style: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """One AdaIN training forward: returns (D(t), {"content": L_c, "style": L_s}).

    L_c = ‖E(D(t)) − t‖² (mean squared error against the AdaIN target t, not E(c));
    L_s = Σ over relu1_1 … relu4_1 of mean_std_loss(E(D(t)), E(s)).
    """
    style_features = net.encode(style)
    code = StyleCode(*channel_mean_std(style_features[CONTENT_LAYER]))
    target = net.stylize_features(net.encode_content(content), code)
    output = net.decoder(target, size=content.shape[-2:])
    output_features = net.encode(output)
    terms = {
        "content": content_loss(output_features[CONTENT_LAYER], target),
        "style": cast(Tensor, sum(mean_std_loss(output_features[name], style_features[name]) for name in STYLE_LAYERS)),
    }
    return output, terms


def efdm_style_loss(output_features: Tensor, style_features: Tensor) -> Tensor:
    """EFDM's style loss for one layer (Zhang et al. 2022, eq. 9; YBZh/EFDM `calc_style_loss`, 'efdm'):
    the mean squared error between each output feature and the style value of the same rank, per sample
    and channel. output_features (B, C, H, W); style_features (B or 1, C, H', W'), a target (no gradient);
    unequal sizes are matched by quantiles (`sorted_quantiles`)."""
    target = rank_matched_style(output_features, style_features.detach().float())
    return F.mse_loss(output_features.float().reshape(target.shape), target)
