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

from training_utils import REPO, TINY_JOHNSON, make_images, override, subprocess_env, train_command


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
    assert "Traceback" not in err
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
