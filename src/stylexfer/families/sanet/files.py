"""The SANet model file: how its weights are named, how a file is recognised, what `info` says, the
GlebSBrykin/SANET release importer and the export graph.

safetensors: ``decoder.*`` and ``transform.*`` (the trained parts) [+ ``encoder.*``], metadata
``encoder`` ("imagenet" | "random" | "embedded"). ModelWeights.net_state keeps the part prefixes
(``decoder.conv4_1.weight``, ``transform.sanet4_1.f.weight``, …), the keys of SANetNet's state dict.
Training checkpoints: ``net.decoder.*``, ``net.transform.*`` [+ ``net.encoder.*`` for random VGG
weights]; the encoder is named by ``hyper_parameters["vgg_weights"]``.

σ: SANet uses the unbiased variance everywhere (net.mean_std), as the reference: no option is stored.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from stylexfer.errors import ModelFileError, printable
from stylexfer.families.sanet.net import SANetNet
from stylexfer.files.spec import ENCODER_EMBEDDED, ENCODER_IMAGENET, ENCODER_RANDOM, ModelSpec, ModelWeights
from stylexfer.files.torchfile import check_archive, tensor_problem
from stylexfer.nets.vgg import IMAGENET_MEAN, IMAGENET_STD, RandomWeightsWarning

ENCODERS = (ENCODER_IMAGENET, ENCODER_RANDOM, ENCODER_EMBEDDED)
PARTS = ("decoder.", "transform.")  # the trained parts, in every file

# ------------------------------------------------------------------------------------------ read/write


def spec_of_metadata(metadata: Mapping[str, str], where: str) -> ModelSpec:
    spec = ModelSpec(kind="sanet", encoder=metadata.get("encoder", ENCODER_IMAGENET))
    if spec.encoder not in ENCODERS:
        raise ModelFileError(f"{where}: unknown encoder {spec.encoder!r} in metadata")
    return spec


def metadata_of(weights: ModelWeights) -> dict[str, str]:
    spec = weights.spec
    if weights.encoder_state is not None:
        return {"encoder": ENCODER_EMBEDDED}
    if spec.encoder in (ENCODER_IMAGENET, ENCODER_RANDOM):
        return {"encoder": spec.encoder}
    raise ModelFileError(f"encoder {spec.encoder!r} must be embedded: build the net and use weights_of()")


def _split(state: Mapping[str, Tensor], prefix: str, where: str, spec: ModelSpec) -> ModelWeights:
    """`prefix`decoder.* / transform.* / encoder.* -> ModelWeights; anything else is refused."""
    from stylexfer.files.modelfile import strip_prefix

    ours = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    unknown = sorted(key for key in ours if not key.startswith((*PARTS, "encoder.")))
    if unknown:
        raise ModelFileError(f"{where}: unexpected tensors {unknown[:3]} in a SANet file; wrong model kind?")
    net_state = {key: value for key, value in ours.items() if key.startswith(PARTS)}
    encoder_state = strip_prefix(ours, "encoder.") or None
    if spec.encoder == ENCODER_EMBEDDED and encoder_state is None:
        raise ModelFileError(f"{where}: metadata says the encoder is embedded but the file has no encoder.* tensors")
    return ModelWeights(spec, net_state, encoder_state, source=where)


def split_tensors(spec: ModelSpec, tensors: dict[str, Tensor], where: str) -> ModelWeights:
    return _split(tensors, "", where, spec)


def join_tensors(weights: ModelWeights) -> dict[str, Tensor]:
    tensors = dict(weights.net_state)
    if weights.encoder_state is not None:
        tensors |= {f"encoder.{k}": v for k, v in weights.encoder_state.items()}
    return tensors


def spec_of_checkpoint(hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str, where: str) -> ModelSpec:
    """The encoder named by the checkpoint ("embedded" when its weights are in it)."""
    from stylexfer.files.modelfile import CKPT_ENCODER_KEYS, first_str

    encoder = first_str(hparams, CKPT_ENCODER_KEYS) or ENCODER_IMAGENET
    if any(k.startswith(f"{prefix}encoder.") for k in state):
        encoder = ENCODER_EMBEDDED
    return ModelSpec("sanet", encoder=encoder)


def weights_of_checkpoint(spec: ModelSpec, state: Mapping[str, Tensor], prefix: str, where: str) -> ModelWeights:
    if spec.encoder == ENCODER_RANDOM:
        warnings.warn(
            f"{os.path.basename(where)} was trained with RANDOM VGG weights: it stylizes, but its pictures show "
            "the pipeline working, not style transfer quality",
            RandomWeightsWarning,
            stacklevel=4,
        )
    weights = _split(state, prefix, where, spec)
    if weights.encoder_state is not None:
        weights = replace(weights, spec=replace(spec, encoder=ENCODER_EMBEDDED))
    return weights


def build_net(weights: ModelWeights) -> SANetNet:
    """SANetNet with the file's weights; keys, shapes, dtype and finiteness checked (ModelFileError)."""
    from stylexfer.files.modelfile import load_checked, quiet_random_vgg, strip_prefix

    spec, where = weights.spec, weights.source or "model file"
    for part, name in (("decoder.", "decoder"), ("transform.", "transformer (the style-attention modules)")):
        if not any(key.startswith(part) for key in weights.net_state):
            raise ModelFileError(f"{where}: the SANet {name} weights ({part}*) are missing from the file")
    if weights.encoder_state is not None:
        with quiet_random_vgg():
            net = SANetNet(encoder_weights=ENCODER_RANDOM)
        load_checked(net.encoder, weights.encoder_state, where, "SANet encoder (VGG-19 to relu5_1)",
                     allow_missing_prefix="normalize.")
    elif spec.encoder == ENCODER_EMBEDDED:
        raise ModelFileError(f"{where}: the SANet encoder weights are missing from the file")
    else:
        if spec.encoder not in (ENCODER_IMAGENET, ENCODER_RANDOM):
            check_archive(spec.encoder)
        net = SANetNet(encoder_weights=spec.encoder)  # "imagenet", "random" or a VGG file (WeightsError)
        for key, value in net.encoder.state_dict().items():
            problem = tensor_problem(value)
            if problem:
                raise ModelFileError(
                    f"{where}: the encoder weights {printable(spec.encoder)} are unusable: {key!r} {problem}"
                )
    load_checked(net.decoder, strip_prefix(weights.net_state, "decoder."), where, "SANet decoder")
    load_checked(net.transform, strip_prefix(weights.net_state, "transform."), where, "SANet transformer")
    return net.eval()


def weights_of(net: nn.Module, spec: ModelSpec) -> ModelWeights:
    """The trained transform and decoder, plus the encoder unless it is torchvision's ImageNet VGG-19."""
    assert isinstance(net, SANetNet)
    state = {f"decoder.{k}": v for k, v in net.decoder.state_dict().items()}
    state |= {f"transform.{k}": v for k, v in net.transform.state_dict().items()}
    if spec.encoder == ENCODER_IMAGENET:
        return ModelWeights(spec, state)
    return ModelWeights(replace(spec, encoder=ENCODER_EMBEDDED), state, dict(net.encoder.state_dict()))


# -------------------------------------------------------------------------------------------- import


def import_release(files: Sequence[str | os.PathLike]) -> ModelWeights:
    """`stylexfer import sanet VGG DECODER TRANSFORMER`: GlebSBrykin/SANET's vgg_normalised.pth,
    decoder_iter_*.pth and transformer_iter_*.pth -> one file with the Caffe VGG embedded."""
    from stylexfer.families.sanet.importer import read_sanet_release

    if len(files) != 3:
        raise ModelFileError("import sanet takes three files: vgg_normalised.pth decoder_iter_*.pth "
                             "transformer_iter_*.pth (GlebSBrykin/SANET's release), in that order")
    state = read_sanet_release(*files)
    source = " + ".join(str(f) for f in files)
    encoder = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    net_state = {k: v for k, v in state.items() if k.startswith(PARTS)}
    return ModelWeights(ModelSpec("sanet", encoder=ENCODER_EMBEDDED), net_state, encoder, source=source)


# ---------------------------------------------------------------------------------------------- info

def _count(shapes: Mapping[str, Any], prefix: str) -> int:
    return sum(math.prod(shape) for key, shape in shapes.items() if key.startswith(prefix))


def info(spec: ModelSpec, shapes: Mapping[str, Any], prefix: str,
         normalize: tuple[Tensor, Tensor] | None, random_encoder: bool) -> dict[str, Any]:
    """prefix: "" for our safetensors files, the checkpoint's net prefix ("net.") otherwise."""
    counts = {"transform": _count(shapes, f"{prefix}transform."), "decoder": _count(shapes, f"{prefix}decoder.")}
    if any(key.startswith(f"{prefix}encoder.") for key in shapes):
        counts["encoder"] = _count(shapes, f"{prefix}encoder.")
    if normalize is None or _is_imagenet(*normalize):
        text = "RGB in [0, 1]; ImageNet mean/std, applied by the encoder's first (1×1) convolution"
    else:
        text = ("RGB in [0, 1]; the file's own input convolution (1×1) maps it to what its VGG was trained on "
                "(the SANet release: Caffe's BGR, 0-255, mean subtracted)")
    if random_encoder:
        text += "; random VGG weights (the pipeline only, not style transfer)"
    return {
        "normalisation": text,
        "output_range": "decoder output clamped to [0, 1]",
        "parameters": counts,
        "encoder": spec.encoder,
        "statistics": "unbiased",
    }


def _is_imagenet(weight: Tensor, bias: Tensor) -> bool:
    std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
    expected_w = torch.diag(1.0 / std).reshape(3, 3, 1, 1)
    return (weight.float().shape == expected_w.shape and torch.allclose(weight.float(), expected_w, atol=1e-4)
            and torch.allclose(bias.float(), -mean / std, atol=1e-4))


# -------------------------------------------------------------------------------------------- export


class SANetGraph(nn.Module):
    """SANet for tracing: D(α·T(c, s) + (1 − α)·T(c, c)) clamped, α a tensor input (so T(c, c) is always
    computed). The decoder's crop and the transform's odd-size crop take their sizes from tensors'
    shapes, so the traced graph keeps H×W dynamic."""

    def __init__(self, net: SANetNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, content: Tensor, style: Tensor, alpha: Tensor) -> Tensor:
        net = self.net
        c, s = net.encode_style(content), net.encode_style(style)
        styled = net.transform(c.relu4_1, s.relu4_1, c.relu5_1, s.relu5_1)
        own = net.transform(c.relu4_1, c.relu4_1, c.relu5_1, c.relu5_1)
        x = alpha * styled + (1.0 - alpha) * own
        return net.decoder(x, size=content.shape[-2:]).clamp(0.0, 1.0)


def export_graph(net: nn.Module, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
    assert isinstance(net, SANetNet)
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, *size, generator=g)
    style = torch.rand(1, 3, 64, 64, generator=g)
    return SANetGraph(net).eval(), (content, style, torch.tensor([0.8]))


def export_reference(net: nn.Module, inputs: tuple) -> Tensor:
    assert isinstance(net, SANetNet)
    with torch.inference_mode():
        return net(inputs[0], inputs[1], alpha=float(inputs[2])).clamp(0, 1)
