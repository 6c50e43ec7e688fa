"""SANet end to end: `python -m stylexfer.train model=sanet` (tiny settings) writes a checkpoint whose
export stylizes at 250×333 and 1×1 through the CLI, `evaluate` measures it, and a two-family sweep
`-m model=adain,sanet` is reported by `stylexfer report`. The config: model=sanet's defaults and the
reference recipe (experiment=sanet_reference)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from stylexfer.cli import main
from training_utils import TINY, make_data_root, run_train, scalars, train_in_process

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


@pytest.mark.slow
def test_model_sanet_has_the_references_defaults_and_recipe():
    from stylexfer.training.config import compose_config, validate

    model = validate(compose_config(["model=sanet"])).model
    assert (model.content_weight, model.style_weight, model.identity1_weight, model.identity2_weight) == (1, 3, 50, 1)
    assert validate(compose_config(["model=sanet", "lambda=5"])).model.style_weight == 5
    recipe = validate(compose_config(["experiment=sanet_reference"]))
    assert recipe.model.name == "sanet" and recipe.trainer.max_steps == 160_000
    assert (recipe.data.batch_size, recipe.data.resize, recipe.data.crop) == (5, 512, 256)
    assert (recipe.optim.lr, recipe.optim.lr_decay) == (1e-4, 5e-5)


def test_bad_sanet_settings_are_refused_by_name():
    from stylexfer.training.config import ConfigError, compose_config, validate

    with pytest.raises(ConfigError, match="model.identity1_weight"):
        validate(compose_config(["model=sanet", "model.identity1_weight=-1"]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("sanet_train")
    data = make_data_root(tmp / "data")
    result = train_in_process(tmp, ["model=sanet", *TINY, f"data.content_dir={data / 'content'}",
                                    f"data.style_dir={data / 'style'}"])
    assert result.global_step == 2 and result.last_checkpoint.is_file()
    return result.last_checkpoint, data


@pytest.mark.slow
def test_training_logs_the_four_terms_and_the_export_stylizes_any_size(trained, tmp_path, capsys):
    ckpt, data = trained
    logged = scalars(ckpt.parent.parent / "tensorboard")
    for term in ("content", "style", "identity1", "identity2"):
        assert f"train/{term}" in logged and f"train/{term}_share" in logged, sorted(logged)
    model = tmp_path / "sanet.safetensors"
    assert main(["export", str(ckpt), "--out", str(model)]) == 0, capsys.readouterr().err
    style = sorted((data / "style").iterdir())[0]
    for size in ((333, 250), (1, 1)):
        photo, out = tmp_path / f"photo_{size[0]}.png", tmp_path / f"out_{size[0]}"
        Image.new("RGB", size, (90, 140, 200)).save(photo)
        rc = main(["stylize", str(photo), "--model", str(model), "--style", str(style), "--out", str(out)])
        assert rc == 0, capsys.readouterr().err
        (picture,) = out.iterdir()
        assert Image.open(picture).size == size


@pytest.mark.slow
def test_evaluate_measures_a_sanet_checkpoint(trained, tmp_path, capsys):
    ckpt, data = trained
    out = tmp_path / "evaluate.json"
    rc = main(["evaluate", str(ckpt), "--content", str(data / "content"), "--style", str(data / "style"),
               "--size", "32", "--pairs", "2", "--vgg-weights", "random", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    (measured,) = json.loads(out.read_text())["models"]
    assert measured["kind"] == "sanet" and len(measured["per_pair"]) == 2


@pytest.mark.slow
def test_a_two_family_sweep_and_its_report(tmp_path, capsys):
    data = make_data_root(tmp_path / "data")
    sweep = tmp_path / "sweep"
    done = run_train("-m", "model=adain,sanet", *TINY, "trainer.max_steps=1", f"data.content_dir={data / 'content'}",
                     f"data.style_dir={data / 'style'}", f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=500)
    assert done.returncode == 0, done.stderr[-3000:]
    code = main(["report", str(sweep), "--content", str(data / "content"), "--style", str(data / "style"),
                 "--size", "32", "--pairs", "2", "--vgg-weights", "random"])
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader((sweep / "report" / "jobs.csv").open()))
    assert [r["status"] for r in rows] == ["finished", "finished"]
    assert [r["overrides"] for r in rows][1].startswith("model=sanet")
    assert all(float(r["style_mean_std"]) > 0 for r in rows)
