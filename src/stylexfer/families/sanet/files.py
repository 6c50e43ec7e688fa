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

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from torch import Tensor, nn

from stylexfer.errors import ModelFileError
from stylexfer.families.adain import files as adain  # the same VGG-19 encoder and decoder
from stylexfer.families.sanet.net import SANetNet
from stylexfer.files.spec import ENCODER_EMBEDDED, ModelSpec, ModelWeights

PARTS = ("decoder.", "transform.")  # the trained parts, in every file
metadata_of = adain.metadata_of  # "encoder" (a SANet spec has no options)
export_reference = adain.export_reference  # the same inputs and call

# ------------------------------------------------------------------------------------------ read/write


def spec_of_metadata(metadata: Mapping[str, str], where: str) -> ModelSpec:
    return ModelSpec(kind="sanet", encoder=adain.encoder_of_metadata(metadata, where))


def _split(state: Mapping[str, Tensor], prefix: str, where: str, spec: ModelSpec) -> ModelWeights:
    """`prefix`decoder.* / transform.* / encoder.* -> ModelWeights; anything else is refused."""
    from stylexfer.files.modelfile import strip_prefix

    ours = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    unknown = sorted(key for key in ours if not key.startswith((*PARTS, "encoder.")))
    if unknown:
        raise ModelFileError(f"{where}: unexpected tensors {unknown[:3]} in a SANet file; wrong model kind?")
    net_state = {key: value for key, value in ours.items() if key.startswith(PARTS)}
    return adain.weights_with_encoder(spec, net_state, strip_prefix(ours, "encoder."), where)


def split_tensors(spec: ModelSpec, tensors: dict[str, Tensor], where: str) -> ModelWeights:
    return _split(tensors, "", where, spec)


def join_tensors(weights: ModelWeights) -> dict[str, Tensor]:
    tensors = dict(weights.net_state)
    if weights.encoder_state is not None:
        tensors |= {f"encoder.{k}": v for k, v in weights.encoder_state.items()}
    return tensors


def spec_of_checkpoint(hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str, where: str) -> ModelSpec:
    return ModelSpec("sanet", encoder=adain.checkpoint_encoder(hparams, state, prefix))


def weights_of_checkpoint(spec: ModelSpec, state: Mapping[str, Tensor], prefix: str, where: str) -> ModelWeights:
    adain.warn_if_random(spec, where)
    weights = _split(state, prefix, where, spec)
    if weights.encoder_state is not None:
        weights = replace(weights, spec=replace(spec, encoder=ENCODER_EMBEDDED))
    return weights


def build_net(weights: ModelWeights) -> SANetNet:
    """SANetNet with the file's weights; keys, shapes, dtype and finiteness checked (ModelFileError)."""
    from stylexfer.files.modelfile import load_checked, strip_prefix

    where = weights.source or "model file"
    for part, name in (("decoder.", "decoder"), ("transform.", "transformer (the style-attention modules)")):
        if not any(key.startswith(part) for key in weights.net_state):
            raise ModelFileError(f"{where}: the SANet {name} weights ({part}*) are missing from the file")
    net = adain.build_with_encoder(SANetNet, weights, "SANet", "relu5_1")
    load_checked(net.decoder, strip_prefix(weights.net_state, "decoder."), where, "SANet decoder")
    load_checked(net.transform, strip_prefix(weights.net_state, "transform."), where, "SANet transformer")
    return net.eval()


def weights_of(net: nn.Module, spec: ModelSpec) -> ModelWeights:
    """The trained transform and decoder, plus the encoder unless it is torchvision's ImageNet VGG-19."""
    assert isinstance(net, SANetNet)
    state = {f"decoder.{k}": v for k, v in net.decoder.state_dict().items()}
    state |= {f"transform.{k}": v for k, v in net.transform.state_dict().items()}
    return adain.weights_and_encoder(spec, state, net.encoder)


# -------------------------------------------------------------------------------------------- import


def import_release(files: Sequence[str | os.PathLike]) -> ModelWeights:
    """`stylexfer import sanet VGG DECODER TRANSFORMER`: GlebSBrykin/SANET's vgg_normalised.pth,
    decoder_iter_*.pth and transformer_iter_*.pth -> one file with the Caffe VGG embedded."""
    from stylexfer.families.sanet.importer import read_sanet_release

    if len(files) != 3:
        raise ModelFileError("import sanet takes three files: vgg_normalised.pth decoder_iter_*.pth "
                             "transformer_iter_*.pth (GlebSBrykin/SANET's release), in that order")
    source = " + ".join(str(f) for f in files)
    return _split(read_sanet_release(*files), "", source, ModelSpec("sanet", encoder=ENCODER_EMBEDDED))


# ---------------------------------------------------------------------------------------------- info


def info(spec: ModelSpec, shapes: Mapping[str, Any], prefix: str,
         normalize: tuple[Tensor, Tensor] | None, random_encoder: bool) -> dict[str, Any]:
    facts = adain.encoder_info(spec, shapes, prefix, normalize, random_encoder, ("transform.", "decoder."), "SANet")
    return facts | {"statistics": "unbiased"}


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
    return SANetGraph(net).eval(), adain.example_inputs(size)
