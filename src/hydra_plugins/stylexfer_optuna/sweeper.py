"""A Hydra sweeper that runs one Optuna study with ask/tell: each worker (one `python -m stylexfer.train -m
hparams_search=...` process) asks the shared study for a trial, runs it as a Hydra job through Hydra's launcher
in its own folder (job folder N is trial N), and tells the study the result. Storage and workers: docs/searches.md.

- n_trials is the size of the whole study, counted over every worker: a worker stops when finished, pruned and
  running trials reach it (and waits for the running ones, which may still fail). A trial asked for beyond it
  by a race between workers is marked failed before it runs, so exactly n_trials trials finish or are pruned.
- A running trial sends a heartbeat (a user attribute) every `heartbeat` seconds; one silent for three is
  failed by whichever worker sees it first (the journal lets one win) and proposed again with the same
  parameters (Optuna's RetryHeartbeatStaleTrialCallback). Rerunning a killed worker's command resumes.
- Pruning: while a trial trains in this process, each validation reports its measures to the study
  (stylexfer.training.measure.validation_listener) and the pruner may stop it; its folder then says "pruned".

Nothing of stylexfer or Optuna is imported at module level: Hydra imports this module on every
`python -m stylexfer.train`, which must stay quick.
"""

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hydra.core.plugins import Plugins
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from stylexfer.errors import one_line
from stylexfer.files.runs import SEARCH_JOURNAL as JOURNAL_NAME  # also what marks a sweep folder as ours
from stylexfer.training.runfolder import missing_folders

log = logging.getLogger(__name__)

PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "random")
OBJECTIVES: dict[str, list[Literal["minimize", "maximize"]]] = {
    "pareto": ["minimize", "minimize"],  # (content distance, style distance): the Pareto set
    "sum": ["minimize"],  # content + style distance: one value, which a pruner can use
}
HEARTBEAT_ATTR = "stylexfer:heartbeat"  # seconds since the epoch, written by the worker running the trial
SEARCH_ATTR = "stylexfer:search"  # the objective and search space the study was created with
SURPLUS_ATTR = "stylexfer:surplus"  # asked for beyond n_trials by a race between workers: never run
STALE_BEATS = 3
MAX_RETRIES = 2  # a trial killed this often is not proposed again


class SweepSettingError(HydraException):
    """A sweep setting or storage that cannot work: one line, exit code 2, before any training."""


@dataclass
class SearchSpace:
    distributions: dict[str, Any] = field(default_factory=dict)  # name -> optuna distribution
    fixed: list[str] = field(default_factory=list)  # overrides every job gets as they are

    def signature(self) -> dict[str, str]:
        from optuna.distributions import distribution_to_json

        return {name: distribution_to_json(d) for name, d in sorted(self.distributions.items())}


def search_space(params: dict[str, Any], arguments: Sequence[str]) -> SearchSpace:
    """Hydra's sweep syntax (`interval(1, 30)`, `tag(log, interval(...))`, `a,b,c`, `range(...)`) -> Optuna
    distributions; the command line's arguments override the config's params key by key."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    parser = OverridesParser.create()
    texts = {str(k): f"{k}={v}" for k, v in params.items()}
    for argument in arguments:
        texts[argument.split("=", 1)[0]] = argument
    space = SearchSpace()
    for override in parser.parse_overrides(list(texts.values())):
        key = override.get_key_element()
        if not override.is_sweep_override():
            space.fixed.append(override.input_line or f"{key}={override.get_value_element_as_str()}")
            continue
        value = override.value()
        log_scale = "log" in getattr(value, "tags", set())
        if isinstance(value, IntervalSweep):
            if value.start is None or value.end is None or not value.start < value.end:
                raise ValueError(f"{key}: an interval needs start < end, got {value.start}, {value.end}")
            if "int" in value.tags:
                space.distributions[key] = IntDistribution(int(value.start), int(value.end), log=log_scale)
            else:
                space.distributions[key] = FloatDistribution(float(value.start), float(value.end), log=log_scale)
        elif isinstance(value, (ChoiceSweep, RangeSweep)):
            space.distributions[key] = CategoricalDistribution(list(override.sweep_iterator()))  # type: ignore[arg-type]
        else:
            raise ValueError(f"{key}: Optuna cannot search {type(value).__name__}")
    return space


def make_pruner(name: str) -> Any:
    import optuna

    if name == "median":  # the first 5 trials run to the end: a median needs a few curves to compare with
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":  # max_resource: the steps the first finished trial reported
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto", reduction_factor=3)
    return optuna.pruners.NopPruner()


def make_sampler(name: str, seed: int | None) -> Any:
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def open_storage(storage: str | None, sweep_dir: Path) -> tuple[Any, str, list[Path]]:
    """(an Optuna storage, how to name it in messages, what this call created: files then folders).
    Raises SweepSettingError when it cannot be opened or read."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if storage and "://" in storage:
        try:
            return optuna.storages.RDBStorage(storage), storage, []
        except Exception as err:  # SQLAlchemy's: no driver, no server, a file that is no database
            raise SweepSettingError(
                f"hparams_search.storage={storage}: cannot open the study's database ({one_line(err, limit=2000)}); "
                "check the URL, or leave hparams_search.storage unset for a journal file in the sweep folder"
            ) from None
    path = Path(os.path.abspath(storage or sweep_dir / JOURNAL_NAME))
    made = missing_folders(path.parent)
    created = [path] if not path.exists() else []
    name = f"journal {path}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise PermissionError(13, "Permission denied", str(path.parent))
        return JournalStorage(JournalFileBackend(str(path))), name, [*created, *made]
    except OSError as err:
        _remove(created, made)
        raise SweepSettingError(
            f"hparams_search.storage: cannot write the study's {name} ({err.strerror or one_line(err, limit=2000)}); "
            "pick a writable hydra.sweep.dir or hparams_search.storage=PATH (all workers must reach it)"
        ) from None
    except Exception as err:  # a journal whose lines are not Optuna's
        _remove(created, made)
        raise SweepSettingError(
            f"hparams_search.storage: the study's {name} cannot be read ({one_line(err, limit=2000)}); "
            "is it an Optuna journal file? Move it away or pick another hparams_search.storage"
        ) from None


def _remove(files: list[Path], folders: list[Path]) -> None:
    """Undo what a refused sweep created: its files, then its folders (deepest first, only while empty)."""
    for path in files:
        for leftover in (path, Path(f"{path}.lock")):
            with contextlib.suppress(OSError):
                leftover.unlink()
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


class Heartbeat:
    """Writes the trial's heartbeat into the study every `interval` seconds from a daemon thread."""

    def __init__(self, storage: Any, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="optuna-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a finished trial or a storage hiccup: the next beat tries again
                self.storage.set_trial_user_attr(self.trial_id, HEARTBEAT_ATTR, time.time())

    def __enter__(self) -> "Heartbeat":
        self.storage.set_trial_user_attr(self.trial_id, HEARTBEAT_ATTR, time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


class TrialListener:
    """Receives a trial's validation measures (step, {measure: value}) and says whether to prune it."""

    def __init__(self, trial: Any, objective: str, prune: bool) -> None:
        self.trial, self.objective, self.prune = trial, objective, prune
        self.pruned = False

    def __call__(self, step: int, measures: dict[str, float]) -> bool:
        from stylexfer.training.measure import objectives

        values = objective_values(objectives(measures), self.objective)
        if values is None or self.objective != "sum":  # Optuna prunes one-objective studies only
            return False
        self.trial.report(values[0], step)
        self.pruned = self.prune and self.trial.should_prune()
        return self.pruned


def objective_values(pair: Any, objective: str) -> list[float] | None:
    """The values the study minimises from a run's (content distance, style distance)
    (training.measure.objectives, what the task function returns): both, or their sum; None without
    two finite numbers."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(math.isfinite(v) for v in pair):
        return None
    return [pair[0] + pair[1]] if objective == "sum" else list(pair)


def _check_choice(key: str, value: str, choices: Iterable[str], what: str) -> None:
    if value not in choices:
        raise SweepSettingError(f"{key}={value}: unknown {what}; choose one of {', '.join(choices)}")


def _counted(study: Any) -> list[Any]:
    """The trials that count toward n_trials: finished, pruned and running ones."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))


class StylexferOptunaSweeper(Sweeper):
    """hydra/sweeper=stylexfer_optuna (see the module docstring)."""

    def __init__(
        self,
        study_name: str,
        storage: str | None,
        n_trials: int,
        objective: str,
        pruner: str,
        heartbeat: float,
        sampler: DictConfig,
        params: DictConfig | None,
        shares_sweep_dir: bool = True,  # read by stylexfer's run-folder guard (config.py)
    ) -> None:
        self.study_name, self.storage, self.n_trials = study_name, storage, n_trials
        self.objective, self.pruner_name, self.heartbeat = objective, pruner, heartbeat
        self.sampler_name, self.seed = str(sampler.name), sampler.seed
        self.params: dict[str, Any] = (
            {str(k): v for k, v in OmegaConf.to_container(params, resolve=True).items()}  # type: ignore[union-attr]
            if params is not None
            else {}
        )
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # --- start-up checks: everything here runs before any training ---

    def check_settings(self, arguments: list[str]) -> SearchSpace:
        _check_choice("hparams_search.pruner", self.pruner_name, PRUNERS, "pruner")
        _check_choice("hparams_search.objective", self.objective, OBJECTIVES, "objective")
        if self.pruner_name != "none" and self.objective != "sum":
            raise SweepSettingError(
                f"hparams_search.pruner={self.pruner_name} needs one objective (Optuna prunes single-objective "
                "studies only); add hparams_search.objective=sum, or use hparams_search.pruner=none"
            )
        _check_choice("hydra.sweeper.sampler.name", self.sampler_name, SAMPLERS, "sampler")
        if self.n_trials < 0:
            raise SweepSettingError(f"hydra.sweeper.n_trials={self.n_trials}: must be at least 0")
        if not self.heartbeat > 0:
            raise SweepSettingError(f"hydra.sweeper.heartbeat={self.heartbeat}: must be a positive number of seconds")
        try:
            space = search_space(self.params, arguments)
        except Exception as err:  # noqa: BLE001 - Hydra's parser and Optuna's distributions: one line either way
            raise SweepSettingError(f"hydra.sweeper.params: {one_line(err, limit=2000)}") from None
        if not space.distributions:
            raise SweepSettingError("hydra.sweeper.params: nothing to search; give at least one interval or choice")
        return space

    def open_study(self, space: SearchSpace) -> Any:
        import optuna

        assert self.config is not None
        storage, name, created = open_storage(self.storage, Path(str(self.config.hydra.sweep.dir)))
        directions = OBJECTIVES[self.objective]
        search: dict[str, Any] = {"objective": self.objective, "params": space.signature()}
        try:
            study = optuna.create_study(
                study_name=self.study_name, storage=storage, directions=directions, load_if_exists=True
            )
            stored = study.user_attrs.get(SEARCH_ATTR)
            if stored is None:
                study.set_user_attr(SEARCH_ATTR, search)
            elif stored != search or [d.name.lower() for d in study.directions] != directions:
                differs = sorted(
                    k
                    for k in {*stored.get("params", {}), *search["params"]}
                    if stored.get("params", {}).get(k) != search["params"].get(k)
                )
                what = f"other parameters ({', '.join(differs)})" if differs else f"objective={stored.get('objective')}"
                raise SweepSettingError(
                    f"study {self.study_name!r} in the {name} was created with {what}; "
                    "use another hydra.sweeper.study_name or hydra.sweep.dir, or the settings it was created with"
                )
        except SweepSettingError:
            raise
        except Exception as err:  # directions of an existing study, a storage that fails on first use
            files = [p for p in created if p.is_file()]
            _remove(files, [p for p in created if p not in files])
            raise SweepSettingError(f"study {self.study_name!r} in the {name}: {one_line(err, limit=2000)}") from None
        return study

    # --- the worker loop ---

    def sweep(self, arguments: list[str]) -> list[Any]:
        import optuna

        space = self.check_settings(arguments)
        study = self.open_study(space)
        study.pruner = make_pruner(self.pruner_name)
        study.sampler = make_sampler(self.sampler_name, self.seed)
        stored = study.get_trials(deepcopy=False)
        if stored:
            done = sum(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in stored)
            log.info(
                "resuming study %s: %d trial(s) stored, %d finished or pruned, %d in all",
                self.study_name,
                len(stored),
                done,
                self.n_trials,
            )
        results = [self._run_trial(study, trial, space) for trial in self._trials(study, space)]
        finished = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
        if finished:
            log.info(
                "study %s: best trial(s) %s",
                self.study_name,
                ", ".join(f"#{t.number} {[round(v, 6) for v in t.values]}" for t in study.best_trials),
            )
        return results

    def _trials(self, study: Any, space: SearchSpace) -> Iterator[Any]:
        """Trials for this worker to run, until the study holds n_trials finished or pruned ones."""
        from optuna.trial import TrialState

        while True:
            self._fail_stale(study)
            trials = _counted(study)
            if len(trials) >= self.n_trials:
                if not any(t.state == TrialState.RUNNING for t in trials):
                    return
                time.sleep(min(self.heartbeat, 5.0))  # another worker's trial may still fail
                continue
            if self.seed is not None:  # reproducible per study position, and two workers do not repeat each other
                study.sampler = make_sampler(self.sampler_name, self.seed + len(study.get_trials(deepcopy=False)))
            trial = study.ask(space.distributions)
            if self._surplus(study, trial):
                continue
            yield trial

    def _surplus(self, study: Any, trial: Any) -> bool:
        """True (and the trial failed, unrun) when workers asked at once and this one is beyond n_trials:
        trial numbers follow the storage's order, so counting the ones before it is exact."""
        from optuna.trial import TrialState

        if sum(t.number < trial.number for t in _counted(study)) < self.n_trials:
            return False
        study._storage.set_trial_system_attr(trial._trial_id, SURPLUS_ATTR, True)
        study.tell(trial, state=TrialState.FAIL)
        frozen = study._storage.get_trial(trial._trial_id)
        if "failed_trial" in frozen.system_attrs:  # a retry popped by this worker: put it back for later
            from optuna.storages import RetryHeartbeatStaleTrialCallback

            RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES + 1)(study, frozen)
        return True

    def _fail_stale(self, study: Any) -> None:
        """Fail the running trials whose worker went silent (killed), and propose each again once."""
        import optuna
        from optuna.storages import RetryHeartbeatStaleTrialCallback
        from optuna.trial import TrialState

        now, grace = time.time(), STALE_BEATS * self.heartbeat
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            # a retried trial inherits its killed predecessor's last beat: its own start counts as a beat too
            start = trial.datetime_start.timestamp() if trial.datetime_start is not None else 0.0
            beat = max(float(trial.user_attrs.get(HEARTBEAT_ATTR, 0.0)), start)
            if now - beat <= grace:
                continue
            try:
                won = study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another worker failed it first
            if won:
                log.warning(
                    "trial %d sent no heartbeat for %.0f s (its worker was killed?): marked failed; "
                    "its parameters are proposed again",
                    trial.number,
                    now - beat,
                )
                RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(
                    study, study._storage.get_trial(trial._trial_id)
                )

    def _run_trial(self, study: Any, trial: Any, space: SearchSpace) -> Any:
        from hydra.core.utils import JobStatus
        from optuna.trial import TrialState

        from stylexfer.training.measure import validation_listener

        overrides = [
            *space.fixed,
            *(
                f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"
                for name, value in trial.params.items()
            ),
        ]
        listener = TrialListener(trial, self.objective, prune=self.pruner_name != "none")
        # one objective: each validation reports it (pruning; the dashboard's intermediate values); two
        # objectives: Optuna takes no intermediate values, so the runs skip the extra measuring
        listening = validation_listener(listener) if self.objective == "sum" else contextlib.nullcontext()
        try:
            with Heartbeat(study._storage, trial._trial_id, self.heartbeat), listening:
                (ret,) = self.launcher.launch([overrides], initial_job_idx=trial.number)
        except BaseException:  # a trial whose run exits (bad input, Ctrl-C): failed, not left running
            with contextlib.suppress(Exception):
                study.tell(trial, state=TrialState.FAIL)
            raise
        if ret.status == JobStatus.FAILED:
            study.tell(trial, state=TrialState.FAIL)
            return ret.return_value  # re-raises the job's exception, as Hydra's own sweepers do
        if listener.pruned:
            study.tell(trial, state=TrialState.PRUNED)
            log.info("trial %d pruned", trial.number)
            return ret
        values = objective_values(ret.return_value, self.objective)
        if values is None:
            study.tell(trial, state=TrialState.FAIL)
            log.warning("trial %d measured nothing to minimise (no validation pairs?): marked failed", trial.number)
        else:
            study.tell(trial, values)
        return ret
