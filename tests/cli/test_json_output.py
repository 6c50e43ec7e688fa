"""`--json` on stylize, sheet, export, import, download and info: every stdout line is one JSON object
with input, output, model, seconds, status, error; nothing else goes to stdout; errors still exit 2
with a status "error" line and the one-line message on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from model_factories import fast_neural_style_state, orig_fast_neural_style, save_johnson_ckpt
from stylexfer.cli import main
from stylexfer.cli.output import FIELDS

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


@pytest.fixture(scope="module")
def johnson_ckpt(tmp_path_factory) -> Path:
    return save_johnson_ckpt(tmp_path_factory.mktemp("models") / "mosaic.ckpt")


def _png(path: Path, colour=(200, 40, 40), size=(32, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _lines(capsys) -> tuple[list[dict], str]:
    """Every stdout line parsed as JSON (a line that is not fails the test), and stderr."""
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    for line in lines:
        assert tuple(line)[: len(FIELDS)] == FIELDS
        assert line["status"] in ("ok", "error", "available")
        assert (line["error"] is None) == (line["status"] != "error")
    return lines, captured.err


def test_stylize_json_one_line_per_input_failures_included(tmp_path, capsys, johnson_ckpt) -> None:
    folder = tmp_path / "in"
    _png(folder / "a.png")
    _png(folder / "b.png", (10, 90, 200))
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    rc = main(["stylize", str(folder), "--model", str(johnson_ckpt), "--out", str(out), "--json",
               "--device", "cpu"])
    lines, err = _lines(capsys)
    assert rc == 2  # one input failed
    by_input = {Path(line["input"]).name: line for line in lines}
    assert set(by_input) == {"a.png", "b.png", "broken.png"} and len(lines) == 3
    for name in ("a", "b"):
        line = by_input[f"{name}.png"]
        assert line["status"] == "ok" and line["output"] == str(out / f"{name}__mosaic.png")
        assert Path(line["output"]).is_file() and line["seconds"] > 0 and line["model"] == str(johnson_ckpt)
    bad = by_input["broken.png"]
    assert bad["status"] == "error" and bad["output"] is None and "not a supported image" in bad["error"]
    # human messages stay on stderr
    assert "broken.png" in err and "1 of 3 input(s) failed" in err


def test_stylize_json_whole_run_error_is_one_error_line(tmp_path, capsys) -> None:
    content = _png(tmp_path / "a.png")
    rc = main(["stylize", str(content), "--model", str(tmp_path / "missing.ckpt"), "--json"])
    lines, err = _lines(capsys)
    assert rc == 2 and len(lines) == 1
    assert lines[0]["status"] == "error" and "no such model file" in lines[0]["error"]
    assert lines[0]["input"] == str(content) and err.count("\n") == 1


def test_usage_errors_under_json_still_give_an_error_line(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["stylize", "a.png", "--model", "m.ckpt", "--alpha", "much", "--json"])
    assert done.value.code == 2
    lines, err = _lines(capsys)
    assert len(lines) == 1 and lines[0]["status"] == "error" and "much" in lines[0]["error"]
    assert "usage:" in err


def test_export_json_one_line_per_written_file(tmp_path, capsys, johnson_ckpt) -> None:
    out = tmp_path / "m.safetensors"
    assert main(["export", str(johnson_ckpt), "--out", str(out), "--json"]) == 0
    lines, err = _lines(capsys)
    assert lines == [dict(lines[0], input=str(johnson_ckpt), output=str(out), status="ok", error=None)]
    assert out.is_file() and "wrote" in err  # the human line moved to stderr
    assert main(["export", str(johnson_ckpt), "--out", str(out), "--json"]) == 2  # exists: refused
    lines, err = _lines(capsys)
    assert len(lines) == 1 and lines[0]["status"] == "error" and "already exists" in lines[0]["error"]


def test_import_json(tmp_path, capsys) -> None:
    pth = tmp_path / "candy.pth"
    torch.save(fast_neural_style_state(orig_fast_neural_style()), pth)
    out = tmp_path / "candy.safetensors"
    assert main(["import", "fast-neural-style", str(pth), "--out", str(out), "--json"]) == 0
    lines, err = _lines(capsys)
    assert len(lines) == 1 and lines[0]["output"] == str(out) and lines[0]["kind"] == "johnson"
    assert lines[0]["input"] == [str(pth)] and "wrote" in err
    (tmp_path / "junk.pth").write_bytes(b"junk" * 50)
    assert main(["import", "fast-neural-style", str(tmp_path / "junk.pth"), "--out",
                 str(tmp_path / "j.safetensors"), "--json"]) == 2
    lines, _ = _lines(capsys)
    assert len(lines) == 1 and lines[0]["status"] == "error"


def test_download_json_cached_listed_and_unknown(tmp_path, capsys) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mosaic.safetensors").write_bytes(b"already imported")  # a cached model: no network
    assert main(["download", "mosaic", "--cache-dir", str(cache), "--json", "--quiet"]) == 0
    lines, err = _lines(capsys)
    assert len(lines) == 1 and lines[0]["output"] == str(cache / "mosaic.safetensors")
    assert "use it with" in err
    assert main(["download", "--json"]) == 0
    lines, _ = _lines(capsys)
    assert {line["model"] for line in lines} >= {"mosaic", "adain"}
    assert all(line["status"] == "available" and line["description"] for line in lines)
    assert main(["download", "picasso", "--json", "--cache-dir", str(cache)]) == 2
    lines, _ = _lines(capsys)
    assert len(lines) == 1 and "unknown model 'picasso'" in lines[0]["error"]


def test_sheet_json_error(tmp_path, capsys, johnson_ckpt) -> None:
    assert main(["sheet", str(tmp_path / "none.png"), "--model", str(johnson_ckpt), "--json",
                 "--out", str(tmp_path / "s.png")]) == 2
    lines, _ = _lines(capsys)
    assert len(lines) == 1 and lines[0]["status"] == "error" and "no such file" in lines[0]["error"]
    assert lines[0]["model"] == [str(johnson_ckpt)]
