"""Model files: read training checkpoints, our safetensors inference files and fast-neural-style
state dicts; build the network they describe; write safetensors inference files.

Nothing read here can run code: pickles go through ``torch.load(weights_only=True)`` (a file that
holds anything but tensors, numbers, strings and plain containers is refused), everything else is
safetensors. Every failure is a one-line :class:`ModelFileError`.

Supported inputs of :func:`read_model_file` (detected from the bytes, not the suffix):

- a Lightning training checkpoint (``.ckpt``): ``{"hyper_parameters": {...}, "state_dict": {...}}``
  with ``net.*`` (Johnson ``TransformerNet``) or ``net.decoder.*`` (AdaIN; the frozen encoder is
  usually dropped and named by ``hyper_parameters["encoder_weights"]``). The few hyper-parameter
  names read are in :func:`checkpoint_spec`, the one place to adjust them.
- our inference file (``.safetensors``) written by :func:`write_safetensors` / ``stylexfer export``.
- a fast-neural-style state dict (``mosaic.pth`` …, pytorch/examples), converted on the fly.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import struct
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from stylexfer.errors import ModelFileError
from stylexfer.nets.adain import AdaINNet
from stylexfer.nets.johnson import OutputMode, TransformerNet
from stylexfer.nets.vgg import RandomWeightsWarning

KINDS = ("johnson", "adain")
OUTPUT_MODES = ("sigmoid", "clamp")
FORMAT = "stylexfer-model"
FORMAT_VERSION = "1"
# Encoder specs in our files: torchvision ImageNet VGG-19, random (tests), or weights inside the file.
ENCODER_IMAGENET, ENCODER_RANDOM, ENCODER_EMBEDDED = "imagenet", "random", "embedded"

# Checkpoint hyper-parameter names read by checkpoint_spec (first present wins).
CKPT_KIND_KEYS = ("model", "name", "model_name", "kind", "arch")
CKPT_ENCODER_KEYS = ("encoder_weights", "vgg_weights")
CKPT_OUTPUT_KEYS = ("output", "output_mode")


@dataclass(frozen=True)
class ModelSpec:
    """What a model file holds.

    kind: "johnson" (fixed-style TransformerNet) or "adain" (arbitrary-style AdaINNet).
    output: Johnson only; "sigmoid" (ours) or "clamp" (imported fast-neural-style).
    encoder: AdaIN only; "imagenet", "random", "embedded" (weights in the file) or a VGG file path.
    """

    kind: str
    output: str = "sigmoid"
    encoder: str = ENCODER_IMAGENET

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelFileError(
                f"unknown model kind {self.kind!r}; expected one of {', '.join(KINDS)}"
            )
        if self.output not in OUTPUT_MODES:
            raise ModelFileError(
                f"unknown output mode {self.output!r}; expected one of {', '.join(OUTPUT_MODES)}"
            )


@dataclass
class ModelWeights:
    """A model file's contents: the spec, the trained part's state dict (TransformerNet for Johnson,
    Decoder for AdaIN) and, when the file carries it, the AdaIN encoder's VGGFeatures state dict."""

    spec: ModelSpec
    net_state: dict[str, Tensor]
    encoder_state: dict[str, Tensor] | None = None
    source: str = field(default="", compare=False)


# --------------------------------------------------------------------------------------------- read


def read_model_file(path: str | os.PathLike) -> ModelWeights:
    """Read any supported model file (see the module docstring) without running code from it."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"{path}: no such model file" if not path.exists() else f"{path}: not a regular file"
        )
    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(f"{path}: empty file (0 bytes); export or download the model again")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if _looks_like_safetensors(head, size):
        return _read_safetensors(path)
    return _read_pickle(path)


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    # safetensors: little-endian u64 header length, then a JSON object.
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 0 < header_len <= size


def _read_safetensors(path: Path) -> ModelWeights:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as err:
        raise ModelFileError(
            f"{path}: not a readable safetensors file ({_reason(err)}); it may be truncated, export it again"
        ) from err
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
    spec = ModelSpec(
        kind=metadata.get("kind", ""),
        output=metadata.get("output", "sigmoid"),
        encoder=metadata.get("encoder", ENCODER_IMAGENET),
    )
    if spec.kind == "johnson":
        net_state = _strip(tensors, "net.")
        encoder_state = None
    else:
        net_state = _strip(tensors, "decoder.")
        encoder_state = _strip(tensors, "encoder.") or None
        if spec.encoder == ENCODER_EMBEDDED and encoder_state is None:
            raise ModelFileError(
                f"{path}: metadata says the encoder is embedded but the file has no encoder.* tensors"
            )
        if spec.encoder not in (ENCODER_IMAGENET, ENCODER_RANDOM, ENCODER_EMBEDDED):
            raise ModelFileError(f"{path}: unknown encoder {spec.encoder!r} in metadata")
    return ModelWeights(spec, net_state, encoder_state, source=str(path))


def load_weights_only(path: Path) -> Any:
    """torch.load(weights_only=True) with one-line errors: a pickle that would import a Python object
    (the way hostile pickles run code) is refused, never executed."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found or "Unsupported class" in str(err):
            what = f"would import {found.group(1)}" if found else "holds Python objects"
            raise ModelFileError(
                f"{path}: refused: it {what} while loading, and pickled Python objects can run code; "
                "only weights-only checkpoints, state dicts and safetensors files are accepted"
            ) from err
        raise ModelFileError(
            f"{path}: not a readable model file (corrupt pickle data); it may be truncated "
            "or not a model at all"
        ) from err
    except Exception as err:
        raise ModelFileError(
            f"{path}: not a readable model file ({_reason(err)}); it may be truncated or not a model at all"
        ) from err


def _read_pickle(path: Path) -> ModelWeights:
    obj = load_weights_only(path)
    if not isinstance(obj, Mapping):
        raise ModelFileError(
            f"{path}: holds a {type(obj).__name__}, not a checkpoint or state dict"
        )
    if isinstance(obj.get("state_dict"), Mapping):
        hparams = obj.get("hyper_parameters", {})
        if not isinstance(hparams, Mapping):
            hparams = {}
        state = _tensors_only(obj["state_dict"], path)
        spec = checkpoint_spec(hparams, state, source=str(path))
        if spec.kind == "johnson":
            return ModelWeights(spec, _strip(state, "net."), None, source=str(path))
        encoder_state = _strip(state, "net.encoder.") or None
        if spec.encoder == ENCODER_RANDOM:
            warnings.warn(
                f"{path.name} was trained with RANDOM VGG weights: it stylizes, but its pictures show the "
                "pipeline working, not style transfer quality",
                RandomWeightsWarning,
                stacklevel=2,
            )
        if encoder_state is not None:
            spec = replace(spec, encoder=ENCODER_EMBEDDED)
        return ModelWeights(spec, _strip(state, "net.decoder."), encoder_state, source=str(path))
    state = _tensors_only(obj, path)
    if "conv1.conv2d.weight" in state:  # a pytorch/examples fast-neural-style model (mosaic.pth, …)
        from stylexfer.files.convert import convert_fast_neural_style

        return convert_fast_neural_style(state, source=str(path))
    raise ModelFileError(
        f"{path}: a state dict that is neither a stylexfer checkpoint nor a fast-neural-style model; "
        "AdaIN release files (decoder.pth, vgg_normalised.pth) need `stylexfer import adain`"
    )


def checkpoint_spec(
    hparams: Mapping[str, Any], state_dict: Mapping[str, Tensor], *, source: str = ""
) -> ModelSpec:
    """The model spec of a training checkpoint: the ONE place that knows its hyper-parameter names.

    kind: ``hyper_parameters[k]`` for the first k in CKPT_KIND_KEYS whose value names "johnson" or
    "adain" (case-insensitive substring, so "LitAdaIN" works); else inferred from the state dict
    (``net.decoder.*`` -> AdaIN, ``net.conv1.*`` -> Johnson). A name that contradicts the weights is
    an error. encoder (AdaIN): first of CKPT_ENCODER_KEYS, default "imagenet". output (Johnson):
    first of CKPT_OUTPUT_KEYS, default "sigmoid".
    """
    where = f"{source}: " if source else ""
    from_weights = None
    if any(key.startswith("net.decoder.") for key in state_dict):
        from_weights = "adain"
    elif any(key.startswith("net.conv1.") for key in state_dict):
        from_weights = "johnson"
    named = None
    for key in CKPT_KIND_KEYS:
        value = hparams.get(key)
        if isinstance(value, str):
            low = value.lower()
            named = "adain" if "adain" in low else "johnson" if "johnson" in low else None
            if named:
                break
    kind = named or from_weights
    if kind is None:
        raise ModelFileError(
            f"{where}checkpoint holds neither a Johnson TransformerNet (net.*) nor an AdaIN decoder "
            "(net.decoder.*); is it a stylexfer training checkpoint?"
        )
    if from_weights is not None and named is not None and from_weights != named:
        raise ModelFileError(
            f"{where}checkpoint says model {named!r} but holds {from_weights} weights; file damaged?"
        )
    encoder = _first_str(hparams, CKPT_ENCODER_KEYS) or ENCODER_IMAGENET
    output = _first_str(hparams, CKPT_OUTPUT_KEYS) or "sigmoid"
    if kind == "johnson":
        return ModelSpec("johnson", output=output)
    return ModelSpec("adain", encoder=encoder)


def _first_str(hparams: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = hparams.get(key)
        if isinstance(value, str | os.PathLike):
            return str(value)
    return None


def _tensors_only(state: Mapping[Any, Any], path: Path) -> dict[str, Tensor]:
    out = {}
    for key, value in state.items():
        if isinstance(key, str) and isinstance(value, Tensor):
            out[key] = value
    if not out:
        raise ModelFileError(f"{path}: holds no weight tensors")
    return out


def _strip(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


# -------------------------------------------------------------------------------------------- build


@contextlib.contextmanager
def quiet_random_vgg() -> Iterator[None]:
    """Silence the random-weights warning for a VGG whose real weights are loaded right after."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        yield


def build_net(weights: ModelWeights) -> nn.Module:
    """The network a model file describes, in eval mode on the CPU: TransformerNet or AdaINNet.

    Keys and shapes are checked against a freshly built net before loading; any mismatch, a
    non-float tensor or a NaN/inf weight is a ModelFileError naming the first offending key.
    """
    spec, where = weights.spec, weights.source or "model file"
    if spec.kind == "johnson":
        net: nn.Module = TransformerNet(output=cast(OutputMode, spec.output))  # checked in ModelSpec
        _load_checked(net, weights.net_state, where, "Johnson TransformerNet")
        return net.eval()
    if weights.encoder_state is not None:
        with quiet_random_vgg():
            adain = AdaINNet(encoder_weights=ENCODER_RANDOM)
        _load_checked(
            adain.encoder,
            weights.encoder_state,
            where,
            "AdaIN encoder (VGG-19 to relu4_1)",
            allow_missing_prefix="normalize.",
        )
    elif spec.encoder == ENCODER_EMBEDDED:
        raise ModelFileError(f"{where}: the AdaIN encoder weights are missing from the file")
    else:
        adain = AdaINNet(
            encoder_weights=spec.encoder
        )  # "imagenet", "random" or a VGG file (WeightsError)
    _load_checked(adain.decoder, weights.net_state, where, "AdaIN decoder")
    return adain.eval()


def _load_checked(
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
        if not bool(torch.isfinite(value).all()):
            raise ModelFileError(
                f"{where}: {key!r} contains NaN or infinite values; the model diverged or the file is damaged"
            )
    module.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)


# -------------------------------------------------------------------------------------------- write


def weights_of(net: nn.Module, spec: ModelSpec) -> ModelWeights:
    """The ModelWeights to export from a built net: the trained part, plus the AdaIN encoder unless it
    is torchvision's ImageNet VGG-19 (the one encoder that can be rebuilt from its name: an imported
    Caffe VGG or random weights travel in the file), so the file is self-contained."""
    if spec.kind == "johnson":
        return ModelWeights(spec, dict(net.state_dict()))
    assert isinstance(net, AdaINNet)
    decoder_state = dict(net.decoder.state_dict())
    if spec.encoder == ENCODER_IMAGENET:
        return ModelWeights(spec, decoder_state)
    return ModelWeights(
        replace(spec, encoder=ENCODER_EMBEDDED), decoder_state, dict(net.encoder.state_dict())
    )


def write_safetensors(
    weights: ModelWeights, path: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write our inference file atomically (temporary file + rename): tensors ``net.*`` (Johnson) or
    ``decoder.*`` [+ ``encoder.*``] (AdaIN), metadata format / format_version / kind / output / encoder."""
    from safetensors.torch import save

    from stylexfer import __version__

    path = Path(path)
    if path.exists() and not overwrite:
        raise ModelFileError(f"{path}: already exists; pass --overwrite to replace it")
    spec = weights.spec
    if spec.kind == "johnson":
        tensors = {f"net.{k}": v for k, v in weights.net_state.items()}
        encoder = ""
    else:
        tensors = {f"decoder.{k}": v for k, v in weights.net_state.items()}
        if weights.encoder_state is not None:
            tensors |= {f"encoder.{k}": v for k, v in weights.encoder_state.items()}
            encoder = ENCODER_EMBEDDED
        elif spec.encoder in (ENCODER_IMAGENET, ENCODER_RANDOM):
            encoder = spec.encoder
        else:
            raise ModelFileError(
                f"encoder {spec.encoder!r} must be embedded: build the net and use weights_of()"
            )
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": spec.kind,
        "stylexfer_version": __version__,
    }
    metadata |= {"output": spec.output} if spec.kind == "johnson" else {"encoder": encoder}
    blob = save(
        {k: v.detach().float().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata
    )
    _atomic_write(path, blob)
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def describe(spec: ModelSpec) -> str:
    """One line for messages and the GUI: "AdaIN (encoder: imagenet)" / "Johnson (output: sigmoid)"."""
    if spec.kind == "johnson":
        return f"Johnson fixed-style (output: {spec.output})"
    return f"AdaIN arbitrary-style (encoder: {spec.encoder})"


def metadata_of(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of one of our safetensors files (no tensors read)."""
    path = Path(path)
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(min(length, 1 << 24)))
    return dict(header.get("__metadata__", {}))
