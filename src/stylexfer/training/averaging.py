"""Options that apply to any family's trained network: an exponential moving average of its weights
(`model.ema`) and torch.compile (`model.compile`).

Why not Lightning's `WeightAveraging` callback: it averages (and deep-copies) the whole LightningModule,
the frozen VGG included, and its checkpoints keep a full second copy of the module, while ours leave
the frozen VGG out (systems.on_save_checkpoint) and its strict reload of the average then fails on the
missing keys. This callback averages the trainable parameters only and keeps Lightning's checkpoint
convention: `state_dict` holds the average (so `stylexfer export` and `import` take the EMA weights
without knowing about it), `ema_current_state` the raw weights that training resumes from.
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

CURRENT_KEY = "ema_current_state"  # checkpoint key: the raw (not averaged) trainable weights


def _trainable(module: pl.LightningModule) -> dict[str, nn.Parameter]:
    """The parameters the optimiser moves, by state-dict name."""
    wanted = getattr(module, "trainable_parameters", None)
    ids = {id(p) for p in wanted()} if callable(wanted) else None
    return {
        name: param
        for name, param in module.named_parameters()
        if (id(param) in ids if ids is not None else param.requires_grad)
    }


class EMA(pl.Callback):
    """ema_t = decay·ema_{t-1} + (1 − decay)·θ_t after every optimiser step, on the trainable weights.

    Validation (its pictures and measures) runs on the average, and the module holds the average once
    training ends (the final measures and the last checkpoint's `state_dict`). Resuming restores both
    the average and the raw weights.
    """

    def __init__(self, decay: float) -> None:
        self.decay = decay  # in (0, 1): model.ema's range (training.ranges.NetTrainingOptions), 0 makes no EMA
        self.average: dict[str, Tensor] = {}
        self._raw: dict[str, Tensor] | None = None  # the raw weights while the module holds the average
        self._last_step = -1

    # ------------------------------------------------------------------ the average

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and not self.average:
            self.average = {name: param.detach().clone() for name, param in _trainable(pl_module).items()}

    @torch.no_grad()
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self._last_step:  # no optimiser step in this batch (gradient accumulation)
            return
        self._last_step = trainer.global_step
        params = _trainable(pl_module)
        names = list(self.average)
        averages = [self.average[name] for name in names]
        current = [params[name].detach().to(averages[0].device) for name in names]
        torch._foreach_lerp_(averages, current, 1.0 - self.decay)

    # ------------------------------------------------------------------ swapping it in and out

    @torch.no_grad()
    def _swap_in(self, pl_module: pl.LightningModule) -> None:
        if self._raw is not None:
            return
        params = _trainable(pl_module)
        self._raw = {name: params[name].detach().clone() for name in self.average}
        for name, value in self.average.items():
            params[name].copy_(value)

    @torch.no_grad()
    def _swap_out(self, pl_module: pl.LightningModule) -> None:
        if self._raw is None:
            return
        params = _trainable(pl_module)
        for name, value in self._raw.items():
            params[name].copy_(value)
        self._raw = None

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._swap_in(pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._swap_out(pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._swap_in(pl_module)  # what the run measures and exports from here on

    # ------------------------------------------------------------------ checkpoints

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """`state_dict` gets the average; the raw weights go to `ema_current_state`."""
        state = checkpoint["state_dict"]
        raw = self._raw if self._raw is not None else {name: state[name] for name in self.average if name in state}
        checkpoint[CURRENT_KEY] = {name: value.detach().clone() for name, value in raw.items()}
        for name, value in self.average.items():
            if name in state:
                state[name] = value.detach().clone()

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """The module was loaded from `state_dict` (the average): that becomes the average, and the raw
        weights are put back. A checkpoint of a run without EMA starts the average from its weights."""
        state = checkpoint["state_dict"]
        with torch.no_grad():
            for name in self.average:
                if name in state:
                    self.average[name].copy_(state[name])
            current = checkpoint.get(CURRENT_KEY)
            if current is None:
                log.info("the checkpoint has no EMA state: the average starts from its weights")
                return
            params = _trainable(pl_module)
            for name, value in current.items():
                if name in params:
                    params[name].copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay}


def compile_networks(system: nn.Module) -> None:
    """torch.compile every network the system holds (the trained net, and the frozen loss VGG where the
    family keeps it apart), in place: parameter names and checkpoints stay as they are."""
    for child in system.children():
        child.compile()


def net_training_callbacks(system: nn.Module, model_cfg: Any) -> list[pl.Callback]:
    """Apply `model.compile` to `system` and return the callbacks `model.ema` needs."""
    if getattr(model_cfg, "compile", False):
        compile_networks(system)
    decay = float(getattr(model_cfg, "ema", 0.0) or 0.0)
    return [EMA(decay)] if decay > 0 else []
