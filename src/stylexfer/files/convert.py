"""Importers of public weight layouts, shared parts: read a plain .pth state dict without running
code, pick and rename its tensors, and `stylexfer import KIND FILES` dispatched to the family that
declares KIND (each family's files.py holds its own layout maps and converter).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch import Tensor

from stylexfer.errors import ModelFileError
from stylexfer.files.modelfile import load_mapping, tensors_only
from stylexfer.files.spec import ModelWeights
from stylexfer.files.userfile import check_regular_file
from stylexfer.registry import import_kinds, load_target


def pick(
    state: Mapping[str, Tensor], names: Mapping[str, str | int], where: str, what: str
) -> dict[str, Tensor]:
    """Our `<name>.weight|bias` from their `<their name>.weight|bias` (a prefix or a Sequential index)."""
    out = {}
    for ours, theirs in names.items():
        for suffix in ("weight", "bias"):
            key = f"{theirs}.{suffix}"
            if key not in state:
                raise ModelFileError(f"{where}: lacks {key!r}; not {what}")
            out[f"{ours}.{suffix}"] = state[key].float().clone()
    return out


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """A plain state dict from a .pth file, weights-only (refuses pickled code like read_model_file)."""
    path = Path(path)
    check_regular_file(path, ModelFileError, empty="give the .pth file itself")
    return tensors_only(load_mapping(path), path)  # checked: sparse, meta or NaN weights would import as junk


def import_files(kind: str, files: Sequence[str | os.PathLike]) -> ModelWeights:
    """`stylexfer import KIND FILE(S)`: the family that declares KIND converts FILE(S)."""
    kinds = import_kinds()
    if kind not in kinds:
        raise ModelFileError(f"unknown import kind {kind!r}; use one of {', '.join(sorted(kinds))}")
    return load_target(kinds[kind])(files)
