"""What a model file is, without building its network: kind, architecture, input normalisation,
training steps and settings, size and SHA-256 (`stylexfer info`).

Everything comes from the cheap reads: :func:`~stylexfer.files.modelfile.read_spec` for the kind,
the safetensors header (shapes, metadata) or a checkpoint loaded with its tensors memory-mapped
(``hyper_parameters``, ``global_step``, the ``stylexfer`` block, the state dict's shapes). The only
tensor read is the AdaIN encoder's 3×3 input convolution, to say which normalisation it applies.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from stylexfer.errors import ModelFileError, one_line, printable
from stylexfer.files.download import sha256_of
from stylexfer.files.modelfile import (
    CKPT_BLOCK,
    CKPT_ENCODER_KEYS,
    check_model_file,
    describe,
    load_weights_only,
    read_spec,
    safetensors_header,
)
from stylexfer.files.spec import ENCODER_RANDOM, ModelSpec
from stylexfer.nets.vgg import IMAGENET_MEAN, IMAGENET_STD

ARCHITECTURE = {
    "johnson": "TransformerNet (Johnson et al. 2016): 3 convolutions down, 5 residual blocks, "
               "2 nearest-upsampling convolutions, a 9×9 output convolution; instance norm",
    "adain": "AdaINNet (Huang & Belongie 2017): VGG-19 encoder to relu4_1, AdaIN, mirrored decoder "
             "(nearest upsampling, no normalisation layers)",
}
# Keys of the safetensors metadata that describe the format itself, not the model.
_FORMAT_KEYS = ("format", "format_version", "kind", "output", "encoder")


def model_info(path: str | os.PathLike) -> dict[str, Any]:
    """The facts about a model file, as plain JSON-ready values (see the module docstring).

    Raises ModelFileError (one line) for anything read_model_file would refuse about the file itself."""
    path = Path(path)
    check_model_file(path)  # stylize's checks: whatever stylize refuses, info refuses
    spec = read_spec(path)
    try:
        details = _safetensors_details(path, spec) if _is_safetensors(path) else _pickle_details(path, spec)
    except ModelFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ModelFileError(f"{printable(str(path))}: cannot read its metadata ({one_line(err)})") from err
    parameters = details.pop("parameters")
    normalize = details.pop("normalize")
    settings = details.get("settings", {})
    random = spec.encoder == ENCODER_RANDOM or any(settings.get(k) == ENCODER_RANDOM for k in CKPT_ENCODER_KEYS)
    facts: dict[str, Any] = {
        "file": str(path),
        "bytes": path.stat().st_size,
        "sha256": sha256_of(path),
        "format": details.pop("format"),
        "kind": spec.kind,
        "description": describe(spec),
        "architecture": ARCHITECTURE[spec.kind],
        "normalisation": input_normalisation(spec, normalize, random_encoder=random),
        "output_range": _output(spec),
        "parameters": parameters,
    }
    if spec.kind == "adain":
        facts["encoder"] = spec.encoder
    facts.update(details)
    return facts


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _count(shapes: Mapping[str, Any], prefix: str) -> int:
    return sum(math.prod(shape) for key, shape in shapes.items() if key.startswith(prefix))


def _parameters(spec: ModelSpec, shapes: Mapping[str, Any], net: str, decoder: str, encoder: str) -> dict[str, int]:
    """Weights per part: Johnson's net; AdaIN's decoder and, when the file carries it, its encoder."""
    if spec.kind == "johnson":
        return {"net": _count(shapes, net)}
    counts = {"decoder": _count(shapes, decoder)}
    if any(key.startswith(encoder) for key in shapes):
        counts["encoder"] = _count(shapes, encoder)
    return counts


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
        "parameters": _parameters(spec, shapes, "net.", "decoder.", "encoder."),
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
        what = f"format {block.get('format')}" if isinstance(block, Mapping) else "no stylexfer block: kind guessed"
        epoch = obj.get("epoch")
        return {
            "format": f"training checkpoint ({what})",
            "parameters": _parameters(spec, shapes, prefix, f"{prefix}decoder.", f"{prefix}encoder."),
            "normalize": (weight, bias) if weight is not None and bias is not None else None,
            "trained_steps": steps if isinstance(steps, int) else None,
            **({"epoch": epoch} if isinstance(epoch, int) else {}),
            "settings": {str(k): _plain(v) for k, v in sorted(hparams.items())} if isinstance(hparams, Mapping) else {},
        }
    assert isinstance(obj, Mapping)  # read_spec accepted it: a fast-neural-style state dict
    shapes = {k: tuple(v.shape) for k, v in obj.items() if isinstance(v, torch.Tensor) and "running_" not in k}
    return {
        "format": "fast-neural-style state dict (pytorch/examples), converted when loaded",
        "parameters": {"net": sum(math.prod(s) for s in shapes.values())},
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


def input_normalisation(spec: ModelSpec, normalize: tuple[torch.Tensor, torch.Tensor] | None = None, *,
                        random_encoder: bool = False) -> str:
    """What the network expects of its input, in one line (normalize: the AdaIN encoder's 1×1 input
    convolution when the file carries it; random_encoder: its VGG weights were random)."""
    if spec.kind == "johnson":
        if spec.output == "clamp":
            return ("RGB in [0, 1]; fast-neural-style's 0-255 pixel scale is folded into the first and "
                    "last convolutions")
        return "RGB in [0, 1], no mean/std normalisation"
    if normalize is None or _is_imagenet(*normalize):
        text = "RGB in [0, 1]; ImageNet mean/std, applied by the encoder's first (1×1) convolution"
    else:
        text = ("RGB in [0, 1]; the file's own input convolution (1×1) maps it to what its VGG was trained on "
                "(the AdaIN release: Caffe's BGR, 0-255, mean subtracted)")
    if random_encoder:
        text += "; random VGG weights (the pipeline only, not style transfer)"
    return text


def _is_imagenet(weight: torch.Tensor, bias: torch.Tensor) -> bool:
    std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
    expected_w = torch.diag(1.0 / std).reshape(3, 3, 1, 1)
    return (weight.float().shape == expected_w.shape and torch.allclose(weight.float(), expected_w, atol=1e-4)
            and torch.allclose(bias.float(), -mean / std, atol=1e-4))


def _output(spec: ModelSpec) -> str:
    if spec.kind == "adain":
        return "decoder output clamped to [0, 1]"
    return "sigmoid: always in [0, 1]" if spec.output == "sigmoid" else "clamped to [0, 1]"
