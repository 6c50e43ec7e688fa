"""Model files: read training checkpoints, our safetensors inference files and foreign state dicts
that a family converts; build the network they describe; write safetensors inference files. What is
specific to a model family (tensor names, metadata, hyper-parameters, the net) is asked of its
:class:`stylexfer.registry.Family`; this module holds the formats and the safety checks.

Nothing read here can run code: pickles go through ``torch.load(weights_only=True)`` (a file that
holds anything but tensors, numbers, strings and plain containers is refused), everything else is
safetensors. Every failure is a one-line :class:`ModelFileError`.

Supported inputs of :func:`read_model_file` (detected from the bytes, not the suffix):

- a Lightning training checkpoint (``.ckpt``): ``{"hyper_parameters": {...}, "state_dict": {...}}``
  with the trained net under ``net.`` (the family's layout; a frozen encoder is usually dropped and
  named by ``hyper_parameters["vgg_weights"]``). Our own checkpoints say what they hold in a
  ``stylexfer`` block (``{"format": 1, "model": FAMILY, "net_prefix": "net."}``, written by training
  since the first release; a checkpoint without it is refused).
- our inference file (``.safetensors``) written by :func:`write_safetensors` / ``stylexfer export``:
  metadata ``format``, ``format_version``, ``kind`` (the family) plus the family's own keys.
- a foreign plain state dict that a family recognises and converts on the fly (pytorch/examples'
  fast-neural-style ``mosaic.pth`` …).
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from stylexfer.errors import ModelFileError, one_line, printable
from stylexfer.files.atomic import atomic_write_bytes, check_output_path, exists_error
from stylexfer.files.spec import (
    ENCODER_EMBEDDED,
    ENCODER_IMAGENET,
    ENCODER_RANDOM,
    OUTPUT_MODES,
    ModelSpec,
    ModelWeights,
)
from stylexfer.files.torchfile import check_tensors, load_weights_only, tensor_problem
from stylexfer.files.userfile import check_regular_file
from stylexfer.nets.vgg import RandomWeightsWarning
from stylexfer.registry import families, get_family, import_kinds

__all__ = [
    "ENCODER_EMBEDDED", "ENCODER_IMAGENET", "ENCODER_RANDOM", "OUTPUT_MODES", "ModelSpec",
    "ModelWeights", "build_net", "check_model_file", "describe", "load_weights_only",
    "metadata_of", "read_model_file", "read_spec", "safetensors_bytes", "safetensors_header", "weights_of",
    "write_safetensors",
]

FORMAT = "stylexfer-model"
FORMAT_VERSION = "1"
# The `stylexfer` block training writes into its checkpoints (training/systems.py on_save_checkpoint).
CKPT_BLOCK = "stylexfer"
CKPT_BLOCK_FORMAT = 1
# Metadata of an inference file exported from a run with random VGG weights: `vgg_weights: random`
# (the checkpoint's own key, so `info` reads it as it reads the checkpoint's settings).
RANDOM_VGG_KEY = "vgg_weights"

# Hyper-parameter names a family reads its settings from, first present wins.
CKPT_ENCODER_KEYS = ("encoder_weights", "vgg_weights")
CKPT_OUTPUT_KEYS = ("output", "output_mode")


# --------------------------------------------------------------------------------------------- read


def read_model_file(path: str | os.PathLike) -> ModelWeights:
    """Read any supported model file (see the module docstring) without running code from it."""
    path = _existing_model_file(path)
    if is_safetensors(path):
        return _read_safetensors(path)
    return _read_pickle(path)


def read_spec(path: str | os.PathLike) -> ModelSpec:
    """What kind of model a file holds, without building the network: the safetensors header, or a
    checkpoint's `stylexfer` block / hyper-parameters with its tensors memory-mapped, not read.
    Cheap (milliseconds); refuses what read_model_file refuses about the file itself, but checks no
    weights (build_net does)."""
    path = _existing_model_file(path)
    if is_safetensors(path):
        try:
            metadata = metadata_of(path)
        except (OSError, ValueError, struct.error) as err:
            raise ModelFileError(
                f"{printable(str(path))}: not a readable safetensors file ({one_line(err)}); "
                "export it again"
            ) from err
        return _spec_of_metadata(metadata, path)
    obj = load_mapping(path, mmap=True)
    if isinstance(obj.get("state_dict"), Mapping):
        state = tensors_only(obj["state_dict"], path, check=False)
        spec, _ = _checkpoint_spec_and_prefix(obj, state, str(path))
        return spec
    for family in families():
        if family.owns_state_dict(obj):
            converted: ModelWeights = family.convert_state_dict(tensors_only(obj, path, check=False), str(path))
            return converted.spec
    raise _not_a_model(path)


def _existing_model_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    check_regular_file(path, ModelFileError, missing="no such model file",
                       empty="export or download the model again")
    return path


def is_safetensors(path: Path) -> bool:
    """Whether the file's bytes start like a safetensors file (a little-endian u64 header length, then
    a JSON object), whatever its name."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 0 < header_len <= path.stat().st_size


def _read_safetensors(path: Path) -> ModelWeights:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as err:
        raise ModelFileError(
            f"{path}: not a readable safetensors file ({one_line(err, with_type=True)}); it may be "
            "truncated, export it again"
        ) from err
    spec = _spec_of_metadata(metadata, path)
    check_tensors(tensors, str(path))
    family = get_family(spec.kind)
    weights = family.split_tensors(spec, tensors, str(path))
    left = sorted(set(tensors) - set(family.join_tensors(weights)))
    if left:  # tensors the family would drop: another family's file under this kind
        raise ModelFileError(
            f"{path}: holds tensors a {spec.kind} model has no place for ({', '.join(left[:3])}); "
            "wrong model kind in its metadata, or a damaged file"
        )
    if metadata.get(RANDOM_VGG_KEY) == ENCODER_RANDOM:  # exported from a run with random VGG weights
        warnings.warn(f"{path.name} was trained with RANDOM VGG weights: it stylizes, but its pictures show the "
                      "pipeline working, not style transfer quality", RandomWeightsWarning, stacklevel=2)
        weights = replace(weights, random_vgg=True)
    return weights


def _spec_of_metadata(metadata: Mapping[str, str], path: Path) -> ModelSpec:
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: a safetensors file without stylexfer metadata; convert foreign weights with "
            "`stylexfer import` or export a checkpoint with `stylexfer export`"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {metadata.get('format_version')!r} is not supported "
            f"(this stylexfer reads {FORMAT_VERSION}); upgrade stylexfer or export the model again"
        )
    family = get_family(metadata.get("kind", ""), where=printable(str(path)))
    return family.spec_of_metadata(metadata, str(path))


def load_mapping(path: Path, *, mmap: bool = False) -> Mapping[Any, Any]:
    """A .pth/.ckpt file's top-level mapping, loaded weights-only (no code from the file runs)."""
    obj = load_weights_only(path, mmap=mmap)
    if not isinstance(obj, Mapping):
        raise ModelFileError(f"{path}: holds a {type(obj).__name__}, not a checkpoint or state dict")
    return obj


def _read_pickle(path: Path) -> ModelWeights:
    obj = load_mapping(path)
    if isinstance(obj.get("state_dict"), Mapping):
        state = tensors_only(obj["state_dict"], path)
        spec, prefix = _checkpoint_spec_and_prefix(obj, state, str(path), raw_encoder=True)
        weights = get_family(spec.kind).weights_of_checkpoint(spec, state, prefix, str(path))
        # trained with random VGG weights (the family warns): an export keeps that fact
        return replace(weights, random_vgg=True) if spec.encoder == ENCODER_RANDOM else weights
    state = tensors_only(obj, path)
    for family in families():
        if family.owns_state_dict(state):  # a foreign layout the family converts (mosaic.pth, …)
            return family.convert_state_dict(state, str(path))
    raise _not_a_model(path)


def _not_a_model(path: Path) -> ModelFileError:
    return ModelFileError(
        f"{path}: a state dict that is neither a stylexfer checkpoint nor a layout a model family reads "
        f"directly; public release files may need `stylexfer import KIND` ({', '.join(sorted(import_kinds()))})"
    )


def _checkpoint_spec_and_prefix(
    checkpoint: Mapping[str, Any], state: Mapping[str, Tensor], source: str, *, raw_encoder: bool = False
) -> tuple[ModelSpec, str]:
    """The spec and the net's key prefix of a training checkpoint: from its `stylexfer` block when
    it has one (our own checkpoints; any other is refused).
    raw_encoder: keep the encoder the hyper-parameters name even when its weights are in the file
    (read_model_file warns about random ones, then marks them embedded)."""
    hparams = checkpoint.get("hyper_parameters", {})
    if not isinstance(hparams, Mapping):
        hparams = {}
    block = checkpoint.get(CKPT_BLOCK)
    if block is None:
        raise ModelFileError(
            f"{source}: a checkpoint without stylexfer's {CKPT_BLOCK!r} block; "
            "is it a stylexfer training checkpoint? (other layouts: `stylexfer import`)"
        )
    fmt = block.get("format") if isinstance(block, Mapping) else None
    kind = block.get("model") if isinstance(block, Mapping) else None
    prefix = block.get("net_prefix", "net.") if isinstance(block, Mapping) else None
    if not isinstance(fmt, int) or not isinstance(kind, str) or not isinstance(prefix, str):
        raise ModelFileError(
            f"{source}: its {CKPT_BLOCK!r} block is damaged (needs format, model, net_prefix)"
        )
    if fmt > CKPT_BLOCK_FORMAT:
        raise ModelFileError(
            f"{source}: checkpoint format {fmt} is newer than this stylexfer reads "
            f"({CKPT_BLOCK_FORMAT}); upgrade stylexfer"
        )
    family = get_family(kind, where=f"{source}: checkpoint")
    expected = family.checkpoint_net_prefix(prefix)
    if not any(key.startswith(expected) for key in state):
        raise ModelFileError(
            f"{source}: checkpoint says model {kind!r} but holds no {expected}* weights; file damaged?"
        )
    spec: ModelSpec = family.spec_of_checkpoint(hparams, state, prefix, source)
    if raw_encoder and spec.encoder == ENCODER_EMBEDDED:
        spec = replace(spec, encoder=first_str(hparams, CKPT_ENCODER_KEYS) or ENCODER_IMAGENET)
    return spec, prefix


def first_str(hparams: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = hparams.get(key)
        if isinstance(value, str | os.PathLike):
            return str(value)
    return None


def tensors_only(state: Mapping[Any, Any], path: Path, *, check: bool = True) -> dict[str, Tensor]:
    """The named tensors of a state dict (anything else in it is dropped); none at all is refused."""
    out = {key: value for key, value in state.items() if isinstance(key, str) and isinstance(value, Tensor)}
    if not out:
        raise ModelFileError(f"{path}: holds no weight tensors")
    if check:
        check_tensors(out, str(path))
    return out


def strip_prefix(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


# -------------------------------------------------------------------------------------------- build


@contextlib.contextmanager
def quiet_random_vgg() -> Iterator[None]:
    """Silence the random-weights warning (for a VGG whose real weights are loaded right after)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        yield


def build_net(weights: ModelWeights) -> nn.Module:
    """The network a model file describes, in eval mode on the CPU (its family builds it).

    Keys and shapes are checked against a freshly built net before loading; any mismatch, a
    non-float tensor or a NaN/inf weight is a ModelFileError naming the first offending key.
    """
    return get_family(weights.spec.kind).build_net(weights)


def load_checked(
    module: nn.Module,
    state: Mapping[str, Tensor],
    where: str,
    what: str,
    allow_missing_prefix: str | None = None,
) -> None:
    expected = module.state_dict()
    missing = [
        k
        for k in expected
        if k not in state and not (allow_missing_prefix and k.startswith(allow_missing_prefix))
    ]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise ModelFileError(
            f"{where}: weights do not fit the {what} ({detail}); wrong model kind or a foreign file?"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ModelFileError(
                f"{where}: {key!r} has shape {tuple(value.shape)} but the {what} needs "
                f"{tuple(expected[key].shape)}; wrong model kind or a damaged file"
            )
        if not value.is_floating_point():
            raise ModelFileError(
                f"{where}: {key!r} is {value.dtype}, not floating point; damaged file?"
            )
        problem = tensor_problem(value)
        if problem:
            raise ModelFileError(f"{where}: {key!r} {problem}")
    module.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)


def check_model_file(path: str | os.PathLike) -> ModelWeights:
    """Every check stylize makes of the file itself (read_model_file, then build_net's fit of each
    stored part: keys, shapes, float, finite), without loading the VGG weights a file only
    names. `stylexfer info` runs it, so info refuses exactly the files stylize refuses."""
    with quiet_random_vgg():  # info says so in its own words
        weights = read_model_file(path)
        named = weights.encoder_state is None and weights.spec.encoder not in (ENCODER_EMBEDDED, ENCODER_RANDOM)
        # an encoder the file only names (ImageNet VGG-19, a VGG file) is not the file's: built random here
        build_net(replace(weights, spec=replace(weights.spec, encoder=ENCODER_RANDOM)) if named else weights)
    return weights


# -------------------------------------------------------------------------------------------- write


def weights_of(net: nn.Module, spec: ModelSpec) -> ModelWeights:
    """The ModelWeights to export from a built net: the trained part, plus whatever the file must carry
    to be self-contained (the family decides, e.g. a frozen encoder that cannot be rebuilt by name)."""
    return get_family(spec.kind).weights_of(net, spec)


def write_safetensors(
    weights: ModelWeights, path: str | os.PathLike, *, overwrite: bool = False, random_vgg: bool = False
) -> Path:
    """Write our inference file atomically (temporary file + rename): see `safetensors_bytes`."""
    path = check_output_path(path, overwrite=overwrite, create_parents=True, error=ModelFileError)
    blob = safetensors_bytes(weights, random_vgg=random_vgg)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write_bytes(path, blob, overwrite=overwrite)
    except FileExistsError:
        raise exists_error(ModelFileError, path) from None
    except OSError as err:
        raise ModelFileError(f"{path}: cannot write the model file ({one_line(err)})") from err
    return path


def safetensors_bytes(weights: ModelWeights, *, random_vgg: bool = False) -> bytes:
    """Our inference file's bytes: the family's tensors and metadata, plus format / format_version /
    kind / stylexfer_version, and ``vgg_weights: random`` when `random_vgg` (trained with random VGG
    weights: readers warn)."""
    from safetensors.torch import save

    from stylexfer import __version__

    spec = weights.spec
    family = get_family(spec.kind)
    tensors = family.join_tensors(weights)
    metadata = family.metadata_of(weights) | {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": spec.kind,
        "stylexfer_version": __version__,
    }
    if random_vgg:
        metadata[RANDOM_VGG_KEY] = ENCODER_RANDOM
    return save(
        {k: v.detach().float().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata
    )


def describe(spec: ModelSpec) -> str:
    """One line for messages and the GUI, from the family ("… arbitrary-style (encoder: imagenet)")."""
    return get_family(spec.kind).describe(spec)


def safetensors_header(path: str | os.PathLike) -> dict[str, Any]:
    """A safetensors file's JSON header: ``__metadata__`` and, per tensor, its dtype, shape and
    offsets (no tensor read). Raises OSError, ValueError or struct.error on a damaged header."""
    path = Path(path)
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(min(length, 1 << 24)))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header


def metadata_of(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of one of our safetensors files (no tensors read)."""
    return dict(safetensors_header(path).get("__metadata__", {}))
