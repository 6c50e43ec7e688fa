"""The Tkinter window of `stylexfer gui` (seed §5): pick a model, a content image and one or more
styles (files, a gallery folder, drag and drop), set alpha, weights, a mask and colour preservation,
stylize in the background with real progress and Cancel, compare before/after, save. A video content
previews as its first frame, stylized by Stylize; Save video… then writes the whole clip in the
background, frame by frame, with the same progress bar and Cancel.

The widgets live in panels (bars, image_panels, styles_panel, controls, menus; dialogs and drops in
opening); this class wires them to `controller.Controller` (the state and the worker thread), whose
events come back through a queue this window drains every POLL_MS with `after()`: it never freezes.

Tests drive it without dialogs (replace `app.opener.ask_*`), through the setters that dialogs, clicks
and drops call: `set_model`, `set_content`, `save` here, `app.mix.set_style` …, `app.gallery.open`.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stylexfer.errors import StylexferError, display_path, one_line

try:
    import tkinter as tk
    from tkinter import ttk

    from PIL import ImageTk  # noqa: F401 (Pillow's Tk half, which the panels use: checked here)
except ImportError as err:  # raised inside `stylexfer gui`, so the CLI prints it as one line
    raise StylexferError(
        f"the GUI needs Tkinter, which this Python lacks ({err}); "
        "install it (Debian/Ubuntu: apt install python3-tk)"
    ) from err

from stylexfer.files.video import output_suffixes
from stylexfer.gui import look
from stylexfer.gui.bars import ModelBar, StatusBar, WarningBar
from stylexfer.gui.controller import Controller
from stylexfer.gui.controls import Controls
from stylexfer.gui.events import Failed, ModelLoaded, Progress, Result, Stopped, Thumbnail, VideoSaved
from stylexfer.gui.image_panels import ImagePanels
from stylexfer.gui.menus import MenuBar
from stylexfer.gui.opening import Opener
from stylexfer.gui.prefs import RecentFiles, system_theme
from stylexfer.gui.previews import content_kind
from stylexfer.gui.styles_panel import Gallery, StyleMix

POLL_MS = 40  # how often the window drains the controller's event queue


class StylexferApp:
    """The main window; `root` is a Tk root it fills. theme: "auto" (follow the system), "dark", "light"."""

    warning_bar: WarningBar  # this and the other panels: built by _build

    def __init__(self, root: tk.Tk, controller: Controller | None = None, *, theme: str = "auto") -> None:
        self.root = root
        self.controller = controller or Controller()
        self.scale = look.apply_scaling(root)
        self.pad = self.px(8)
        self.theme = look.apply_theme(root, system_theme() if theme == "auto" else theme)
        self.palette = look.PALETTES[self.theme]
        self.drops = look.enable_drops(root)
        self.opener = Opener(self)
        root.title("stylexfer: neural style transfer")
        root.protocol("WM_DELETE_WINDOW", self.close)
        self._poll_id: str | None = None
        self._video_target: Path | None = None  # the clip being written, for the status line
        self._build()
        self._style_theme()
        look.initial_size(root, self.px(1180), self.px(860))
        hint = "" if self.drops else " (Drag and drop needs the tkinterdnd2 package: pip install 'stylexfer[gui]'.)"
        self.set_status("Choose a model file, a content image and (for models that take one) a style: Open… buttons, "
                        f"the gallery, or drop files on the panels.{hint}")
        if self.controller.recent.problem:
            self.warning_bar.add(self.controller.recent.problem)
        self._poll_id = root.after(POLL_MS, self._poll)

    def px(self, value: float) -> int:
        """Pixels at this display's DPI for `value` pixels at 96 dpi."""
        return round(value * self.scale)

    def _build(self) -> None:
        """The panels, top to bottom in the grid of `main`, then the shortcuts and drop targets."""
        pad = self.pad
        self.menus = MenuBar(self)
        main = ttk.Frame(self.root, padding=(pad * 2, pad, pad * 2, pad))
        main.pack(fill="both", expand=True)
        main.columnconfigure(0, weight=1)
        self.model_bar = ModelBar(main, pad, self.opener.choose_model)
        self.model_bar.grid(row=0, column=0, sticky="ew", pady=(0, pad))
        self.warning_bar = WarningBar(main, pad)
        self.warning_bar.grid(row=1, column=0, sticky="ew", pady=(0, pad))
        self.warning_bar.grid_remove()
        self.images = ImagePanels(main, self)
        self.images.grid(row=2, column=0, sticky="nsew")
        main.rowconfigure(2, weight=1)
        lower = ttk.Frame(main)
        lower.grid(row=3, column=0, sticky="ew", pady=(pad, 0))
        lower.columnconfigure(0, weight=3)
        lower.columnconfigure(1, weight=2)
        self.gallery = Gallery(lower, self)
        self.gallery.grid(row=0, column=0, sticky="nsew", padx=(pad // 2, pad))
        self.mix = StyleMix(lower, self)
        self.mix.grid(row=0, column=1, sticky="nsew", padx=(0, pad // 2))
        self.controls = Controls(main, self)
        self.controls.grid(row=4, column=0, sticky="ew", pady=(pad, 0))
        self.status = StatusBar(main, 5, pad)  # rows 5 and 6
        self.menus.bind_shortcuts()
        if self.drops:
            self.opener.register_panels({"content": self.images.content, "style": self.images.style,
                                         "result": self.images.result, "gallery": self.gallery, "mask": self.mix})

    def _style_theme(self) -> None:
        look.style_widgets(self.root, self.palette)
        self.warning_bar.restyle(self.palette)
        self.gallery.restyle()
        self.menus.dark_var.set(self.theme == "dark")

    def set_theme(self, mode: str) -> None:
        """Switch between "dark" and "light" (needs sv-ttk; plain ttk stays light)."""
        self.theme = look.apply_theme(self.root, mode)
        self.palette = look.PALETTES[self.theme]
        self._style_theme()
        self.set_status(self.status.var.get())

    # ------------------------------------------------------- setters (dialogs, clicks, drops)
    def set_model(self, path: str | os.PathLike) -> None:
        """Use this model file; it loads in the background (the window stays responsive)."""
        self.controller.set_model(path)
        self.model_bar.label.configure(text=display_path(Path(path).name))
        self.model_bar.details.configure(text="loading…")
        self.warning_bar.clear()
        self.set_status(f"Loading {display_path(Path(path).name)}…")

    def set_content(self, path: str | os.PathLike) -> None:
        self.controller.set_content(path)
        self.images.show_file(self.images.content, Path(path))

    def save(self, path: str | os.PathLike) -> Path | None:
        """Write the result to `path` (format from the suffix); errors go to the status line. For a
        video's result, a video suffix writes the whole clip in the background (returns the name it
        will have; VideoSaved says when it is there); an image suffix writes the stylized first frame."""
        try:
            if self.controller.result_is_video and Path(path).suffix.lower() in output_suffixes():
                target = self._video_target = self.controller.write_video(path, overwrite=True)  # the dialog asked
                self._start_busy()
                self.set_status(f"Writing {display_path(target.name)}… (Esc or Cancel stops it; nothing is left then)")
                return target
            written = self.controller.save(path)
        except StylexferError as err:
            self.set_status(str(err), error=True)
            return None
        self.set_status(f"Saved {display_path(written)}", ok=True)
        return written

    # ----------------------------------------------------------------------------------- actions
    def stylize(self) -> None:
        try:
            self.controller.stylize(alpha=self.controls.alpha, preserve_color=self.controls.preserve_var.get())
        except StylexferError as err:
            self.set_status(str(err), error=True)
            return
        self._start_busy()
        content = self.controller.content_path
        if content is not None and content_kind(content) == "video":
            self.set_status(f"Stylizing the first frame of {display_path(content.name)}… (Esc or Cancel stops it)")
        else:
            self.set_status("Stylizing… (Esc or Cancel stops it)")

    def cancel(self) -> None:
        if self.controller.cancel():
            self.controls.cancel_button.configure(state="disabled")
            self.status.progress_text.configure(text="cancelling…")
            self.set_status("Cancelling after the current step…")

    def set_status(self, text: str, *, error: bool = False, ok: bool = False) -> None:
        self.status.say(text, self.palette["error"] if error else self.palette["ok"] if ok else "")

    def close(self) -> None:
        """Stop polling, cancel and stop the worker, destroy the window (idempotent)."""
        if self._poll_id is not None:
            self.root.after_cancel(self._poll_id)
            self._poll_id = None
        if self.controller.writing_video:  # close() waits for the current frame, then the temporary is gone
            with contextlib.suppress(tk.TclError):
                self.set_status("Stopping the video after the current frame…")
                self.root.update_idletasks()
        self.controller.close()
        with contextlib.suppress(tk.TclError):  # already destroyed
            self.root.destroy()

    def _start_busy(self) -> None:
        self.controls.running(True)
        if self.controller.writing_video:
            self.images.save_button.configure(state="disabled")
        self.root.configure(cursor="watch")
        self.status.show(0.0, 1.0, "starting…")

    def _stop_busy(self) -> None:
        self.controls.running(False)
        self.images.save_button.configure(state="normal" if self.controller.result is not None else "disabled")
        self.root.configure(cursor="")

    # -------------------------------------------------------------------- the controller's events
    def _poll(self) -> None:
        handlers: dict[type, Callable[[Any], None]] = {
            Progress: self._on_progress, Result: self._on_result, VideoSaved: self._on_video_saved,
            ModelLoaded: self._on_model, Failed: self._on_failed, Stopped: self._on_stopped,
            Thumbnail: self.gallery.thumbnail}
        for event in self.controller.poll():
            handlers[type(event)](event)
        self._poll_id = self.root.after(POLL_MS, self._poll)

    def _on_progress(self, event: Progress) -> None:
        status = self.status.step(event, self._video_target.name if self._video_target else None)
        if status:
            self.set_status(status)

    def _on_model(self, event: ModelLoaded) -> None:
        self.model_bar.details.configure(text=event.description)
        for text in event.warnings:
            self.warning_bar.add(text)
        self._takes_style(event.needs_style)
        self.images.redraw_style()
        if event.needs_style:
            hint = "Press Stylize (Ctrl+Enter)." if self.controller.styles else "Choose a style, then Stylize."
            self.set_status(f"Model loaded. {hint}", ok=True)
        else:
            self.set_status("Model loaded (fixed style). Press Stylize (Ctrl+Enter).", ok=True)

    def _on_result(self, event: Result) -> None:
        self._stop_busy()
        self.status.show(1.0, 1.0, f"done in {event.seconds:.1f} s")
        video = self.controller.result_is_video
        self.images.new_result(event, video)
        if video:
            self.set_status(f"Done: the first frame of {display_path(event.content.name)} stylized in "
                            f"{event.seconds:.1f} s. Save video… (Ctrl+S) writes the whole clip with these "
                            "settings.", ok=True)
        else:
            self.set_status(f"Done: {display_path(event.content.name)} stylized in {event.seconds:.1f} s. Drag "
                            "the Before/After slider to compare; Save… (Ctrl+S) writes it to a file.", ok=True)

    def _on_video_saved(self, event: VideoSaved) -> None:
        self._stop_busy()
        self.status.show(event.frames, max(1, event.frames), f"{event.frames} frames in {event.seconds:.1f} s")
        for text in event.warnings:
            self.warning_bar.add(text)
        self.set_status(f"Saved {display_path(event.path)} ({event.frames} frames, {event.seconds:.1f} s)", ok=True)

    def _on_stopped(self, event: Stopped) -> None:
        self._stop_busy()
        self.status.show(0.0, 1.0, "cancelled")
        self.set_status(f"Cancelled after {event.seconds:.1f} s; nothing was written.")

    def _on_failed(self, event: Failed) -> None:
        if event.action == "load":
            self.model_bar.details.configure(text="not loaded")
            self._takes_style(True)
        else:
            self._stop_busy()
            self.status.show(0.0, 1.0, "failed")
        self.set_status(event.message, error=True)

    def _takes_style(self, needs_style: bool) -> None:
        self.images.takes_style(needs_style)
        self.mix.mask_button.configure(state="normal" if needs_style else "disabled")


def main(*, model: str | os.PathLike | None = None, content: str | os.PathLike | None = None,
         style: str | os.PathLike | None = None, device: str = "auto", theme: str = "auto",
         precision: str | None = None) -> int:
    """Open the window (optionally with files chosen) and run until it is closed; `stylexfer gui`."""
    look.windows_dpi_awareness()
    try:
        root = tk.Tk()
    except tk.TclError as err:
        raise StylexferError(
            f"cannot open a window ({one_line(err)}); the GUI needs a desktop session "
            "with DISPLAY set (for a headless test: xvfb-run stylexfer gui)"
        ) from err
    app = StylexferApp(root, Controller(device=device, precision=precision, recent=RecentFiles.default()), theme=theme)
    if model is not None:
        app.set_model(model)
    if content is not None:
        app.set_content(content)
    if style is not None:
        app.mix.set_style(style)
    root.mainloop()
    # The closed window is cyclic garbage: free it here, on Tk's thread. If the cyclic GC ran it on the
    # still-busy worker thread, Tcl would abort the process (Tcl_AsyncDelete from the wrong thread).
    del app, root
    gc.collect()
    return 0
