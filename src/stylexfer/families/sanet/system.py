"""LitSANet: trains SANet's transform and decoder together (Park & Lee 2019 §3.3; GlebSBrykin/SANET's
Train.ipynb). Training only: imported through the registry by stylexfer.training (imports Lightning)."""

from __future__ import annotations

import torch
from torch import Tensor

from stylexfer.families.adain.system import ArbitraryStyleSystem  # the same encoder, steps and checkpoints
from stylexfer.families.sanet.config import SANetConfig  # noqa: F401 - the family's schema, beside its system
from stylexfer.families.sanet.losses import sanet_loss_terms
from stylexfer.families.sanet.net import SANetNet


class LitSANet(ArbitraryStyleSystem):
    """L = content_weight·L_c + style_weight·L_s + identity1_weight·L_id1 + identity2_weight·L_id2.

    The four raw terms are logged (train/content, train/style, train/identity1, train/identity2) with
    their shares of the total.
    """

    model_name = "sanet"
    net: SANetNet

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
        identity1_weight: float,
        identity2_weight: float,
        vgg_weights: str,
        channels_last: bool,
    ) -> None:
        super().__init__()
        if name != "sanet":
            raise ValueError(f"LitSANet needs name='sanet', got {name!r}")
        self.save_hyperparameters()  # primitives only: reloadable, weights_only-safe
        self._set_net(SANetNet(encoder_weights=vgg_weights), channels_last)  # VGGFeatures freezes the encoder

    def loss_terms(self, content: Tensor, style: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return sanet_loss_terms(self.net, content, style)

    def _weighted(self, terms: dict[str, Tensor]) -> dict[str, Tensor]:
        return {name: self.hparams[f"{name}_weight"] * term for name, term in terms.items()}

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [*self.net.transform.parameters(), *self.net.decoder.parameters()]
