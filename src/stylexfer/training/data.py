"""Content and style streams for training: random pairs of random crops, a fixed validation set.

Every file is decoded by `stylexfer.files.images.load_image` (JPEGs at reduced scale when they are much
larger than needed). A file that cannot be used is skipped, flagged in memory shared with the
loader workers so it is tried only once, and counted; the count is logged. Training draws with
replacement from an endless stream, so a 150,000-step run needs no epoch length.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import math
import multiprocessing
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image, ImageDraw, ImageFilter
from pytorch_lightning.accelerators import CUDAAccelerator
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, StackDataset, get_worker_info

from stylexfer.errors import ImageError, StylexferError, one_line
from stylexfer.files.images import images_under, load_image, save_image, to_tensor
from stylexfer.files.runs import SAMPLE_DATA_DIR
from stylexfer.training.config import DataConfig

log = logging.getLogger(__name__)


class DataError(StylexferError, ValueError):
    """Training data that cannot be used: a missing or empty folder, fewer usable images than a batch."""


def list_images(folders: Sequence[str | os.PathLike], *, key: str) -> list[str]:
    """Every image file under `folders` (recursive, sorted); DataError for a missing or empty folder."""
    files: list[str] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"{key}: {folder} is not a folder; pass an existing folder of images")
        found = [str(p) for p in images_under(folder)]
        if not found:
            raise DataError(
                f"{key}: no images in {folder} (searched recursively for .jpg, .png, .webp, ...); "
                "point it at a folder of images"
            )
        files.extend(found)
    return files


def resize_crop(image: Image.Image, *, resize: int, crop: int, rng: random.Random | None) -> Image.Image:
    """Scale the shorter side to `resize`, then cut a crop×crop square: random with `rng`, else centred.

    Only the cropped region is resampled (Pillow's `box`), so a long panorama never becomes a huge
    intermediate image.
    """
    width, height = image.size
    scale = resize / min(width, height)
    new_w, new_h = max(crop, round(width * scale)), max(crop, round(height * scale))
    if rng is None:
        left, top = (new_w - crop) // 2, (new_h - crop) // 2
    else:
        left, top = rng.randint(0, new_w - crop), rng.randint(0, new_h - crop)
    sx, sy = width / new_w, height / new_h
    box = (left * sx, top * sy, (left + crop) * sx, (top + crop) * sy)
    return image.resize((crop, crop), Image.Resampling.BICUBIC, box=box)


class ImageSource:
    """A list of files plus one shared byte per file marking it unusable.

    The flags live in shared memory, so a file that fails in one loader worker is skipped by all of
    them and by the main process, and `skipped` counts each bad file once.
    """

    def __init__(self, files: Sequence[str], *, name: str, resize: int, crop: int, max_pixels: int) -> None:
        self.files = list(files)
        self.name = name
        self.resize = resize
        self.crop = crop
        self.max_pixels = max_pixels
        self.bad = multiprocessing.RawArray(ctypes.c_byte, max(1, len(self.files)))

    @property
    def skipped(self) -> int:
        # a ctypes array is a buffer; numpy's stubs do not list ctypes arrays among buffer types
        return int(np.frombuffer(self.bad, dtype=np.int8)[: len(self.files)].sum())  # type: ignore[call-overload]

    def load(self, index: int, rng: random.Random | None) -> Tensor | None:
        """(3, crop, crop) in [0, 1], or None after flagging and reporting an unusable file."""
        path = self.files[index]
        try:
            image = load_image(path, draft_shorter_side=self.resize, max_pixels=self.max_pixels)
            return to_tensor(resize_crop(image, resize=self.resize, crop=self.crop, rng=rng))
        except (ImageError, OSError, ValueError, MemoryError) as err:  # never let one file end a run
            if not self.bad[index]:
                self.bad[index] = 1
                log.warning(
                    "skipped unusable %s image (%d skipped so far in %s): %s",
                    self.name,
                    self.skipped,
                    self.name,
                    one_line(err),
                )
            return None

    def usable(self, order: Sequence[int], want: int) -> list[tuple[int, Tensor]]:
        """Decode files in `order` (centre crops) until `want` are usable; fewer if the files run out."""
        found: list[tuple[int, Tensor]] = []
        for index in order:
            if len(found) >= want:
                break
            tensor = self.load(index, rng=None)
            if tensor is not None:
                found.append((index, tensor))
        return found


class RandomCropStream(IterableDataset):
    """An endless stream of random crops of randomly drawn files (with replacement).

    Each loader worker (and each DDP rank) seeds its own generator, so workers never repeat each
    other. An unusable file is skipped and another file drawn.
    """

    def __init__(self, source: ImageSource, *, seed: int, rank: int = 0) -> None:
        super().__init__()
        self.source = source
        self.seed = seed
        self.rank = rank

    def __iter__(self) -> Iterator[Tensor]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        # torch seeds each worker from the main process generator; mix in rank and stream name
        rng = random.Random(f"{self.seed}-{self.rank}-{worker}-{torch.initial_seed()}-{self.source.name}")
        count = len(self.source.files)
        misses = 0
        while True:
            index = rng.randrange(count)
            if self.source.bad[index]:
                misses += 1
                if misses > 100 * count and self.source.skipped >= count:
                    raise DataError(f"every {self.source.name} image is unusable; check the data folders")
                continue
            tensor = self.source.load(index, rng)
            if tensor is not None:
                misses = 0
                yield tensor


class StyleTransferDataModule(pl.LightningDataModule):
    """Random pairs of random crops for training (`{"content": ..., "style": ...}` loaders that
    Lightning zips), and a fixed validation subset, from the validated `data` settings.

    Folder paths that are relative resolve against `base_dir` (the folder the command ran in).
    """

    def __init__(self, data: DataConfig, *, seed: int, base_dir: str | os.PathLike) -> None:
        super().__init__()
        base = Path(base_dir)
        # stream name -> its folders, absolute: logged with the run and stored in checkpoints as such
        self.folders = {
            name: [str((base / p).resolve()) for p in getattr(data, f"{name}_dir")]
            for name in ("content", "style", "val_content", "val_style")
        }
        self.save_hyperparameters(
            dataclasses.asdict(data) | {f"{name}_dir": dirs for name, dirs in self.folders.items()} | {"seed": seed}
        )
        self.data = data
        self.num_workers = min(4, max(1, (os.cpu_count() or 2) // 2)) if data.num_workers < 0 else data.num_workers
        self.seed = seed
        self.sources: dict[str, ImageSource] = {}
        self.val_set: StackDataset | None = None  # fixed {"content", "style"} pairs, decoded once

    def setup(self, stage: str | None = None) -> None:
        """List the folders, flag unusable files met while picking the validation subset, and fail
        with a clear message if fewer usable images than one batch exist. Idempotent."""
        if self.sources:
            return
        data = self.data
        self.sources = {
            name: ImageSource(
                list_images(dirs, key=f"data.{name}_dir"),
                name=name,
                resize=data.resize,
                crop=data.crop,
                max_pixels=int(data.max_megapixels * 1e6),
            )
            for name, dirs in self.folders.items()
            if dirs or not name.startswith("val_")
        }
        content, style = self.sources["content"], self.sources["style"]
        val_content, val_style = self.sources.get("val_content", content), self.sources.get("val_style", style)

        # The validation subset: a fixed shuffle of each folder, first usable files; decoding them
        # also proves that each training stream has at least one batch of usable images.
        need = max(data.val_size, data.batch_size)
        picked = {}
        checks = (
            (content, need, data.batch_size),
            (style, need, data.batch_size),
            (val_content, data.val_size, 1),
            (val_style, data.val_size, 1),
        )
        for source, want, minimum in checks:
            if source.name in picked:
                continue
            order = list(range(len(source.files)))
            random.Random(self.seed).shuffle(order)
            found = source.usable(order, want)
            if len(found) < minimum:
                raise DataError(
                    f"data.{source.name}_dir: only {len(found)} usable image(s) among {len(source.files)} file(s) "
                    f"({source.skipped} unusable); need at least {minimum} "
                    f"(data.batch_size={data.batch_size}); add images or lower data.batch_size"
                )
            picked[source.name] = found
        size = min(data.val_size, len(picked[val_content.name]), len(picked[val_style.name]))
        rows = [torch.stack([t for _, t in picked[source.name][:size]]) for source in (val_content, val_style)]
        # a tensor indexes like a dataset of its rows (torch's stubs ask for a Dataset)
        self.val_set = StackDataset(content=rows[0], style=rows[1])  # type: ignore[arg-type]
        log.info(
            "data: %d content and %d style images, %d fixed validation pairs, %d unusable file(s) skipped",
            len(content.files),
            len(style.files),
            size,
            self.skipped,
        )

    @property
    def skipped(self) -> int:
        """Unusable files met so far, each counted once (all streams, all workers of this process)."""
        return sum(source.skipped for source in self.sources.values())

    def skipped_by_stream(self) -> dict[str, int]:
        return {name: source.skipped for name, source in self.sources.items()}

    def train_dataloader(self) -> dict[str, DataLoader]:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        return {
            name: self._loader(RandomCropStream(self.sources[name], seed=self.seed, rank=rank))
            for name in ("content", "style")
        }

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "setup() first"
        return DataLoader(self.val_set, batch_size=self.data.batch_size, shuffle=False, num_workers=0)

    def _loader(self, dataset: IterableDataset) -> DataLoader:
        pin = self.data.pin_memory
        if pin is None:  # pinned pages only help copies to a GPU
            pin = self.trainer is not None and isinstance(self.trainer.accelerator, CUDAAccelerator)
        workers = self.num_workers
        return DataLoader(
            dataset,
            batch_size=self.data.batch_size,
            num_workers=workers,
            pin_memory=pin,
            persistent_workers=self.data.persistent_workers and workers > 0,
            prefetch_factor=self.data.prefetch_factor if workers > 0 else None,
        )


# --------------------------------------------------------------------------- generated sample set


def sample_data(root: str | os.PathLike, *, count: int = 24, size: int = 320) -> tuple[Path, Path]:
    """Make (once) a small procedural data set under `root`: `count` content "photos" (sky, ground,
    sun, buildings, trees) and `count // 2` style "paintings" (stripes, mosaics, waves, strokes).

    Deterministic, so every DDP rank and every resumed run sees the same images. Returns
    (content_dir, style_dir).
    """
    root = Path(root) / SAMPLE_DATA_DIR
    content_dir, style_dir = root / "content", root / "style"
    done = root / f".complete-{count}-{size}"
    if done.is_file():
        return content_dir, style_dir
    for i in range(count):
        path = content_dir / f"content_{i:03d}.png"
        if not path.is_file():
            save_image(_scene(random.Random(1000 + i), size), path)
    for i in range(max(2, count // 2)):
        path = style_dir / f"style_{i:03d}.png"
        if not path.is_file():
            save_image(_painting(random.Random(2000 + i), i, size), path)
    done.touch()
    return content_dir, style_dir


def _color(rng: random.Random, lo: int = 0, hi: int = 255) -> tuple[int, int, int]:
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def _scene(rng: random.Random, size: int) -> Image.Image:
    """A landscape-like picture with a horizon, a sun, buildings and trees, plus sensor noise."""
    width, height = size + rng.randint(0, size // 2), size
    horizon = int(height * rng.uniform(0.45, 0.7))
    yy = np.linspace(0, 1, horizon)[:, None, None]
    top, bottom = np.array(_color(rng, 40, 200)), np.array(_color(rng, 150, 255))
    sky = (top * (1 - yy) + bottom * yy).repeat(width, axis=1)
    ground = np.empty((height - horizon, width, 3))
    ground[:] = np.array(_color(rng, 20, 160))
    image = Image.fromarray(np.concatenate([sky, ground]).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    r = rng.randint(size // 16, size // 6)
    cx, cy = rng.randint(r, width - r), rng.randint(r, horizon)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_color(rng, 180, 255))
    for _ in range(rng.randint(2, 6)):  # buildings
        w, h = rng.randint(size // 12, size // 4), rng.randint(size // 8, size // 2)
        x = rng.randint(0, width - w)
        draw.rectangle((x, horizon - h, x + w, horizon), fill=_color(rng, 30, 220))
        for wy in range(horizon - h + 6, horizon - 6, 14):
            for wx in range(x + 4, x + w - 6, 12):
                draw.rectangle((wx, wy, wx + 5, wy + 6), fill=_color(rng, 200, 255))
    for _ in range(rng.randint(1, 5)):  # trees
        x, y, s = rng.randint(0, width), rng.randint(horizon, height), rng.randint(size // 20, size // 8)
        draw.rectangle((x - s // 6, y - s, x + s // 6, y), fill=(90, 60, 30))
        draw.ellipse((x - s, y - 2 * s, x + s, y - s // 2), fill=_color(rng, 0, 150))
    pixels = np.asarray(image, dtype=np.float32)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 6, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), "RGB")


def _painting(rng: random.Random, kind: int, size: int) -> Image.Image:
    """A texture with strong colour statistics: stripes, a Voronoi mosaic, waves or brush strokes."""
    width, height = size, size + rng.randint(0, size // 3)
    palette = [_color(rng) for _ in range(rng.randint(3, 6))]
    kind %= 4
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 0:  # stripes at an angle
        angle, period = rng.uniform(0, math.pi), rng.uniform(8, 40)
        band = ((xx * math.cos(angle) + yy * math.sin(angle)) // period).astype(int) % len(palette)
        pixels = np.array(palette, dtype=np.float32)[band]
    elif kind == 1:  # Voronoi mosaic with dark grout
        n = rng.randint(30, 120)
        seeds = np.array(
            [(rng.uniform(0, width), rng.uniform(0, height)) for _ in range(n)], dtype=np.float32
        )
        dist = (xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2
        order = np.sort(dist, axis=-1)
        colors = np.array([palette[rng.randrange(len(palette))] for _ in range(n)], dtype=np.float32)
        pixels = colors[np.argmin(dist, axis=-1)]  # each pixel takes its nearest seed's colour
        grout = (np.sqrt(order[..., 1]) - np.sqrt(order[..., 0])) < 2.0
        pixels[grout] = 30
    elif kind == 2:  # interfering waves
        fx, fy = rng.uniform(0.02, 0.12), rng.uniform(0.02, 0.12)
        wave = np.sin(xx * fx + np.sin(yy * fy) * 3) + np.cos(yy * fy * 1.7 + xx * fx * 0.3)
        t = (wave - wave.min()) / (np.ptp(wave) + 1e-6)
        a, b = np.array(palette[0], dtype=np.float32), np.array(palette[1], dtype=np.float32)
        pixels = a * t[..., None] + b * (1 - t[..., None])
    else:  # brush strokes
        image = Image.new("RGB", (width, height), palette[0])
        draw = ImageDraw.Draw(image)
        for _ in range(400):
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            angle, length = rng.uniform(0, math.pi), rng.uniform(10, 40)
            dx, dy = math.cos(angle) * length, math.sin(angle) * length
            draw.line(
                (x - dx, y - dy, x + dx, y + dy),
                fill=palette[rng.randrange(len(palette))],
                width=rng.randint(3, 9),
            )
        return image.filter(ImageFilter.SMOOTH)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
