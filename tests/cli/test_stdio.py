"""`stylexfer stylize - … > out.png`: one image from stdin to stdout, nothing else on stdout; bad stdin is
one line and exit 2 (real pipes: a subprocess each)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_factories import save_johnson_ckpt
from stylexfer.cli import main
from stylexfer.inference import load_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def johnson_ckpt(tmp_path_factory) -> Path:
    return save_johnson_ckpt(tmp_path_factory.mktemp("models") / "mosaic.ckpt")


def _photo(size=(40, 32)) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _stylexfer(*args: str, stdin: bytes) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "stylexfer", *args], input=stdin, capture_output=True,
                          timeout=180, env=env, check=False)


@pytest.mark.slow
def test_stdin_to_stdout_png_and_jpeg(johnson_ckpt) -> None:
    photo = _photo()
    done = _stylexfer("stylize", "-", "--model", str(johnson_ckpt), "--device", "cpu", stdin=photo)
    assert done.returncode == 0, done.stderr.decode()
    result = Image.open(io.BytesIO(done.stdout))  # stdout is the image and nothing else
    assert result.format == "PNG" and result.size == (40, 32)
    expected = load_model(johnson_ckpt, device="cpu").stylize(Image.open(io.BytesIO(photo)))
    got = np.asarray(result, dtype=np.float32) / 255
    assert np.abs(got - expected[0].permute(1, 2, 0).numpy()).max() <= 1 / 255 + 1e-6

    done = _stylexfer("stylize", "-", "--model", str(johnson_ckpt), "--ext", "jpg", "--device", "cpu",
                      stdin=photo)
    assert done.returncode == 0 and Image.open(io.BytesIO(done.stdout)).format == "JPEG"


@pytest.mark.slow
@pytest.mark.parametrize("stdin, expected", [(b"", "empty"), (b"\x89PNG garbage" * 10, "not a supported image"),
                                             (_photo()[:80], "<stdin>")], ids=["empty", "garbage", "truncated"])
def test_bad_stdin_is_one_line_exit_2_and_nothing_on_stdout(johnson_ckpt, stdin, expected) -> None:
    done = _stylexfer("stylize", "-", "--model", str(johnson_ckpt), "--device", "cpu", stdin=stdin)
    err = done.stderr.decode()
    assert done.returncode == 2 and done.stdout == b""
    assert err.count("\n") == 1 and err.startswith("stylexfer: error: <stdin>") and expected in err


def test_stdin_must_be_the_only_content_and_cannot_share_stdout_with_json(tmp_path, capsys, johnson_ckpt):
    assert main(["stylize", "-", "other.png", "--model", str(johnson_ckpt)]) == 2
    assert "must be the only CONTENT" in capsys.readouterr().err
    assert main(["stylize", "-", "--model", str(johnson_ckpt), "--json"]) == 2
    captured = capsys.readouterr()
    assert "cannot share stdout" in captured.err and '"status": "error"' in captured.out
    assert main(["stylize", "-", "--model", str(johnson_ckpt), "--out", str(tmp_path / "x.txt")]) == 2
    assert "names one image file" in capsys.readouterr().err


def test_stdin_to_a_named_file_with_json(tmp_path, capsys, monkeypatch, johnson_ckpt):
    class _Stdin:
        buffer = io.BytesIO(_photo())

        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", _Stdin())
    out = tmp_path / "result.png"
    assert main(["stylize", "-", "--model", str(johnson_ckpt), "--out", str(out), "--json", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1 and '"output": "' + str(out) in captured.out
    assert Image.open(out).size == (40, 32)
