"""What the GUI's worker threads tell the window (through the controller's queue), and the one line
the status bar shows for any exception. No Tk here."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from stylexfer.errors import StylexferError, one_line
from stylexfer.inference import RequestError

# The window's names for the request fields it sets (sizes and tiling keep their defaults), for the API's messages.
GUI_NAMES = {"alpha": "the Alpha slider value", "styles": "a style image (Style… button or the gallery)",
             "style_weights": "the style weights", "mask": "the mask (Mask… button)",
             "preserve_color": "Preserve colour", "device": "--device"}
OWN_LIMIT = sys.maxsize  # our own messages are shown whole (they name the file and what to do)


@dataclass(frozen=True)
class ModelLoaded:
    """The model file was read; `needs_style` False (a fixed-style family) means the style picker is unused.
    warnings: one line each, what Python's warnings said while it loaded (random VGG weights …)."""

    path: Path
    kind: str
    needs_style: bool
    description: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    """`done` of `total` steps of `stage` finished: "styles" (encodings), "tiles" (a tiled image:
    every tile is read twice, statistics then stylization, for whole-image statistics), "image" (one pass, (1, 1)) or
    "frames" (a video being written; total: the frames the clip declares, 0 when it does not)."""

    done: int
    total: int
    stage: str = "tiles"


@dataclass(frozen=True)
class Result:
    """A finished stylization: an RGB image of the content's size, and the content as it went in."""

    image: Image.Image
    content: Path
    seconds: float
    before: Image.Image | None = None


@dataclass(frozen=True)
class VideoSaved:
    """A whole clip written to `path`; warnings: one line each (odd sizes padded, audio dropped)."""

    path: Path
    frames: int
    seconds: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failed:
    """A job that failed; `message` is one line for the status bar. action: "load", "stylize" or
    "video" (writing a clip: nothing was written)."""

    message: str
    action: str


@dataclass(frozen=True)
class Stopped:
    """A stylization or a video being written ended by Cancel: no result, nothing written."""

    content: Path
    seconds: float


@dataclass(frozen=True)
class Thumbnail:
    """A gallery thumbnail (None: the file is not a usable image; `error` says why)."""

    generation: int
    path: Path
    image: Image.Image | None
    error: str = ""


Event = ModelLoaded | Progress | Result | VideoSaved | Failed | Stopped | Thumbnail


class Cancelled(Exception):  # noqa: N818 (a signal, not an error)
    """Raised inside the worker (from the progress callback or between steps) when Cancel was pressed."""


def user_line(err: BaseException) -> str:
    """The status bar's line for any exception: ours verbatim (a request's in the window's names),
    anything else named as unexpected."""
    if isinstance(err, RequestError):
        return one_line(StylexferError(err.render(GUI_NAMES)), limit=OWN_LIMIT)
    if isinstance(err, StylexferError):
        return one_line(err, limit=OWN_LIMIT)
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return "not enough memory for this image; pick a smaller content image or close other programs"
    return f"unexpected error ({one_line(err, with_type=True)}); please report it"


def warning_lines(caught: Iterable[warnings.WarningMessage]) -> tuple[str, ...]:
    """The first line of each caught warning, once each, in order (warnings without text left out)."""
    return tuple(dict.fromkeys(one_line(Warning(str(w.message)), limit=OWN_LIMIT) for w in caught
                               if str(w.message).strip()))
