"""`stylexfer export`: a model file -> our safetensors inference file, plus optional TorchScript and
ONNX files checked against the PyTorch model on a test image (max abs difference ≤ 1e-4).

Graph inputs and outputs are RGB in [0, 1], NCHW, any H×W; the model's family gives the graph and
its inputs (a fixed-style net: ``image -> stylized``; one that takes a style: ``(content, style,
alpha) -> stylized`` with alpha a one-element float tensor); the output is clamped to [0, 1].
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from stylexfer.errors import ModelFileError, one_line
from stylexfer.files.atomic import check_output_path, commit, temporary_path
from stylexfer.files.modelfile import (
    ModelSpec,
    build_net,
    describe,
    read_model_file,
    weights_of,
    write_safetensors,
)
from stylexfer.registry import get_family

TOLERANCE = 1e-4


def _graph_and_inputs(net: nn.Module, spec: ModelSpec, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
    return get_family(spec.kind).export_graph(net, spec, size)


def _reference(net: nn.Module, spec: ModelSpec, inputs: tuple) -> Tensor:
    return get_family(spec.kind).export_reference(net, spec, inputs)


def export_torchscript(net: nn.Module, spec: ModelSpec, path: str | os.PathLike) -> float:
    """Trace to TorchScript, save, reload and return the max abs difference to PyTorch on a test
    image of another size than the traced one (so dynamic H×W is checked too)."""
    graph, example = _graph_and_inputs(net, spec, (64, 64))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, example, check_trace=False)
    tmp = temporary_path(path)
    try:
        with warnings.catch_warnings():  # "torch.jit.* is deprecated": the file format is still what we ship
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")
            torch.jit.save(traced, str(tmp))
            loaded = torch.jit.load(str(tmp))
        _, test = _graph_and_inputs(net, spec, (72, 96))
        with torch.no_grad():
            diff = (loaded(*test) - _reference(net, spec, test)).abs().max().item()
        return _finish(tmp, path, diff, "TorchScript")
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()  # gone already when committed


def export_onnx(net: nn.Module, spec: ModelSpec, path: str | os.PathLike) -> float:
    """Export to ONNX (opset 17, dynamic H×W) and check it with onnxruntime like export_torchscript."""
    ort = _onnxruntime()
    graph, example = _graph_and_inputs(net, spec, (64, 64))
    tmp = temporary_path(path)
    names, axes = get_family(spec.kind).export_names()
    axes = dict(axes)
    axes["stylized"] = {2: "height", 3: "width"}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # exporter notes on constant folding and tracing, not for users
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                example,
                str(tmp),
                input_names=names,
                output_names=["stylized"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        _, test = _graph_and_inputs(net, spec, (72, 96))
        with _private_cache():
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            feeds = {name: t.numpy() for name, t in zip(names, test, strict=True)}
            result = session.run(None, feeds)[0]
        diff = (torch.from_numpy(result) - _reference(net, spec, test)).abs().max().item()
        return _finish(tmp, path, diff, "ONNX")
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()  # gone already when committed


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


def _finish(tmp: Path, path: str | os.PathLike, diff: float, what: str) -> float:
    if not diff <= TOLERANCE:
        raise ModelFileError(
            f"{what} export differs from PyTorch by {diff:.2e} (> {TOLERANCE}); not written"
        )
    commit(tmp, path)
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
    Every output location is checked before anything is written, and an output that fails its
    check removes the files this call wrote before it, so a refused export leaves nothing."""
    targets = [Path(t) for t in (out, torchscript, onnx) if t]
    if len({t.resolve() for t in targets}) != len(targets):
        raise ModelFileError("export: --out, --torchscript and --onnx must be different files")
    for target in targets:
        check_output_path(target, overwrite=overwrite, error=ModelFileError)
    if onnx:
        _onnxruntime()  # missing onnxruntime: refused before any file is written
    weights = read_model_file(model)
    net = build_net(weights).eval()
    written: list[Path] = []
    try:
        path = write_safetensors(weights_of(net, weights.spec), out, overwrite=overwrite)
        written.append(path)
        lines = [f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {describe(weights.spec)})"]
        if torchscript:
            diff = export_torchscript(net, weights.spec, torchscript)
            written.append(Path(torchscript))
            lines.append(f"wrote {torchscript} (TorchScript; max abs difference to PyTorch {diff:.1e})")
        if onnx:
            diff = export_onnx(net, weights.spec, onnx)
            written.append(Path(onnx))
            lines.append(
                f"wrote {onnx} (ONNX opset 17; max abs difference to PyTorch in onnxruntime {diff:.1e})"
            )
    except BaseException as err:
        if not overwrite:  # this call created them: a refused export leaves nothing half-done
            for done in written:
                with contextlib.suppress(OSError):
                    done.unlink()
        if isinstance(err, OSError):
            raise ModelFileError(f"export failed ({one_line(err)})") from err
        raise
    return lines
