"""An encoded style: the channel statistics a statistics-matching transfer (AdaIN-like) applies."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class StyleCode(NamedTuple):
    """A style reduced to what AdaIN uses: relu4_1 channel statistics, each (B or 1, 512, 1, 1).

    Encode a style once and reuse it for a whole folder. A weighted sum of codes interpolates
    styles exactly as the paper's Σ w_k·AdaIN(x, y_k) does, since AdaIN is affine in (μ, σ).
    """

    mean: Tensor
    std: Tensor
