"""Typed schemas for the Hydra configuration in `conf/`, with the range checks of every setting.

Each dataclass is registered in Hydra's ConfigStore as `<group>/schema_<name>`; the YAML files in
`conf/` list it first in their defaults and hold only deltas. `validate(cfg)` turns every node into
its dataclass (running `__post_init__`), so a typo, a wrong type or an impossible value stops the
run before any data is read, with a message that names the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from stylexfer.errors import one_line
from stylexfer.registry import families, load_target
from stylexfer.training.ranges import (  # noqa: F401 - ConfigError, Range, bounded: imported from here too
    ConfigError,
    Range,
    bounded,
    check_fields,
    choice,
    require,
)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"  # shipped inside the package
PRECISIONS = ("32", "16-mixed", "bf16-mixed", "64")
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
PROFILERS = ("simple", "advanced", "pytorch")
LOGGERS = ("tensorboard", "csv", "mlflow", "wandb")  # logger=many: a list of these in logger.use


def _folders(key: str, value: Any) -> list[str]:
    """One folder or a list of folders -> list[str] (`data.content_dir=/a` or `=[/a,/b]`)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) and item for item in value):
        return list(value)
    raise ConfigError(f"{key} must be a folder or a list of folders, got {value!r}")


# --------------------------------------------------------------------------- model


def model_schemas() -> dict[str, type]:
    """model.name -> its schema dataclass, for every installed family that trains (the registry)."""
    return {family.name: load_target(family.schema) for family in families() if family.schema}


# --------------------------------------------------------------------------- optim


@dataclass
class OptimConfig:
    """Adam with the optional decay lr_t = lr / (1 + lr_decay·t) of Huang & Belongie's released code."""

    lr: float = bounded(1e-4, 0, 1, lo_open=True)
    lr_decay: float = bounded(0.0, 0, 1)  # 5e-5 in Huang & Belongie 2017; 0 keeps lr constant
    beta1: float = bounded(0.9, 0, 1, hi_open=True)
    beta2: float = bounded(0.999, 0, 1, hi_open=True)

    def __post_init__(self) -> None:
        check_fields(self, "optim")


# --------------------------------------------------------------------------- data


@dataclass
class DataConfig:
    """Content and style folders (searched recursively) and how training crops are made (SPEC "Data").

    The one list of data settings: StyleTransferDataModule takes this object as it is.
    """

    content_dir: Any = None  # a folder or a list; empty: the generated sample set
    style_dir: Any = None
    val_content_dir: Any = None  # empty: a fixed subset of content_dir
    val_style_dir: Any = None
    resize: int = bounded(512, hi=8192)  # shorter side before the crop; never a square resize (>= crop)
    crop: int = bounded(256, 8, 4096)
    batch_size: int = bounded(8, 1, 4096)
    val_size: int = bounded(8, 1, 10_000)  # fixed validation pairs, decoded once
    num_workers: int = bounded(-1, 0, 256, also=(-1,), meaning="-1 (auto)")  # per stream; -1: min(4, CPUs/2)
    pin_memory: bool | None = None  # None: when training on a GPU
    persistent_workers: bool = True
    prefetch_factor: int = bounded(2, 1, 64)
    # larger paintings are skipped (JPEGs are first decoded at reduced scale)
    max_megapixels: float = bounded(100.0, 0, 1000, lo_open=True)
    sample_images: int = bounded(24, 2, 1000)  # generated sample set: content images (half as many styles)

    def __post_init__(self) -> None:
        for key in ("content_dir", "style_dir", "val_content_dir", "val_style_dir"):
            setattr(self, key, _folders(f"data.{key}", getattr(self, key)))
        require(
            bool(self.content_dir) == bool(self.style_dir),
            "data.content_dir/data.style_dir",
            "must be given together (or both left empty for the generated sample set)",
        )
        require(
            bool(self.val_content_dir) == bool(self.val_style_dir),
            "data.val_content_dir/data.val_style_dir",
            "must be given together",
        )
        check_fields(self, "data")
        require(
            self.crop <= self.resize,
            "data.resize",
            f"must be >= data.crop = {self.crop}, got {self.resize} (the crop is cut from the resized image)",
        )


# --------------------------------------------------------------------------- trainer, logger, checkpoint


@dataclass
class TrainerConfig:
    """Lightning's Trainer arguments (each field is passed as it is, see `trainer_kwargs`); cadences
    follow the seed (§3.3): train logs every 100 steps, validation every 500."""

    accelerator: str = "cpu"
    devices: Any = 1  # an int, a list of GPU ids, or "auto"
    num_nodes: int = bounded(1, 1, 100_000)
    strategy: str = "auto"  # "ddp" for several GPUs or machines
    precision: Any = "32"  # "32" | "16-mixed" | "bf16-mixed"
    max_steps: int = bounded(150_000, 1, 10**9)  # seed Table 5
    log_every_n_steps: int = bounded(100, 1)
    val_check_interval: int = bounded(500, 1)  # in optimizer steps, across epochs
    num_sanity_val_steps: int = bounded(1, 0)
    gradient_clip_val: float = bounded(0.0, 0)  # 0: off
    accumulate_grad_batches: int = bounded(1, 1)
    deterministic: bool = False
    benchmark: bool = False  # cuDNN autotuning (fixed crop sizes make it pay off)
    enable_progress_bar: bool = True
    # "high" lets Ampere+ GPUs use TF32 (torch.set_float32_matmul_precision, not a Trainer argument)
    matmul_precision: str = "highest"
    # Lightning's profiler, its report written into the run folder (fit-profile.txt); null: off
    profiler: str | None = None

    def __post_init__(self) -> None:
        self.precision = str(self.precision)
        choice("trainer.precision", self.precision, PRECISIONS)
        choice("trainer.accelerator", self.accelerator, ACCELERATORS)
        devices = self.devices
        ok = (
            devices == "auto"
            or (isinstance(devices, int) and not isinstance(devices, bool) and (devices >= 1 or devices == -1))
            or (isinstance(devices, list) and all(isinstance(d, int) and d >= 0 for d in devices) and devices)
        )
        require(
            bool(ok), "trainer.devices", f"must be a count >= 1, -1, 'auto' or a list of ids, got {devices!r}"
        )
        check_fields(self, "trainer")
        require(bool(self.strategy), "trainer.strategy", "must not be empty")
        choice("trainer.matmul_precision", self.matmul_precision, ("highest", "high", "medium"))
        if self.profiler is not None:
            choice("trainer.profiler", self.profiler, PROFILERS)

    def trainer_kwargs(self) -> dict[str, Any]:
        """Every Trainer argument of this schema, as pl.Trainer(**...) takes it."""
        kwargs = dataclasses.asdict(self)
        del kwargs["matmul_precision"], kwargs["profiler"]  # the run applies these two itself
        kwargs["gradient_clip_val"] = kwargs["gradient_clip_val"] or None  # 0 means off
        return kwargs


@dataclass
class CSVOptions:
    """Lightning's CSVLogger: <run dir>/csv/metrics.csv (appended to on resume) and hparams.yaml."""

    flush_logs_every_n_steps: int = bounded(100, 1, key="logger.csv.flush_logs_every_n_steps")

    def __post_init__(self) -> None:
        check_fields(self, "logger.csv")


@dataclass
class MLflowOptions:
    """Lightning's MLFlowLogger."""

    # http(s)://host:port of a tracking server, a folder, or sqlite:///file.db; null: $MLFLOW_TRACKING_URI,
    # else sqlite:///<run dir>/mlflow.db. Relative folders and sqlite files resolve against where the
    # command runs.
    tracking_uri: str | None = None
    experiment_name: str = "stylexfer"
    run_name: str | None = None  # null: the run folder's name
    tags: dict[str, str] = field(default_factory=dict)
    log_model: bool = False  # also upload the checkpoints as artifacts


@dataclass
class WandbOptions:
    """Lightning's WandbLogger; the W&B files go to <run dir>/wandb."""

    project: str = "stylexfer"
    entity: str | None = None  # team or user; null: your default entity
    name: str | None = None  # null: the run folder's name
    mode: str | None = None  # online | offline | disabled; null: $WANDB_MODE, else online
    tags: list[str] = field(default_factory=list)
    log_model: bool = False  # also upload the checkpoints as artifacts

    def __post_init__(self) -> None:
        if self.mode is not None:
            choice("logger.wandb.mode", self.mode, ("online", "offline", "disabled"))


@dataclass
class LoggerConfig:
    """Where metrics, hyperparameters, validation pictures and final measures go (Lightning loggers):
    tensorboard (<run dir>/tensorboard), csv, mlflow, wandb, or many (the list in `use`). The run
    folder keeps final.json and samples/ whatever is chosen, so `stylexfer report` needs no tracker."""

    name: str = "tensorboard"  # tensorboard | csv | mlflow | wandb | many
    use: list[str] = field(default_factory=list)  # logger=many: e.g. [tensorboard, mlflow]
    grid_images: int = bounded(4, 0, 64)  # validation samples shown in the image grid; 0: no images
    csv: CSVOptions = field(default_factory=CSVOptions)
    mlflow: MLflowOptions = field(default_factory=MLflowOptions)
    wandb: WandbOptions = field(default_factory=WandbOptions)

    def __post_init__(self) -> None:
        choice("logger.name", self.name, (*LOGGERS, "many"))
        check_fields(self, "logger")
        if self.name == "many":
            require(bool(self.use), "logger.use", f"must list the loggers to use, e.g. [{', '.join(LOGGERS[:2])}]")
            for item in self.use:
                choice("logger.use", item, LOGGERS)
            require(len(set(self.use)) == len(self.use), "logger.use", f"lists a logger twice: {self.use}")
        else:
            require(not self.use, "logger.use", f"is only for logger=many, got {self.use} with logger={self.name}")

    def selected(self) -> list[str]:
        """The loggers this run writes to, in order."""
        return list(self.use) if self.name == "many" else [self.name]


@dataclass
class CheckpointConfig:
    """Numbered checkpoints every `every_n_steps` (seed: 10,000) and `last.ckpt` every
    `last_every_n_steps`, so a crash costs at most that many steps."""

    every_n_steps: int = bounded(10_000, 1)
    last_every_n_steps: int = bounded(1_000, 1)
    keep: int = bounded(-1, 1, also=(-1,), meaning="-1 (all)")  # numbered checkpoints kept

    def __post_init__(self) -> None:
        check_fields(self, "checkpoint")


# --------------------------------------------------------------------------- the root keys


@dataclass
class RootConfig:
    """The keys at the top of train.yaml. `lambda` is a Python keyword, hence `lambda_` here; it is
    the style weight that the model YAML interpolates (`model.style_weight: ${lambda}`)."""

    seed: int = bounded(0, 0, 2**32, hi_open=True)  # weights, data order and random VGG weights
    ckpt_path: str | None = None  # "last", a .ckpt file or a run folder
    lambda_: float | None = bounded(None, 0, key="lambda")

    def __post_init__(self) -> None:
        check_fields(self, "")
        require(
            self.ckpt_path is None or (isinstance(self.ckpt_path, str) and bool(self.ckpt_path)),
            "ckpt_path",
            f"must be 'last', a checkpoint file or a run folder, got {self.ckpt_path!r}",
        )


ROOT_KEYS = {"seed": "seed", "ckpt_path": "ckpt_path", "lambda": "lambda_"}  # YAML key -> field


# --------------------------------------------------------------------------- resume

# What a resumed run must keep from its checkpoint unless `resume.allow_changes` names it: the model,
# the optimizer, the seed and what the training crops are made of. Free to change on a resume: how
# long and how it runs (trainer.*, checkpoint.*, logger.*) and the settings below, which change speed
# or the validation set, or say where the same data lives (a data folder may move between machines).
RESUME_CHECKED_GROUPS = ("model", "optim", "data")
RESUME_FREE = frozenset({
    "model.channels_last",
    "data.content_dir",
    "data.style_dir",
    "data.val_content_dir",
    "data.val_style_dir",
    "data.val_size",
    "data.num_workers",
    "data.pin_memory",
    "data.persistent_workers",
    "data.prefetch_factor",
})
RESUME_ALIASES = {"lambda": "model.style_weight"}  # `resume.allow_changes=[lambda]`


def setting_names() -> set[str]:
    """Every flat setting name a resume compares (`optim.lr`, `data.crop`, `seed`, ...)."""
    names = {"seed"}
    schemas = {"model": tuple(model_schemas().values()), **{g: (GROUP_SCHEMAS[g],) for g in ("optim", "data")}}
    for group, classes in schemas.items():
        names.update(f"{group}.{spec.name}" for schema in classes for spec in dataclasses.fields(schema))
    return names - RESUME_FREE - {"model.name"}


@dataclass
class ResumeConfig:
    """`resume.allow_changes=[optim.lr,data.crop]`: the settings a resume may change from the
    checkpoint's (anything else that differs stops the run). An allowed optimizer change is applied
    to the restored optimizer."""

    allow_changes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        value = self.allow_changes
        if isinstance(value, str):
            value = [value]
        require(
            isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value),
            "resume.allow_changes",
            f"must be a list of setting names such as [optim.lr], got {value!r}",
        )
        known = setting_names()
        unknown = [name for name in value if RESUME_ALIASES.get(name, name) not in known]
        require(
            not unknown,
            "resume.allow_changes",
            f"names no setting a resume checks: {', '.join(unknown)}; use names such as optim.lr, "
            "data.crop, model.style_weight (trainer.*, checkpoint.* and logger.* may change anyway)",
        )
        self.allow_changes = [RESUME_ALIASES.get(name, name) for name in value]


@dataclass
class TrainSettings:
    """The validated, plain-Python form of a whole training config."""

    model: Any  # the family's schema dataclass (model_schemas())
    optim: OptimConfig
    data: DataConfig
    trainer: TrainerConfig
    logger: LoggerConfig
    checkpoint: CheckpointConfig
    seed: int = 0
    ckpt_path: str | None = None
    resume: ResumeConfig = field(default_factory=ResumeConfig)


GROUP_SCHEMAS: dict[str, type] = {
    "optim": OptimConfig,
    "data": DataConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
    "checkpoint": CheckpointConfig,
}


def register_configs() -> None:
    """Register every schema as `<group>/schema_<name>` (never the name of a YAML file)."""
    store = ConfigStore.instance()
    for name, schema in model_schemas().items():
        store.store(group="model", name=f"schema_{name}", node=schema)
    for group, schema in GROUP_SCHEMAS.items():  # optim's is named after its one option, Adam
        store.store(group=group, name="schema_adam" if group == "optim" else f"schema_{group}", node=schema)


def validate(cfg: DictConfig) -> TrainSettings:
    """Every node -> its dataclass, running all range checks; raises ConfigError naming the key.

    Nodes are converted where they sit in `cfg` (not on a detached copy) so interpolations such as
    `model.style_weight: ${lambda}` still resolve against the root.
    """
    model_node = cfg.get("model")
    schemas = model_schemas()
    name = None if model_node is None else model_node.get("name")
    if name not in schemas:
        raise ConfigError(
            f"model.name must be one of the installed model families ({', '.join(sorted(schemas))}), got "
            f"{name!r} (pick model=NAME)"
        )
    parts: dict[str, Any] = {}
    try:
        parts["model"] = _to_schema(cfg.model, schemas[name])
        for group, schema in GROUP_SCHEMAS.items():
            if group not in cfg:
                raise ConfigError(f"{group} is missing from the configuration")
            parts[group] = _to_schema(cfg[group], schema)
    except ConfigError:
        raise
    except Exception as err:  # OmegaConf type errors: name the key, keep the first line of the reason
        key = getattr(err, "full_key", None)
        reason = one_line(err)
        raise ConfigError(f"{key}: {reason}" if key else f"invalid configuration: {reason}") from err
    root = _root(cfg)
    return TrainSettings(seed=root.seed, ckpt_path=root.ckpt_path, resume=_resume(cfg), **parts)


def _resume(cfg: DictConfig) -> ResumeConfig:
    node = cfg.get("resume")
    if node is None:
        return ResumeConfig()
    try:
        values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    except Exception as err:  # an interpolation that does not resolve
        raise ConfigError(f"resume: {one_line(err)}") from err
    if not isinstance(values, dict) or set(values) - {"allow_changes"}:
        raise ConfigError(f"resume takes only allow_changes=[...], got {values!r}")
    return ResumeConfig(**cast("dict[str, Any]", values))


def _root(cfg: DictConfig) -> RootConfig:
    values = {}
    for key, name in ROOT_KEYS.items():
        if key in cfg:
            try:
                values[name] = cfg[key]
            except Exception as err:  # an interpolation that does not resolve
                raise ConfigError(f"{key}: {one_line(err)}") from err
    seed = values.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):  # 1.5 or "x" is no seed
        raise ConfigError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return RootConfig(**values)


def _to_schema(node: Any, schema: type) -> Any:
    if isinstance(node, DictConfig):
        obj = OmegaConf.to_object(node)
        if dataclasses.is_dataclass(obj):
            if not isinstance(obj, schema):
                raise ConfigError(
                    f"{node._key()} has schema {type(obj).__name__}, expected {schema.__name__}"
                )
            return obj
        return schema(**cast("dict[str, Any]", obj))  # a plain dict (a node without a schema in its defaults)
    raise ConfigError(f"{node!r} is not a config group")


register_configs()


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The training config from conf/ with command-line style overrides, without starting a run."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides or []))
