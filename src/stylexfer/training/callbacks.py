"""Training plumbing that protects a long run: atomic checkpoints, a last.ckpt that always matches
the final step, checkpoint checks before resuming, and the count of skipped data files."""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from stylexfer.errors import ModelFileError, StylexferError, one_line
from stylexfer.files import atomic
from stylexfer.files.atomic import atomic_write_bytes, atomic_write_json
from stylexfer.files.runs import LOCK_NAME, SUMMARY_NAME, is_locked, lock_holder
from stylexfer.files.torchfile import check_archive
from stylexfer.runtime import Interrupted, pending_interrupt
from stylexfer.training.config import CheckpointConfig
from stylexfer.training.loggers import log_final

log = logging.getLogger(__name__)

TMP_SUFFIX = ".tmp"
REQUIRED_KEYS = ("state_dict", "global_step", "optimizer_states", "hyper_parameters")


class CheckpointError(StylexferError, ValueError):
    """A checkpoint that cannot be resumed from; the message names a good one to use instead."""


class CheckpointWriteError(StylexferError, OSError):
    """A checkpoint that could not be written (disk full); the previous checkpoints are intact."""


NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a temporary file in the checkpoint's folder, flush, fsync, then os.replace.

    A process killed at any moment leaves either the old file or the new one under the final
    name, never half of one; a leftover `.<name>.<pid>.<random>.tmp` is removed when the next run starts.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(path)
        # Serialised in memory first: torch's zip writer turns a failed write into "[enforce fail at
        # inline_container.cc...]"; written by our writer, a full disk is an OSError with its errno.
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        data = buffer.getvalue()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data, suffix=TMP_SUFFIX)  # fsync, umask mode, rename, folder fsync
        except OSError as err:
            if err.errno in NO_SPACE:
                raise CheckpointWriteError(
                    f"cannot write the checkpoint {path}: no space left on its disk (it needs about "
                    f"{len(data) / 1e6:.1f} MB, {shutil.disk_usage(path.parent).free / 1e6:.1f} MB free); "
                    "free some space and resume"
                ) from err
            raise CheckpointWriteError(
                f"cannot write the checkpoint {path}: {err.strerror or one_line(err)}"
            ) from err


class StepCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that also writes last.ckpt at the final step when training ends, so a
    finished run's last.ckpt always holds its last weights."""

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def make_checkpoint_callbacks(dirpath: Path, cfg: CheckpointConfig) -> list[ModelCheckpoint]:
    """Numbered `step_0010000.ckpt` files every `cfg.every_n_steps` and `last.ckpt` every
    `cfg.last_every_n_steps` (and at the end)."""
    numbered = ModelCheckpoint(
        dirpath=dirpath,
        filename="step_{step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=cfg.every_n_steps,
        save_top_k=cfg.keep,
        monitor="step",
        mode="max",
        save_last=False,
        save_on_train_epoch_end=False,
        enable_version_counter=False,
    )
    last = StepCheckpoint(
        dirpath=dirpath,
        every_n_train_steps=cfg.last_every_n_steps,
        save_top_k=0,
        save_last=True,
        save_on_train_epoch_end=False,
        enable_version_counter=False,
    )
    return [numbered, last]


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the checkpoint temporaries a run killed while writing left (files.atomic's rule: names
    its writer made, whose PID no longer runs); nothing in a folder a live run holds locked."""
    if not folder.is_dir() or (folder.name == "checkpoints" and _held_by_other_run(folder.parent)):
        return []
    removed = atomic.remove_stale_temporaries(folder, suffix=TMP_SUFFIX)
    if removed:
        log.warning(
            "removed %d half-written checkpoint file(s) left by an interrupted run in %s",
            len(removed),
            folder,
        )
    return removed


def _held_by_other_run(run_dir: Path) -> bool:
    return is_locked(run_dir) and lock_holder(run_dir / LOCK_NAME) != str(os.getpid())


def checkpoint_step(path: Path, *, model: str | None = None) -> int:
    """Load `path` as a training checkpoint (weights only, no code runs) and return its global step.

    CheckpointError if it is truncated, corrupt, not a stylexfer training checkpoint, of another model
    kind than `model` (when given), or holds NaN or infinite weights (a run resumed from it would
    only stop again).
    """
    try:
        check_archive(path)  # a zip bomb is refused from its directory, before it inflates
    except ModelFileError as err:  # its message names the file and the refusal: pass it on whole
        raise CheckpointError(str(err)) from err
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is unreadable (truncated or corrupt: {one_line(err)})") from err
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED_KEYS):
        raise CheckpointError(
            f"{path} is not a stylexfer training checkpoint (needs {', '.join(REQUIRED_KEYS)})"
        )
    step = checkpoint["global_step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{path} is damaged: its global_step is {step!r}, not a step count")
    kind = _model_kind(checkpoint)
    if model is not None and kind != model:
        raise CheckpointError(
            f"{path} is a checkpoint of the {kind!r} model, this run trains {model!r}: "
            f"pass model={kind} to resume it, or a {model} checkpoint"
            if kind
            else f"{path} does not say which model it holds (no hyper_parameters.name)"
        )
    state = checkpoint["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is damaged: its state_dict is not a dict of tensors")
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{path} holds NaN or infinite weights ({key}, step {step})")
    return step


def _model_kind(checkpoint: dict[str, Any]) -> str | None:
    """The model name a checkpoint was trained as: its `stylexfer` block, else its hyper_parameters."""
    block = checkpoint.get("stylexfer")
    if isinstance(block, dict) and isinstance(block.get("model"), str):
        return block["model"]
    hparams = checkpoint.get("hyper_parameters")
    name = hparams.get("name") if isinstance(hparams, dict) else None
    return name if isinstance(name, str) else None


def newest_good_checkpoint(
    folder: Path, *, exclude: Path | None = None, model: str | None = None
) -> tuple[Path, int] | None:
    """The readable, finite checkpoint (of `model`, when given) in `folder` with the highest
    global step (the first by name of equals), or None."""
    good: list[tuple[Path, int]] = []
    for path in sorted(folder.glob("*.ckpt")) if folder.is_dir() else []:
        if exclude is not None and path.resolve() == exclude.resolve():
            continue
        with contextlib.suppress(CheckpointError, OSError):
            good.append((path, checkpoint_step(path, model=model)))
    return max(good, key=lambda found: found[1], default=None)


def resume_hint(folder: Path, *, model: str | None = None, exclude: Path | None = None) -> str:
    """What to resume from after a stop (or instead of the refused checkpoint `exclude`): the newest
    good checkpoint in `folder`, and only if one exists (a message never names a file that is not there)."""
    good = newest_good_checkpoint(folder, exclude=exclude, model=model)
    if good is not None:
        return f"the newest good checkpoint is {good[0]} (step {good[1]}): resume with ckpt_path={good[0]}"
    if exclude is not None:
        return f"no other good checkpoint in {folder}; start a fresh run without ckpt_path"
    return f"no good checkpoint was written in {folder}; fix the cause and start a fresh run"


def resolve_resume(
    ckpt_path: str | None, *, run_checkpoints: Path, base_dir: Path, model: str | None = None
) -> Path | None:
    """`ckpt_path` -> a checked checkpoint file, or None to start fresh.

    "last": this run folder's checkpoints/last.ckpt; a folder: its checkpoints/last.ckpt (or
    last.ckpt); a file: that file. Relative paths resolve against `base_dir`. A corrupt, truncated
    or non-finite file, or one of another model kind than `model`, stops the run with a message
    that names the newest good checkpoint.
    """
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        path = run_checkpoints / "last.ckpt"
        if not path.is_file():
            raise CheckpointError(
                f"ckpt_path=last: no {path}; to resume a run, pass its folder: "
                "ckpt_path=outputs/<date>/<time> (or hydra.run.dir=<that folder> ckpt_path=last), "
                "or a .ckpt file"
            )
    else:
        path = (base_dir / ckpt_path).resolve()
        if path.is_dir():
            for candidate in (path / "checkpoints" / "last.ckpt", path / "last.ckpt"):
                if candidate.is_file():
                    path = candidate
                    break
            else:
                raise CheckpointError(f"ckpt_path={ckpt_path}: no checkpoints/last.ckpt in the folder {path}")
        elif not path.is_file():
            raise CheckpointError(f"ckpt_path={ckpt_path}: {path} does not exist")
    remove_stale_temporaries(path.parent)
    try:
        step = checkpoint_step(path, model=model)
    except CheckpointError as err:
        raise CheckpointError(f"cannot resume: {err}; {resume_hint(path.parent, model=model, exclude=path)}") from err
    log.info("resuming from %s at step %d", path, step)
    return path


# --------------------------------------------------------------------------- interrupts and data health


def interrupt_signal(exception: BaseException) -> int | None:
    """The signal behind an exception that ends training, or None for a failure: Lightning's
    SIGTERMException, our Interrupted (SIGINT or SIGTERM), a plain KeyboardInterrupt (Ctrl-C)."""
    if isinstance(exception, SIGTERMException):
        return int(signal.SIGTERM)
    if isinstance(exception, Interrupted):
        return exception.signum
    if isinstance(exception, KeyboardInterrupt):
        return int(signal.SIGINT)
    return None


class InterruptCheckpoint(pl.Callback):
    """Ctrl-C and SIGTERM stop training after the step that is running (the run holds them back
    with `runtime.deferred_interrupts`; Lightning stops at its own points on SIGTERM) and write
    checkpoints/last.ckpt at that step, so even a run stopped before its first periodic checkpoint
    can be resumed or exported. After fit, `signum`, `step` and `saved` say what happened."""

    def __init__(self, checkpoint_dir: Path) -> None:
        self.path = Path(checkpoint_dir) / "last.ckpt"
        self.signum: int | None = None
        self.step = 0
        self.saved: Path | None = None
        self.save_error: str | None = None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        signum = pending_interrupt()
        if signum is not None:  # the step is complete: stop here
            raise Interrupted(signum)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        signum = interrupt_signal(exception)
        if signum is None:
            return
        self.signum, self.step = signum, int(trainer.global_step)
        if not trainer.is_global_zero or self.step == 0:
            return  # rank 0 writes (no collective call in an interrupt); step 0 holds nothing to keep
        try:
            checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
            trainer.strategy.checkpoint_io.save_checkpoint(checkpoint, self.path)
            self.saved = self.path
        except Exception as err:  # noqa: BLE001 - the interrupt is reported either way, with the reason
            self.save_error = one_line(err)


class DataHealth(pl.Callback):
    """Logs `data/skipped_files` (unusable files met so far, each counted once) and reports the
    total when training ends."""

    def __init__(self, log_every_n_steps: int) -> None:
        self.log_every_n_steps = log_every_n_steps
        self.reported = 0

    def _skipped(self, trainer: pl.Trainer) -> tuple[int, dict[str, int]]:
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "skipped_by_stream"):
            return 0, {}
        by_stream = datamodule.skipped_by_stream()
        return sum(by_stream.values()), by_stream

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step % self.log_every_n_steps == 0:
            total, _ = self._skipped(trainer)
            pl_module.log("data/skipped_files", float(total), on_step=True, on_epoch=False, batch_size=1)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total, by_stream = self._skipped(trainer)
        self.reported = total
        if total:
            log.warning(
                "skipped %d unusable image file(s) during this run (%s); the log above names each one",
                total,
                ", ".join(f"{name}: {count}" for name, count in by_stream.items() if count),
            )


# --------------------------------------------------------------------------- run summary (experiments)


class RunSummary(pl.Callback):
    """Keeps `<run dir>/final.json` saying what `stylexfer report` needs without TensorBoard:
    status ("running" from the first step, then "finished", "pruned" (a search stopped it early),
    "interrupted" (SIGINT/SIGTERM, with the signal) or "failed" with the error's first line),
    the model kind, the last step, the last validation terms (raw, unweighted) and the hyperparameters.
    At the end it also sends the hyperparameters with those metrics to every logger (TensorBoard's HParams tab)."""

    def __init__(self, output_dir: Path, hparams: dict[str, Any]) -> None:
        self.path = Path(output_dir) / SUMMARY_NAME
        self.hparams = hparams
        self.extra: dict[str, Any] = {}  # filled by the run (for instance the evaluate measures)

    def _metrics(self, trainer: pl.Trainer) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in trainer.callback_metrics.items():
            if key.startswith(("val/", "train/")):
                with contextlib.suppress(TypeError, ValueError, RuntimeError):
                    out[key] = float(value)
        return out

    def write(self, trainer: pl.Trainer, status: str, error: str | None = None) -> None:
        if not trainer.is_global_zero:
            return
        data = {
            "status": status,
            "error": error,
            "step": int(trainer.global_step),
            "model": self.hparams.get("model.name"),
            "hparams": self.hparams,
            "metrics": self._metrics(trainer),
            **self.extra,
        }
        with contextlib.suppress(OSError):  # a summary must never be what stops a run
            atomic_write_json(self.path, data, sort_keys=True, allow_nan=True)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.write(trainer, "running")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.write(trainer, "running")

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        signum = interrupt_signal(exception)
        if signum is None:
            self.write(trainer, "failed", one_line(exception, limit=2000))  # whole: a long path must not cut the reason
        else:  # not a failure: the run can go on from the checkpoint written at this step
            self.extra["signal"] = signal.Signals(signum).name
            self.write(trainer, "interrupted", f"interrupted by {signal.Signals(signum).name}")

    def finish(self, trainer: pl.Trainer, status: str = "finished") -> None:
        """After fit: status finished (or pruned: a search stopped it early), and the final measures
        with the hyperparameters to every logger (TensorBoard's HParams entry)."""
        metrics = self._metrics(trainer) | {
            f"eval/{k}": v for k, v in self.extra.get("evaluate", {}).items() if isinstance(v, float)
        }
        if trainer.loggers and trainer.is_global_zero and metrics:
            # under hparams/ so the HParams entry does not add a step-0 point to the training curves
            log_final(
                trainer.loggers, self.hparams, {f"hparams/{k}": v for k, v in metrics.items()}, trainer.global_step
            )
        self.write(trainer, status)
