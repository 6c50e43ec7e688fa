"""The window's menu bar (File with its recent files, View) and the keyboard shortcuts it shows."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from stylexfer.errors import display_path
from stylexfer.gui import look
from stylexfer.gui.window import Window

RECENT_MENUS = (("content", "Recent contents"), ("model", "Recent models"), ("style", "Recent styles"),
                ("gallery", "Recent style folders"))


class MenuBar(tk.Menu):
    """File (open, recent files, save, quit) and View (dark theme); `recent[kind]` is filled when it opens."""

    def __init__(self, app: Window) -> None:
        super().__init__(app.root)
        self.app = app
        opener = app.opener
        file = tk.Menu(self, tearoff=False)
        file.add_command(label="Open content…", accelerator="Ctrl+O", command=opener.choose_content)
        file.add_command(label="Open model…", accelerator="Ctrl+M", command=opener.choose_model)
        file.add_command(label="Open style…", command=opener.choose_style)
        file.add_command(label="Open style folder…", accelerator="Ctrl+G", command=opener.choose_gallery)
        file.add_command(label="Open mask…", command=opener.choose_mask)
        file.add_separator()
        self.recent: dict[str, tk.Menu] = {}
        for kind, label in RECENT_MENUS:
            menu = tk.Menu(file, tearoff=False, postcommand=partial(self.fill_recent, kind))
            self.recent[kind] = menu
            file.add_cascade(label=label, menu=menu)
        file.add_separator()
        file.add_command(label="Save result…", accelerator="Ctrl+S", command=opener.choose_save)
        file.add_separator()
        file.add_command(label="Quit", accelerator="Ctrl+Q", command=app.close)
        self.add_cascade(label="File", menu=file)
        view = tk.Menu(self, tearoff=False)
        self.dark_var = tk.BooleanVar(value=False)
        view.add_checkbutton(label="Dark theme", variable=self.dark_var,
                             command=lambda: app.set_theme("dark" if self.dark_var.get() else "light"),
                             state="normal" if look.sv_ttk is not None else "disabled")
        self.add_cascade(label="View", menu=view)
        app.root.configure(menu=self)

    def fill_recent(self, kind: str) -> None:
        menu = self.recent[kind]
        menu.delete(0, "end")
        entries = self.app.controller.recent.get(kind)
        app = self.app
        action: Callable[[Path], None] = {"content": app.set_content, "model": app.set_model,
                                          "style": app.mix.set_style, "gallery": app.gallery.open}[kind]
        for path in entries:
            menu.add_command(label=display_path(path), command=partial(action, path))
        if not entries:
            menu.add_command(label="(none yet)", state="disabled")

    def bind_shortcuts(self) -> None:
        """The keys the menus name, and Stylize, Cancel, on the whole window."""
        app, opener = self.app, self.app.opener
        bindings: dict[str, Callable[[], object]] = {
            "<Control-o>": opener.choose_content, "<Control-s>": opener.choose_save,
            "<Control-Return>": app.stylize, "<Control-KP_Enter>": app.stylize,
            "<Control-m>": opener.choose_model, "<Control-g>": opener.choose_gallery,
            "<Escape>": app.cancel, "<Control-q>": app.close,
        }
        for sequence, action in bindings.items():
            app.root.bind(sequence, partial(_shortcut, action))
            key = sequence.rstrip(">").rsplit("-", 1)[-1]
            if len(key) == 1:  # a letter: Caps Lock sends the capital one
                app.root.bind(sequence.replace(f"-{key}>", f"-{key.upper()}>"), partial(_shortcut, action))


def _shortcut(action: Callable[[], object], _event: Any) -> str:
    action()
    return "break"  # the focused widget's own binding (if any) does not run too
