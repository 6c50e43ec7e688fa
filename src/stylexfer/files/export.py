"""`stylexfer export`: a model file -> our safetensors inference file, plus optional TorchScript and
ONNX files checked against the PyTorch model on a test image (max abs difference ≤ 1e-4).

Graph inputs and outputs are RGB in [0, 1], NCHW, any H×W; the model's family gives the graph and
its inputs (a fixed-style net: ``image -> stylized``; one that takes a style: ``(content, style,
alpha) -> stylized`` with alpha a one-element float tensor); the output is clamped to [0, 1].
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from stylexfer.errors import ModelFileError, display_path, one_line
from stylexfer.files.atomic import check_output_path, exists_error, staged
from stylexfer.files.modelfile import (
    ModelSpec,
    build_net,
    describe,
    read_model_file,
    safetensors_bytes,
    weights_of,
)
from stylexfer.registry import get_family

TOLERANCE = 1e-4


def torchscript_bytes(net: nn.Module, spec: ModelSpec) -> tuple[bytes, float]:
    """Trace to TorchScript and return the file's bytes and the max abs difference to PyTorch on a
    test image of another size than the traced one (so dynamic H×W is checked too). Saved into
    memory: torch's own file writer aborts the process on a full disk; our writer raises OSError."""
    family = get_family(spec.kind)
    graph, example = family.export_graph(net, spec, (64, 64))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, example, check_trace=False)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # "torch.jit.* is deprecated": the file format is still what we ship
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")
        torch.jit.save(traced, buffer)
        loaded = torch.jit.load(io.BytesIO(buffer.getvalue()))
    _, test = family.export_graph(net, spec, (72, 96))
    with torch.no_grad():
        diff = (loaded(*test) - family.export_reference(net, spec, test)).abs().max().item()
    return buffer.getvalue(), _checked(diff, "TorchScript")


def onnx_bytes(net: nn.Module, spec: ModelSpec) -> tuple[bytes, float]:
    """Export to ONNX (opset 17, dynamic H×W), check it with onnxruntime like torchscript_bytes, and
    return the file's bytes and the difference."""
    ort = _onnxruntime()
    family = get_family(spec.kind)
    graph, example = family.export_graph(net, spec, (64, 64))
    names, axes = family.export_names()
    axes = dict(axes)
    axes["stylized"] = {2: "height", 3: "width"}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # exporter notes on constant folding and tracing, not for users
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            example,
            buffer,  # type: ignore[arg-type]  # the TorchScript-based exporter takes any binary file
            input_names=names,
            output_names=["stylized"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    _, test = family.export_graph(net, spec, (72, 96))
    with _private_cache():
        session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
        feeds = {name: t.numpy() for name, t in zip(names, test, strict=True)}
        result = session.run(None, feeds)[0]
    diff = (torch.from_numpy(result) - family.export_reference(net, spec, test)).abs().max().item()
    return buffer.getvalue(), _checked(diff, "ONNX")


@contextlib.contextmanager
def _private_cache() -> Iterator[None]:
    """onnxruntime's telemetry writes a device id and an event database under the user's cache
    folder (~/.cache/Microsoft/DeveloperTools) when it loads, whatever disable_telemetry_events()
    says afterwards; point XDG_CACHE_HOME at a throw-away folder meanwhile, so nothing is left."""
    old = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory(prefix="stylexfer-ort-") as scratch:
        os.environ["XDG_CACHE_HOME"] = scratch
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = old


def _onnxruntime():  # noqa: ANN202 (the module)
    """onnxruntime with its telemetry off (see _private_cache)."""
    try:
        with _private_cache():
            import onnxruntime as ort
    except ImportError as err:
        raise ModelFileError(
            "ONNX export needs onnxruntime to check the file: pip install 'stylexfer[onnx]'"
        ) from err
    with contextlib.suppress(AttributeError):  # not in every onnxruntime build
        ort.disable_telemetry_events()
    return ort


def _checked(diff: float, what: str) -> float:
    if not diff <= TOLERANCE:
        raise ModelFileError(
            f"{what} export differs from PyTorch by {diff:.2e} (> {TOLERANCE}); not written"
        )
    return diff


def export_model(
    model: str | os.PathLike,
    out: str | os.PathLike,
    *,
    torchscript: str | None = None,
    onnx: str | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Write the inference file (and TorchScript/ONNX files); returns one report line per file.
    Every output location is checked before anything is written, and the files appear together or
    not at all: each is made in memory and staged, then all are renamed into place (a full disk or a
    failed check leaves none of them, and no temporary)."""
    targets = [Path(t) for t in (out, torchscript, onnx) if t]
    if len({t.resolve() for t in targets}) != len(targets):
        raise ModelFileError("export: {out}, {torchscript} and {onnx} must be different files",
                             "out", "torchscript", "onnx")
    for target in targets:
        check_output_path(target, overwrite=overwrite, error=ModelFileError)
    if onnx:
        _onnxruntime()  # missing onnxruntime: refused before any file is written
    weights = read_model_file(model)
    net = build_net(weights).eval()
    files: list[tuple[Path, bytes, str]] = []
    blob = safetensors_bytes(weights_of(net, weights.spec), random_vgg=weights.random_vgg)
    files.append((Path(out), blob, f"{len(blob) / 1e6:.1f} MB, {describe(weights.spec)}"))
    if torchscript:
        data, diff = torchscript_bytes(net, weights.spec)
        files.append((Path(torchscript), data, f"TorchScript; max abs difference to PyTorch {diff:.1e}"))
    if onnx:
        data, diff = onnx_bytes(net, weights.spec)
        files.append(
            (Path(onnx), data, f"ONNX opset 17; max abs difference to PyTorch in onnxruntime {diff:.1e}")
        )
    current: Path | None = None
    try:
        with staged(overwrite=overwrite) as stage:
            for current, data, _ in files:
                stage.write_bytes(current, data)
            current = None  # the renames: a failure there concerns the set
    except FileExistsError as err:
        raise exists_error(ModelFileError, err.filename or current or out) from None
    except OSError as err:
        shown = display_path(current or err.filename or out)
        reason = err.strerror or one_line(err)
        raise ModelFileError(f"{shown}: cannot write ({reason}); no file of this export was written") from err
    return [f"wrote {display_path(path)} ({what})" for path, _, what in files]
