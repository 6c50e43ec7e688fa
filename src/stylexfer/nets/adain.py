"""Huang & Belongie (2017) arbitrary style transfer: VGG-19 encoder to relu4_1, AdaIN, mirrored decoder."""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylexfer.functional import adain_with_stats, channel_mean_std
from stylexfer.nets.vgg import VGGFeatures

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_LAYER = "relu4_1"


class StyleCode(NamedTuple):
    """A style reduced to what AdaIN uses: relu4_1 channel statistics, each (B or 1, 512, 1, 1).

    Encode a style once and reuse it for a whole folder. A weighted sum of codes interpolates
    styles exactly as the paper's Σ w_k·AdaIN(x, y_k) does, since AdaIN is affine in (μ, σ).
    """

    mean: Tensor
    std: Tensor


# (name, in, out, upsample ×2 after it); mirrors VGG-19 conv4_1 … conv1_1 (SPEC, seed Table 4).
DECODER_LAYERS = (
    ("conv4_1", 512, 256, True),
    ("conv3_4", 256, 256, False),
    ("conv3_3", 256, 256, False),
    ("conv3_2", 256, 256, False),
    ("conv3_1", 256, 128, True),
    ("conv2_2", 128, 128, False),
    ("conv2_1", 128, 64, True),
    ("conv1_2", 64, 64, False),
    ("conv1_1", 64, 3, False),
)


class Decoder(nn.Module):
    """(B, 512, h, w) features -> (B, 3, H, W) image: 3×3 reflection-padded convs, ReLU after all but
    the last, nearest ×2 upsampling, no normalisation layers (they would fix the style statistics)."""

    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout, _ in DECODER_LAYERS:
            self.add_module(name, nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect"))

    def forward(self, features: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """size: the output H×W; the upsamplings land on the sizes VGG's pools came from, so any
        image size round-trips. None: plain ×2 steps (output 8× the feature map)."""
        sizes = _pool_sizes(size, features.shape[-2:])
        x = features.contiguous(memory_format=torch.channels_last)  # NHWC: see VGGFeatures.forward
        for name, _, _, upsample in DECODER_LAYERS:
            x = getattr(self, name)(x)
            if name == "conv1_1":
                break
            x = torch.relu_(x)  # the conv output is ours: no copy (autograd-safe after a conv)
            if upsample:
                x = F.interpolate(x, size=sizes.pop(), mode="nearest")
        return x


def _pool_sizes(size: tuple[int, int] | None, feature_size: tuple[int, ...]) -> list[tuple[int, int]]:
    if size is None:
        h, w = feature_size
        return [(h * 8, w * 8), (h * 4, w * 4), (h * 2, w * 2)]
    h, w = int(size[0]), int(size[1])
    sizes = [(h, w)]
    for _ in range(2):
        h, w = h // 2, w // 2
        sizes.append((h, w))
    return sizes  # pop() yields H/4, H/2, H


class AdaINNet(nn.Module):
    """x = E(c), y = E(s), t = AdaIN(x, y), output = D((1−α)·x + α·t) (Huang & Belongie §6–7).

    content, style: (B, 3, H, W) RGB in [0, 1] (style may be (1, 3, H', W') for the whole batch, or a
    precomputed StyleCode). The output is the decoder's raw image, not clamped: the losses see it
    as is; callers that save pictures clamp to [0, 1].
    """

    def __init__(self, encoder_weights: str | os.PathLike = "imagenet") -> None:
        super().__init__()
        self.encoder = VGGFeatures("vgg19", STYLE_LAYERS, weights=encoder_weights, padding_mode="reflect")
        self.decoder = Decoder()

    def encode(self, images: Tensor, layers: tuple[str, ...] = STYLE_LAYERS) -> dict[str, Tensor]:
        """relu1_1 … relu4_1 of the frozen encoder (or the subset `layers`)."""
        return self.encoder(images, layers)

    def encode_content(self, images: Tensor) -> Tensor:
        """relu4_1 alone: the shallower activations are freed as soon as they are used."""
        return self.encoder(images, (CONTENT_LAYER,))[CONTENT_LAYER]

    def encode_style(self, style: Tensor) -> StyleCode:
        mean, std = channel_mean_std(self.encode_content(style))
        return StyleCode(mean, std)

    def forward(self, content: Tensor, style: Tensor | StyleCode, alpha: float = 1.0) -> Tensor:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        code = style if isinstance(style, StyleCode) else self.encode_style(style)
        content_features = self.encode_content(content)
        target = self.stylize_features(content_features, code, alpha)
        return self.decoder(target, size=content.shape[-2:])

    @staticmethod
    def stylize_features(content_features: Tensor, code: StyleCode, alpha: float = 1.0) -> Tensor:
        """t = AdaIN(x, code), blended with x by α; what the decoder and the content loss see."""
        target = adain_with_stats(content_features, code.mean, code.std)
        return target if alpha == 1.0 else alpha * target + (1.0 - alpha) * content_features
