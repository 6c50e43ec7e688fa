"""Model files written before model families became plugins keep loading and give the same pictures.

tests/fixtures/models/legacy-models.tar.xz holds one file of each kind written by the code of that day
(tests/fixtures/make_model_fixtures.py): a training .ckpt and a safetensors file per family, an
imported pytorch-AdaIN pair, a fast-neural-style .pth and its import, plus the outputs that code gave
on seeded inputs. The outputs are bitwise equal on the machine that wrote them; elsewhere they are
compared within 1e-4 (of [0, 1] pixels, the importers' own parity bound): Intel and AMD CPUs, and one
thread or several, take different float32 kernels, which moves pixels by up to 3.2e-5 (the imported
fast-neural-style files, whose convolutions work on 0-255 values), while any change of behaviour moves
them by 1e-3 or more.
"""

from __future__ import annotations

import sys
import tarfile
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from stylexfer.files.modelfile import read_model_file, read_spec
from stylexfer.inference import load_model

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures"))
from make_model_fixtures import FILES, inputs  # noqa: E402

ARCHIVE = Path(__file__).parents[1] / "fixtures" / "models" / "legacy-models.tar.xz"
KINDS = {"adain.ckpt": "adain", "adain.safetensors": "adain", "adain-import.safetensors": "adain",
         "johnson.ckpt": "johnson", "johnson.safetensors": "johnson", "johnson-import.safetensors": "johnson",
         "mosaic.pth": "johnson"}


@pytest.fixture(scope="module")
def legacy(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("legacy")
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(folder, filter="data")
    return folder


def test_the_archive_holds_every_kind_of_file():
    with tarfile.open(ARCHIVE) as tar:
        assert set(tar.getnames()) == {*FILES, "expected.safetensors"} and set(KINDS) == set(FILES)


@pytest.mark.slow
@pytest.mark.parametrize("name", FILES)
def test_old_files_load_and_stylize_as_before(legacy, name):
    path = legacy / name
    assert read_spec(path).kind == KINDS[name]
    assert read_model_file(path).spec.kind == KINDS[name]
    expected = {k.split("/", 1)[1]: v for k, v in load_file(legacy / "expected.safetensors").items()
                if k.startswith(f"{name}/")}
    images = inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stylizer = load_model(path, device="cpu")
    styles = [images["style"]] if stylizer.needs_style else None
    got = {
        "default": stylizer.stylize(images["content"], styles),
        "alpha_colour": stylizer.stylize(images["content"], styles, alpha=0.6, preserve_color=True),
    }
    if stylizer.needs_style:
        got["two_styles"] = stylizer.stylize(images["content"], [images["style"], images["style2"]],
                                             style_weights=[0.3, 0.7])
    assert got.keys() == expected.keys()
    for key, value in got.items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=1e-4, msg=f"{name} {key}")
