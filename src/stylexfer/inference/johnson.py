"""The Johnson runner (Johnson et al. 2016): the style is in the weights; α blends pixels; tiles
share instance-norm statistics measured once on a downscaled copy of the whole image."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from stylexfer.inference.device import DevicePolicy
from stylexfer.inference.request import StylizeRequest
from stylexfer.inference.tiling import Progress, TileBlender, TilePolicy, tile_spans
from stylexfer.nets.johnson import MIN_SIDE, TransformerNet, frozen_statistics, measure_statistics


class JohnsonRunner:
    """Runs a TransformerNet for the façade."""

    min_side = MIN_SIDE

    def __init__(self, net: TransformerNet, device: DevicePolicy, tiles: TilePolicy) -> None:
        self.net, self.device, self.tiles = net, device, tiles

    def stylize(self, images: Tensor, request: StylizeRequest, tile: int | None,
                progress: Progress | None) -> Tensor:
        """images: (B, 3, H, W), already padded to min_side."""
        if tile is None:
            with self.device.context():
                out = self._blend(self.device.to_device(images), request.alpha)
            if progress:
                progress(1, 1)
            return out.float().cpu().clamp(0, 1)
        return torch.cat([  # one image at a time keeps memory bounded
            self._tiled(images[i : i + 1], request.alpha, tile, progress) for i in range(images.shape[0])
        ])

    def _blend(self, x: Tensor, alpha: float) -> Tensor:
        out = self.net(x).float()
        return out if alpha == 1.0 else alpha * out + (1.0 - alpha) * x.float()

    def _tiled(self, image: Tensor, alpha: float, tile: int, progress: Progress | None) -> Tensor:
        height, width = image.shape[-2:]
        overlap = self.tiles.overlap
        window = (tile + 2 * overlap) ** 2
        scale = min(1.0, math.sqrt(window / (height * width)))
        small = F.interpolate(image, scale_factor=scale, mode="bilinear", antialias=True) if scale < 1 else image
        with self.device.context():
            stats = measure_statistics(self.net, self.device.to_device(small))
        blender = TileBlender(1, height, width, overlap)
        spans_y, spans_x = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
        total, done = len(spans_y) * len(spans_x), 0
        # Whole-image statistics for every tile: each is normalised alike, so no tile differs in colour.
        with self.device.context(), frozen_statistics(self.net, stats):
            for ys in spans_y:
                for xs in spans_x:
                    part = self.device.to_device(image[..., ys[0] : ys[1], xs[0] : xs[1]])
                    blender.add(self._blend(part, alpha), ys, xs)
                    done += 1
                    if progress:
                        progress(done, total)
        return blender.result()
