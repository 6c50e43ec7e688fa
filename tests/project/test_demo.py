"""`make demo`: the pretrained model's pictures when it can be had (here: files the test writes, imported
by the real code), one clear paragraph when it cannot, then a short training, its exported model and
pictures, and commands that use the paths it wrote."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import torch
from PIL import Image

from model_factories import orig_adain_pair
from stylexfer import demo
from stylexfer.files import download
from stylexfer.files.download import Asset, PublicModel

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GETTING_STARTED = ROOT / "docs" / "getting-started.md"  # the demo's section
TINY = ["--steps", "2", "--crop", "32", "--size", "48", "--trained-size", "40", "--weights", "random"]


def _unreachable_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """The public AdaIN entry, pointed at a local port nobody listens on: a download fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    entry = PublicModel(
        "adain", (Asset(f"{url}/vgg_normalised.pth", "vgg_normalised.pth"), Asset(f"{url}/decoder.pth", "decoder.pth")),
        "test",
    )
    monkeypatch.setattr(download, "public_models", lambda: {"adain": entry})


def _commands(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("stylexfer ")]


@pytest.mark.slow
def test_offline_demo_says_so_once_then_trains_exports_and_stylizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _unreachable_models(monkeypatch)
    cache, out_dir = tmp_path / "cache", tmp_path / "outputs" / "demo"
    monkeypatch.chdir(tmp_path)
    assert demo.main([*TINY, "--cache-dir", str(cache), "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())

    # One paragraph: what failed, where the files go, what the pictures show; no banner, no false claim.
    assert out.count("No pretrained model") == 1 and "!!!" not in out
    paragraph = " ".join(out[out.index("No pretrained model") :].split("\n\n")[0].split())
    assert str(cache / "downloads") in paragraph and "decoder.pth" in paragraph
    assert "pipeline" in paragraph and "colour" not in out
    assert not (out_dir / demo.PRETRAINED_DIR).exists() and not (cache / "adain.safetensors").exists()

    # The training part: says what it shows and what not, exports, stylizes, times itself.
    assert "far too short for quality" in flat and "python -m stylexfer.train" in flat and "GPU" in flat
    model = out_dir / demo.MODEL_FILE
    assert model.is_file() and (out_dir / demo.RUN_DIR / "checkpoints" / "last.ckpt").is_file()
    contents, styles = demo.sample_pictures(out_dir / demo.RUN_DIR / "sample_data_v1")
    trained = [out_dir / demo.TRAINED_DIR / f"{c.stem}__{s.stem}.png" for c in contents for s in styles[:2]]
    assert all(p.is_file() for p in trained)
    first = Image.open(trained[0])
    assert first.mode == "RGB" and max(first.size) == 40  # the whole picture at --trained-size
    content = Image.open(contents[0])
    assert abs(first.size[0] / first.size[1] - content.size[0] / content.size[1]) < 0.1
    assert Image.open(out_dir / demo.TRAINED_DIR / demo.SHEET_FILE).size[0] > 3 * 160
    assert re.search(r"done in [\d.]+ min; the training part took \d+ s \(\d+ s of CPU time", flat)

    # Every printed command uses the exported model, with paths as typed from the current folder.
    commands = _commands(out)
    assert len(commands) == 2 and all("--model outputs/demo/model.safetensors" in c for c in commands)
    assert ".ckpt" not in " ".join(commands)


@pytest.mark.slow
def test_demo_with_the_pretrained_model_stylizes_into_pretrained_and_the_readme_paths_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The download already happened (the files are in the cache's downloads/, as `make demo` would
    leave them): the demo imports them with the real importer, caches the model, stylizes with it."""
    _unreachable_models(monkeypatch)  # nothing may be fetched: the cached files must be used
    cache = tmp_path / "cache"
    (cache / "downloads").mkdir(parents=True)
    vgg, decoder = orig_adain_pair()
    torch.save(vgg.state_dict(), cache / "downloads" / "vgg_normalised.pth")
    torch.save(decoder.state_dict(), cache / "downloads" / "decoder.pth")
    monkeypatch.chdir(tmp_path)
    assert demo.main([*TINY, "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    out_dir = tmp_path / "outputs" / "demo"

    assert "No pretrained model" not in out and (cache / "adain.safetensors").is_file()
    contents, styles = demo.sample_pictures(out_dir / demo.RUN_DIR / "sample_data_v1")
    pictures = [out_dir / demo.PRETRAINED_DIR / f"{c.stem}__{s.stem}.png" for c in contents for s in styles]
    assert len(pictures) == 12 and all(p.is_file() for p in pictures)
    assert max(Image.open(pictures[0]).size) == 48
    assert Image.open(out_dir / demo.PRETRAINED_DIR / demo.SHEET_FILE).size[0] > 5 * 192
    commands = _commands(out)
    assert any("--model cache/adain.safetensors" in c and "--style" in c for c in commands)  # relative to cwd
    assert any("--model outputs/demo/model.safetensors" in c for c in commands)

    # Every outputs/demo/… path the README and Getting started name is one this run wrote.
    text = README.read_text(encoding="utf-8") + GETTING_STARTED.read_text(encoding="utf-8")
    named = set(re.findall(r"outputs/demo/[\w./-]*\w", text))
    assert named, "the docs name the demo's files"
    missing = [p for p in sorted(named) if not (tmp_path / p).exists()]
    assert missing == []


def test_demo_uses_named_weights_as_given() -> None:
    assert demo.pick_vgg_weights("random") == ("random", "")
    assert demo.pick_vgg_weights("/some/file.pth") == ("/some/file.pth", "")


def test_the_demo_never_writes_into_a_folder_it_did_not_make(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    mine = tmp_path / "photos"
    (mine / "train").mkdir(parents=True)  # a common name: the demo's run folder is called train/ too
    (mine / "train" / "cat.jpg").write_bytes(b"the user's")
    before = sorted(p.relative_to(mine) for p in mine.rglob("*"))
    assert demo.main(["--out", str(mine), *TINY, "--pretrained", "off"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds files the demo did not make" in err[0], err
    assert sorted(p.relative_to(mine) for p in mine.rglob("*")) == before  # nothing removed, nothing added
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    assert demo.main(["--out", str(a_file), *TINY, "--pretrained", "off"]) == 2
    assert "is a file" in capsys.readouterr().err and a_file.read_text() == "x"
    assert demo.main(["--out", str(a_file / "below"), *TINY, "--pretrained", "off"]) == 2  # mkdir fails
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be written" in err[0] and "Traceback" not in err[0], err


def test_the_demo_claims_new_empty_marked_and_earlier_demo_folders(tmp_path: Path) -> None:
    demo.claim_output(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    demo.claim_output(tmp_path / "empty")
    demo.claim_output(tmp_path / "new")  # marked by the first claim
    earlier = tmp_path / "earlier"  # a demo folder written before the marker existed
    (earlier / demo.RUN_DIR / "sample_data_v1").mkdir(parents=True)
    (earlier / demo.TRAINED_DIR).mkdir()
    (earlier / demo.MODEL_FILE).write_bytes(b"")
    demo.claim_output(earlier)
    for folder in ("new", "empty", "earlier"):
        assert (tmp_path / folder / demo.MARKER).is_file()
    (earlier / "mine.txt").write_text("x")  # once marked, the user's own files in it are left alone
    demo.claim_output(earlier)
    assert (earlier / "mine.txt").read_text() == "x"
