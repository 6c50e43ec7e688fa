"""A training run owns its folder: which folders this process created (the only ones a refused run
may remove), and an OS lock held for the run's whole life so two runs never share a folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stylexfer.errors import StylexferError, display_path, one_line
from stylexfer.files.folders import folder_is_own
from stylexfer.files.runs import LOCK_NAME, RUN_MARKERS, is_locked, lock_holder

HYDRA_FILES = frozenset({"train.log", ".hydra", LOCK_NAME})
# Folders of a run that hold no job folders: a search for running jobs in a sweep skips them.
_NOT_JOB_FOLDERS = frozenset({"checkpoints", "tensorboard", "samples", ".hydra"})

# Folders that did not exist when this process started its run or sweep (filled by RunFolderGuard).
_created: set[Path] = set()
_created_sweeps: set[Path] = set()


class RunFolderBusy(StylexferError, RuntimeError):
    """Another live run holds the folder's lock."""


class RunFolderRefused(StylexferError, ValueError):
    """A run or sweep folder that is not new, empty or this project's own."""


def check_run_folder(folder: Path, *, setting: str) -> Path:
    """The one rule (files.folders, shared with the demo) for a folder training writes into: new,
    empty, a run or sweep folder of this project, or a folder holding an earlier run's checkpoints.
    RunFolderRefused (one line naming `setting`) otherwise; reads only."""
    return folder_is_own(
        folder,
        markers=RUN_MARKERS,
        # a run from before the lock existed
        earlier=lambda folder, names: "checkpoints" in names and any((folder / "checkpoints").glob("*.ckpt")),
        what=f"{setting}={display_path(folder)}",
        owner="stylexfer training",
        advice=f"train into a new or empty folder, or an earlier run's folder (choose another {setting})",
        error=RunFolderRefused,
    )


def live_job_below(sweep_dir: Path, *, depth: int = 3) -> tuple[Path, str] | None:
    """A folder under `sweep_dir` whose run lock a live process holds, with the holder's PID."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        return None
    for root, dirs, files in os.walk(sweep_dir):
        here = Path(root)
        keep = len(here.relative_to(sweep_dir).parts) < depth
        dirs[:] = [d for d in dirs if keep and d not in _NOT_JOB_FOLDERS and not d.startswith("sample_data")]
        if here != sweep_dir and LOCK_NAME in files and is_locked(here):
            return here, lock_holder(here / LOCK_NAME)
    return None


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and each of its ancestors that does not exist yet, deepest first."""
    folder = Path(os.path.abspath(folder))
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def note_folders_to_create(folder: Path) -> None:
    """Remember which of `folder` and its ancestors this process is about to create."""
    _created.update(missing_folders(folder))


def created_by_this_process(folder: Path) -> bool:
    return Path(os.path.abspath(folder)) in _created


def discard_unused_run_dir(output_dir: Path) -> None:
    """Remove a refused run's folder, and its parents, but only those this process created and only
    while they hold nothing but what Hydra wrote at start-up. A folder that existed before is left
    exactly as it was (a user's `hydra.run.dir=.` or an old run folder)."""
    output_dir = Path(os.path.abspath(output_dir))
    if not created_by_this_process(output_dir) or not output_dir.is_dir():
        return
    if any(entry.name not in HYDRA_FILES for entry in output_dir.iterdir()):
        return
    shutil.rmtree(output_dir, ignore_errors=True)
    for parent in output_dir.parents:
        if not created_by_this_process(parent):
            break
        try:
            parent.rmdir()  # only while empty: another run may have started beside this one
        except OSError:
            break


def discard_unused_sweep_dirs() -> None:
    """After a sweep refused before its first job (a bad sweeper setting): remove the sweep folders
    this process created while they hold nothing but the lock (see discard_unused_run_dir)."""
    for sweep_dir in sorted(_created_sweeps, reverse=True):
        discard_unused_run_dir(sweep_dir)


class RunLock:
    """An exclusive OS file lock on a run folder (filelock: `flock`, or `msvcrt.locking` on Windows):
    the kernel drops it when the process dies, so a killed run never leaves a stale lock. The file
    stays after release (it marks a run folder) and holds the holder's PID for the message a second
    run prints. One lock per folder and process, counted: the Hydra callback takes it before Hydra
    writes anything, and `run` takes it again. `setting` names the option that chose the folder."""

    def __init__(self, folder: Path, *, setting: str = "hydra.run.dir") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.setting = setting
        self._lock: Any = None

    def acquire(self) -> RunLock:
        import filelock

        self.folder.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(  # the same instance for the same file in this process (is_singleton)
            os.path.abspath(self.path), timeout=0, is_singleton=True, thread_local=False,
            preserve_lock_file=True, on_acquired=_write_pid,
        )
        try:
            lock.acquire()
        except filelock.Timeout:
            kind = "sweep" if self.setting == "hydra.sweep.dir" else "run"
            holder = lock_holder(self.path)
            raise RunFolderBusy(
                f"{kind} folder {display_path(self.folder)} is in use by another training run (PID {holder}); "
                f"wait for it to finish or choose another {self.setting}"
            ) from None
        self._lock = lock
        return self

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __getstate__(self) -> dict[str, Any]:
        # a pickled copy (the Ray launcher ships Hydra's callbacks to its workers) holds no lock
        return {**self.__dict__, "_lock": None}


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)


try:  # the guard is a Hydra callback; the rest of this module needs no Hydra
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[misc,assignment]


@contextlib.contextmanager
def _refusal() -> Iterator[None]:
    """A refusal in a Hydra callback: one line and exit code 2 (Hydra turns a callback's exception
    into a warning and goes on, so the callback itself must stop the command)."""
    try:
        yield
    except StylexferError as err:
        print(f"stylexfer.train: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def _shares_sweep_dir(config: Any) -> bool:
    """Whether the sweeper runs many workers in one sweep folder (its config says `shares_sweep_dir`)."""
    try:
        return bool(config.hydra.sweeper.get("shares_sweep_dir", False))
    except Exception:  # noqa: BLE001 - no sweeper node: Hydra's basic sweeper
        return False


class RunFolderGuard(Callback):
    """Hydra callback (conf/train.yaml, `hydra.callbacks`). Before Hydra makes or writes anything in
    the run or sweep folder (its `.hydra/*.yaml`, `train.log`, `multirun.yaml`): refuse a folder that
    is not new, empty or this project's own, and take the folder's run lock, so a refused run leaves
    every byte of a running one as it was. Also notes which folders do not exist yet, so a refused
    run removes only those."""

    def __init__(self) -> None:
        self._locks: list[RunLock] = []

    def preflight(self, config: Any, run_dir: Path) -> None:
        """Read-only checks of a single run before its folder is touched (a subclass adds some)."""

    def _claim(self, folder: Path, setting: str) -> None:
        try:
            self._locks.append(RunLock(folder, setting=setting).acquire())
        except OSError as err:
            raise RunFolderRefused(
                f"{setting}={display_path(folder)} cannot be written ({one_line(err)}); choose another {setting}"
            ) from err

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        try:
            run_dir = Path(str(config.hydra.run.dir))
        except Exception:  # noqa: BLE001 - an unresolvable dir: Hydra itself reports it next
            return
        if os.environ.get("LOCAL_RANK", "0") != "0":  # a DDP worker: rank 0 checked the folder and holds it
            return
        with _refusal():
            check_run_folder(run_dir, setting="hydra.run.dir")
            self.preflight(config, run_dir)
            note_folders_to_create(run_dir)
            self._claim(run_dir, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        try:
            sweep_dir = Path(str(config.hydra.sweep.dir))
        except Exception:  # noqa: BLE001
            return
        if os.environ.get("LOCAL_RANK", "0") != "0":
            return
        with _refusal():
            check_run_folder(sweep_dir, setting="hydra.sweep.dir")
            if _shares_sweep_dir(config):  # workers of one shared study: each trial folder is locked on its own
                note_folders_to_create(sweep_dir)
                return
            live = live_job_below(sweep_dir)
            if live is not None:
                raise RunFolderBusy(
                    f"sweep folder {display_path(sweep_dir)} is in use by another training run (PID {live[1]}, in "
                    f"{display_path(live[0])}); wait for it to finish or choose another hydra.sweep.dir"
                )
            if not sweep_dir.exists():
                _created_sweeps.add(Path(os.path.abspath(sweep_dir)))
            note_folders_to_create(sweep_dir)
            self._claim(sweep_dir, "hydra.sweep.dir")  # held for the whole sweep: a second one is refused

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        # Hydra has made the job folder by now: inside a sweep folder this process created, the job
        # folder and any folders between them are this process's own
        with contextlib.suppress(Exception):
            job_dir = Path(os.path.abspath(str(config.hydra.runtime.output_dir)))
            for sweep_dir in _created_sweeps:
                if sweep_dir in job_dir.parents:
                    _created.add(job_dir)
                    _created.update(p for p in job_dir.parents if sweep_dir in p.parents)

    def _release(self) -> None:
        while self._locks:
            self._locks.pop().release()

    def on_run_end(self, config: Any, **kwargs: Any) -> None:
        self._release()

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        self._release()
