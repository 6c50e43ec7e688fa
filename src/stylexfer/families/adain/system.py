"""LitAdaIN: trains the AdaIN decoder (Huang & Belongie 2017 §3.3). Training only: imported through
the registry by stylexfer.training (this module imports Lightning)."""

from __future__ import annotations

import torch
from torch import Tensor

from stylexfer.families.adain.config import AdaINConfig  # noqa: F401 - the family's schema, beside its system
from stylexfer.families.adain.losses import adain_loss_terms
from stylexfer.families.adain.net import STYLE_LAYERS, AdaINNet
from stylexfer.training.systems import StyleTransferSystem


class ArbitraryStyleSystem(StyleTransferSystem):
    """What LitAdaIN and LitSANet share: `net(content, style, alpha)` on a frozen VGG-19 encoder, one
    loss function for training and validation, and a pair's picture for the measures.

    The encoder is never optimised, and not stored in checkpoints, except when its weights are random:
    those cannot be rebuilt from a name, and the trained parts only fit the encoder they were trained with.
    """

    def forward(self, content: Tensor, style: Tensor, alpha: float = 1.0) -> Tensor:
        return self.net(content, style, alpha)

    def loss_terms(self, content: Tensor, style: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(output, raw unweighted terms) of the family's loss."""
        raise NotImplementedError

    @property
    def frozen_prefixes(self) -> tuple[str, ...]:
        return () if self.hparams.vgg_weights == "random" else ("net.encoder.",)

    def step_terms(self, batch: dict[str, Tensor]) -> tuple[list[Tensor], dict[str, Tensor]]:
        content, style = self._prepare(batch["content"]), self._prepare(batch["style"])
        output, terms = self.loss_terms(content, style)
        return [content, style, output], terms

    def stylize(self, content: Tensor, style: Tensor) -> Tensor:
        return self.net(content, style).float().clamp(0, 1)


class LitAdaIN(ArbitraryStyleSystem):
    """Trains AdaINNet's decoder: L = content_weight·L_c + style_weight·L_s (Huang & Belongie §3.3),
    with the transfer operator `transfer` (AdaIN or EFDM) and its style loss (losses.py).
    """

    model_name = "adain"
    net: AdaINNet

    def __init__(
        self,
        *,
        name: str,
        lr: float,
        lr_decay: float,
        beta1: float,
        beta2: float,
        content_weight: float,
        style_weight: float,
        vgg_weights: str,
        channels_last: bool,
        style_layers: str = ",".join(STYLE_LAYERS),  # default: checkpoints written before it was configurable
        transfer: str = "adain",  # likewise
    ) -> None:
        super().__init__()
        if name != "adain":
            raise ValueError(f"LitAdaIN needs name='adain', got {name!r}")
        self.save_hyperparameters()  # primitives only: reloadable, weights_only-safe
        self._set_net(AdaINNet(encoder_weights=vgg_weights, transfer=transfer), channels_last)
        self.style_layers = tuple(style_layers.split(","))

    def loss_terms(self, content: Tensor, style: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return adain_loss_terms(self.net, content, style, self.style_layers)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.net.decoder.parameters())
