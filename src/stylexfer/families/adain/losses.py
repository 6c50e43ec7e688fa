"""Huang & Belongie (2017) §3.3 training loss: content against the transfer's target, mean/std style
(AdaIN) or rank-matched style (EFDM, Zhang et al. 2022 eq. 9)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from torch import Tensor

from stylexfer.families.adain.net import CONTENT_LAYER, STYLE_LAYERS, AdaINNet
from stylexfer.functional import channel_mean_std
from stylexfer.losses import content_loss, efdm_style_loss, mean_std_loss
from stylexfer.nets.codes import StyleCode


def adain_loss_terms(net: AdaINNet, content: Tensor, style: Tensor,
                     style_layers: Sequence[str] = STYLE_LAYERS) -> tuple[Tensor, dict[str, Tensor]]:
    """One training forward: returns (D(t), {"content": L_c, "style": L_s}).

    L_c = ‖E(D(t)) − t‖² at relu4_1 (mean squared error against the target t = T(E(c), E(s)), not E(c));
    L_s = Σ over `style_layers` (default relu1_1 … relu4_1) of the transfer's style term: mean_std_loss
    (AdaIN) or efdm_style_loss (EFDM: YBZh/EFDM net.py calc_style_loss, the 'efdm' branch).
    """
    taps = tuple(dict.fromkeys((*style_layers, CONTENT_LAYER)))
    style_features = net.encode(style, taps)
    if net.transfer == "efdm":
        code = net.code_of(style_features[CONTENT_LAYER])
        style_term = efdm_style_loss
    else:  # the biased σ of channel_mean_std whatever the net's statistics (see mean_std_loss)
        code = StyleCode(*channel_mean_std(style_features[CONTENT_LAYER]))
        style_term = mean_std_loss
    target = net.stylize_features(net.encode_content(content), code)
    output = net.decoder(target, size=content.shape[-2:])
    output_features = net.encode(output, taps)
    terms = {
        "content": content_loss(output_features[CONTENT_LAYER], target),
        "style": cast(Tensor, sum(style_term(output_features[name], style_features[name]) for name in style_layers)),
    }
    return output, terms
