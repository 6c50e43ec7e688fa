"""Training checkpoints straight into the user-facing tools: `stylexfer stylize` and `stylexfer export`
read what `python -m stylexfer.train` wrote, and give the same pictures as the trained net."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from model_factories import adain_net
from stylexfer.cli import main as cli
from stylexfer.families.adain.net import AdaINNet
from stylexfer.families.johnson.net import TransformerNet
from stylexfer.files.images import load_image, to_tensor
from stylexfer.training.run import compose_config, run
from training_utils import TINY, TINY_JOHNSON, make_images


def read_tensor(path: Path) -> torch.Tensor:
    """A written picture as (3, H, W) floats in [0, 1], as stylexfer reads one."""
    return to_tensor(load_image(path))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("e2e")
    make_images(root / "content", 4, seed=3)
    make_images(root / "style", 3, seed=4)
    checkpoints = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, overrides in [("adain", TINY), ("johnson", TINY_JOHNSON)]:
            config = compose_config([*overrides, "data.content_dir=content", "data.style_dir=style"])
            checkpoints[name] = run(config, output_dir=root / name, base_dir=root).last_checkpoint
    # Two steps leave the decoder painting a flat colour, whatever the encoder says. Give the real
    # checkpoint a lively decoder so its pictures depend on every weight it holds, the encoder included.
    state = torch.load(checkpoints["adain"], map_location="cpu", weights_only=True)
    state["state_dict"].update({f"net.decoder.{k}": v for k, v in adain_net(seed=7).decoder.state_dict().items()})
    torch.save(state, checkpoints["adain"])
    return checkpoints


def _trained_net(checkpoint: Path) -> torch.nn.Module:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    hparams, weights = state["hyper_parameters"], state["state_dict"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if hparams["name"] == "adain":
            assert hparams["vgg_weights"] == "random"  # so the checkpoint carries its encoder
            net = AdaINNet(encoder_weights="random")
            net.load_state_dict({k.removeprefix("net."): v for k, v in weights.items()})  # strict
        else:
            net = TransformerNet(output=hparams["output"])
            net.load_state_dict({k.removeprefix("net."): v for k, v in weights.items()})
    return net.eval()


@pytest.mark.slow
def test_johnson_checkpoint_stylizes_and_exports_to_the_same_picture(trained, tmp_path):
    content = tmp_path / "photo.png"
    make_images(tmp_path / "in", 1, seed=5, size=(36, 28))
    next((tmp_path / "in").glob("*.png")).rename(content)
    ckpt = trained["johnson"]
    assert cli(["stylize", str(content), "--model", str(ckpt), "--out", str(tmp_path / "a")]) == 0
    from_ckpt = read_tensor(next((tmp_path / "a").glob("photo__*.png")))
    with torch.no_grad():
        expected = _trained_net(ckpt)(read_tensor(content)[None])[0]
    assert from_ckpt.shape == expected.shape
    assert (from_ckpt - expected).abs().max() <= 1 / 255 + 1e-6  # only 8-bit rounding

    exported = tmp_path / "johnson.safetensors"
    assert cli(["export", str(ckpt), "--out", str(exported)]) == 0
    assert cli(["stylize", str(content), "--model", str(exported), "--out", str(tmp_path / "b")]) == 0
    assert torch.equal(read_tensor(next((tmp_path / "b").glob("photo__*.png"))), from_ckpt)


@pytest.mark.slow
def test_adain_checkpoint_and_its_export_give_the_same_picture(trained, tmp_path):
    make_images(tmp_path / "in", 2, seed=6, size=(40, 32))
    content, style = sorted((tmp_path / "in").glob("*.png"))
    ckpt = trained["adain"]
    exported = tmp_path / "adain.safetensors"
    assert cli(["export", str(ckpt), "--out", str(exported)]) == 0
    for model, out in [(ckpt, "a"), (exported, "b")]:
        args = ["stylize", str(content), "--style", str(style), "--model", str(model), "--out", str(tmp_path / out)]
        assert cli(args) == 0
    first, second = (read_tensor(next((tmp_path / d).glob("*.png"))) for d in "ab")
    with torch.no_grad():
        expected = _trained_net(ckpt)(read_tensor(content)[None], read_tensor(style)[None])[0].clamp(0, 1)
    assert first.shape == expected.shape == (3, 32, 40)
    assert first.std() > 0.02  # a picture, not a flat colour: the comparison below means something
    assert (first - expected).abs().max() <= 1 / 255 + 1e-6  # the trained encoder and decoder, 8-bit rounding
    assert torch.equal(first, second)
