"""The decoder that mirrors VGG-19 from relu4_1 back to pixels (Huang & Belongie 2017 §6; also
the decoder of SANet, Park & Lee 2019): shared maths for encoder/decoder families."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (name, in, out, upsample ×2 after it); mirrors VGG-19 conv4_1 … conv1_1 (SPEC, seed Table 4).
DECODER_LAYERS = (
    ("conv4_1", 512, 256, True),
    ("conv3_4", 256, 256, False),
    ("conv3_3", 256, 256, False),
    ("conv3_2", 256, 256, False),
    ("conv3_1", 256, 128, True),
    ("conv2_2", 128, 128, False),
    ("conv2_1", 128, 64, True),
    ("conv1_2", 64, 64, False),
    ("conv1_1", 64, 3, False),
)


class Decoder(nn.Module):
    """(B, 512, h, w) features -> (B, 3, H, W) image: 3×3 reflection-padded convs, ReLU after all but
    the last, nearest ×2 upsampling, no normalisation layers (they would fix the style statistics)."""

    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout, _ in DECODER_LAYERS:
            self.add_module(name, nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect"))

    def forward(self, features: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """Three nearest ×2 steps (Huang & Belongie's release): (h, w) features give 8h×8w pixels.
        size: crop the result to this H×W (top-left); with the encoder's ceil-mode pools (h = ⌈H/8⌉)
        that is the image's own size, and the crop equals the reference's output cropped alike."""
        x = features.contiguous(memory_format=torch.channels_last)  # NHWC: see VGGFeatures.forward
        for name, _, _, upsample in DECODER_LAYERS:
            x = getattr(self, name)(x)
            if name == "conv1_1":
                break
            x = torch.relu_(x)  # the conv output is ours: no copy (autograd-safe after a conv)
            if upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x if size is None else x[..., : size[0], : size[1]]  # traced sizes stay symbolic
