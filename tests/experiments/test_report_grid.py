"""The report's grid.png: labels sized to their text (no fixed 300-px margin), thumbnails of at least
128 px, and no more than 20% empty (background) space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stylexfer.experiments.report import Job, _grid


def _picture(colour: tuple[float, float, float], size: tuple[int, int] = (32, 32)) -> torch.Tensor:
    image = torch.rand(1, 3, *size) * 0.3
    return image + torch.tensor(colour).view(1, 3, 1, 1) * 0.7


def _make(tmp_path: Path, labels: list[list[str]], columns: int = 3) -> Image.Image:
    jobs = [Job(folder=tmp_path / str(i), name=str(i), overrides=o) for i, o in enumerate(labels)]
    inputs = [(_picture((1.0, 0.0, 0.0)), _picture((0.0, 0.0, 1.0))) for _ in range(columns)]
    by_folder = {job.folder: [_picture((0.0, 1.0, 0.0)) for _ in range(columns)] for job in jobs}
    by_folder[jobs[-1].folder] = None  # a job without a checkpoint: grey tiles that say so
    path = tmp_path / f"grid{len(labels[0])}.png"
    _grid(path, jobs, {"_inputs": inputs, "_by_folder": by_folder})
    return Image.open(path).convert("RGB")


def test_the_grid_is_mostly_pictures_with_labels_sized_to_their_text(tmp_path: Path) -> None:
    grid = _make(tmp_path, [["lambda=1"], ["lambda=10"], ["lambda=5"]])
    pixels = np.asarray(grid)
    empty = (pixels == 255).all(axis=2).mean()
    assert empty <= 0.20, f"{empty:.0%} of the grid is empty"
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 100) & (pixels[..., 2] < 100)  # the content thumbnails
    rows, cols = np.nonzero(red)
    first_row = cols[rows == rows.min()]
    assert first_row.min() < 20, "no wide margin to the left of the pictures"
    runs = np.split(first_row, np.nonzero(np.diff(first_row) > 1)[0] + 1)
    assert len(runs) == 3 and all(len(run) >= 128 for run in runs), [len(r) for r in runs]


def test_a_long_label_is_wrapped_in_full_not_cut(tmp_path: Path) -> None:
    short = _make(tmp_path, [["lambda=1"], ["lambda=2"]])
    long_label = [f"model.some_setting_{i}=value_{i}" for i in range(12)]
    long = _make(tmp_path, [long_label, ["lambda=2"]])
    assert long.width == short.width  # the label wraps within the pictures' width
    assert long.height > short.height  # ... over as many lines as it needs
