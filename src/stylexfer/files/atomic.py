"""The one way this tool writes a file: a temporary file in the target's folder (named after the
target and the writer's PID), flushed and fsynced, then renamed over the target and the folder
fsynced, so a crash at any moment leaves the old file or the new one under the final name, never
half of one. Files get the ordinary mode (0666 minus the umask), like any program's output.

Also the JSON writer on top (`atomic_write_json`), the one check of
an output location before anything is written (`check_output_path`), the all-or-nothing commit of
several files (`staged`) or of a whole folder (`atomic_folder`), and the removal of temporaries that a killed
writer left behind (`remove_stale_temporaries`, run once per folder before this process writes there).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from stylexfer.errors import OutputPathError, StylexferError, literal, printable
from stylexfer.runtime import pid_alive

TEMP_SUFFIX = ".part"
_NAME_KEEP = 100  # characters of the target's name kept in the temporary's (255-byte name limit)


def temporary_path(path: str | os.PathLike, *, suffix: str = TEMP_SUFFIX) -> Path:
    """`.<name>.<pid>.<random><suffix>` beside `path`: hidden, unique, and naming its writer so a
    cleaner can tell a live writer's temporary from a dead one's. The first call for a folder also
    removes the stale temporaries of dead writers there (`remove_stale_temporaries`)."""
    path = Path(path)
    if suffix == TEMP_SUFFIX:
        _clean_once(os.path.abspath(path.parent))
    return path.with_name(f".{path.name[:_NAME_KEEP]}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


@functools.cache  # once per folder and process
def _clean_once(folder: str) -> None:
    remove_stale_temporaries(folder)


def writer_pid(name: str, *, suffix: str = TEMP_SUFFIX) -> int | None:
    """The writer's PID in a name `temporary_path` made, or None for any other name."""
    match = re.fullmatch(rf"\..+\.(\d+)\.[0-9a-f]{{8}}{re.escape(suffix)}", name, flags=re.DOTALL)
    return int(match.group(1)) if match else None


def remove_stale_temporaries(folder: str | os.PathLike, *, suffix: str = TEMP_SUFFIX) -> list[Path]:
    """Delete the temporaries in `folder` that a writer killed outright (SIGKILL, a power cut) left:
    only regular files named exactly as `temporary_path` names them, owned by this user, whose
    writer PID no longer runs. Anything else, a live writer's temporary included, stays."""
    removed: list[Path] = []
    with contextlib.suppress(OSError), os.scandir(str(folder)) as entries:
        for entry in entries:
            pid = writer_pid(entry.name, suffix=suffix)
            if pid is None or pid_alive(pid):
                continue
            with contextlib.suppress(OSError):
                if not entry.is_file(follow_symlinks=False):
                    continue
                if hasattr(os, "getuid") and entry.stat(follow_symlinks=False).st_uid != os.getuid():
                    continue
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _fsync(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in `folder` durable (no-op where a folder cannot be opened)."""
    with contextlib.suppress(OSError):
        _fsync(folder)


def _create(tmp: Path) -> BinaryIO:
    # O_EXCL: never write through a name someone else made; mode 0666 lets the umask apply.
    return os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), "wb")


def commit(tmp: str | os.PathLike, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Move a fully written temporary file onto `path`: fsync it, rename (overwrite) or hard-link
    (never replaces a file, even one created meanwhile: FileExistsError), fsync the folder. The
    temporary is gone afterwards, whatever happens."""
    tmp, path = Path(tmp), Path(path)
    try:
        _fsync(tmp)
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
    with _naming(path):
        handle = _create(tmp)
    try:
        with handle:
            yield handle
            with _naming(path):
                handle.flush()
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with _naming(path):
        commit(tmp, path, overwrite=overwrite)


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An OSError about the hidden temporary names the user's `path` instead (the temporary means
    nothing to them and is gone by the time they read the message)."""
    try:
        yield
    except OSError as err:
        if err.filename is None or Path(err.filename) == path:
            raise
        raise type(err)(err.errno, err.strerror or os.strerror(err.errno or errno.EIO), str(path)) from None


def atomic_write_bytes(
    path: str | os.PathLike, data: bytes, *, overwrite: bool = True, suffix: str = TEMP_SUFFIX
) -> Path:
    """Write `data` to `path` atomically (see the module docstring)."""
    with atomic_open(path, overwrite=overwrite, suffix=suffix) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, doc: Any, *, overwrite: bool = True, **dumps: Any) -> Path:
    """Write `doc` as indented JSON (and a final newline, UTF-8) to `path` atomically; `dumps` go to json.dumps."""
    return atomic_write_bytes(path, (json.dumps(doc, indent=2, **dumps) + "\n").encode("utf-8"), overwrite=overwrite)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """`with atomic_folder(d) as tmp: (tmp / "a").write_text(...)`: the files written into the hidden
    temporary folder `tmp` (beside `d`, mode 0777 minus the umask) replace the folder `d` as a whole
    when the block ends without an exception (a reader sees the old folder or the new one); otherwise
    the temporary folder is removed and `d` stays as it was. The caller decides whether `d` may go."""
    target = Path(target)
    tmp = temporary_path(target, suffix=".dir")
    os.mkdir(tmp)  # 0777 minus the umask, like any folder (mkdtemp's would be 0700)
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name[:_NAME_KEEP]}.old.{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class Staging:
    """Several files written as one: each goes to its temporary first; see `staged`."""

    def __init__(self, overwrite: bool) -> None:
        self.overwrite = overwrite
        self.files: list[tuple[Path, Path]] = []  # (temporary, target)

    def write_bytes(self, path: str | os.PathLike, data: bytes) -> None:
        """Stage `data` for `path`: written and flushed now, committed when the block ends."""
        path = Path(path)
        tmp = temporary_path(path)
        self.files.append((tmp, path))
        with _naming(path), _create(tmp) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def discard(self) -> None:
        for tmp, _ in self.files:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def commit(self) -> list[Path]:
        """Rename every temporary onto its target. Without overwrite (hard links, never replacing a
        file) a target that appeared meanwhile takes back the ones already committed: they are new."""
        done: list[Path] = []
        try:
            for tmp, path in self.files:
                with _naming(path):
                    commit(tmp, path, overwrite=self.overwrite)
                done.append(path)
        except BaseException:
            self.discard()
            if not self.overwrite:
                for path in done:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
            raise
        return done


@contextlib.contextmanager
def staged(*, overwrite: bool) -> Iterator[Staging]:
    """`with staged(overwrite=...) as stage: stage.write_bytes(a, ...); stage.write_bytes(b, ...)`:
    all the files appear when the block ends without an exception, none otherwise (no temporary
    left either). Every byte is on disk before the first rename, so a full disk or an error in a
    later file leaves the earlier targets as they were."""
    stage = Staging(overwrite)
    try:
        yield stage
    except BaseException:
        stage.discard()
        raise
    stage.commit()


def exists_error(error: type[StylexferError], path: str | os.PathLike) -> StylexferError:
    """The one message for an output that is there already and may not be replaced."""
    return error(f"{literal(path)}: already exists; pass {{overwrite}} to replace it", "overwrite")


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
            raise exists_error(error, path)
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
