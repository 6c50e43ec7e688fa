"""Folder throughput: a folder of equal-sized images with one style goes through the network in
batches of --batch-size (one network call per batch), with the same pictures as one at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_factories import save_johnson_ckpt
from stylexfer.cli import main
from stylexfer.inference import Stylizer


def _png(path: Path, seed: int, size=(32, 32)) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.slow
def test_a_folder_runs_in_batches_of_batch_size(tmp_path, capsys, monkeypatch) -> None:
    model = save_johnson_ckpt(tmp_path / "mosaic.ckpt")
    folder = tmp_path / "in"
    for i in range(5):
        _png(folder / f"a{i}.png", i)
    _png(folder / "z.png", 9, size=(48, 40))  # another size: a batch of its own
    batches: list[int] = []
    run = Stylizer.run

    def counting(self, request, content, styles=None, **kwargs):  # noqa: ANN001, ANN202
        batches.append(content.shape[0])
        return run(self, request, content, styles, **kwargs)

    monkeypatch.setattr(Stylizer, "run", counting)
    assert main(["stylize", str(folder), "--model", str(model), "--out", str(tmp_path / "b2"),
                 "--batch-size", "2", "--quiet", "--device", "cpu"]) == 0
    assert batches == [2, 2, 1, 1]
    batches.clear()
    assert main(["stylize", str(folder), "--model", str(model), "--out", str(tmp_path / "b1"),
                 "--quiet", "--device", "cpu"]) == 0
    assert batches == [1] * 6  # the default: one at a time
    batches.clear()
    assert main(["stylize", str(folder), "--model", str(model), "--out", str(tmp_path / "b8"),
                 "--batch-size", "8", "--quiet", "--device", "cpu"]) == 0
    assert batches == [5, 1]
    capsys.readouterr()
    for name in [f"a{i}__mosaic.png" for i in range(5)] + ["z__mosaic.png"]:
        one = np.asarray(Image.open(tmp_path / "b1" / name), dtype=int)
        for other in ("b2", "b8"):
            assert np.abs(np.asarray(Image.open(tmp_path / other / name), dtype=int) - one).max() <= 1


@pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")
def test_batched_adain_encodes_the_style_once(tmp_path, capsys, monkeypatch) -> None:
    from model_factories import adain_net, save_adain_ckpt
    from stylexfer.families.adain.runner import AdaINRunner

    model = save_adain_ckpt(tmp_path / "adain.ckpt", adain_net())
    folder = tmp_path / "in"
    for i in range(4):
        _png(folder / f"p{i}.png", i)
    style = _png(tmp_path / "style.png", 7, size=(40, 40))
    shapes: list[int] = []
    encode = AdaINRunner._encode

    def counting(self, images):  # noqa: ANN001, ANN202
        shapes.append(images.shape[0])
        return encode(self, images)

    monkeypatch.setattr(AdaINRunner, "_encode", counting)
    assert main(["stylize", str(folder), "--style", str(style), "--model", str(model), "--out",
                 str(tmp_path / "out"), "--batch-size", "4", "--quiet", "--device", "cpu"]) == 0
    assert shapes == [1, 4]  # the style once, then all four contents in one call
    capsys.readouterr()
