"""The one way this tool writes a file: a temporary file in the target's folder (named after the
target and the writer's PID), flushed and fsynced, then renamed over the target and the folder
fsynced, so a crash at any moment leaves the old file or the new one under the final name, never
half of one. Files get the ordinary mode (0666 minus the umask), like any program's output.

Also the one check of an output location before anything is written (`check_output_path`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from stylexfer.errors import OutputPathError, StylexferError, printable

TEMP_SUFFIX = ".part"
_NAME_KEEP = 100  # characters of the target's name kept in the temporary's (255-byte name limit)


def current_umask() -> int:
    """The process's umask: from /proc (Linux; no side effect), else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temporary_path(path: str | os.PathLike, *, suffix: str = TEMP_SUFFIX) -> Path:
    """`.<name>.<pid>.<random><suffix>` beside `path`: hidden, unique, and naming its writer so a
    cleaner can tell a live writer's temporary from a dead one's."""
    path = Path(path)
    return path.with_name(f".{path.name[:_NAME_KEEP]}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in `folder` durable (no-op where a folder cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def commit(tmp: str | os.PathLike, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Move a fully written temporary file onto `path`: fsync it, rename (overwrite) or hard-link
    (never replaces a file, even one created meanwhile: FileExistsError), fsync the folder. The
    temporary is gone afterwards, whatever happens."""
    tmp, path = Path(tmp), Path(path)
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # gone already after os.replace; the spare link after os.link
    fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, *, overwrite: bool = True, suffix: str = TEMP_SUFFIX
) -> Iterator[BinaryIO]:
    """`with atomic_open(p) as handle: handle.write(...)`: the bytes appear under `p` only when the
    block ends without an exception; otherwise nothing is left, not even the temporary."""
    path = Path(path)
    tmp = temporary_path(path, suffix=suffix)
    # O_EXCL: never write through a name someone else made; mode 0666 lets the umask apply.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    commit(tmp, path, overwrite=overwrite)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write `data` to `path` atomically (see the module docstring)."""
    with atomic_open(path, overwrite=overwrite) as handle:
        handle.write(data)
    return Path(path)


def check_output_path(
    path: str | os.PathLike,
    *,
    overwrite: bool,
    create_parents: bool = False,
    error: type[StylexferError] = OutputPathError,
) -> Path:
    """Refuse, before any work, an output `path` that cannot be written: a folder (or something not a
    regular file) as target, an existing file without `overwrite`, a parent that is missing (unless
    `create_parents`: then its nearest existing ancestor must be a writable folder), not a folder,
    or not writable. Raises `error` with one line naming the path and the fix."""
    path = Path(path)
    shown = printable(str(path))
    if path.is_dir():
        raise error(f"{shown}: is a folder; give a file name to write")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise error(f"{shown}: exists and is not a regular file; choose another name")
        if not overwrite:
            raise error(f"{shown}: already exists; pass --overwrite to replace it")
    check_output_folder(path.parent, create=create_parents, error=error)
    return path


def check_output_folder(
    folder: str | os.PathLike, *, create: bool = False, error: type[StylexferError] = OutputPathError
) -> Path:
    """A folder files will be written into: it exists (or, with `create`, its nearest existing
    ancestor does) and is a writable folder."""
    folder = Path(folder) if str(folder) else Path(".")
    existing = folder
    while create and not existing.exists() and existing != existing.parent:
        existing = existing.parent
    shown = printable(str(existing))
    if not existing.exists():
        raise error(f"{shown}: no such folder; create it first or choose another location")
    if not existing.is_dir():
        raise error(f"{shown}: is a file, not a folder; choose another location")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise error(f"{shown}: folder is not writable; choose another location")
    return folder
