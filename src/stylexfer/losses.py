"""Perceptual losses shared by the families (each family composes them in its losses.py). Each
returns a raw, unweighted term; the training system weighs them."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from stylexfer.functional import channel_mean_std, gram_matrix, rank_matched_style

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


def efdm_style_loss(output_features: Tensor, style_features: Tensor) -> Tensor:
    """EFDM's style loss for one layer (Zhang et al. 2022, eq. 9; YBZh/EFDM `calc_style_loss`, 'efdm'):
    the mean squared error between each output feature and the style value of the same rank, per sample
    and channel. output_features (B, C, H, W); style_features (B or 1, C, H', W'), a target (no gradient);
    unequal sizes are matched by quantiles (`functional.resample_sorted`)."""
    target = rank_matched_style(output_features, style_features.detach().float())
    return F.mse_loss(output_features.float().reshape(target.shape), target)
