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
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig
from pytorch_lightning.callbacks import LearningRateMonitor, TQDMProgressBar
from pytorch_lightning.loggers import TensorBoardLogger

from stylexfer.errors import StylexferError
from stylexfer.runtime import tune_cpu_allocator
from stylexfer.training.callbacks import (
    AtomicCheckpointIO,
    CheckpointWriteError,
    DataHealth,
    RunSummary,
    make_checkpoint_callbacks,
    resolve_resume,
    resume_hint,
)
from stylexfer.training.config import (  # compose_config re-exported: callers compose configs from here
    CONFIG_DIR,
    ConfigError,
    TrainerConfig,
    TrainSettings,
    compose_config,  # noqa: F401
    validate,
)
from stylexfer.training.data import StyleTransferDataModule, sample_data
from stylexfer.training.hydra_errors import explain_hydra_error
from stylexfer.training.measure import measure_pairs, objectives
from stylexfer.training.runfolder import RunLock, discard_unused_run_dir
from stylexfer.training.systems import NonFiniteError, build_system

log = logging.getLogger(__name__)

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
    measures: dict[str, float] = field(default_factory=dict)  # training.measure, on the validation pairs


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


def check_startup(settings: TrainSettings, *, base_dir: Path) -> None:
    """What the schemas cannot see and must be known before anything touches the disk: that the
    files the config names exist and that the accelerator it asks for is on this machine."""
    model = settings.model
    if getattr(model, "vgg_weights", "imagenet") not in SPECIAL_WEIGHTS:  # families without a VGG have none
        path = (base_dir / model.vgg_weights).resolve()
        if not path.is_file():
            raise ConfigError(
                f"model.vgg_weights: {path} is not a file; pass 'imagenet', 'random' or the path of a "
                "VGG state dict"
            )
    if getattr(model, "style_image", None) is not None:  # a fixed-style family's training style
        path = (base_dir / model.style_image).resolve()
        if not path.is_file():
            raise ConfigError(
                f"model.style_image: {path} does not exist; pass model.style_image=<path to an image>"
            )
    check_accelerator(settings.trainer)


def check_accelerator(trainer: TrainerConfig) -> None:
    """A GPU run on a machine without one stops here, not in Lightning after the set-up."""
    accelerator = trainer.accelerator
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={accelerator}: no CUDA GPU is available on this machine; "
            "use trainer=cpu (or trainer=ddp trainer.accelerator=cpu for several CPU processes)"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.accelerator=mps: no Apple GPU is available on this machine; use trainer=cpu")


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
    if getattr(model, "vgg_weights", "imagenet") not in SPECIAL_WEIGHTS:
        model.vgg_weights = str((base_dir / model.vgg_weights).resolve())
    if hasattr(model, "style_image"):  # a fixed-style family: its schema names the style to train for
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
    check_startup(settings, base_dir=base_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("LOCAL_RANK", "0") != "0":  # a DDP worker process: rank 0 holds the lock
        return _run(settings, output_dir=output_dir, base_dir=base_dir)
    with RunLock(output_dir):  # released by the kernel if the process dies
        return _run(settings, output_dir=output_dir, base_dir=base_dir)


def _run(settings: TrainSettings, *, output_dir: Path, base_dir: Path) -> RunResult:
    checkpoint_dir = output_dir / "checkpoints"
    model_name = settings.model.name
    resume = resolve_resume(
        settings.ckpt_path, run_checkpoints=checkpoint_dir, base_dir=base_dir, model=model_name
    )
    settings = resolve_inputs(settings, output_dir=output_dir, base_dir=base_dir)
    data, trainer_cfg = settings.data, settings.trainer

    quiet_lightning()
    # the frozen VGG is in eval mode on purpose (VGGFeatures.train is a no-op)
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode", category=UserWarning)
    pl.seed_everything(settings.seed, workers=True, verbose=False)  # random VGG weights match on resume
    torch.set_float32_matmul_precision(trainer_cfg.matmul_precision)
    datamodule = StyleTransferDataModule(data, seed=settings.seed, base_dir=base_dir)
    datamodule.setup("fit")  # missing folders, too few usable images: fail before building the model
    system = build_system(
        settings.model, settings.optim, grid_images=settings.logger.grid_images, samples_dir=output_dir / "samples"
    )

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
    summary = RunSummary(output_dir, summary_hparams(settings))
    callbacks.append(summary)
    trainer = pl.Trainer(
        **trainer_cfg.trainer_kwargs(),
        max_epochs=-1,  # the streams are endless: max_steps ends the run
        check_val_every_n_epoch=None,  # val_check_interval counts steps across epochs
        enable_model_summary=False,
        default_root_dir=str(output_dir),
        logger=logger,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
    )
    try:
        trainer.fit(system, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    except (NonFiniteError, CheckpointWriteError) as err:
        raise type(err)(f"{err}; {resume_hint(checkpoint_dir, model=model_name)}") from err
    except Exception as err:
        if isinstance(err, StylexferError):  # also one re-raised from a loader worker
            reason = one_line(err)
        elif "DataLoader worker" in str(err):
            reason = f"a data-loader worker died ({one_line(err)})"
        else:
            raise
        raise TrainingError(
            f"training stopped at step {trainer.global_step}: {reason}; "
            f"{resume_hint(checkpoint_dir, model=model_name)}"
        ) from err
    skipped = health.reported
    measures: dict[str, float] = {}
    if trainer.is_global_zero and datamodule.val_set is not None:
        # what `stylexfer evaluate` measures, on the fixed validation pairs: final.json, HParams, Optuna
        try:
            measures, measured_on = measure_pairs(system, datamodule.val_set)
            summary.extra["evaluate"] = measures
            summary.extra["evaluate_info"] = measured_on
        except Exception as err:  # noqa: BLE001 - the trained model and its checkpoints are what count
            log.warning("the run finished but its end-of-run measures failed: %s", one_line(err))
            summary.extra["evaluate_info"] = {"error": one_line(err)}
    summary.finish(trainer, logger)
    last = checkpoint_dir / "last.ckpt"
    if trainer.is_global_zero:
        log.info(
            "finished at step %d; checkpoints in %s; TensorBoard: tensorboard --logdir %s",
            trainer.global_step,
            checkpoint_dir,
            output_dir,
        )
    return RunResult(output_dir, checkpoint_dir, last, trainer.global_step, skipped, measures)


def one_line(err: BaseException) -> str:
    """An exception's message on one line. One re-raised from a loader worker carries the worker's
    traceback ("Caught X in DataLoader worker process 0. Original Traceback ..."): keep its last
    line, the original message, without the exception's class name."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if "Original Traceback" in str(err):
        return re.sub(r"^[\w.]+(Error|Exception): ", "", lines[-1]) + " (in a data-loader worker)"
    return lines[0]


def main() -> None:
    """`python -m stylexfer.train`: Hydra's own errors (an unknown key, a wrong type, a missing
    option) become one line with the closest valid keys and exit code 2, like every other
    configuration error. Hydra re-raises them instead of printing them when HYDRA_FULL_ERROR is set."""
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        hydra_main()
    except HydraException as err:
        print(f"stylexfer.train: error: {explain_hydra_error(err, sys.argv[1:])}", file=sys.stderr)
        raise SystemExit(2) from None


def summary_hparams(settings: TrainSettings) -> dict[str, str | int | float | bool]:
    """The settings a sweep varies, flat and primitive (TensorBoard's HParams takes nothing else)."""
    flat: dict[str, str | int | float | bool] = {"seed": settings.seed}
    for group in ("model", "optim", "data", "trainer"):
        for key, value in vars(getattr(settings, group)).items():
            if isinstance(value, (str, int, float, bool)) and not key.endswith("_dir"):
                flat[f"{group}.{key}"] = value
    flat["lambda"] = settings.model.style_weight
    return flat


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> tuple[float, float] | None:
    """Hydra's entry point: one job of a run or a sweep. Returns the run's (content distance, style
    distance) on its validation pairs (training.measure.OBJECTIVES): the two values the Optuna
    searches (hparams_search=adain_optuna, johnson_optuna) minimise."""
    runtime = HydraConfig.get().runtime
    tune_cpu_allocator()  # loader workers fork after this and inherit it
    try:
        result = run(cfg, output_dir=runtime.output_dir, base_dir=runtime.cwd)
        return objectives(result.measures)
    except StylexferError as err:
        print(f"stylexfer.train: error: {err}", file=sys.stderr)
        # Hydra makes the run folder (and its log) before the config is checked
        discard_unused_run_dir(Path(runtime.output_dir))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
