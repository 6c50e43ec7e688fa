"""Hydra's own errors (an unknown key, a wrong type, a missing option, an unparsable override) as
one line that names the key and suggests the closest valid keys."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

from stylexfer.errors import one_line
from stylexfer.training.config import compose_config

GROUPS = ("model", "optim", "data", "trainer", "logger", "checkpoint", "experiment", "hparams_search", "debug")


def explain_hydra_error(err: HydraException, argv: list[str]) -> str:
    """One line for `err`, raised while Hydra composed the config from the overrides in `argv`."""
    cause = err.__cause__
    text = str(err)
    if isinstance(err, MissingConfigException):
        missing = getattr(err, "missing_cfg_file", None) or one_line(err, limit=2000)
        options = [name for name in getattr(err, "options", None) or [] if not name.startswith("schema_")]  # internal
        if options:
            return f"no config option {missing!r}; choose one of {', '.join(options)}"
        return _join(text)
    if isinstance(err, OverrideParseException):
        return f"cannot parse the override: {_join(text)}"
    unknown = re.search(r"Could not override '([^']+)'", text)
    if unknown or "not in struct" in str(cause):
        key = unknown.group(1) if unknown else str(getattr(cause, "full_key", "") or "?")
        hint = suggest(key, _valid_keys(argv))
        return f"unknown configuration key {key!r}" + (f"; did you mean {hint}?" if hint else "")
    full_key = getattr(cause, "full_key", None)
    if full_key and cause is not None:  # a value of the wrong type
        given = _given(argv, str(full_key))
        return f"{full_key}{'=' + given if given is not None else ''}: {one_line(cause, limit=2000)}"
    return _join(text) + (f" ({one_line(cause, limit=2000)})" if cause is not None else "")


def suggest(key: str, valid: list[str], count: int = 3) -> str:
    """The closest valid keys to `key` ("optim.lr or optim.lr_decay"), or "" if none is close.

    Besides difflib's closeness of the whole key, a key whose last part is the initials of the
    typed one's words counts (`learning_rate` -> `lr`), since abbreviations are how keys are named.
    """
    parent, _, leaf = key.rpartition(".")
    initials = "".join(word[:1] for word in leaf.split("_") if word)
    found: list[str] = []
    if len(initials) > 1:
        found += [k for k in valid if k.rpartition(".")[0] == parent and k.rpartition(".")[2] == initials]
    siblings = [k.rpartition(".")[2] for k in valid if k.rpartition(".")[0] == parent]
    found += [f"{parent}.{k}" if parent else k for k in difflib.get_close_matches(leaf, siblings, count, 0.6)]
    found += difflib.get_close_matches(key, valid, count, 0.6)
    return " or ".join(list(dict.fromkeys(found))[:count])  # in order, without repeats


def _valid_keys(argv: list[str]) -> list[str]:
    """Every key of the config the command composes, with its group choices (`model=johnson`)."""
    choices = [item for item in argv if not item.startswith("-") and item.split("=", 1)[0] in GROUPS]
    for overrides in (choices, []):
        try:
            cfg = compose_config(overrides)
        except Exception:  # noqa: BLE001 - a choice that does not compose: fall back to the defaults
            continue
        return sorted(set(_leaves(cfg)) | set(GROUPS))
    return list(GROUPS)


def _leaves(node: Any, prefix: str = "") -> Iterator[str]:
    container = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else node
    if not isinstance(container, dict):
        return
    for key, value in container.items():
        path = f"{prefix}{key!s}"
        yield path
        if isinstance(value, dict):
            yield from _leaves(value, path + ".")


def _given(argv: list[str], key: str) -> str | None:
    for item in argv:
        name, sep, value = item.lstrip("+~").partition("=")
        if sep and name == key:
            return value
    return None


def _join(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
