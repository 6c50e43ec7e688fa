"""The Johnson runner (Johnson et al. 2016): the style is in the weights; α blends pixels; tiles
share instance-norm statistics measured once on a downscaled copy of the whole image. For video,
`smoothed_norms` makes every instance norm use statistics smoothed across frames (temporal.py)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylexfer.families.johnson.net import MIN_SIDE, InstanceNorm, TransformerNet, frozen_statistics, measure_statistics
from stylexfer.inference.device import DevicePolicy
from stylexfer.inference.request import StylizeRequest
from stylexfer.inference.temporal import StatisticsSmoother
from stylexfer.inference.tiling import Progress, TileBlender, TilePolicy, tile_grid, tile_pass, whole_or_tiled


class SmoothedNorm(nn.Module):
    """Stands in for one InstanceNorm while a clip is stylized: the same affine normalisation, with
    each frame's per-channel mean and std replaced by their running average across frames (the
    network's own modules and weights are untouched; see :func:`smoothed_norms`)."""

    def __init__(self, norm: InstanceNorm, smoother: StatisticsSmoother, key: object) -> None:
        super().__init__()
        self.norm, self.smoother, self.key = norm, smoother, key

    def forward(self, x: Tensor) -> Tensor:
        var, mean = torch.var_mean(x.float(), dim=(2, 3), correction=0, keepdim=True)
        mean, std = self.smoother(self.key, mean, (var + self.norm.eps).sqrt())
        scale = self.norm.weight.float().view(1, -1, 1, 1) / std
        shift = self.norm.bias.float().view(1, -1, 1, 1) - mean * scale
        return torch.addcmul(shift, x.float(), scale).to(x.dtype)  # one pass over the activations


@contextlib.contextmanager
def smoothed_norms(net: nn.Module, smoother: StatisticsSmoother) -> Iterator[None]:
    """Inside the block every InstanceNorm of `net` is a :class:`SmoothedNorm` sharing `smoother`
    (one key per norm); the original modules are put back on the way out, whatever happens."""
    swaps = [(parent, name, child) for parent in list(net.modules())
             for name, child in parent.named_children() if isinstance(child, InstanceNorm)]
    try:
        for index, (parent, name, child) in enumerate(swaps):
            setattr(parent, name, SmoothedNorm(child, smoother, ("norm", index)))
        yield
    finally:
        for parent, name, child in swaps:
            setattr(parent, name, child)


class JohnsonRunner:
    """Runs a TransformerNet for the façade."""

    min_side = MIN_SIDE

    def __init__(self, net: TransformerNet, device: DevicePolicy, tiles: TilePolicy) -> None:
        self.net, self.device, self.tiles = net, device, tiles

    def stylize(self, images: Tensor, box: object, codes: list, request: StylizeRequest, tile: int | None,
                progress: Progress | None, smoother: StatisticsSmoother | None = None) -> Tensor:
        """images: (B, 3, H, W), already padded to min_side (box and codes: unused, the style is built in).
        smoother: video frames in order; the instance-norm statistics are smoothed across frames."""

        def whole(images: Tensor) -> Tensor:
            with smoothed_norms(self.net, smoother) if smoother else contextlib.nullcontext():
                return self._blend(self.device.to_device(images), request.alpha)

        return whole_or_tiled(images, tile, progress, self.device, whole,
                              lambda x, size: self._tiled(x, request.alpha, size, progress, smoother))

    def _blend(self, x: Tensor, alpha: float) -> Tensor:
        out = self.net(x).float()
        return out if alpha == 1.0 else alpha * out + (1.0 - alpha) * x.float()

    def _tiled(self, image: Tensor, alpha: float, tile: int, progress: Progress | None,
               smoother: StatisticsSmoother | None = None) -> Tensor:
        height, width = image.shape[-2:]
        overlap = self.tiles.overlap
        window = (tile + 2 * overlap) ** 2
        scale = min(1.0, math.sqrt(window / (height * width)))
        small = F.interpolate(image, scale_factor=scale, mode="bilinear", antialias=True) if scale < 1 else image
        with self.device.context():
            stats = measure_statistics(self.net, self.device.to_device(small))
        if smoother is not None:  # video: each norm's (mean, variance) smoothed across frames
            stats = [tuple(t[0] for t in smoother(("tiled", i), mean[None], var[None]))  # type: ignore[misc]
                     for i, (mean, var) in enumerate(stats)]
        blender = TileBlender(1, height, width, overlap)
        # Whole-image statistics for every tile: each is normalised alike, so no tile differs in colour.
        with self.device.context(), frozen_statistics(self.net, stats):
            for ys, xs in tile_pass(tile_grid(height, width, tile, overlap), 0, progress, passes=1):
                part = self.device.to_device(image[..., ys[0] : ys[1], xs[0] : xs[1]])
                blender.add(self._blend(part, alpha), ys, xs)
        return blender.result()
