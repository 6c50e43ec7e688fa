"""Shared helpers for the training tests: tiny images, tiny configs, subprocess runs, TensorBoard reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

# A few-second run: random VGG, 32 px crops, 2 images a batch, everything in the main process.
TINY = [
    "model.vgg_weights=random",
    "data.resize=40",
    "data.crop=32",
    "data.batch_size=2",
    "data.val_size=2",
    "data.num_workers=0",
    "data.sample_images=4",
    "trainer.max_steps=2",
    "trainer.log_every_n_steps=1",
    "trainer.val_check_interval=2",
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false",
    "checkpoint.every_n_steps=1",
    "checkpoint.last_every_n_steps=1",
    "logger.grid_images=2",
]
TINY_JOHNSON = ["model=johnson", *TINY, "model.style_size=32"]


def override(overrides: list[str], **values: object) -> list[str]:
    """`overrides` with `key=value` pairs replaced or added (keys use `__` for `.`)."""
    pairs = {key.replace("__", "."): value for key, value in values.items()}
    kept = [item for item in overrides if item.split("=", 1)[0] not in pairs]
    return kept + [f"{key}={value}" for key, value in pairs.items()]


def make_images(
    folder: Path, count: int, *, size: tuple[int, int] = (48, 40), seed: int = 0, prefix: str = "img"
) -> list[Path]:
    """`count` small RGB PNGs with smooth random colours (not constant, so losses are non-trivial)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        w, h = size
        base = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
        image = Image.fromarray(base, "RGB").resize((w, h), Image.Resampling.BILINEAR)
        path = folder / f"{prefix}_{i:03d}.png"
        image.save(path)
        paths.append(path)
    return paths


def train_command(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "stylexfer.train", *overrides]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def run_train(*overrides: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """`python -m stylexfer.train <overrides>` in `cwd`; stdout and stderr captured as text."""
    return subprocess.run(
        train_command(*overrides),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_env(),
    )


def scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in the TensorBoard event files under `logdir`: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for events in sorted({p.parent for p in Path(logdir).rglob("events.out.tfevents.*")}):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0, "images": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


def image_tags(logdir: Path) -> list[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: list[str] = []
    for events in sorted({p.parent for p in Path(logdir).rglob("events.out.tfevents.*")}):
        acc = EventAccumulator(str(events), size_guidance={"images": 0})
        acc.Reload()
        tags.extend(acc.Tags()["images"])
    return tags


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width×height RGB pixels but holds almost none."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)  # a sliver of the pixel data the header promises
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_broken_files(folder: Path, *, size: tuple[int, int] = (48, 40)) -> tuple[list[Path], list[Path]]:
    """Each kind of troublesome file the training data may hold.

    Returns (unusable, convertible): corrupt, truncated, zero-byte, not-an-image and over-100-megapixel
    files must be skipped; grayscale, CMYK, palette, 16-bit and RGBA images must be used as RGB.
    """
    import io

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    jpeg = io.BytesIO()
    rgb.save(jpeg, format="JPEG", quality=90)
    unusable = {
        "corrupt.jpg": rng.integers(0, 255, 3000, dtype=np.uint8).tobytes(),
        "truncated.jpg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
        "zero_bytes.png": b"",
        "not_an_image.png": b"this is a text file with an image name\n",
        "giant_120mp.png": _png_header(12_000, 10_000),
    }
    for name, data in unusable.items():
        (folder / name).write_bytes(data)
    rgb.convert("L").save(folder / "gray.png")
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    rgb.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    wide = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(wide).save(folder / "sixteen_bit.png")  # uint16 -> mode I;16
    rgba = rgb.copy()
    rgba.putalpha(128)
    rgba.save(folder / "rgba.png")
    (folder / "notes.txt").write_text("not an image suffix: never listed\n")
    convertible = ["gray.png", "cmyk.jpg", "palette.png", "sixteen_bit.png", "rgba.png"]
    return [folder / n for n in unusable], [folder / n for n in convertible]


def train_in_process(tmp: Path, overrides: list[str], name: str = "run") -> Any:
    """One training run in this process (Hydra composed, warnings silenced), into tmp/name; its RunResult."""
    import warnings

    from stylexfer.training.run import compose_config, run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(compose_config(overrides), output_dir=tmp / name, base_dir=tmp)


def make_data_root(root: Path) -> Path:
    """Four content and three style images under root/content and root/style (the tiny runs' data)."""
    make_images(root / "content", 4, seed=1)
    make_images(root / "style", 3, seed=2, size=(40, 56))
    return root
