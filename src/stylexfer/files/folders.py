"""The one rule for a folder a command fills with its own results (the demo's --out, a training run
folder): it is used only when it is new or empty, or when it is already that command's own (it
carries the command's marker, or `earlier` recognises an earlier run's output). Anything else (the
root folder, a source tree, a folder of photos) is refused with one line before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from stylexfer.errors import OutputPathError, StylexferError, one_line


def folder_is_own(
    folder: str | os.PathLike,
    *,
    markers: tuple[str, ...],
    earlier: Callable[[Path, set[str]], bool] | None = None,
    what: str,
    owner: str,
    advice: str,
    error: type[StylexferError] = OutputPathError,
) -> Path:
    """Check, reading only, that `folder` may receive a command's results.

    Accepted: a folder that does not exist yet, an empty folder, one holding any of `markers` (names
    the command writes into every folder it owns), or one `earlier(folder, names)` recognises as the
    command's earlier output. Raises `error` with one line: "`what` <reason>; `advice`" (`what` names the
    folder as the user gave it, e.g. "--out photos/")
    (`owner` names the command in "already holds files `owner` did not make").
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise error(f"{what} is a file; {advice}")
    try:
        names = {entry.name for entry in folder.iterdir()} if folder.is_dir() else set()
    except OSError as err:
        raise error(f"{what} cannot be read ({one_line(err)}); {advice}") from err
    if names and not names & set(markers) and not (earlier is not None and earlier(folder, names)):
        raise error(f"{what} already holds files {owner} did not make; {advice}")
    return folder
