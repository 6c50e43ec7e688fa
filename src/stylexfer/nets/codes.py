"""An encoded style: the channel statistics that a statistics-matching transfer applies."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class StyleCode(NamedTuple):
    """A style reduced to channel statistics of one encoder layer, each (B or 1, C, 1, 1).

    Encode a style once and reuse it for a whole folder. A weighted sum of codes interpolates
    styles exactly as Σ w_k·T(x, y_k) does for a transfer T that is affine in (μ, σ).
    """

    mean: Tensor
    std: Tensor
