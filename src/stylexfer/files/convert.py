"""Importers for the two public model sets, mapping their layer names and value ranges onto ours.

fast-neural-style (pytorch/examples ``fast_neural_style/neural_style/transformer_net.py``):
``conv1.conv2d``/``in1`` … ``res1..res5`` … ``deconv3.conv2d``; ReflectionPad2d(k//2) + conv, nearest
×2 upsampling + pad + conv, a linear last conv; pixels 0–255 in and (unbounded) out. Our
``TransformerNet(output="clamp")`` takes [0, 1]: conv1's weight is multiplied by 255 (the bias is
unchanged) and the last conv's weight and bias are divided by 255, so ours(x) = clamp(theirs(255·x)/255).
Old files carry ``running_mean``/``running_var`` of the instance norms (unused by the net): dropped.

AdaIN release (naoto0804/pytorch-AdaIN ``net.py``): ``vgg_normalised.pth`` is an ``nn.Sequential``
whose index 0 is the 1×1 conv 3→3 that takes [0, 1] RGB (``ToTensor()``; the conv holds the Caffe
VGG's channel swap, scaling and mean), then ReflectionPad/Conv/ReLU/MaxPool(ceil_mode) up to relu5_4;
``decoder.pth`` is the mirrored Sequential. Its convs load into VGGFeatures.normalize / features.N and
our Decoder's conv4_1 … conv1_1. Our AdaIN encoder pools with ceil_mode=True like the release and the
decoder's output is cropped to the input size, so the two agree at every size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch import Tensor

from stylexfer.errors import ModelFileError
from stylexfer.files.spec import ENCODER_EMBEDDED, ModelSpec, ModelWeights
from stylexfer.files.torchfile import check_tensors, load_weights_only
from stylexfer.files.userfile import check_regular_file

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

# naoto0804/pytorch-AdaIN Sequential indices of the convs we use.
ADAIN_VGG_INDICES = {
    "normalize": 0,
    "features.0": 2,
    "features.2": 5,
    "features.5": 9,
    "features.7": 12,
    "features.10": 16,
    "features.12": 19,
    "features.14": 22,
    "features.16": 25,
    "features.19": 29,
}
ADAIN_DECODER_INDICES = {
    "conv4_1": 1,
    "conv3_4": 5,
    "conv3_3": 8,
    "conv3_2": 11,
    "conv3_1": 14,
    "conv2_2": 18,
    "conv2_1": 21,
    "conv1_2": 25,
    "conv1_1": 28,
}


def convert_fast_neural_style(
    state: Mapping[str, Tensor], *, source: str = "fast-neural-style file"
) -> ModelWeights:
    """A pytorch/examples TransformerNet state dict -> ModelWeights of TransformerNet(output="clamp")."""
    theirs = {
        k: v
        for k, v in state.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }
    ours = _pick(theirs, _FNS_CONVS, source, "a fast-neural-style TransformerNet state dict")
    used = {f"{p}.{s}" for p in _FNS_CONVS.values() for s in ("weight", "bias")}
    extra = sorted(set(theirs) - used)
    if extra:
        raise ModelFileError(
            f"{source}: unexpected keys {extra[:3]}; not a fast-neural-style TransformerNet"
        )
    ours["conv1.conv.weight"] = (
        ours["conv1.conv.weight"] * 255.0
    )  # our input is [0, 1], theirs 0-255
    ours["conv_out.conv.weight"] = ours["conv_out.conv.weight"] / 255.0  # their output is 0-255
    ours["conv_out.conv.bias"] = ours["conv_out.conv.bias"] / 255.0
    return ModelWeights(ModelSpec("johnson", output="clamp"), ours, None, source=source)


def convert_adain_release(
    vgg_state: Mapping[str, Tensor],
    decoder_state: Mapping[str, Tensor],
    *,
    source: str = "AdaIN release files",
) -> ModelWeights:
    """naoto0804/pytorch-AdaIN ``vgg_normalised.pth`` + ``decoder.pth`` state dicts -> ModelWeights of
    an AdaIN model with the Caffe VGG embedded (encoder "embedded")."""
    what = "the pytorch-AdaIN Sequential state dict"
    encoder = _pick(vgg_state, ADAIN_VGG_INDICES, f"{source} (vgg_normalised.pth)", what)
    decoder = _pick(decoder_state, ADAIN_DECODER_INDICES, f"{source} (decoder.pth)", what)
    return ModelWeights(
        ModelSpec("adain", encoder=ENCODER_EMBEDDED), decoder, encoder, source=source
    )


def _pick(
    state: Mapping[str, Tensor], names: Mapping[str, str | int], where: str, what: str
) -> dict[str, Tensor]:
    """Our `<name>.weight|bias` from their `<their name>.weight|bias` (a prefix or a Sequential index)."""
    out = {}
    for ours, theirs in names.items():
        for suffix in ("weight", "bias"):
            key = f"{theirs}.{suffix}"
            if key not in state:
                raise ModelFileError(f"{where}: lacks {key!r}; not {what}")
            out[f"{ours}.{suffix}"] = state[key].float().clone()
    return out


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """A plain state dict from a .pth file, weights-only (refuses pickled code like read_model_file)."""
    path = Path(path)
    check_regular_file(path, ModelFileError, empty="give the .pth file itself")
    obj = load_weights_only(path)
    if not isinstance(obj, Mapping):
        raise ModelFileError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    state = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, Tensor)}
    check_tensors(state, str(path))  # sparse, quantized, meta or NaN weights would import as junk
    return state


def import_files(kind: str, files: Sequence[str | os.PathLike]) -> ModelWeights:
    """`stylexfer import KIND FILE(S)`: kind "fast-neural-style" (one .pth) or "adain" (vgg_normalised.pth
    and decoder.pth, in any order: told apart by their first conv's shape)."""
    if kind in ("fast-neural-style", "johnson", "fns"):
        if len(files) != 1:
            raise ModelFileError(f"import fast-neural-style takes one .pth file, got {len(files)}")
        return convert_fast_neural_style(read_state_dict(files[0]), source=str(files[0]))
    if kind == "adain":
        if len(files) != 2:
            raise ModelFileError("import adain takes two files: vgg_normalised.pth and decoder.pth")
        states = [read_state_dict(f) for f in files]
        roles = [
            "vgg" if "0.weight" in s and tuple(s["0.weight"].shape) == (3, 3, 1, 1) else "decoder"
            for s in states
        ]
        if sorted(roles) != ["decoder", "vgg"]:
            raise ModelFileError(
                "import adain: need one vgg_normalised.pth (first layer a 1x1 conv 3->3) and one "
                f"decoder.pth; got {', '.join(roles)}"
            )
        vgg, dec = (states[0], states[1]) if roles[0] == "vgg" else (states[1], states[0])
        return convert_adain_release(vgg, dec, source=" + ".join(str(f) for f in files))
    raise ModelFileError(f"unknown import kind {kind!r}; use 'fast-neural-style' or 'adain'")
