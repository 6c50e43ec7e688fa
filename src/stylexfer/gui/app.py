"""The Tkinter window of `stylexfer gui` (seed §5): pick a model, a content and a style image, set
alpha and colour preservation, stylize in the background, look at the result and save it.

Only widgets live here; the state and the worker thread are in `controller.Controller`, whose events
come back through a queue this window drains every POLL_MS with `after()`, so it never freezes.
The Browse buttons open a dialog and then call `set_model` / `set_content` / `set_style`; Save calls
`save(path)`: tests call those methods directly instead of clicking through dialogs.
"""

from __future__ import annotations

import contextlib
import gc
import os
from pathlib import Path

from stylexfer.errors import StylexferError

try:
    import tkinter as tk
    from tkinter import filedialog, ttk

    from PIL import Image, ImageTk
except ImportError as err:  # raised inside `stylexfer gui`, so the CLI prints it as one line
    raise StylexferError(
        f"the GUI needs Tkinter, which this Python lacks ({err}); "
        "install it (Debian/Ubuntu: apt install python3-tk)"
    ) from err

from stylexfer.files.images import IMAGE_SUFFIXES
from stylexfer.gui.controller import Controller, Failed, ModelLoaded, Progress, Result

PREVIEW_PX = 240  # thumbnails fit a PREVIEW_PX square
POLL_MS = 40  # how often the window drains the controller's event queue
ERROR_COLOUR, OK_COLOUR, BAR_COLOUR = "#b00020", "#1b5e20", "#3b7dd8"

IMAGE_TYPES = [("Images", " ".join(f"*{s}" for s in IMAGE_SUFFIXES)), ("All files", "*")]
MODEL_TYPES = [("Model files", "*.safetensors *.ckpt *.pth *.pt"), ("All files", "*")]
SAVE_TYPES = [("PNG", "*.png"), ("JPEG", "*.jpg *.jpeg"), ("WebP", "*.webp"), ("TIFF", "*.tif *.tiff"),
              ("BMP", "*.bmp")]


class _ImagePanel(ttk.LabelFrame):
    """A titled, fixed-size thumbnail with a caption under it and a button row."""

    def __init__(self, master: tk.Misc, title: str) -> None:
        super().__init__(master, text=title, padding=6)
        box = ttk.Frame(self, width=PREVIEW_PX + 8, height=PREVIEW_PX + 8, relief="sunken", borderwidth=1)
        box.pack_propagate(False)  # keep the square whatever the thumbnail's size
        box.pack()
        self.image_label = ttk.Label(box, text="no image", anchor="center", foreground="grey")
        self.image_label.pack(expand=True, fill="both")
        self.caption = ttk.Label(self, text=" ", width=34, anchor="center")
        self.caption.pack(pady=(4, 2))
        self.buttons = ttk.Frame(self)
        self.buttons.pack()
        self.photo: ImageTk.PhotoImage | None = None  # Tk keeps no reference of its own

    def show(self, image: Image.Image | None, caption: str) -> None:
        self.photo = ImageTk.PhotoImage(image) if image is not None else None
        if self.photo is None:
            self.image_label.configure(image="", text="no image")
        else:
            self.image_label.configure(image=self.photo, text="")
        self.caption.configure(text=caption)


class StylexferApp:
    """The main window; `root` is a Tk root (or Toplevel) it fills."""

    def __init__(self, root: tk.Tk, controller: Controller | None = None) -> None:
        self.root = root
        self.controller = controller or Controller()
        root.title("stylexfer: neural style transfer")
        root.protocol("WM_DELETE_WINDOW", self.close)
        style = ttk.Style(root)
        if "clam" in style.theme_names():  # crisper than X11's "default" theme, present in every Tk 8.5+
            style.theme_use("clam")
        style.configure("Horizontal.TProgressbar", background=BAR_COLOUR)  # clam draws it trough-grey
        self._poll_id: str | None = None
        self._build()
        root.update_idletasks()
        root.minsize(root.winfo_reqwidth(), root.winfo_reqheight())
        self.set_status("Choose a model file, a content image and (for AdaIN models) a style image.")
        self._poll_id = root.after(POLL_MS, self._poll)

    # ---------------------------------------------------------------------------------- layout
    def _build(self) -> None:
        main = ttk.Frame(self.root, padding=10)
        main.pack(fill="both", expand=True)

        model = ttk.LabelFrame(main, text="Model", padding=6)
        model.pack(fill="x")
        self.model_button = ttk.Button(model, text="Model…", command=self.choose_model)
        self.model_button.grid(row=0, column=0, rowspan=2, padx=(0, 8))
        self.model_label = ttk.Label(model, text="no model chosen (.safetensors, .ckpt or .pth)")
        self.model_label.grid(row=0, column=1, sticky="w")
        self.model_info = ttk.Label(model, text=" ", foreground="grey")
        self.model_info.grid(row=1, column=1, sticky="w")
        model.columnconfigure(1, weight=1)

        panels = ttk.Frame(main)
        panels.pack(fill="x", pady=8)
        self.content_panel = _ImagePanel(panels, "Content")
        self.style_panel = _ImagePanel(panels, "Style")
        self.result_panel = _ImagePanel(panels, "Result")
        for column, panel in enumerate((self.content_panel, self.style_panel, self.result_panel)):
            panel.grid(row=0, column=column, padx=4, sticky="n")
            panels.columnconfigure(column, weight=1)
        self.content_button = ttk.Button(self.content_panel.buttons, text="Content…",
                                         command=self.choose_content)
        self.content_button.pack()
        self.style_button = ttk.Button(self.style_panel.buttons, text="Style…", command=self.choose_style)
        self.style_button.pack()
        self.save_button = ttk.Button(self.result_panel.buttons, text="Save…", command=self.choose_save,
                                      state="disabled")
        self.save_button.pack()

        controls = ttk.Frame(main)
        controls.pack(fill="x")
        ttk.Label(controls, text="Alpha (0 = content, 1 = full style)").pack(side="left")
        self.alpha_var = tk.DoubleVar(value=1.0)
        self.alpha_scale = ttk.Scale(controls, from_=0.0, to=1.0, orient="horizontal", length=220,
                                     variable=self.alpha_var, command=self._alpha_moved)
        self.alpha_scale.pack(side="left", padx=6)
        self.alpha_text = ttk.Label(controls, text="1.00", width=5)
        self.alpha_text.pack(side="left")
        self.preserve_var = tk.BooleanVar(value=False)
        self.preserve_check = ttk.Checkbutton(controls, text="Preserve content colours",
                                              variable=self.preserve_var)
        self.preserve_check.pack(side="left", padx=12)
        self.stylize_button = ttk.Button(controls, text="Stylize", command=self.stylize)
        self.stylize_button.pack(side="right")

        self.progress = ttk.Progressbar(main, orient="horizontal", mode="determinate", maximum=1.0)
        self.progress.pack(fill="x", pady=(8, 4))
        self.status_var = tk.StringVar()
        self.status_label = ttk.Label(main, textvariable=self.status_var, anchor="w", wraplength=780)
        self.status_label.pack(fill="x")
        # Long messages (paths) wrap at the window's width instead of widening it.
        self.status_label.bind("<Configure>", lambda e: e.widget.configure(wraplength=max(200, e.width)))

        self.root.bind("<Control-o>", lambda _e: self.choose_content())
        self.root.bind("<Control-s>", lambda _e: self.choose_save())
        self.root.bind("<Control-Return>", lambda _e: self.stylize())

    # -------------------------------------------------------------------- dialogs, then setters
    def choose_model(self) -> None:
        path = filedialog.askopenfilename(parent=self.root, title="Choose a model file",
                                          filetypes=MODEL_TYPES)
        if path:
            self.set_model(path)

    def choose_content(self) -> None:
        path = filedialog.askopenfilename(parent=self.root, title="Choose a content image",
                                          filetypes=IMAGE_TYPES)
        if path:
            self.set_content(path)

    def choose_style(self) -> None:
        path = filedialog.askopenfilename(parent=self.root, title="Choose a style image",
                                          filetypes=IMAGE_TYPES)
        if path:
            self.set_style(path)

    def choose_save(self) -> None:
        if self.controller.result is None:
            return
        path = filedialog.asksaveasfilename(parent=self.root, title="Save the result", filetypes=SAVE_TYPES,
                                            defaultextension=".png", initialfile=self._suggested_name())
        if path:
            self.save(path)

    def set_model(self, path: str | os.PathLike) -> None:
        """Use this model file; it loads in the background (the window stays responsive)."""
        self.controller.set_model(path)
        self.model_label.configure(text=str(path))
        self.model_info.configure(text="loading…")
        self.set_status(f"Loading {Path(path).name}…")

    def set_content(self, path: str | os.PathLike) -> None:
        self.controller.set_content(path)
        self._show_preview(self.content_panel, Path(path))

    def set_style(self, path: str | os.PathLike) -> None:
        self.controller.set_style(path)
        self._show_preview(self.style_panel, Path(path))

    def save(self, path: str | os.PathLike) -> Path | None:
        """Write the result to `path` (format from the suffix); errors go to the status line."""
        try:
            written = self.controller.save(path)
        except StylexferError as err:
            self.set_status(str(err), error=True)
            return None
        self.set_status(f"Saved {written}", ok=True)
        return written

    # ----------------------------------------------------------------------------------- actions
    def stylize(self) -> None:
        try:
            self.controller.stylize(alpha=round(self.alpha_var.get(), 2),
                                    preserve_color=self.preserve_var.get())
        except StylexferError as err:
            self.set_status(str(err), error=True)
            return
        self.stylize_button.configure(state="disabled")
        self.root.configure(cursor="watch")
        self.progress.configure(mode="indeterminate")
        self.progress.start(15)
        self.set_status("Stylizing…")

    def set_status(self, text: str, *, error: bool = False, ok: bool = False) -> None:
        self.status_var.set(text)
        self.status_label.configure(foreground=ERROR_COLOUR if error else OK_COLOUR if ok else "")

    def close(self) -> None:
        """Stop polling, let the worker stop after its current job, destroy the window (idempotent)."""
        if self._poll_id is not None:
            self.root.after_cancel(self._poll_id)
            self._poll_id = None
        self.controller.close()
        with contextlib.suppress(tk.TclError):  # already destroyed
            self.root.destroy()

    # ------------------------------------------------------------------------------- internals
    def _alpha_moved(self, _value: str) -> None:
        self.alpha_text.configure(text=f"{self.alpha_var.get():.2f}")

    def _show_preview(self, panel: _ImagePanel, path: Path) -> None:
        try:
            thumbnail, (width, height) = self.controller.preview(path, PREVIEW_PX)
        except StylexferError as err:
            panel.show(None, f"{path.name}  (unreadable)")
            self.set_status(str(err), error=True)
            return
        panel.show(thumbnail, f"{path.name}  ({width}×{height})")
        self.set_status(f"{path.name} ready.")

    def _suggested_name(self) -> str:
        """photo__starry-night.png, as `stylexfer stylize` names outputs (Johnson: the model's name)."""
        content, style, model = (self.controller.content_path, self.controller.style_path,
                                 self.controller.model_path)
        first = content.stem if content else "result"
        uses_style = style is not None and self.style_button.instate(["!disabled"])
        second = style.stem if style is not None and uses_style else (model.stem if model else "")
        return f"{first}__{second}.png" if second else f"{first}.png"

    def _poll(self) -> None:
        for event in self.controller.poll():
            if isinstance(event, Progress):
                self._on_progress(event)
            elif isinstance(event, Result):
                self._on_result(event)
            elif isinstance(event, ModelLoaded):
                self._on_model(event)
            elif isinstance(event, Failed):
                self._on_failed(event)
        self._poll_id = self.root.after(POLL_MS, self._poll)

    def _on_progress(self, event: Progress) -> None:
        if event.total > 1:  # tiled: a real fraction; untiled reports only (1, 1) at the end
            self.progress.stop()
            self.progress.configure(mode="determinate", maximum=event.total, value=event.done)

    def _on_model(self, event: ModelLoaded) -> None:
        self.model_info.configure(text=event.description)
        if event.needs_style:
            self.style_button.configure(state="normal")
            if self.controller.style_path is None:
                self.style_panel.show(None, "choose a style image")
            hint = "Press Stylize." if self.controller.style_path else "Choose a style image, then Stylize."
            self.set_status(f"Model loaded. {hint}", ok=True)
        else:
            self.style_button.configure(state="disabled")
            self.style_panel.show(None, "not used: this model's style is built in")
            self.set_status("Model loaded (fixed style). Press Stylize.", ok=True)

    def _on_result(self, event: Result) -> None:
        self._stop_busy()
        self.progress.configure(mode="determinate", maximum=1.0, value=1.0)
        thumbnail = event.image.copy()
        thumbnail.thumbnail((PREVIEW_PX, PREVIEW_PX))
        width, height = event.image.size
        self.result_panel.show(thumbnail, f"{width}×{height}, {event.seconds:.1f} s")
        self.save_button.configure(state="normal")
        self.set_status(f"Done: {event.content.name} stylized in {event.seconds:.1f} s. "
                        "Save… writes it to a file.", ok=True)

    def _on_failed(self, event: Failed) -> None:
        if event.action == "load":
            self.model_info.configure(text="not loaded")
            self.style_button.configure(state="normal")
        else:
            self._stop_busy()
            self.progress.configure(mode="determinate", value=0)
        self.set_status(event.message, error=True)

    def _stop_busy(self) -> None:
        self.progress.stop()
        self.stylize_button.configure(state="normal")
        self.root.configure(cursor="")


def main(*, model: str | os.PathLike | None = None, content: str | os.PathLike | None = None,
         style: str | os.PathLike | None = None, device: str = "auto") -> int:
    """Open the window (optionally with files chosen) and run until it is closed; `stylexfer gui`."""
    try:
        root = tk.Tk()
    except tk.TclError as err:
        raise StylexferError(
            f"cannot open a window ({str(err).strip().splitlines()[0]}); the GUI needs a desktop session "
            "with DISPLAY set (for a headless test: xvfb-run stylexfer gui)"
        ) from err
    app = StylexferApp(root, Controller(device=device))
    if model is not None:
        app.set_model(model)
    if content is not None:
        app.set_content(content)
    if style is not None:
        app.set_style(style)
    root.mainloop()
    # The closed window is cyclic garbage: free it here, on Tk's thread. If the cyclic GC ran it on the
    # still-busy worker thread, Tcl would abort the process (Tcl_AsyncDelete from the wrong thread).
    del app, root
    gc.collect()
    return 0
