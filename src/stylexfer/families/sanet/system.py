"""LitSANet: trains SANet's transform and decoder together (Park & Lee 2019 §3.3; GlebSBrykin/SANET's
Train.ipynb). Training only: imported through the registry by stylexfer.training (imports Lightning)."""

from __future__ import annotations

import torch
from torch import Tensor

from stylexfer.families.sanet.config import SANetConfig  # noqa: F401 - the family's schema, beside its system
from stylexfer.families.sanet.losses import sanet_loss_terms
from stylexfer.families.sanet.net import SANetNet
from stylexfer.training.systems import StyleTransferSystem


class LitSANet(StyleTransferSystem):
    """L = content_weight·L_c + style_weight·L_s + identity1_weight·L_id1 + identity2_weight·L_id2.

    The VGG-19 encoder is frozen, never optimised, and not stored in checkpoints unless its weights
    are random (those cannot be rebuilt from a name). The four raw terms are logged (train/content,
    train/style, train/identity1, train/identity2) with their shares of the total.
    """

    model_name = "sanet"

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
        self.net = SANetNet(encoder_weights=vgg_weights)
        for parameter in self.net.encoder.parameters():
            parameter.requires_grad_(False)
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.strict_loading = False  # the frozen encoder is not checkpointed

    def forward(self, content: Tensor, style: Tensor, alpha: float = 1.0) -> Tensor:
        return self.net(content, style, alpha)

    @property
    def frozen_prefixes(self) -> tuple[str, ...]:
        return () if self.hparams.vgg_weights == "random" else ("net.encoder.",)

    def _weighted(self, terms: dict[str, Tensor]) -> dict[str, Tensor]:
        return {name: self.hparams[f"{name}_weight"] * term for name, term in terms.items()}

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        content, style = self._prepare(batch["content"]), self._prepare(batch["style"])
        _, terms = sanet_loss_terms(self.net, content, style)
        total = self._weigh(terms)
        self._check_finite(total, terms)
        self._log_terms("train", terms, total, content.shape[0])
        return total

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        content, style = self._prepare(batch["content"]), self._prepare(batch["style"])
        output, terms = sanet_loss_terms(self.net, content, style)
        self._log_terms("val", terms, self._weigh(terms), content.shape[0])
        if batch_idx == 0:
            self._log_grid([content, style, output])

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [*self.net.transform.parameters(), *self.net.decoder.parameters()]

    def stylize(self, content: Tensor, style: Tensor) -> Tensor:
        return self.net(content, style).float().clamp(0, 1)
