"""Johnson, Alahi & Fei-Fei (2016) transformer net (SPEC Table 1), with instance normalisation."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylexfer.functional import instance_norm

OutputMode = Literal["sigmoid", "clamp"]


class InstanceNorm(nn.InstanceNorm2d):
    """Affine instance norm (Ulyanov et al. 2016), nn.InstanceNorm2d's parameters and state-dict keys,
    with a fast path that keeps channels_last (F.instance_norm copies to NCHW and back).

    The standard op runs instead when statistics are frozen (tiled inference sets running stats
    measured on the whole image) and while tracing or exporting (TorchScript, ONNX), so exported
    graphs hold a plain InstanceNormalization that works for any batch size.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        if self.track_running_stats or torch.jit.is_tracing() or torch.jit.is_scripting():
            return super().forward(x)
        return instance_norm(x, self.weight, self.bias, self.eps)


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

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class TransformerNet(nn.Module):
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) in [0, 1], for any H×W.

    Each upsampling goes back to the exact size of the matching downsampling input, so odd sizes
    round-trip. output="sigmoid" (our training default: always a valid image, and gradients never
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
        x1 = self.conv1(images.contiguous(memory_format=torch.channels_last))
        x2 = self.conv2(x1)
        x = self.residuals(self.conv3(x2))
        x = self.up1(x, size=x2.shape[-2:])
        x = self.up2(x, size=x1.shape[-2:])
        x = self.conv_out(x)
        return torch.sigmoid(x) if self.output == "sigmoid" else x.clamp(0.0, 1.0)
