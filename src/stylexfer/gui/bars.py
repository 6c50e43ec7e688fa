"""The window's bars: the model bar (top), the warning bar below it (hidden when empty) and the status
bar (progress and the status line, bottom)."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from stylexfer.errors import display_path
from stylexfer.gui.events import Progress


class ModelBar(ttk.Frame):
    """The model button, its file name and what the file holds."""

    def __init__(self, master: tk.Misc, pad: int, choose: Callable[[], None]) -> None:
        super().__init__(master)
        self.button = ttk.Button(self, text="Model…", command=choose)
        self.button.grid(row=0, column=0, rowspan=2, padx=(0, pad))
        self.label = ttk.Label(self, text="no model chosen (.safetensors, .ckpt or .pth)", font="TkHeadingFont")
        self.label.grid(row=0, column=1, sticky="w")
        self.details = ttk.Label(self, text=" ", style="Muted.TLabel")
        self.details.grid(row=1, column=1, sticky="w")
        self.columnconfigure(1, weight=1)


class WarningBar(tk.Label):
    """The model's and the run's warnings, one line each (hidden when there are none).

    A classic label: every ttk theme draws its own label background, this bar must stand out."""

    def __init__(self, master: tk.Misc, pad: int) -> None:
        super().__init__(master, text="", anchor="w", justify="left", padx=pad, pady=pad // 2, borderwidth=0)
        self.texts: list[str] = []
        self.bind("<Configure>", lambda e: e.widget.configure(wraplength=max(200, e.width - 20)))

    def add(self, text: str) -> None:
        if text not in self.texts:
            self.texts.append(text)
        self.configure(text="\n".join(f"⚠  {w}" for w in self.texts))
        self.grid()

    def clear(self) -> None:
        self.texts.clear()
        self.configure(text="")
        self.grid_remove()

    def restyle(self, palette: dict[str, str]) -> None:
        self.configure(background=palette["warn_bg"], foreground=palette["warn_fg"], font="TkDefaultFont")


class StatusBar(ttk.Frame):
    """The progress bar and its text; the status line is the next row of the master's grid, so that
    long messages (paths) wrap at the window's width instead of widening it."""

    def __init__(self, master: tk.Misc, row: int, pad: int) -> None:
        super().__init__(master)
        self.grid(row=row, column=0, sticky="ew", pady=(pad, pad // 2))
        self.columnconfigure(0, weight=1)
        self.progress = ttk.Progressbar(self, orient="horizontal", mode="determinate", maximum=1.0)
        self.progress.grid(row=0, column=0, sticky="ew")
        self.progress_text = ttk.Label(self, text="", width=24, anchor="e", style="Muted.TLabel")
        self.progress_text.grid(row=0, column=1, padx=(pad, 0))
        self.var = tk.StringVar()
        self.label = ttk.Label(master, textvariable=self.var, anchor="w")
        self.label.grid(row=row + 1, column=0, sticky="ew")
        self.label.bind("<Configure>", lambda e: e.widget.configure(wraplength=max(200, e.width)))

    def say(self, text: str, colour: str = "") -> None:
        self.var.set(text)
        self.label.configure(foreground=colour)

    def show(self, done: float, total: float, text: str) -> None:
        """A determinate bar at done/total and its text."""
        self.progress.configure(mode="determinate", maximum=total, value=done)
        self.progress_text.configure(text=text)

    def step(self, event: Progress, clip_name: str | None) -> str | None:
        """Show a worker's Progress; for a clip being written, also the status line it calls for."""
        if event.stage == "frames" and not event.total:  # a clip that does not say how long it is
            self.progress.configure(mode="indeterminate")
            self.progress.step()
        else:
            self.progress.configure(mode="determinate", maximum=max(1, event.total),
                                    value=min(event.done, max(1, event.total)))
        status = None
        if event.stage == "frames":
            text = f"frame {event.done} of {event.total}" if event.total else f"frame {event.done}"
            status = (f"Writing {display_path(clip_name or 'the video')}: {text}… "
                      "(Esc or Cancel stops it)")
        elif event.stage == "styles":
            text = f"style {event.done} of {event.total} encoded"
        elif event.stage == "tiles":
            text = f"tile {event.done} of {event.total}" if event.done else "stylizing in tiles…"
        else:
            text = "one pass done" if event.done else "stylizing (one pass)…"
        self.progress_text.configure(text=text)
        return status
