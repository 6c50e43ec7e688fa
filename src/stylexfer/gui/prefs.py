"""What the GUI remembers between sessions (recent files, the last save folder; where the file lives:
docs/stylizing.md, File ▸ Recent) and what it asks the system (dark or light). No Tk here. A corrupt or
foreign file is ignored with a warning (`RecentFiles.problem`) and replaced on the next change.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from stylexfer.errors import display_path, one_line
from stylexfer.files.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

APP_NAME = "stylexfer"
RECENT_FILE = "recent.json"
RECENT_KINDS = ("model", "content", "style", "gallery", "mask")
MAX_RECENT = 10
FORMAT_VERSION = 1


def config_dir() -> Path:
    """The user's config folder for stylexfer (not created here)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"  # XDG: relative ones are ignored
    return base / APP_NAME


class RecentFiles:
    """Recently used files per kind (model, content, style, gallery folder, mask), newest first, and the
    last folder a result was saved to. `path` None: kept in memory only (tests, or no home folder)."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.problem: str | None = None  # a one-line warning when the stored list could not be used
        self.lists: dict[str, list[str]] = {kind: [] for kind in RECENT_KINDS}
        self.save_folder: str | None = None
        if self.path is not None:
            self._load(self.path)

    @classmethod
    def default(cls) -> RecentFiles:
        return cls(config_dir() / RECENT_FILE)

    def get(self, kind: str) -> list[Path]:
        """The recent entries of `kind` that still exist, newest first."""
        return [Path(p) for p in self.lists.get(kind, []) if Path(p).exists()]

    def add(self, kind: str, path: str | os.PathLike) -> None:
        if kind not in self.lists:
            raise ValueError(f"unknown kind of recent file: {kind!r}")
        text = str(Path(path).absolute())
        entries = [text] + [p for p in self.lists[kind] if p != text]
        self.lists[kind] = entries[:MAX_RECENT]
        self._store()

    def set_save_folder(self, folder: str | os.PathLike) -> None:
        self.save_folder = str(Path(folder).absolute())
        self._store()

    # ------------------------------------------------------------------------------- internals
    def _load(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as err:
            self._ignore(f"cannot read {display_path(path)} ({one_line(err)})")
            return
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                raise ValueError("not a stylexfer recent-files list")
            lists = data.get("recent", {})
            if not isinstance(lists, dict):
                raise ValueError("'recent' is not an object")
            for kind in RECENT_KINDS:
                entries = lists.get(kind, [])
                if not isinstance(entries, list) or not all(isinstance(p, str) for p in entries):
                    raise ValueError(f"'{kind}' is not a list of paths")
                self.lists[kind] = entries[:MAX_RECENT]
            folder = data.get("save_folder")
            self.save_folder = folder if isinstance(folder, str) else None
        except (UnicodeDecodeError, ValueError) as err:  # json.JSONDecodeError is a ValueError
            self.lists = {kind: [] for kind in RECENT_KINDS}
            self.save_folder = None
            self._ignore(f"{display_path(path)} is unreadable ({one_line(err)}); starting a new list")

    def _ignore(self, message: str) -> None:
        self.problem = f"recent files: {message}"
        logger.warning(self.problem)

    def _store(self) -> None:
        if self.path is None:
            return
        data = {"version": FORMAT_VERSION, "recent": self.lists, "save_folder": self.save_folder}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path, json.dumps(data, indent=1).encode("utf-8"))
        except OSError as err:  # a read-only home must not stop the GUI
            self._ignore(f"cannot write {display_path(self.path)} ({one_line(err)})")


def system_theme() -> str:
    """ "dark" or "light": $STYLEXFER_THEME if set to one of them, else what the desktop says (darkdetect,
    when installed: macOS, Windows, GNOME/KDE via their settings), else "light"."""
    forced = os.environ.get("STYLEXFER_THEME", "").strip().lower()
    if forced in ("dark", "light"):
        return forced
    try:
        import darkdetect

        detected = darkdetect.theme()
    except Exception:  # not installed, or a desktop it cannot ask
        detected = None
    if isinstance(detected, str) and detected.lower() == "dark":
        return "dark"
    if detected is None and ":dark" in os.environ.get("GTK_THEME", "").lower():  # GTK's own override
        return "dark"
    return "light"
