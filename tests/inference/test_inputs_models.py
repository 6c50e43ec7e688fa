"""Model files that describe well but do not work (issue 20, item 12): `stylexfer info` runs the
checks stylize runs, so it refuses every file stylize refuses; a model whose weights overflow (finite
but huge) computes NaN pixels: one line, exit 2, no file written."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

from model_factories import johnson_net, save_johnson_ckpt
from stylexfer.cli import main
from stylexfer.files.modelfile import ModelSpec, ModelWeights, write_safetensors

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


def _johnson_state() -> dict[str, torch.Tensor]:
    return dict(johnson_net().state_dict())


def _ckpt(path: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> Path:
    state = _johnson_state()
    change(state)
    torch.save({"hyper_parameters": {"vgg_weights": "random"}, "global_step": 1,
                "state_dict": {f"net.{k}": v for k, v in state.items()},
                "stylexfer": {"format": 1, "model": "johnson", "net_prefix": "net."}}, path)
    return path


def _huge_header(path: Path) -> Path:
    """243-ish bytes whose safetensors header declares a 4 GB tensor."""
    header = {
        "__metadata__": {"format": "stylexfer-model", "format_version": "1", "kind": "johnson", "output": "sigmoid"},
        "net.conv1.conv.weight": {"dtype": "F32", "shape": [1024, 1024, 1024], "data_offsets": [0, 4 << 30]},
    }
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob)
    return path


def _no_tensors(path: Path) -> Path:
    return write_safetensors(ModelWeights(ModelSpec("johnson"), {}), path)


def _first(state: dict[str, torch.Tensor]) -> str:
    return next(k for k, v in state.items() if v.dim() == 4)


BROKEN: dict[str, Callable[[Path], Path]] = {
    "4 GB header": lambda d: _huge_header(d / "huge.safetensors"),
    "int weights": lambda d: _ckpt(d / "int.ckpt", lambda s: s.__setitem__(_first(s), s[_first(s)].int())),
    "bool weights": lambda d: _ckpt(d / "bool.ckpt", lambda s: s.__setitem__(_first(s), s[_first(s)] > 0)),
    "NaN weights": lambda d: _ckpt(d / "nan.ckpt", lambda s: s[_first(s)].view(-1).__setitem__(0, float("nan"))),
    "wrong shape": lambda d: _ckpt(d / "shape.ckpt", lambda s: s.__setitem__(_first(s), s[_first(s)][:1])),
    "missing key": lambda d: _ckpt(d / "missing.ckpt", lambda s: s.pop(_first(s))),
    "no tensors": lambda d: _no_tensors(d / "empty.safetensors"),
}


@pytest.mark.parametrize("damage", list(BROKEN))
def test_info_refuses_every_model_stylize_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   damage: str) -> None:
    model = BROKEN[damage](tmp_path)
    Image.new("RGB", (16, 12), "red").save(tmp_path / "photo.png")
    out = tmp_path / "out"
    assert main(["stylize", str(tmp_path / "photo.png"), "--model", str(model), "--out", str(out), "-q"]) == 2
    stylize_err = capsys.readouterr().err
    assert stylize_err.count("\n") == 1 and not out.exists()
    assert main(["info", str(model)]) == 2, f"info described a model stylize refuses ({stylize_err.strip()})"
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and model.name in captured.err


def test_info_still_describes_a_good_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save_johnson_ckpt(tmp_path / "good.ckpt")
    assert main(["info", str(path)]) == 0
    assert "TransformerNet" in capsys.readouterr().out


def test_overflowing_weights_are_one_line_and_write_nothing(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    net = johnson_net()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.mul_(1e30)  # finite, but every activation overflows
    model = save_johnson_ckpt(tmp_path / "overflow.ckpt", net)
    Image.new("RGB", (24, 20), "red").save(tmp_path / "photo.png")
    Image.new("RGB", (24, 20), "blue").save(tmp_path / "other.png")
    out = tmp_path / "out"
    rc = main(["stylize", str(tmp_path / "photo.png"), str(tmp_path / "other.png"), "--model", str(model),
               "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "NaN or infinite" in err and "overflow.ckpt" in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())
