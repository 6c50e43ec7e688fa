"""`make demo`: a short training on the generated sample set, then stylized pictures in the output folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from stylexfer.demo import main, pick_vgg_weights, sample_pictures


@pytest.mark.slow
def test_demo_trains_then_stylizes_the_samples(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        main(
            [
                "--steps",
                "2",
                "--crop",
                "32",
                "--size",
                "48",
                "--weights",
                "random",
                "--out",
                str(tmp_path / "demo"),
            ]
        )
        == 0
    )
    stylized = tmp_path / "demo" / "stylized"
    contents, styles = sample_pictures(tmp_path / "demo" / "train" / "sample_data_v1")
    pictures = [stylized / f"{c.stem}__{s.stem}.png" for c in contents for s in styles]
    assert len(pictures) == 3 * 4 and all(p.is_file() for p in pictures)
    first = Image.open(pictures[0])
    content = Image.open(contents[0])
    assert first.mode == "RGB" and max(first.size) == 48  # the whole picture at --size, not a crop
    assert abs(first.size[0] / first.size[1] - content.size[0] / content.size[1]) < 0.1
    assert Image.open(stylized / "grid.png").size[0] > 4 * 160
    out = capsys.readouterr().out
    assert f"stylized images: {stylized}" in out and "random VGG weights" in out
    assert "stylexfer stylize" in out  # tells the user the command to run next
    assert (tmp_path / "demo" / "train" / "checkpoints" / "last.ckpt").is_file()


def test_demo_uses_named_weights_as_given() -> None:
    assert pick_vgg_weights("random") == "random"
    assert pick_vgg_weights("/some/file.pth") == "/some/file.pth"
