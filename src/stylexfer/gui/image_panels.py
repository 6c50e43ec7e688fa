"""The three pictures of the window: content, style (or the styles of a mix side by side) and result
with its before/after slider, each a titled preview that grows with the window."""

from __future__ import annotations

import contextlib
import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import ttk
from typing import Any

from PIL import Image, ImageTk

from stylexfer.errors import StylexferError, display_path
from stylexfer.gui import look
from stylexfer.gui.events import Result
from stylexfer.gui.previews import compare, content_kind, fit
from stylexfer.gui.window import Window

PREVIEW_MIN = 200  # smallest preview side at 96 dpi; previews grow with the window
RESIZE_MS = 60  # previews are re-fitted this long after the last resize event
STYLE_PLACEHOLDER = "drop a style image here\nor pick one in the gallery"


class ImagePanel(ttk.LabelFrame):
    """A titled preview that grows with the window, a caption and a row of buttons.

    render(width, height) gives the picture for the box's current size (or None); it is called again,
    debounced, whenever the box is resized, and by refresh()."""

    def __init__(self, master: tk.Misc, title: str, min_px: int, pad: int, placeholder: str,
                 render: Callable[[int, int], Image.Image | None]) -> None:
        super().__init__(master, text=title, padding=pad)
        self.box = ttk.Frame(self, width=min_px, height=min_px)
        self.box.grid(row=0, column=0, sticky="nsew")
        self.box.grid_propagate(False)  # the picture never pushes the layout around
        self.box.columnconfigure(0, weight=1)
        self.box.rowconfigure(0, weight=1)
        self.image_label = ttk.Label(self.box, text="no image", anchor="center", justify="center")
        self.image_label.grid(row=0, column=0, sticky="nsew")
        self.caption = ttk.Label(self, text=" ", anchor="center")
        self.caption.grid(row=1, column=0, sticky="ew", pady=(pad, 2))
        self.buttons = ttk.Frame(self)
        self.buttons.grid(row=2, column=0)
        self.columnconfigure(0, weight=1)
        self.rowconfigure(0, weight=1)
        self.photo: ImageTk.PhotoImage | None = None  # Tk keeps no reference of its own
        self.shown: Image.Image | None = None  # the picture behind `photo`
        self.render = render
        self.placeholder = placeholder  # shown while render gives None
        self._after: str | None = None
        self._shown_for: tuple[int, int] | None = None
        self.box.bind("<Configure>", self._resized)

    def area(self) -> tuple[int, int]:
        return max(16, self.box.winfo_width() - 4), max(16, self.box.winfo_height() - 4)

    def refresh(self) -> None:
        if self._after is not None:
            with contextlib.suppress(tk.TclError):
                self.after_cancel(self._after)
            self._after = None
        width, height = self.area()
        image = self.shown = self.render(width, height)
        self._shown_for = (width, height)
        if image is None:
            self.photo = None
            self.image_label.configure(image="", text=self.placeholder)
        else:
            self.photo = ImageTk.PhotoImage(image)
            self.image_label.configure(image=self.photo, text="")

    def _resized(self, _event: Any) -> None:
        if self._shown_for == self.area():
            return
        if self._after is not None:
            self.after_cancel(self._after)
        self._after = self.after(RESIZE_MS, self.refresh)


class ImagePanels(ttk.Frame):
    """Content, Style and Result side by side, with their buttons and the before/after slider."""

    def __init__(self, master: tk.Misc, app: Window) -> None:
        super().__init__(master)
        self.app, self.controller = app, app.controller
        pad, size = app.pad, app.px(PREVIEW_MIN)
        self.content = ImagePanel(self, "Content", size, pad, "drop a photo or video here\nor Content… (Ctrl+O)",
                                  lambda width, height: self._render_file(self.controller.content_path, width, height))
        self.style = ImagePanel(self, "Style", size, pad, STYLE_PLACEHOLDER, self._render_style)
        self.result = ImagePanel(self, "Result", size, pad, "Stylize (Ctrl+Enter)", self._render_result)
        for column, panel in enumerate((self.content, self.style, self.result)):
            panel.grid(row=0, column=column, padx=pad // 2, sticky="nsew")
            self.columnconfigure(column, weight=1, uniform="panels")
        self.rowconfigure(0, weight=1)
        self._fitted: tuple[tuple[int, int, int], Image.Image, Image.Image | None] | None = None
        self._result_serial = 0  # counts results, for the fitted copies above
        self.needs_style = True  # False: the model's style is built in, the style side shows nothing

        opener = app.opener
        self.content_button = ttk.Button(self.content.buttons, text="Content…", command=opener.choose_content)
        self.content_button.pack(side="left")
        self.style_button = ttk.Button(self.style.buttons, text="Style…", command=opener.choose_style)
        self.style_button.pack(side="left", padx=(0, pad // 2))
        self.folder_button = ttk.Button(self.style.buttons, text="Folder…", command=opener.choose_gallery)
        self.folder_button.pack(side="left")
        self.compare_var = tk.DoubleVar(value=0.0)
        ttk.Label(self.result.buttons, text="Before").pack(side="left")
        self.compare_scale = ttk.Scale(self.result.buttons, from_=0.0, to=1.0, orient="horizontal",
                                       length=app.px(120), variable=self.compare_var,
                                       command=lambda _v: self.result.refresh())
        self.compare_scale.pack(side="left", padx=pad // 2)
        ttk.Label(self.result.buttons, text="After").pack(side="left", padx=(0, pad))
        self.save_button = ttk.Button(self.result.buttons, text="Save…", command=opener.choose_save, state="disabled")
        self.save_button.pack(side="left")
        # Dragging across the result moves the before/after divider too.
        for sequence in ("<Button-1>", "<B1-Motion>"):
            self.result.image_label.bind(sequence, self._compare_drag)

    # ------------------------------------------------------------------------- what they show
    def show_file(self, panel: ImagePanel, path: Path) -> None:
        """`path` was chosen for `panel`: its preview, a caption with its size, a status line."""
        app = self.app
        try:
            _, (width, height) = self.controller.thumbnails.source(path)
        except StylexferError as err:
            panel.caption.configure(text=f"{display_path(path.name)}  (unreadable)")
            panel.refresh()
            app.set_status(str(err), error=True)
            return
        panel.refresh()
        if panel is self.style:
            self.caption_style()
        elif panel is self.content and content_kind(path) == "video":
            panel.caption.configure(text=f"{display_path(path.name)}  ({self._clip_facts(path, width, height)})")
            app.set_status(f"{display_path(path.name)} ready: Stylize shows its first frame stylized, then "
                           "Save video… (Ctrl+S) writes the whole clip.")
            return
        else:
            panel.caption.configure(text=f"{display_path(path.name)}  ({width}×{height})")
        app.set_status(f"{display_path(path.name)} ready.")

    def show_style(self, path: Path | None) -> None:
        """The style (or the first of a mix) just chosen; None: no style."""
        if path is not None:
            self.show_file(self.style, path)
        else:
            self.style.caption.configure(text=" ")
            self.style.refresh()

    def redraw_style(self) -> None:
        """The style picture and caption again, for the styles in use now."""
        self.style.refresh()
        self.caption_style()

    def caption_style(self) -> None:
        styles = self.controller.styles
        if not self.needs_style:
            text = "not used: this model's style is built in"
        elif not styles:
            text = "choose a style image"
        elif len(styles) == 1:
            try:
                width, height = self.controller.thumbnails.source(styles[0])[1]
                text = f"{display_path(styles[0].name)}  ({width}×{height})"
            except StylexferError:
                text = f"{display_path(styles[0].name)}  (unreadable)"
        else:
            text = f"a mix of {len(styles)} styles"
        self.style.caption.configure(text=text)

    def takes_style(self, needs_style: bool) -> None:
        """A model that takes a style, or one whose style is built in (the style picker is off)."""
        self.needs_style = needs_style
        for widget in (self.style_button, self.folder_button):
            widget.configure(state="normal" if needs_style else "disabled")
        self.style.placeholder = STYLE_PLACEHOLDER if needs_style else "not used:\nthis model's style is built in"

    def new_result(self, event: Result, video: bool) -> None:
        self._result_serial += 1
        self.result.refresh()
        width, height = event.image.size
        first = " (first frame)" if video else ""
        self.result.caption.configure(text=f"{width}×{height}{first}, {event.seconds:.1f} s")
        self.save_button.configure(state="normal", text="Save video…" if video else "Save…")

    def _clip_facts(self, path: Path, width: int, height: int) -> str:
        """32×24, 12 fps, 6 frames (0.5 s): what the clip declares (a count it lacks is left out)."""
        try:
            info = self.controller.video_info(path)
        except StylexferError:  # the preview decoded, so this is a race with the file changing
            return f"{width}×{height}, video"
        facts = f"{info.width}×{info.height}, {float(info.rate):.4g} fps"
        if info.expected_frames:
            facts += f", {info.expected_frames} frames ({info.expected_frames / float(info.rate):.1f} s)"
        return facts

    # ------------------------------------------------------------------------------- rendering
    def _render_file(self, path: Path | None, width: int, height: int) -> Image.Image | None:
        if path is None:
            return None
        try:
            return self.controller.thumbnails.get(path, width, height)[0]
        except StylexferError:
            return None

    def _render_style(self, width: int, height: int) -> Image.Image | None:
        if not self.needs_style:
            return None
        styles = self.controller.styles
        if len(styles) <= 1:
            return self._render_file(styles[0] if styles else None, width, height)
        # A mix: the styles side by side in the box.
        tiles = [img for img in (self._render_file(s, width // len(styles), height) for s in styles) if img]
        if not tiles:
            return None
        r, g, b = (c // 257 for c in self.winfo_rgb(look.background(self)))
        sheet = Image.new("RGB", (sum(t.width for t in tiles) + 2 * (len(tiles) - 1), max(t.height for t in tiles)),
                          (r, g, b))
        x = 0
        for tile in tiles:
            sheet.paste(tile, (x, (sheet.height - tile.height) // 2))
            x += tile.width + 2
        return sheet

    def _render_result(self, width: int, height: int) -> Image.Image | None:
        result, before = self.controller.result, self.controller.before
        if result is None:
            return None
        key = (self._result_serial, width, height)  # not id(result): a freed image's id comes back
        if self._fitted is None or self._fitted[0] != key:  # moving the wipe must not re-scale a 12 MP image
            shown = fit(result, width, height)
            small_before = before.convert("RGB").resize(shown.size, Image.Resampling.LANCZOS) if before else None
            self._fitted = (key, shown, small_before)
        _, shown, small_before = self._fitted
        split = float(self.compare_var.get())
        if small_before is None or split <= 0:
            return shown
        return compare(small_before, shown, split)

    def _compare_drag(self, event: Any) -> None:
        if self.controller.result is None or self.result.photo is None:
            return
        label, photo = self.result.image_label, self.result.photo
        left = (label.winfo_width() - photo.width()) / 2
        self.compare_var.set(max(0.0, min(1.0, (event.x - left) / max(1, photo.width()))))
        self.result.refresh()
