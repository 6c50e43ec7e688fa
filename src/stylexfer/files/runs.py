"""A training run's folder on disk, as training writes it and the report reads it: the lock a live run
holds for its whole life, the summary it ends with, and the names that mark a folder as a run's."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LOCK_NAME = ".stylexfer.lock"
SUMMARY_NAME = "final.json"  # RunSummary: the run's status, written at start, updated, final at the end
SEARCH_JOURNAL = "optuna.journal"
SAMPLE_DATA_VERSION = 1  # the generated sample set (training.data.sample_data), in a run folder when no data is given
SAMPLE_DATA_DIR = f"sample_data_v{SAMPLE_DATA_VERSION}"
# Names that make a folder a run or sweep folder of this project (every run since the lock writes
# LOCK_NAME; Hydra writes .hydra/; RunSummary final.json; a sweep multirun.yaml; an Optuna search its journal;
# a run without data (or the demo) the generated sample set).
RUN_MARKERS = (LOCK_NAME, ".hydra", SUMMARY_NAME, "multirun.yaml", SEARCH_JOURNAL, SAMPLE_DATA_DIR)


def lock_holder(path: Path) -> str:
    """The PID written in a run lock file, or "unknown"."""
    with contextlib.suppress(OSError):
        return path.read_text(encoding="ascii", errors="replace").strip() or "unknown"
    return "unknown"


def is_locked(folder: Path) -> bool:
    """True while a live process holds `folder`'s run lock (the caller's own lock counts)."""
    import filelock

    path = Path(folder) / LOCK_NAME
    if not path.is_file():
        return False
    probe = filelock.FileLock(os.path.abspath(path), timeout=0, preserve_lock_file=True)  # writes nothing
    try:
        probe.acquire()
    except filelock.Timeout:
        return True
    except OSError:
        return False
    probe.release()
    return False
