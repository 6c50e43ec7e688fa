"""A run owns its folder: a refused run removes only what it created; two runs never share a folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stylexfer.files.runs import LOCK_NAME, is_locked
from stylexfer.training.callbacks import AtomicCheckpointIO, remove_stale_temporaries
from stylexfer.training.runfolder import (
    RunFolderBusy,
    RunFolderRefused,
    RunLock,
    check_run_folder,
    discard_unused_run_dir,
    note_folders_to_create,
)
from training_utils import TINY, make_images, run_train, subprocess_env

HOLD_LOCK = """
import sys, time
from pathlib import Path
from stylexfer.training.runfolder import RunLock
lock = RunLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_discard_keeps_folders_that_existed_before(tmp_path: Path) -> None:
    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "train.log").write_text("my own notes\n")
    discard_unused_run_dir(existing)  # never noted as created by this process
    assert (existing / "train.log").read_text() == "my own notes\n"

    new = tmp_path / "a" / "b" / "run"
    note_folders_to_create(new)
    new.mkdir(parents=True)
    (new / ".hydra").mkdir()
    (new / "train.log").write_text("")
    discard_unused_run_dir(new)
    assert not (tmp_path / "a").exists()  # the run folder and both parents it created are gone
    assert tmp_path.is_dir()


def test_discard_stops_at_a_parent_that_existed(tmp_path: Path) -> None:
    parent = tmp_path / "outputs"
    parent.mkdir()
    run = parent / "day" / "run"
    note_folders_to_create(run)
    run.mkdir(parents=True)
    discard_unused_run_dir(run)
    assert parent.is_dir() and not (parent / "day").exists()


@pytest.mark.slow
def test_a_refused_run_leaves_the_current_folder_and_an_existing_run_folder_alone(tmp_path: Path) -> None:
    project = tmp_path / "parent" / "project"
    project.mkdir(parents=True)
    (project / "notes.txt").write_text("keep me")
    result = run_train("lambda=-1", "hydra.run.dir=.", cwd=project)
    assert result.returncode == 2, result.stderr[-2000:]
    assert (project / "notes.txt").read_text() == "keep me"

    empty = tmp_path / "empty_project" / "here"
    empty.mkdir(parents=True)
    result = run_train("lambda=-1", "hydra.run.dir=.", cwd=empty)
    assert result.returncode == 2
    assert empty.is_dir()  # an empty folder the user made is still a folder they made

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "train.log").write_text("my own log\n")
    result = run_train("lambda=-1", f"hydra.run.dir={existing}", cwd=tmp_path)
    assert result.returncode == 2
    assert existing.is_dir() and (existing / "train.log").read_text().startswith("my own log\n")

    fresh = tmp_path / "new" / "run"
    result = run_train("lambda=-1", f"hydra.run.dir={fresh}", cwd=tmp_path)
    assert result.returncode == 2
    assert not (tmp_path / "new").exists()  # created by the refused run: removed with its parent


def test_a_second_lock_on_a_folder_names_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=subprocess_env()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert is_locked(tmp_path)
        with pytest.raises(RunFolderBusy) as err:
            RunLock(tmp_path).acquire()
        message = str(err.value)
        assert str(tmp_path) in message and f"PID {holder.pid}" in message and "\n" not in message
    finally:
        holder.kill()
        holder.wait(30)
    # the kernel dropped the lock with the process: no stale lock
    assert not is_locked(tmp_path)
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())


def test_resume_leaves_a_live_writers_temporary_alone(tmp_path: Path) -> None:
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = ckpts / f".last.ckpt.{sleeper.pid}.abc12345.tmp"
        live.write_bytes(b"in flight")
        dead = ckpts / ".last.ckpt.999999999.def45678.tmp"
        dead.write_bytes(b"left by a killed run")
        removed = remove_stale_temporaries(ckpts)
        assert removed == [dead] and live.is_file() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait(30)


def test_temporaries_carry_the_writers_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    AtomicCheckpointIO().save_checkpoint({"x": 1}, tmp_path / "last.ckpt")
    assert seen and seen[0].startswith(f".last.ckpt.{os.getpid()}.") and seen[0].endswith(".tmp")


def test_temporaries_in_a_folder_locked_by_a_live_run_stay(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    ckpts.mkdir(parents=True)
    orphan = ckpts / ".last.ckpt.999999999.0123abcd.tmp"  # its writer is dead
    orphan.write_bytes(b"?")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True, env=subprocess_env()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert remove_stale_temporaries(ckpts) == [] and orphan.is_file()
    finally:
        holder.kill()
        holder.wait(30)
    assert remove_stale_temporaries(ckpts) == [orphan]


@pytest.mark.slow
def test_two_runs_in_one_folder_the_second_stops_at_start_up(tmp_path: Path) -> None:
    make_images(tmp_path / "content", 4, seed=1)
    make_images(tmp_path / "style", 2, seed=2)
    run_dir = tmp_path / "run"
    overrides = [
        *TINY,
        "data.content_dir=content",
        "data.style_dir=style",
        f"hydra.run.dir={run_dir}",
        "trainer.max_steps=100000",
        "trainer.val_check_interval=1000",
    ]
    first = subprocess.Popen(
        [sys.executable, "-m", "stylexfer.train", *overrides],
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not (run_dir / "checkpoints" / "last.ckpt").is_file():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        before = (run_dir / "checkpoints" / "last.ckpt").stat().st_mtime_ns
        # Paused, it holds its lock as it did running, without taking a core from the second's start-up.
        first.send_signal(signal.SIGSTOP)
        second = run_train(*overrides[:-2], "trainer.max_steps=2", cwd=tmp_path)
        first.send_signal(signal.SIGCONT)
        assert second.returncode == 2, second.stderr[-2000:]
        errors = [line for line in second.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and str(run_dir) in errors[0] and f"PID {first.pid}" in errors[0]
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first run goes on
        assert (run_dir / "checkpoints" / "last.ckpt").stat().st_mtime_ns >= before
    finally:
        first.kill()
        first.wait(30)


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`: its bytes and its modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _earlier_sweep(sweep: Path) -> None:
    """A sweep folder as `-m 'lambda=1,2'` leaves it while its job 0 runs."""
    job = sweep / "0"
    (job / ".hydra").mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\nlambda: 1\n")
    records = {"config.yaml": "lambda: 1\n", "hydra.yaml": "hydra: {}\n", "overrides.yaml": "- lambda=1\n"}
    for name, text in records.items():
        (job / ".hydra" / name).write_text(text)
    (job / "train.log").write_text("training lambda=1\n")
    (sweep / "1").mkdir()


@pytest.mark.slow
@pytest.mark.parametrize("held", ["job", "sweep"])
def test_a_refused_sweep_leaves_the_running_sweeps_records_alone(tmp_path: Path, held: str) -> None:
    sweep = tmp_path / "S"
    _earlier_sweep(sweep)
    lock = RunLock(sweep / "0" if held == "job" else sweep).acquire()  # as the running sweep holds it
    try:
        before = _snapshot(sweep)
        result = run_train("-m", "debug=fast", "lambda=3,4", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
        after = _snapshot(sweep)
    finally:
        lock.release()
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "in use by another training run" in errors[0], result.stderr[-2000:]
    assert f"PID {os.getpid()}" in errors[0] and "hydra.sweep.dir" in errors[0]
    assert after == before  # not a byte, not a timestamp: job 0 is still recorded as lambda=1


@pytest.mark.slow
def test_a_refused_run_leaves_a_running_runs_records_alone(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- lambda=1\n")
    (run / "train.log").write_text("training lambda=1\n")
    with RunLock(run):
        before = _snapshot(run)
        result = run_train("debug=fast", "lambda=3", f"hydra.run.dir={run}", cwd=tmp_path)
        assert _snapshot(run) == before
    assert result.returncode == 2 and "in use by another training run" in result.stderr, result.stderr[-2000:]


def test_training_takes_only_a_new_empty_or_own_folder(tmp_path: Path) -> None:
    for name, files in {
        "new": None,
        "empty": [],
        "locked_before": [LOCK_NAME],
        "hydra_run": [".hydra/config.yaml", "train.log"],
        "finished": ["final.json"],
        "sweep": ["multirun.yaml", "0/train.log"],
        "checkpoints_only": ["checkpoints/last.ckpt"],
    }.items():
        folder = tmp_path / name
        for file in files or []:
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_text("")
        if files == []:
            folder.mkdir()
        assert check_run_folder(folder, setting="hydra.run.dir") == folder
    source = tmp_path / "src" / "stylexfer"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (tmp_path / "a_file").write_text("")
    (tmp_path / "photos" / "checkpoints").mkdir(parents=True)  # a folder of that name holds no checkpoint
    for folder, reason in ((source, "already holds files"), (tmp_path / "a_file", "is a file"),
                           (tmp_path / "photos", "already holds files")):
        with pytest.raises(RunFolderRefused) as err:
            check_run_folder(folder, setting="hydra.run.dir")
        message = str(err.value)
        assert reason in message and "hydra.run.dir" in message and "\n" not in message


@pytest.mark.slow
def test_training_into_a_foreign_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    source = tmp_path / "checkout" / "src" / "stylexfer"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("# the package\n")
    before = _snapshot(tmp_path)
    for target in (f"hydra.run.dir={source}", f"hydra.sweep.dir={source}"):
        result = run_train(*(["-m"] if "sweep" in target else []), "debug=fast", target, cwd=tmp_path)
        assert result.returncode == 2, result.stderr[-2000:]
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and "already holds files" in errors[0] and str(source) in errors[0], errors
        assert _snapshot(tmp_path) == before and sorted(p.name for p in source.iterdir()) == ["__init__.py"]
