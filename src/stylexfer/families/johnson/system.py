"""LitJohnson: trains a TransformerNet for one style (Johnson et al. 2016 §3). Training only: imported
through the registry by stylexfer.training (this module imports Lightning)."""

from __future__ import annotations

import torch
from torch import Tensor

from stylexfer.families.johnson.config import JohnsonConfig  # noqa: F401 - the family's schema
from stylexfer.families.johnson.losses import CONTENT_LAYER, STYLE_LAYERS, JohnsonCriterion
from stylexfer.families.johnson.net import TransformerNet
from stylexfer.training.systems import StyleTransferSystem, load_style_image


class LitJohnson(StyleTransferSystem):
    """Trains a TransformerNet for one style image (Johnson et al. 2016, §3):
    L = content_weight·L_c + style_weight·L_s + tv_weight·TV on a frozen VGG-16.

    The style image is read once, here, with its shorter side scaled to `style_size`; its Gram
    matrices become buffers of the criterion.
    """

    model_name = "johnson"
    frozen_prefixes = ("criterion.",)

    def __init__(
        self,
        *,
        name: str,
        lr: float,
        lr_decay: float,
        beta1: float,
        beta2: float,
        style_image: str,
        style_size: int,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        output: str,
        vgg_weights: str,
        channels_last: bool,
        style_reduction: str = "sum",
        content_layer: str = CONTENT_LAYER,  # defaults: checkpoints written before the layers were configurable
        style_layers: str = ",".join(STYLE_LAYERS),
    ) -> None:
        super().__init__()
        if name != "johnson":
            raise ValueError(f"LitJohnson needs name='johnson', got {name!r}")
        self.save_hyperparameters()
        self._set_net(TransformerNet(output=output), channels_last)  # type: ignore[arg-type]
        style = load_style_image(style_image, style_size)
        self.criterion = JohnsonCriterion(style[None], vgg_weights=vgg_weights, style_reduction=style_reduction,
                                          content_layer=content_layer, style_layers=tuple(style_layers.split(",")))
        if channels_last:
            self.criterion.to(memory_format=torch.channels_last)
        self._style_image: Tensor | None = None

    def forward(self, content: Tensor) -> Tensor:
        return self.net(content)

    def step_terms(self, batch: dict[str, Tensor]) -> tuple[list[Tensor], dict[str, Tensor]]:
        content = self._prepare(batch["content"])  # the style stream is unused: the style is fixed
        output = self.net(content)
        return [content, output], self.criterion(output, content)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.net.parameters())

    def stylize(self, content: Tensor, style: Tensor) -> Tensor:
        return self.net(content).float().clamp(0, 1)  # the pair's style plays no part

    def judge_style(self, style: Tensor) -> Tensor:
        if self._style_image is None:  # read again (not kept from __init__: the criterion holds Grams only)
            self._style_image = load_style_image(self.hparams.style_image, self.hparams.style_size)[None]
        return self._style_image.to(style.device)
