"""A model exported from a run with random VGG weights keeps that fact in its file: `info` says so,
and reading it for stylizing warns once, as reading the checkpoint does."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from model_factories import save_adain_ckpt
from stylexfer.cli import main
from stylexfer.files.export import export_model
from stylexfer.files.info import model_info
from stylexfer.files.modelfile import metadata_of, read_model_file
from stylexfer.nets.vgg import RandomWeightsWarning


def _random_warnings(path: Path) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_model_file(path)
    return [str(w.message) for w in caught if issubclass(w.category, RandomWeightsWarning)]


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    ckpt = save_adain_ckpt(tmp_path / "random.ckpt")  # encoder_weights=random, as the demo trains
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        export_model(ckpt, tmp_path / "m.safetensors")
    return tmp_path / "m.safetensors"


def test_the_exported_file_says_its_vgg_weights_were_random(exported: Path) -> None:
    assert metadata_of(exported).get("vgg_weights") == "random"
    assert "random VGG" in model_info(exported)["normalisation"]
    assert len(_random_warnings(exported)) == 1
    assert "RANDOM VGG weights" in _random_warnings(exported)[0]


def test_stylize_warns_once_for_an_exported_random_model(exported: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    Image.new("RGB", (40, 32), (120, 60, 30)).save(tmp_path / "photo.png")
    Image.new("RGB", (40, 32), (10, 200, 30)).save(tmp_path / "style.png")
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as the program runs (pytest's config ignores this warning)
        rc = main(["stylize", str(tmp_path / "photo.png"), "--style", str(tmp_path / "style.png"),
                   "--model", str(exported), "--out", str(tmp_path / "out"), "--quiet"])
    assert rc == 0
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "RANDOM VGG weights" in line]) == 1, err


def test_a_real_weights_export_has_no_such_mark(tmp_path: Path) -> None:
    from model_factories import adain_net
    from stylexfer.files.modelfile import weights_of, write_safetensors
    from stylexfer.files.spec import ModelSpec

    weights = weights_of(adain_net(), ModelSpec("adain", encoder="embedded"))
    path = write_safetensors(weights, tmp_path / "e.safetensors")
    assert "vgg_weights" not in metadata_of(path) and _random_warnings(path) == []
