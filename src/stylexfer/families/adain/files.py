"""The AdaIN model file: how its weights are named, how a file is recognised, what `info` says, the
pytorch-AdaIN release importer and the export graph.

safetensors: ``decoder.*`` [+ ``encoder.*``], metadata ``encoder`` ("imagenet" | "random" | "embedded")
and, for imported release files, ``statistics`` = "unbiased" (pytorch-AdaIN's σ, see net.py).
Training checkpoints: ``net.decoder.*`` [+ ``net.encoder.*`` for random VGG weights]; the encoder is
named by ``hyper_parameters["vgg_weights"]``.

AdaIN release (naoto0804/pytorch-AdaIN ``net.py``): ``vgg_normalised.pth`` is an ``nn.Sequential``
whose index 0 is the 1×1 conv 3→3 that takes [0, 1] RGB (``ToTensor()``; the conv holds the Caffe
VGG's channel swap, scaling and mean), then ReflectionPad/Conv/ReLU/MaxPool(ceil_mode) up to relu5_4;
``decoder.pth`` is the mirrored Sequential. Its convs load into VGGFeatures.normalize / features.N and
our Decoder's conv4_1 … conv1_1. Our AdaIN encoder pools with ceil_mode=True like the release and the
decoder's output is cropped to the input size, so the two agree at every size.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylexfer.errors import ModelFileError, printable
from stylexfer.families.adain.net import DECODER_LAYERS, AdaINNet
from stylexfer.files.convert import pick, read_state_dict
from stylexfer.files.spec import ENCODER_EMBEDDED, ENCODER_IMAGENET, ENCODER_RANDOM, ModelSpec, ModelWeights
from stylexfer.files.torchfile import check_archive, tensor_problem
from stylexfer.functional import adain_with_stats, channel_mean_std
from stylexfer.nets.vgg import IMAGENET_MEAN, IMAGENET_STD, RandomWeightsWarning

ENCODERS = (ENCODER_IMAGENET, ENCODER_RANDOM, ENCODER_EMBEDDED)
STATISTICS = "statistics"  # ModelSpec option: "biased" (ours, the default) or "unbiased" (the release)

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


# ------------------------------------------------------------------------------------------ read/write


def spec_of_metadata(metadata: Mapping[str, str], where: str) -> ModelSpec:
    spec = ModelSpec(kind="adain", encoder=metadata.get("encoder", ENCODER_IMAGENET),
                     options=((STATISTICS, metadata[STATISTICS]),) if STATISTICS in metadata else ())
    if spec.encoder not in ENCODERS:
        raise ModelFileError(f"{where}: unknown encoder {spec.encoder!r} in metadata")
    return spec


def metadata_of(weights: ModelWeights) -> dict[str, str]:
    spec = weights.spec
    if weights.encoder_state is not None:
        encoder = ENCODER_EMBEDDED
    elif spec.encoder in (ENCODER_IMAGENET, ENCODER_RANDOM):
        encoder = spec.encoder
    else:
        raise ModelFileError(f"encoder {spec.encoder!r} must be embedded: build the net and use weights_of()")
    return {"encoder": encoder} | dict(spec.options)


def split_tensors(spec: ModelSpec, tensors: dict[str, Tensor], where: str) -> ModelWeights:
    from stylexfer.files.modelfile import strip_prefix

    net_state = strip_prefix(tensors, "decoder.")
    encoder_state = strip_prefix(tensors, "encoder.") or None
    if spec.encoder == ENCODER_EMBEDDED and encoder_state is None:
        raise ModelFileError(f"{where}: metadata says the encoder is embedded but the file has no encoder.* tensors")
    return ModelWeights(spec, net_state, encoder_state, source=where)


def join_tensors(weights: ModelWeights) -> dict[str, Tensor]:
    tensors = {f"decoder.{k}": v for k, v in weights.net_state.items()}
    if weights.encoder_state is not None:
        tensors |= {f"encoder.{k}": v for k, v in weights.encoder_state.items()}
    return tensors


def spec_of_checkpoint(hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str) -> ModelSpec:
    """The encoder named by the checkpoint ("embedded" when its weights are in it)."""
    from stylexfer.files.modelfile import CKPT_ENCODER_KEYS, first_str

    encoder = first_str(hparams, CKPT_ENCODER_KEYS) or ENCODER_IMAGENET
    if any(k.startswith(f"{prefix}encoder.") for k in state):
        encoder = ENCODER_EMBEDDED
    return ModelSpec("adain", encoder=encoder)


def weights_of_checkpoint(spec: ModelSpec, state: Mapping[str, Tensor], prefix: str, where: str) -> ModelWeights:
    from stylexfer.files.modelfile import strip_prefix

    encoder_state = strip_prefix(state, f"{prefix}encoder.") or None
    if spec.encoder == ENCODER_RANDOM:
        warnings.warn(
            f"{os.path.basename(where)} was trained with RANDOM VGG weights: it stylizes, but its pictures show "
            "the pipeline working, not style transfer quality",
            RandomWeightsWarning,
            stacklevel=4,
        )
    if encoder_state is not None:
        spec = replace(spec, encoder=ENCODER_EMBEDDED)
    return ModelWeights(spec, strip_prefix(state, f"{prefix}decoder."), encoder_state, source=where)


def build_net(weights: ModelWeights) -> AdaINNet:
    from stylexfer.files.modelfile import load_checked, quiet_random_vgg

    spec, where = weights.spec, weights.source or "model file"
    statistics = spec.option(STATISTICS, "biased")
    if weights.encoder_state is not None:
        with quiet_random_vgg():
            adain = AdaINNet(encoder_weights=ENCODER_RANDOM, statistics=statistics)
        load_checked(adain.encoder, weights.encoder_state, where, "AdaIN encoder (VGG-19 to relu4_1)",
                     allow_missing_prefix="normalize.")
    elif spec.encoder == ENCODER_EMBEDDED:
        raise ModelFileError(f"{where}: the AdaIN encoder weights are missing from the file")
    else:
        if spec.encoder not in (ENCODER_IMAGENET, ENCODER_RANDOM):
            check_archive(spec.encoder)  # a VGG file named by the checkpoint: no zip bombs either
        # "imagenet", "random" or a VGG file (WeightsError)
        adain = AdaINNet(encoder_weights=spec.encoder, statistics=statistics)
        for key, value in adain.encoder.state_dict().items():
            problem = tensor_problem(value)
            if problem:  # a VGG file of NaN would stylize every picture black
                raise ModelFileError(
                    f"{where}: the encoder weights {printable(spec.encoder)} are unusable: {key!r} {problem}"
                )
    load_checked(adain.decoder, weights.net_state, where, "AdaIN decoder")
    return adain.eval()


def weights_of(net: nn.Module, spec: ModelSpec) -> ModelWeights:
    """The trained decoder, plus the encoder unless it is torchvision's ImageNet VGG-19 (the one encoder
    that can be rebuilt from its name: an imported Caffe VGG or random weights travel in the file)."""
    assert isinstance(net, AdaINNet)
    decoder_state = dict(net.decoder.state_dict())
    if spec.encoder == ENCODER_IMAGENET:
        return ModelWeights(spec, decoder_state)
    return ModelWeights(replace(spec, encoder=ENCODER_EMBEDDED), decoder_state, dict(net.encoder.state_dict()))


# -------------------------------------------------------------------------------------------- import


def convert_adain_release(
    vgg_state: Mapping[str, Tensor],
    decoder_state: Mapping[str, Tensor],
    *,
    source: str = "AdaIN release files",
) -> ModelWeights:
    """naoto0804/pytorch-AdaIN ``vgg_normalised.pth`` + ``decoder.pth`` state dicts -> ModelWeights of
    an AdaIN model with the Caffe VGG embedded and the release's unbiased σ."""
    what = "the pytorch-AdaIN Sequential state dict"
    encoder = pick(vgg_state, ADAIN_VGG_INDICES, f"{source} (vgg_normalised.pth)", what)
    decoder = pick(decoder_state, ADAIN_DECODER_INDICES, f"{source} (decoder.pth)", what)
    spec = ModelSpec("adain", encoder=ENCODER_EMBEDDED, options=((STATISTICS, "unbiased"),))
    return ModelWeights(spec, decoder, encoder, source=source)


def import_release(files: Sequence[str | os.PathLike]) -> ModelWeights:
    """`stylexfer import adain`: vgg_normalised.pth and decoder.pth, in any order (told apart by their
    first conv's shape)."""
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


# ---------------------------------------------------------------------------------------------- info

ARCHITECTURE = ("AdaINNet (Huang & Belongie 2017): VGG-19 encoder to relu4_1, AdaIN, mirrored decoder "
                "(nearest upsampling, no normalisation layers)")


def _count(shapes: Mapping[str, Any], prefix: str) -> int:
    import math

    return sum(math.prod(shape) for key, shape in shapes.items() if key.startswith(prefix))


def info(spec: ModelSpec, shapes: Mapping[str, Any], prefix: str,
         normalize: tuple[Tensor, Tensor] | None, random_encoder: bool) -> dict[str, Any]:
    """prefix: "" for our safetensors files, the checkpoint's net prefix ("net.") otherwise."""
    counts = {"decoder": _count(shapes, f"{prefix}decoder.")}
    if any(key.startswith(f"{prefix}encoder.") for key in shapes):
        counts["encoder"] = _count(shapes, f"{prefix}encoder.")
    if normalize is None or _is_imagenet(*normalize):
        text = "RGB in [0, 1]; ImageNet mean/std, applied by the encoder's first (1×1) convolution"
    else:
        text = ("RGB in [0, 1]; the file's own input convolution (1×1) maps it to what its VGG was trained on "
                "(the AdaIN release: Caffe's BGR, 0-255, mean subtracted)")
    if random_encoder:
        text += "; random VGG weights (the pipeline only, not style transfer)"
    return {
        "normalisation": text,
        "output_range": "decoder output clamped to [0, 1]",
        "parameters": counts,
        "encoder": spec.encoder,
        "statistics": spec.option(STATISTICS, "biased"),
    }


def _is_imagenet(weight: Tensor, bias: Tensor) -> bool:
    std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
    expected_w = torch.diag(1.0 / std).reshape(3, 3, 1, 1)
    return (weight.float().shape == expected_w.shape and torch.allclose(weight.float(), expected_w, atol=1e-4)
            and torch.allclose(bias.float(), -mean / std, atol=1e-4))


# -------------------------------------------------------------------------------------------- export


class AdaINGraph(nn.Module):
    """AdaIN for tracing: sizes of the decoder's upsamplings come from the encoder's pool inputs as
    tensors' shapes, so the traced graph keeps H×W dynamic (Decoder.forward turns sizes into ints)."""

    def __init__(self, net: AdaINNet) -> None:
        super().__init__()
        self.encoder = net.encoder
        self.decoder = net.decoder
        self.unbiased = net.statistics == "unbiased"  # the σ convention the file was made with

    def _encode(self, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        x = self.encoder.normalize(images)
        pooled_from = []
        for module in self.encoder.features:
            if isinstance(module, nn.MaxPool2d):
                pooled_from.append(x)
            x = module(x)
        return x, pooled_from

    def forward(self, content: Tensor, style: Tensor, alpha: Tensor) -> Tensor:
        features, pooled_from = self._encode(content)
        style_mean, style_std = channel_mean_std(self._encode(style)[0], unbiased=self.unbiased)
        target = adain_with_stats(features, style_mean, style_std, unbiased=self.unbiased)
        x = alpha * target + (1.0 - alpha) * features
        for name, _, _, upsample in DECODER_LAYERS:
            x = getattr(self.decoder, name)(x)
            if name == "conv1_1":
                break
            x = F.relu(x)
            if upsample:
                x = F.interpolate(x, size=pooled_from.pop().shape[-2:], mode="nearest")
        return x.clamp(0.0, 1.0)


def export_graph(net: nn.Module, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
    assert isinstance(net, AdaINNet)
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, *size, generator=g)
    style = torch.rand(1, 3, 64, 64, generator=g)
    return AdaINGraph(net).eval(), (content, style, torch.tensor([0.8]))


def export_reference(net: nn.Module, inputs: tuple) -> Tensor:
    with torch.inference_mode():
        return net(inputs[0], inputs[1], alpha=float(inputs[2])).clamp(0, 1)
