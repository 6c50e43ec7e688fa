"""An encoded style: what a statistics- or distribution-matching transfer applies."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class StyleCode(NamedTuple):
    """A style reduced to channel statistics of one encoder layer, each (B or 1, C, 1, 1), and, for a
    distribution-matching transfer (EFDM), the layer's values sorted per channel (B or 1, C, N).

    Encode a style once and reuse it for a whole folder. A weighted sum of codes interpolates
    styles exactly as Σ w_k·T(x, y_k) does for a transfer T that is affine in (μ, σ); for EFDM the
    weighted sum of the quantiles, resampled to the content's length, is Σ w_k·EFDM(x, y_k) (the
    content's ranks are the same for every style).
    """

    mean: Tensor
    std: Tensor
    quantiles: Tensor | None = None  # sorted values per channel; only codes made for an EFDM model

    def to_float(self, device: torch.device | str | None = None) -> StyleCode:
        """The code in float32 on `device` (default: where it is)."""
        q = self.quantiles
        return StyleCode(self.mean.to(device).float(), self.std.to(device).float(),
                         None if q is None else q.to(device).float())
