"""Training for the identity family (imported by stylexfer's training only): the config schema and the
LightningModule. L = content_weight·‖o − c‖² + style_weight·‖μ(o) − μ(s)‖² (mean colours)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from stylexfer.training.ranges import bounded, check_model
from stylexfer.training.systems import StyleTransferSystem
from stylexfer_identity import IdentityPlusBias


@dataclass
class IdentityConfig:
    name: str = "identity"
    content_weight: float = bounded(1.0, 0)
    style_weight: float = bounded(1.0, 0, key="model.style_weight (lambda)")  # λ
    channels_last: bool = False
    vgg_weights: str = "imagenet"  # no VGG here; kept so the shared presets (debug=fast sets it) compose

    def __post_init__(self) -> None:
        check_model(self, "identity")


class LitIdentity(StyleTransferSystem):
    model_name = "identity"

    def __init__(self, *, name: str, lr: float, lr_decay: float, beta1: float, beta2: float,
                 content_weight: float, style_weight: float, channels_last: bool, vgg_weights: str) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = IdentityPlusBias()

    def forward(self, content: Tensor) -> Tensor:
        return self.net(content)

    def step_terms(self, batch: dict[str, Tensor]) -> tuple[list[Tensor], dict[str, Tensor]]:
        """The base class weighs, checks and logs these terms and draws the rows as its validation grid."""
        content, style = batch["content"], batch["style"]
        output = self.net(content)
        return [content, output], {
            "content": F.mse_loss(output, content),
            "style": F.mse_loss(output.mean((2, 3)), style.mean((0, 2, 3)).expand(len(content), 3)),
        }

    def stylize(self, content: Tensor, style: Tensor) -> Tensor:
        return self.net(content).float().clamp(0, 1)
