"""Temporal smoothing of per-frame statistics for video (the flicker of nets that normalise by feature statistics).

Each frame's statistics are measured anew, so when the content's make-up changes from one frame to
the next (an object entering, a flash), every pixel of the output moves with them: the picture
"pumps" in brightness and colour. With smoothing S in [0, 1) the statistics used for frame t are

    μ̄_t = S·μ̄_{t−1} + (1 − S)·μ_t,    σ̄_t = S·σ̄_{t−1} + (1 − S)·σ_t,    μ̄_0 = μ_0, σ̄_0 = σ_0

kept separately for each place that normalises (a feature transform: per mask region; an instance-norm net: each
instance norm). Each frame is still normalised as a picture of its own, (x − μ̄)/σ̄; only the jumps
of the statistics are damped. The recurrence runs frame by frame along the batch dimension, so a
batch of B frames gives exactly what B batches of one frame give.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from stylexfer.inference.request import RequestError, literal


def check_smooth(smooth: object) -> float:
    """smooth as a float in [0, 1), or a RequestError naming the `smooth` field."""
    if isinstance(smooth, bool) or not isinstance(smooth, int | float) or not math.isfinite(smooth) \
            or not 0.0 <= smooth < 1.0:
        raise RequestError(f"{{smooth}} must be at least 0 and below 1 (0 = off, 0.9 = strong), "
                           f"got {literal(smooth)}", "smooth")
    return float(smooth)


class StatisticsSmoother:
    """The exponential average above, one running state per key, carried from batch to batch.

    Create one per clip (the state is the clip's history); S = 0 returns every frame's own values.
    """

    def __init__(self, smooth: float) -> None:
        self.smooth = check_smooth(smooth)
        self._state: dict[object, tuple[Tensor, ...]] = {}

    def __call__(self, key: object, *stats: Tensor) -> tuple[Tensor, ...]:
        """stats: tensors (B, ...) for B consecutive frames, in frame order -> the smoothed ones."""
        if not self.smooth:
            return stats
        s = self.smooth
        previous = self._state.get(key)
        rows: list[tuple[Tensor, ...]] = []
        for i in range(stats[0].shape[0]):
            current = tuple(t[i : i + 1].float() for t in stats)
            if previous is not None:
                current = tuple(s * p.to(c.device) + (1.0 - s) * c for p, c in zip(previous, current, strict=True))
            rows.append(current)
            previous = current
        assert previous is not None
        self._state[key] = tuple(p.detach().clone() for p in previous)
        return tuple(torch.cat(parts) for parts in zip(*rows, strict=True))
