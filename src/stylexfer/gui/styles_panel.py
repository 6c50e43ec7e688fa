"""The style side under the pictures: the gallery of a style folder (thumbnails made in the background)
and the mix, one weight slider per chosen style, with the mask. Their setters are what the dialogs,
clicks and drops call to change the styles in use."""

from __future__ import annotations

import os
import tkinter as tk
from functools import partial
from pathlib import Path
from tkinter import ttk
from typing import Any

from PIL import ImageTk

from stylexfer.errors import StylexferError, display_path
from stylexfer.gui import look
from stylexfer.gui.events import Thumbnail
from stylexfer.gui.window import Window

THUMB_PX = 76  # gallery thumbnails at 96 dpi
WHEEL = ("<MouseWheel>", "<Shift-MouseWheel>", "<Button-4>", "<Button-5>")


class Gallery(ttk.LabelFrame):
    """A scrolling strip of thumbnail buttons: click uses a style, Ctrl+click (or Shift) adds it to the mix."""

    def __init__(self, master: tk.Misc, app: Window) -> None:
        pad = app.pad
        super().__init__(master, text="Style gallery", padding=pad)
        self.app = app
        self.columnconfigure(0, weight=1)
        head = ttk.Frame(self)
        head.grid(row=0, column=0, sticky="ew")
        self.label = ttk.Label(head, text="Folder… picks a folder of style images; "
                               "click a thumbnail to use it, Ctrl+click to add it to the mix", style="Muted.TLabel")
        self.label.pack(side="left")
        self.thumb = app.px(THUMB_PX)
        self.canvas = tk.Canvas(self, height=self.thumb + app.px(14), highlightthickness=0, borderwidth=0)
        self.canvas.grid(row=1, column=0, sticky="ew", pady=(pad // 2, 0))
        self.scroll = ttk.Scrollbar(self, orient="horizontal", command=self.canvas.xview)
        self.scroll.grid(row=2, column=0, sticky="ew")
        self.canvas.configure(xscrollcommand=self.scroll.set)
        self.strip = ttk.Frame(self.canvas)
        self.canvas.create_window(0, 0, window=self.strip, anchor="nw")
        self.strip.bind("<Configure>", lambda _e: self.canvas.configure(scrollregion=self.canvas.bbox("all")))
        self.buttons: dict[Path, ttk.Button] = {}
        self.photos: dict[Path, ImageTk.PhotoImage] = {}

    def open(self, folder: str | os.PathLike) -> None:
        """Show the style images of `folder`: one button each, captions now, thumbnails as the
        controller's Thumbnail events come (made in the background)."""
        app = self.app
        try:
            paths = app.controller.open_gallery(folder, self.thumb)
        except StylexferError as err:
            app.set_status(str(err), error=True)
            return
        for button in self.buttons.values():
            button.destroy()
        self.buttons.clear()
        self.photos.clear()
        for column, path in enumerate(paths):
            button = ttk.Button(self.strip, text=path.stem[:12], compound="top",
                                command=partial(self.click, path))
            for sequence in ("<Control-Button-1>", "<Shift-Button-1>"):
                button.bind(sequence, partial(self._add, path))
            button.grid(row=0, column=column, padx=(0, app.pad // 2))
            if app.drops:
                app.opener.register(button, "gallery")
            self.buttons[path] = button
        for widget in (self.canvas, self.strip, *self.buttons.values()):  # the wheel scrolls the strip sideways
            for sequence in WHEEL:
                widget.bind(sequence, self._wheel)
        self.canvas.xview_moveto(0)
        app.root.update_idletasks()  # thumbnails come later: room for an image and a caption now
        caption = max((b.winfo_reqheight() for b in self.buttons.values()), default=0)
        self.canvas.configure(height=self.thumb + caption + app.pad)
        self.configure(text=f"Style gallery: {display_path(Path(folder).name)} ({len(paths)})")
        self.label.configure(text="click: use this style · Ctrl+click: add it to the mix")
        self.mark()
        app.set_status(f"{len(paths)} style images in {display_path(folder)}; click one to use it.")

    def click(self, path: Path, *, add: bool = False) -> None:
        """A thumbnail: use this style (add: add it to the mix)."""
        if add:
            self.app.mix.add_style(path)
        else:
            self.app.mix.set_style(path)

    def mark(self) -> None:
        """A tick on the styles in use."""
        chosen = set(self.app.controller.styles)
        for path, button in self.buttons.items():
            if button.instate(["!disabled"]):  # an unreadable file keeps saying so
                button.configure(text=("✓ " if path in chosen else "") + path.stem[:12])

    def thumbnail(self, event: Thumbnail) -> None:
        button = self.buttons.get(event.path)
        if button is None:
            return
        if event.image is None:
            button.configure(text=f"{event.path.stem[:10]} (unreadable)", state="disabled")
            return
        photo = ImageTk.PhotoImage(event.image)
        self.photos[event.path] = photo
        button.configure(image=photo)

    def restyle(self) -> None:
        self.canvas.configure(background=look.background(self))

    def _add(self, path: Path, _event: Any) -> str:
        self.click(path, add=True)
        return "break"

    def _wheel(self, event: Any) -> None:
        step = -1 if getattr(event, "num", 0) == 4 or getattr(event, "delta", 0) > 0 else 1
        self.canvas.xview_scroll(step * 3, "units")


class StyleMix(ttk.LabelFrame):
    """One row per chosen style (name, weight slider and read-out, remove) and the mask row."""

    def __init__(self, master: tk.Misc, app: Window) -> None:
        pad = app.pad
        super().__init__(master, text="Styles and mask", padding=pad)
        self.app = app
        self.columnconfigure(0, weight=1)
        self.rows = ttk.Frame(self)
        self.rows.grid(row=0, column=0, sticky="ew")
        self.rows.columnconfigure(1, weight=1)
        mask = ttk.Frame(self)
        mask.grid(row=1, column=0, sticky="ew", pady=(pad // 2, 0))
        ttk.Label(mask, text="Mask:").pack(side="left")
        self.mask_label = ttk.Label(mask, text="none", style="Muted.TLabel")
        self.mask_label.pack(side="left", padx=pad // 2)
        self.mask_clear = ttk.Button(mask, text="Clear", command=lambda: self.set_mask(None), state="disabled")
        self.mask_clear.pack(side="right")
        self.mask_button = ttk.Button(mask, text="Mask…", command=app.opener.choose_mask)
        self.mask_button.pack(side="right", padx=pad // 2)
        self.scales: list[ttk.Scale] = []
        self.texts: list[ttk.Label] = []
        self.rebuild()

    def rebuild(self) -> None:
        """The rows for the controller's styles; sliders off for one style or with a mask."""
        app = self.app
        for child in self.rows.winfo_children():
            child.destroy()
        self.scales, self.texts = [], []
        styles, weights = app.controller.styles, app.controller.style_weights
        masked = app.controller.mask_path is not None
        if not styles:
            ttk.Label(self.rows, text="no style yet", style="Muted.TLabel").grid(row=0, column=0, sticky="w")
        for row, (path, weight) in enumerate(zip(styles, weights, strict=True)):
            ttk.Label(self.rows, text=display_path(path.stem)[:18], width=14).grid(row=row, column=0, sticky="w")
            var = tk.DoubleVar(value=weight)
            scale = ttk.Scale(self.rows, from_=0.0, to=1.0, orient="horizontal", variable=var,
                              command=partial(self._weight_moved, row))
            scale.grid(row=row, column=1, sticky="ew", padx=app.pad // 2)
            text = ttk.Label(self.rows, text=f"{weight:.2f}", width=5)
            text.grid(row=row, column=2)
            remove = ttk.Button(self.rows, text="✕", width=3, command=partial(self.remove_style, row))
            remove.grid(row=row, column=3, padx=(app.pad // 2, 0))
            if masked or len(styles) < 2:  # one style: its weight means nothing; a mask decides regions
                scale.state(["disabled"])
            self.scales.append(scale)
            self.texts.append(text)
            if app.drops:
                for widget in (scale, text, remove):
                    app.opener.register(widget, "mask")

    # ------------------------------------------------------------ setters: the styles in use, the mask
    def set_style(self, path: str | os.PathLike | None) -> None:
        """Use this one style (replacing a mix); None: no style."""
        self.app.controller.set_style(path)
        self._changed()
        self.app.images.show_style(Path(path) if path is not None else None)

    def add_style(self, path: str | os.PathLike) -> None:
        """Add a style to the mix (its weight starts at 1)."""
        self.app.controller.add_style(path)
        self._changed()
        self.app.images.show_style(Path(path))

    def remove_style(self, index: int) -> None:
        self.app.controller.remove_style(index)
        self._changed()
        self.app.images.redraw_style()

    def set_mask(self, path: str | os.PathLike | None) -> None:
        self.app.controller.set_mask(path)
        self.mask_label.configure(text=display_path(Path(path).name) if path is not None else "none")
        self.mask_clear.configure(state="normal" if path is not None else "disabled")
        self.rebuild()
        if path is not None:
            self.app.set_status("Mask set: its brightest grey level takes the first style, the next one the "
                                "second, …; the weights are not used with a mask.")

    def _changed(self) -> None:
        self.rebuild()
        self.app.gallery.mark()

    def _weight_moved(self, index: int, value: str) -> None:
        weight = round(float(value), 2)
        self.app.controller.set_style_weight(index, weight)
        self.texts[index].configure(text=f"{weight:.2f}")
