"""Interrupts (SIGINT, SIGTERM) and full disks: training stops after a step with a checkpoint and
says how to resume; every CLI command cleans up on SIGTERM as on Ctrl-C; temporaries a killed
process left are removed by the next run into the folder; full disks are one line, exit 2."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training_utils import TINY_JOHNSON, make_images, override, subprocess_env, train_command


def _wait_for(predicate, proc: subprocess.Popen, *, timeout: float = 180.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended early (rc {proc.returncode}): {err[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the process did not get to the point to interrupt in time")


def _summary(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "final.json").read_text())
    except (OSError, ValueError):
        return {}


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_training_run_saves_a_checkpoint_and_says_how_to_resume(
    tmp_path: Path, signum: int, code: int
) -> None:
    from stylexfer.training.callbacks import checkpoint_step

    make_images(tmp_path / "content", 4, seed=1)
    make_images(tmp_path / "style", 3, seed=2)
    run_dir = tmp_path / "run"
    overrides = override(
        TINY_JOHNSON,
        trainer__max_steps=100000,  # runs until interrupted
        trainer__val_check_interval=3,  # final.json says "running" at step 3: time to interrupt
        checkpoint__every_n_steps=1000,  # no periodic checkpoint before the interrupt
        checkpoint__last_every_n_steps=1000,
        data__content_dir="content",
        data__style_dir="style",
    )
    proc = subprocess.Popen(
        [*train_command(*overrides), f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for(lambda: _summary(run_dir).get("step", 0) >= 3, proc)
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("training did not stop within 2 minutes of the signal")
    assert proc.returncode == code, err[-3000:]
    summary = _summary(run_dir)
    step = summary["step"]
    assert summary["status"] == "interrupted" and step >= 3
    assert summary["signal"] == signal.Signals(signum).name
    last = err.strip().splitlines()[-1]
    assert last == f"stylexfer.train: interrupted at step {step}; resume with ckpt_path={run_dir}", err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert checkpoint_step(run_dir / "checkpoints" / "last.ckpt", model="johnson") == step
    assert not list((run_dir / "checkpoints").glob("step_*.ckpt"))  # the interrupt's is the only one
    if signum == signal.SIGTERM:  # and it resumes
        resumed = subprocess.run(
            [*train_command(*override(overrides, trainer__max_steps=step + 1)),
             f"hydra.run.dir={tmp_path / 'resumed'}", f"ckpt_path={run_dir}"],
            cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=240,
        )
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert _summary(tmp_path / "resumed")["step"] == step + 1


def _dead_pid() -> int:
    """The PID of a process that has ended (a fresh one's, so no live process has it meanwhile)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


@pytest.mark.slow
def test_sigterm_during_a_video_cleans_up_like_ctrl_c(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from clips import make_clip
    from model_factories import save_johnson_ckpt

    clip = make_clip(tmp_path / "clip.mp4", frames=600, size=(64, 48))
    model = save_johnson_ckpt(tmp_path / "mosaic.ckpt")
    target = tmp_path / "out" / "new" / "folders"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylexfer", "stylize", str(clip), "--model", str(model), "--out", f"{target}/",
         "--batch-size", "1", "-q"],
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for(lambda: target.is_dir() and any(p.name.endswith(".part") for p in target.iterdir()), proc)
    time.sleep(0.5)  # a few frames into the temporary
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "stylexfer: interrupted"
    assert not (tmp_path / "out").exists()  # no temporary, and not the folders it made
    assert "Traceback" not in err


def test_a_later_run_removes_only_stale_temporaries_of_dead_writers(tmp_path: Path) -> None:
    from PIL import Image

    from stylexfer.files.atomic import temporary_path
    from stylexfer.files.images import save_image

    out = tmp_path / "out"
    out.mkdir()
    dead = out / f".photo_mosaic.mp4.{_dead_pid()}.0badcafe.part"
    dead.write_bytes(b"half a video")
    live = temporary_path(out / "other.png")  # a writer that is still running: this process
    live.write_bytes(b"being written")
    kept = [
        live,
        out / f".notes.{_dead_pid()}.part",  # not a name the tool makes
        out / f"photo.{_dead_pid()}.0badcafe.part",  # not hidden
        out / f".photo.{_dead_pid()}.0badcafe.part.txt",
        out / "photo.png",
    ]
    for path in kept[1:]:
        path.write_bytes(b"the user's")
    folder_named_like_one = out / f".x.{_dead_pid()}.0badcafe.part"
    folder_named_like_one.mkdir()
    save_image(Image.new("RGB", (8, 8)), out / "result.png")  # the first write into the folder cleans it
    assert not dead.exists()
    assert all(path.exists() for path in kept) and folder_named_like_one.is_dir()
    assert (out / "result.png").is_file()
    from stylexfer.files.atomic import remove_stale_temporaries

    assert remove_stale_temporaries(out) == []  # nothing else qualifies


def _with_file_size_limit(limit: int, module: str, *argv: str) -> list[str]:
    """A command that runs `python -m module argv` where no file may grow past `limit` bytes: writes
    beyond it fail with EFBIG in the kernel, as on a full disk (a real failure, not a mock)."""
    code = (
        "import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        f"sys.argv = {[module, *argv]!r}; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-c", code]


@pytest.mark.slow
def test_export_that_runs_out_of_space_writes_no_file_and_one_line(tmp_path: Path) -> None:
    pytest.importorskip("resource")
    from model_factories import save_johnson_ckpt

    model = save_johnson_ckpt(tmp_path / "mosaic.ckpt")
    out = tmp_path / "out"
    out.mkdir()
    # the .safetensors (6.72 MB) fits, the TorchScript file (6.81 MB) does not
    proc = subprocess.run(
        _with_file_size_limit(6_760_000, "stylexfer", "export", str(model), "--out", str(out / "m.safetensors"),
                              "--torchscript", str(out / "m.pt")),
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f"stylexfer: error: {out / 'm.pt'}: cannot write (File too large)")
    assert sorted(os.listdir(out)) == []  # all or nothing: not the first file, no temporary


def test_export_onto_a_full_disk_keeps_the_existing_files(tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    import stylexfer.files.atomic as atomic
    from model_factories import save_johnson_ckpt
    from stylexfer.cli.main import main

    model = save_johnson_ckpt(tmp_path / "mosaic.ckpt")
    old = {tmp_path / "m.safetensors": b"old model", tmp_path / "m.pt": b"old script"}
    for path, data in old.items():
        path.write_bytes(data)
    real_fdopen, opened = os.fdopen, []

    class FullDisk:
        def __init__(self, handle) -> None:  # noqa: ANN001
            self.handle = handle

        def __enter__(self):  # noqa: ANN204
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            self.handle.write(bytes(data)[: len(data) // 2])
            self.handle.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str):  # noqa: ANN204
            return getattr(self.handle, name)

    def fdopen(fd: int, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the second file finds the disk full
        opened.append(fd)
        handle = real_fdopen(fd, *args, **kwargs)
        return FullDisk(handle) if len(opened) == 2 else handle

    monkeypatch.setattr(atomic.os, "fdopen", fdopen)
    rc = main(["export", str(model), "--out", str(tmp_path / "m.safetensors"), "--torchscript",
               str(tmp_path / "m.pt"), "--overwrite"])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 2
    assert err == (f"stylexfer: error: {tmp_path / 'm.pt'}: cannot write (No space left on device); "
                   "no file of this export was written\n")
    assert {p: p.read_bytes() for p in old} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.safetensors", "mosaic.ckpt"]


@pytest.mark.slow
def test_training_whose_checkpoint_finds_no_room_ends_with_one_line_and_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("resource")
    make_images(tmp_path / "content", 4, seed=1)
    make_images(tmp_path / "style", 3, seed=2)
    run_dir = tmp_path / "run"
    overrides = override(TINY_JOHNSON, data__content_dir="content", data__style_dir="style")
    # logs, samples and final.json fit in 1 MB; the Johnson checkpoint (about 20 MB) does not
    proc = subprocess.run(
        _with_file_size_limit(1_000_000, "stylexfer.train", *overrides, f"hydra.run.dir={run_dir}"),
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "enforce fail" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("stylexfer.train: error: cannot write the checkpoint "), proc.stderr[-3000:]
    assert "File too large" in last
    summary = _summary(run_dir)
    assert summary["status"] == "failed" and "File too large" in summary["error"]
    assert not list((run_dir / "checkpoints").glob(".*"))  # no temporary left


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_the_demo_ends_an_interrupt_with_its_line_and_exit_code(tmp_path: Path, monkeypatch, capsys,  # noqa: ANN001
                                                               signum: int, code: int) -> None:
    import stylexfer.demo as demo
    from stylexfer.runtime import Interrupted

    def interrupted(*args: object) -> int:
        raise Interrupted(signum, f"interrupted at step 3; resume with ckpt_path={tmp_path}")

    monkeypatch.setattr(demo, "_demo", interrupted)
    assert demo.main(["--out", str(tmp_path / "demo")]) == code
    assert capsys.readouterr().err == f"stylexfer.demo: interrupted at step 3; resume with ckpt_path={tmp_path}\n"
