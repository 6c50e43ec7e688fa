"""One set-up for every stylize entry: files, a folder, stdin, a video, a contact sheet and the GUI
controller all load their model through stylexfer.inference.open_model, so a non-default precision,
device (and size, where the entry has one) take effect in each (the stdin path used to drop --precision)."""

from __future__ import annotations

import io
import sys
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from clips import make_clip
from model_factories import save_johnson_ckpt
from stylexfer.cli import main
from stylexfer.inference import stylizer as stylizer_module

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]  # emulated-bf16 warnings


@pytest.fixture
def opened(monkeypatch):
    """Every Stylizer built, as (device asked for, precision it runs in, device it runs on)."""
    seen: list[tuple[str, str, str]] = []
    original = stylizer_module.Stylizer.__init__

    def spy(self, net, spec, *, device="auto", **kwargs):
        original(self, net, spec, device=device, **kwargs)
        seen.append((str(device), self.precision, str(self.device)))

    monkeypatch.setattr(stylizer_module.Stylizer, "__init__", spy)
    return seen


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("entries")
    model = save_johnson_ckpt(root / "model.ckpt")
    rng = np.random.default_rng(0)
    (root / "folder").mkdir()
    for name in ("photo.png", "folder/a.png", "folder/b.png"):
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(root / name)
    clip = make_clip(root / "clip.mp4", frames=3, size=(40, 30))
    return root, model, clip


SETTINGS = ["--precision", "bf16", "--device", "cpu"]


def _shorter_side(path) -> int:
    return min(Image.open(path).size)


def test_file_folder_and_video_entries_take_precision_device_and_size(files, opened, tmp_path):
    root, model, clip = files
    assert main(["stylize", str(root / "photo.png"), "--model", str(model), "--out", str(tmp_path / "one.png"),
                 "--size", "20", *SETTINGS]) == 0
    assert _shorter_side(tmp_path / "one.png") == 20
    assert main(["stylize", str(root / "folder"), "--model", str(model), "--out", str(tmp_path / "many"),
                 "--size", "16", *SETTINGS]) == 0
    assert sorted(_shorter_side(p) for p in (tmp_path / "many").iterdir()) == [16, 16]
    assert main(["stylize", str(clip), "--model", str(model), "--out", str(tmp_path / "clip.mp4"),
                 *SETTINGS]) == 0  # video frames keep their size (--size is refused for videos)
    assert (tmp_path / "clip.mp4").stat().st_size > 0
    assert opened == [("cpu", "bf16", "cpu")] * 3


def test_stdin_entry_takes_precision(files, opened, tmp_path, monkeypatch):
    root, model, _ = files

    class Stdin:
        buffer = io.BytesIO((root / "photo.png").read_bytes())

        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", Stdin())
    assert main(["stylize", "-", "--model", str(model), "--out", str(tmp_path / "out.png"), "--size", "24",
                 *SETTINGS]) == 0
    assert _shorter_side(tmp_path / "out.png") == 24
    assert opened == [("cpu", "bf16", "cpu")]  # fp32 before: the stdin path dropped --precision


def test_sheet_entry_takes_precision_and_device(files, opened, tmp_path):
    root, model, _ = files
    assert main(["sheet", str(root / "photo.png"), "--model", str(model), "--out", str(tmp_path / "sheet.png"),
                 "--tile-size", "32", *SETTINGS]) == 0
    assert opened == [("cpu", "bf16", "cpu")]


def test_gui_controller_takes_precision_and_device(files, opened):
    from stylexfer.gui.controller import Controller, Failed, Result

    root, model, _ = files
    controller = Controller(device="cpu", precision="bf16")
    try:
        controller.set_model(model)
        controller.set_content(root / "photo.png")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            controller.stylize(alpha=1.0, preserve_color=False)
            deadline, events = time.monotonic() + 120, []
            while not any(isinstance(e, Result | Failed) for e in events) and time.monotonic() < deadline:
                time.sleep(0.02)
                events += controller.poll()
        assert any(isinstance(e, Result) for e in events), events
    finally:
        controller.close()
    assert opened == [("cpu", "bf16", "cpu")]
