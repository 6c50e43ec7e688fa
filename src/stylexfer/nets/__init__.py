"""Shared network maths in plain PyTorch: VGG feature taps, the mirrored VGG decoder, style codes.
Each family's own network lives in its folder (stylexfer/families/NAME/net.py)."""

from stylexfer.errors import WeightsError
from stylexfer.nets.codes import StyleCode
from stylexfer.nets.decoder import Decoder
from stylexfer.nets.vgg import VGGFeatures

__all__ = ["Decoder", "StyleCode", "VGGFeatures", "WeightsError"]
