"""The Johnson model file: ``net.*`` tensors (TransformerNet keys) and metadata ``output`` ("sigmoid" |
"clamp"); training checkpoints ``net.*`` with ``hyper_parameters["output"]``; the pytorch/examples
fast-neural-style state dict, recognised by its keys and converted when read; `info` and export.

fast-neural-style (pytorch/examples ``fast_neural_style/neural_style/transformer_net.py``):
``conv1.conv2d``/``in1`` … ``res1..res5`` … ``deconv3.conv2d``; ReflectionPad2d(k//2) + conv, nearest
×2 upsampling + pad + conv, a linear last conv; pixels 0–255 in and (unbounded) out. Our
``TransformerNet(output="clamp")`` takes [0, 1]: conv1's weight is multiplied by 255 (the bias is
unchanged) and the last conv's weight and bias are divided by 255, so ours(x) = clamp(theirs(255·x)/255).
Old files carry ``running_mean``/``running_var`` of the instance norms (unused by the net): dropped.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from stylexfer.errors import ModelFileError
from stylexfer.families.johnson.net import OutputMode, TransformerNet
from stylexfer.files.convert import pick, read_state_dict
from stylexfer.files.spec import ModelSpec, ModelWeights

# Ours <- theirs for the transformer net (the weight/bias suffix is appended).
_FNS_CONVS = {
    "conv1.conv": "conv1.conv2d",
    "conv1.norm": "in1",
    "conv2.conv": "conv2.conv2d",
    "conv2.norm": "in2",
    "conv3.conv": "conv3.conv2d",
    "conv3.norm": "in3",
    "up1.conv.conv": "deconv1.conv2d",
    "up1.conv.norm": "in4",
    "up2.conv.conv": "deconv2.conv2d",
    "up2.conv.norm": "in5",
    "conv_out.conv": "deconv3.conv2d",
}
for _i in range(5):
    _FNS_CONVS |= {
        f"residuals.{_i}.conv1.conv": f"res{_i + 1}.conv1.conv2d",
        f"residuals.{_i}.conv1.norm": f"res{_i + 1}.in1",
        f"residuals.{_i}.conv2": f"res{_i + 1}.conv2.conv2d",
        f"residuals.{_i}.norm2": f"res{_i + 1}.in2",
    }


def spec_of_metadata(metadata: Mapping[str, str], where: str) -> ModelSpec:
    return ModelSpec(kind="johnson", output=metadata.get("output", "sigmoid"))


def metadata_of(weights: ModelWeights) -> dict[str, str]:
    return {"output": weights.spec.output}


def split_tensors(spec: ModelSpec, tensors: dict[str, Tensor], where: str) -> ModelWeights:
    from stylexfer.files.modelfile import strip_prefix

    return ModelWeights(spec, strip_prefix(tensors, "net."), None, source=where)


def join_tensors(weights: ModelWeights) -> dict[str, Tensor]:
    return {f"net.{k}": v for k, v in weights.net_state.items()}


def spec_of_checkpoint(hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str, where: str) -> ModelSpec:
    from stylexfer.files.modelfile import CKPT_OUTPUT_KEYS, first_str

    return ModelSpec("johnson", output=first_str(hparams, CKPT_OUTPUT_KEYS) or "sigmoid")


def weights_of_checkpoint(spec: ModelSpec, state: Mapping[str, Tensor], prefix: str, where: str) -> ModelWeights:
    from stylexfer.files.modelfile import strip_prefix

    return ModelWeights(spec, strip_prefix(state, prefix), None, source=where)


def build_net(weights: ModelWeights) -> TransformerNet:
    from stylexfer.files.modelfile import load_checked

    net = TransformerNet(output=cast(OutputMode, weights.spec.output))  # checked in ModelSpec
    load_checked(net, weights.net_state, weights.source or "model file", "Johnson TransformerNet")
    return net.eval()


def weights_of(net: nn.Module, spec: ModelSpec) -> ModelWeights:
    return ModelWeights(spec, dict(net.state_dict()))


def convert_fast_neural_style(state: Mapping[str, Tensor], *, source: str = "fast-neural-style file") -> ModelWeights:
    """A pytorch/examples TransformerNet state dict -> ModelWeights of TransformerNet(output="clamp")."""
    theirs = {k: v for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    ours = pick(theirs, _FNS_CONVS, source, "a fast-neural-style TransformerNet state dict")
    used = {f"{p}.{s}" for p in _FNS_CONVS.values() for s in ("weight", "bias")}
    extra = sorted(set(theirs) - used)
    if extra:
        raise ModelFileError(f"{source}: unexpected keys {extra[:3]}; not a fast-neural-style TransformerNet")
    ours["conv1.conv.weight"] = ours["conv1.conv.weight"] * 255.0  # our input is [0, 1], theirs 0-255
    ours["conv_out.conv.weight"] = ours["conv_out.conv.weight"] / 255.0  # their output is 0-255
    ours["conv_out.conv.bias"] = ours["conv_out.conv.bias"] / 255.0
    return ModelWeights(ModelSpec("johnson", output="clamp"), ours, None, source=source)


def import_fast_neural_style(files: Sequence[str | os.PathLike]) -> ModelWeights:
    """`stylexfer import fast-neural-style FILE.pth`."""
    if len(files) != 1:
        raise ModelFileError(f"import fast-neural-style takes one .pth file, got {len(files)}")
    return convert_fast_neural_style(read_state_dict(files[0]), source=str(files[0]))


def info(spec: ModelSpec, shapes: Mapping[str, Any], prefix: str,
         normalize: tuple[Tensor, Tensor] | None, random_encoder: bool) -> dict[str, Any]:
    """prefix: "net." for our safetensors files and checkpoints, "" for a fast-neural-style file."""
    if spec.output == "clamp":
        text = ("RGB in [0, 1]; fast-neural-style's 0-255 pixel scale is folded into the first and "
                "last convolutions")
    else:
        text = "RGB in [0, 1], no mean/std normalisation"
    count = sum(math.prod(shape) for key, shape in shapes.items()
                if key.startswith(prefix) and "running_" not in key)
    return {
        "normalisation": text,
        "output_range": "sigmoid: always in [0, 1]" if spec.output == "sigmoid" else "clamped to [0, 1]",
        "parameters": {"net": count},
    }


def export_graph(net: nn.Module, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
    g = torch.Generator().manual_seed(0)
    return net.eval(), (torch.rand(1, 3, *size, generator=g),)


def export_reference(net: nn.Module, inputs: tuple) -> Tensor:
    with torch.inference_mode():
        return net(inputs[0]).clamp(0, 1)
