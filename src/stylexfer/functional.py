"""The maths of style transfer as small pure functions of tensors (torch only)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-5  # inside the square root: a constant image has σ = sqrt(ε), never 0 or NaN


def channel_mean_std(features: Tensor, eps: float = EPS, *, unbiased: bool = False) -> tuple[Tensor, Tensor]:
    """(B, C, H, W) -> per-sample, per-channel μ and σ, each (B, C, 1, 1).

    σ = sqrt(var + ε) with the biased variance (correction=0; unbiased=True: correction=1, the
    convention of pytorch-AdaIN's calc_mean_std). Computed in fp32 so statistics stay exact under
    fp16/bf16 autocast.
    """
    # Reduce over (H, W) directly: flatten(2) would copy a channels_last tensor first.
    var, mean = torch.var_mean(features.float(), dim=(2, 3), correction=int(unbiased), keepdim=True)
    return mean, (var + eps).sqrt()


def adain(content: Tensor, style: Tensor, eps: float = EPS) -> Tensor:
    """AdaIN(x, y) = σ(y)·(x − μ(x))/σ(x) + μ(y) (Huang & Belongie 2017, eq. 8).

    content: (B, C, H, W); style: (B or 1, C, H', W'). Returns content's shape.
    """
    style_mean, style_std = channel_mean_std(style, eps)
    return adain_with_stats(content, style_mean, style_std, eps)


def adain_with_stats(content: Tensor, style_mean: Tensor, style_std: Tensor, eps: float = EPS, *,
                     unbiased: bool = False) -> Tensor:
    """AdaIN against precomputed style statistics (B or 1, C, 1, 1): encode a style once, reuse it.
    unbiased: the content's σ with the unbiased variance (the style's must have been computed alike)."""
    content_mean, content_std = channel_mean_std(content, eps, unbiased=unbiased)
    normalized = (content.float() - content_mean) / content_std
    return (normalized * style_std + style_mean).to(content.dtype)


def instance_norm(features: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = EPS) -> Tensor:
    """(B, C, H, W) -> same shape: per-sample, per-channel normalisation, then the affine (C,) weight
    and bias (Ulyanov et al. 2016); equal to ``F.instance_norm`` (biased variance, eps inside the root).

    Each sample goes through batch norm's statistics kernel, which keeps the memory format and is
    about 10× faster on a channels_last CPU tensor than ``var_mean`` over (H, W);
    ``F.instance_norm`` would copy a channels_last tensor to NCHW and back.
    """
    if features.shape[0] == 1:
        return F.batch_norm(features, None, None, weight, bias, training=True, eps=eps)
    return torch.cat([F.batch_norm(sample, None, None, weight, bias, training=True, eps=eps)
                      for sample in features.split(1)])


def gram_matrix(features: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, C), divided by C·H·W so layers of any size compare (Johnson et al. §3.2)."""
    b, c, h, w = features.shape
    features = features.float()  # fp32: fp16 Gram sums overflow
    # autocast would run the product in fp16/bf16 again, whatever the operands' dtype
    with torch.autocast(device_type=features.device.type, enabled=False):
        if c > 1 and features.is_contiguous(memory_format=torch.channels_last):
            flat_t = features.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view, no copy: (B, HW, C)
            return flat_t.mT @ flat_t / (c * h * w)
        flat = features.reshape(b, c, h * w)
        return flat @ flat.mT / (c * h * w)


def total_variation(images: Tensor) -> Tensor:
    """(B, C, H, W) -> scalar: mean absolute difference between neighbouring pixels."""
    dh = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    dw = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    return dh + dw


def resample_sorted(ordered: Tensor, length: int) -> Tensor:
    """(B, C, M) values sorted ascending -> (B, C, length): rank i takes the value at quantile
    (i + ½)/length, linearly interpolated between neighbouring ranks (as F.interpolate, mode "linear",
    align_corners=False).

    The positions p = ((2i + 1)·M − length) / (2·length) are computed in integers, so at length == M
    every rank is the sorted value itself, exactly, and the graph has no size-dependent branch: it
    traces and exports to ONNX with both lengths dynamic.
    """
    m = ordered.shape[-1]
    if m == length and not torch.jit.is_tracing():  # the general path gives the same values; this is faster
        return ordered
    i = torch.arange(length, device=ordered.device)
    numerator = ((2 * i + 1) * m - length).clamp_min(0)  # below quantile ½/M: the smallest value
    low = torch.div(numerator, 2 * length, rounding_mode="floor")  # ≤ M − 1 since p < M − ½
    high = (low + 1).clamp_max(m - 1)
    frac = (numerator - low * 2 * length).to(ordered.dtype) / (2 * length)
    index = low.expand(*ordered.shape[:-1], length)
    below = ordered.gather(-1, index)
    above = ordered.gather(-1, high.expand(*ordered.shape[:-1], length))
    return below + frac * (above - below)


def match_ranks(content: Tensor, ordered: Tensor) -> Tensor:
    """(B, C, H, W) or (B, C, N), and sorted style values (B or 1, C, M) -> (B, C, H·W): at each content
    position, the style value whose rank (per sample and channel) is that position's rank in the
    content. Ties in the content are ranked by position (a stable sort); M ≠ H·W goes through
    `resample_sorted` (quantile matching)."""
    b, c = content.shape[:2]
    flat = content.detach().reshape(b, c, -1).contiguous()  # NHWC features: sorting along a strided row is 3× slower
    target = resample_sorted(ordered.to(flat.dtype), flat.shape[-1])
    order = flat.argsort(dim=-1, stable=True)  # order[k] = position of the k-th smallest value
    return torch.zeros_like(flat).scatter(-1, order, target.expand(b, -1, -1))


def rank_matched_style(content: Tensor, style: Tensor) -> Tensor:
    """`match_ranks` against style features (B or 1, C, H', W'), sorted here."""
    return match_ranks(content, style.reshape(*style.shape[:2], -1).sort(dim=-1).values)


def efdm_with_quantiles(content: Tensor, ordered: Tensor) -> Tensor:
    """EFDM against a style's sorted values (B or 1, C, M), encoded once (`exact_feature_distribution_matching`).
    The result has content's shape and dtype; the gradient with respect to the content is the identity."""
    flat = content.reshape(*content.shape[:2], -1)
    matched = match_ranks(content, ordered)
    return (flat + (matched - flat.detach())).reshape(content.shape)


def exact_feature_distribution_matching(content: Tensor, style: Tensor) -> Tensor:
    """EFDM(x, y) (Zhang et al. 2022, eq. 7): every content value takes the style value of the same rank,
    per sample and channel; the gradient with respect to the content is the identity.

    content: (B, C, H, W); style: (B or 1, C, H', W'). Returns content's shape. When H'·W' ≠ H·W the
    sorted style values are resampled to the content's H·W ranks (quantile matching, `resample_sorted`);
    where they agree this is YBZh/EFDM's `exact_feature_distribution_matching`: x + (ŷ − x) with x
    detached in the difference, so the sorted style values still pass their gradient to the style.
    """
    return efdm_with_quantiles(content, style.reshape(*style.shape[:2], -1).sort(dim=-1).values)
