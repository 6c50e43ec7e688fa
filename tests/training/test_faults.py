"""Training survives faults: SIGKILL mid-run and mid-checkpoint-write, dead loader workers, failed writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import stylexfer.training.callbacks as callbacks
from stylexfer.training.callbacks import AtomicCheckpointIO, CheckpointError, checkpoint_step
from training_utils import (
    TINY_JOHNSON,
    make_images,
    override,
    run_train,
    scalars,
    subprocess_env,
    train_command,
)

# Make every fsync take a while, so a kill lands while a checkpoint's temporary file is being written.
SLOW_FSYNC = """
import os, sys, time
real_fsync = os.fsync
def slow_fsync(fd):
    time.sleep(0.5)
    real_fsync(fd)
os.fsync = slow_fsync
sys.argv[0] = "stylexfer.train"
from stylexfer.training.run import main
main()
"""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faultdata")
    make_images(root / "content", 4, seed=11)
    make_images(root / "style", 2, seed=12)
    return root


def fault_overrides(data_root: Path, run_dir: Path, **values: object) -> list[str]:
    base = [
        *TINY_JOHNSON,
        f"model.style_image={data_root / 'style' / 'img_000.png'}",
        f"data.content_dir={data_root / 'content'}",
        f"data.style_dir={data_root / 'style'}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_steps=100000",  # never reached: the test kills the run
        "trainer.val_check_interval=1000",
        "checkpoint.every_n_steps=3",
        "checkpoint.last_every_n_steps=1",
    ]
    return override(base, **values)


def wait_for(condition, timeout: float, process: subprocess.Popen) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"training exited early with code {process.returncode}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the training run")
        time.sleep(0.01)


def adam_steps(checkpoint: dict) -> set[int]:
    return {int(state["step"]) for state in checkpoint["optimizer_states"][0]["state"].values()}


def test_atomic_checkpoint_io_never_leaves_half_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io = AtomicCheckpointIO()
    target = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(3)}, target)
    umask = os.umask(0o022)
    os.umask(umask)
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~umask)

    def half_save(obj: object, handle) -> None:  # type: ignore[no-untyped-def]
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(callbacks.torch, "save", half_save)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(3)}, target)
    assert torch.load(target, weights_only=True)["global_step"] == 1  # the old file is intact
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]  # no temporary left behind


def test_corrupt_checkpoints_are_detected_and_the_newest_good_one_named(tmp_path: Path) -> None:
    good = {"state_dict": {}, "global_step": 7, "optimizer_states": [], "hyper_parameters": {}}
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save(good, folder / "step_0000007.ckpt")
    torch.save(good | {"global_step": 3}, folder / "step_0000003.ckpt")
    (folder / "last.ckpt").write_bytes((folder / "step_0000007.ckpt").read_bytes()[:100])
    (folder / "step_0000009.ckpt").write_bytes(b"")  # an empty file is not "good"
    (folder / ".last.ckpt.999999999.0123abcd.tmp").write_bytes(b"half")
    with pytest.raises(CheckpointError) as info:
        callbacks.resolve_resume("last", run_checkpoints=folder, base_dir=tmp_path)
    assert "last.ckpt is unreadable" in str(info.value)
    assert f"newest good checkpoint is {folder / 'step_0000007.ckpt'} (step 7)" in str(info.value)
    assert not (folder / ".last.ckpt.999999999.0123abcd.tmp").exists()  # a killed write's leftovers are removed
    torch.save({"state_dict": {}}, folder / "other.ckpt")
    with pytest.raises(CheckpointError, match="not a stylexfer training checkpoint"):
        checkpoint_step(folder / "other.ckpt")


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_write_and_mid_run_then_resume(data_root: Path, tmp_path: Path) -> None:
    """Kill 1 lands while a checkpoint's temporary file is open (fsync made slow); kill 2 lands
    mid-run. Each time the previous checkpoint stays loadable, and `ckpt_path=last` continues from
    its step with its optimizer state until the run finishes."""
    run_dir = tmp_path / "run"
    ckpts = run_dir / "checkpoints"

    # 1. kill while a checkpoint is being written
    first = subprocess.Popen(
        [sys.executable, "-c", SLOW_FSYNC, *fault_overrides(data_root, run_dir)],
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: (ckpts / "last.ckpt").is_file() and any(ckpts.glob(".*.tmp")), 180, first)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert list(ckpts.glob(".*.tmp")), "the kill should have landed during a write"
    step_1 = checkpoint_step(ckpts / "last.ckpt")  # still complete and loadable
    assert step_1 >= 1

    # 2. resume, then kill mid-run once a newer checkpoint exists
    second = subprocess.Popen(
        train_command(*fault_overrides(data_root, run_dir, ckpt_path="last")),
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def newer() -> bool:
        try:
            return checkpoint_step(ckpts / "last.ckpt") >= step_1 + 2
        except CheckpointError:
            return False

    wait_for(newer, 180, second)
    second.send_signal(signal.SIGKILL)
    second.wait(30)
    step_2 = checkpoint_step(ckpts / "last.ckpt")
    assert step_2 >= step_1 + 2  # the second run continued from step_1, it did not start over
    saved = torch.load(ckpts / "last.ckpt", weights_only=True)
    assert adam_steps(saved) == {step_2}

    # 3. resume to the end
    final = step_2 + 2
    result = run_train(*fault_overrides(data_root, run_dir, ckpt_path="last", trainer__max_steps=final), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {ckpts / 'last.ckpt'} at step {step_2}" in result.stdout + result.stderr
    checkpoint = torch.load(ckpts / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == final
    assert adam_steps(checkpoint) == {final}  # Adam's moments were carried over, not restarted
    assert not list(ckpts.glob(".*.tmp"))
    steps = {step for step, _ in scalars(run_dir / "tensorboard")["train/total"]}
    assert set(range(step_2, final)) <= steps and max(steps) == final - 1  # logs continue in the same folder


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find loader workers")
def test_a_killed_loader_worker_ends_the_run_with_a_clear_error(data_root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        train_command(*fault_overrides(data_root, run_dir, data__num_workers=1)),
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(
        lambda: (run_dir / "checkpoints" / "last.ckpt").is_file() and len(_children(process.pid)) >= 2,
        180,
        process,
    )
    os.kill(_children(process.pid)[0], signal.SIGKILL)
    try:
        _, stderr = process.communicate(timeout=90)  # a hang would time out here
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("training hung after its loader worker was killed") from None
    assert process.returncode == 2
    errors = [line for line in stderr.splitlines() if line.startswith("stylexfer.train: error:")]
    assert len(errors) == 1 and "a data-loader worker died" in errors[0] and "resume with ckpt_path=" in errors[0]
    checkpoint_step(run_dir / "checkpoints" / "last.ckpt")  # what was saved is still good


def _fake_checkpoint(step: object, *, name: str = "adain", weight: float = 1.0) -> dict:
    return {
        "state_dict": {"net.w": torch.full((2,), weight)},
        "global_step": step,
        "optimizer_states": [],
        "hyper_parameters": {"name": name},
        "stylexfer": {"format": 1, "model": name, "net_prefix": "net."},
    }


def test_resume_refuses_another_model_kind_and_a_step_that_is_no_number(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save(_fake_checkpoint(5, name="johnson"), folder / "last.ckpt")
    with pytest.raises(CheckpointError) as info:
        callbacks.resolve_resume("last", run_checkpoints=folder, base_dir=tmp_path, model="adain")
    message = str(info.value)
    assert "checkpoint of the 'johnson' model, this run trains 'adain': pass model=johnson" in message
    assert "\n" not in message
    callbacks.resolve_resume("last", run_checkpoints=folder, base_dir=tmp_path, model="johnson")  # its own kind

    for step in ("seven", 2.5, None, [3], -1):
        torch.save(_fake_checkpoint(step), folder / "last.ckpt")
        with pytest.raises(CheckpointError, match=r"its global_step is .*, not a step count"):
            callbacks.resolve_resume("last", run_checkpoints=folder, base_dir=tmp_path, model="adain")


def test_resume_refuses_non_finite_weights_and_names_the_newest_finite_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save(_fake_checkpoint(4), folder / "step_0000004.ckpt")
    torch.save(_fake_checkpoint(6, weight=float("inf")), folder / "step_0000006.ckpt")
    torch.save(_fake_checkpoint(7, weight=float("nan")), folder / "last.ckpt")
    with pytest.raises(CheckpointError) as info:
        callbacks.resolve_resume("last", run_checkpoints=folder, base_dir=tmp_path, model="adain")
    message = str(info.value)
    assert "last.ckpt holds NaN or infinite weights (net.w, step 7)" in message
    assert f"newest good checkpoint is {folder / 'step_0000004.ckpt'} (step 4)" in message
    assert "step_0000006" not in message  # never points at another non-finite file
    assert callbacks.resume_hint(folder).endswith(f"resume with ckpt_path={folder / 'step_0000004.ckpt'}")
    assert "no good checkpoint was written" in callbacks.resume_hint(tmp_path / "none")


def test_disk_full_while_writing_a_checkpoint_is_one_line_and_keeps_the_old_ones(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real tiny run whose third checkpoint write (step 2's numbered file) finds the disk full."""
    import errno

    from stylexfer.training.callbacks import CheckpointWriteError
    from stylexfer.training.run import compose_config, run

    real_write = callbacks.atomic_write_bytes
    calls = {"n": 0}

    def full_disk(path: Path, data: bytes, **kwargs: object) -> Path:
        calls["n"] += Path(path).suffix == ".ckpt"  # final.json is written by the same writer
        if calls["n"] >= 3 and Path(path).suffix == ".ckpt":  # what the kernel says when the disk fills up mid-write
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(callbacks, "atomic_write_bytes", full_disk)
    run_dir = tmp_path / ("run-" + "x" * 120)  # a long path must not cut the reason from final.json
    overrides = override(
        fault_overrides(data_root, run_dir), trainer__max_steps=3, checkpoint__every_n_steps=1
    )
    with pytest.raises(CheckpointWriteError) as info:
        run(compose_config(overrides), output_dir=run_dir, base_dir=tmp_path)
    monkeypatch.setattr(callbacks, "atomic_write_bytes", real_write)
    message = str(info.value)
    ckpts = run_dir / "checkpoints"
    assert "\n" not in message
    assert f"cannot write the checkpoint {ckpts / 'step_0000002.ckpt'}: no space left" in message
    needed = float(message.split("needs about ")[1].split(" MB")[0])
    assert needed > 0.1  # the Johnson net and its Adam state: about 6.7 MB
    assert "newest good checkpoint is" in message and "(step 1): resume with ckpt_path=" in message
    assert checkpoint_step(ckpts / "step_0000001.ckpt") == 1 and checkpoint_step(ckpts / "last.ckpt") == 1
    assert not list(ckpts.glob(".*.tmp"))
    summary = json.loads((run_dir / "final.json").read_text())
    assert summary["status"] == "failed" and "no space left on its disk" in summary["error"]


@pytest.mark.slow
def test_images_deleted_under_running_loader_workers_end_the_run_with_one_line(tmp_path: Path) -> None:
    content, style = tmp_path / "content", tmp_path / "style"
    make_images(content, 4, seed=21)
    make_images(style, 2, seed=22)
    run_dir = tmp_path / "run"
    overrides = [
        *TINY_JOHNSON,
        f"model.style_image={tmp_path / 'style_image.png'}",
        f"data.content_dir={content}",
        f"data.style_dir={style}",
        f"hydra.run.dir={run_dir}",
        "data.num_workers=1",
        "trainer.max_steps=100000",
        "trainer.val_check_interval=1000",
    ]
    (tmp_path / "style_image.png").write_bytes((style / "img_000.png").read_bytes())
    process = subprocess.Popen(
        train_command(*overrides),
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: (run_dir / "checkpoints" / "last.ckpt").is_file(), 180, process)
    for image in content.iterdir():
        image.unlink()
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("training hung after its images were deleted") from None
    assert process.returncode == 2, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("stylexfer.train: error:")]
    assert len(errors) == 1 and "every content image is unusable" in errors[0], stderr[-3000:]
    assert "Traceback" not in stderr and "Caught" not in errors[0]
    assert "resume with ckpt_path=" in errors[0]
