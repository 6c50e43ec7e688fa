"""What every family's LightningModule shares (each family's system.py subclasses it), and
`build_system`, which asks the registry for the family named by `model.name`. Losses come back raw;
the system weighs and logs them.

Checkpoint layout (read without Lightning by `stylexfer.files.modelfile`, `torch.load(weights_only=True)`):

- `hyper_parameters`: the module's keyword arguments, all primitives. `name` is the model family;
  `vgg_weights` the VGG used for the loss; the rest is the family's (documented in its system.py).
- `state_dict`: the trained net only, under `net.` (the family's file layout says which keys; frozen
  parts listed in `frozen_prefixes` are dropped).
- `stylexfer`: `{"format": 1, "model": name, "net_prefix": "net."}`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchvision.utils import make_grid

from stylexfer.errors import StylexferError
from stylexfer.files.images import load_image, resample, resized_size, save_image, to_tensor
from stylexfer.registry import get_family, load_target
from stylexfer.training.ranges import NET_TRAINING_KEYS

CHECKPOINT_FORMAT = 1


class NonFiniteError(StylexferError, FloatingPointError):
    """The loss or the weights became NaN or infinite; training stops before anything is saved.

    The message names no checkpoint: the run adds the newest good one it can find."""


class StyleTransferSystem(pl.LightningModule):
    """What every family's system.py subclass shares: Adam with lr/(1 + decay·step), finite checks,
    plain checkpoints."""

    model_name = ""
    grid_images = 4  # validation samples in the logged image grid (set by build_system)
    samples_dir: str | None = None  # where each validation grid is also saved as a PNG (set by run)
    if TYPE_CHECKING:  # Lightning types hparams as a MutableMapping; ours is an AttributeDict of primitives
        hparams: Any

    def _set_net(self, net: nn.Module, channels_last: bool) -> None:
        self.net = net
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.strict_loading = False  # the frozen parts (frozen_prefixes) are not checkpointed

    @property
    def frozen_prefixes(self) -> tuple[str, ...]:
        """State-dict key prefixes of frozen parts, left out of checkpoints."""
        return ()

    def _weighted(self, terms: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each term times its weight (tv only when its weight is set)."""
        weighted = {
            "content": self.hparams.content_weight * terms["content"],
            "style": self.hparams.style_weight * terms["style"],
        }
        if "tv" in terms and self.hparams.get("tv_weight", 0.0):
            weighted["tv"] = self.hparams.tv_weight * terms["tv"]
        return weighted

    def _weigh(self, terms: dict[str, Tensor]) -> Tensor:
        return sum(self._weighted(terms).values())  # type: ignore[return-value]

    def _log_terms(self, stage: str, terms: dict[str, Tensor], total: Tensor, batch_size: int) -> None:
        on_step = stage == "train"
        metrics = {f"{stage}/{key}": value.detach() for key, value in terms.items()} | {
            f"{stage}/total": total.detach()
        }
        if on_step:  # which term drives the gradient, on a scale that does not move with λ
            denominator = total.detach().abs().clamp_min(1e-30)
            metrics |= {
                f"train/{key}_share": value.detach() / denominator for key, value in self._weighted(terms).items()
            }
        self.log_dict(
            metrics,
            on_step=on_step,
            on_epoch=not on_step,
            batch_size=batch_size,
            sync_dist=not on_step,
        )

    def _check_finite(self, total: Tensor, terms: dict[str, Tensor]) -> None:
        if not torch.isfinite(total):
            values = ", ".join(f"{key}={value.item():.4g}" for key, value in terms.items())
            raise NonFiniteError(
                f"training stopped: the loss became {total.item()} at step {self.global_step} ({values}); "
                "resume with a smaller optim.lr, trainer.gradient_clip_val > 0 or trainer.precision=32"
            )

    def _prepare(self, images: Tensor) -> Tensor:
        if self.hparams.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def step_terms(self, batch: dict[str, Tensor]) -> tuple[list[Tensor], dict[str, Tensor]]:
        """The family's loss on a batch: (the rows of the validation grid, inputs then output; the raw,
        unweighted terms)."""
        raise NotImplementedError

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        rows, terms = self.step_terms(batch)
        total = self._weigh(terms)
        self._check_finite(total, terms)
        self._log_terms("train", terms, total, rows[0].shape[0])
        return total

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        rows, terms = self.step_terms(batch)
        self._log_terms("val", terms, self._weigh(terms), rows[0].shape[0])
        if batch_idx == 0:
            self._log_grid(rows)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def stylize(self, content: Tensor, style: Tensor) -> Tensor:
        """The picture in [0, 1] a user of the trained model would get for this pair (clamped as
        stylexfer.inference clamps)."""
        raise NotImplementedError

    def judge_style(self, style: Tensor) -> Tensor:
        """The style a stylized picture is measured against: the pair's (a family that takes a
        style) or the one the model was trained for (a fixed-style family)."""
        return style

    def configure_optimizers(self) -> Any:
        params = self.trainable_parameters()
        kwargs = {"lr": self.hparams.lr, "betas": (self.hparams.beta1, self.hparams.beta2)}
        try:  # the fused kernel is one launch per step instead of one per tensor
            optimizer = torch.optim.Adam(params, fused=True, **kwargs)
        except (RuntimeError, TypeError):
            optimizer = torch.optim.Adam(params, **kwargs)
        if not self.hparams.lr_decay:
            return optimizer
        decay = float(self.hparams.lr_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1.0 + decay * step))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Drop the frozen VGG (rebuilt from `vgg_weights`), and refuse to write non-finite weights
        over good checkpoints."""
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(self.frozen_prefixes)]:
            del state[key]
        bad = [
            key
            for key, value in state.items()
            if value.is_floating_point() and not torch.isfinite(value).all()
        ]
        if bad:
            raise NonFiniteError(
                f"not saving the checkpoint of step {self.global_step}: {len(bad)} weight tensor(s) hold "
                f"NaN or infinity (first: {bad[0]}); the previous checkpoints are kept. Resume with a "
                "smaller optim.lr"
            )
        checkpoint["stylexfer"] = {
            **checkpoint.get("stylexfer", {}),  # the run's settings (training.resume_settings.SettingsRecord)
            "format": CHECKPOINT_FORMAT,
            "model": self.model_name,
            "net_prefix": "net.",
        }

    def _log_grid(self, rows: list[Tensor]) -> None:
        """One row per validation sample: its images side by side, clamped to [0, 1]; to every logger
        that shows pictures and, when `samples_dir` is set, to samples/step_0000500.png."""
        count = min(self.grid_images, rows[0].shape[0])
        if count == 0 or self.trainer.sanity_checking:
            return
        tiles = torch.stack([row[:count].float().clamp(0, 1) for row in rows], dim=1).flatten(0, 1)
        grid = make_grid(tiles.cpu(), nrow=len(rows), padding=2)
        if self.samples_dir is not None and self.trainer.is_global_zero:
            # the run folder alone shows how the model evolved (atomic: a reader never sees half a PNG);
            # written first, so a tracker that fails below cannot cost the sample
            save_image(grid, Path(self.samples_dir) / f"step_{self.global_step:07d}.png")
        # imported here: loggers imports the config, which loads the families' systems (this module)
        from stylexfer.training.loggers import log_image

        log_image(self.loggers, "val/stylized", grid, self.global_step)


def load_style_image(path: str | os.PathLike, style_size: int) -> Tensor:
    """(3, H, W) in [0, 1], shorter side scaled to `style_size` (decoded at reduced scale if huge)."""
    image = load_image(path, draft_shorter_side=style_size)
    return to_tensor(resample(image, resized_size(*image.size, size=style_size)))


def system_class(name: str) -> type[StyleTransferSystem]:
    """The LightningModule class of the model family `name` (the registry's ``Family.system``)."""
    family = get_family(name, where="model.name")
    if not family.system:
        raise ValueError(f"model family {name!r} has no training system")
    return load_target(family.system)


def build_system(
    model_cfg: Any, optim_cfg: Any, *, grid_images: int = 4, samples_dir: str | os.PathLike | None = None
) -> StyleTransferSystem:
    """The LightningModule for `model_cfg.name`, from the validated model and optim settings
    (dataclasses from stylexfer.training.config, or anything with the same attributes)."""
    # model.ema and model.compile are the run's (training.averaging), not the system's arguments;
    # lists (loss layers) travel as comma-separated strings: hyper-parameters stay primitives
    fields = {
        k: ",".join(v) if isinstance(v, list | tuple) else v
        for k, v in vars(model_cfg).items()
        if k not in NET_TRAINING_KEYS
    }
    system = system_class(str(fields.get("name")))(
        **fields, lr=optim_cfg.lr, lr_decay=optim_cfg.lr_decay, beta1=optim_cfg.beta1, beta2=optim_cfg.beta2
    )
    system.grid_images = grid_images
    system.samples_dir = None if samples_dir is None else str(samples_dir)
    return system
