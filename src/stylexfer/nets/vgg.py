"""Frozen VGG feature taps with names derived from the architecture (relu1_1, relu2_2, …).

Input is RGB in [0, 1]; the ImageNet mean/std normalisation is the first layer, a fixed 1×1
conv 3→3, so that a Caffe-converted VGG (whose first layer is exactly such a conv) loads
into the same module.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal, cast

import torch
from torch import Tensor, nn

from stylexfer.errors import WeightsError

Arch = Literal["vgg16", "vgg19"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's VGG `features` layouts ("D", "E" in torchvision.models.vgg.cfgs; "M" = 2×2 max-pool) and
# its ImageNet weight URLs. Spelt out so the stylize path neither imports torchvision.models (~1 s) nor
# builds and initialises the 120 M-parameter classifier it would throw away (~1 s per VGG).
_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}
_URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}


def _make_features(arch: Arch, count: int | None = None) -> list[nn.Module]:
    """The first `count` modules of torchvision's vgg16/vgg19 `features` (same indices, so the same
    state-dict keys), initialised as torchvision initialises them (Kaiming normal, fan_out; zero bias)."""
    modules: list[nn.Module] = []
    channels = 3
    for value in _CONFIGS[arch]:
        if value == "M":
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(channels, int(value), kernel_size=3, padding=1)
            modules += [conv, nn.ReLU(inplace=False)]
            channels = int(value)
        if count is not None and len(modules) >= count:
            break
    modules = modules[:count]
    for module in modules:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return modules


class RandomWeightsWarning(UserWarning):
    """Random VGG weights: the pipeline runs, the pictures mean nothing."""


def layer_names(arch: Arch) -> list[str]:
    """Names of torchvision's `features` children in order: conv1_1, relu1_1, …, pool1, conv2_1, …"""
    names, block, depth = [], 1, 0
    for value in _CONFIGS[arch]:
        if value == "M":
            names.append(f"pool{block}")
            block, depth = block + 1, 0
        else:
            depth += 1
            names += [f"conv{block}_{depth}", f"relu{block}_{depth}"]
    return names


def imagenet_weights_file(arch: Arch) -> Path:
    """Where torchvision caches the ImageNet weights of `arch` (~/.cache/torch/hub/checkpoints/…)."""
    url = _URLS[arch]
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_weights(arch: Arch, weights: str | os.PathLike) -> dict[str, Tensor] | None:
    """State dict for `weights` = "imagenet" | "random" | a file path; None means random."""
    if str(weights) == "random":
        msg = (
            f"{arch} loss/encoder network has RANDOM weights: training and stylizing run, "
            "but the pictures show the pipeline working, not style transfer quality"
        )
        warnings.warn(msg, RandomWeightsWarning, stacklevel=3)
        return None
    if str(weights) == "imagenet":
        return _load_imagenet(arch)
    return _load_file(Path(weights))


def _load_imagenet(arch: Arch) -> dict[str, Tensor]:
    url = _URLS[arch]
    path = imagenet_weights_file(arch)
    if not path.is_file():
        try:
            return torch.hub.load_state_dict_from_url(url, progress=True, check_hash=True, weights_only=True)
        except Exception as err:  # URLError, OSError, hash mismatch, …
            raise WeightsError(
                f"cannot get ImageNet {arch} weights ({type(err).__name__}: {err}); download {url} "
                f"on a machine with internet and place it at {path} (folder {path.parent})"
            ) from err
    return _load_file(path)


def _load_file(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise WeightsError(
            f"VGG weights file not found: {path}; pass 'imagenet', 'random' or an existing file"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(
            f"cannot read VGG weights {path}: not a weights-only PyTorch state dict "
            f"({type(err).__name__}); re-save it with torch.save(model.state_dict(), path)"
        ) from err
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(
            f"{path} is not a state dict of tensors; expected torchvision VGG keys 'features.N.weight'"
        )
    return dict(state)


class VGGFeatures(nn.Module):
    """Frozen VGG-16/19 that returns the named activations asked for and stops after the deepest.

    ``VGGFeatures("vgg19", layers=("relu1_1", "relu4_1"), weights="random")(x)`` with x (B, 3, H, W)
    in [0, 1] gives ``{"relu1_1": (B, 64, H, W), "relu4_1": (B, 512, H/8, W/8)}``.
    padding_mode: "zeros" as trained by torchvision (a loss network), "reflect" for an
    encoder/decoder pair (Huang & Belongie use reflection padding against border artefacts).
    """

    def __init__(
        self,
        arch: Arch,
        layers: Iterable[str],
        weights: str | os.PathLike = "imagenet",
        padding_mode: Literal["zeros", "reflect"] = "zeros",
    ) -> None:
        super().__init__()
        if arch not in _CONFIGS:
            raise ValueError(f"unknown VGG architecture {arch!r}; choose one of {sorted(_CONFIGS)}")
        names = layer_names(arch)
        self.layers = tuple(layers)
        unknown = [name for name in self.layers if name not in names]
        if not self.layers or unknown:
            raise ValueError(
                f"unknown {arch} layer(s) {unknown or '(none given)'}; valid names: {', '.join(names)}"
            )
        last = max(names.index(name) for name in self.layers)
        self.arch = arch
        self.names = names[: last + 1]
        self.normalize = nn.Conv2d(3, 3, kernel_size=1)
        self.features = nn.Sequential(*_make_features(arch, last + 1))
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                module.padding_mode = padding_mode
        self._load(load_weights(arch, weights), str(weights))
        self.requires_grad_(False)
        self.eval()

    def _load(self, state: dict[str, Tensor] | None, source: str) -> None:
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        with torch.no_grad():
            self.normalize.weight.copy_(torch.diag(1.0 / std).reshape(3, 3, 1, 1))
            self.normalize.bias.copy_(-mean / std)  # type: ignore[union-attr]  # built with a bias
        if state is None:
            return
        wanted = {key: value for key, value in self.state_dict().items()}
        picked = {}
        for key, expected in wanted.items():
            if key not in state:
                if key.startswith("normalize."):
                    continue  # a plain torchvision state dict: keep ImageNet normalisation
                raise WeightsError(
                    f"VGG weights {source} lack {key!r} needed for {self.arch} up to {self.names[-1]}; "
                    f"is it a torchvision {self.arch} state dict?"
                )
            if state[key].shape != expected.shape:
                raise WeightsError(
                    f"VGG weights {source}: {key!r} has shape {tuple(state[key].shape)}, "
                    f"{self.arch} needs {tuple(expected.shape)}; wrong architecture?"
                )
            picked[key] = state[key]
        self.load_state_dict(picked, strict=False)

    def forward(self, images: Tensor, layers: Iterable[str] | None = None) -> dict[str, Tensor]:
        """layers: a subset of the taps to return (default: all); the others are not kept alive."""
        wanted = self.layers if layers is None else tuple(layers)
        if not set(wanted) <= set(self.layers):
            raise ValueError(f"layers {sorted(set(wanted) - set(self.layers))} are not taps of this VGGFeatures")
        # channels_last: oneDNN/cuDNN convolutions, ReLU and max-pool run on NHWC without the
        # reorders NCHW costs (about 2× on CPU); every activation after this stays NHWC.
        x = images.contiguous(memory_format=torch.channels_last) if images.dim() == 4 else images
        first = self.features[0]
        fold = first.padding_mode == "reflect"
        if not fold:
            x = self.normalize(x)
        out: dict[str, Tensor] = {}
        for index, (name, module) in enumerate(zip(self.names, self.features, strict=True)):
            if index == 0 and fold:
                x = self._normalized_first_conv(x)
            elif isinstance(module, nn.ReLU) and self.names[index - 1] not in wanted:
                x = torch.relu_(x)  # the conv output is ours and not a tap: rectify in place
            else:
                x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break  # nothing deeper is asked for
        return out

    def _normalized_first_conv(self, images: Tensor) -> Tensor:
        """conv1_1(normalize(x)) as one conv with the normalisation folded into its weights.

        normalize is a per-pixel affine map A·x + c and reflection padding only copies pixels, so
        conv_W(pad(A·x + c)) + b = conv_{W·A}(pad(x)) + (b + Σ W·c) exactly. (Not with zero padding:
        the zeros would become c at the borders, so that mode keeps the 1×1 conv.)
        Always fp32 (its weights are kept fp32 by inference.device.store_weights_bf16 too).
        """
        conv = cast(nn.Conv2d, self.features[0])
        # fp32 under autocast too (bf16 training, CUDA inference): the fold's einsums and this conv
        # read the pixels; in bf16 they would round the image and the folded weights (1 % of the work).
        with torch.autocast(device_type=images.device.type, enabled=False):
            a = self.normalize.weight[:, :, 0, 0].float()  # (3 out, 3 in)
            weight = torch.einsum("oihw,ij->ojhw", conv.weight.float(), a)
            bias = torch.einsum("oihw,i->o", conv.weight.float(), self.normalize.bias.float())  # type: ignore[union-attr]
            if conv.bias is not None:
                bias = bias + conv.bias.float()
            return conv._conv_forward(images.float(), weight, bias)

    def train(self, mode: bool = True) -> VGGFeatures:
        return super().train(False)  # frozen: always in eval mode, whatever the parent does
