"""A video content in the GUI: its first frame (the preview that Stylize stylizes) and the job that
writes the whole clip on the controller's worker thread, with the settings of that preview
(inference.stylize_video: streaming, a temporary file renamed at the end), a Progress event per frame
and Cancel between frames; a cancelled or failed clip leaves no file at all. No Tk here."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from stylexfer.errors import StylexferError, display_path
from stylexfer.files.video import VideoInfo, VideoReader, output_suffixes
from stylexfer.gui.events import Event, Progress, VideoSaved, user_line, warning_lines
from stylexfer.inference import FrameStream, Stylizer, StylizeRequest, stylize_video
from stylexfer.nets.codes import StyleCode

# Writing a clip: `--smooth` of the CLI (off there by default). 0.5 halves the frame-to-frame pumping
# of the normalisation statistics (README, Video: the lowest flicker figure of the measured
# settings) while following real changes within a few frames; 0.9 lags behind flashes.
VIDEO_SMOOTH = 0.5
VIDEO_BATCH = 1  # frames per network call, as the CLI's default: progress and Cancel after every frame

Prepared = tuple[Stylizer, StylizeRequest, list[StyleCode]]


def first_frame(path: str | os.PathLike) -> tuple[Image.Image, VideoInfo]:
    """A clip's first frame as an RGB image and what the clip declares; VideoError (one line) if the
    file is not a usable video or PyAV is missing."""
    with VideoReader(path) as reader:
        return Image.fromarray(next(reader.frames())), reader.info  # no frames: VideoError, not StopIteration


def check_target(path: str | os.PathLike, content: Path, *, overwrite: bool) -> Path:
    """The name the clip will be written to, checked before anything starts; StylexferError (one line)
    for a name that is not a video's, the content itself, or (without overwrite) an existing file."""
    target = Path(path)
    shown = display_path(target)
    if target.suffix.lower() not in output_suffixes():
        raise StylexferError(f"{shown}: not a video file name; end it in {', '.join(output_suffixes())}")
    if target.absolute() == content.absolute() or (target.exists() and target.samefile(content)):
        raise StylexferError(f"{shown}: that is the content video itself; choose another name")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise StylexferError(f"{shown}: already exists; choose another name")
    return target


def write_clip(content: Path, target: Path, prepare: Callable[[], Prepared], start: float, *, overwrite: bool,
               put: Callable[[Event], None], frame_progress: Callable[[int, int], None]) -> VideoSaved:
    """The worker's job (in Controller._run): stylize every frame of `content` into `target`.
    prepare: the model, request and style codes (Progress "styles" events); frame_progress:
    stylize_video's callback after each batch (it may raise Cancelled)."""
    try:
        stylizer, request, codes = prepare()
        stream = FrameStream(stylizer, request, codes or None, smooth=VIDEO_SMOOTH)
        # The writer's warnings (odd sizes padded, audio dropped) go to the window, not the terminal.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            report = stylize_video(
                content, target, stream, batch_size=VIDEO_BATCH, overwrite=overwrite, progress=frame_progress,
                started=lambda info: put(Progress(0, info.expected_frames, "frames")))
    except OSError as err:
        reason = err.strerror or user_line(err)
        raise StylexferError(f"{display_path(target)}: cannot write it ({reason}); choose another folder") from err
    texts = warning_lines(w for w in caught if w.category is UserWarning)
    return VideoSaved(target, report.frames, time.perf_counter() - start, texts)
