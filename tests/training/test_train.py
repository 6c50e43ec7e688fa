"""Whole training runs on tiny generated images: checkpoints, TensorBoard logs, resume, sweeps, DDP."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from stylexfer.families.adain.net import AdaINNet, Decoder
from stylexfer.families.adain.system import LitAdaIN
from stylexfer.families.johnson.net import TransformerNet
from stylexfer.families.johnson.system import LitJohnson
from stylexfer.training.callbacks import CheckpointError
from stylexfer.training.config import validate
from stylexfer.training.run import RunResult, compose_config
from stylexfer.training.systems import NonFiniteError
from training_utils import (
    TINY,
    TINY_JOHNSON,
    image_tags,
    make_broken_files,
    make_data_root,
    make_images,
    override,
    run_train,
    scalars,
    train_in_process,
)


def train(tmp: Path, overrides: list[str], name: str = "run") -> RunResult:
    return train_in_process(tmp, overrides, name)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_data_root(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def adain_run(data_root: Path) -> RunResult:
    """Two AdaIN steps with a validation pass at step 2, checkpoints at every step."""
    overrides = [*TINY, "lambda=7", "data.content_dir=content", "data.style_dir=style"]
    return train(data_root, overrides, "adain")


@pytest.mark.slow
def test_adain_run_writes_a_plain_checkpoint(adain_run: RunResult) -> None:
    assert adain_run.global_step == 2
    assert sorted(p.name for p in adain_run.checkpoint_dir.glob("*.ckpt")) == [
        "last.ckpt",
        "step_0000001.ckpt",
        "step_0000002.ckpt",
    ]
    checkpoint = torch.load(adain_run.last_checkpoint, map_location="cpu", weights_only=True)  # no code runs
    assert checkpoint["global_step"] == 2
    assert checkpoint["hyper_parameters"] == {
        "name": "adain",
        "lr": 1e-4,
        "lr_decay": 5e-5,
        "beta1": 0.9,
        "beta2": 0.999,
        "content_weight": 1.0,
        "style_weight": 7.0,
        "vgg_weights": "random",
        "channels_last": False,
        "style_layers": "relu1_1,relu2_1,relu3_1,relu4_1",  # the loss layers, a primitive like the rest
        "transfer": "adain",  # the transfer operator (model.transfer: adain or efdm)
    }
    block = checkpoint["stylexfer"]
    expected = {"format": 1, "model": "adain", "net_prefix": "net."}
    assert {key: block[key] for key in expected} == expected
    assert block["settings"]["data.crop"] == 32  # the run's settings, for a resume's comparison
    keys = set(checkpoint["state_dict"])
    decoder_keys = {f"net.decoder.{k}" for k in Decoder().state_dict()}
    encoder_keys = {k for k in keys if k.startswith("net.encoder.")}  # random VGG: kept, cannot be rebuilt
    assert keys == decoder_keys | encoder_keys and "net.encoder.features.19.weight" in encoder_keys
    assert not list(adain_run.checkpoint_dir.glob(".*"))  # no temporary files left


@pytest.mark.slow
def test_adain_checkpoint_loads_back_with_and_without_lightning(adain_run: RunResult) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = LitAdaIN.load_from_checkpoint(adain_run.last_checkpoint, map_location="cpu")
        net = AdaINNet(encoder_weights="random")
    state = torch.load(adain_run.last_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()})  # strict: decoder + random encoder
    assert module.hparams.style_weight == 7.0
    for key, value in net.encoder.state_dict().items():  # Lightning restores the same random encoder
        assert torch.equal(module.net.encoder.state_dict()[key], value)
    for key, value in net.decoder.state_dict().items():
        assert torch.equal(module.net.decoder.state_dict()[key], value)
    content = torch.rand(1, 3, 40, 48)
    features = module.net.encode(content)["relu4_1"]
    assert torch.allclose(module.net.decoder(features, size=(40, 48)), net.decoder(features, size=(40, 48)))


def test_adain_run_logs_scalars_images_and_hparams(adain_run: RunResult) -> None:
    logs = scalars(adain_run.output_dir / "tensorboard")
    for tag in ("train/content", "train/style", "train/total", "val/content", "val/style", "val/total"):
        assert tag in logs, sorted(logs)
    assert [step for step, _ in logs["train/total"]] == [0, 1]
    assert [step for step, _ in logs["val/total"]] == [1]  # Lightning's x axis: index of the last batch
    assert "data/skipped_files" in logs and "lr-Adam" in logs
    assert "val/stylized" in image_tags(adain_run.output_dir / "tensorboard")
    hparams = (adain_run.output_dir / "tensorboard" / "hparams.yaml").read_text()
    assert "style_weight: 7.0" in hparams and "crop: 32" in hparams


@pytest.mark.slow
def test_a_run_ends_measuring_its_validation_pairs_as_stylexfer_evaluate_would(
    adain_run: RunResult, data_root: Path
) -> None:
    """final.json's "evaluate" (and the value the Hydra task returns to Optuna) is what the evaluate
    code finds for the last checkpoint, loaded by the stylizing stack, on the run's validation pairs."""
    from stylexfer.inference import load_model
    from stylexfer.measures import MEASURES, Judge, mean_measures
    from stylexfer.training.data import StyleTransferDataModule
    from stylexfer.training.measure import objectives

    final = json.loads((adain_run.output_dir / "final.json").read_text())
    assert set(MEASURES) <= set(final["evaluate"]) and final["evaluate"] == adain_run.measures
    assert final["evaluate_info"]["on"] == "2 fixed validation pair(s) at 32x32 px"
    settings = validate(compose_config([*TINY, "lambda=7", "data.content_dir=content", "data.style_dir=style"]))
    datamodule = StyleTransferDataModule(settings.data, seed=settings.seed, base_dir=data_root)
    datamodule.setup("fit")
    pairs = datamodule.val_set
    assert pairs is not None and len(pairs) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stylizer = load_model(adain_run.last_checkpoint)
    judge, rows = Judge("auto"), []
    for index in range(len(pairs)):
        content, style = pairs[index]["content"][None], pairs[index]["style"][None]
        rows.append(judge.measure(stylizer.stylize(content, [style], tile=False), content, style))
    assert adain_run.measures == pytest.approx(mean_measures(rows), rel=1e-4)
    assert objectives(adain_run.measures) == (
        adain_run.measures["content_relu4_1"],
        adain_run.measures["style_mean_std"],
    )
    logs = scalars(adain_run.output_dir / "tensorboard")  # and in the HPARAMS tab
    assert logs["hparams/eval/style_mean_std"][0][1] == pytest.approx(adain_run.measures["style_mean_std"])


@pytest.mark.slow
def test_a_failing_end_of_run_measure_leaves_the_run_finished(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stylexfer.training.run as run_module

    def broken(*args: object) -> None:
        raise OSError("style image vanished")

    monkeypatch.setattr(run_module, "measure_pairs", broken)
    shutil.copytree(data_root, tmp_path, dirs_exist_ok=True)
    result = train(tmp_path, [*TINY, "trainer.max_steps=1", "data.content_dir=content", "data.style_dir=style"])
    final = json.loads((result.output_dir / "final.json").read_text())
    assert final["status"] == "finished" and result.last_checkpoint.is_file()
    assert result.measures == {} and final["evaluate_info"] == {"error": "style image vanished"}
    assert run_module.objectives(result.measures) is None  # an Optuna trial then fails, the run does not


@pytest.mark.slow
def test_resume_with_ckpt_path_last_continues_at_the_saved_step(adain_run: RunResult, tmp_path: Path) -> None:
    """Stop after N=2 steps, rerun the same folder with ckpt_path=last: it goes on from step 2 with the
    saved optimizer state (Adam's own step counter reaches 4, not 2)."""
    shutil.copytree(adain_run.output_dir, tmp_path / "run")
    shutil.copytree(adain_run.output_dir.parent / "content", tmp_path / "content")
    shutil.copytree(adain_run.output_dir.parent / "style", tmp_path / "style")
    overrides = [*TINY, "lambda=7", "data.content_dir=content", "data.style_dir=style", "ckpt_path=last"]
    result = train(tmp_path, override(overrides, trainer__max_steps=4))
    assert result.global_step == 4
    checkpoint = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 4
    adam_steps = {int(s["step"]) for s in checkpoint["optimizer_states"][0]["state"].values()}
    assert adam_steps == {4}
    assert checkpoint["lr_schedulers"][0]["last_epoch"] == 4
    steps = [step for step, _ in scalars(result.output_dir / "tensorboard")["train/total"]]
    assert steps == [0, 1, 2, 3]  # the resumed run logs steps 2 and 3 into the same folder
    # the numbered checkpoint of step 2 was kept; 3 and 4 were added
    assert {p.name for p in result.checkpoint_dir.glob("step_*.ckpt")} >= {
        "step_0000002.ckpt",
        "step_0000004.ckpt",
    }


def test_resume_from_a_corrupt_last_ckpt_names_the_newest_good_one(
    adain_run: RunResult, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(adain_run.output_dir, run_dir, ignore=shutil.ignore_patterns("sample_data*"))
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 3])  # truncated by a full disk, say
    overrides = [*TINY, "data.content_dir=x", "data.style_dir=x", "ckpt_path=last"]
    with pytest.raises(CheckpointError) as info:
        train(tmp_path, overrides)
    message = str(info.value)
    assert "last.ckpt is unreadable (truncated or corrupt" in message
    assert f"resume with ckpt_path={run_dir / 'checkpoints' / 'step_0000002.ckpt'}" in message
    assert "(step 2)" in message


def test_ckpt_path_may_name_a_run_folder(adain_run: RunResult, tmp_path: Path) -> None:
    from stylexfer.training.callbacks import resolve_resume

    path = resolve_resume(str(adain_run.output_dir), run_checkpoints=tmp_path / "none", base_dir=tmp_path)
    assert path == adain_run.last_checkpoint
    with pytest.raises(CheckpointError, match="ckpt_path=last: no .*last.ckpt"):
        resolve_resume("last", run_checkpoints=tmp_path / "none", base_dir=tmp_path)


@pytest.mark.slow
def test_johnson_runs_out_of_the_box_on_the_generated_sample_set(tmp_path: Path) -> None:
    """No data and no style image given: the generated sample set is used, as `python -m
    stylexfer.train model=johnson` would."""
    result = train(tmp_path, TINY_JOHNSON)
    assert result.global_step == 2
    assert len(list((result.output_dir / "sample_data_v1" / "content").glob("*.png"))) == 4
    checkpoint = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    assert hparams["name"] == "johnson" and hparams["output"] == "sigmoid"
    assert hparams["style_image"].endswith("style_000.png") and Path(hparams["style_image"]).is_absolute()
    net = TransformerNet(output=hparams["output"])
    net.load_state_dict({k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items()})  # strict
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = LitJohnson.load_from_checkpoint(result.last_checkpoint, map_location="cpu")
    image = torch.rand(1, 3, 33, 47)
    assert torch.allclose(module.net(image), net(image))
    logs = scalars(result.output_dir / "tensorboard")
    assert {"train/content", "train/style", "train/tv", "train/total", "val/total"} <= set(logs)
    # measured against the style it was trained for (the pair's style plays no part)
    assert result.measures["style_mean_std"] > 0 and "style_gram_sum" in result.measures


@pytest.mark.slow
def test_training_on_broken_files_skips_and_reports_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unusable, _ = make_broken_files(tmp_path / "content")
    make_images(tmp_path / "content", 2)
    make_broken_files(tmp_path / "style")
    make_images(tmp_path / "style", 2, seed=5)
    overrides = override([*TINY, "data.content_dir=content", "data.style_dir=style"], data__val_size=20)
    with caplog.at_level(logging.WARNING):
        result = train(tmp_path, overrides)
    assert result.global_step == 2
    assert result.skipped_files == 2 * len(unusable) == 10  # every bad file, each once
    assert any("skipped 10 unusable image file(s) during this run" in r.message for r in caplog.records)
    logs = scalars(result.output_dir / "tensorboard")
    assert logs["data/skipped_files"][-1][1] == 10


@pytest.mark.slow
def test_nan_loss_stops_the_run_naming_the_step_and_keeps_good_checkpoints(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stylexfer.families.adain.system as adain_system

    real = adain_system.adain_loss_terms
    calls = {"n": 0}

    def poisoned(net, content, style, *layers):  # type: ignore[no-untyped-def]
        output, terms = real(net, content, style, *layers)
        calls["n"] += 1
        if calls["n"] == 3:  # the third training step (global step 2)
            terms = {**terms, "style": terms["style"] * float("nan")}
        return output, terms

    monkeypatch.setattr(adain_system, "adain_loss_terms", poisoned)
    overrides = [
        *TINY,
        f"data.content_dir={data_root / 'content'}",
        f"data.style_dir={data_root / 'style'}",
        "trainer.max_steps=5",
        "trainer.val_check_interval=100",
    ]
    with pytest.raises(NonFiniteError, match=r"loss became nan at step 2 ") as info:
        train(tmp_path, overrides)
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values())
    named = str(info.value).split("resume with ckpt_path=")[1]
    assert Path(named).is_file() and torch.load(named, weights_only=True)["global_step"] == 2


def test_nan_at_the_first_step_names_no_checkpoint_file(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing was written yet, so the message must not send the user to a checkpoint."""
    import stylexfer.families.adain.system as adain_system

    real = adain_system.adain_loss_terms

    def poisoned(net, content, style, *layers):  # type: ignore[no-untyped-def]
        output, terms = real(net, content, style, *layers)
        return output, {**terms, "style": terms["style"] * float("inf")}

    monkeypatch.setattr(adain_system, "adain_loss_terms", poisoned)
    overrides = [*TINY, f"data.content_dir={data_root / 'content'}", f"data.style_dir={data_root / 'style'}"]
    with pytest.raises(NonFiniteError) as info:
        train(tmp_path, overrides)
    message = str(info.value)
    assert "at step 0" in message and "no good checkpoint was written" in message
    assert ".ckpt" not in message and "ckpt_path=" not in message


@pytest.mark.slow
def test_sweep_makes_one_run_folder_per_job(data_root: Path, tmp_path: Path) -> None:
    """`-m lambda=6,7` from another folder, with data paths relative to it."""
    shutil.copytree(data_root / "content", tmp_path / "content")
    shutil.copytree(data_root / "style", tmp_path / "style")
    sweep = tmp_path / "sweep"
    result = run_train(
        "-m",
        *TINY,
        "trainer.max_steps=1",
        "lambda=6,7",
        "data.content_dir=content",
        "data.style_dir=style",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for job, weight in (("0", 6.0), ("1", 7.0)):
        checkpoint = torch.load(sweep / job / "checkpoints" / "last.ckpt", weights_only=True)
        assert checkpoint["hyper_parameters"]["style_weight"] == weight
        assert "train/total" in scalars(sweep / job / "tensorboard")
        assert f"lambda={int(weight)}" in (sweep / job / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_two_process_ddp_on_cpu(data_root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "ddp"
    result = run_train(
        *TINY,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.precision=32",
        "trainer.benchmark=false",
        "trainer.max_steps=2",
        f"data.content_dir={data_root / 'content'}",
        f"data.style_dir={data_root / 'style'}",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "MEMBER: 2/2" in output or "distributed_backend=gloo" in output
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2
    assert "train/total" in scalars(run_dir / "tensorboard")


def _resumable_copy(adain_run: RunResult, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(adain_run.output_dir, run_dir)
    for name in ("content", "style"):
        shutil.copytree(adain_run.output_dir.parent / name, tmp_path / name)
    return run_dir


RESUME = [*TINY, "lambda=7", "data.content_dir=content", "data.style_dir=style", "ckpt_path=last"]


@pytest.mark.slow
def test_resume_with_changed_settings_stops_with_one_line_listing_them(adain_run: RunResult, tmp_path: Path) -> None:
    _resumable_copy(adain_run, tmp_path)
    with pytest.raises(CheckpointError) as info:
        train(tmp_path, override(RESUME, optim__lr=0.01, data__crop=24, trainer__max_steps=4))
    message = str(info.value)
    assert "optim.lr: 0.0001 -> 0.01" in message and "data.crop: 32 -> 24" in message, message
    assert "resume.allow_changes=[data.crop,optim.lr]" in message and "\n" not in message
    # what may change on a resume does: a longer run, another cadence
    result = train(tmp_path, override(RESUME, trainer__max_steps=3, checkpoint__every_n_steps=3))
    assert result.global_step == 3
    # an older checkpoint (no settings record): its hyper_parameters still say what it trained with
    last = result.last_checkpoint
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    del checkpoint["stylexfer"]["settings"]
    torch.save(checkpoint, last)
    with pytest.raises(CheckpointError, match=r"model.style_weight: 7.0 -> 3.0"):
        train(tmp_path, override(RESUME, trainer__max_steps=4, **{"lambda": 3}))


@pytest.mark.slow
def test_an_allowed_lr_change_reaches_the_restored_optimizer(
    adain_run: RunResult, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _resumable_copy(adain_run, tmp_path)
    seen: list[tuple[float, float]] = []

    from stylexfer.training import systems

    class Probe(LitAdaIN):
        def on_train_batch_start(self, batch: object, batch_idx: int) -> None:
            group = self.trainer.optimizers[0].param_groups[0]
            seen.append((group["lr"], group["initial_lr"]))

    overrides = override(RESUME, optim__lr=0.01, trainer__max_steps=4)
    with caplog.at_level(logging.WARNING), pytest.MonkeyPatch.context() as patch:
        original = systems.system_class
        patch.setattr(systems, "system_class", lambda name: Probe if name == "adain" else original(name))
        result = train(tmp_path, [*overrides, "resume.allow_changes=[optim.lr]"])
    decay = 5e-5  # the AdaIN recipe's lr_decay: lr / (1 + decay·step)
    assert seen == [pytest.approx((0.01 / (1 + decay * step), 0.01)) for step in (2, 3)]
    checkpoint = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["lr_schedulers"][0]["base_lrs"] == [0.01]
    assert checkpoint["stylexfer"]["settings"]["optim.lr"] == 0.01
    assert "resumed with optim.lr changed from 0.0001 to 0.01" in caplog.text
    final = json.loads((result.output_dir / "final.json").read_text())
    assert final["resume_changes"] == {"optim.lr": [0.0001, 0.01]}


@pytest.mark.slow
def test_a_refused_resume_leaves_the_run_folders_records_alone(adain_run: RunResult, tmp_path: Path) -> None:
    run_dir = _resumable_copy(adain_run, tmp_path)
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "overrides.yaml").write_text("- lambda=7\n")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.rglob("*") if p.is_file()}
    result = run_train(*override(RESUME, optim__lr=0.01), f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "optim.lr: 0.0001 -> 0.01" in errors[0], errors
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.rglob("*") if p.is_file()} == before


def test_allow_changes_names_are_checked_before_the_run() -> None:
    from stylexfer.training.config import ConfigError

    assert validate(compose_config(["resume.allow_changes=[optim.lr,lambda]"])).resume.allow_changes == [
        "optim.lr",
        "model.style_weight",
    ]
    with pytest.raises(ConfigError, match=r"resume.allow_changes names no setting a resume checks: optim.lrr"):
        validate(compose_config(["resume.allow_changes=[optim.lrr]"]))
