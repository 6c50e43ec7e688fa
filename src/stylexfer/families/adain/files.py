"""The AdaIN model file: how its weights are named, how a file is recognised, what `info` says, the
pytorch-AdaIN release importer and the export graph.

safetensors: ``decoder.*`` [+ ``encoder.*``], metadata ``encoder`` ("imagenet" | "random" | "embedded"),
for imported release files ``statistics`` = "unbiased" (pytorch-AdaIN's σ, see net.py), and for models
trained with EFDM ``transfer`` = "efdm" (absent: "adain", so files written before it load unchanged).
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from stylexfer.errors import ModelFileError, printable
from stylexfer.families.adain.net import TRANSFERS, AdaINNet
from stylexfer.files.convert import pick, read_state_dict
from stylexfer.files.spec import ENCODER_EMBEDDED, ENCODER_IMAGENET, ENCODER_RANDOM, ModelSpec, ModelWeights
from stylexfer.files.torchfile import check_archive, tensor_problem
from stylexfer.nets.codes import StyleCode
from stylexfer.nets.vgg import IMAGENET_MEAN, IMAGENET_STD, RandomWeightsWarning

# The encoder handling below is shared with SANet, whose layout is AdaIN's plus a transform.
ENCODERS = (ENCODER_IMAGENET, ENCODER_RANDOM, ENCODER_EMBEDDED)
STATISTICS = "statistics"  # ModelSpec option: "biased" (ours, the default) or "unbiased" (the release)
TRANSFER = "transfer"  # ModelSpec option: "adain" (the default) or "efdm" (net.TRANSFERS)

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


def encoder_of_metadata(metadata: Mapping[str, str], where: str) -> str:
    encoder = metadata.get("encoder", ENCODER_IMAGENET)
    if encoder not in ENCODERS:
        raise ModelFileError(f"{where}: unknown encoder {encoder!r} in metadata")
    return encoder


def spec_of_metadata(metadata: Mapping[str, str], where: str) -> ModelSpec:
    spec = ModelSpec(kind="adain", encoder=encoder_of_metadata(metadata, where),
                     options=tuple((key, metadata[key]) for key in (STATISTICS, TRANSFER) if key in metadata))
    if spec.option(TRANSFER, "adain") not in TRANSFERS:
        raise ModelFileError(f"{where}: unknown transfer {printable(spec.option(TRANSFER, ''))!r} in metadata "
                             f"(expected one of {', '.join(TRANSFERS)})")
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

    return weights_with_encoder(spec, strip_prefix(tensors, "decoder."), strip_prefix(tensors, "encoder."), where)


def weights_with_encoder(spec: ModelSpec, net_state: dict[str, Tensor], encoder_state: dict[str, Tensor],
                         where: str) -> ModelWeights:
    """A file's weights; an empty `encoder_state` means none (then the spec must name the encoder)."""
    if spec.encoder == ENCODER_EMBEDDED and not encoder_state:
        raise ModelFileError(f"{where}: metadata says the encoder is embedded but the file has no encoder.* tensors")
    return ModelWeights(spec, net_state, encoder_state or None, source=where)


def join_tensors(weights: ModelWeights) -> dict[str, Tensor]:
    tensors = {f"decoder.{k}": v for k, v in weights.net_state.items()}
    if weights.encoder_state is not None:
        tensors |= {f"encoder.{k}": v for k, v in weights.encoder_state.items()}
    return tensors


def checkpoint_encoder(hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str) -> str:
    """The encoder named by the checkpoint ("embedded" when its weights are in it)."""
    from stylexfer.files.modelfile import CKPT_ENCODER_KEYS, first_str

    if any(k.startswith(f"{prefix}encoder.") for k in state):
        return ENCODER_EMBEDDED
    return first_str(hparams, CKPT_ENCODER_KEYS) or ENCODER_IMAGENET


def spec_of_checkpoint(hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str, where: str) -> ModelSpec:
    encoder = checkpoint_encoder(hparams, state, prefix)
    transfer = hparams.get(TRANSFER, "adain")
    if transfer not in TRANSFERS:
        raise ModelFileError(f"unknown transfer {printable(str(transfer))!r} in the checkpoint's hyper-parameters")
    # "adain" stays implicit: its files are byte for byte those written before the option existed
    return ModelSpec("adain", encoder=encoder, options=((TRANSFER, transfer),) if transfer != "adain" else ())


def warn_if_random(spec: ModelSpec, where: str) -> None:
    if spec.encoder == ENCODER_RANDOM:
        warnings.warn(
            f"{os.path.basename(where)} was trained with RANDOM VGG weights: it stylizes, but its pictures show "
            "the pipeline working, not style transfer quality",
            RandomWeightsWarning,
            stacklevel=5,  # the code that asked for the checkpoint (4 from weights_of_checkpoint)
        )


def weights_of_checkpoint(spec: ModelSpec, state: Mapping[str, Tensor], prefix: str, where: str) -> ModelWeights:
    from stylexfer.files.modelfile import strip_prefix

    encoder_state = strip_prefix(state, f"{prefix}encoder.") or None
    warn_if_random(spec, where)
    if encoder_state is not None:
        spec = replace(spec, encoder=ENCODER_EMBEDDED)
    return ModelWeights(spec, strip_prefix(state, f"{prefix}decoder."), encoder_state, source=where)


Net = TypeVar("Net", bound=nn.Module)


def build_with_encoder(make: Callable[..., Net], weights: ModelWeights, model: str, last_layer: str) -> Net:
    """make(encoder_weights=…) with the file's encoder: embedded weights loaded and checked, or the one the
    spec names ("imagenet", "random" or a VGG file) checked for unusable tensors (ModelFileError)."""
    from stylexfer.files.modelfile import load_checked, quiet_random_vgg

    spec, where = weights.spec, weights.source or "model file"
    if weights.encoder_state is not None:
        with quiet_random_vgg():
            net = make(encoder_weights=ENCODER_RANDOM)
        load_checked(net.get_submodule("encoder"), weights.encoder_state, where,
                     f"{model} encoder (VGG-19 to {last_layer})", allow_missing_prefix="normalize.")
        return net
    if spec.encoder == ENCODER_EMBEDDED:
        raise ModelFileError(f"{where}: the {model} encoder weights are missing from the file")
    if spec.encoder not in (ENCODER_IMAGENET, ENCODER_RANDOM):
        check_archive(spec.encoder)  # a VGG file named by the checkpoint: no zip bombs either
    net = make(encoder_weights=spec.encoder)  # "imagenet", "random" or a VGG file (WeightsError)
    for key, value in net.get_submodule("encoder").state_dict().items():
        problem = tensor_problem(value)
        if problem:  # a VGG file of NaN would stylize every picture black
            raise ModelFileError(
                f"{where}: the encoder weights {printable(spec.encoder)} are unusable: {key!r} {problem}"
            )
    return net


def build_net(weights: ModelWeights) -> AdaINNet:
    from stylexfer.files.modelfile import load_checked

    statistics, transfer = weights.spec.option(STATISTICS, "biased"), weights.spec.option(TRANSFER, "adain")
    adain = build_with_encoder(partial(AdaINNet, statistics=statistics, transfer=transfer), weights, "AdaIN", "relu4_1")
    load_checked(adain.decoder, weights.net_state, weights.source or "model file", "AdaIN decoder")
    return adain.eval()


def weights_and_encoder(spec: ModelSpec, net_state: dict[str, Tensor], encoder: nn.Module) -> ModelWeights:
    """The trained parts, plus the encoder unless it is torchvision's ImageNet VGG-19 (the one encoder
    that can be rebuilt from its name: an imported Caffe VGG or random weights travel in the file)."""
    if spec.encoder == ENCODER_IMAGENET:
        return ModelWeights(spec, net_state)
    return ModelWeights(replace(spec, encoder=ENCODER_EMBEDDED), net_state, dict(encoder.state_dict()))


def weights_of(net: nn.Module, spec: ModelSpec) -> ModelWeights:
    assert isinstance(net, AdaINNet)
    return weights_and_encoder(spec, dict(net.decoder.state_dict()), net.encoder)


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


def _count(shapes: Mapping[str, Any], prefix: str) -> int:
    import math

    return sum(math.prod(shape) for key, shape in shapes.items() if key.startswith(prefix))


def encoder_info(spec: ModelSpec, shapes: Mapping[str, Any], prefix: str, normalize: tuple[Tensor, Tensor] | None,
                 random_encoder: bool, parts: Sequence[str], release: str) -> dict[str, Any]:
    """`info` of a VGG-encoder model with these trained `parts` ("decoder." …), from `release` if imported.
    prefix: "" for our safetensors files, the checkpoint's net prefix ("net.") otherwise."""
    counts = {part.rstrip("."): _count(shapes, f"{prefix}{part}") for part in parts}
    if any(key.startswith(f"{prefix}encoder.") for key in shapes):
        counts["encoder"] = _count(shapes, f"{prefix}encoder.")
    if normalize is None or _is_imagenet(*normalize):
        text = "RGB in [0, 1]; ImageNet mean/std, applied by the encoder's first (1×1) convolution"
    else:
        text = ("RGB in [0, 1]; the file's own input convolution (1×1) maps it to what its VGG was trained on "
                f"(the {release} release: Caffe's BGR, 0-255, mean subtracted)")
    if random_encoder:
        text += "; random VGG weights (the pipeline only, not style transfer)"
    return {
        "normalisation": text,
        "output_range": "decoder output clamped to [0, 1]",
        "parameters": counts,
        "encoder": spec.encoder,
    }


def info(spec: ModelSpec, shapes: Mapping[str, Any], prefix: str,
         normalize: tuple[Tensor, Tensor] | None, random_encoder: bool) -> dict[str, Any]:
    return encoder_info(spec, shapes, prefix, normalize, random_encoder, ("decoder.",), "AdaIN") | {
        "statistics": spec.option(STATISTICS, "biased"),
        "transfer": spec.option(TRANSFER, "adain"),
    }


def _is_imagenet(weight: Tensor, bias: Tensor) -> bool:
    std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
    expected_w = torch.diag(1.0 / std).reshape(3, 3, 1, 1)
    return (weight.float().shape == expected_w.shape and torch.allclose(weight.float(), expected_w, atol=1e-4)
            and torch.allclose(bias.float(), -mean / std, atol=1e-4))


# -------------------------------------------------------------------------------------------- export


class AdaINGraph(AdaINNet):
    """The net for tracing: AdaINNet.forward itself with α as a tensor input, clamped like the Stylizer's
    output. The decoder crops to the content's traced shape and its upsamplings use scale factors, so the
    graph keeps H×W dynamic; EFDM's sort and rank resampling (functional.resample_sorted) have no
    size-dependent branch."""

    def __init__(self, net: AdaINNet) -> None:
        nn.Module.__init__(self)  # share net's modules and settings instead of building a VGG again
        self.statistics, self.transfer = net.statistics, net.transfer
        self.encoder, self.decoder = net.encoder, net.decoder  # the exported files' keys: encoder.*, decoder.*

    def forward(self, content: Tensor, style: Tensor | StyleCode, alpha: float | Tensor = 1.0) -> Tensor:
        if self.transfer == "efdm" and torch.onnx.is_in_onnx_export():
            # The exporter has no stable Sort; with TopK (ties by index) onnxruntime's convolutions, about
            # 1e-6 off PyTorch's, swap the ranks of near-equal features and the pictures differ by up to
            # 5e-4, over the 1e-4 that an export must meet. TorchScript runs PyTorch's kernels: exact.
            raise ModelFileError("ONNX export of an EFDM model is not supported (its rank matching does not "
                                 "reproduce within 1e-4 in onnxruntime); TorchScript export is")
        return super().forward(content, style, alpha).clamp(0.0, 1.0)


def example_inputs(size: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
    """(content of `size`, a 64×64 style, α) for tracing a content-style-α graph."""
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, *size, generator=g)
    style = torch.rand(1, 3, 64, 64, generator=g)
    return content, style, torch.tensor([0.8])


def export_graph(net: nn.Module, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
    assert isinstance(net, AdaINNet)
    return AdaINGraph(net).eval(), example_inputs(size)


def export_reference(net: nn.Module, inputs: tuple) -> Tensor:
    """The model's own picture for the example inputs (SANet's too: same inputs, same call)."""
    with torch.inference_mode():
        return net(inputs[0], inputs[1], alpha=float(inputs[2])).clamp(0, 1)
