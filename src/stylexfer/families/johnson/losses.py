"""Johnson et al. (2016) perceptual loss: content, Gram style and total variation on a frozen VGG-16."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import cast

from torch import Tensor, nn

from stylexfer.functional import gram_matrix, total_variation
from stylexfer.losses import STYLE_REDUCTIONS, content_loss, gram_style_loss
from stylexfer.nets.vgg import VGGFeatures

CONTENT_LAYER = "relu2_2"
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


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
        content_layer: str = CONTENT_LAYER,
        style_layers: Sequence[str] = STYLE_LAYERS,
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
