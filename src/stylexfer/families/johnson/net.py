"""Johnson, Alahi & Fei-Fei (2016) transformer net (SPEC Table 1), with instance normalisation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylexfer.functional import instance_norm

OutputMode = Literal["sigmoid", "clamp"]
MIN_SIDE = 5  # smallest side whose reflection pads fit: 9×9 pad 4 at H, 3×3 pad 1 at ⌈⌈H/2⌉/2⌉


Statistics = tuple[Tensor, Tensor]  # per-channel (mean, biased variance), each (C,)


class InstanceNorm(nn.InstanceNorm2d):
    """Affine instance norm (Ulyanov et al. 2016), nn.InstanceNorm2d's parameters and state-dict keys,
    with a fast path that keeps channels_last (F.instance_norm copies to NCHW and back).

    `frozen` (None by default) holds statistics given from outside: with it set, every input is
    normalised with those instead of its own (tiled inference normalises every tile with the whole
    image's statistics; see :func:`frozen_statistics`). While tracing or exporting (TorchScript,
    ONNX) the standard op runs, so exported graphs hold a plain InstanceNormalization.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)
        self.frozen: Statistics | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.frozen is not None:
            mean, var = self.frozen
            return F.instance_norm(x, mean, var, self.weight, self.bias, use_input_stats=False, eps=self.eps)
        if torch.jit.is_tracing() or torch.jit.is_scripting():
            return super().forward(x)
        return instance_norm(x, self.weight, self.bias, self.eps)


def measure_statistics(net: nn.Module, images: Tensor) -> list[Statistics]:
    """Run `net` on (1, 3, H, W) images and return every InstanceNorm's input statistics, in module
    order: what :func:`frozen_statistics` needs to normalise other inputs the same way."""
    norms = [m for m in net.modules() if isinstance(m, InstanceNorm)]
    stats: dict[nn.Module, Statistics] = {}

    def record(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        var, mean = torch.var_mean(inputs[0].float(), dim=(2, 3), correction=0)
        stats[module] = (mean[0], var[0])

    hooks = [m.register_forward_pre_hook(record) for m in norms]  # observe only: outputs unchanged
    try:
        net(images)
    finally:
        for hook in hooks:
            hook.remove()
    return [stats[m] for m in norms]


@contextlib.contextmanager
def frozen_statistics(net: nn.Module, stats: list[Statistics]) -> Iterator[None]:
    """Inside the block every InstanceNorm of `net` uses the given statistics (from
    :func:`measure_statistics`) instead of its input's."""
    norms = [m for m in net.modules() if isinstance(m, InstanceNorm)]
    if len(norms) != len(stats):
        raise ValueError(f"{len(stats)} statistics for {len(norms)} instance norms")
    try:
        for module, frozen in zip(norms, stats, strict=True):
            module.frozen = frozen
        yield
    finally:
        for module in norms:
            module.frozen = None


class ConvLayer(nn.Module):
    """Reflection-padded conv (no zero borders to darken the image edges), optional IN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 norm_relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                              padding=kernel_size // 2, padding_mode="reflect")
        self.norm = InstanceNorm(out_channels) if norm_relu else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.norm is None:
            return x
        return torch.relu_(self.norm(x))  # the normalised tensor is ours: ReLU in place


class ResidualBlock(nn.Module):
    """conv-IN-ReLU-conv-IN plus the identity (He et al. 2016), 128 channels, 3×3."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.norm2 = InstanceNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm2(self.conv2(self.conv1(x))).add_(x)  # ours: add the identity in place


class UpsampleConv(nn.Module):
    """Nearest ×2 upsampling then a conv: the "stride ½" layer without transposed-conv checkerboards
    (Odena et al. 2016)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = ConvLayer(in_channels, out_channels, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TransformerNet(nn.Module):
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) in [0, 1], for any H×W.

    As in pytorch/examples' fast-neural-style, the stride-2 convs give ⌈H/2⌉ then ⌈H/4⌉ and each
    upsampling doubles, so the last conv sees 4·⌈⌈H/2⌉/2⌉ ≥ H rows; the output is that cropped to
    H×W (top-left), which equals the reference network's output cropped the same way at every size.
    Sides under MIN_SIDE are too small for the reflection pads (the inference API pads them).
    output="sigmoid" (our training default: always a valid image, and gradients never
    vanish the way they do behind a clamp); output="clamp" for imported fast-neural-style models,
    whose last conv is linear.
    """

    def __init__(self, output: OutputMode = "sigmoid") -> None:
        super().__init__()
        if output not in ("sigmoid", "clamp"):
            raise ValueError(f"output must be 'sigmoid' or 'clamp', got {output!r}")
        self.output = output
        self.conv1 = ConvLayer(3, 32, 9)
        self.conv2 = ConvLayer(32, 64, 3, stride=2)
        self.conv3 = ConvLayer(64, 128, 3, stride=2)
        self.residuals = nn.Sequential(*(ResidualBlock(128) for _ in range(5)))
        self.up1 = UpsampleConv(128, 64)
        self.up2 = UpsampleConv(64, 32)
        self.conv_out = ConvLayer(32, 3, 9, norm_relu=False)

    def forward(self, images: Tensor) -> Tensor:
        # channels_last: convs, norms and upsampling stay NHWC (oneDNN/cuDNN need no reorders).
        height, width = images.shape[-2:]
        x = self.conv3(self.conv2(self.conv1(images.contiguous(memory_format=torch.channels_last))))
        x = self.conv_out(self.up2(self.up1(self.residuals(x))))[..., :height, :width]
        return torch.sigmoid(x) if self.output == "sigmoid" else x.clamp(0.0, 1.0)
