"""SANet's training terms (Park & Lee 2019 §3.3, eq. 4–7; GlebSBrykin/SANET `Train.ipynb`, `Net.forward`),
returned raw: the system weighs them (content 1, style 3, identity1 50, identity2 1 in the reference)."""

from __future__ import annotations

from typing import cast

import torch.nn.functional as F
from torch import Tensor

from stylexfer.families.sanet.net import ATTENTION_LAYERS, STYLE_LAYERS, SANetNet, mean_std, mean_variance_norm


def normalized_content_loss(output_features: Tensor, content_features: Tensor) -> Tensor:
    """MSE(mvn(φ(g)), mvn(φ(c))) for one layer: the content term compares normalised features."""
    return F.mse_loss(mean_variance_norm(output_features.float()), mean_variance_norm(content_features.float()))


def mean_std_style_loss(output_features: Tensor, style_features: Tensor) -> Tensor:
    """MSE(μ(φ(g)), μ(φ(s))) + MSE(σ(φ(g)), σ(φ(s))) for one layer, σ with the unbiased variance
    (`mean_std`), as the reference's `calc_style_loss`."""
    out_mean, out_std = mean_std(output_features)
    style_mean, style_std = mean_std(style_features)
    return F.mse_loss(out_mean, style_mean.expand_as(out_mean)) + F.mse_loss(out_std, style_std.expand_as(out_std))


def _mse(a: Tensor, b: Tensor) -> Tensor:
    return F.mse_loss(a.float(), b.float())


def sanet_loss_terms(net: SANetNet, content: Tensor, style: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """One training forward: returns (D(T(c, s)), {"content", "style", "identity1", "identity2"}).

    content, style: (B, 3, H, W) in [0, 1]. With φ the relu1_1 … relu5_1 taps:
    L_c = Σ over relu4_1, relu5_1 of MSE(mvn(φ(g)), mvn(φ(c)));
    L_s = Σ over the five taps of MSE(μ(φ(g)), μ(φ(s))) + MSE(σ(φ(g)), σ(φ(s)));
    I_cc = D(T(c, c)), I_ss = D(T(s, s)); L_id1 = MSE(I_cc, c) + MSE(I_ss, s);
    L_id2 = Σ over the five taps of MSE(φ(I_cc), φ(c)) + MSE(φ(I_ss), φ(s)).
    """

    def decode(a: dict[str, Tensor], b: dict[str, Tensor], size: tuple[int, int]) -> Tensor:
        return net.decoder(net.transform(a["relu4_1"], b["relu4_1"], a["relu5_1"], b["relu5_1"]), size=size)

    content_size, style_size = (content.shape[-2], content.shape[-1]), (style.shape[-2], style.shape[-1])
    content_features, style_features = net.encode(content), net.encode(style)
    output = decode(content_features, style_features, content_size)
    output_features = net.encode(output)
    identity_cc = decode(content_features, content_features, content_size)
    identity_ss = decode(style_features, style_features, style_size)
    cc_features, ss_features = net.encode(identity_cc), net.encode(identity_ss)
    terms = {
        "content": sum(normalized_content_loss(output_features[n], content_features[n]) for n in ATTENTION_LAYERS),
        "style": sum(mean_std_style_loss(output_features[n], style_features[n]) for n in STYLE_LAYERS),
        "identity1": _mse(identity_cc, content) + _mse(identity_ss, style),
        "identity2": sum(_mse(cc_features[n], content_features[n]) + _mse(ss_features[n], style_features[n])
                         for n in STYLE_LAYERS),
    }
    return output, {name: cast(Tensor, term) for name, term in terms.items()}
