"""`stylexfer info MODEL`: kind, architecture, normalisation, training steps and settings, size and
SHA-256 of a training checkpoint, an exported .safetensors file and imported reference models, read
without building the network; a corrupt file is one line and exit 2."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from model_factories import (
    adain_net,
    fast_neural_style_state,
    orig_adain_pair,
    orig_fast_neural_style,
    save_adain_ckpt,
    save_johnson_ckpt,
)
from stylexfer.cli import main
from stylexfer.files import modelfile
from stylexfer.files.info import model_info

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


def _info_json(capsys, path: Path) -> dict:
    assert main(["info", str(path), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    facts = json.loads(out[0])
    assert facts["status"] == "ok" and facts["error"] is None and facts["model"] == str(path)
    assert facts["bytes"] == path.stat().st_size
    assert facts["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    return facts


@pytest.fixture
def no_net_building(monkeypatch):
    """info checks the file's weights against a freshly built net (as stylize does), but never loads
    weights the file only names (a VGG download): doing so fails the test."""
    build = modelfile.build_net

    def check_only(weights):
        named = weights.encoder_state is None and weights.spec.encoder not in ("embedded", "random")
        assert not named, "info loaded the encoder weights the file names"
        return build(weights)

    monkeypatch.setattr(modelfile, "build_net", check_only)


def test_training_checkpoint_with_its_stylexfer_block(tmp_path, capsys, no_net_building) -> None:
    path = save_johnson_ckpt(tmp_path / "mosaic.ckpt", name="johnson", style_weight=3e4, tv_weight=1e-6,
                             output="sigmoid")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint |= {"stylexfer": {"format": 1, "model": "johnson", "net_prefix": "net."}, "global_step": 1234}
    torch.save(checkpoint, path)
    facts = _info_json(capsys, path)
    assert facts["kind"] == "johnson" and "TransformerNet" in facts["architecture"]
    assert facts["format"] == "training checkpoint (format 1)"
    assert facts["trained_steps"] == 1234
    assert facts["settings"]["style_weight"] == 3e4 and facts["settings"]["tv_weight"] == 1e-6
    assert facts["normalisation"].startswith("RGB in [0, 1], no mean/std")
    assert facts["parameters"]["net"] == sum(v.numel() for v in checkpoint["state_dict"].values())


def test_adain_checkpoint_and_its_export(tmp_path, capsys) -> None:
    ckpt = save_adain_ckpt(tmp_path / "adain.ckpt", adain_net(), lambda_=7)
    facts = _info_json(capsys, ckpt)
    net = adain_net()
    decoder = sum(p.numel() for p in net.decoder.parameters())
    assert facts["kind"] == "adain" and "VGG-19" in facts["architecture"]
    assert facts["parameters"]["decoder"] == decoder and facts["parameters"]["encoder"] > 0
    assert facts["trained_steps"] == 10 and facts["settings"]["lambda_"] == 7
    assert "ImageNet mean/std" in facts["normalisation"] and "random VGG" in facts["normalisation"]

    exported = tmp_path / "adain.safetensors"
    assert main(["export", str(ckpt), "--out", str(exported)]) == 0
    capsys.readouterr()
    facts = _info_json(capsys, exported)
    assert facts["format"].startswith("stylexfer inference file (safetensors")
    assert facts["kind"] == "adain" and facts["encoder"] == "embedded" and facts["trained_steps"] is None
    assert facts["parameters"]["decoder"] == decoder


def test_imported_reference_models(tmp_path, capsys, no_net_building) -> None:
    pth = tmp_path / "candy.pth"
    state = fast_neural_style_state(orig_fast_neural_style())
    torch.save(state, pth)
    facts = _info_json(capsys, pth)
    assert facts["kind"] == "johnson" and facts["format"].startswith("fast-neural-style state dict")
    assert "0-255" in facts["normalisation"] and facts["output_range"] == "clamped to [0, 1]"

    vgg, decoder = orig_adain_pair()
    torch.save(vgg.state_dict(), tmp_path / "vgg_normalised.pth")
    torch.save(decoder.state_dict(), tmp_path / "decoder.pth")
    imported = tmp_path / "adain.safetensors"
    assert main(["import", "adain", str(tmp_path / "vgg_normalised.pth"), str(tmp_path / "decoder.pth"),
                 "--out", str(imported)]) == 0
    capsys.readouterr()
    facts = _info_json(capsys, imported)
    assert facts["kind"] == "adain" and facts["encoder"] == "embedded"
    # The release's own 1×1 input convolution, not ImageNet's mean/std.
    assert "the file's own input convolution" in facts["normalisation"]


def test_human_output_lists_the_facts(tmp_path, capsys) -> None:
    path = save_johnson_ckpt(tmp_path / "udnie.ckpt")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    facts = model_info(path)
    assert facts["sha256"] in out and "TransformerNet" in out and "settings:" in out
    assert out.splitlines()[0].split() == ["file", str(path)]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing"])
def test_corrupt_or_missing_files_are_one_line_exit_2(tmp_path, capsys, damage) -> None:
    good = save_johnson_ckpt(tmp_path / "good.ckpt")
    path = tmp_path / "bad.ckpt"
    if damage == "truncated":
        path.write_bytes(good.read_bytes()[:4000])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "empty":
        path.write_bytes(b"")
    assert main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "bad.ckpt" in captured.err
    assert main(["info", str(path), "--json"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "error" and "bad.ckpt" in line["error"]
