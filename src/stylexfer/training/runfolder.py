"""A training run owns its folder: which folders this process created (the only ones a refused run
may remove), and an OS lock held for the run's whole life so two runs never share a folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import IO, Any

from stylexfer.errors import StylexferError

LOCK_NAME = ".stylexfer.lock"
HYDRA_FILES = frozenset({"train.log", ".hydra", LOCK_NAME})

# Folders that did not exist when this process started its run or sweep (filled by RunFolderGuard).
_created: set[Path] = set()
_created_sweeps: set[Path] = set()


class RunFolderBusy(StylexferError, RuntimeError):
    """Another live run holds the folder's lock."""


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


class RunLock:
    """An exclusive OS file lock on a run folder (`flock`, or `msvcrt.locking` on Windows): the
    kernel drops it when the process dies, so a killed run never leaves a stale lock. The file
    holds the holder's PID for the message a second run prints."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._handle: IO[str] | None = None

    def acquire(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's PID stays
        handle = os.fdopen(fd, "r+")
        if not _try_lock(handle):
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunFolderBusy(
                f"run folder {self.folder} is in use by another training run (PID {holder}); "
                "wait for it to finish or choose another hydra.run.dir"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()  # closing the descriptor drops the lock
            self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def is_locked(folder: Path) -> bool:
    """True while a live process holds `folder`'s run lock (the caller's own lock counts)."""
    path = Path(folder) / LOCK_NAME
    if not path.is_file():
        return False
    try:
        handle = open(path)  # noqa: SIM115 - closed below; the lock test needs the open file
    except OSError:
        return False
    try:
        if not _try_lock(handle):
            return True
        _unlock(handle)
        return False
    finally:
        handle.close()


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    except OSError:
        return False
    return True


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


try:  # the guard is a Hydra callback; the rest of this module needs no Hydra
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[misc,assignment]


class RunFolderGuard(Callback):
    """Hydra callback (conf/train.yaml, `hydra.callbacks`): before Hydra makes the run or sweep
    folder, note which folders do not exist yet, so a refused run removes only those."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        with contextlib.suppress(Exception):  # an unresolvable dir: remember nothing, remove nothing
            note_folders_to_create(Path(str(config.hydra.run.dir)))

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        with contextlib.suppress(Exception):
            sweep_dir = Path(str(config.hydra.sweep.dir))
            if not sweep_dir.exists():
                _created_sweeps.add(Path(os.path.abspath(sweep_dir)))
            note_folders_to_create(sweep_dir)

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        # Hydra has made the job folder by now: inside a sweep folder this process created, the job
        # folder and any folders between them are this process's own
        with contextlib.suppress(Exception):
            job_dir = Path(os.path.abspath(str(config.hydra.runtime.output_dir)))
            for sweep_dir in _created_sweeps:
                if sweep_dir in job_dir.parents:
                    _created.add(job_dir)
                    _created.update(p for p in job_dir.parents if sweep_dir in p.parents)

