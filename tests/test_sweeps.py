"""Searches beyond grids and beyond one process: the Optuna studies (hparams_search=*_optuna, resumable
from their SQLite file) and a sweep through Hydra's Ray launcher on a local Ray instance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from stylexfer.experiments.measures import OBJECTIVES
from training_utils import TINY, run_train

TRIAL = [*TINY, "trainer.max_steps=1"]  # a few seconds a job: random VGG, 32 px, generated sample data


def _study(db: Path, name: str):
    optuna = pytest.importorskip("optuna")
    return optuna.load_study(study_name=name, storage=f"sqlite:///{db}")


def _final(job: Path) -> dict:
    return json.loads((job / "final.json").read_text())


@pytest.mark.slow
def test_optuna_study_runs_two_trials_and_a_rerun_resumes_it_to_three(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the `sweeps` extra is not installed")
    sweep = tmp_path / "study"
    command = ["hparams_search=adain_optuna", *TRIAL, f"hydra.sweep.dir={sweep}"]
    first = run_train(*command, "hydra.sweeper.n_trials=2", cwd=tmp_path, timeout=400)
    assert first.returncode == 0, first.stderr[-3000:]
    db = sweep / "optuna.db"
    assert db.is_file()
    study = _study(db, "adain_optuna")
    trials = study.get_trials()
    assert [(t.number, t.state.name) for t in trials] == [(0, "COMPLETE"), (1, "COMPLETE")]
    for trial in trials:
        # the values Optuna minimised are the run's own end-of-run measures, from final.json
        job = sweep / str(trial.number)
        final = _final(job)
        assert final["status"] == "finished"
        assert trial.values == pytest.approx([final["evaluate"][name] for name in OBJECTIVES], rel=1e-12)
        assert all(math.isfinite(v) and v > 0 for v in trial.values)
        assert set(trial.params) == {"lambda", "optim.lr"}
        assert 1 <= trial.params["lambda"] <= 30 and 1e-5 <= trial.params["optim.lr"] <= 1e-3
        assert final["hparams"]["lambda"] == pytest.approx(trial.params["lambda"])
        assert final["hparams"]["optim.lr"] == pytest.approx(trial.params["optim.lr"])
    assert "solutions" in yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    before = {n: (sweep / str(n) / "final.json").read_bytes() for n in (0, 1)}

    again = run_train(*command, "hydra.sweeper.n_trials=3", cwd=tmp_path, timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = _study(db, "adain_optuna").get_trials()
    assert [(t.number, t.state.name) for t in trials] == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")]
    assert {n: (sweep / str(n) / "final.json").read_bytes() for n in (0, 1)} == before  # untouched
    assert _final(sweep / "2")["status"] == "finished"  # the new trial got a folder of its own
    assert trials[2].params not in (trials[0].params, trials[1].params)  # the seeded sampler did not restart
    assert "resuming study adain_optuna: 2 trial(s) stored" in again.stdout + again.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("hydra.sweeper.sampler.n_startup=3", "unknown configuration key 'hydra.sweeper.sampler.n_startup'"),
        ("hydra.sweeper.direction=[minimize,down]", "hydra.sweeper (Optuna): Please set either 'minimize'"),
    ],
)
def test_bad_optuna_settings_are_one_line_exit_2_and_leave_no_folder(tmp_path: Path, override: str, says: str) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the `sweeps` extra is not installed")
    sweep = tmp_path / "new" / "study"
    done = run_train("hparams_search=johnson_optuna", *TRIAL, f"hydra.sweep.dir={sweep}", override, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and says in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "new").exists()


def _ray_processes() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"raylet" in command or b"gcs_server" in command:
                found.add(int(entry.name))
    return found


@pytest.mark.slow
def test_ray_launcher_runs_a_two_job_lambda_sweep_on_a_local_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray", reason="the `cluster` extra (hydra-ray-launcher) is not installed")
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the `cluster` extra is not installed")
    sweep = tmp_path / "sweep"
    before = _ray_processes()
    home = tmp_path / "home"  # Ray writes its session token under ~/.ray: keep it in the test's folder
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    done = run_train(
        "-m",
        "hydra/launcher=ray",
        # the launcher's own local start (address null): 2 CPUs, no dashboard, loopback only;
        # the instance belongs to the sweep's process and stops with it
        "+hydra.launcher.ray.init.num_cpus=2",
        "+hydra.launcher.ray.init.include_dashboard=false",
        "+hydra.launcher.ray.init._node_ip_address=127.0.0.1",
        *TRIAL,
        "lambda=6,7",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ray Launcher is launching 2 jobs" in done.stdout + done.stderr
    for job, weight in (("0", 6.0), ("1", 7.0)):
        final = _final(sweep / job)
        assert final["status"] == "finished" and final["step"] == 1
        assert final["hparams"]["lambda"] == weight
        assert all(math.isfinite(final["evaluate"][name]) for name in OBJECTIVES)
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
    assert _ray_processes() <= before  # the local Ray instance is gone with the sweep
