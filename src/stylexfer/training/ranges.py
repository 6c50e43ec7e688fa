"""The one range checker of the training configs: `bounded` fields and the checks every schema
(ours and each family's config.py) runs in `__post_init__`. Imports nothing of Hydra, so a family's
schema module can use it without importing the config store."""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from stylexfer.errors import StylexferError


class ConfigError(StylexferError, ValueError):
    """A configuration value out of its range; the message names the key (`data.crop`)."""


# --------------------------------------------------------------------------- the one range checker


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric setting: [lo, hi] (either end may be open or absent), plus
    `also`, special values outside it (-1 for "auto"). The message is made from the same numbers."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    also: tuple[Any, ...] = ()
    meaning: str = ""  # what the special values mean: "-1 (auto)"

    def contains(self, value: float) -> bool:
        if value in self.also:
            return True
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            span = f"in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            span = f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        elif self.hi is not None:
            span = f"{'<' if self.hi_open else '<='} {_num(self.hi)}"
        else:
            span = "finite"
        if self.also:
            special = self.meaning or " or ".join(repr(v) for v in self.also)
            return f"{special} or {span}"
        return span


def _num(value: float) -> str:
    return f"{value:,}".replace(",", "_") if isinstance(value, int) and abs(value) >= 100_000 else f"{value:g}"


def bounded(
    default: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    also: tuple[Any, ...] = (),
    meaning: str = "",
    key: str = "",
) -> Any:
    """A dataclass field whose range lives next to it: `lr: float = bounded(1e-4, 0, 1, lo_open=True)`.

    `key` overrides the name used in messages (`model.style_weight (lambda)`).
    """
    metadata: dict[str, Any] = {"range": Range(lo, hi, lo_open, hi_open, tuple(also), meaning)}
    if key:
        metadata["key"] = key
    return field(default=default, metadata=metadata)


def check_fields(obj: Any, prefix: str) -> None:
    """The one checker: every float of `obj` must be finite, every field with a `range` inside it.

    Raises ConfigError("<prefix>.<field> must be ..., got <value>"); the schemas call it first in
    `__post_init__` and then add only the checks that relate two fields.
    """
    for spec in dataclasses.fields(obj):
        value = getattr(obj, spec.name)
        key = spec.metadata.get("key") or (f"{prefix}.{spec.name}" if prefix else spec.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
        bounds: Range | None = spec.metadata.get("range")
        if bounds is None or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number {bounds.describe()}, got {value!r}")
        if not bounds.contains(value):
            raise ConfigError(f"{key} must be {bounds.describe()}, got {value}")


def require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key} {message}")


def choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    require(False, key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}{hint}")


def check_model(cfg: Any, family: str) -> None:
    """What every family's schema checks first: its `name`, its fields' ranges, weights that train
    something and a VGG to train with; the schema adds only its own checks after it."""
    require(cfg.name == family, "model.name", f"must be {family!r} for this schema, got {cfg.name!r}")
    check_fields(cfg, "model")
    require(
        cfg.content_weight + cfg.style_weight > 0,
        "model.content_weight + model.style_weight",
        "must be > 0 (nothing to train otherwise)",
    )
    require(bool(cfg.vgg_weights), "model.vgg_weights", "must be 'imagenet', 'random' or a path to a VGG state dict")


@dataclass
class NetTrainingOptions:
    """How any family's trained network is trained, beside its own maths: the keys a model schema
    inherits (`model.ema`, `model.compile`). They are not LightningModule arguments (build_system
    leaves them out); the run applies them (training.averaging, torch.compile)."""

    # EMA decay of the trained weights (0: off; 0.999 averages about the last 1,000 steps). Validation
    # pictures, the final measures and checkpoints' state_dict (so exported models) use the average.
    ema: float = bounded(0.0, 0, 1, hi_open=True)
    compile: bool = False  # torch.compile the trained net and the frozen loss network (first steps compile)


NET_TRAINING_KEYS = ("ema", "compile")  # the fields of NetTrainingOptions
