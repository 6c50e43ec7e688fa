"""The one rule for every file the tool reads from the user: images, videos, model files, import
sources, a report's run records. Only a regular file is read; a FIFO (which would block the first
read until a writer appears: forever), a socket, a device, a folder or a symlink loop is refused with
a one-line reason before anything opens it for a blocking read.

`file_problem` says what is wrong (or None); `check_regular_file` raises the caller's error class
with that reason; `open_regular_file` opens non-blocking and checks the opened descriptor, so a file
swapped for a FIFO between the check and the open is refused too.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from stylexfer.errors import StylexferError, display_path, one_line

_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not wait for a writer

NO_SUCH_FILE = "no such file"
SYMLINK_LOOP = "a symlink loop; point the link at a real file"
NOT_REGULAR = "not a regular file (a FIFO, socket or device); give a real file"
IS_FOLDER = "is a directory, not a file"
EMPTY = "empty file (0 bytes)"


def _mode_problem(mode: int) -> str | None:
    if stat.S_ISDIR(mode):
        return IS_FOLDER
    if not stat.S_ISREG(mode):
        return NOT_REGULAR
    return None


def _check_stat(info: os.stat_result, shown: str, error: type[StylexferError], empty: str | None) -> None:
    kind = _mode_problem(info.st_mode)
    if kind:
        raise error(f"{shown}: {kind}")
    if empty is not None and info.st_size == 0:
        raise error(f"{shown}: {EMPTY}; {empty}")


def _os_problem(err: BaseException, missing: str = NO_SUCH_FILE) -> str:
    if isinstance(err, FileNotFoundError):
        return missing
    if isinstance(err, PermissionError):
        return "permission denied; check the file's permissions"
    if isinstance(err, OSError) and err.errno == errno.ELOOP:
        return SYMLINK_LOOP
    if isinstance(err, OSError) and err.errno == errno.ENXIO:  # opening a socket
        return NOT_REGULAR
    if isinstance(err, ValueError):  # a NUL byte in the name
        return "not a valid file name"
    return f"cannot open ({one_line(err)})"


def file_problem(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be read as a user's file, or None for an existing regular file (symlinks
    followed). Never opens the file, so it never blocks."""
    try:
        info = os.stat(path)
    except (OSError, ValueError) as err:
        return _os_problem(err)
    return _mode_problem(info.st_mode)


def check_regular_file(
    path: str | os.PathLike,
    error: type[StylexferError] = StylexferError,
    *,
    missing: str = NO_SUCH_FILE,
    empty: str | None = None,
) -> os.stat_result:
    """The file's stat, or `error` ("PATH: reason"). missing: the wording for a missing file ("no such
    model file"); empty: when given, a zero-byte file is refused too, with this advice appended."""
    shown = display_path(path)
    try:
        info = os.stat(path)
    except (OSError, ValueError) as err:
        raise error(f"{shown}: {_os_problem(err, missing)}") from None
    _check_stat(info, shown, error, empty)
    return info


def open_regular_file(
    path: str | os.PathLike,
    error: type[StylexferError] = StylexferError,
    *,
    missing: str = NO_SUCH_FILE,
    empty: str | None = None,
) -> BinaryIO:
    """Open `path` for binary reading under the rule of check_regular_file, without ever blocking:
    the open is non-blocking and the opened descriptor is checked (fstat), not just the name."""
    shown = display_path(path)
    check_regular_file(path, error, missing=missing, empty=None)
    try:
        fd = os.open(path, os.O_RDONLY | _O_NONBLOCK)
    except (OSError, ValueError) as err:
        raise error(f"{shown}: {_os_problem(err, missing)}") from None
    try:
        _check_stat(os.fstat(fd), shown, error, empty)
        if _O_NONBLOCK:  # a regular file: reads never block anyway; plain mode for the caller
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text_if_regular(path: Path, *, limit: int = 64 << 20) -> str | None:
    """The text of a record file the tool wrote earlier (a run's final.json, .hydra/*.yaml, train.log,
    lock file), or None when it is missing, not a regular file (never blocks on a FIFO), unreadable,
    or larger than `limit` bytes."""
    try:
        with open_regular_file(path) as handle:
            data = handle.read(limit + 1)
    except (StylexferError, OSError):
        return None
    if len(data) > limit:
        return None
    return data.decode("utf-8", errors="replace")
