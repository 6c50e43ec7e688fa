"""Resuming with changed settings: what a checkpoint's run trained with, the comparison with the resumed
run's (`resume.allow_changes`), the record stored in every checkpoint, and the changes applied to the
restored optimizer."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from stylexfer.files.runs import SUMMARY_NAME
from stylexfer.training.callbacks import CheckpointError
from stylexfer.training.config import OptimConfig

log = logging.getLogger(__name__)


# hyper_parameters keys of a checkpoint that are optimizer settings (the rest are model.*)
_OPTIM_HPARAMS = ("lr", "lr_decay", "beta1", "beta2")


def recorded_settings(path: Path) -> tuple[dict[str, Any], bool]:
    """The settings the run that wrote `path` trained with, flat (`optim.lr`, `data.crop`), and
    whether they are the full record (`stylexfer.settings`, written by SettingsRecord). An older
    checkpoint gives its hyper_parameters (model and optimizer), and the data settings of its run
    folder's final.json when there is one."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not a zip archive: read it whole (resolve_resume checked it)
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    block = checkpoint.get("stylexfer")
    if isinstance(block, dict) and isinstance(block.get("settings"), dict):
        return dict(block["settings"]), True
    old = {
        (f"optim.{key}" if key in _OPTIM_HPARAMS else f"model.{key}"): value
        for key, value in (checkpoint.get("hyper_parameters") or {}).items()
        if key != "name"
    }
    summary = path.parent.parent / SUMMARY_NAME if path.parent.name == "checkpoints" else None
    if summary is not None and summary.is_file():
        import json

        with contextlib.suppress(OSError, ValueError, AttributeError):
            recorded = json.loads(summary.read_text()).get("hparams", {})
            old.update({key: value for key, value in recorded.items() if key.startswith("data.")})
    return old, False


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(str, value)) + "]"
    return "null" if value is None else str(value)


def check_resume_settings(
    path: Path, current: dict[str, Any], allowed: list[str]
) -> dict[str, tuple[Any, Any]]:
    """Compare a resumed run's settings (`current`, flat) with those its checkpoint was trained
    with; return the changes, all named in `allowed`, or stop with one line listing the others."""
    old, full = recorded_settings(path)
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in sorted(current.items()):
        if name not in old or old[name] == value:
            continue
        if not full and name == "model.style_image" and value is None:
            continue  # an older checkpoint names the generated style it used; None asks for that one
        changes[name] = (old[name], value)
    refused = [name for name in changes if name not in allowed]
    if refused:
        listing = ", ".join(f"{name}: {_shown(changes[name][0])} -> {_shown(changes[name][1])}" for name in refused)
        raise CheckpointError(
            f"cannot resume from {path} with changed settings ({listing}); pass the checkpoint's values, "
            f"or allow the change with resume.allow_changes=[{','.join(refused)}]"
        )
    return changes


class SettingsRecord(pl.Callback):
    """Stores the run's settings (flat, as `check_resume_settings` compares them) in every
    checkpoint, under `stylexfer.settings`."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = dict(settings)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint.setdefault("stylexfer", {})["settings"] = dict(self.settings)


class ApplyResumeChanges(pl.Callback):
    """A resume whose settings differ from the checkpoint's (as `resume.allow_changes` allowed):
    logs each change and applies the optimizer's to the restored optimizer. Lightning restores the
    optimizer and scheduler state (learning rate, betas, base lr) from the checkpoint, which would
    otherwise keep training with the old values."""

    def __init__(self, changes: dict[str, tuple[Any, Any]], optim: OptimConfig) -> None:
        self.changes = changes
        self.lr, self.betas = optim.lr, (optim.beta1, optim.beta2)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for name, (old, new) in self.changes.items():
            log.warning("resumed with %s changed from %s to %s (resume.allow_changes)", name, _shown(old), _shown(new))
        if not any(name.startswith("optim.") for name in self.changes):
            return
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.lr
                group["betas"] = self.betas
                if "initial_lr" in group:
                    group["initial_lr"] = self.lr
        for config in trainer.lr_scheduler_configs:  # lr / (1 + lr_decay·step), from the new values
            scheduler: Any = config.scheduler
            scheduler.base_lrs = [self.lr for _ in scheduler.base_lrs]
            factors = getattr(scheduler, "lr_lambdas", [])
            for group, factor in zip(scheduler.optimizer.param_groups, factors, strict=False):
                group["lr"] = self.lr * factor(scheduler.last_epoch)
