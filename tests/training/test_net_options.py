"""Training options of any family: EMA of the trained weights, torch.compile, the profiler, Apple GPUs (MPS)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import stylexfer.training.run as run_module
from stylexfer.inference.device import DevicePolicy, pick_device
from stylexfer.inference.request import RequestError
from stylexfer.training.averaging import CURRENT_KEY, EMA, _trainable
from stylexfer.training.config import ConfigError, validate
from stylexfer.training.run import RunResult, compose_config, run
from training_utils import TINY, TINY_JOHNSON, make_data_root, make_images, train_in_process


def train(tmp: Path, overrides: list[str], name: str = "run") -> RunResult:
    return train_in_process(tmp, overrides, name)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_data_root(tmp_path_factory.mktemp("data"))


DATA = ["data.content_dir=content", "data.style_dir=style"]


# --------------------------------------------------------------------------- EMA


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(2, 2)
        self.frozen = nn.Linear(2, 2).requires_grad_(False)


def _fit_trainer(step: int) -> SimpleNamespace:
    return SimpleNamespace(global_step=step, state=SimpleNamespace(fn="fit"))


def test_ema_averages_the_trainable_weights_and_validation_sees_the_average() -> None:
    module = _Tiny()
    ema = EMA(0.75)
    ema.setup(None, module, "fit")  # type: ignore[arg-type]
    assert set(ema.average) == {"net.weight", "net.bias"}  # the frozen part is not averaged
    start = module.net.weight.detach().clone()
    with torch.no_grad():
        module.net.weight.add_(4.0)
    ema.on_train_batch_end(_fit_trainer(1), module, None, None, 0)  # type: ignore[arg-type]
    expected = 0.75 * start + 0.25 * (start + 4.0)
    assert torch.allclose(ema.average["net.weight"], expected)
    ema.on_train_batch_end(_fit_trainer(1), module, None, None, 1)  # type: ignore[arg-type]  # no new step
    assert torch.allclose(ema.average["net.weight"], expected)

    ema.on_validation_epoch_start(_fit_trainer(1), module)  # type: ignore[arg-type]
    assert torch.allclose(module.net.weight, expected)
    ema.on_validation_epoch_end(_fit_trainer(1), module)  # type: ignore[arg-type]
    assert torch.allclose(module.net.weight, start + 4.0)


@pytest.fixture(scope="module")
def ema_run(data_root: Path) -> RunResult:
    return train(data_root, [*TINY, *DATA, "model.ema=0.5"], "ema")


@pytest.mark.slow
def test_ema_checkpoints_hold_the_average_as_state_dict_and_the_raw_weights_apart(ema_run: RunResult) -> None:
    def load(name: str) -> dict:
        return torch.load(ema_run.checkpoint_dir / name, map_location="cpu", weights_only=True)

    first, second = load("step_0000001.ckpt"), load("step_0000002.ckpt")
    key = "net.decoder.conv1_1.weight"
    assert set(second[CURRENT_KEY]) == {k for k in second["state_dict"] if k.startswith("net.decoder.")}
    assert not torch.equal(second["state_dict"][key], second[CURRENT_KEY][key])
    # a_2 = 0.5·a_1 + 0.5·θ_2: state_dict is the average, ema_current_state the raw weights
    expected = 0.5 * first["state_dict"][key] + 0.5 * second[CURRENT_KEY][key]
    assert torch.allclose(second["state_dict"][key], expected, atol=1e-7)
    last = load("last.ckpt")
    assert torch.equal(last["state_dict"][key], second["state_dict"][key])  # the export reads this one


@pytest.mark.slow
def test_ema_final_measures_and_pictures_come_from_the_average(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, torch.Tensor] = {}
    real_build = run_module.build_system

    def spying_build_system(*args, **kwargs):
        system = real_build(*args, **kwargs)
        real_log_grid = system._log_grid

        def log_grid(rows):
            seen["validation"] = system.net.decoder.conv1_1.weight.detach().clone()
            return real_log_grid(rows)

        system._log_grid = log_grid
        real_stylize = system.stylize

        def stylize(content, style):
            seen["measure"] = system.net.decoder.conv1_1.weight.detach().clone()
            return real_stylize(content, style)

        system.stylize = stylize
        return system

    monkeypatch.setattr(run_module, "build_system", spying_build_system)
    result = train(data_root, [*TINY, *DATA, "model.ema=0.5"], "ema-spy")
    last = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    average = last["state_dict"]["net.decoder.conv1_1.weight"]
    assert torch.equal(seen["validation"], average)
    assert torch.equal(seen["measure"], average)
    assert not torch.equal(average, last[CURRENT_KEY]["net.decoder.conv1_1.weight"])


@pytest.mark.slow
def test_resume_restores_the_average_and_the_raw_weights(
    ema_run: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "resumed"
    shutil.copytree(ema_run.output_dir, folder, ignore=shutil.ignore_patterns(".stylexfer.lock"))
    saved = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    seen: dict[str, dict[str, torch.Tensor]] = {}

    real = run_module.net_training_callbacks

    def with_spy(system, model_cfg):
        callbacks = real(system, model_cfg)
        ema = next(c for c in callbacks if isinstance(c, EMA))

        import pytorch_lightning as pl

        class Look(pl.Callback):
            def on_train_start(self, trainer, pl_module):
                seen["raw"] = {k: v.detach().clone() for k, v in _trainable(pl_module).items()}
                seen["average"] = {k: v.clone() for k, v in ema.average.items()}

        return [*callbacks, Look()]

    monkeypatch.setattr(run_module, "net_training_callbacks", with_spy)
    shutil.copytree(ema_run.output_dir.parent / "content", tmp_path / "content")
    shutil.copytree(ema_run.output_dir.parent / "style", tmp_path / "style")
    result = train(tmp_path, [*TINY, *DATA, "model.ema=0.5", "trainer.max_steps=3", "ckpt_path=last"], "resumed")
    assert result.global_step == 3
    key = "net.decoder.conv1_1.weight"
    assert torch.equal(seen["raw"][key], saved[CURRENT_KEY][key])
    assert torch.equal(seen["average"][key], saved["state_dict"][key])


# --------------------------------------------------------------------------- compile, profiler


@pytest.mark.slow
def test_model_compile_trains_two_steps_on_the_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[bool] = []
    real = run_module.net_training_callbacks

    def spy(system, model_cfg):
        callbacks = real(system, model_cfg)
        compiled.extend(child._compiled_call_impl is not None for child in system.children())
        return callbacks

    monkeypatch.setattr(run_module, "net_training_callbacks", spy)
    # The aot_eager backend: TorchDynamo's capture and AOTAutograd's forward and backward graphs, as
    # with the default backend, without Inductor generating and building C++ for every kernel of the
    # Johnson net and the VGG (2+ minutes of CPU on 2 cores; the GPU check compiles with Inductor).
    plain_compile = nn.Module.compile
    monkeypatch.setattr(nn.Module, "compile", lambda self, **options: plain_compile(self, **{"backend": "aot_eager",
                                                                                               **options}))
    result = train(tmp_path, [*TINY_JOHNSON, "model.compile=true", "data.sample_images=2"])
    assert result.global_step == 2 and compiled and all(compiled)
    state = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert "net.conv1.conv.weight" in state and not any("_orig_mod" in key for key in state)  # plain names


@pytest.mark.slow
def test_debug_profiler_writes_its_report_into_the_run_folder(data_root: Path) -> None:
    result = train(data_root, ["debug=profiler", *TINY, *DATA], "profiled")
    report = result.output_dir / "fit-profile.txt"
    assert report.is_file(), sorted(p.name for p in result.output_dir.iterdir())
    assert "run_training_batch" in report.read_text()


def test_debug_profiler_composes_a_short_profiled_run() -> None:
    settings = validate(compose_config(["debug=profiler"]))
    assert settings.trainer.profiler == "simple" and settings.trainer.max_steps == 50
    with pytest.raises(ConfigError, match="trainer.profiler"):
        validate(compose_config(["trainer.profiler=fancy"]))


# --------------------------------------------------------------------------- Apple GPUs


def test_trainer_mps_composes_in_fp32() -> None:
    settings = validate(compose_config(["trainer=mps"]))
    assert settings.trainer.accelerator == "mps" and settings.trainer.precision == "32"


def test_trainer_mps_without_an_apple_gpu_stops_at_start_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no Apple GPU"):
        run(compose_config([*TINY, "trainer=mps"]), output_dir=tmp_path / "run", base_dir=tmp_path)
    assert not (tmp_path / "run").exists()


def test_device_policy_picks_mps_when_torch_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    assert pick_device("mps") == torch.device("mps")
    for precision in (None, "auto", "fp32"):
        policy = DevicePolicy("mps", precision)
        assert policy.precision == "fp32" and policy.amp_dtype is None and not policy.bf16_weights
    with pytest.raises(RequestError, match="bf16"):
        DevicePolicy("mps", "bf16")


def test_device_auto_prefers_cuda_then_falls_back_to_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


def test_stylize_device_mps_without_an_apple_gpu_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from model_factories import save_johnson_ckpt
    from stylexfer.cli import main

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    model = save_johnson_ckpt(tmp_path / "j.ckpt")
    make_images(tmp_path / "in", 1)
    code = main(["stylize", "--model", str(model), "--device", "mps", "-o", str(tmp_path / "out"),
                 str(tmp_path / "in" / "img_000.png")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1, err
    assert "--device 'mps'" in err[0] and "no Apple GPU" in err[0], err
    assert not (tmp_path / "out").exists()
