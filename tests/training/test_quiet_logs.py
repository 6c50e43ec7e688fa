"""Training and export say what informs (steps, losses, where files go) and nothing else: no Lightning
tips, no accelerator roll-call, no warnings about the run folder we chose, no deprecation notices."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from stylexfer.training.run import quiet_lightning

NOISE = (
    "💡 Tip",
    "GPU available:",
    "TPU available:",
    "Checkpoint directory",
    "dirpath has changed",
    "LeafSpec",
    "is deprecated",
)
TINY = [
    "model=adain",
    "model.vgg_weights=random",
    "data.resize=40",
    "data.crop=32",
    "data.batch_size=2",
    "data.val_size=2",
    "data.sample_images=4",
    "data.num_workers=0",
    "trainer.log_every_n_steps=1",
    "trainer.val_check_interval=2",
    "trainer.enable_progress_bar=false",
    "checkpoint.every_n_steps=1",
    "checkpoint.last_every_n_steps=1",
]


def _noise(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(word in line for word in NOISE)]


def test_lightning_notices_are_dropped_and_the_rest_kept(caplog: pytest.LogCaptureFixture) -> None:
    from pytorch_lightning.utilities.rank_zero import rank_zero_info

    quiet_lightning()
    quiet_lightning()  # idempotent: one filter, not two
    assert len(logging.getLogger("pytorch_lightning.utilities.rank_zero").filters) == 1
    with caplog.at_level(logging.INFO, logger="pytorch_lightning.utilities.rank_zero"):
        rank_zero_info("💡 Tip: For seamless cloud logging, try installing litlogger")
        rank_zero_info("GPU available: False, used: False")
        rank_zero_info("TPU available: False, using: 0 TPU cores")
        rank_zero_info("`Trainer.fit` stopped: `max_steps=3` reached.")
    assert [r.getMessage() for r in caplog.records] == ["`Trainer.fit` stopped: `max_steps=3` reached."]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning()  # after "always": its filters go in front
        warnings.warn("Checkpoint directory /x/checkpoints exists and is not empty.", UserWarning, stacklevel=1)
        warnings.warn("The dirpath has changed from '/a' to '/b', therefore ...", UserWarning, stacklevel=1)
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning, stacklevel=1)
        warnings.warn("a real problem", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a real problem"]


def test_torchscript_export_prints_no_deprecation_warnings(tmp_path: Path) -> None:
    from model_factories import save_johnson_ckpt
    from stylexfer.files.export import export_model

    ckpt = save_johnson_ckpt(tmp_path / "j.ckpt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lines = export_model(ckpt, tmp_path / "j.safetensors", torchscript=str(tmp_path / "j.pt"))
    assert (tmp_path / "j.pt").is_file() and len(lines) == 2
    assert [str(w.message) for w in caught if "jit" in str(w.message)] == []


@pytest.mark.slow
def test_a_tiny_run_its_resume_and_export_print_only_what_informs(tmp_path: Path) -> None:
    def train(folder: Path, *extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "stylexfer.train", *TINY, f"hydra.run.dir={folder}", *extra],
            cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return done

    first = train(tmp_path / "a", "trainer.max_steps=2")
    # Resumed in another folder: Lightning would say the checkpoint folder is not empty and that its
    # dirpath changed.
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    second = train(tmp_path / "b", "trainer.max_steps=3", "ckpt_path=last")
    for run in (first, second):
        assert _noise(run.stdout + run.stderr) == []
    both = first.stdout + first.stderr
    assert "finished at step 2" in both and str(tmp_path / "a" / "checkpoints") in both
    assert "resuming from" in second.stdout + second.stderr

    export = subprocess.run(
        [sys.executable, "-m", "stylexfer", "export", str(tmp_path / "b" / "checkpoints" / "last.ckpt"),
         "--out", str(tmp_path / "m.safetensors"), "--torchscript", str(tmp_path / "m.pt")],
        capture_output=True, text=True, timeout=600,
    )
    assert export.returncode == 0, export.stderr
    assert _noise(export.stdout + export.stderr) == []
    assert "wrote" in export.stdout and (tmp_path / "m.pt").is_file()


@pytest.mark.slow
def test_a_tiny_runs_log_has_one_line_per_notice_and_no_escape_codes(tmp_path: Path) -> None:
    """The random-weights notice is one logged line (no Python warning text, no source path), the
    generated sample set an INFO line, and the nested progress bars (training + validation) leave
    no escape sequences in the captured output or in train.log."""
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "stylexfer.train", *[o for o in TINY if "progress_bar" not in o],
         "trainer.enable_progress_bar=true", "trainer.max_steps=3", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    log = (run_dir / "train.log").read_text(encoding="utf-8")
    assert "\x1b" not in output and "\x1b" not in log
    assert "Warning:" not in output and ".py:" not in output  # no `file.py:79: RandomWeightsWarning: ...`
    notices = [line for line in log.splitlines() if "RANDOM weights" in line]
    assert len(notices) == 1 and "[WARNING]" in notices[0], log
    sample = [line for line in log.splitlines() if "generated sample set" in line]
    assert len(sample) == 1 and "[INFO]" in sample[0], log
