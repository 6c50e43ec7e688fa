"""Huang & Belongie (2017) arbitrary style transfer: VGG-19 encoder to relu4_1, AdaIN, mirrored decoder."""

from __future__ import annotations

import os

from torch import Tensor, nn

from stylexfer.functional import adain_with_stats, channel_mean_std
from stylexfer.nets.codes import StyleCode
from stylexfer.nets.decoder import DECODER_LAYERS, Decoder
from stylexfer.nets.vgg import VGGFeatures

__all__ = ["CONTENT_LAYER", "DECODER_LAYERS", "MIN_SIDE", "STYLE_LAYERS", "AdaINNet", "Decoder", "StyleCode"]

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
MIN_SIDE = 9  # smallest side whose reflection pads fit: relu4_1 is ⌈H/8⌉ ≥ 2 rows
CONTENT_LAYER = "relu4_1"
STATISTICS = ("biased", "unbiased")


class AdaINNet(nn.Module):
    """x = E(c), y = E(s), t = AdaIN(x, y), output = D((1−α)·x + α·t) (Huang & Belongie §6–7).

    content, style: (B, 3, H, W) RGB in [0, 1] (style may be (1, 3, H', W') for the whole batch, or a
    precomputed StyleCode). The output is the decoder's raw image, not clamped: the losses see it
    as is; callers that save pictures clamp to [0, 1].
    """

    def __init__(self, encoder_weights: str | os.PathLike = "imagenet", statistics: str = "biased") -> None:
        super().__init__()
        if statistics not in STATISTICS:
            raise ValueError(f"statistics must be one of {STATISTICS}, got {statistics!r}")
        # σ convention: "biased" (ours, what files trained here use) or "unbiased" (pytorch-AdaIN's
        # calc_mean_std, kept by imported release files so they give the reference's picture at any sizes)
        self.statistics = statistics
        self.encoder = VGGFeatures("vgg19", STYLE_LAYERS, weights=encoder_weights, padding_mode="reflect")
        for module in self.encoder.modules():
            if isinstance(module, nn.MaxPool2d):
                # pytorch-AdaIN's vgg_normalised pools round up: the last row/column of an odd side
                # is pooled on its own instead of dropped, so relu4_1 covers the whole image.
                module.ceil_mode = True
        self.decoder = Decoder()

    def encode(self, images: Tensor, layers: tuple[str, ...] = STYLE_LAYERS) -> dict[str, Tensor]:
        """relu1_1 … relu4_1 of the frozen encoder (or the subset `layers`)."""
        return self.encoder(images, layers)

    def encode_content(self, images: Tensor) -> Tensor:
        """relu4_1 alone: the shallower activations are freed as soon as they are used."""
        return self.encoder(images, (CONTENT_LAYER,))[CONTENT_LAYER]

    @property
    def unbiased(self) -> bool:
        return self.statistics == "unbiased"

    def encode_style(self, style: Tensor) -> StyleCode:
        mean, std = channel_mean_std(self.encode_content(style), unbiased=self.unbiased)
        return StyleCode(mean, std)

    def forward(self, content: Tensor, style: Tensor | StyleCode, alpha: float = 1.0) -> Tensor:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        code = style if isinstance(style, StyleCode) else self.encode_style(style)
        content_features = self.encode_content(content)
        target = self.stylize_features(content_features, code, alpha)
        return self.decoder(target, size=content.shape[-2:])

    def stylize_features(self, content_features: Tensor, code: StyleCode, alpha: float = 1.0) -> Tensor:
        """t = AdaIN(x, code), blended with x by α; what the decoder and the content loss see."""
        target = adain_with_stats(content_features, code.mean, code.std, unbiased=self.unbiased)
        return target if alpha == 1.0 else alpha * target + (1.0 - alpha) * content_features
