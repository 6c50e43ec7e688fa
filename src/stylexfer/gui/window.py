"""The main window as its panels see it: what a panel may call on app.StylexferApp. A Protocol, so that
the panel modules need not import app.py (the import contract forbids cycles between gui's modules,
type-only imports included). The sibling panels (opener, images, mix, gallery) are typed loosely here
for the same reason: their modules import this one."""

from __future__ import annotations

import os
import tkinter as tk
from pathlib import Path
from typing import Any, Protocol

from stylexfer.gui.controller import Controller


class Window(Protocol):
    """app.StylexferApp."""

    root: tk.Tk
    controller: Controller
    pad: int
    drops: bool
    opener: Any  # opening.Opener
    images: Any  # image_panels.ImagePanels
    mix: Any  # styles_panel.StyleMix
    gallery: Any  # styles_panel.Gallery

    def px(self, value: float) -> int: ...
    def set_status(self, text: str, *, error: bool = False, ok: bool = False) -> None: ...
    def set_model(self, path: str | os.PathLike) -> None: ...
    def set_content(self, path: str | os.PathLike) -> None: ...
    def save(self, path: str | os.PathLike) -> Path | None: ...
    def stylize(self) -> None: ...
    def cancel(self) -> None: ...
    def close(self) -> None: ...
    def set_theme(self, mode: str) -> None: ...
