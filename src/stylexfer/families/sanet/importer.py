"""The SANet release (GlebSBrykin/SANET `Eval.py`) -> one state dict for SANetNet.

Its three files are plain state dicts:
- ``vgg_normalised.pth``: the ``nn.Sequential`` normalised VGG-19 that pytorch-AdaIN ships (index 0 the
  1×1 conv 3→3 on [0, 1] RGB, then ReflectionPad/Conv/ReLU/MaxPool(ceil_mode) up to relu5_4); SANet
  uses it up to relu5_1 (``vgg[:44]``), i.e. the convs at indices 2 … 42;
- ``decoder_iter_500000.pth``: AdaIN's mirrored decoder ``nn.Sequential`` (convs at 1, 5, … 28);
- ``transformer_iter_500000.pth``: the Transform module: ``sanet4_1.{f,g,h,out_conv}.{weight,bias}``,
  the same for ``sanet5_1``, and ``merge_conv.{weight,bias}``, all 512 channels (1×1, and 3×3 for the
  merge conv) — the same names as our Transform.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import torch
from torch import Tensor

from stylexfer.errors import ModelFileError, printable
from stylexfer.families.adain.files import ADAIN_DECODER_INDICES, ADAIN_VGG_INDICES  # the same VGG and decoder
from stylexfer.families.sanet.net import SANetNet
from stylexfer.files.convert import read_state_dict
from stylexfer.files.torchfile import check_tensors
from stylexfer.nets.vgg import RandomWeightsWarning

# The reference's Sequential indices of the convs past relu4_1 that SANet adds (conv4_2 … conv5_1),
# keyed by our VGGFeatures (torchvision) index.
_DEEPER_VGG_INDICES = {"features.21": 32, "features.23": 35, "features.25": 38, "features.28": 42}
SANET_VGG_INDICES = {**ADAIN_VGG_INDICES, **_DEEPER_VGG_INDICES}


def expected_shapes() -> dict[str, torch.Size]:
    """Every key of SANetNet's state dict and its shape (from a random-weight net: about 0.3 s; the meta
    device would need no memory but costs seconds to start)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        net = SANetNet(encoder_weights="random")
    return {key: value.shape for key, value in net.state_dict().items()}


def _role(state: Mapping[str, Tensor]) -> str:
    """Which release file a state dict looks like: "vgg", "decoder", "transformer" or "unknown"."""
    first = state.get("0.weight")
    if any(key.startswith(("sanet4_1.", "sanet5_1.", "merge_conv.")) for key in state):
        return "transformer"
    if first is not None and tuple(first.shape) == (3, 3, 1, 1):
        return "vgg"
    if "1.weight" in state and "28.weight" in state:
        return "decoder"
    return "unknown"


# Our Transform's convs: their keys in the release are these without "transform.".
_TRANSFORM = [f"transform.{m}.{c}" for m in ("sanet4_1", "sanet5_1") for c in ("f", "g", "h", "out_conv")]
_TRANSFORM.append("transform.merge_conv")
_FILE_NAMES = {"vgg": "vgg_normalised.pth", "decoder": "decoder_iter_*.pth", "transformer": "transformer_iter_*.pth"}


def convert_sanet_release(
    vgg_state: Mapping[str, Tensor],
    decoder_state: Mapping[str, Tensor],
    transformer_state: Mapping[str, Tensor],
    *,
    sources: tuple[str, str, str] = ("vgg_normalised.pth", "decoder.pth", "transformer.pth"),
) -> dict[str, Tensor]:
    """The three release state dicts -> SANetNet's state dict (encoder embedded), fp32 copies.

    ModelFileError (one line) for a file of the wrong kind, a missing or unexpected key, a wrong shape
    or a non-finite value; `sources` names the files in those messages.
    """
    shapes = expected_shapes()
    out: dict[str, Tensor] = {}
    plan: tuple[tuple[str, Mapping[str, Tensor], Mapping[str, str | int], bool], ...] = (
        ("vgg", vgg_state, {f"encoder.{ours}": theirs for ours, theirs in SANET_VGG_INDICES.items()}, False),
        ("decoder", decoder_state, {f"decoder.{ours}": theirs for ours, theirs in ADAIN_DECODER_INDICES.items()}, True),
        ("transformer", transformer_state, {prefix: prefix.removeprefix("transform.") for prefix in _TRANSFORM}, True),
    )
    for (role, state, names, exact), where in zip(plan, sources, strict=True):
        where = printable(where)
        found = _role(state)
        if found != role and found != "unknown":
            raise ModelFileError(
                f"{where}: looks like the SANet {found} file ({_FILE_NAMES[found]}), not the {role} file "
                f"({_FILE_NAMES[role]}); give the files in the order VGG DECODER TRANSFORMER"
            )
        used = set()
        for prefix, theirs in names.items():
            for suffix in ("weight", "bias"):
                key, ours = f"{theirs}.{suffix}", f"{prefix}.{suffix}"
                if key not in state:
                    raise ModelFileError(f"{where}: lacks {key!r}; not the SANet release's {role} file")
                if tuple(state[key].shape) != tuple(shapes[ours]):
                    raise ModelFileError(
                        f"{where}: {key!r} has shape {tuple(state[key].shape)}, SANet needs "
                        f"{tuple(shapes[ours])}; not the SANet release's {role} file"
                    )
                out[ours] = state[key].float().clone()
                used.add(key)
        extra = sorted(set(state) - used)
        if exact and extra:
            raise ModelFileError(f"{where}: unexpected keys {extra[:3]}; not the SANet release's {role} file")
        check_tensors({key: state[key] for key in used}, where)
    missing = sorted(set(shapes) - set(out))
    if missing:  # a bug in the tables above, not in the user's files
        raise AssertionError(f"SANet importer leaves {missing[:3]} unset")
    return out


def read_sanet_release(
    vgg: str | os.PathLike, decoder: str | os.PathLike, transformer: str | os.PathLike
) -> dict[str, Tensor]:
    """`stylexfer import sanet VGG DECODER TRANSFORMER`: the three .pth files -> SANetNet's state dict."""
    states = [read_state_dict(path) for path in (vgg, decoder, transformer)]
    return convert_sanet_release(*states, sources=(str(vgg), str(decoder), str(transformer)))
