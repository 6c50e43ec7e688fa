"""Huang & Belongie (2017) §3.3 training loss: content against the AdaIN target, mean/std style."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from torch import Tensor

from stylexfer.families.adain.net import CONTENT_LAYER, STYLE_LAYERS, AdaINNet
from stylexfer.functional import channel_mean_std
from stylexfer.losses import content_loss, mean_std_loss
from stylexfer.nets.codes import StyleCode


def adain_loss_terms(net: AdaINNet, content: Tensor, style: Tensor,
                     style_layers: Sequence[str] = STYLE_LAYERS) -> tuple[Tensor, dict[str, Tensor]]:
    """One AdaIN training forward: returns (D(t), {"content": L_c, "style": L_s}).

    L_c = ‖E(D(t)) − t‖² at relu4_1 (mean squared error against the AdaIN target t, not E(c));
    L_s = Σ over `style_layers` (default relu1_1 … relu4_1) of mean_std_loss(E(D(t)), E(s)).
    """
    taps = tuple(dict.fromkeys((*style_layers, CONTENT_LAYER)))
    style_features = net.encode(style, taps)
    code = StyleCode(*channel_mean_std(style_features[CONTENT_LAYER]))
    target = net.stylize_features(net.encode_content(content), code)
    output = net.decoder(target, size=content.shape[-2:])
    output_features = net.encode(output, taps)
    terms = {
        "content": content_loss(output_features[CONTENT_LAYER], target),
        "style": cast(Tensor, sum(mean_std_loss(output_features[name], style_features[name]) for name in style_layers)),
    }
    return output, terms
