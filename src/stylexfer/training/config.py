"""Typed schemas for the Hydra configuration in `conf/`, with the range checks of every setting.

Each dataclass is registered in Hydra's ConfigStore as `<group>/schema_<name>`; the YAML files in
`conf/` list it first in their defaults and hold only deltas. `validate(cfg)` turns every node into
its dataclass (running `__post_init__`), so a typo, a wrong type or an impossible value stops the
run before any data is read, with a message that names the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from stylexfer.errors import StylexferError

PRECISIONS = ("32", "16-mixed", "bf16-mixed", "64")
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")


class ConfigError(StylexferError, ValueError):
    """A configuration value out of its range; the message names the key (`data.crop`)."""


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key} {message}")


def _non_negative(key: str, value: float) -> None:
    _require(value >= 0, key, f"must be >= 0, got {value}")


def _weights(key: str, value: str) -> None:
    _require(bool(value), key, "must be 'imagenet', 'random' or a path to a VGG state dict")


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


@dataclass
class AdaINConfig:
    """LitAdaIN: L = content_weight·L_c + style_weight·L_s (Huang & Belongie 2017, eq. 11)."""

    name: str = "adain"
    content_weight: float = 1.0
    style_weight: float = 10.0  # λ; the YAML sets it from the top-level `lambda`
    vgg_weights: str = "imagenet"  # "imagenet" | "random" | path to a torchvision VGG-19 state dict
    channels_last: bool = False  # NHWC convs: faster with tensor cores (AMP on recent GPUs)

    def __post_init__(self) -> None:
        _require(self.name == "adain", "model.name", f"must be 'adain' for this schema, got {self.name!r}")
        _non_negative("model.content_weight", self.content_weight)
        _require(
            self.style_weight >= 0, "model.style_weight (lambda)", f"must be >= 0, got {self.style_weight}"
        )
        _require(
            self.content_weight + self.style_weight > 0,
            "model.content_weight + model.style_weight",
            "must be > 0 (nothing to train otherwise)",
        )
        _weights("model.vgg_weights", self.vgg_weights)


@dataclass
class JohnsonConfig:
    """LitJohnson: L = content_weight·L_c + style_weight·L_s + tv_weight·TV (Johnson et al. 2016, §3)."""

    name: str = "johnson"
    style_image: str | None = None  # None: the first image of the generated sample style set
    style_size: int = 512  # the style image's shorter side, in pixels, when its Grams are computed
    content_weight: float = 1.0
    style_weight: float = 1e-3  # seed Table 2 (Grams divided by C·H·W)
    tv_weight: float = 0.0
    output: str = "sigmoid"  # TransformerNet output: "sigmoid" (train default) | "clamp"
    vgg_weights: str = "imagenet"
    channels_last: bool = False
    style_reduction: str = "sum"  # Gram loss over C×C entries: "sum" (seed) | "mean" (pytorch/examples, C² less)

    def __post_init__(self) -> None:
        _require(
            self.name == "johnson", "model.name", f"must be 'johnson' for this schema, got {self.name!r}"
        )
        _require(
            self.style_image is None or bool(self.style_image),
            "model.style_image",
            "must be a path to an image or null",
        )
        _require(
            16 <= self.style_size <= 8192, "model.style_size", f"must be in [16, 8192], got {self.style_size}"
        )
        _non_negative("model.content_weight", self.content_weight)
        _non_negative("model.style_weight", self.style_weight)
        _non_negative("model.tv_weight", self.tv_weight)
        _require(
            self.content_weight + self.style_weight > 0,
            "model.content_weight + model.style_weight",
            "must be > 0 (nothing to train otherwise)",
        )
        _require(
            self.output in ("sigmoid", "clamp"),
            "model.output",
            f"must be 'sigmoid' or 'clamp', got {self.output!r}",
        )
        _require(
            self.style_reduction in ("sum", "mean"),
            "model.style_reduction",
            f"must be 'sum' or 'mean', got {self.style_reduction!r}",
        )
        _weights("model.vgg_weights", self.vgg_weights)


MODEL_SCHEMAS: dict[str, type] = {"adain": AdaINConfig, "johnson": JohnsonConfig}


# --------------------------------------------------------------------------- optim


@dataclass
class OptimConfig:
    """Adam with the optional decay lr_t = lr / (1 + lr_decay·t) of Huang & Belongie's released code."""

    name: str = "adam"
    lr: float = 1e-4
    lr_decay: float = 0.0  # 5e-5 in the AdaIN paper; 0 keeps lr constant
    beta1: float = 0.9
    beta2: float = 0.999

    def __post_init__(self) -> None:
        _require(self.name == "adam", "optim.name", f"must be 'adam', got {self.name!r}")
        _require(0 < self.lr <= 1, "optim.lr", f"must be in (0, 1], got {self.lr}")
        _require(0 <= self.lr_decay <= 1, "optim.lr_decay", f"must be in [0, 1], got {self.lr_decay}")
        _require(0 <= self.beta1 < 1, "optim.beta1", f"must be in [0, 1), got {self.beta1}")
        _require(0 <= self.beta2 < 1, "optim.beta2", f"must be in [0, 1), got {self.beta2}")


# --------------------------------------------------------------------------- data


@dataclass
class DataConfig:
    """Content and style folders (searched recursively) and how training crops are made (SPEC "Data")."""

    content_dir: Any = None  # a folder or a list; empty: the generated sample set
    style_dir: Any = None
    val_content_dir: Any = None  # empty: a fixed subset of content_dir
    val_style_dir: Any = None
    resize: int = 512  # shorter side before the crop; never a square resize
    crop: int = 256
    batch_size: int = 8
    val_size: int = 8  # fixed validation pairs, decoded once
    num_workers: int = -1  # per stream (content, style); -1: min(4, CPUs / 2)
    pin_memory: bool | None = None  # None: when training on a GPU
    persistent_workers: bool = True
    prefetch_factor: int = 2
    max_megapixels: float = 100.0  # larger paintings are skipped (JPEGs are first decoded at reduced scale)
    sample_images: int = 24  # generated sample set: content images (half as many styles)

    def __post_init__(self) -> None:
        self.content_dir = _folders("data.content_dir", self.content_dir)
        self.style_dir = _folders("data.style_dir", self.style_dir)
        self.val_content_dir = _folders("data.val_content_dir", self.val_content_dir)
        self.val_style_dir = _folders("data.val_style_dir", self.val_style_dir)
        _require(
            bool(self.content_dir) == bool(self.style_dir),
            "data.content_dir/data.style_dir",
            "must be given together (or both left empty for the generated sample set)",
        )
        _require(
            bool(self.val_content_dir) == bool(self.val_style_dir),
            "data.val_content_dir/data.val_style_dir",
            "must be given together",
        )
        _require(8 <= self.crop <= 4096, "data.crop", f"must be in [8, 4096], got {self.crop}")
        _require(
            self.crop <= self.resize <= 8192,
            "data.resize",
            f"must be in [data.crop, 8192] = [{self.crop}, 8192], got {self.resize} "
            "(the crop is cut from the resized image)",
        )
        _require(
            1 <= self.batch_size <= 4096, "data.batch_size", f"must be in [1, 4096], got {self.batch_size}"
        )
        _require(1 <= self.val_size <= 10000, "data.val_size", f"must be in [1, 10000], got {self.val_size}")
        _require(
            -1 <= self.num_workers <= 256,
            "data.num_workers",
            f"must be -1 (auto) or in [0, 256], got {self.num_workers}",
        )
        _require(
            1 <= self.prefetch_factor <= 64,
            "data.prefetch_factor",
            f"must be in [1, 64], got {self.prefetch_factor}",
        )
        _require(
            0 < self.max_megapixels <= 1000,
            "data.max_megapixels",
            f"must be in (0, 1000], got {self.max_megapixels}",
        )
        _require(
            2 <= self.sample_images <= 1000,
            "data.sample_images",
            f"must be in [2, 1000], got {self.sample_images}",
        )


# --------------------------------------------------------------------------- trainer, logger, checkpoint


@dataclass
class TrainerConfig:
    """What Lightning's Trainer gets; cadences follow the seed (§3.3): train logs every 100 steps,
    validation every 500."""

    accelerator: str = "cpu"
    devices: Any = 1  # an int, a list of GPU ids, or "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # "ddp" for several GPUs or machines
    precision: Any = "32"  # "32" | "16-mixed" | "bf16-mixed"
    max_steps: int = 150_000  # seed Table 5
    log_every_n_steps: int = 100
    val_check_interval: int = 500  # in optimizer steps, across epochs
    num_sanity_val_steps: int = 1
    gradient_clip_val: float = 0.0  # 0: off
    accumulate_grad_batches: int = 1
    deterministic: bool = False
    benchmark: bool = False  # cuDNN autotuning (fixed crop sizes make it pay off)
    enable_progress_bar: bool = True
    matmul_precision: str = "highest"  # "high" lets Ampere+ GPUs use TF32

    def __post_init__(self) -> None:
        self.precision = str(self.precision)
        _require(
            self.precision in PRECISIONS,
            "trainer.precision",
            f"must be one of {PRECISIONS}, got {self.precision!r}",
        )
        _require(
            self.accelerator in ACCELERATORS,
            "trainer.accelerator",
            f"must be one of {ACCELERATORS}, got {self.accelerator!r}",
        )
        devices = self.devices
        ok = (
            devices == "auto"
            or (isinstance(devices, int) and (devices >= 1 or devices == -1))
            or (isinstance(devices, list) and all(isinstance(d, int) and d >= 0 for d in devices) and devices)
        )
        _require(
            bool(ok), "trainer.devices", f"must be a count >= 1, -1, 'auto' or a list of ids, got {devices!r}"
        )
        _require(1 <= self.num_nodes <= 100_000, "trainer.num_nodes", f"must be >= 1, got {self.num_nodes}")
        _require(bool(self.strategy), "trainer.strategy", "must not be empty")
        _require(1 <= self.max_steps <= 10**9, "trainer.max_steps", f"must be >= 1, got {self.max_steps}")
        _require(
            self.log_every_n_steps >= 1,
            "trainer.log_every_n_steps",
            f"must be >= 1, got {self.log_every_n_steps}",
        )
        _require(
            self.val_check_interval >= 1,
            "trainer.val_check_interval",
            f"must be >= 1 step, got {self.val_check_interval}",
        )
        _require(
            self.num_sanity_val_steps >= 0,
            "trainer.num_sanity_val_steps",
            f"must be >= 0, got {self.num_sanity_val_steps}",
        )
        _non_negative("trainer.gradient_clip_val", self.gradient_clip_val)
        _require(
            self.accumulate_grad_batches >= 1,
            "trainer.accumulate_grad_batches",
            f"must be >= 1, got {self.accumulate_grad_batches}",
        )
        _require(
            self.matmul_precision in ("highest", "high", "medium"),
            "trainer.matmul_precision",
            f"must be 'highest', 'high' or 'medium', got {self.matmul_precision!r}",
        )


@dataclass
class LoggerConfig:
    """TensorBoard under <run dir>/tensorboard: scalars, a validation image grid, the hyperparameters."""

    name: str = "tensorboard"
    grid_images: int = 4  # validation samples shown in the image grid; 0: no images

    def __post_init__(self) -> None:
        _require(self.name == "tensorboard", "logger.name", f"must be 'tensorboard', got {self.name!r}")
        _require(
            0 <= self.grid_images <= 64, "logger.grid_images", f"must be in [0, 64], got {self.grid_images}"
        )


@dataclass
class CheckpointConfig:
    """Numbered checkpoints every `every_n_steps` (seed: 10,000) and `last.ckpt` every
    `last_every_n_steps`, so a crash costs at most that many steps."""

    every_n_steps: int = 10_000
    last_every_n_steps: int = 1_000
    keep: int = -1  # numbered checkpoints kept; -1: all

    def __post_init__(self) -> None:
        _require(
            self.every_n_steps >= 1, "checkpoint.every_n_steps", f"must be >= 1, got {self.every_n_steps}"
        )
        _require(
            self.last_every_n_steps >= 1,
            "checkpoint.last_every_n_steps",
            f"must be >= 1, got {self.last_every_n_steps}",
        )
        _require(
            self.keep == -1 or self.keep >= 1, "checkpoint.keep", f"must be -1 (all) or >= 1, got {self.keep}"
        )


@dataclass
class TrainSettings:
    """The validated, plain-Python form of a whole training config."""

    model: AdaINConfig | JohnsonConfig
    optim: OptimConfig
    data: DataConfig
    trainer: TrainerConfig
    logger: LoggerConfig
    checkpoint: CheckpointConfig
    seed: int = 0
    ckpt_path: str | None = None


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
    store.store(group="model", name="schema_adain", node=AdaINConfig)
    store.store(group="model", name="schema_johnson", node=JohnsonConfig)
    store.store(group="optim", name="schema_adam", node=OptimConfig)
    store.store(group="data", name="schema_data", node=DataConfig)
    store.store(group="trainer", name="schema_trainer", node=TrainerConfig)
    store.store(group="logger", name="schema_tensorboard", node=LoggerConfig)
    store.store(group="checkpoint", name="schema_checkpoint", node=CheckpointConfig)


def validate(cfg: DictConfig) -> TrainSettings:
    """Every node -> its dataclass, running all range checks; raises ConfigError naming the key.

    Nodes are converted where they sit in `cfg` (not on a detached copy) so interpolations such as
    `model.style_weight: ${lambda}` still resolve against the root.
    """
    model_node = cfg.get("model")
    if model_node is None or model_node.get("name") not in MODEL_SCHEMAS:
        name = None if model_node is None else model_node.get("name")
        raise ConfigError(
            f"model.name must be one of {sorted(MODEL_SCHEMAS)}, got {name!r} "
            "(pick model=adain or model=johnson)"
        )
    parts: dict[str, Any] = {}
    try:
        parts["model"] = _to_schema(cfg.model, MODEL_SCHEMAS[model_node.name])
        for group, schema in GROUP_SCHEMAS.items():
            if group not in cfg:
                raise ConfigError(f"{group} is missing from the configuration")
            parts[group] = _to_schema(cfg[group], schema)
    except ConfigError:
        raise
    except Exception as err:  # OmegaConf type errors: name the key, keep the first line of the reason
        key = getattr(err, "full_key", None)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{key}: {reason}" if key else f"invalid configuration: {reason}") from err
    seed = cfg.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None and (not isinstance(ckpt_path, str) or not ckpt_path):
        raise ConfigError(f"ckpt_path must be 'last', a checkpoint file or a run folder, got {ckpt_path!r}")
    return TrainSettings(seed=seed, ckpt_path=ckpt_path, **parts)


def _to_schema(node: Any, schema: type) -> Any:
    if isinstance(node, DictConfig):
        obj = OmegaConf.to_object(node)
        if dataclasses.is_dataclass(obj):
            if not isinstance(obj, schema):
                raise ConfigError(
                    f"{node._key()} has schema {type(obj).__name__}, expected {schema.__name__}"
                )
            return obj
        return schema(**obj)  # a plain dict (a node without a schema in its defaults)
    raise ConfigError(f"{node!r} is not a config group")


register_configs()
