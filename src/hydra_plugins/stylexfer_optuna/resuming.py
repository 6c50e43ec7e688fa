"""Hydra's Optuna sweeper (hydra-optuna-sweeper), made to resume a study stored in SQLite.

The stock sweeper loads an existing study (load_if_exists) but then numbers its jobs from 0 again, so
a rerun in the same sweep folder would train into the folders of the first trials, and with a seeded
sampler it would propose those trials' parameters again. This one, before sweeping:

- makes the sweep folder, so `storage: sqlite:///<sweep dir>/optuna.db` can be opened there;
- counts the study's trials: `hydra.sweeper.n_trials` is the size of the whole study (finished and
  pruned trials count; a failed or killed trial does not), so rerunning the same command finishes an
  interrupted study and runs nothing when it is complete;
- numbers the new jobs after every trial the study holds (job folder N is Optuna trial N);
- reseeds the sampler when the study already has trials, so a seeded sampler does not start over.

Used by `hparams_search=adain_optuna` and `hparams_search=johnson_optuna` (hydra.sweeper._target_).
Nothing of stylexfer is imported here: the plugin scan of every `python -m stylexfer.train` stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from hydra.errors import HydraException

try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
except ImportError:  # the `sweeps` extra is not installed: offer nothing (Hydra says the plugin is unknown)
    OptunaSweeper = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)

# optuna 2.10 (the sweeper pins optuna<3) runs on SQLAlchemy 1.4, which says so once per process in
# a warning paragraph that tells a user of the search nothing they can act on
warnings.filterwarnings("ignore", message=r"Deprecated API features detected")

SQLITE = "sqlite:///"


def sqlite_file(storage: Any) -> Path | None:
    """The database file of an SQLite storage URL (relative to the working folder), else None."""
    if isinstance(storage, str) and storage.startswith(SQLITE):
        return Path(storage[len(SQLITE) :])
    return None


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and its ancestors that do not exist yet, deepest first."""
    folder = Path(os.path.abspath(folder))
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def study_progress(storage: Any, study_name: str | None) -> tuple[int, int]:
    """(trials in the study, of which finished or pruned); (0, 0) when there is no such study yet."""
    if storage is None or study_name is None:
        return 0, 0
    path = sqlite_file(storage)
    if path is not None and not path.is_file():
        return 0, 0
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # the database holds other studies only
        return 0, 0
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    trials = study.get_trials(deepcopy=False)
    return len(trials), sum(1 for t in trials if t.state in states)


def check_settings(impl: Any, arguments: list[str]) -> None:
    """What the stock sweeper would only find out with a traceback (a direction that is not
    minimize/maximize, a log interval from 0, n_trials < 0): a HydraException, which
    `python -m stylexfer.train` prints as one line with exit code 2."""
    import optuna
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

    try:
        if impl.n_trials < 0:
            raise ValueError(f"n_trials must be at least 0, got {impl.n_trials}")
        impl._process_searchspace_config()
        create_params_from_overrides([*impl._parse_sweeper_params_config(), *arguments])
        optuna.create_study(
            study_name=impl.study_name,
            storage=impl.storage,
            directions=impl._get_directions(),
            load_if_exists=True,
        )
    except (ValueError, TypeError, ImportError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise HydraException(f"hydra.sweeper (Optuna): {first}") from None
    except Exception as err:  # SQLAlchemy's: an unwritable or corrupt database file
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise HydraException(f"hydra.sweeper.storage={impl.storage}: cannot open the study ({first})") from None


if OptunaSweeper is not None:

    class ResumingOptunaSweeper(OptunaSweeper):
        """OptunaSweeper whose n_trials is the study's size and whose reruns continue it."""

        def sweep(self, arguments: list[str]) -> None:
            impl = self.sweeper
            path = sqlite_file(impl.storage)
            made = [] if path is None else missing_folders(path.parent)
            had_file = path is not None and path.exists()
            try:
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                check_settings(impl, arguments)
            except (HydraException, OSError) as err:
                # a refused sweep leaves nothing behind that it made
                if path is not None and not had_file:
                    with contextlib.suppress(OSError):
                        path.unlink()
                for folder in made:  # deepest first; only while empty
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                if isinstance(err, HydraException):
                    raise
                raise HydraException(f"hydra.sweeper.storage={impl.storage}: {err.strerror}: {err.filename}") from None
            total, done = study_progress(impl.storage, impl.study_name)
            if total:
                impl.job_idx = total
                impl.n_trials = max(0, impl.n_trials - done)
                if hasattr(impl.sampler, "reseed_rng"):
                    impl.sampler.reseed_rng()
                log.info(
                    "resuming study %s: %d trial(s) stored, %d finished; running %d more (jobs %d…)",
                    impl.study_name,
                    total,
                    done,
                    impl.n_trials,
                    total,
                )
            super().sweep(arguments)
