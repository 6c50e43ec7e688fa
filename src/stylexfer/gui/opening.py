"""How files reach the window: the Open… and Save… dialogs and drag and drop. Each ends in one of the
window's setters (`app.set_model`, `app.set_content`, `app.mix.set_style` …), which tests call directly.

Tests drive it without dialogs: the `ask_*` attributes are the dialog functions (replace them)."""

from __future__ import annotations

import contextlib
import tkinter as tk
from collections.abc import Callable
from functools import partial
from pathlib import Path
from tkinter import filedialog
from typing import Any

from stylexfer.errors import display_path
from stylexfer.files.images import IMAGE_SUFFIXES
from stylexfer.files.video import VIDEO_SUFFIXES, output_suffixes
from stylexfer.gui import look
from stylexfer.gui.previews import CONTENT_KINDS, content_kind
from stylexfer.gui.window import Window

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pth", ".pt")
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


class Opener:
    """The dialogs (`choose_*`, for buttons, menus and shortcuts) and the drops of one window."""

    def __init__(self, app: Window) -> None:
        self.app = app
        self.ask_open_file: Callable[..., str] = filedialog.askopenfilename
        self.ask_folder: Callable[..., str] = filedialog.askdirectory
        self.ask_save_file: Callable[..., str] = filedialog.asksaveasfilename

    # ------------------------------------------------------------------------------------ dialogs
    def choose_model(self) -> None:
        self._open("model", "Choose a model file", MODEL_TYPES, self.app.set_model)

    def choose_content(self) -> None:
        self._open("content", "Choose a content image or video", CONTENT_TYPES, self.app.set_content)

    def choose_style(self) -> None:
        self._open("style", "Choose a style image", IMAGE_TYPES, self.app.mix.set_style)

    def choose_gallery(self) -> None:
        path = self.ask_folder(parent=self.app.root, title="Choose a folder of style images",
                               initialdir=self._initial_dir("gallery", folder=True))
        if path:
            self.app.gallery.open(path)

    def choose_mask(self) -> None:
        self._open("mask", "Choose a mask (one grey level per style)", IMAGE_TYPES, self.app.mix.set_mask)

    def choose_save(self) -> None:
        app, controller = self.app, self.app.controller
        if controller.writing_video:
            app.set_status("Already writing a video; wait for it or press Cancel.", error=True)
            return
        if controller.result is None:
            app.set_status("Nothing to save yet: stylize an image first.", error=True)
            return
        if controller.result_is_video:
            title, types, name = "Save the stylized video", VIDEO_SAVE_TYPES, controller.video_name()
        else:
            title, types, name = "Save the result", SAVE_TYPES, controller.image_name()
        path = self.ask_save_file(parent=app.root, title=title, filetypes=types, defaultextension=Path(name).suffix,
                                  initialfile=name, initialdir=str(controller.save_folder()))
        if path:
            app.save(path)

    def _open(self, kind: str, title: str, filetypes: list[tuple[str, str]], use: Callable[[str], None]) -> None:
        """An Open… dialog in the folder of the newest recent file of `kind`; `use` gets the chosen file."""
        path = self.ask_open_file(parent=self.app.root, title=title, filetypes=filetypes,
                                  initialdir=self._initial_dir(kind))
        if path:
            use(path)

    def _initial_dir(self, kind: str, *, folder: bool = False) -> str:
        recent = self.app.controller.recent.get(kind)
        if not recent:
            return str(Path.cwd())
        return str(recent[0] if folder else recent[0].parent)

    # -------------------------------------------------------------------------------------- drops
    def register(self, widget: tk.Misc, target: str) -> None:
        """Make `widget` a drop target for `target` (see drop); nothing without tkdnd."""
        with contextlib.suppress(tk.TclError, AttributeError):
            widget.drop_target_register(look.tkdnd.DND_FILES)  # type: ignore[attr-defined]
            widget.dnd_bind("<<Drop>>", partial(self.dropped, target))  # type: ignore[attr-defined]

    def register_panels(self, targets: dict[str, tk.Misc]) -> None:
        """Each panel, down to its picture, a drop target for its name."""
        for target, frame in targets.items():
            for widget in (frame, *look.descendants(frame)):
                self.register(widget, target)

    def dropped(self, target: str, event: Any) -> str:
        """tkdnd's handler: event.data is one Tcl list of paths (braces around names with spaces)."""
        self.drop(target, self.app.root.tk.splitlist(event.data))
        return str(look.tkdnd.COPY)

    def drop(self, target: str, paths: list[str] | tuple[str, ...]) -> None:
        """Files dropped on a panel ("content", "style", "result", "gallery", "mask"): a model file
        loads the model wherever it lands; a folder on the style side opens the gallery; images go where
        they were dropped (several on the style side make a mix)."""
        app = self.app
        files = [Path(p) for p in paths if p]
        models = [p for p in files if p.suffix.lower() in MODEL_SUFFIXES and p.is_file()]
        folders = [p for p in files if p.is_dir()]
        kinds = {p: content_kind(p) for p in files if p not in models and p not in folders}
        images = [p for p, kind in kinds.items() if kind == "image"]
        videos = [p for p, kind in kinds.items() if kind == "video"]
        unknown = [p for p, kind in kinds.items() if kind is None]
        if models:
            app.set_model(models[0])
        if folders and target in ("style", "gallery", "mask"):
            app.gallery.open(folders[0])
        elif folders:
            app.set_status(f"{display_path(folders[0])}: a folder; drop it on the Style panel or the gallery "
                           "to browse its styles, or drop one image here", error=True)
        if images:
            if target in ("content", "result"):
                app.set_content(images[0])
            elif target == "mask":
                app.mix.set_mask(images[0])
            elif len(images) == 1 and target == "style":
                app.mix.set_style(images[0])
            else:
                for image in images:
                    app.mix.add_style(image)
        if videos and target in ("content", "result"):
            app.set_content(videos[0])
        elif videos and not (models or images or folders):
            app.set_status(f"{display_path(videos[0].name)}: a video can only be the content; drop it on the "
                           "Content panel", error=True)
        if unknown and not (models or images or folders or videos):
            suffixes = ", ".join(IMAGE_SUFFIXES[:5])
            app.set_status(f"{display_path(unknown[0].name)}: not an image ({suffixes} …), a video "
                           f"({', '.join(VIDEO_SUFFIXES[:3])} …) or a model file ({', '.join(MODEL_SUFFIXES)})",
                           error=True)

