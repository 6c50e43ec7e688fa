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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig
from pytorch_lightning.callbacks import LearningRateMonitor, TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm

from stylexfer.errors import StylexferError, one_line
from stylexfer.nets.vgg import RandomWeightsWarning
from stylexfer.runtime import (
    Interrupted,
    deferred_interrupts,
    handle_interrupts,
    interrupt_exit_code,
    tune_cpu_allocator,
)
from stylexfer.training.averaging import net_training_callbacks
from stylexfer.training.callbacks import (
    AtomicCheckpointIO,
    CheckpointWriteError,
    DataHealth,
    InterruptCheckpoint,
    RunSummary,
    make_checkpoint_callbacks,
    resolve_resume,
    resume_hint,
)
from stylexfer.training.config import (  # compose_config re-exported: callers compose configs from here
    CONFIG_DIR,
    RESUME_CHECKED_GROUPS,
    ConfigError,
    TrainerConfig,
    TrainSettings,
    compose_config,  # noqa: F401
    setting_names,
    validate,
)
from stylexfer.training.data import StyleTransferDataModule, sample_data
from stylexfer.training.hydra_errors import explain_hydra_error
from stylexfer.training.loggers import build_loggers, check_loggers, close_loggers, log_start
from stylexfer.training.measure import ReportMeasures, active_listener, measure_pairs, objectives
from stylexfer.training.resume_settings import ApplyResumeChanges, SettingsRecord, check_resume_settings
from stylexfer.training.runfolder import (
    RunFolderGuard,
    RunLock,
    check_run_folder,
    discard_unused_run_dir,
    discard_unused_sweep_dirs,
)
from stylexfer.training.systems import NonFiniteError, build_system

log = logging.getLogger(__name__)

SPECIAL_WEIGHTS = ("imagenet", "random")
T = TypeVar("T")


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
    pruned: bool = False  # a search stopped it early (final.json status "pruned")


# Lightning's notices that inform no one; what informs (steps, losses, where files go) stays.
# "Detected KeyboardInterrupt": also said for SIGTERM; the run's own last line says what happened.
_NOISE_RECORDS = re.compile(r"💡 Tip|^(GPU|TPU|HPU) available: |Detected KeyboardInterrupt")
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


class OneLineProgressBar(TQDMProgressBar):
    """Lightning's tqdm bars, with the validation bar drawn over the training bar's line: below it,
    tqdm reaches its line with cursor-up escapes (ESC [A) that end up in logs and captured output."""

    def init_validation_tqdm(self) -> Tqdm:
        return Tqdm(desc=self.validation_description, position=0, disable=self.is_disabled, leave=False,
                    dynamic_ncols=True, file=sys.stdout, bar_format=self.BAR_FORMAT)


def build_quietly(build: Callable[[], T]) -> T:
    """`build()`, with a random-weights warning turned into one logged line (no Python warning text
    or source path); other warnings pass through as they were."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RandomWeightsWarning)
        built = build()
    said = set()
    for notice in caught:
        if issubclass(notice.category, RandomWeightsWarning):
            if str(notice.message) not in said:
                log.warning("%s", notice.message)
                said.add(str(notice.message))
        else:
            warnings.warn_explicit(notice.message, notice.category, notice.filename, notice.lineno)
    return built


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
    check_loggers(settings.logger, base_dir=base_dir)  # a missing package, an MLflow server that is down


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
        log.info(
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
        model.style_image = str((base_dir / model.style_image).resolve())  # check_startup found the file
    return settings


def run(cfg: DictConfig, *, output_dir: str | Path, base_dir: str | Path) -> RunResult:
    """One training run from a composed config; writes only under `output_dir`."""
    settings = validate(cfg)  # before anything touches the disk
    output_dir, base_dir = Path(output_dir).resolve(), Path(base_dir).resolve()
    check_startup(settings, base_dir=base_dir)
    check_run_folder(output_dir, setting="hydra.run.dir")  # under Hydra, RunFolderGuard checked it first
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
    recorded = resume_settings(settings, base_dir=base_dir)  # before a generated style image fills in
    changes = check_resume_settings(resume, recorded, settings.resume.allow_changes) if resume else {}
    settings = resolve_inputs(settings, output_dir=output_dir, base_dir=base_dir)
    data, trainer_cfg = settings.data, settings.trainer

    quiet_lightning()
    # the frozen VGG is in eval mode on purpose (VGGFeatures.train is a no-op)
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode", category=UserWarning)
    pl.seed_everything(settings.seed, workers=True, verbose=False)  # random VGG weights match on resume
    torch.set_float32_matmul_precision(trainer_cfg.matmul_precision)
    datamodule = StyleTransferDataModule(data, seed=settings.seed, base_dir=base_dir)
    datamodule.setup("fit")  # missing folders, too few usable images: fail before building the model
    system = build_quietly(lambda: build_system(
        settings.model, settings.optim, grid_images=settings.logger.grid_images, samples_dir=output_dir / "samples"
    ))

    loggers = build_loggers(settings.logger, output_dir=output_dir, base_dir=base_dir)
    health = DataHealth(trainer_cfg.log_every_n_steps)
    callbacks = [
        *make_checkpoint_callbacks(checkpoint_dir, settings.checkpoint),
        LearningRateMonitor(logging_interval="step"),
        health,
        # tqdm's bar whether or not `rich` is installed: Rich's shows an endless run as "Epoch 0/-2"
        *([OneLineProgressBar()] if trainer_cfg.enable_progress_bar else []),
        *net_training_callbacks(system, settings.model),  # model.compile, model.ema
    ]
    interrupts = InterruptCheckpoint(checkpoint_dir)
    listener = active_listener()  # a search's trial: report the measures at each validation (pruning)
    reporting = ReportMeasures(datamodule.val_set, listener) if listener and datamodule.val_set is not None else None
    if reporting is not None:
        callbacks.append(reporting)
    summary = RunSummary(output_dir, summary_hparams(settings))
    callbacks += [interrupts, summary, SettingsRecord(recorded)]
    if changes:
        callbacks.append(ApplyResumeChanges(changes, settings.optim))
        summary.extra["resume_changes"] = {name: list(pair) for name, pair in changes.items()}
    if os.environ.get("LOCAL_RANK", "0") == "0":
        log_start(loggers, summary.hparams)
    trainer = pl.Trainer(
        **trainer_cfg.trainer_kwargs(),
        max_epochs=-1,  # the streams are endless: max_steps ends the run
        check_val_every_n_epoch=None,  # val_check_interval counts steps across epochs
        enable_model_summary=False,
        default_root_dir=str(output_dir),
        logger=loggers,
        callbacks=callbacks,
        profiler=make_profiler(trainer_cfg.profiler, output_dir),
        plugins=[AtomicCheckpointIO()],
    )
    try:
        with deferred_interrupts():  # Ctrl-C and SIGTERM stop after the running step (InterruptCheckpoint)
            trainer.fit(system, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    except (NonFiniteError, CheckpointWriteError) as err:
        raise type(err)(f"{err}; {resume_hint(checkpoint_dir, model=model_name)}") from err
    except Exception as err:
        if isinstance(err, StylexferError):  # also one re-raised from a loader worker
            reason = one_line(err, limit=2000)
        elif "DataLoader worker" in str(err):
            reason = f"a data-loader worker died ({one_line(err, limit=2000)})"
        else:
            raise
        raise TrainingError(
            f"training stopped at step {trainer.global_step}: {reason}; "
            f"{resume_hint(checkpoint_dir, model=model_name)}"
        ) from err
    except BaseException as err:  # Lightning's SIGTERMException, or its exit(1) after a Ctrl-C
        if interrupts.signum is None:
            raise
        raise Interrupted(interrupts.signum, interrupted_message(interrupts, output_dir, model_name)) from err
    measures: dict[str, float] = {}
    pruned = reporting is not None and reporting.pruned_at is not None
    if reporting is not None and reporting.last is not None and (pruned or reporting.last[0] == trainer.global_step):
        _, measures, measured_on = reporting.last  # measured at this step already
        summary.extra["evaluate"], summary.extra["evaluate_info"] = measures, measured_on
        if pruned:
            summary.extra["pruned_at_step"] = reporting.pruned_at
            log.info("pruned by the search at step %d: its measures trail the other trials'", reporting.pruned_at)
    elif trainer.is_global_zero and datamodule.val_set is not None:
        # what `stylexfer evaluate` measures, on the fixed validation pairs: final.json, HParams, Optuna
        try:
            measures, measured_on = measure_pairs(system, datamodule.val_set)
            summary.extra["evaluate"], summary.extra["evaluate_info"] = measures, measured_on
        except Exception as err:  # noqa: BLE001 - the trained model and its checkpoints are what count
            log.warning("the run finished but its end-of-run measures failed: %s", one_line(err))
            summary.extra["evaluate_info"] = {"error": one_line(err)}
    summary.finish(trainer, "pruned" if pruned else "finished")
    close_loggers(loggers)
    last = checkpoint_dir / "last.ckpt"
    if trainer.is_global_zero:
        log.info(
            "finished at step %d; checkpoints in %s%s",
            trainer.global_step,
            checkpoint_dir,
            f"; TensorBoard: tensorboard --logdir {output_dir}" if "tensorboard" in settings.logger.selected() else "",
        )
    return RunResult(output_dir, checkpoint_dir, last, trainer.global_step, health.reported, measures, pruned)


def interrupted_message(interrupts: InterruptCheckpoint, output_dir: Path, model: str) -> str:
    """The one line an interrupted run ends with: the step, and how to go on from it."""
    if interrupts.saved is not None:
        return f"interrupted at step {interrupts.step}; resume with ckpt_path={output_dir}"
    if interrupts.step == 0:
        return "interrupted at step 0, before the first step ended: nothing to resume; start the run again"
    why = f"the checkpoint could not be written ({interrupts.save_error})" if interrupts.save_error else (
        "no checkpoint was written")
    return f"interrupted at step {interrupts.step}; {why}; {resume_hint(output_dir / 'checkpoints', model=model)}"


def make_profiler(name: str | None, output_dir: Path) -> Any:
    """trainer.profiler -> Lightning's profiler writing its report into the run folder (fit-profile.txt)."""
    if name is None:
        return None
    from pytorch_lightning.profilers import AdvancedProfiler, PyTorchProfiler, SimpleProfiler

    kinds = {"simple": SimpleProfiler, "advanced": AdvancedProfiler, "pytorch": PyTorchProfiler}
    return kinds[name](dirpath=str(output_dir), filename="profile")


def main() -> None:
    """`python -m stylexfer.train`: Hydra's own errors (an unknown key, a wrong type, a missing
    option) become one line with the closest valid keys and exit code 2, like every other
    configuration error. Hydra re-raises them instead of printing them when HYDRA_FULL_ERROR is set."""
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        hydra_main()
    except HydraException as err:
        print(f"stylexfer.train: error: {explain_hydra_error(err, sys.argv[1:])}", file=sys.stderr)
        discard_unused_sweep_dirs()  # RunFolderGuard made the sweep folder to lock it
        raise SystemExit(2) from None


def resume_settings(settings: TrainSettings, *, base_dir: Path) -> dict[str, Any]:
    """The settings a resume must keep (config.setting_names), flat, with user paths absolute as
    the run reads them: what SettingsRecord stores in every checkpoint and a resume compares."""
    names = setting_names()
    flat: dict[str, Any] = {"seed": settings.seed}
    for group in RESUME_CHECKED_GROUPS:
        for key, value in vars(getattr(settings, group)).items():
            if f"{group}.{key}" in names:
                flat[f"{group}.{key}"] = value
    for key in ("model.vgg_weights", "model.style_image"):
        value = flat.get(key)
        if isinstance(value, str) and value not in SPECIAL_WEIGHTS:
            flat[key] = str((base_dir / value).resolve())
    return flat


class RunGuard(RunFolderGuard):
    """RunFolderGuard (conf/train.yaml) plus, for a resume, the settings check before Hydra writes
    the refused settings into the run folder's `.hydra/`."""

    def preflight(self, config: Any, run_dir: Path) -> None:
        if config.get("ckpt_path") is None:
            return
        settings = validate(config)
        base_dir = Path.cwd()  # hydra.job.chdir is false: inputs resolve against the command's folder
        resume = resolve_resume(
            settings.ckpt_path,
            run_checkpoints=Path(run_dir).resolve() / "checkpoints",
            base_dir=base_dir,
            model=settings.model.name,
        )
        if resume is not None:
            check_resume_settings(resume, resume_settings(settings, base_dir=base_dir), settings.resume.allow_changes)


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
    handle_interrupts()  # SIGTERM stops like Ctrl-C: a checkpoint at the step, exit 143 (130)
    try:
        result = run(cfg, output_dir=runtime.output_dir, base_dir=runtime.cwd)
        return objectives(result.measures)
    except KeyboardInterrupt as err:  # Interrupted, or a Ctrl-C before training started
        print(f"stylexfer.train: {getattr(err, 'message', '') or 'interrupted'}", file=sys.stderr)
        raise SystemExit(interrupt_exit_code(err)) from None
    except StylexferError as err:
        print(f"stylexfer.train: error: {err}", file=sys.stderr)
        # Hydra makes the run folder (and its log) before the config is checked
        discard_unused_run_dir(Path(runtime.output_dir))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
