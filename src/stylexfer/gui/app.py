"""The Tkinter window of `stylexfer gui` (seed §5): pick a model, a content image and one or more
styles (files, a gallery folder, drag and drop), set alpha, weights, a mask and colour preservation,
stylize in the background with real progress and Cancel, compare before/after, save. A video content
previews as its first frame, stylized by Stylize; Save video… then writes the whole clip in the
background, frame by frame, with the same progress bar and Cancel.

Only widgets live here; the state and the worker thread are in `controller.Controller`, whose events
come back through a queue this window drains every POLL_MS with `after()`, so it never freezes.

Optional packages (the `gui` extra) make it nicer and are never required: sv-ttk (the Sun Valley
theme, light and dark), darkdetect (follow the desktop's dark mode), tkinterdnd2 (drop files on the
panels). Without them: Tk's "clam" theme and the Open… dialogs, which are always there.

Tests drive it without dialogs: the `ask_*` attributes are the dialog functions (replace them), the
setters (`set_model`, `set_content`, `set_style`, `gallery_click`, `drop` …) are what the dialogs,
clicks and drops call, and `save(path)` is what Save… calls after its dialog.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from stylexfer.errors import StylexferError, display_path, one_line

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
from stylexfer.files.video import VIDEO_SUFFIXES, output_suffixes
from stylexfer.gui.controller import (
    CONTENT_KINDS,
    Controller,
    Failed,
    ModelLoaded,
    Progress,
    Result,
    Stopped,
    Thumbnail,
    VideoSaved,
    compare,
    content_kind,
    fit,
    suggested_name,
)
from stylexfer.gui.prefs import RecentFiles, system_theme

POLL_MS = 40  # how often the window drains the controller's event queue
PREVIEW_MIN = 200  # smallest preview side at 96 dpi; previews grow with the window
THUMB_PX = 76  # gallery thumbnails at 96 dpi
RESIZE_MS = 60  # previews are re-fitted this long after the last resize event
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pth", ".pt")
DIVIDER = (255, 255, 255)  # the before/after line
PALETTES: dict[str, dict[str, str]] = {  # status and warning colours readable on each theme
    "light": {"error": "#b00020", "ok": "#1b5e20", "warn_bg": "#fff4ce", "warn_fg": "#5c4400",
              "muted": "#6b6b6b"},
    "dark": {"error": "#ff8a80", "ok": "#8fd694", "warn_bg": "#433519", "warn_fg": "#ffe08a",
             "muted": "#a0a0a0"},
}
ERROR_COLOUR = PALETTES["light"]["error"]  # light theme's; `app.palette["error"]` is the one in use

# The first filter is the one the dialog starts with: every kind together, then each kind alone.
CONTENT_TYPES = ([(" and ".join(f"{kind.capitalize()}s" for kind in CONTENT_KINDS),
                   " ".join(f"*{s}" for s in dict.fromkeys(s for kinds in CONTENT_KINDS.values() for s in kinds)))]
                 + [(f"{kind.capitalize()}s", " ".join(f"*{s}" for s in suffixes))
                    for kind, suffixes in CONTENT_KINDS.items()] + [("All files", "*")])
IMAGE_TYPES = [("Images", " ".join(f"*{s}" for s in IMAGE_SUFFIXES)), ("All files", "*")]
MODEL_TYPES = [("Model files", " ".join(f"*{s}" for s in MODEL_SUFFIXES)), ("All files", "*")]
SAVE_TYPES = [("PNG", "*.png"), ("JPEG", "*.jpg *.jpeg"), ("WebP", "*.webp"), ("TIFF", "*.tif *.tiff"),
              ("BMP", "*.bmp")]
# A video's result: the whole clip, or (an image suffix) just the stylized first frame.
VIDEO_SAVE_TYPES = [("Videos", " ".join(f"*{s}" for s in output_suffixes()))] + SAVE_TYPES



def _optional(name: str) -> Any:
    """An optional package (the `gui` extra), or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


sv_ttk = _optional("sv_ttk")  # the Sun Valley ttk theme
tkdnd = _optional("tkinterdnd2")  # native drag and drop (tkdnd)


# ---------------------------------------------------------------------------------- look and feel


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


def enable_drops(root: tk.Misc) -> bool:
    """Load tkdnd into this Tk (tkinterdnd2); False when the package or its library is missing."""
    if tkdnd is None:
        return False
    try:
        tkdnd.TkinterDnD.require(root)
    except (RuntimeError, tk.TclError):
        return False
    return True


# -------------------------------------------------------------------------------------- widgets


class _ImagePanel(ttk.LabelFrame):
    """A titled preview that grows with the window, a caption and a row of buttons.

    render(width, height) gives the picture for the box's current size (or None); it is called again,
    debounced, whenever the box is resized, and by refresh()."""

    def __init__(self, master: tk.Misc, title: str, min_px: int, pad: int) -> None:
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
        self.render: Callable[[int, int], Image.Image | None] = lambda w, h: None
        self.placeholder = "no image"
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


class StylexferApp:
    """The main window; `root` is a Tk root it fills. theme: "auto" (follow the system), "dark", "light"."""

    def __init__(self, root: tk.Tk, controller: Controller | None = None, *, theme: str = "auto") -> None:
        self.root = root
        self.controller = controller or Controller()
        self.scale = apply_scaling(root)
        self.pad = self.px(8)
        self.theme = apply_theme(root, system_theme() if theme == "auto" else theme)
        self.palette = PALETTES[self.theme]
        self.drops = enable_drops(root)
        # The dialogs (tests replace them).
        self.ask_open_file: Callable[..., str] = filedialog.askopenfilename
        self.ask_folder: Callable[..., str] = filedialog.askdirectory
        self.ask_save_file: Callable[..., str] = filedialog.asksaveasfilename
        root.title("stylexfer: neural style transfer")
        root.protocol("WM_DELETE_WINDOW", self.close)
        self._poll_id: str | None = None
        self._gallery_photos: dict[Path, ImageTk.PhotoImage] = {}
        self._gallery_buttons: dict[Path, ttk.Button] = {}
        self.warnings: list[str] = []
        self._fitted: tuple[tuple[int, int, int], Image.Image, Image.Image | None] | None = None
        self._result_serial = 0  # counts results, for the fitted copies above
        self._video_target: Path | None = None  # the clip being written, for the status line
        self.needs_style = True
        self._build()
        self._style_theme()
        root.update_idletasks()
        root.minsize(min(root.winfo_reqwidth(), root.winfo_screenwidth()),
                     min(root.winfo_reqheight(), root.winfo_screenheight()))
        width = min(self.px(1180), root.winfo_screenwidth() - 40)
        height = min(self.px(860), root.winfo_screenheight() - 80)
        root.geometry(f"{max(width, root.winfo_reqwidth())}x{max(height, root.winfo_reqheight())}")
        hint = "" if self.drops else " (Drag and drop needs the tkinterdnd2 package: pip install 'stylexfer[gui]'.)"
        self.set_status("Choose a model file, a content image and (for models that take one) a style: Open… buttons, "
                        f"the gallery, or drop files on the panels.{hint}")
        if self.controller.recent.problem:
            self.add_warning(self.controller.recent.problem)
        self._poll_id = root.after(POLL_MS, self._poll)

    def px(self, value: float) -> int:
        """Pixels at this display's DPI for `value` pixels at 96 dpi."""
        return round(value * self.scale)

    # ---------------------------------------------------------------------------------- layout
    def _build(self) -> None:
        pad = self.pad
        self._build_menu()
        main = ttk.Frame(self.root, padding=(pad * 2, pad, pad * 2, pad))
        main.pack(fill="both", expand=True)
        main.columnconfigure(0, weight=1)
        self.main = main
        self._build_model_row(main)  # grid row 0
        self._build_warning_bar(main)  # row 1
        self._build_panels(main)  # row 2: content, style, result
        lower = ttk.Frame(main)
        lower.grid(row=3, column=0, sticky="ew", pady=(pad, 0))
        lower.columnconfigure(0, weight=3)
        lower.columnconfigure(1, weight=2)
        self._build_gallery(lower)
        self._build_mix(lower)
        self._build_controls(main)  # row 4
        self._build_status(main)  # rows 5 and 6
        self._bind_keys_and_drops()

    def _build_model_row(self, main: ttk.Frame) -> None:
        """The model button, its file name and what the file holds."""
        pad = self.pad
        model = ttk.Frame(main)
        model.grid(row=0, column=0, sticky="ew", pady=(0, pad))
        self.model_button = ttk.Button(model, text="Model…", command=self.choose_model)
        self.model_button.grid(row=0, column=0, rowspan=2, padx=(0, pad))
        self.model_label = ttk.Label(model, text="no model chosen (.safetensors, .ckpt or .pth)",
                                     font="TkHeadingFont")
        self.model_label.grid(row=0, column=1, sticky="w")
        self.model_info = ttk.Label(model, text=" ", style="Muted.TLabel")
        self.model_info.grid(row=1, column=1, sticky="w")
        model.columnconfigure(1, weight=1)

    def _build_warning_bar(self, main: ttk.Frame) -> None:
        """The bar that shows the model's and the run's warnings (hidden when empty)."""
        pad = self.pad
        # A classic label: every ttk theme draws its own label background, this bar must stand out.
        self.warning_label = tk.Label(main, text="", anchor="w", justify="left", padx=pad, pady=pad // 2,
                                      borderwidth=0)
        self.warning_label.grid(row=1, column=0, sticky="ew", pady=(0, pad))
        self.warning_label.grid_remove()
        self.warning_label.bind("<Configure>", lambda e: e.widget.configure(wraplength=max(200, e.width - 20)))

    def _build_panels(self, main: ttk.Frame) -> None:
        """The three image panels and their buttons."""
        pad = self.pad
        panels = ttk.Frame(main)
        panels.grid(row=2, column=0, sticky="nsew")
        main.rowconfigure(2, weight=1)
        size = self.px(PREVIEW_MIN)
        self.content_panel = _ImagePanel(panels, "Content", size, pad)
        self.style_panel = _ImagePanel(panels, "Style", size, pad)
        self.result_panel = _ImagePanel(panels, "Result", size, pad)
        for column, panel in enumerate((self.content_panel, self.style_panel, self.result_panel)):
            panel.grid(row=0, column=column, padx=pad // 2, sticky="nsew")
            panels.columnconfigure(column, weight=1, uniform="panels")
        panels.rowconfigure(0, weight=1)
        self.content_panel.placeholder = "drop a photo or video here\nor Content… (Ctrl+O)"
        self.style_panel.placeholder = "drop a style image here\nor pick one in the gallery"
        self.result_panel.placeholder = "Stylize (Ctrl+Enter)"
        self.content_panel.render = self._render_content
        self.style_panel.render = self._render_style
        self.result_panel.render = self._render_result

        self.content_button = ttk.Button(self.content_panel.buttons, text="Content…", command=self.choose_content)
        self.content_button.pack(side="left")
        self.style_button = ttk.Button(self.style_panel.buttons, text="Style…", command=self.choose_style)
        self.style_button.pack(side="left", padx=(0, pad // 2))
        self.folder_button = ttk.Button(self.style_panel.buttons, text="Folder…", command=self.choose_gallery)
        self.folder_button.pack(side="left")
        self.compare_var = tk.DoubleVar(value=0.0)
        ttk.Label(self.result_panel.buttons, text="Before").pack(side="left")
        self.compare_scale = ttk.Scale(self.result_panel.buttons, from_=0.0, to=1.0, orient="horizontal",
                                       length=self.px(120), variable=self.compare_var,
                                       command=lambda _v: self.result_panel.refresh())
        self.compare_scale.pack(side="left", padx=pad // 2)
        ttk.Label(self.result_panel.buttons, text="After").pack(side="left", padx=(0, pad))
        self.save_button = ttk.Button(self.result_panel.buttons, text="Save…", command=self.choose_save,
                                      state="disabled")
        self.save_button.pack(side="left")
        # Dragging across the result moves the before/after divider too.
        for sequence in ("<Button-1>", "<B1-Motion>"):
            self.result_panel.image_label.bind(sequence, self._compare_drag)

    def _build_controls(self, main: ttk.Frame) -> None:
        """Alpha, colour preservation, Stylize and Cancel."""
        pad = self.pad
        controls = ttk.Frame(main)
        controls.grid(row=4, column=0, sticky="ew", pady=(pad, 0))
        ttk.Label(controls, text="Alpha").pack(side="left")
        self.alpha_var = tk.DoubleVar(value=1.0)
        self.alpha_scale = ttk.Scale(controls, from_=0.0, to=1.0, orient="horizontal", length=self.px(200),
                                     variable=self.alpha_var, command=self._alpha_moved)
        self.alpha_scale.pack(side="left", padx=pad)
        self.alpha_text = ttk.Label(controls, text="1.00", width=5)
        self.alpha_text.pack(side="left")
        ttk.Label(controls, text="(0 = content, 1 = full style)", style="Muted.TLabel").pack(side="left")
        self.preserve_var = tk.BooleanVar(value=False)
        self.preserve_check = ttk.Checkbutton(controls, text="Preserve content colours",
                                              variable=self.preserve_var)
        self.preserve_check.pack(side="left", padx=pad * 2)
        self.cancel_button = ttk.Button(controls, text="Cancel", command=self.cancel, state="disabled")
        self.cancel_button.pack(side="right")
        accent = "Accent.TButton" if sv_ttk is not None else "TButton"
        self.stylize_button = ttk.Button(controls, text="Stylize", style=accent, command=self.stylize)
        self.stylize_button.pack(side="right", padx=pad)

    def _build_status(self, main: ttk.Frame) -> None:
        """The progress bar and the status line."""
        pad = self.pad
        bar = ttk.Frame(main)
        bar.grid(row=5, column=0, sticky="ew", pady=(pad, pad // 2))
        bar.columnconfigure(0, weight=1)
        self.progress = ttk.Progressbar(bar, orient="horizontal", mode="determinate", maximum=1.0)
        self.progress.grid(row=0, column=0, sticky="ew")
        self.progress_text = ttk.Label(bar, text="", width=24, anchor="e", style="Muted.TLabel")
        self.progress_text.grid(row=0, column=1, padx=(pad, 0))
        self.status_var = tk.StringVar()
        self.status_label = ttk.Label(main, textvariable=self.status_var, anchor="w")
        self.status_label.grid(row=6, column=0, sticky="ew")
        # Long messages (paths) wrap at the window's width instead of widening it.
        self.status_label.bind("<Configure>", lambda e: e.widget.configure(wraplength=max(200, e.width)))

    def _bind_keys_and_drops(self) -> None:
        """Keyboard shortcuts, and drop targets when tkinterdnd2 is there."""
        bindings: dict[str, Callable[[], object]] = {
            "<Control-o>": self.choose_content, "<Control-s>": self.choose_save,
            "<Control-Return>": self.stylize, "<Control-KP_Enter>": self.stylize,
            "<Control-m>": self.choose_model, "<Control-g>": self.choose_gallery,
            "<Escape>": self.cancel, "<Control-q>": self.close,
        }
        for sequence, action in bindings.items():
            self.root.bind(sequence, partial(self._shortcut, action))
            key = sequence.rstrip(">").rsplit("-", 1)[-1]
            if len(key) == 1:  # a letter: Caps Lock sends the capital one
                self.root.bind(sequence.replace(f"-{key}>", f"-{key.upper()}>"), partial(self._shortcut, action))
        if self.drops:
            targets = {"content": self.content_panel, "style": self.style_panel, "result": self.result_panel,
                       "gallery": self.gallery_frame, "mask": self.mix_frame}
            for target, frame in targets.items():
                for widget in (frame, *self._children(frame)):
                    self._register_drop(widget, target)

    @staticmethod
    def _shortcut(action: Callable[[], object], _event: Any) -> str:
        action()
        return "break"  # the focused widget's own binding (if any) does not run too

    def _children(self, widget: tk.Misc) -> list[tk.Misc]:
        found: list[tk.Misc] = []
        for child in widget.winfo_children():
            found += [child, *self._children(child)]
        return found

    def _register_drop(self, widget: tk.Misc, target: str) -> None:
        with contextlib.suppress(tk.TclError, AttributeError):
            widget.drop_target_register(tkdnd.DND_FILES)  # type: ignore[attr-defined]
            widget.dnd_bind("<<Drop>>", partial(self._dropped, target))  # type: ignore[attr-defined]

    def _build_menu(self) -> None:
        menubar = tk.Menu(self.root)
        file = tk.Menu(menubar, tearoff=False)
        file.add_command(label="Open content…", accelerator="Ctrl+O", command=self.choose_content)
        file.add_command(label="Open model…", accelerator="Ctrl+M", command=self.choose_model)
        file.add_command(label="Open style…", command=self.choose_style)
        file.add_command(label="Open style folder…", accelerator="Ctrl+G", command=self.choose_gallery)
        file.add_command(label="Open mask…", command=self.choose_mask)
        file.add_separator()
        self.recent_menus: dict[str, tk.Menu] = {}
        for kind, label in (("content", "Recent contents"), ("model", "Recent models"),
                            ("style", "Recent styles"), ("gallery", "Recent style folders")):
            menu = tk.Menu(file, tearoff=False, postcommand=partial(self._fill_recent, kind))
            self.recent_menus[kind] = menu
            file.add_cascade(label=label, menu=menu)
        file.add_separator()
        file.add_command(label="Save result…", accelerator="Ctrl+S", command=self.choose_save)
        file.add_separator()
        file.add_command(label="Quit", accelerator="Ctrl+Q", command=self.close)
        menubar.add_cascade(label="File", menu=file)
        view = tk.Menu(menubar, tearoff=False)
        self.dark_var = tk.BooleanVar(value=False)
        view.add_checkbutton(label="Dark theme", variable=self.dark_var,
                             command=lambda: self.set_theme("dark" if self.dark_var.get() else "light"),
                             state="normal" if sv_ttk is not None else "disabled")
        menubar.add_cascade(label="View", menu=view)
        self.root.configure(menu=menubar)
        self.menubar = menubar

    def _build_gallery(self, master: tk.Misc) -> None:
        pad = self.pad
        frame = self.gallery_frame = ttk.LabelFrame(master, text="Style gallery", padding=pad)
        frame.grid(row=0, column=0, sticky="nsew", padx=(pad // 2, pad))
        frame.columnconfigure(0, weight=1)
        head = ttk.Frame(frame)
        head.grid(row=0, column=0, sticky="ew")
        self.gallery_label = ttk.Label(head, text="Folder… picks a folder of style images; "
                                       "click a thumbnail to use it, Ctrl+click to add it to the mix",
                                       style="Muted.TLabel")
        self.gallery_label.pack(side="left")
        thumb = self.px(THUMB_PX)
        self.gallery_canvas = tk.Canvas(frame, height=thumb + self.px(14), highlightthickness=0, borderwidth=0)
        self.gallery_canvas.grid(row=1, column=0, sticky="ew", pady=(pad // 2, 0))
        self.gallery_scroll = ttk.Scrollbar(frame, orient="horizontal", command=self.gallery_canvas.xview)
        self.gallery_scroll.grid(row=2, column=0, sticky="ew")
        self.gallery_canvas.configure(xscrollcommand=self.gallery_scroll.set)
        self.gallery_strip = ttk.Frame(self.gallery_canvas)
        self.gallery_canvas.create_window(0, 0, window=self.gallery_strip, anchor="nw")
        self.gallery_strip.bind("<Configure>", lambda _e: self.gallery_canvas.configure(
            scrollregion=self.gallery_canvas.bbox("all")))
        self._wheel_targets: list[tk.Misc] = [self.gallery_canvas, self.gallery_strip]

    def _build_mix(self, master: tk.Misc) -> None:
        pad = self.pad
        frame = self.mix_frame = ttk.LabelFrame(master, text="Styles and mask", padding=pad)
        frame.grid(row=0, column=1, sticky="nsew", padx=(0, pad // 2))
        frame.columnconfigure(0, weight=1)
        self.mix_rows = ttk.Frame(frame)
        self.mix_rows.grid(row=0, column=0, sticky="ew")
        self.mix_rows.columnconfigure(1, weight=1)
        mask = ttk.Frame(frame)
        mask.grid(row=1, column=0, sticky="ew", pady=(pad // 2, 0))
        ttk.Label(mask, text="Mask:").pack(side="left")
        self.mask_label = ttk.Label(mask, text="none", style="Muted.TLabel")
        self.mask_label.pack(side="left", padx=pad // 2)
        self.mask_clear = ttk.Button(mask, text="Clear", command=lambda: self.set_mask(None), state="disabled")
        self.mask_clear.pack(side="right")
        self.mask_button = ttk.Button(mask, text="Mask…", command=self.choose_mask)
        self.mask_button.pack(side="right", padx=pad // 2)
        self.weight_scales: list[ttk.Scale] = []
        self.weight_texts: list[ttk.Label] = []
        self._rebuild_mix()

    def _style_theme(self) -> None:
        style = ttk.Style(self.root)
        palette = self.palette
        self.warning_label.configure(background=palette["warn_bg"], foreground=palette["warn_fg"],
                                     font="TkDefaultFont")
        style.configure("Muted.TLabel", foreground=palette["muted"])
        if sv_ttk is None:
            style.configure("Horizontal.TProgressbar", background="#3b7dd8")  # clam draws it trough-grey
        background = style.lookup("TFrame", "background") or self.root.cget("background")
        self.gallery_canvas.configure(background=background)
        self.dark_var.set(self.theme == "dark")

    def set_theme(self, mode: str) -> None:
        """Switch between "dark" and "light" (needs sv-ttk; plain ttk stays light)."""
        self.theme = apply_theme(self.root, mode)
        self.palette = PALETTES[self.theme]
        self._style_theme()
        self.set_status(self.status_var.get())

    # -------------------------------------------------------------------- dialogs, then setters
    def choose_model(self) -> None:
        path = self.ask_open_file(parent=self.root, title="Choose a model file", filetypes=MODEL_TYPES,
                                  initialdir=self._initial_dir("model"))
        if path:
            self.set_model(path)

    def choose_content(self) -> None:
        path = self.ask_open_file(parent=self.root, title="Choose a content image or video",
                                  filetypes=CONTENT_TYPES, initialdir=self._initial_dir("content"))
        if path:
            self.set_content(path)

    def choose_style(self) -> None:
        path = self.ask_open_file(parent=self.root, title="Choose a style image", filetypes=IMAGE_TYPES,
                                  initialdir=self._initial_dir("style"))
        if path:
            self.set_style(path)

    def choose_gallery(self) -> None:
        path = self.ask_folder(parent=self.root, title="Choose a folder of style images",
                               initialdir=self._initial_dir("gallery", folder=True))
        if path:
            self.open_gallery(path)

    def choose_mask(self) -> None:
        path = self.ask_open_file(parent=self.root, title="Choose a mask (one grey level per style)",
                                  filetypes=IMAGE_TYPES, initialdir=self._initial_dir("mask"))
        if path:
            self.set_mask(path)

    def choose_save(self) -> None:
        if self.controller.writing_video:
            self.set_status("Already writing a video; wait for it or press Cancel.", error=True)
            return
        if self.controller.result is None:
            self.set_status("Nothing to save yet: stylize an image first.", error=True)
            return
        if self.controller.result_is_video:
            name = self.controller.video_name()
            path = self.ask_save_file(parent=self.root, title="Save the stylized video", filetypes=VIDEO_SAVE_TYPES,
                                      defaultextension=Path(name).suffix, initialfile=name,
                                      initialdir=str(self.controller.save_folder()))
        else:
            path = self.ask_save_file(parent=self.root, title="Save the result", filetypes=SAVE_TYPES,
                                      defaultextension=".png", initialfile=self._suggested_name(),
                                      initialdir=str(self.controller.save_folder()))
        if path:
            self.save(path)

    def set_model(self, path: str | os.PathLike) -> None:
        """Use this model file; it loads in the background (the window stays responsive)."""
        self.controller.set_model(path)
        self.model_label.configure(text=display_path(Path(path).name))
        self.model_info.configure(text="loading…")
        self.clear_warnings()
        self.set_status(f"Loading {display_path(Path(path).name)}…")

    def set_content(self, path: str | os.PathLike) -> None:
        self.controller.set_content(path)
        self._show_file(self.content_panel, Path(path))

    def set_style(self, path: str | os.PathLike | None) -> None:
        """Use this one style (replacing a mix)."""
        self.controller.set_style(path)
        self._rebuild_mix()
        self._mark_gallery()
        if path is not None:
            self._show_file(self.style_panel, Path(path))
        else:
            self.style_panel.caption.configure(text=" ")
            self.style_panel.refresh()

    def add_style(self, path: str | os.PathLike) -> None:
        """Add a style to the mix (its weight starts at 1)."""
        self.controller.add_style(path)
        self._rebuild_mix()
        self._mark_gallery()
        self._show_file(self.style_panel, Path(path))

    def remove_style(self, index: int) -> None:
        self.controller.remove_style(index)
        self._rebuild_mix()
        self._mark_gallery()
        self.style_panel.refresh()
        self._caption_style()

    def set_style_weight(self, index: int, weight: float) -> None:
        self.controller.set_style_weight(index, weight)
        self.weight_texts[index].configure(text=f"{weight:.2f}")

    def set_mask(self, path: str | os.PathLike | None) -> None:
        self.controller.set_mask(path)
        self.mask_label.configure(text=display_path(Path(path).name) if path is not None else "none")
        self.mask_clear.configure(state="normal" if path is not None else "disabled")
        self._rebuild_mix()
        if path is not None:
            self.set_status("Mask set: its brightest grey level takes the first style, the next one the "
                            "second, …; the weights are not used with a mask.")

    def open_gallery(self, folder: str | os.PathLike) -> None:
        """Show the style images of `folder` as thumbnails (made in the background)."""
        try:
            paths = self.controller.open_gallery(folder, self.px(THUMB_PX))
        except StylexferError as err:
            self.set_status(str(err), error=True)
            return
        for button in self._gallery_buttons.values():
            button.destroy()
        self._gallery_buttons.clear()
        self._gallery_photos.clear()
        for column, path in enumerate(paths):
            button = ttk.Button(self.gallery_strip, text=path.stem[:12], compound="top",
                                command=partial(self.gallery_click, path))
            for sequence in ("<Control-Button-1>", "<Shift-Button-1>"):
                button.bind(sequence, partial(self._gallery_add, path))
            button.grid(row=0, column=column, padx=(0, self.pad // 2))
            if self.drops:
                self._register_drop(button, "gallery")
            self._gallery_buttons[path] = button
            self._wheel_targets.append(button)
        for widget in self._wheel_targets:  # the wheel scrolls the strip sideways
            for sequence in ("<MouseWheel>", "<Shift-MouseWheel>", "<Button-4>", "<Button-5>"):
                widget.bind(sequence, self._gallery_wheel)
        self._wheel_targets = self._wheel_targets[:2]
        self.gallery_canvas.xview_moveto(0)
        self.root.update_idletasks()  # thumbnails come later: room for an image and a caption now
        caption = max((b.winfo_reqheight() for b in self._gallery_buttons.values()), default=0)
        self.gallery_canvas.configure(height=self.px(THUMB_PX) + caption + self.pad)
        self.gallery_frame.configure(text=f"Style gallery: {display_path(Path(folder).name)} ({len(paths)})")
        self.gallery_label.configure(text="click: use this style · Ctrl+click: add it to the mix")
        self._mark_gallery()
        self.set_status(f"{len(paths)} style images in {display_path(folder)}; click one to use it.")

    def gallery_click(self, path: Path, *, add: bool = False) -> None:
        if add:
            self.add_style(path)
        else:
            self.set_style(path)

    def _gallery_add(self, path: Path, _event: Any) -> str:
        self.gallery_click(path, add=True)
        return "break"

    def drop(self, target: str, paths: list[str] | tuple[str, ...]) -> None:
        """Files dropped on a panel ("content", "style", "result", "gallery", "mask"): a model file
        loads the model wherever it lands; a folder on the style side opens the gallery; images go where
        they were dropped (several on the style side make a mix)."""
        files = [Path(p) for p in paths if p]
        models = [p for p in files if p.suffix.lower() in MODEL_SUFFIXES and p.is_file()]
        folders = [p for p in files if p.is_dir()]
        kinds = {p: content_kind(p) for p in files if p not in models and p not in folders}
        images = [p for p, kind in kinds.items() if kind == "image"]
        videos = [p for p, kind in kinds.items() if kind == "video"]
        unknown = [p for p, kind in kinds.items() if kind is None]
        if models:
            self.set_model(models[0])
        if folders and target in ("style", "gallery", "mask"):
            self.open_gallery(folders[0])
        elif folders:
            self.set_status(f"{display_path(folders[0])}: a folder; drop it on the Style panel or the gallery "
                            "to browse its styles, or drop one image here", error=True)
        if images:
            if target in ("content", "result"):
                self.set_content(images[0])
            elif target == "mask":
                self.set_mask(images[0])
            elif len(images) == 1 and target == "style":
                self.set_style(images[0])
            else:
                for image in images:
                    self.add_style(image)
        if videos and target in ("content", "result"):
            self.set_content(videos[0])
        elif videos and not (models or images or folders):
            self.set_status(f"{display_path(videos[0].name)}: a video can only be the content; drop it on the "
                            "Content panel", error=True)
        if unknown and not (models or images or folders or videos):
            suffixes = ", ".join(IMAGE_SUFFIXES[:5])
            self.set_status(f"{display_path(unknown[0].name)}: not an image ({suffixes} …), a video "
                            f"({', '.join(VIDEO_SUFFIXES[:3])} …) or a model file ({', '.join(MODEL_SUFFIXES)})",
                            error=True)

    def save(self, path: str | os.PathLike) -> Path | None:
        """Write the result to `path` (format from the suffix); errors go to the status line. For a
        video's result, a video suffix writes the whole clip in the background (returns the name it
        will have; VideoSaved says when it is there); an image suffix writes the stylized first frame."""
        if self.controller.result_is_video and Path(path).suffix.lower() in output_suffixes():
            return self._write_video(Path(path))
        try:
            written = self.controller.save(path)
        except StylexferError as err:
            self.set_status(str(err), error=True)
            return None
        self.set_status(f"Saved {display_path(written)}", ok=True)
        return written

    def _write_video(self, path: Path) -> Path | None:
        try:
            target = self.controller.write_video(path, overwrite=True)  # the Save dialog asked before replacing
        except StylexferError as err:
            self.set_status(str(err), error=True)
            return None
        self._video_target = target
        self._start_busy()
        self.progress_text.configure(text="starting…")
        self.set_status(f"Writing {display_path(target.name)}… (Esc or Cancel stops it; nothing is left then)")
        return target

    # ----------------------------------------------------------------------------------- actions
    def stylize(self) -> None:
        try:
            self.controller.stylize(alpha=round(self.alpha_var.get(), 2), preserve_color=self.preserve_var.get())
        except StylexferError as err:
            self.set_status(str(err), error=True)
            return
        self._start_busy()
        self.progress_text.configure(text="starting…")
        content = self.controller.content_path
        if content is not None and content_kind(content) == "video":
            self.set_status(f"Stylizing the first frame of {display_path(content.name)}… (Esc or Cancel stops it)")
        else:
            self.set_status("Stylizing… (Esc or Cancel stops it)")

    def _start_busy(self) -> None:
        self.stylize_button.configure(state="disabled")
        self.cancel_button.configure(state="normal")
        if self.controller.writing_video:
            self.save_button.configure(state="disabled")
        self.root.configure(cursor="watch")
        self.progress.configure(mode="determinate", maximum=1.0, value=0.0)

    def cancel(self) -> None:
        if self.controller.cancel():
            self.cancel_button.configure(state="disabled")
            self.progress_text.configure(text="cancelling…")
            self.set_status("Cancelling after the current step…")

    def set_status(self, text: str, *, error: bool = False, ok: bool = False) -> None:
        self.status_var.set(text)
        colour = self.palette["error"] if error else self.palette["ok"] if ok else ""
        self.status_label.configure(foreground=colour)

    def add_warning(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
        self.warning_label.configure(text="\n".join(f"⚠  {w}" for w in self.warnings))
        self.warning_label.grid()

    def clear_warnings(self) -> None:
        self.warnings.clear()
        self.warning_label.configure(text="")
        self.warning_label.grid_remove()

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

    # ------------------------------------------------------------------------------- internals
    def _initial_dir(self, kind: str, *, folder: bool = False) -> str:
        recent = self.controller.recent.get(kind)
        if not recent:
            return str(Path.cwd())
        return str(recent[0] if folder else recent[0].parent)

    def _fill_recent(self, kind: str) -> None:
        menu = self.recent_menus[kind]
        menu.delete(0, "end")
        entries = self.controller.recent.get(kind)
        action: Callable[[Path], None] = {"content": self.set_content, "model": self.set_model,
                                          "style": self.set_style, "gallery": self.open_gallery}[kind]
        for path in entries:
            menu.add_command(label=display_path(path), command=partial(action, path))
        if not entries:
            menu.add_command(label="(none yet)", state="disabled")

    def _dropped(self, target: str, event: Any) -> str:
        self.drop(target, self.root.tk.splitlist(event.data))
        return str(tkdnd.COPY)

    def _alpha_moved(self, _value: str) -> None:
        self.alpha_text.configure(text=f"{self.alpha_var.get():.2f}")

    def _compare_drag(self, event: Any) -> None:
        if self.controller.result is None or self.result_panel.photo is None:
            return
        label, photo = self.result_panel.image_label, self.result_panel.photo
        left = (label.winfo_width() - photo.width()) / 2
        self.compare_var.set(max(0.0, min(1.0, (event.x - left) / max(1, photo.width()))))
        self.result_panel.refresh()

    def _gallery_wheel(self, event: Any) -> None:
        step = -1 if getattr(event, "num", 0) == 4 or getattr(event, "delta", 0) > 0 else 1
        self.gallery_canvas.xview_scroll(step * 3, "units")

    def _render_file(self, path: Path | None, width: int, height: int) -> Image.Image | None:
        if path is None:
            return None
        try:
            return self.controller.preview(path, width, height)[0]
        except StylexferError:
            return None

    def _render_content(self, width: int, height: int) -> Image.Image | None:
        return self._render_file(self.controller.content_path, width, height)

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
        r, g, b = (c // 257 for c in self.root.winfo_rgb(ttk.Style(self.root).lookup("TFrame", "background")
                                                         or self.root.cget("background")))
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
        return compare(small_before, shown, split, line=DIVIDER)

    def _show_file(self, panel: _ImagePanel, path: Path) -> None:
        try:
            _, (width, height) = self.controller.thumbnails.source(path)
        except StylexferError as err:
            panel.caption.configure(text=f"{display_path(path.name)}  (unreadable)")
            panel.refresh()
            self.set_status(str(err), error=True)
            return
        panel.refresh()
        if panel is self.style_panel:
            self._caption_style()
        elif panel is self.content_panel and content_kind(path) == "video":
            panel.caption.configure(text=f"{display_path(path.name)}  ({self._clip_facts(path, width, height)})")
            self.set_status(f"{display_path(path.name)} ready: Stylize shows its first frame stylized, then "
                            "Save video… (Ctrl+S) writes the whole clip.")
            return
        else:
            panel.caption.configure(text=f"{display_path(path.name)}  ({width}×{height})")
        self.set_status(f"{display_path(path.name)} ready.")

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

    def _caption_style(self) -> None:
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
        self.style_panel.caption.configure(text=text)

    def _rebuild_mix(self) -> None:
        for child in self.mix_rows.winfo_children():
            child.destroy()
        self.weight_scales, self.weight_texts = [], []
        styles, weights = self.controller.styles, self.controller.style_weights
        masked = self.controller.mask_path is not None
        if not styles:
            ttk.Label(self.mix_rows, text="no style yet", style="Muted.TLabel").grid(row=0, column=0, sticky="w")
        for row, (path, weight) in enumerate(zip(styles, weights, strict=True)):
            ttk.Label(self.mix_rows, text=display_path(path.stem)[:18], width=14).grid(row=row, column=0, sticky="w")
            var = tk.DoubleVar(value=weight)
            scale = ttk.Scale(self.mix_rows, from_=0.0, to=1.0, orient="horizontal", variable=var,
                              command=partial(self._weight_moved, row))
            scale.grid(row=row, column=1, sticky="ew", padx=self.pad // 2)
            text = ttk.Label(self.mix_rows, text=f"{weight:.2f}", width=5)
            text.grid(row=row, column=2)
            remove = ttk.Button(self.mix_rows, text="✕", width=3, command=partial(self.remove_style, row))
            remove.grid(row=row, column=3, padx=(self.pad // 2, 0))
            if masked or len(styles) < 2:  # one style: its weight means nothing; a mask decides regions
                scale.state(["disabled"])
            self.weight_scales.append(scale)
            self.weight_texts.append(text)
            if self.drops:
                for widget in (scale, text, remove):
                    self._register_drop(widget, "mask")

    def _weight_moved(self, index: int, value: str) -> None:
        self.set_style_weight(index, round(float(value), 2))

    def _mark_gallery(self) -> None:
        chosen = set(self.controller.styles)
        for path, button in self._gallery_buttons.items():
            if button.instate(["!disabled"]):  # an unreadable file keeps saying so
                button.configure(text=("✓ " if path in chosen else "") + path.stem[:12])

    def _suggested_name(self) -> str:
        """photo__starry-night.png, as `stylexfer stylize` names outputs (a mix: a+b; fixed-style: the model)."""
        styles = self.controller.styles if self.needs_style else []
        return suggested_name(self.controller.content_path, styles, self.controller.model_path, ".png")

    def _poll(self) -> None:
        for event in self.controller.poll():
            if isinstance(event, Progress):
                self._on_progress(event)
            elif isinstance(event, Result):
                self._on_result(event)
            elif isinstance(event, VideoSaved):
                self._on_video_saved(event)
            elif isinstance(event, ModelLoaded):
                self._on_model(event)
            elif isinstance(event, Failed):
                self._on_failed(event)
            elif isinstance(event, Stopped):
                self._on_stopped(event)
            elif isinstance(event, Thumbnail):
                self._on_thumbnail(event)
        self._poll_id = self.root.after(POLL_MS, self._poll)

    def _on_progress(self, event: Progress) -> None:
        if event.stage == "frames" and not event.total:  # a clip that does not say how long it is
            self.progress.configure(mode="indeterminate")
            self.progress.step()
        else:
            self.progress.configure(mode="determinate", maximum=max(1, event.total),
                                    value=min(event.done, max(1, event.total)))
        if event.stage == "frames":
            text = f"frame {event.done} of {event.total}" if event.total else f"frame {event.done}"
            name = self._video_target.name if self._video_target else "the video"
            self.set_status(f"Writing {display_path(name)}: {text}… (Esc or Cancel stops it)")
        elif event.stage == "styles":
            text = f"style {event.done} of {event.total} encoded"
        elif event.stage == "tiles":
            text = f"tile {event.done} of {event.total}" if event.done else "stylizing in tiles…"
        else:
            text = "one pass done" if event.done else "stylizing (one pass)…"
        self.progress_text.configure(text=text)

    def _on_thumbnail(self, event: Thumbnail) -> None:
        button = self._gallery_buttons.get(event.path)
        if button is None:
            return
        if event.image is None:
            button.configure(text=f"{event.path.stem[:10]} (unreadable)", state="disabled")
            return
        photo = ImageTk.PhotoImage(event.image)
        self._gallery_photos[event.path] = photo
        button.configure(image=photo)

    def _on_model(self, event: ModelLoaded) -> None:
        self.model_info.configure(text=event.description)
        for text in event.warnings:
            self.add_warning(text)
        self.needs_style = event.needs_style
        for widget in (self.style_button, self.folder_button, self.mask_button):
            widget.configure(state="normal" if event.needs_style else "disabled")
        self.style_panel.placeholder = ("drop a style image here\nor pick one in the gallery" if event.needs_style
                                        else "not used:\nthis model's style is built in")
        self.style_panel.refresh()
        self._caption_style()
        if event.needs_style:
            hint = "Press Stylize (Ctrl+Enter)." if self.controller.styles else "Choose a style, then Stylize."
            self.set_status(f"Model loaded. {hint}", ok=True)
        else:
            self.set_status("Model loaded (fixed style). Press Stylize (Ctrl+Enter).", ok=True)

    def _on_result(self, event: Result) -> None:
        self._result_serial += 1
        self._stop_busy()
        self.progress.configure(mode="determinate", maximum=1.0, value=1.0)
        self.progress_text.configure(text=f"done in {event.seconds:.1f} s")
        self.result_panel.refresh()
        width, height = event.image.size
        video = self.controller.result_is_video
        first = " (first frame)" if video else ""
        self.result_panel.caption.configure(text=f"{width}×{height}{first}, {event.seconds:.1f} s")
        self.save_button.configure(state="normal", text="Save video…" if video else "Save…")
        if video:
            self.set_status(f"Done: the first frame of {display_path(event.content.name)} stylized in "
                            f"{event.seconds:.1f} s. Save video… (Ctrl+S) writes the whole clip with these "
                            "settings.", ok=True)
        else:
            self.set_status(f"Done: {display_path(event.content.name)} stylized in {event.seconds:.1f} s. Drag "
                            "the Before/After slider to compare; Save… (Ctrl+S) writes it to a file.", ok=True)

    def _on_video_saved(self, event: VideoSaved) -> None:
        self._stop_busy()
        self.progress.configure(mode="determinate", maximum=max(1, event.frames), value=event.frames)
        self.progress_text.configure(text=f"{event.frames} frames in {event.seconds:.1f} s")
        for text in event.warnings:
            self.add_warning(text)
        self.set_status(f"Saved {display_path(event.path)} ({event.frames} frames, {event.seconds:.1f} s)", ok=True)

    def _on_stopped(self, event: Stopped) -> None:
        self._stop_busy()
        self.progress.configure(mode="determinate", maximum=1.0, value=0.0)
        self.progress_text.configure(text="cancelled")
        self.set_status(f"Cancelled after {event.seconds:.1f} s; nothing was written.")

    def _on_failed(self, event: Failed) -> None:
        if event.action == "load":
            self.model_info.configure(text="not loaded")
            self.needs_style = True
            for widget in (self.style_button, self.folder_button, self.mask_button):
                widget.configure(state="normal")
        else:
            self._stop_busy()
            self.progress.configure(mode="determinate", value=0)
            self.progress_text.configure(text="failed")
        self.set_status(event.message, error=True)

    def _stop_busy(self) -> None:
        self.stylize_button.configure(state="normal")
        self.cancel_button.configure(state="disabled")
        self.save_button.configure(state="normal" if self.controller.result is not None else "disabled")
        self.root.configure(cursor="")


def _windows_dpi_awareness() -> None:
    """Without it Windows bitmap-stretches the window on HiDPI screens (blurry text)."""
    if sys.platform == "win32":
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.windll.shcore.SetProcessDpiAwareness(1)  # type: ignore[attr-defined]


def main(*, model: str | os.PathLike | None = None, content: str | os.PathLike | None = None,
         style: str | os.PathLike | None = None, device: str = "auto", theme: str = "auto",
         precision: str | None = None) -> int:
    """Open the window (optionally with files chosen) and run until it is closed; `stylexfer gui`."""
    _windows_dpi_awareness()
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
        app.set_style(style)
    root.mainloop()
    # The closed window is cyclic garbage: free it here, on Tk's thread. If the cyclic GC ran it on the
    # still-busy worker thread, Tcl would abort the process (Tcl_AsyncDelete from the wrong thread).
    del app, root
    gc.collect()
    return 0

