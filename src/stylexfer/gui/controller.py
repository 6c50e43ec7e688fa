"""State of the GUI and its one worker thread. No Tk here: tests drive it without a display.

The window calls `set_model`, `set_content`, `set_style`, `stylize` and `save`; model loading and
stylization run on one background thread, one job at a time (a Stylizer is not thread-safe), and
report back through `events`, a queue.Queue that the window drains with `poll()` from Tk's `after()`.
Every failure becomes one `Failed` event with a one-line message; nothing raises into Tk.

The model is loaded once per (file, mtime) and reused; each style image is encoded once per
(model, style file, mtime) and the StyleCode cached, so changing alpha or the content re-encodes nothing.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from stylexfer.errors import ImageError, StylexferError
from stylexfer.files.images import load_image, save_image, to_pil
from stylexfer.inference import Stylizer, load_model
from stylexfer.nets.adain import StyleCode

logger = logging.getLogger(__name__)

FileKey = tuple[str, int, int]  # resolved path, mtime in ns, size: a file "version"


# ------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ModelLoaded:
    """The model file was read; `needs_style` False (Johnson) means the style picker is unused."""

    path: Path
    kind: str
    needs_style: bool
    description: str


@dataclass(frozen=True)
class Progress:
    """`done` of `total` steps (tiles) finished; an untiled image reports (1, 1) at the end."""

    done: int
    total: int


@dataclass(frozen=True)
class Result:
    """A finished stylization: an RGB image of the content's size."""

    image: Image.Image
    content: Path
    seconds: float


@dataclass(frozen=True)
class Failed:
    """A job that failed; `message` is one line for the status bar. action: "load" or "stylize"."""

    message: str
    action: str


Event = ModelLoaded | Progress | Result | Failed


@dataclass(frozen=True)
class _StylizeRequest:
    model: Path
    content: Path
    style: Path | None
    alpha: float
    preserve_color: bool


def one_line(err: BaseException) -> str:
    """A one-line message for any exception: ours verbatim, anything else named as unexpected."""
    if isinstance(err, StylexferError):
        lines = str(err).strip().splitlines()
        return lines[0] if lines else type(err).__name__
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return "not enough memory for this image; pick a smaller content image or close other programs"
    text = str(err).strip().splitlines()
    detail = f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__
    return f"unexpected error ({detail}); please report it"


def file_key(path: str | os.PathLike) -> FileKey:
    """Identity of a file's current version; a missing file keeps its path so loading reports it."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return (str(path.absolute()), -1, -1)
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


class Controller:
    """What the GUI shows and does, minus the widgets.

    loader: how a model file becomes a Stylizer (stylexfer.inference.load_model; tests wrap it).
    """

    def __init__(self, *, device: str = "auto", loader: Callable[..., Stylizer] = load_model) -> None:
        self.device = device
        self.loader = loader
        self.events: queue.Queue[Event] = queue.Queue()
        self.model_path: Path | None = None
        self.content_path: Path | None = None
        self.style_path: Path | None = None
        self.result: Image.Image | None = None  # last finished stylization (set by poll, on the Tk thread)
        self.stylizing = False
        # Worker-thread state: only the worker reads or writes these after start.
        self._stylizer: Stylizer | None = None
        self._model_key: FileKey | None = None
        self._style_codes: dict[tuple[FileKey, FileKey], StyleCode] = {}
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------------------ called by the window
    def set_model(self, path: str | os.PathLike) -> None:
        """Remember the model file and load it in the background (a ModelLoaded or Failed event)."""
        model_path = self.model_path = Path(path)
        self._submit(lambda: self._load_job(model_path))

    def set_content(self, path: str | os.PathLike) -> None:
        self.content_path = Path(path)

    def set_style(self, path: str | os.PathLike | None) -> None:
        self.style_path = Path(path) if path is not None else None

    def stylize(self, *, alpha: float, preserve_color: bool) -> None:
        """Start a stylization in the background: Progress events, then one Result or Failed.

        Raises StylexferError at once when nothing can start (no model or content chosen, already busy).
        """
        if self.stylizing:
            raise StylexferError("already stylizing; wait for the current image to finish")
        if self.model_path is None:
            raise StylexferError("choose a model file first (Model… button)")
        if self.content_path is None:
            raise StylexferError("choose a content image first (Content… button)")
        request = _StylizeRequest(self.model_path, self.content_path, self.style_path, float(alpha),
                                  bool(preserve_color))
        self.stylizing = True
        self._submit(lambda: self._stylize_job(request))

    def poll(self) -> list[Event]:
        """Drain the event queue (call from the GUI thread); keeps `result` and `stylizing` current."""
        events: list[Event] = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return events
            if isinstance(event, Result):
                self.result = event.image
                self.stylizing = False
            elif isinstance(event, Failed) and event.action == "stylize":
                self.stylizing = False
            events.append(event)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the last result (format from the suffix, atomic); StylexferError with one line if not."""
        if self.result is None:
            raise StylexferError("nothing to save yet: stylize an image first")
        try:
            return save_image(self.result, path)
        except StylexferError:
            raise
        except OSError as err:
            reason = err.strerror or err
            raise ImageError(f"{path}: cannot write it ({reason}); choose another folder") from err

    @staticmethod
    def preview(path: str | os.PathLike, box: int) -> tuple[Image.Image, tuple[int, int]]:
        """A thumbnail fitting box×box (never enlarged) and the image's full (width, height), EXIF
        orientation applied; ImageError if the file is not a usable image. Big JPEGs decode at 1/2..1/8."""
        image = load_image(path, draft_shorter_side=box)
        size = image.size
        try:  # the header gives the full size when draft decoding shrank it
            with Image.open(path) as header:
                size = header.size
                if header.getexif().get(0x0112) in (5, 6, 7, 8):  # rotated by 90°: width and height swap
                    size = (size[1], size[0])
        except Exception:
            pass
        image.thumbnail((box, box), Image.Resampling.LANCZOS)
        return image, size

    def close(self) -> None:
        """Let the worker finish its current job and stop (it is a daemon: exiting never waits)."""
        if self._worker is not None:
            self._jobs.put(None)
            self._worker = None

    # ------------------------------------------------------------------------------ worker thread
    def _submit(self, job: Callable[[], None]) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run_jobs, name="stylexfer-gui-worker", daemon=True)
            self._worker.start()
        self._jobs.put(job)

    def _run_jobs(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

    def _load_job(self, path: Path) -> None:
        try:
            stylizer = self._ensure_model(path)
        except Exception as err:  # the worker must survive anything and say it in one line
            logger.debug("loading %s failed", path, exc_info=True)
            self.events.put(Failed(one_line(err), "load"))
            return
        self.events.put(ModelLoaded(path, stylizer.kind, stylizer.needs_style, stylizer.describe()))

    def _stylize_job(self, request: _StylizeRequest) -> None:
        start = time.perf_counter()
        try:
            stylizer = self._ensure_model(request.model)
            styles = None
            if stylizer.needs_style:
                if request.style is None:
                    raise StylexferError(
                        f"{request.model.name} is an AdaIN model: choose a style image (Style… button)"
                    )
                styles = [self._style_code(stylizer, request.style)]
            output = stylizer.stylize(request.content, styles, alpha=request.alpha,
                                      preserve_color=request.preserve_color, progress=self._progress)
            image = to_pil(output[0])
        except Exception as err:
            logger.debug("stylizing %s failed", request.content, exc_info=True)
            self.events.put(Failed(one_line(err), "stylize"))
            return
        self.events.put(Result(image, request.content, time.perf_counter() - start))

    def _progress(self, done: int, total: int) -> None:
        self.events.put(Progress(done, total))

    def _ensure_model(self, path: Path) -> Stylizer:
        key = file_key(path)
        if self._stylizer is None or key != self._model_key:
            self._stylizer, self._model_key = None, None
            self._style_codes.clear()  # codes belong to the encoder that made them
            self._stylizer = self.loader(path, device=self.device)
            self._model_key = key
        return self._stylizer

    def _style_code(self, stylizer: Stylizer, path: Path) -> StyleCode:
        assert self._model_key is not None
        key = (self._model_key, file_key(path))
        code = self._style_codes.get(key)
        if code is None:
            code = stylizer.encode_styles([path])[0]
            self._style_codes[key] = code
        return code
