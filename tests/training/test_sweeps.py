"""Searches beyond grids and beyond one process: the Optuna studies (hparams_search=*_optuna: stylexfer's own
sweeper on Optuna's ask/tell API, a journal file shared by several workers, pruning, resuming) and a sweep
through Hydra's Ray launcher on a local Ray instance."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import pytest

from stylexfer.measures import OBJECTIVES
from training_utils import TINY, subprocess_env, train_command

optuna = pytest.importorskip("optuna", reason="the `sweeps` extra is not installed")

TRIAL = [*TINY, "trainer.max_steps=1"]  # a few seconds a job: random VGG, 32 px, generated sample data
DONE = ("COMPLETE", "PRUNED")


def _env() -> dict[str, str]:
    # one torch thread a process: on two loaded cores (and two workers at once) more threads only wait on
    # each other; measured here, a VGG-19 pass at 32 px took 1.3 s with two threads, 0.1 s with one
    return subprocess_env() | {"OMP_NUM_THREADS": "1"}


def run_train(*overrides: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        train_command(*overrides), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env()
    )


def _study(sweep: Path, name: str):
    """The study as optuna-dashboard opens it: Optuna's current journal-file API on <sweep>/optuna.journal."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(sweep / "optuna.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def _final(job: Path) -> dict:
    return json.loads((job / "final.json").read_text())


def _one_error_line(done: subprocess.CompletedProcess, says: str) -> None:
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and says in errors[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_optuna_study_runs_two_trials_and_a_rerun_resumes_it_to_three(tmp_path: Path) -> None:
    sweep = tmp_path / "study"
    command = ["hparams_search=adain_optuna", *TRIAL, f"hydra.sweep.dir={sweep}"]
    first = run_train(*command, "hydra.sweeper.n_trials=2", cwd=tmp_path, timeout=400)
    assert first.returncode == 0, first.stderr[-3000:]
    study = _study(sweep, "adain_optuna")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]  # the Pareto search
    trials = study.get_trials()
    assert [(t.number, t.state.name) for t in trials] == [(0, "COMPLETE"), (1, "COMPLETE")]
    for trial in trials:
        # the values Optuna minimised are the run's own end-of-run measures, from final.json
        final = _final(sweep / str(trial.number))
        assert final["status"] == "finished"
        assert trial.values == pytest.approx([final["evaluate"][name] for name in OBJECTIVES], rel=1e-12)
        assert all(math.isfinite(v) and v > 0 for v in trial.values)
        assert set(trial.params) == {"lambda", "optim.lr"}
        assert 1 <= trial.params["lambda"] <= 30 and 1e-5 <= trial.params["optim.lr"] <= 1e-3
        assert final["hparams"]["lambda"] == pytest.approx(trial.params["lambda"])
        assert final["hparams"]["optim.lr"] == pytest.approx(trial.params["optim.lr"])
    assert {t.number for t in study.best_trials} <= {0, 1}  # the Pareto set Optuna keeps
    before = {n: (sweep / str(n) / "final.json").read_bytes() for n in (0, 1)}

    again = run_train(*command, "hydra.sweeper.n_trials=3", cwd=tmp_path, timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = _study(sweep, "adain_optuna").get_trials()
    assert [(t.number, t.state.name) for t in trials] == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")]
    assert {n: (sweep / str(n) / "final.json").read_bytes() for n in (0, 1)} == before  # untouched
    assert _final(sweep / "2")["status"] == "finished"  # the new trial got a folder of its own
    assert trials[2].params not in (trials[0].params, trials[1].params)  # the seeded sampler did not restart
    assert "resuming study adain_optuna: 2 trial(s) stored" in again.stdout + again.stderr


def _worker(sweep: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        train_command("hparams_search=adain_optuna", *TRIAL, f"hydra.sweep.dir={sweep}", *extra),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )


def _job_folders(sweep: Path) -> set[int]:
    return {int(p.name) for p in sweep.iterdir() if p.name.isdigit()}


@pytest.mark.slow
def test_two_workers_started_at_once_share_one_journal_study_of_exactly_six_trials(tmp_path: Path) -> None:
    sweep = tmp_path / "study"
    workers = [_worker(sweep, tmp_path, "hydra.sweeper.n_trials=6") for _ in range(2)]
    outputs = [w.communicate(timeout=500)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    trials = _study(sweep, "adain_optuna").get_trials()
    done = [t for t in trials if t.state.name in DONE]
    assert len(done) == 6
    # anything else is a trial asked for beyond n_trials by a race between the workers: failed, never run
    assert all(t.state.name == "FAIL" and t.system_attrs.get("stylexfer:surplus") for t in trials if t not in done)
    assert _job_folders(sweep) == {t.number for t in done}  # one folder per trial, none lost, none shared
    for trial in done:
        final = _final(sweep / str(trial.number))
        assert final["status"] == "finished"
        assert final["hparams"]["lambda"] == pytest.approx(trial.params["lambda"])
    assert len({t.params["lambda"] for t in done}) == 6  # the workers did not propose the same trials
    assert all("Launching 1 jobs locally" in output for output in outputs)  # both did work


@pytest.mark.slow
def test_a_worker_killed_mid_trial_is_rerun_and_the_study_completes(tmp_path: Path) -> None:
    sweep = tmp_path / "study"
    extra = ("hydra.sweeper.n_trials=2", "hydra.sweeper.heartbeat=1")
    worker = _worker(sweep, tmp_path, *extra, "trainer.max_steps=1000")  # long enough to be killed in training
    final = sweep / "0" / "final.json"
    deadline = time.monotonic() + 200
    while not (final.is_file() and _final(sweep / "0")["status"] == "running"):  # training has begun
        assert worker.poll() is None and time.monotonic() < deadline, worker.communicate()[0][-3000:]
        time.sleep(0.2)
    worker.kill()  # SIGKILL: no chance to tell the study anything
    worker.wait()
    killed = _study(sweep, "adain_optuna").get_trials()[0]
    assert killed.state.name == "RUNNING"  # as the dead worker left it

    again = run_train(
        "hparams_search=adain_optuna", *TRIAL, f"hydra.sweep.dir={sweep}", *extra, cwd=tmp_path, timeout=400
    )
    assert again.returncode == 0, again.stderr[-3000:]
    trials = _study(sweep, "adain_optuna").get_trials()
    assert trials[0].state.name == "FAIL"  # the killed trial: failed by its silent heartbeat, not counted
    done = [t for t in trials if t.state.name in DONE]
    assert len(done) == 2
    retried = [t for t in done if t.system_attrs.get("failed_trial") == 0]
    assert len(retried) == 1 and retried[0].params == killed.params  # proposed again, once
    assert "trial 0 sent no heartbeat" in again.stdout + again.stderr
    for trial in done:
        assert _final(sweep / str(trial.number))["status"] == "finished"
    assert _final(sweep / "0")["status"] == "running"  # the killed run's folder is left as it was


def _prefilled_study(sweep: Path, n: int, value: float) -> None:
    """A study of adain_optuna's search with `n` finished trials whose every validation scored `value`."""
    from optuna.distributions import FloatDistribution
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from hydra_plugins.stylexfer_optuna.sweeper import SEARCH_ATTR, search_space

    space = search_space({"lambda": "tag(log, interval(1, 30))", "optim.lr": "tag(log, interval(1e-5, 1e-3))"}, [])
    sweep.mkdir(parents=True)
    storage = JournalStorage(JournalFileBackend(str(sweep / "optuna.journal")))
    study = optuna.create_study(study_name="adain_optuna", storage=storage, direction="minimize")
    study.set_user_attr(SEARCH_ATTR, {"objective": "sum", "params": space.signature()})
    for i in range(n):
        params = {"lambda": 10.0 + i, "optim.lr": 1e-4}
        study.add_trial(
            optuna.create_trial(
                params=params,
                distributions={
                    k: FloatDistribution(*r, log=True) for k, r in {"lambda": (1, 30), "optim.lr": (1e-5, 1e-3)}.items()
                },
                value=value,
                intermediate_values=dict.fromkeys(range(1, 5), value),
            )
        )


@pytest.mark.slow
def test_median_pruner_stops_a_trial_that_trails_the_study_and_its_folder_says_pruned(tmp_path: Path) -> None:
    sweep = tmp_path / "study"
    _prefilled_study(sweep, 5, value=1e-12)  # five trials no real run can beat: the next one trails at once
    done = run_train(
        "hparams_search=adain_optuna",
        *TRIAL,
        "trainer.max_steps=4",
        "trainer.val_check_interval=1",
        "hparams_search.objective=sum",
        "hparams_search.pruner=median",
        f"hydra.sweep.dir={sweep}",
        "hydra.sweeper.n_trials=6",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trial = _study(sweep, "adain_optuna").get_trials()[5]
    assert trial.state.name == "PRUNED"
    assert list(trial.intermediate_values) == [1]  # reported at its first validation, stopped there
    final = _final(sweep / "5")
    assert final["status"] == "pruned" and final["pruned_at_step"] == 1 and final["step"] == 1
    assert sum(final["evaluate"][name] for name in OBJECTIVES) == pytest.approx(trial.intermediate_values[1])
    assert (sweep / "5" / "checkpoints" / "last.ckpt").is_file()  # a pruned run keeps what it trained


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("hydra.sweeper.sampler.n_startup=3", "unknown configuration key 'hydra.sweeper.sampler.n_startup'"),
        (
            "hparams_search.pruner=percentile",
            "hparams_search.pruner=percentile: unknown pruner; choose one of median, hyperband, none",
        ),
        ("hparams_search.storage=sqlite:////no/such/folder/optuna.db", "cannot open the study's database"),
    ],
)
def test_bad_optuna_settings_are_one_line_exit_2_and_leave_no_folder(tmp_path: Path, override: str, says: str) -> None:
    sweep = tmp_path / "new" / "study"
    done = run_train("hparams_search=johnson_optuna", *TRIAL, f"hydra.sweep.dir={sweep}", override, cwd=tmp_path)
    _one_error_line(done, says)
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_a_corrupt_journal_is_one_line_exit_2_and_left_as_it_was(tmp_path: Path) -> None:
    sweep = tmp_path / "study"
    sweep.mkdir()
    journal = sweep / "optuna.journal"
    journal.write_bytes(b"these are not Optuna's log lines\n{\n")
    done = run_train("hparams_search=adain_optuna", *TRIAL, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    _one_error_line(done, "cannot be read")
    assert journal.read_bytes() == b"these are not Optuna's log lines\n{\n"
    assert sorted(p.name for p in sweep.iterdir()) == ["optuna.journal"]


def test_a_run_reports_each_validation_to_the_search_and_is_never_pruned_at_its_last_step(monkeypatch) -> None:
    from types import SimpleNamespace

    from stylexfer.training import measure

    measures = {"content_relu4_1": 1.0, "style_mean_std": 2.0}
    monkeypatch.setattr(measure, "measure_pairs", lambda system, pairs: (measures, {"on": "test"}))
    asked: list[int] = []
    callback = measure.ReportMeasures(pairs=[], listener=lambda step, m: asked.append(step) or m == measures)
    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True, global_step=4, max_steps=4, should_stop=False)
    callback.on_validation_end(trainer, None)  # the last step: measured (the run's result), not a reason to stop
    assert asked == [] and callback.pruned_at is None and callback.last == (4, measures, {"on": "test"})
    assert not trainer.should_stop
    trainer.global_step = 2
    callback.on_validation_end(trainer, None)
    assert asked == [2] and callback.pruned_at == 2 and trainer.should_stop


def _sweeper(tmp_path: Path, **settings: object):
    from omegaconf import OmegaConf

    from hydra_plugins.stylexfer_optuna.sweeper import StylexferOptunaSweeper

    params = {"lambda": "tag(log, interval(1, 30))", "optim.lr": "tag(log, interval(1e-5, 1e-3))"}
    values: dict = {
        "study_name": "adain_optuna",
        "storage": None,
        "n_trials": 2,
        "objective": "pareto",
        "pruner": "none",
        "heartbeat": 10.0,
        "sampler": {"name": "tpe", "seed": 0},
        "params": params,
    }
    values |= settings
    sweeper = StylexferOptunaSweeper(
        **{k: OmegaConf.create(v) if isinstance(v, dict) else v for k, v in values.items()}
    )
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "study")}}})
    return sweeper


def _open(sweeper, arguments: list[str] | None = None):
    return sweeper.open_study(sweeper.check_settings(arguments or []))


@pytest.mark.slow
def test_a_seeded_search_proposes_the_same_trials_in_a_fresh_study_and_an_unseeded_one_does_not(
    tmp_path: Path,
) -> None:
    def proposals(folder: str, seed: int | None) -> list[dict]:
        sweeper = _sweeper(tmp_path / folder, n_trials=3, sampler={"name": "tpe", "seed": seed})
        space = sweeper.check_settings([])
        study = sweeper.open_study(space)
        trials, asked = sweeper._trials(study, space), []
        for trial in trials:
            asked.append(trial.params)
            study.tell(trial, [1.0 / len(asked), float(len(asked))])
        return asked

    seeded = proposals("a", 0)
    assert len(seeded) == 3 and len({p["lambda"] for p in seeded}) == 3
    assert proposals("b", 0) == seeded
    assert proposals("c", None) != seeded


def test_a_study_created_with_other_parameters_or_objective_is_refused_by_name(tmp_path: Path) -> None:
    from hydra_plugins.stylexfer_optuna.sweeper import SweepSettingError

    _open(_sweeper(tmp_path))
    assert [d.name for d in _open(_sweeper(tmp_path)).directions] == ["MINIMIZE", "MINIMIZE"]  # the same: resumes
    with pytest.raises(SweepSettingError, match=r"created with other parameters \(lambda\); use another"):
        _open(_sweeper(tmp_path), ["lambda=tag(log, interval(1, 10))"])
    with pytest.raises(SweepSettingError, match=r"study 'adain_optuna' in the journal .*(objective|direction)"):
        _open(_sweeper(tmp_path, objective="sum"))


def test_pruning_a_pareto_search_and_unknown_names_are_refused_before_the_storage_is_touched(tmp_path: Path) -> None:
    from hydra_plugins.stylexfer_optuna.sweeper import SweepSettingError

    with pytest.raises(SweepSettingError, match=r"pruner=median needs one objective.*hparams_search.objective=sum"):
        _open(_sweeper(tmp_path, pruner="median"))
    with pytest.raises(SweepSettingError, match=r"objective=both: unknown objective; choose one of pareto, sum"):
        _open(_sweeper(tmp_path, objective="both"))
    with pytest.raises(SweepSettingError, match=r"hydra.sweeper.params: nothing to search"):
        _open(_sweeper(tmp_path, params={"lambda": "7"}))
    assert not (tmp_path / "study").exists()


@pytest.mark.skipif(
    not Path("/sys/kernel").is_dir(), reason="needs Linux's sysfs: a folder no one may write, root included"
)
def test_a_journal_in_a_read_only_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    from hydra_plugins.stylexfer_optuna.sweeper import SweepSettingError

    with pytest.raises(SweepSettingError, match=r"cannot write the study's journal /sys/optuna.journal \(Permission"):
        _open(_sweeper(tmp_path, storage="/sys/optuna.journal"))


def test_a_corrupt_sqlite_database_is_refused_in_one_line_and_kept(tmp_path: Path) -> None:
    from hydra_plugins.stylexfer_optuna.sweeper import SweepSettingError

    db = tmp_path / "optuna.db"
    db.write_bytes(b"not a database" * 100)
    with pytest.raises(SweepSettingError, match=r"storage=sqlite:///.*cannot open the study's database \(") as err:
        _open(_sweeper(tmp_path, storage=f"sqlite:///{db}"))
    assert "\n" not in str(err.value)
    assert db.read_bytes() == b"not a database" * 100


def test_an_rdb_url_stores_the_study_too(tmp_path: Path) -> None:
    study = _open(_sweeper(tmp_path, storage=f"sqlite:///{tmp_path / 'optuna.db'}"))
    assert (
        optuna.load_study(study_name="adain_optuna", storage=f"sqlite:///{tmp_path / 'optuna.db'}").directions
        == study.directions
    )


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
