"""What a model file is, without building its network: kind, architecture, input normalisation,
training steps and settings, size and SHA-256 (`stylexfer info`).

Everything comes from the cheap reads: :func:`~stylexfer.files.modelfile.read_spec` for the kind,
the safetensors header (shapes, metadata) or a checkpoint loaded with its tensors memory-mapped
(``hyper_parameters``, ``global_step``, the ``stylexfer`` block, the state dict's shapes). The only
tensor read is an encoder's 1×1 input convolution (``encoder.normalize``), to say which normalisation
it applies. The family (``Family.info``) turns shapes and that convolution into its own facts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from stylexfer.errors import ModelFileError, one_line, printable
from stylexfer.files.modelfile import (
    CKPT_BLOCK,
    CKPT_ENCODER_KEYS,
    check_model_file,
    describe,
    is_safetensors,
    load_weights_only,
    read_spec,
    safetensors_header,
)
from stylexfer.files.spec import ENCODER_RANDOM, ModelSpec
from stylexfer.registry import get_family

# Keys of the safetensors metadata that describe the format itself, not the model.
_FORMAT_KEYS = ("format", "format_version", "kind", "output", "encoder")


def model_info(path: str | os.PathLike) -> dict[str, Any]:
    """The facts about a model file, as plain JSON-ready values (see the module docstring).

    Raises ModelFileError (one line) for anything read_model_file would refuse about the file itself."""
    import pooch  # its file_hash: the downloader's SHA-256

    path = Path(path)
    check_model_file(path)  # stylize's checks: whatever stylize refuses, info refuses
    spec = read_spec(path)
    try:
        details = _safetensors_details(path, spec) if is_safetensors(path) else _pickle_details(path, spec)
    except ModelFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ModelFileError(f"{printable(str(path))}: cannot read its metadata ({one_line(err)})") from err
    shapes, prefix = details.pop("shapes"), details.pop("prefix")
    normalize = details.pop("normalize")
    settings = details.get("settings", {})
    random = spec.encoder == ENCODER_RANDOM or any(settings.get(k) == ENCODER_RANDOM for k in CKPT_ENCODER_KEYS)
    family = get_family(spec.kind)
    told = family.info(spec, shapes, prefix, normalize, random)
    facts: dict[str, Any] = {
        "file": str(path),
        "bytes": path.stat().st_size,
        "sha256": pooch.file_hash(str(path)),  # SHA-256
        "format": details.pop("format"),
        "kind": spec.kind,
        "description": describe(spec),
        "architecture": family.architecture,
        "normalisation": told.pop("normalisation"),
        "output_range": told.pop("output_range"),
        "parameters": told.pop("parameters"),
    }
    facts.update(told)
    facts.update(details)
    return facts


def _safetensors_details(path: Path, spec: ModelSpec) -> dict[str, Any]:
    header = safetensors_header(path)
    metadata = dict(header.pop("__metadata__", {}))
    shapes = {key: entry["shape"] for key, entry in header.items()}
    normalize = None
    if "encoder.normalize.weight" in shapes:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as handle:
            normalize = (handle.get_tensor("encoder.normalize.weight"), handle.get_tensor("encoder.normalize.bias"))
    return {
        "format": f"stylexfer inference file (safetensors, format version {metadata.get('format_version')})",
        "shapes": shapes,
        "prefix": "",
        "normalize": normalize,
        "trained_steps": None,  # an inference file keeps no training state
        "settings": {k: v for k, v in metadata.items() if k not in _FORMAT_KEYS},
    }


def _pickle_details(path: Path, spec: ModelSpec) -> dict[str, Any]:
    obj = load_weights_only(path, mmap=True)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        state = {k: v for k, v in obj["state_dict"].items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        block = obj.get(CKPT_BLOCK)
        prefix = block.get("net_prefix", "net.") if isinstance(block, Mapping) else "net."
        hparams = obj.get("hyper_parameters")
        steps = obj.get("global_step")
        shapes = {k: tuple(v.shape) for k, v in state.items()}
        weight = state.get(f"{prefix}encoder.normalize.weight")
        bias = state.get(f"{prefix}encoder.normalize.bias")
        what = f"format {block.get('format')}" if isinstance(block, Mapping) else "no stylexfer block"
        epoch = obj.get("epoch")
        return {
            "format": f"training checkpoint ({what})",
            "shapes": shapes,
            "prefix": prefix,
            "normalize": (weight, bias) if weight is not None and bias is not None else None,
            "trained_steps": steps if isinstance(steps, int) else None,
            **({"epoch": epoch} if isinstance(epoch, int) else {}),
            "settings": {str(k): _plain(v) for k, v in sorted(hparams.items())} if isinstance(hparams, Mapping) else {},
        }
    assert isinstance(obj, Mapping)  # read_spec accepted it: a fast-neural-style state dict
    shapes = {k: tuple(v.shape) for k, v in obj.items() if isinstance(v, torch.Tensor) and "running_" not in k}
    return {
        "format": "fast-neural-style state dict (pytorch/examples), converted when loaded",
        "shapes": {f"net.{k}": s for k, s in shapes.items()},
        "prefix": "net.",
        "normalize": None,
        "trained_steps": None,
        "settings": {},
    }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
