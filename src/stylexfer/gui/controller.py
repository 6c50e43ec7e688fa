"""State of the GUI and its one worker thread. No Tk here: tests drive it without a display.

Model loading and stylization run on one background thread, one job at a time (a Stylizer is not
thread-safe), and report back through `events`, a queue.Queue that the window drains with `poll()`
from Tk's `after()`. Every failure becomes one `Failed` event with a one-line message;
nothing raises into Tk. Options are checked by the inference API's `StylizeRequest` before anything
starts, and its messages name the window's controls (events.GUI_NAMES).

The model is loaded once per (file, mtime) and reused; each style image is encoded once per
(model, style file, mtime) and the StyleCode cached, so changing alpha, weights or the content
re-encodes nothing. Warnings raised while a model loads (random VGG weights, a model trained with
them) come back as text in `ModelLoaded.warnings`, for the window to show.

Cancel is cooperative: `cancel()` sets a flag that the worker checks between steps (style encodings,
tiles, video frames); the job then ends with a `Stopped` event and no result. Nothing is written by a
stylization: only `save()` writes, through the one atomic writer, and `write_video()`.

A video content previews as its first frame: `stylize` stylizes that frame, `write_video` then the whole
clip with the same settings (video_job). The events are in events.py, the pictures in previews.py.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from PIL import Image

from stylexfer.errors import StylexferError, display_path
from stylexfer.files.images import load_image, save_image, to_pil
from stylexfer.files.naming import output_name
from stylexfer.files.video import VideoInfo, VideoReader
from stylexfer.gui import video_job
from stylexfer.gui.events import (
    Cancelled,
    Event,
    Failed,
    ModelLoaded,
    Progress,
    Result,
    Stopped,
    Thumbnail,
    VideoSaved,
    user_line,
    warning_lines,
)
from stylexfer.gui.prefs import RecentFiles
from stylexfer.gui.previews import FileKey, Thumbnails, content_kind, file_key, gallery_images
from stylexfer.inference import RequestError, Stylizer, StylizeRequest, mask_labels, open_model
from stylexfer.nets.codes import StyleCode
from stylexfer.nets.vgg import RandomWeightsWarning
from stylexfer.registry import get_family

logger = logging.getLogger(__name__)

DEFAULT_SAVE_FOLDER = Path("outputs/stylized")  # where `stylexfer stylize` writes, too
CLOSE_WAIT_S = 30.0  # closing the window waits this long for a cancelled clip to remove its temporary


@dataclass(frozen=True)
class _Job:
    model: Path
    content: Path
    styles: tuple[Path, ...]
    mask: Path | None
    request: StylizeRequest
    video: bool = False  # the content is a clip: the job stylizes its first frame


class Controller:
    """What the GUI shows and does, minus the widgets.

    loader: how a model file becomes a Stylizer (stylexfer.inference.open_model, the one set-up of every
    stylize entry; tests wrap it). device, precision: passed to it (precision only when set).
    recent: the recent-files store (RecentFiles.default() in the app; in memory when None).
    """

    def __init__(self, *, device: str = "auto", loader: Callable[..., Stylizer] = open_model,
                 recent: RecentFiles | None = None, precision: str | None = None) -> None:
        self.device = device
        self.precision = precision
        self.loader = loader
        self.recent = recent if recent is not None else RecentFiles()
        self.events: queue.Queue[Event] = queue.Queue()
        self.thumbnails = Thumbnails()
        self.model_path: Path | None = None
        self.content_path: Path | None = None
        self.styles: list[Path] = []
        self.style_weights: list[float] = []
        self.mask_path: Path | None = None
        self.result: Image.Image | None = None  # last finished stylization (set by poll, on the Tk thread)
        self.before: Image.Image | None = None  # the content that result was made from
        self.stylizing = False  # a stylization or a video being written: one job at a time
        self.writing_video = False
        self.model_kind: str | None = None  # the model's family name once the chosen model has loaded
        saved = self.recent.save_folder
        self.last_save_folder: Path | None = Path(saved) if saved else None
        self.gallery_generation = 0
        self._cancel = threading.Event()
        # Worker-thread state: only the worker reads or writes these after start.
        self._stylizer: Stylizer | None = None
        self._model_key: FileKey | None = None
        self._model_warnings: tuple[str, ...] = ()
        self._style_codes: dict[tuple[FileKey, FileKey], StyleCode] = {}
        self._video_infos: dict[FileKey, VideoInfo] = {}
        self._started_job: _Job | None = None  # the stylization running (Tk thread's view)
        self._result_job: _Job | None = None  # the one that made `result`: what write_video repeats
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------------------ called by the window
    def set_model(self, path: str | os.PathLike) -> None:
        """Remember the model file and load it in the background (a ModelLoaded or Failed event)."""
        model_path = self.model_path = Path(path)
        self.model_kind = None
        self.recent.add("model", model_path)
        self._submit(lambda: self._load_job(model_path))

    def set_content(self, path: str | os.PathLike) -> None:
        self.content_path = Path(path)
        self.recent.add("content", self.content_path)

    def set_style(self, path: str | os.PathLike | None) -> None:
        """Use this one style (None: no style)."""
        self.styles, self.style_weights = [], []
        if path is not None:
            self.add_style(path)

    def add_style(self, path: str | os.PathLike, weight: float = 1.0) -> int:
        """Add a style to the mix (a style already there keeps its place); its index."""
        path = Path(path)
        if path in self.styles:
            return self.styles.index(path)
        self.styles.append(path)
        self.style_weights.append(float(weight))
        self.recent.add("style", path)
        return len(self.styles) - 1

    def remove_style(self, index: int) -> None:
        del self.styles[index], self.style_weights[index]

    def set_style_weight(self, index: int, weight: float) -> None:
        self.style_weights[index] = float(weight)

    def set_mask(self, path: str | os.PathLike | None) -> None:
        """A mask image (one grey level per style, brightest = first style), or None for none."""
        self.mask_path = Path(path) if path is not None else None
        if path is not None:
            self.recent.add("mask", path)

    def request(self, *, alpha: float, preserve_color: bool) -> StylizeRequest:
        """The inference request the current settings make; StylexferError (in the window's terms)
        when they do not fit together. Weights are sent for a mix without a mask; a mask ignores them."""
        n_styles = 0 if self.fixed_style else len(self.styles)
        weights = tuple(self.style_weights) if n_styles > 1 and self.mask_path is None else None
        try:
            request = StylizeRequest(alpha=float(alpha), n_styles=n_styles, style_weights=weights,
                                     mask=self.mask_path, preserve_color=bool(preserve_color))
            if self.model_kind is not None and self.model_path is not None:
                request.check_model(self.model_kind, self.model_path.name)
        except RequestError as err:
            raise StylexferError(user_line(err)) from None
        return request

    def stylize(self, *, alpha: float, preserve_color: bool) -> None:
        """Start a stylization in the background: Progress events, then one Result, Failed or Stopped.

        Raises StylexferError at once when nothing can start (no model or content chosen, already busy,
        options that do not fit together).
        """
        self._check_idle()
        if self.model_path is None:
            raise StylexferError("choose a model file first (Model… button)")
        if self.content_path is None:
            raise StylexferError("choose a content image or video first (Content… button or drop one on the panel)")
        job = _Job(self.model_path, self.content_path, tuple(self.styles), self.mask_path,
                   self.request(alpha=alpha, preserve_color=preserve_color),
                   video=content_kind(self.content_path) == "video")
        self._cancel.clear()
        self.stylizing = True
        self._started_job = job
        self._submit(partial(self._run, "stylize", job.content, partial(self._stylize, job)))

    def _check_idle(self) -> None:
        if self.stylizing:
            what = "a video" if self.writing_video else "an image"
            raise StylexferError(f"already busy with {what}; wait for it to finish or press Cancel")

    @property
    def result_is_video(self) -> bool:
        """The result is a clip's first frame: Save can write the whole clip (write_video)."""
        return self.result is not None and self._result_job is not None and self._result_job.video

    def video_info(self, path: str | os.PathLike) -> VideoInfo:
        """What a clip declares (size, rate, frame count), read once per file version; VideoError."""
        key = file_key(path)
        if key not in self._video_infos:
            with VideoReader(path) as reader:
                self._video_infos[key] = reader.info
        return self._video_infos[key]

    @property
    def fixed_style(self) -> bool:
        """The loaded model's style is built in (styles picked for another model do not count)."""
        return self.model_kind is not None and not get_family(self.model_kind).needs_style

    def image_name(self) -> str:
        """The CLI's name for a stylized image of the current choices: photo__starry-night.png (a mix:
        a+b; a fixed-style model: the model's name)."""
        return self._output_name(self.content_path, self.styles, self.model_path, ".png")

    def video_name(self) -> str:
        """The CLI's name for the stylized clip of the current result: clip__starry-night.mp4 (the
        input's suffix: a video content has one of files.video.VIDEO_SUFFIXES, which the writer takes)."""
        job = self._result_job
        assert job is not None
        return self._output_name(job.content, job.styles, job.model, job.content.suffix.lower())

    def _output_name(self, content: Path | None, styles: Sequence[Path], model: Path | None, ext: str) -> str:
        tags = [] if self.fixed_style else [s.stem for s in styles]
        tags = tags or ([model.stem] if model is not None else [])
        return output_name(content.stem if content is not None else "result", tags, ext)

    def write_video(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Stylize the whole clip whose first frame is the result, with the settings that made it, into
        `path` (format from its suffix) in the background: Progress events ("frames"), then one
        VideoSaved, Failed or Stopped. overwrite: replace an existing file (the Save dialog asked).

        Raises StylexferError at once when nothing can start (no video result, busy, a bad name).
        """
        self._check_idle()
        job = self._result_job
        if not self.result_is_video or job is None:
            raise StylexferError("no video to write: choose a video as the content and Stylize it first")
        target = video_job.check_target(path, job.content, overwrite=overwrite)
        self._cancel.clear()
        self.stylizing = self.writing_video = True
        write = partial(video_job.write_clip, job.content, target, partial(self._prepare, job), overwrite=overwrite,
                        put=self.events.put, frame_progress=self._frame_progress)
        self._submit(partial(self._run, "video", job.content, write))
        return target

    def cancel(self) -> bool:
        """Ask the running stylization to stop at its next step; False when none is running."""
        if not self.stylizing:
            return False
        self._cancel.set()
        return True

    def poll(self) -> list[Event]:
        """Drain the event queue (call from the GUI thread); keeps `result` and `stylizing` current."""
        events: list[Event] = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return events
            if isinstance(event, Result):
                self.result, self.before = event.image, event.before
                self._result_job = self._started_job
                self.stylizing = False
            elif isinstance(event, VideoSaved):
                self.stylizing = self.writing_video = False
                self.last_save_folder = event.path.parent.absolute()
                self.recent.set_save_folder(self.last_save_folder)
            elif isinstance(event, ModelLoaded) and event.path == self.model_path:
                self.model_kind = event.kind
            elif isinstance(event, Stopped) or (isinstance(event, Failed) and event.action != "load"):
                self.stylizing = self.writing_video = False
            elif isinstance(event, Thumbnail) and event.generation != self.gallery_generation:
                continue  # from a folder no longer shown
            events.append(event)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the last result (format from the suffix, atomic); StylexferError with one line if not."""
        if self.result is None:
            raise StylexferError("nothing to save yet: stylize an image first")
        saved = save_image(self.result, path)  # its errors are ImageError lines, disk errors included
        self.last_save_folder = saved.parent.absolute()
        self.recent.set_save_folder(self.last_save_folder)
        return saved

    def input_folders(self) -> set[Path]:
        paths = [self.content_path, self.mask_path, self.model_path, *self.styles]
        return {p.parent.absolute() for p in paths if p is not None}

    def save_folder(self) -> Path:
        """Where the Save dialog opens: the last folder saved to (this session or an earlier one),
        else outputs/stylized (created); never the folder of an input (Enter would drop the result
        among the training images)."""
        last = self.last_save_folder
        if last is not None and last.is_dir() and last.absolute() not in self.input_folders():
            return last
        folder = DEFAULT_SAVE_FOLDER.absolute()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return Path.cwd()
        return folder

    def open_gallery(self, folder: str | os.PathLike, box: int) -> list[Path]:
        """List a folder of style images (ImageError if it has none) and make their thumbnails in the
        background: one Thumbnail event each, in order. A newer gallery drops an older one's events."""
        paths = gallery_images(folder)
        self.recent.add("gallery", folder)
        self.gallery_generation += 1
        threading.Thread(target=self._thumbnail_job, args=(self.gallery_generation, paths, box),
                         name="stylexfer-gui-gallery", daemon=True).start()
        return paths

    def close(self) -> None:
        """Cancel a running stylization, let the worker stop (it is a daemon: exiting never waits,
        except for a clip being written: up to CLOSE_WAIT_S for its current frame, so that it removes
        its temporary file before the process ends)."""
        self._cancel.set()
        self.gallery_generation += 1  # a gallery thread still running stops after its current file
        if self._worker is not None:
            self._jobs.put(None)
            if self.writing_video:
                self._worker.join(CLOSE_WAIT_S)
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

    def _thumbnail_job(self, generation: int, paths: Sequence[Path], box: int) -> None:
        for path in paths:
            if generation != self.gallery_generation:
                return
            try:
                image, _ = self.thumbnails.get(path, box)
                self.events.put(Thumbnail(generation, path, image))
            except Exception as err:
                self.events.put(Thumbnail(generation, path, None, user_line(err)))

    def _load_job(self, path: Path) -> None:
        try:
            stylizer = self._ensure_model(path)
        except Exception as err:  # the worker must survive anything and say it in one line
            logger.debug("loading %s failed", path, exc_info=True)
            self.events.put(Failed(user_line(err), "load"))
            return
        self.events.put(ModelLoaded(path, stylizer.kind, stylizer.needs_style, stylizer.describe(),
                                    self._model_warnings))

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Cancelled

    def _prepare(self, job: _Job) -> tuple[Stylizer, StylizeRequest, list[StyleCode]]:
        """The model, the request as this model takes it (mask read) and the style codes (cached; a
        Progress event each): what a stylization and a video share."""
        stylizer = self._ensure_model(job.model)
        if stylizer.needs_style and not job.styles:
            raise StylexferError(
                f"{display_path(job.model.name)} takes a style: choose a style image "
                "(Style… button or the gallery)"
            )
        request = job.request
        if not stylizer.needs_style:  # a fixed-style model: styles picked for another one do not matter
            request = replace(request, n_styles=0, style_weights=None)
        request.check_model(stylizer.kind, job.model.name)
        if job.mask is not None:
            labels = mask_labels(load_image(job.mask), len(job.styles), name=str(job.mask))
            request = replace(request, mask=labels)
        codes = []
        for i, style in enumerate(job.styles if stylizer.needs_style else ()):
            self._check_cancel()
            codes.append(self._style_code(stylizer, style))
            self.events.put(Progress(i + 1, len(job.styles), "styles"))
        self._check_cancel()
        return stylizer, request, codes

    def _run(self, action: str, content: Path, work: Callable[[float], Event]) -> None:
        """A stylization or a clip on the worker: put the event that `work(start)` returns, else Stopped
        (Cancel) or one Failed line ("stylize" or "video"): the worker must survive anything."""
        start = time.perf_counter()
        try:
            self._check_cancel()
            event = work(start)
        except Cancelled:  # stylize_video removed a clip's temporary file on the way out
            event = Stopped(content, time.perf_counter() - start)
        except Exception as err:
            logger.debug("%s %s failed", action, content, exc_info=True)
            event = Failed(user_line(err), action)
        self.events.put(event)

    def _stylize(self, job: _Job, start: float) -> Result:
        content = video_job.first_frame(job.content)[0] if job.video else load_image(job.content)
        stylizer, request, codes = self._prepare(job)
        # Say what comes next, so a bar full of "styles encoded" does not sit there while the network runs.
        tiled = stylizer.tiles.tile_for(request.tile, content.width * content.height) is not None
        self.events.put(Progress(0, 1, "tiles" if tiled else "image"))
        output = stylizer.run(request, content, codes or None, progress=self._progress)
        self._check_cancel()
        return Result(to_pil(output[0]), job.content, time.perf_counter() - start, content)

    def _progress(self, done: int, total: int) -> None:
        """The inference API's progress callback: report, then stop here if Cancel was pressed."""
        self.events.put(Progress(done, total, "tiles" if total > 1 else "image"))
        self._check_cancel()

    def _frame_progress(self, done: int, expected: int) -> None:
        """stylize_video's callback after each batch; Cancelled raised here ends the clip, no file left."""
        self.events.put(Progress(done, expected, "frames"))
        self._check_cancel()

    def _ensure_model(self, path: Path) -> Stylizer:
        key = file_key(path)
        if self._stylizer is None or key != self._model_key:
            self._stylizer, self._model_key, self._model_warnings = None, None, ()
            self._style_codes.clear()  # codes belong to the encoder that made them
            # Python's warnings are process-wide: while the worker loads, a warning from the Tk thread
            # would be collected here too (Tk code emits none).
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RandomWeightsWarning)  # even where tests ignore it
                options = {"precision": self.precision} if self.precision is not None else {}
                stylizer = self.loader(path, device=self.device, **options)
            self._stylizer, self._model_key = stylizer, key
            ours = [w for w in caught if w.category.__module__.startswith("stylexfer.")]
            self._model_warnings = warning_lines(ours)
            for text in self._model_warnings:
                logger.warning("%s", text)
            for other in caught:  # a library's warning (torch …): the terminal's business, not the window's
                if other not in ours:
                    logger.info("%s: %s", other.category.__name__, other.message)
        return self._stylizer

    def _style_code(self, stylizer: Stylizer, path: Path) -> StyleCode:
        assert self._model_key is not None
        key = (self._model_key, file_key(path))
        if key not in self._style_codes:
            self._style_codes[key] = stylizer.encode_styles([path])[0]
        return self._style_codes[key]
