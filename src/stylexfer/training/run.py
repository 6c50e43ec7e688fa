"""Training entry point: `python -m stylexfer.train [group=option] [key=value ...]` (Hydra).

    python -m stylexfer.train model=adain lambda=7 data.content_dir=coco data.style_dir=wikiart
    python -m stylexfer.train -m model=adain lambda=6,7,8,10          # a sweep, one folder per job
    python -m stylexfer.train hydra.run.dir=outputs/2024-05-01/10-00-00 ckpt_path=last   # resume

The whole configuration is validated before any data is read; every error is one line on stderr
and exit code 2. Each run writes only into its own folder (`outputs/<date>/<time>/`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from pytorch_lightning.callbacks import LearningRateMonitor, TQDMProgressBar
from pytorch_lightning.loggers import TensorBoardLogger

from stylexfer.errors import StylexferError
from stylexfer.runtime import tune_cpu_allocator
from stylexfer.training.callbacks import AtomicCheckpointIO, DataHealth, make_checkpoint_callbacks, resolve_resume
from stylexfer.training.config import ConfigError, TrainSettings, validate
from stylexfer.training.data import StyleTransferDataModule, sample_data
from stylexfer.training.runfolder import RunLock, discard_unused_run_dir
from stylexfer.training.systems import build_system

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"  # shipped inside the package
SPECIAL_WEIGHTS = ("imagenet", "random")


class TrainingError(StylexferError, RuntimeError):
    """A run that stopped for a reason outside the configuration (a dead data-loader worker)."""


@dataclass
class RunResult:
    """What a finished run leaves behind."""

    output_dir: Path
    checkpoint_dir: Path
    last_checkpoint: Path
    global_step: int
    skipped_files: int


# Lightning's notices that inform no one; what informs (steps, losses, where files go) stays.
_NOISE_RECORDS = re.compile(r"💡 Tip|^(GPU|TPU|HPU) available: ")
_NOISE_WARNINGS = (
    r"Checkpoint directory .* exists and is not empty",  # every resume: the folder is ours on purpose
    r"The dirpath has changed from",  # a resumed run's folder was moved or resumed elsewhere: still fine
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning's own use of a torch API
)


class _DropNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _NOISE_RECORDS.search(record.getMessage())


def quiet_lightning() -> None:
    """Silence Lightning's marketing tips, accelerator roll-call and warnings about our own choices
    (idempotent; also applies in DDP workers, which run `run` again)."""
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotices) for f in logger.filters):
            logger.addFilter(_DropNotices())
    for pattern in _NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The training config from conf/ with command-line style overrides, without starting a run."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides or []))


def resolve_inputs(settings: TrainSettings, *, output_dir: Path, base_dir: Path) -> TrainSettings:
    """Make input paths absolute against `base_dir` (where the user ran the command) and fill in
    the generated sample set when no data is given."""
    data, model = settings.data, settings.model
    if not data.content_dir:
        content, style = sample_data(output_dir, count=data.sample_images)
        log.warning(
            "no data.content_dir/data.style_dir given: training on the generated sample set in %s",
            content.parent,
        )
        data.content_dir, data.style_dir = [str(content)], [str(style)]
        if not data.val_content_dir:
            data.val_size = min(data.val_size, data.sample_images)
    if model.vgg_weights not in SPECIAL_WEIGHTS:
        model.vgg_weights = str((base_dir / model.vgg_weights).resolve())
    if model.name == "johnson":
        if model.style_image is None:
            model.style_image = str(
                sorted(sample_data(output_dir, count=data.sample_images)[1].glob("*.png"))[0]
            )
            log.warning("no model.style_image given: using the generated sample style %s", model.style_image)
        path = (base_dir / model.style_image).resolve()
        if not path.is_file():
            raise ConfigError(
                f"model.style_image: {path} does not exist; pass model.style_image=<path to an image>"
            )
        model.style_image = str(path)
    return settings


def run(cfg: DictConfig, *, output_dir: str | Path, base_dir: str | Path) -> RunResult:
    """One training run from a composed config; writes only under `output_dir`."""
    settings = validate(cfg)  # before anything touches the disk
    output_dir, base_dir = Path(output_dir).resolve(), Path(base_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("LOCAL_RANK", "0") != "0":  # a DDP worker process: rank 0 holds the lock
        return _run(settings, output_dir=output_dir, base_dir=base_dir)
    with RunLock(output_dir):  # released by the kernel if the process dies
        return _run(settings, output_dir=output_dir, base_dir=base_dir)


def _run(settings: TrainSettings, *, output_dir: Path, base_dir: Path) -> RunResult:
    checkpoint_dir = output_dir / "checkpoints"
    resume = resolve_resume(settings.ckpt_path, run_checkpoints=checkpoint_dir, base_dir=base_dir)
    settings = resolve_inputs(settings, output_dir=output_dir, base_dir=base_dir)
    data, trainer_cfg = settings.data, settings.trainer

    quiet_lightning()
    # the frozen VGG is in eval mode on purpose (VGGFeatures.train is a no-op)
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode", category=UserWarning)
    pl.seed_everything(settings.seed, workers=True, verbose=False)  # random VGG weights match on resume
    torch.set_float32_matmul_precision(trainer_cfg.matmul_precision)
    datamodule = StyleTransferDataModule(
        content_dir=data.content_dir,
        style_dir=data.style_dir,
        val_content_dir=data.val_content_dir,
        val_style_dir=data.val_style_dir,
        resize=data.resize,
        crop=data.crop,
        batch_size=data.batch_size,
        val_size=data.val_size,
        num_workers=data.num_workers,
        pin_memory=data.pin_memory,
        persistent_workers=data.persistent_workers,
        prefetch_factor=data.prefetch_factor,
        max_megapixels=data.max_megapixels,
        seed=settings.seed,
        base_dir=str(base_dir),
    )
    datamodule.setup("fit")  # missing folders, too few usable images: fail before building the model
    system = build_system(settings.model, settings.optim, grid_images=settings.logger.grid_images)

    logger = TensorBoardLogger(
        save_dir=str(output_dir), name="tensorboard", version="", default_hp_metric=False
    )
    ckpt = settings.checkpoint
    health = DataHealth(trainer_cfg.log_every_n_steps)
    callbacks = [
        *make_checkpoint_callbacks(
            checkpoint_dir,
            every_n_steps=ckpt.every_n_steps,
            last_every_n_steps=ckpt.last_every_n_steps,
            keep=ckpt.keep,
        ),
        LearningRateMonitor(logging_interval="step"),
        health,
        # tqdm's bar whether or not `rich` is installed: Rich's shows an endless run as "Epoch 0/-2"
        *([TQDMProgressBar()] if trainer_cfg.enable_progress_bar else []),
    ]
    trainer = pl.Trainer(
        accelerator=trainer_cfg.accelerator,
        devices=trainer_cfg.devices,
        num_nodes=trainer_cfg.num_nodes,
        strategy=trainer_cfg.strategy,
        precision=trainer_cfg.precision,
        max_steps=trainer_cfg.max_steps,
        max_epochs=-1,
        log_every_n_steps=trainer_cfg.log_every_n_steps,
        val_check_interval=trainer_cfg.val_check_interval,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=trainer_cfg.num_sanity_val_steps,
        gradient_clip_val=trainer_cfg.gradient_clip_val or None,
        accumulate_grad_batches=trainer_cfg.accumulate_grad_batches,
        deterministic=trainer_cfg.deterministic,
        benchmark=trainer_cfg.benchmark,
        enable_progress_bar=trainer_cfg.enable_progress_bar,
        enable_model_summary=False,
        default_root_dir=str(output_dir),
        logger=logger,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
    )
    try:
        trainer.fit(system, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    except RuntimeError as err:
        if "DataLoader worker" in str(err):
            raise TrainingError(
                f"training stopped at step {trainer.global_step}: a data-loader worker died "
                f"({str(err).splitlines()[0]}); checkpoints are in {checkpoint_dir}: "
                f"resume with ckpt_path={output_dir}"
            ) from err
        raise
    skipped = health.reported
    last = checkpoint_dir / "last.ckpt"
    if trainer.is_global_zero:
        log.info(
            "finished at step %d; checkpoints in %s; TensorBoard: tensorboard --logdir %s",
            trainer.global_step,
            checkpoint_dir,
            output_dir,
        )
    return RunResult(output_dir, checkpoint_dir, last, trainer.global_step, skipped)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> None:
    """Hydra's entry point: one job of a run or a sweep."""
    runtime = HydraConfig.get().runtime
    tune_cpu_allocator()  # loader workers fork after this and inherit it
    try:
        run(cfg, output_dir=runtime.output_dir, base_dir=runtime.cwd)
    except StylexferError as err:
        print(f"stylexfer.train: error: {err}", file=sys.stderr)
        # Hydra makes the run folder (and its log) before the config is checked
        discard_unused_run_dir(Path(runtime.output_dir))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
