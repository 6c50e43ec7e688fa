"""Pictures for the GUI's panels, without Tk: what kind of file a content is, previews decoded once per
file version, the gallery's file list, fitting a picture to a box and the before/after comparison."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image, ImageDraw

from stylexfer.errors import ImageError, display_path
from stylexfer.files.images import IMAGE_SUFFIXES, is_image_file, load_image
from stylexfer.files.video import VIDEO_SUFFIXES, is_video_file
from stylexfer.gui.video_job import first_frame

FileKey = tuple[str, int, int]  # resolved path, mtime in ns, size: a file "version"
MAX_GALLERY = 200  # thumbnails shown from one style folder
# What the content picker accepts, by kind; the window builds its dialog filter and its drop test
# from this table. ".gif" is in both: one with several frames is a video (is_video_file).
CONTENT_KINDS: dict[str, tuple[str, ...]] = {"image": IMAGE_SUFFIXES, "video": VIDEO_SUFFIXES}


def content_kind(path: str | os.PathLike) -> str | None:
    """The CONTENT_KINDS key a file belongs to (by suffix; a .gif by its frame count), or None."""
    if is_video_file(path):
        return "video"
    suffix = Path(path).suffix.lower()
    return next((kind for kind, suffixes in CONTENT_KINDS.items() if suffix in suffixes), None)


def file_key(path: str | os.PathLike) -> FileKey:
    """Identity of a file's current version; a missing file keeps its path so loading reports it."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return (str(path.absolute()), -1, -1)
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def gallery_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in `folder`, by name (at most MAX_GALLERY); ImageError if none."""
    folder = Path(folder)
    shown = display_path(folder)
    try:
        names = sorted(p for p in folder.iterdir() if is_image_file(p) and p.is_file())
    except NotADirectoryError:
        raise ImageError(f"{shown}: not a folder; pick a folder of style images") from None
    except OSError as err:
        raise ImageError(f"{shown}: cannot list it ({err.strerror or err})") from None
    if not names:
        raise ImageError(f"{shown}: no images in it ({', '.join(IMAGE_SUFFIXES[:4])} …)")
    return names[:MAX_GALLERY]


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """A copy of `image` scaled to fit width×height, aspect kept, never enlarged beyond 4×."""
    scale = min(width / image.width, height / image.height, 4.0)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size == image.size:
        return image.copy()
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    return image.resize(size, resample)


def compare(before: Image.Image, after: Image.Image, split: float, *, line: tuple[int, int, int] | None
            = (255, 255, 255)) -> Image.Image:
    """Before/after: `before` (scaled to `after`'s size) left of `split` (0..1 of the width), `after`
    right of it, and a 1-px divider `line` (None: none) at the boundary unless it is at an edge."""
    before = before.convert("RGB")
    if before.size != after.size:
        before = before.resize(after.size, Image.Resampling.LANCZOS)
    x = round(max(0.0, min(1.0, split)) * after.width)
    out = after.convert("RGB").copy()
    if x > 0:
        out.paste(before.crop((0, 0, x, after.height)), (0, 0))
    if line is not None and 0 < x < after.width:
        ImageDraw.Draw(out).line([(x, 0), (x, after.height - 1)], fill=line)
    return out


class Thumbnails:
    """Previews of image files, decoded once per file version at up to `base` px (the panel sizes
    change with the window; re-fitting the cached copy costs milliseconds, decoding a JPEG does not)."""

    def __init__(self, base: int = 1024, capacity: int = 48) -> None:
        self.base, self.capacity = base, capacity
        self._cache: OrderedDict[FileKey, tuple[Image.Image, tuple[int, int]]] = OrderedDict()
        self._lock = threading.Lock()  # the gallery thread fills it too

    def source(self, path: str | os.PathLike) -> tuple[Image.Image, tuple[int, int]]:
        """The cached copy (≤ base px) and the image's full (width, height); ImageError if unusable."""
        key = file_key(path)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        entry = _decode_preview(path, self.base)
        with self._lock:
            self._cache[key] = entry
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return entry

    def get(self, path: str | os.PathLike, width: int, height: int | None = None
            ) -> tuple[Image.Image, tuple[int, int]]:
        """A thumbnail fitting width×(height or width) and the image's full (width, height), EXIF
        orientation applied; ImageError if the file is not a usable image."""
        image, size = self.source(path)
        return fit(image, width, height or width), size


def _decode_preview(path: str | os.PathLike, box: int) -> tuple[Image.Image, tuple[int, int]]:
    if Path(path).suffix.lower() not in IMAGE_SUFFIXES and content_kind(path) == "video":
        frame, _ = first_frame(path)  # a .gif stays with Pillow: its first frame, without PyAV
        size = frame.size
        frame.thumbnail((box, box), Image.Resampling.LANCZOS)
        return frame, size
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
