"""Hydra configuration: every recipe composes and validates; bad keys, types and values fail at once."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, HydraException
from omegaconf import OmegaConf

from selection import fast_sample
from stylexfer.families.adain.config import AdaINConfig
from stylexfer.families.johnson.config import JohnsonConfig
from stylexfer.training.config import (
    CheckpointConfig,
    ConfigError,
    DataConfig,
    LoggerConfig,
    OptimConfig,
    Range,
    RootConfig,
    TrainerConfig,
    validate,
)
from stylexfer.training.hydra_errors import explain_hydra_error, suggest
from stylexfer.training.run import CONFIG_DIR, check_accelerator, compose_config, run
from training_utils import REPO, TINY, make_images, run_train

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
SEARCHES = sorted(p.stem for p in (CONFIG_DIR / "hparams_search").glob("*.yaml"))
OPTUNA_SEARCHES = [name for name in SEARCHES if name.endswith("_optuna")]
GRID_SEARCHES = [name for name in SEARCHES if name not in OPTUNA_SEARCHES]


def test_config_dir_ships_inside_the_package() -> None:
    assert CONFIG_DIR == REPO / "src" / "stylexfer" / "conf" and (CONFIG_DIR / "train.yaml").is_file()
    assert {"seed_adain", "seed_johnson_mosaic"} <= set(EXPERIMENTS)
    assert {"adain_table5", "johnson_table2"} <= set(GRID_SEARCHES)
    assert {"adain_optuna", "johnson_optuna"} <= set(OPTUNA_SEARCHES)


def test_defaults_validate_to_the_seed_cadences() -> None:
    settings = validate(compose_config([]))
    assert isinstance(settings.model, AdaINConfig)
    assert settings.model.style_weight == 10.0 and settings.optim.lr == 1e-4 and settings.optim.lr_decay == 5e-5
    assert (settings.data.resize, settings.data.crop) == (512, 256)
    assert settings.trainer.log_every_n_steps == 100 and settings.trainer.val_check_interval == 500
    assert settings.checkpoint.every_n_steps == 10_000
    assert settings.data.content_dir == [] and settings.ckpt_path is None


def test_model_johnson_has_its_own_lr() -> None:
    settings = validate(compose_config(["model=johnson"]))
    assert isinstance(settings.model, JohnsonConfig)
    assert settings.optim.lr == 1e-3 and settings.model.style_weight == 1e-3


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_validates(name: str) -> None:
    settings = validate(compose_config([f"experiment={name}"]))
    if name == "seed_adain":  # seed Table 5
        assert settings.model.style_weight == 7.0 and settings.optim.lr == 1e-5
        assert settings.data.batch_size == 8 and settings.trainer.max_steps == 150_000
    if name == "seed_johnson_mosaic":  # seed Table 2
        assert settings.model.name == "johnson" and settings.model.style_image == "mosaic.jpg"
        assert (settings.model.content_weight, settings.model.style_weight) == (1.0, 1e-3)
        assert settings.optim.lr == 1e-3 and settings.data.batch_size == 4
        assert settings.trainer.max_steps == 20_000


@pytest.mark.slow  # one compose per swept value: 1-2 s each (test_readme composes every search fast)
@pytest.mark.parametrize("name", GRID_SEARCHES)
def test_every_hparams_search_composes_as_a_multirun_sweep(name: str) -> None:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"hparams_search={name}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert "data.batch_size" in params and "optim.lr" in params
    settings = validate(cfg)  # the base point of the sweep is valid too
    expected_model = "adain" if "adain" in name else "johnson"
    assert settings.model.name == expected_model
    # each swept value is itself valid
    for key, values in params.items():
        for value in str(values).split(","):
            validate(compose_config([f"hparams_search={name}", f"{key}={value}"]))


@pytest.mark.slow
@pytest.mark.parametrize("name", OPTUNA_SEARCHES)
def test_optuna_searches_minimise_two_measures_over_lambda_and_lr_in_a_resumable_study(name: str) -> None:
    pytest.importorskip("optuna", reason="the `sweeps` extra is not installed")
    from hydra_plugins.stylexfer_optuna.sweeper import search_space

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train", overrides=[f"hparams_search={name}", "hydra.sweep.dir=/x/sweep"], return_hydra_config=True
        )
    sweeper = cfg.hydra.sweeper
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert sweeper._target_ == "hydra_plugins.stylexfer_optuna.sweeper.StylexferOptunaSweeper"
    # the Pareto search of (content distance, style distance), no pruner, the journal file in the sweep folder
    assert (sweeper.objective, sweeper.pruner, sweeper.storage) == ("pareto", "none", None)
    assert sweeper.study_name == name and sweeper.sampler.name == "tpe" and sweeper.sampler.seed == 0
    space = search_space(OmegaConf.to_container(sweeper.params), [])
    assert set(space.distributions) == {"lambda", "optim.lr"} and not space.fixed
    settings = validate(cfg)
    assert settings.model.name == name.removesuffix("_optuna")
    for key, distribution in space.distributions.items():  # both ends of each range are valid settings
        for value in (distribution.low, distribution.high):
            validate(compose_config([f"hparams_search={name}", f"{key}={value}"]))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"hparams_search={name}", "hparams_search.pruner=hyperband",
                                          "hparams_search.objective=sum"], return_hydra_config=True)
    assert (cfg.hydra.sweeper.pruner, cfg.hydra.sweeper.objective) == ("hyperband", "sum")


def test_unknown_override_fails_naming_the_key() -> None:
    with pytest.raises(ConfigCompositionException, match="learning_rate"):
        compose_config(["optim.learning_rate=1e-3"])
    with pytest.raises(ConfigCompositionException, match="lamda"):
        compose_config(["lamda=7"])


def test_wrong_type_fails_naming_the_key() -> None:
    with pytest.raises(ConfigCompositionException) as info:
        compose_config(["data.batch_size=eight"])
    assert "data.batch_size" in str(info.value.__cause__ or info.value)
    with pytest.raises(ConfigError, match="model.style_weight"):
        validate(compose_config(["lambda=strong"]))


@pytest.mark.parametrize(
    ("overrides", "key"),
    fast_sample(
        [
            (["lambda=-1"], "model.style_weight (lambda)"),
            (["data.crop=600"], "data.resize"),
            (["data.resize=128", "data.crop=256"], "data.resize"),
            (["data.batch_size=0"], "data.batch_size"),
            (["data.val_size=0"], "data.val_size"),
            (["data.num_workers=-2"], "data.num_workers"),
            (["data.max_megapixels=0"], "data.max_megapixels"),
            (["optim.lr=0"], "optim.lr"),
            (["optim.lr=-1e-4"], "optim.lr"),
            (["optim.lr_decay=-1"], "optim.lr_decay"),
            (["optim.beta1=1.0"], "optim.beta1"),
            (["model.content_weight=-1"], "model.content_weight"),
            (["model.content_weight=0", "lambda=0"], "model.content_weight + model.style_weight"),
            (["model=johnson", "model.style_size=4"], "model.style_size"),
            (["model=johnson", "model.output=relu"], "model.output"),
            (["model=johnson", "model.tv_weight=-0.5"], "model.tv_weight"),
            (["model.vgg_weights="], "model.vgg_weights"),
            (["trainer.precision=15"], "trainer.precision"),
            (["trainer.max_steps=0"], "trainer.max_steps"),
            (["trainer.devices=0"], "trainer.devices"),
            (["trainer.num_nodes=0"], "trainer.num_nodes"),
            (["trainer.val_check_interval=0"], "trainer.val_check_interval"),
            (["trainer.accelerator=tpu9"], "trainer.accelerator"),
            (["checkpoint.every_n_steps=0"], "checkpoint.every_n_steps"),
            (["checkpoint.keep=0"], "checkpoint.keep"),
            (["logger.grid_images=-1"], "logger.grid_images"),
            (["seed=-1"], "seed"),
            (["data.content_dir=/a"], "data.content_dir/data.style_dir"),
        ],
        keep=6,
    ),
)
def test_impossible_values_fail_naming_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate(compose_config(overrides))
    assert str(info.value).startswith(key), str(info.value)


def test_precision_accepts_the_lightning_names() -> None:
    for precision in ("32", "16-mixed", "bf16-mixed"):
        assert validate(compose_config([f"trainer.precision={precision}"])).trainer.precision == precision
    assert validate(compose_config(["trainer=gpu"])).trainer.precision == "16-mixed"
    ddp = validate(compose_config(["trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"])).trainer
    assert (ddp.strategy, ddp.devices, ddp.num_nodes, ddp.accelerator) == ("ddp", 4, 2, "gpu")


def test_folders_accept_one_path_or_a_list() -> None:
    assert DataConfig(content_dir="a", style_dir=["b", "c"]).style_dir == ["b", "c"]
    assert DataConfig(content_dir="a", style_dir="b").content_dir == ["a"]
    settings = validate(compose_config(["data.content_dir=[x,y]", "data.style_dir=z"]))
    assert settings.data.content_dir == ["x", "y"] and settings.data.style_dir == ["z"]
    with pytest.raises(ConfigError, match="data.content_dir"):
        DataConfig(content_dir=[1, 2], style_dir="b")


def test_config_is_converted_in_place_keeping_interpolations() -> None:
    cfg = compose_config(["lambda=6"])
    validate(cfg)
    assert OmegaConf.to_container(cfg, resolve=False)["model"]["style_weight"] == "${lambda}"


@pytest.mark.slow
def test_bad_values_stop_the_command_before_data_is_read(tmp_path: Path) -> None:
    """Exit code 2, one line naming the key; the (missing) data folders are never looked at."""
    result = run_train(
        "data.crop=600",
        "data.content_dir=no_such_dir",
        "data.style_dir=no_such_dir",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("stylexfer.train: error:")]
    assert len(errors) == 1 and "data.resize" in errors[0] and "no_such_dir" not in errors[0]
    assert not (tmp_path / "run").exists()  # no empty run folder left behind by a refused run

    make_images(tmp_path / "content", 1)  # fewer usable images than a batch: clear data error
    make_images(tmp_path / "style", 3)
    result = run_train(
        "data.content_dir=content",
        "data.style_dir=style",
        "data.batch_size=2",
        "model.vgg_weights=random",
        f"hydra.run.dir={tmp_path / 'run2'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "data.content_dir: only 1 usable image" in result.stderr
    assert not (tmp_path / "run2").exists()


# --------------------------------------------------------------------------- one checker, finite floats


@pytest.mark.parametrize(
    ("overrides", "key"),
    fast_sample(
        [
            (["lambda=inf"], "model.style_weight (lambda)"),
            (["lambda=nan"], "model.style_weight (lambda)"),
            (["model.content_weight=inf"], "model.content_weight"),
            (["model=johnson", "model.tv_weight=inf"], "model.tv_weight"),
            (["model=johnson", "model.style_weight=nan"], "model.style_weight"),
            (["optim.lr=nan"], "optim.lr"),
            (["optim.lr_decay=inf"], "optim.lr_decay"),
            (["data.max_megapixels=inf"], "data.max_megapixels"),
            (["trainer.gradient_clip_val=inf"], "trainer.gradient_clip_val"),
        ],
        keep=3,
    ),
)
def test_every_float_setting_must_be_finite(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate(compose_config(overrides))
    assert str(info.value).startswith(f"{key} must be a finite number"), str(info.value)


def _schema_fields() -> list[tuple[type, dataclasses.Field, Range, str]]:
    found = []
    for schema in (
        AdaINConfig,
        JohnsonConfig,
        OptimConfig,
        DataConfig,
        TrainerConfig,
        LoggerConfig,
        CheckpointConfig,
        RootConfig,
    ):
        prefix = {
            AdaINConfig: "model",
            JohnsonConfig: "model",
            OptimConfig: "optim",
            DataConfig: "data",
            TrainerConfig: "trainer",
            LoggerConfig: "logger",
            CheckpointConfig: "checkpoint",
        }.get(schema)
        for spec in dataclasses.fields(schema):
            if "range" in spec.metadata:
                key = spec.metadata.get("key") or (f"{prefix}.{spec.name}" if prefix else spec.name)
                found.append((schema, spec, spec.metadata["range"], key))
    return found


@pytest.mark.parametrize(
    ("schema", "spec", "bounds", "key"), _schema_fields(), ids=lambda v: getattr(v, "name", None) or str(v)
)
def test_each_range_is_stated_once_and_its_message_uses_the_same_numbers(
    schema: type, spec: dataclasses.Field, bounds: Range, key: str
) -> None:
    """Just outside each end of a field's range fails with "<key> must be <its range>, got <value>"."""
    integer = isinstance(spec.default, int) and not isinstance(spec.default, bool)
    step = 1 if integer else 1e-9
    outside = []
    if bounds.lo is not None:
        outside.append(bounds.lo if bounds.lo_open else bounds.lo - step)
    if bounds.hi is not None:
        outside.append(bounds.hi if bounds.hi_open else bounds.hi + step)
    assert outside, f"{key} has a range with no end"
    for value in outside:
        if value in bounds.also:
            continue
        with pytest.raises(ConfigError) as info:
            schema(**{spec.name: value})
        message = str(info.value)
        assert message.startswith(f"{key} must be ") and message.endswith(f", got {value}"), message


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (lambda: OptimConfig(lr=0.0), "optim.lr must be in (0, 1], got 0.0"),
        (lambda: OptimConfig(beta1=1.0), "optim.beta1 must be in [0, 1), got 1.0"),
        (lambda: DataConfig(crop=7), "data.crop must be in [8, 4096], got 7"),
        (lambda: DataConfig(resize=9000), "data.resize must be <= 8192, got 9000"),
        (lambda: TrainerConfig(log_every_n_steps=0), "trainer.log_every_n_steps must be >= 1, got 0"),
        (lambda: CheckpointConfig(keep=0), "checkpoint.keep must be -1 (all) or >= 1, got 0"),
        (lambda: AdaINConfig(style_weight=-1.0), "model.style_weight (lambda) must be >= 0, got -1.0"),
    ],
)
def test_range_messages_read_as_written(made: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        made()
    assert str(info.value) == expected


def test_range_messages_state_the_checked_range() -> None:
    """trainer.num_nodes used to be checked as 1..100,000 while its message said ">= 1"."""
    with pytest.raises(ConfigError, match=r"trainer.num_nodes must be in \[1, 100_000\], got 100001"):
        validate(compose_config(["trainer.num_nodes=100001"]))
    with pytest.raises(ConfigError, match=r"data.num_workers must be -1 \(auto\) or in \[0, 256\], got -2"):
        validate(compose_config(["data.num_workers=-2"]))


def test_the_root_keys_have_a_schema() -> None:
    assert RootConfig(seed=3, ckpt_path="last", lambda_=7.0).lambda_ == 7.0
    with pytest.raises(ConfigError, match="lambda must be a finite number"):
        RootConfig(lambda_=float("inf"))
    with pytest.raises(ConfigError, match=r"lambda must be >= 0"):
        RootConfig(lambda_=-1.0)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        validate(compose_config(["seed=1.5"]))
    with pytest.raises(ConfigError, match=r"seed must be in \[0, 4_294_967_296\)"):
        validate(compose_config(["seed=4294967296"]))
    with pytest.raises(ConfigError, match="ckpt_path must be"):
        validate(compose_config(["ckpt_path=''"]))


def test_every_trainer_setting_is_a_lightning_trainer_argument() -> None:
    """The Trainer gets the schema's fields as they are (no hand copy per flag in run.py)."""
    import inspect

    import pytorch_lightning as pl

    kwargs = validate(compose_config(["trainer.gradient_clip_val=0.5", "trainer.max_steps=7"])).trainer.trainer_kwargs()
    assert set(kwargs) <= set(inspect.signature(pl.Trainer).parameters)
    assert kwargs["gradient_clip_val"] == 0.5 and kwargs["max_steps"] == 7
    assert "matmul_precision" not in kwargs
    assert TrainerConfig().trainer_kwargs()["gradient_clip_val"] is None  # 0 means off


# --------------------------------------------------------------------------- Hydra's own errors


@pytest.mark.parametrize(
    ("overrides", "expected"),
    fast_sample(
        [
            (["optim.learning_rate=1e-3"], "unknown configuration key 'optim.learning_rate'; did you mean optim.lr"),
            (["lamda=7"], "unknown configuration key 'lamda'; did you mean lambda?"),
            (["model=johnson", "model.styl_size=3"], "did you mean model.style_size"),
            (
                ["data.batch_size=abc"],
                "data.batch_size=abc: Value 'abc' of type 'str' could not be converted to Integer",
            ),
            (["model=foo"], "no config option 'model/foo'; choose one of adain, johnson"),
        ],
        keep=2,
    ),
)
def test_hydra_errors_become_one_line_with_the_closest_keys(overrides: list[str], expected: str) -> None:
    with pytest.raises(HydraException) as info:
        compose_config(overrides)
    message = explain_hydra_error(info.value, overrides)
    assert expected in message and "\n" not in message and "+" not in message, message


def test_suggest_knows_abbreviations() -> None:
    keys = ["optim.lr", "optim.lr_decay", "optim.beta1", "data.batch_size", "lambda"]
    assert suggest("optim.learning_rate", keys).startswith("optim.lr")
    assert suggest("data.batchsize", keys) == "data.batch_size"
    assert suggest("zzz", keys) == ""


@pytest.mark.slow
def test_hydra_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    for args, expected in (
        (["optim.learning_rate=1e-3"], "did you mean optim.lr"),
        (["-m", "lamda=6,7"], "did you mean lambda?"),
        (["data.batch_size=abc"], "data.batch_size=abc"),
    ):
        result = run_train(*args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
        assert result.returncode == 2, result.stderr[-2000:]
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("stylexfer.train: error:") and expected in lines[0], lines
        assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- start-up checks


def test_trainer_gpu_without_a_gpu_stops_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for overrides in (["trainer=gpu"], ["trainer=ddp"], ["trainer.accelerator=cuda"]):
        with pytest.raises(ConfigError, match=r"no CUDA GPU is available on this machine; use trainer=cpu"):
            run(compose_config([*TINY, *overrides]), output_dir=tmp_path / "run", base_dir=tmp_path)
        assert not (tmp_path / "run").exists()  # before the folder, the sample data, the model
    check_accelerator(validate(compose_config(["trainer=ddp", "trainer.accelerator=cpu"])).trainer)  # legal


def test_a_missing_vgg_weights_file_is_found_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model.vgg_weights: .*no_such.pth is not a file"):
        run(compose_config([*TINY, "model.vgg_weights=no_such.pth"]), output_dir=tmp_path / "run", base_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no run folder, no sample data


# --------------------------------------------------------------------------- debug/ and local/ groups


@pytest.mark.slow
def test_debug_fast_composes_and_runs_a_tiny_run(tmp_path: Path) -> None:
    cfg = compose_config(["debug=fast"])
    settings = validate(cfg)
    assert settings.trainer.max_steps == 2 and settings.data.crop == 32 and settings.model.vgg_weights == "random"
    result = run(cfg, output_dir=tmp_path / "run", base_dir=tmp_path)
    assert result.global_step == 2 and result.last_checkpoint.is_file()


def test_local_overrides_are_optional_and_git_ignored(tmp_path: Path) -> None:
    ignore = (CONFIG_DIR / "local" / ".gitignore").read_text().splitlines()
    assert "*" in ignore and "!README.md" in ignore
    conf = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR, conf)
    (conf / "local" / "default.yaml").write_text("# @package _global_\ndata:\n  batch_size: 3\n")
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        assert compose("train").data.batch_size == 3  # read when it exists
    assert compose_config([]).data.batch_size == 8  # and optional when it does not


@pytest.mark.parametrize("model", ["adain", "johnson"])
def test_lambda_is_the_style_weight_of_either_model(model: str) -> None:
    settings = validate(compose_config([f"model={model}", "lambda=0.25"]))
    assert settings.model.style_weight == 0.25


def test_johnson_style_reduction_is_a_checked_setting() -> None:
    assert validate(compose_config(["model=johnson"])).model.style_reduction == "sum"  # the seed's
    with pytest.raises(ConfigError, match="model.style_reduction"):
        validate(compose_config(["model=johnson", "model.style_reduction=median"]))


def test_fns_mosaic_is_pytorch_examples_recipe() -> None:
    settings = validate(compose_config(["experiment=fns_mosaic"]))
    model, data = settings.model, settings.data
    assert (model.name, model.style_reduction, model.content_weight, model.style_weight) == (
        "johnson", "mean", 1e5, 1e10
    )
    assert model.tv_weight == 0 and model.vgg_weights == "imagenet"
    assert (settings.optim.lr, settings.optim.lr_decay, data.batch_size, data.resize, data.crop) == (
        1e-3, 0.0, 4, 256, 256
    )
    assert settings.trainer.max_steps == 2 * -(-82_783 // 4) == 41_392  # 2 epochs of COCO 2014 train
