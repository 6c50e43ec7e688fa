"""Files the user hands the tool that are not what they seem (issue 20, items 8 and 14): FIFOs,
symlink loops, TorchScript files and gigabytes of zeros given as models. Every command answers one
line and exit 2, and never waits on a FIFO: the commands run in a child process with a timeout, so a
regression that blocks fails here instead of hanging the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from model_factories import save_adain_ckpt, save_johnson_ckpt

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="this platform has no named pipes")

_CHILD = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from stylexfer.cli.main import main
    results = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as done:
                rc = done.code
        results.append([rc, err.getvalue()])
    print(json.dumps(results))
    """
)


def run_cli(*argvs: list[str], timeout: float = 120) -> list[tuple[int, str]]:
    """Each argv through stylexfer's main() in one child process: [(exit code, stderr), ...]. A child
    still running after `timeout` seconds (a read blocked on a FIFO) fails the test."""
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argvs)], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    except subprocess.TimeoutExpired:
        pytest.fail(f"the commands did not finish within {timeout} s (blocked on a FIFO?): {argvs}")
    assert done.returncode == 0, done.stderr
    return [(rc, err) for rc, err in json.loads(done.stdout.splitlines()[-1])]


def one_error(result: tuple[int, str], *expected: str) -> str:
    rc, err = result
    assert rc == 2, err
    lines = [line for line in err.splitlines() if not line.startswith("stylexfer: warning: ")]
    assert lines and lines[0].startswith("stylexfer: error: ") and "Traceback" not in err, err
    # a per-input failure of stylize adds its summary line ("1 of 1 input(s) failed; ...")
    assert len(lines) == 1 or (len(lines) == 2 and "input(s) failed" in lines[1]), err
    for text in expected:
        assert text in lines[0], err
    return lines[0]


def symlink_loop(path: Path) -> Path:
    os.symlink(path.name, path)  # a link to itself: ELOOP
    return path


@pytest.mark.slow
@needs_fifo
def test_fifos_and_symlink_loops_are_refused_by_every_reader(tmp_path: Path) -> None:
    from PIL import Image

    model = save_johnson_ckpt(tmp_path / "m.ckpt")
    adain = save_adain_ckpt(tmp_path / "a.ckpt")
    Image.new("RGB", (16, 12), "red").save(tmp_path / "photo.png")
    for name in ("fifo.gif", "fifo.mp4", "fifo.png", "fifo.ckpt", "fifo.pth", "fifo.safetensors"):
        os.mkfifo(tmp_path / name)
    loop = symlink_loop(tmp_path / "loop.pth")
    out = str(tmp_path / "out")
    t = str(tmp_path)
    results = run_cli(
        ["stylize", f"{t}/fifo.gif", "--model", str(model), "--out", out, "-q"],
        ["stylize", f"{t}/fifo.png", "--model", str(model), "--out", out, "-q"],
        ["stylize", f"{t}/fifo.mp4", "--model", str(model), "--out", out, "-q"],
        ["stylize", f"{t}/photo.png", "--model", f"{t}/fifo.ckpt", "--out", out],
        ["stylize", f"{t}/photo.png", "--model", f"{t}/fifo.safetensors", "--out", out],
        ["info", f"{t}/fifo.ckpt"],
        ["info", str(loop)],
        ["import", "fast-neural-style", f"{t}/fifo.pth", "--out", f"{t}/i.safetensors"],
        ["import", "fast-neural-style", str(loop), "--out", f"{t}/i.safetensors"],
        ["stylize", f"{t}/photo.png", "--style", f"{t}/fifo.png", "--model", str(adain), "--out", out],
    )
    for result in results[:6] + results[7:8] + results[9:]:
        one_error(result, "not a regular file")
    one_error(results[6], "a symlink loop")
    one_error(results[8], "a symlink loop")
    assert not (tmp_path / "i.safetensors").exists()


def _run_folder(root: Path) -> Path:
    run = root / "0"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- lambda=1\n")
    (run / "final.json").write_text(json.dumps({"status": "finished", "step": 2, "model": "adain"}))
    return run


@pytest.mark.slow
@needs_fifo
def test_report_reads_no_fifo_in_a_run_folder(tmp_path: Path) -> None:
    from PIL import Image

    for folder in ("content", "style"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (32, 32), "blue").save(tmp_path / folder / "a.png")
    sweep = tmp_path / "sweep"
    broken = _run_folder(sweep / "a")
    for name in ("final.json", ".hydra/config.yaml", ".hydra/hydra.yaml", "train.log", ".stylexfer.lock"):
        (broken / name).unlink(missing_ok=True)
        os.mkfifo(broken / name)
    overrides_fifo = _run_folder(sweep / "b")
    (overrides_fifo / ".hydra" / "overrides.yaml").unlink()
    os.mkfifo(overrides_fifo / ".hydra" / "overrides.yaml")
    _run_folder(sweep / "c")
    (rc, err), = run_cli(["report", str(sweep), "--content", str(tmp_path / "content"),
                          "--style", str(tmp_path / "style"), "--vgg-weights", "random"])
    assert rc == 0, err
    csv_text = (sweep / "report" / "jobs.csv").read_text()
    assert "lambda=1" in csv_text  # the readable runs are reported
    assert "not a regular file" in csv_text  # and the FIFO run says why it is not


# ------------------------------------------------------------------------------- foreign model files


@pytest.mark.slow
def test_foreign_model_files_are_named_for_what_they_are(tmp_path: Path) -> None:
    import torch

    from model_factories import johnson_net

    with warnings.catch_warnings():  # torch.jit is deprecated: the format is what `export --torchscript` writes
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(johnson_net(), torch.rand(1, 3, 32, 32)), str(tmp_path / "exported.pt"))
    with open(tmp_path / "zeros.ckpt", "wb") as handle:  # 2 GB of zeros, sparse on disk
        handle.truncate(2**31)
    small_zeros = tmp_path / "small.pth"
    small_zeros.write_bytes(bytes(4096))
    from PIL import Image

    Image.new("RGB", (16, 12), "red").save(tmp_path / "photo.png")
    out = str(tmp_path / "out")
    results = run_cli(
        ["stylize", str(tmp_path / "photo.png"), "--model", str(tmp_path / "exported.pt"), "--out", out],
        ["info", str(tmp_path / "exported.pt")],
        ["stylize", str(tmp_path / "photo.png"), "--model", str(tmp_path / "zeros.ckpt"), "--out", out],
        ["info", str(tmp_path / "zeros.ckpt")],
        ["info", str(small_zeros)],
        ["import", "fast-neural-style", str(tmp_path / "exported.pt"), "--out", str(tmp_path / "i.safetensors")],
    )
    for index in (0, 1, 5):
        err = one_error(results[index], "a TorchScript file: stylexfer reads .safetensors/.ckpt/.pth; "
                                        "use the .safetensors export")
        assert "weights_only" not in err
    for index in (2, 3, 4):
        err = one_error(results[index], "not a model file")
        assert "legacy" not in err and ".tar" not in err
    assert not (tmp_path / "out").exists()
