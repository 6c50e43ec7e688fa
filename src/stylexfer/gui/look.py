"""The window's look (theme, colours, sizes at the display's DPI) and the optional packages of the `gui`
extra, which make it nicer and are never required: sv-ttk (the Sun Valley theme, light and dark),
tkinterdnd2 (drop files on the panels). Without them: Tk's "clam" theme and the Open… dialogs."""

from __future__ import annotations

import contextlib
import importlib
import sys
import tkinter as tk
from tkinter import ttk
from typing import Any

PALETTES: dict[str, dict[str, str]] = {  # status and warning colours readable on each theme
    "light": {"error": "#b00020", "ok": "#1b5e20", "warn_bg": "#fff4ce", "warn_fg": "#5c4400",
              "muted": "#6b6b6b"},
    "dark": {"error": "#ff8a80", "ok": "#8fd694", "warn_bg": "#433519", "warn_fg": "#ffe08a",
             "muted": "#a0a0a0"},
}


def _optional(name: str) -> Any:
    """An optional package (the `gui` extra), or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


sv_ttk = _optional("sv_ttk")  # the Sun Valley ttk theme
tkdnd = _optional("tkinterdnd2")  # native drag and drop (tkdnd)


def apply_scaling(root: tk.Misc) -> float:
    """Tk's scaling from the display's real DPI (points follow it) and the factor for pixel sizes
    (previews, paddings) relative to 96 dpi, at least 1."""
    dpi = float(root.winfo_fpixels("1i"))
    if dpi > 0:
        root.tk.call("tk", "scaling", dpi / 72.0)
    return max(1.0, min(4.0, dpi / 96.0))


def apply_theme(root: tk.Tk, mode: str) -> str:
    """Use the Sun Valley theme in `mode` ("dark"/"light") when sv-ttk is installed; else "clam" (light
    only). Returns the mode in effect."""
    style = ttk.Style(root)
    if sv_ttk is not None:
        try:
            sv_ttk.set_theme(mode, root)
            return mode
        except (tk.TclError, RuntimeError, TypeError):
            pass
    if "clam" in style.theme_names():  # crisper than X11's "default", present in every Tk 8.5+
        style.theme_use("clam")
    return "light"


def initial_size(root: tk.Tk, width: int, height: int) -> None:
    """At least what the widgets ask for, width×height where the screen has room."""
    root.update_idletasks()
    root.minsize(min(root.winfo_reqwidth(), root.winfo_screenwidth()),
                 min(root.winfo_reqheight(), root.winfo_screenheight()))
    width = min(width, root.winfo_screenwidth() - 40)
    height = min(height, root.winfo_screenheight() - 80)
    root.geometry(f"{max(width, root.winfo_reqwidth())}x{max(height, root.winfo_reqheight())}")


def style_widgets(root: tk.Misc, palette: dict[str, str]) -> None:
    """The ttk styles the window's own widgets use, in the theme's palette."""
    style = ttk.Style(root)
    style.configure("Muted.TLabel", foreground=palette["muted"])
    if sv_ttk is None:
        style.configure("Horizontal.TProgressbar", background="#3b7dd8")  # clam draws it trough-grey


def background(widget: tk.Misc) -> str:
    """The theme's frame background (canvases and composed pictures take it)."""
    root = widget.winfo_toplevel()
    return ttk.Style(root).lookup("TFrame", "background") or root.cget("background")


def enable_drops(root: tk.Misc) -> bool:
    """Load tkdnd into this Tk (tkinterdnd2); False when the package or its library is missing."""
    if tkdnd is None:
        return False
    try:
        tkdnd.TkinterDnD.require(root)
    except (RuntimeError, tk.TclError):
        return False
    return True


def descendants(widget: tk.Misc) -> list[tk.Misc]:
    """All widgets below `widget`, depth first."""
    found: list[tk.Misc] = []
    for child in widget.winfo_children():
        found += [child, *descendants(child)]
    return found


def windows_dpi_awareness() -> None:
    """Without it Windows bitmap-stretches the window on HiDPI screens (blurry text)."""
    if sys.platform == "win32":
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.windll.shcore.SetProcessDpiAwareness(1)  # type: ignore[attr-defined]
