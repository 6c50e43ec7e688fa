"""Model files built by tests in exactly the layouts stylexfer reads (no Lightning needed).

Training checkpoints: ``{"hyper_parameters": {...primitives}, "state_dict": {"net.*" | "net.decoder.*"}}``
saved with torch.save, as the training side writes them (frozen encoder keys dropped).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch

from stylexfer.nets import AdaINNet, TransformerNet
from stylexfer.nets.vgg import RandomWeightsWarning


@functools.lru_cache(maxsize=4)
def adain_net(seed: int = 0) -> AdaINNet:
    """Cached: VGG-19 construction takes seconds; tests must not modify the returned net."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        net = AdaINNet(encoder_weights="random").eval()
    with (
        torch.no_grad()
    ):  # default init shrinks the signal to ~0: keep it alive so outputs show structure
        for conv in net.decoder.children():
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            conv.bias.zero_()
        net.decoder.conv1_1.weight.mul_(1.5)
        net.decoder.conv1_1.bias.fill_(0.5)
    return net


def johnson_net(seed: int = 0) -> TransformerNet:
    torch.manual_seed(seed)
    net = TransformerNet().eval()
    with (
        torch.no_grad()
    ):  # fresh IN affine params are 1/0: perturb so the net does something visible
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return net


def save_adain_ckpt(path: Path, net: AdaINNet | None = None, **hparams: object) -> Path:
    net = net or adain_net()
    state = {f"net.decoder.{k}": v for k, v in net.decoder.state_dict().items()}
    if hparams.get("encoder_weights", "random") == "random":  # as training saves it: a random VGG cannot be rebuilt
        state |= {f"net.encoder.{k}": v for k, v in net.encoder.state_dict().items()}
    return _save_ckpt(path, state, {"encoder_weights": "random", "lr": 1e-4, **hparams})


def save_johnson_ckpt(path: Path, net: TransformerNet | None = None, **hparams: object) -> Path:
    net = net or johnson_net()
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    return _save_ckpt(path, state, {"vgg_weights": "random", "lr": 1e-3, **hparams})


def _save_ckpt(path: Path, state: dict[str, torch.Tensor], hparams: dict[str, object]) -> Path:
    """The shape of a training checkpoint, as far as the inference side reads it."""
    torch.save({"hyper_parameters": hparams, "state_dict": state, "global_step": 10}, path)
    return path


# ---------------------------------------------------------------------------------------------------
# Independent re-implementations of the ORIGINAL public architectures, module for module, so their
# state_dict() has the exact original key names and shapes:
# pytorch/examples fast_neural_style/neural_style/transformer_net.py and naoto0804/pytorch-AdaIN net.py.


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
