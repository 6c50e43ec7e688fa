"""Huang & Belongie (2017) arbitrary style transfer: VGG-19 encoder to relu4_1, AdaIN (or EFDM, Zhang et
al. 2022), mirrored decoder."""

from __future__ import annotations

import os

from torch import Tensor, nn

from stylexfer.functional import adain_with_stats, channel_mean_std, efdm_with_quantiles
from stylexfer.nets.codes import StyleCode
from stylexfer.nets.decoder import DECODER_LAYERS, Decoder
from stylexfer.nets.vgg import VGGFeatures

__all__ = ["CONTENT_LAYER", "DECODER_LAYERS", "MIN_SIDE", "STYLE_LAYERS", "TRANSFERS", "AdaINNet", "Decoder",
           "StyleCode"]

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
MIN_SIDE = 9  # smallest side whose reflection pads fit: relu4_1 is ⌈H/8⌉ ≥ 2 rows
CONTENT_LAYER = "relu4_1"
STATISTICS = ("biased", "unbiased")
# The transfer operator at relu4_1: "adain" (mean/std, Huang & Belongie eq. 8) or "efdm" (every content
# value takes the style value of the same rank, Zhang et al. 2022 eq. 7; YBZh/EFDM).
TRANSFERS = ("adain", "efdm")


class AdaINNet(nn.Module):
    """x = E(c), y = E(s), t = T(x, y), output = D((1−α)·x + α·t) (Huang & Belongie §6–7), where the
    transfer T is AdaIN or EFDM (`transfer`).

    content, style: (B, 3, H, W) RGB in [0, 1] (style may be (1, 3, H', W') for the whole batch, or a
    precomputed StyleCode). The output is the decoder's raw image, not clamped: the losses see it
    as is; callers that save pictures clamp to [0, 1].
    """

    def __init__(self, encoder_weights: str | os.PathLike = "imagenet", statistics: str = "biased",
                 transfer: str = "adain") -> None:
        super().__init__()
        if statistics not in STATISTICS:
            raise ValueError(f"statistics must be one of {STATISTICS}, got {statistics!r}")
        if transfer not in TRANSFERS:
            raise ValueError(f"transfer must be one of {TRANSFERS}, got {transfer!r}")
        self.transfer = transfer
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
        return self.code_of(self.encode_content(style))

    def code_of(self, features: Tensor) -> StyleCode:
        """relu4_1 features of styles -> their code: μ, σ and, for EFDM, the values sorted per channel."""
        mean, std = channel_mean_std(features, unbiased=self.unbiased)
        if self.transfer == "adain":
            return StyleCode(mean, std)
        return StyleCode(mean, std, features.reshape(*features.shape[:2], -1).sort(dim=-1).values)

    def forward(self, content: Tensor, style: Tensor | StyleCode, alpha: float | Tensor = 1.0) -> Tensor:
        """alpha: a number, or a 0-dim/(1,) tensor (the export graph's input, see files.AdaINGraph)."""
        if isinstance(alpha, float | int) and not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        code = style if isinstance(style, StyleCode) else self.encode_style(style)
        content_features = self.encode_content(content)
        target = self.stylize_features(content_features, code, alpha)
        return self.decoder(target, size=content.shape[-2:])

    def stylize_features(self, content_features: Tensor, code: StyleCode, alpha: float | Tensor = 1.0) -> Tensor:
        """t = T(x, code), blended with x by α; what the decoder and the content loss see."""
        if self.transfer == "efdm":
            if code.quantiles is None:
                raise ValueError("this style code has no sorted values (EFDM): encode the style with this model")
            target = efdm_with_quantiles(content_features, code.quantiles)
        else:
            target = adain_with_stats(content_features, code.mean, code.std, unbiased=self.unbiased)
        if isinstance(alpha, float | int) and alpha == 1.0:
            return target
        return alpha * target + (1.0 - alpha) * content_features
