"""Colour preservation for either network (Gatys et al. 2016, "Preserving color in neural artistic
style transfer"): luminance-only transfer in YIQ."""

from __future__ import annotations

import torch
from torch import Tensor

from stylexfer.functional import channel_mean_std

_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def preserve_content_color(output: Tensor, content: Tensor) -> Tensor:
    """Luminance-only transfer (Gatys et al. 2016): the output's Y, matched to the content's Y mean and
    std, with the content's I and Q. (B, 3, H, W) each; result clamped to [0, 1]."""
    m = _RGB_TO_YIQ.to(output.device)
    yiq_out = torch.einsum("ij,bjhw->bihw", m, output.float())
    yiq_c = torch.einsum("ij,bjhw->bihw", m, content.float())
    y_out, y_c = yiq_out[:, :1], yiq_c[:, :1]
    mu_o, sd_o = channel_mean_std(y_out)
    mu_c, sd_c = channel_mean_std(y_c)
    y = (y_out - mu_o) / sd_o * sd_c + mu_c
    yiq = torch.cat([y, yiq_c[:, 1:]], dim=1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(m), yiq).clamp(0.0, 1.0)
