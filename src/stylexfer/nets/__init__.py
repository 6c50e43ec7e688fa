"""The networks in plain PyTorch: VGG feature taps, Johnson's transformer net, AdaIN encoder/decoder."""

from stylexfer.errors import WeightsError
from stylexfer.nets.adain import AdaINNet, Decoder, StyleCode
from stylexfer.nets.johnson import TransformerNet
from stylexfer.nets.vgg import VGGFeatures

__all__ = ["AdaINNet", "Decoder", "StyleCode", "TransformerNet", "VGGFeatures", "WeightsError"]
