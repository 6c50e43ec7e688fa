"""`stylexfer export`: a model file -> our safetensors inference file, plus optional TorchScript and
ONNX files checked against the PyTorch model on a test image (max abs difference ≤ 1e-4).

Graph inputs and outputs are RGB in [0, 1], NCHW, any H×W (sides divisible by 8 for AdaIN give the
exact PyTorch result). Johnson: ``image -> stylized``. AdaIN: ``(content, style, alpha) -> stylized``
with alpha a one-element float tensor; the output is clamped to [0, 1].
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
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
from stylexfer.functional import adain_with_stats, channel_mean_std
from stylexfer.nets.adain import DECODER_LAYERS, AdaINNet

TOLERANCE = 1e-4


class AdaINGraph(nn.Module):
    """AdaIN for tracing: sizes of the decoder's upsamplings come from the encoder's pool inputs as
    tensors' shapes, so the traced graph keeps H×W dynamic (Decoder.forward turns sizes into ints)."""

    def __init__(self, net: AdaINNet) -> None:
        super().__init__()
        self.encoder = net.encoder
        self.decoder = net.decoder

    def _encode(self, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        x = self.encoder.normalize(images)
        pooled_from = []
        for module in self.encoder.features:
            if isinstance(module, nn.MaxPool2d):
                pooled_from.append(x)
            x = module(x)
        return x, pooled_from

    def forward(self, content: Tensor, style: Tensor, alpha: Tensor) -> Tensor:
        features, pooled_from = self._encode(content)
        style_mean, style_std = channel_mean_std(self._encode(style)[0])
        target = adain_with_stats(features, style_mean, style_std)
        x = alpha * target + (1.0 - alpha) * features
        for name, _, _, upsample in DECODER_LAYERS:
            x = getattr(self.decoder, name)(x)
            if name == "conv1_1":
                break
            x = F.relu(x)
            if upsample:
                x = F.interpolate(x, size=pooled_from.pop().shape[-2:], mode="nearest")
        return x.clamp(0.0, 1.0)


def _graph_and_inputs(
    net: nn.Module, spec: ModelSpec, size: tuple[int, int]
) -> tuple[nn.Module, tuple]:
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, *size, generator=g)
    if spec.kind == "johnson":
        return net.eval(), (content,)
    style = torch.rand(1, 3, 64, 64, generator=g)
    return AdaINGraph(cast(AdaINNet, net)).eval(), (content, style, torch.tensor([0.8]))


def _reference(net: nn.Module, spec: ModelSpec, inputs: tuple) -> Tensor:
    with torch.inference_mode():
        if spec.kind == "johnson":
            return net(inputs[0]).clamp(0, 1)
        return net(inputs[0], inputs[1], alpha=float(inputs[2])).clamp(0, 1)


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
    if spec.kind == "johnson":
        names, axes = ["image"], {"image": {0: "batch", 2: "height", 3: "width"}}
    else:
        names = ["content", "style", "alpha"]
        axes = {
            "content": {2: "height", 3: "width"},
            "style": {2: "style_height", 3: "style_width"},
        }
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
        path = write_safetensors(weights_of(net, weights.spec), out, overwrite=overwrite,
                                 random_vgg=weights.random_vgg)
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
