"""Independent re-implementations of the public reference networks: the one oracle that the tests
and the benchmark (benchmarks/cases.py) share. Written from the published architectures, not copied.

1. The ORIGINAL modules, module for module, so their state_dict() has the exact original key names
   and shapes: pytorch/examples fast_neural_style/neural_style/transformer_net.py (TransformerNet) and
   naoto0804/pytorch-AdaIN net.py (vgg, decoder) with function.py's AdaIN (unbiased variance). The
   importers are checked against them (tests/files/test_convert.py).
2. The PLAIN PATH: the published forwards in plain ops (NCHW, a reflection-pad copy before every conv,
   a separate 1×1 normalisation conv, out-of-place ReLU, F.instance_norm), run on OUR networks'
   weights. Every speed-up in stylexfer.nets is checked against it (tests/inference/test_performance_equivalence.py)
   and the benchmark times it as the baseline (`stylize/*/plain`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from stylexfer.families.adain.net import DECODER_LAYERS, AdaINNet
from stylexfer.families.johnson.net import TransformerNet
from stylexfer.nets import VGGFeatures

# --------------------------------------------------------------------------- 1. original modules


class OrigConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__()
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class OrigResidualBlock(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = OrigConvLayer(channels, channels, 3, 1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = OrigConvLayer(channels, channels, 3, 1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        out = self.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(out)) + x


class OrigUpsampleConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        if upsample:
            self.upsample_layer = torch.nn.Upsample(mode="nearest", scale_factor=upsample)
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        if self.upsample:
            x = self.upsample_layer(x)
        return self.conv2d(self.reflection_pad(x))


class OrigTransformerNet(torch.nn.Module):
    """fast-neural-style: 0-255 RGB in, unbounded 0-255 out."""

    def __init__(self):
        super().__init__()
        self.conv1 = OrigConvLayer(3, 32, 9, 1)
        self.in1 = torch.nn.InstanceNorm2d(32, affine=True)
        self.conv2 = OrigConvLayer(32, 64, 3, 2)
        self.in2 = torch.nn.InstanceNorm2d(64, affine=True)
        self.conv3 = OrigConvLayer(64, 128, 3, 2)
        self.in3 = torch.nn.InstanceNorm2d(128, affine=True)
        for i in range(1, 6):
            setattr(self, f"res{i}", OrigResidualBlock(128))
        self.deconv1 = OrigUpsampleConvLayer(128, 64, 3, 1, upsample=2)
        self.in4 = torch.nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = OrigUpsampleConvLayer(64, 32, 3, 1, upsample=2)
        self.in5 = torch.nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = OrigConvLayer(32, 3, 9, 1)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for i in range(1, 6):
            y = getattr(self, f"res{i}")(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def orig_fast_neural_style(seed: int = 0) -> OrigTransformerNet:
    """Random weights with a live signal: outputs around 0-255 like a trained model's."""
    torch.manual_seed(seed)
    net = OrigTransformerNet().eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
        net.deconv3.conv2d.weight.mul_(200.0)
        net.deconv3.conv2d.bias.fill_(127.0)
    return net


def fast_neural_style_state(net: OrigTransformerNet) -> dict[str, torch.Tensor]:
    """Its state dict as old PyTorch saved it: with the (unused) instance-norm running statistics."""
    state = dict(net.state_dict())
    for name in [
        k[: -len(".weight")]
        for k in state
        if k.split(".")[-2].startswith("in") and k.endswith("weight")
    ]:
        state[f"{name}.running_mean"] = torch.zeros(state[f"{name}.weight"].shape)
        state[f"{name}.running_var"] = torch.ones(state[f"{name}.weight"].shape)
    return state


def orig_adain_decoder() -> torch.nn.Sequential:
    nn = torch.nn

    def block(cin, cout, relu=True):
        return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3))] + (
            [nn.ReLU()] if relu else []
        )

    up = nn.UpsamplingNearest2d(scale_factor=2)
    return nn.Sequential(
        *block(512, 256),
        up,
        *block(256, 256),
        *block(256, 256),
        *block(256, 256),
        *block(256, 128),
        nn.UpsamplingNearest2d(scale_factor=2),
        *block(128, 128),
        *block(128, 64),
        nn.UpsamplingNearest2d(scale_factor=2),
        *block(64, 64),
        *block(64, 3, relu=False),
    )


def orig_adain_vgg() -> torch.nn.Sequential:
    nn = torch.nn
    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]
    cin = 3
    for i, (cout, count) in enumerate([(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]):
        for _ in range(count):
            layers += [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3)), nn.ReLU()]
            cin = cout
        if i < 4:
            layers.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
    return nn.Sequential(*layers)


def orig_adain_pair(seed: int = 0) -> tuple[torch.nn.Sequential, torch.nn.Sequential]:
    """(vgg, decoder) of pytorch-AdaIN with random weights that keep the signal alive."""
    torch.manual_seed(seed)
    vgg, decoder = orig_adain_vgg().eval(), orig_adain_decoder().eval()
    with torch.no_grad():
        for module in list(vgg) + list(decoder):
            if isinstance(module, torch.nn.Conv2d) and module.kernel_size == (3, 3):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                module.bias.uniform_(-0.05, 0.05)
        # Caffe-style input layer: RGB [0, 1] -> BGR 0-255 minus the mean, as in vgg_normalised.pth
        vgg[0].weight.copy_(torch.flip(torch.eye(3), [0]).reshape(3, 3, 1, 1) * 255.0)
        vgg[0].bias.copy_(-torch.tensor([103.939, 116.779, 123.68]))
        first = [m for m in vgg if isinstance(m, torch.nn.Conv2d)][1]
        first.weight.div_(100.0)  # 0-255 inputs: keep activations O(1)
        decoder[-1].weight.mul_(1.5)
        decoder[-1].bias.fill_(0.5)
    return vgg, decoder


def orig_calc_mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """pytorch-AdaIN function.py's calc_mean_std: per-channel mean and sqrt(unbiased variance + eps)."""
    n, c = feat.shape[:2]
    var = feat.reshape(n, c, -1).var(dim=2) + eps
    return feat.reshape(n, c, -1).mean(dim=2).reshape(n, c, 1, 1), var.sqrt().reshape(n, c, 1, 1)


def orig_adain(content_feat: Tensor, style_feat: Tensor) -> Tensor:
    """pytorch-AdaIN function.py's adaptive_instance_normalization."""
    s_mean, s_std = orig_calc_mean_std(style_feat)
    c_mean, c_std = orig_calc_mean_std(content_feat)
    return (content_feat - c_mean) / c_std * s_std + s_mean


# --------------------------------------------------------------------------- 2. the plain path
# Statistics written out here (biased variance, eps inside the square root, as stylexfer.functional
# documents), not taken from stylexfer.functional: the oracle must not share the code it checks.

PLAIN_EPS = 1e-5


def plain_vgg(vgg: VGGFeatures, x: Tensor, sizes: list[tuple[int, int]] | None = None) -> dict[str, Tensor]:
    """Every tap of `vgg` the slow way. sizes: when given, the H×W entering each pool is appended."""
    x = F.conv2d(x.contiguous(), vgg.normalize.weight, vgg.normalize.bias)
    out = {}
    for name, module in zip(vgg.names, vgg.features, strict=True):
        if isinstance(module, torch.nn.Conv2d):
            mode = "reflect" if module.padding_mode == "reflect" else "constant"
            x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode=mode), module.weight, module.bias)
        elif isinstance(module, torch.nn.ReLU):
            x = F.relu(x)
        else:
            if sizes is not None:
                sizes.append((x.shape[-2], x.shape[-1]))
            x = F.max_pool2d(x, module.kernel_size, module.stride, ceil_mode=module.ceil_mode)
        if name in vgg.layers:
            out[name] = x
    return out


def plain_mean_std(x: Tensor) -> tuple[Tensor, Tensor]:
    """(B, C, 1, 1) mean and sqrt(biased variance + eps) over H×W."""
    return x.mean((2, 3), keepdim=True), (x.var((2, 3), keepdim=True, unbiased=False) + PLAIN_EPS).sqrt()


def plain_adain(net: AdaINNet, content: Tensor, style: Tensor, alpha: float = 1.0) -> Tensor:
    """D((1−α)·x + α·AdaIN(x, y)) with x = E(content), y = E(style), as pytorch-AdaIN runs it: the
    encoder's pools round up (ceil_mode), the decoder upsamples ×2, and its larger output is cropped
    to the content's H×W."""
    h, w = content.shape[-2:]
    x = plain_vgg(net.encoder, content)["relu4_1"]
    y = plain_vgg(net.encoder, style)["relu4_1"]
    (xm, xs), (ym, ys) = plain_mean_std(x), plain_mean_std(y)
    t = alpha * ((x - xm) / xs * ys + ym) + (1 - alpha) * x
    for name, _, _, upsample in DECODER_LAYERS:
        conv = getattr(net.decoder, name)
        t = F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), conv.weight, conv.bias)
        if name == "conv1_1":
            return t[..., :h, :w]
        t = F.relu(t)
        if upsample:
            t = F.interpolate(t, scale_factor=2, mode="nearest")
    raise AssertionError("DECODER_LAYERS ends with conv1_1")


def plain_johnson(net: TransformerNet, x: Tensor) -> Tensor:
    """pytorch/examples' TransformerNet forward on our net's weights; the output head as net.output says."""

    def conv(layer: torch.nn.Module, x: Tensor) -> Tensor:
        c = getattr(layer, "conv", layer)
        p = c.kernel_size[0] // 2
        return F.conv2d(F.pad(x, (p,) * 4, mode="reflect"), c.weight, c.bias, c.stride)

    def conv_norm_relu(layer: torch.nn.Module, x: Tensor) -> Tensor:
        return F.relu(F.instance_norm(conv(layer, x), weight=layer.norm.weight, bias=layer.norm.bias))

    h, w = x.shape[-2:]
    x = conv_norm_relu(net.conv3, conv_norm_relu(net.conv2, conv_norm_relu(net.conv1, x.contiguous())))
    for block in net.residuals:
        y = conv(block.conv2, conv_norm_relu(block.conv1, x))
        x = x + F.instance_norm(y, weight=block.norm2.weight, bias=block.norm2.bias)
    x = conv_norm_relu(net.up1.conv, F.interpolate(x, scale_factor=2, mode="nearest"))
    x = conv_norm_relu(net.up2.conv, F.interpolate(x, scale_factor=2, mode="nearest"))
    x = conv(net.conv_out, x)[..., :h, :w]  # fast-neural-style's output, cropped to the input
    return torch.sigmoid(x) if net.output == "sigmoid" else x.clamp(0.0, 1.0)
