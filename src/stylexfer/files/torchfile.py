"""Reading PyTorch pickles (.ckpt/.pth/.pt) safely: the archive's declared sizes are checked before
anything is inflated (a 3 MB zip bomb would otherwise take gigabytes), nothing can run code
(``torch.load(weights_only=True)``), and the tensors found must be plain dense, finite weights.

Every loader of a PyTorch file in the tool goes through :func:`check_archive` (training's resume
check included); every failure is a one-line :class:`ModelFileError`.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from stylexfer.errors import ModelFileError, one_line, printable
from stylexfer.files.userfile import check_regular_file, open_regular_file

# Total uncompressed bytes a model archive may declare: VGG-19 is ~550 MB, a training checkpoint with
# Adam states ~3x its weights; 4 GiB leaves room. STYLEXFER_MAX_MODEL_BYTES raises or lowers it.
DEFAULT_MAX_ARCHIVE_BYTES = 4 << 30
# torch.save stores members uncompressed (ratio 1). A compressed archive is allowed up to this
# ratio; beyond it, above the small-size floor, it is a decompression bomb.
MAX_COMPRESSION_RATIO = 10.0
RATIO_FLOOR_BYTES = 64 << 20


def max_archive_bytes() -> int:
    """The configured ceiling (STYLEXFER_MAX_MODEL_BYTES, bytes) or DEFAULT_MAX_ARCHIVE_BYTES."""
    value = os.environ.get("STYLEXFER_MAX_MODEL_BYTES", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_ARCHIVE_BYTES


def check_archive(path: str | os.PathLike, *, limit: int | None = None) -> None:
    """Refuse a zip-format PyTorch file whose members declare more than `limit` bytes in total (default
    :func:`max_archive_bytes`) or inflate more than MAX_COMPRESSION_RATIO times their size on disk.
    Reads only the zip's central directory; legacy (non-zip) pickles pass unchecked."""
    path = Path(path)
    limit = max_archive_bytes() if limit is None else limit
    shown = printable(str(path))
    check_regular_file(path, ModelFileError, empty="export or download the model again")
    try:
        if not zipfile.is_zipfile(path):
            _check_pickle_start(path)
            return
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except ModelFileError:
        raise
    except (OSError, zipfile.BadZipFile, ValueError) as err:
        raise ModelFileError(f"{shown}: not a readable model file ({one_line(err)})") from err
    _check_not_torchscript(infos, shown)
    declared = sum(info.file_size for info in infos)
    on_disk = max(1, path.stat().st_size)
    if declared > limit:
        raise ModelFileError(
            f"{shown}: refused: its archive declares {declared / 2**20:,.0f} MiB of data, over the "
            f"{limit / 2**20:,.0f} MiB limit for a model file (set STYLEXFER_MAX_MODEL_BYTES to allow more)"
        )
    lying = any(
        info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size
        for info in infos
    )
    ratio = declared / on_disk
    if lying or (declared > RATIO_FLOOR_BYTES and ratio > MAX_COMPRESSION_RATIO):
        raise ModelFileError(
            f"{shown}: refused: a {on_disk / 2**20:,.1f} MiB archive that would inflate to "
            f"{declared / 2**20:,.0f} MiB (a decompression bomb or a damaged file); "
            "PyTorch model files are stored uncompressed"
        )


# A pickle starts with its PROTO opcode (torch.save's legacy format: protocol 2); anything else
# (zeros, text, an image) is not a PyTorch file, and torch would call it "a legacy .tar format".
_PICKLE_PROTO = 0x80
_ZIP_MAGIC = b"PK"
TORCHSCRIPT_MESSAGE = "a TorchScript file: stylexfer reads .safetensors/.ckpt/.pth; use the .safetensors export"


def _check_pickle_start(path: Path) -> None:
    """ModelFileError unless a non-zip file at least starts like a pickle."""
    with open_regular_file(path, ModelFileError) as handle:
        head = handle.read(2)
    if head.startswith(_ZIP_MAGIC):  # a truncated zip archive: torch.load says so
        return
    if len(head) < 2 or head[0] != _PICKLE_PROTO:
        raise ModelFileError(
            f"{printable(str(path))}: not a model file (neither a safetensors file nor a PyTorch "
            "checkpoint or state dict); check the path"
        )


def _check_not_torchscript(infos: list[zipfile.ZipInfo], shown: str) -> None:
    """A TorchScript archive (torch.jit.save, `export --torchscript`) holds code/ and constants.pkl:
    torch.load(weights_only=True) would answer with several sentences about weights_only=False."""
    names = [info.filename for info in infos]
    if any(name.endswith("/constants.pkl") for name in names) and any("/code/" in name for name in names):
        raise ModelFileError(f"{shown}: {TORCHSCRIPT_MESSAGE}")


def load_weights_only(path: str | os.PathLike, *, mmap: bool = False) -> Any:
    """:func:`check_archive`, then torch.load(weights_only=True) with one-line errors: a pickle that
    would import a Python object (the way hostile pickles run code) is refused, never executed.
    mmap: map the tensors' storage instead of reading it (cheap look at a zip-format file's keys)."""
    path = Path(path)
    shown = printable(str(path))
    check_archive(path)
    try:
        with warnings.catch_warnings():
            # torch's notes on sparse-tensor validation or TypedStorage are not the user's business
            warnings.simplefilter("ignore", UserWarning)
            if mmap and zipfile.is_zipfile(path):
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found or "Unsupported class" in str(err):
            what = f"would import {found.group(1)}" if found else "holds Python objects"
            raise ModelFileError(
                f"{shown}: refused: it {what} while loading, and pickled Python objects can run code; "
                "only weights-only checkpoints, state dicts and safetensors files are accepted"
            ) from err
        raise ModelFileError(
            f"{shown}: not a readable model file (corrupt pickle data); it may be truncated "
            "or not a model at all"
        ) from err
    except MemoryError as err:
        raise ModelFileError(f"{shown}: too large to load into memory") from err
    except Exception as err:
        raise ModelFileError(
            f"{shown}: not a readable model file ({one_line(err, with_type=True)}); it may be "
            "truncated or not a model at all"
        ) from err


def tensor_problem(value: Tensor) -> str | None:
    """Why `value` cannot be a network weight, or None: sparse or other non-strided layouts,
    quantized, meta (no data) and non-finite floating-point tensors are refused."""
    if value.layout != torch.strided:
        return f"is a {str(value.layout).removeprefix('torch.')} tensor, not a dense one"
    if value.is_quantized:
        return f"is a quantized ({value.dtype}) tensor; export the float model"
    if value.is_meta:
        return "is a meta tensor (shape only, no data)"
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        return "contains NaN or infinite values; the model diverged or the file is damaged"
    return None


def check_tensors(state: Mapping[str, Tensor], where: str) -> None:
    """ModelFileError naming the first tensor of `state` that :func:`tensor_problem` refuses."""
    for key, value in state.items():
        problem = tensor_problem(value)
        if problem:
            raise ModelFileError(f"{printable(where)}: {key!r} {problem}")
