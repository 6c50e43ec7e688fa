"""Fast feedback: a typo'd training override and an unknown CLI flag are answered before PyTorch,
Lightning or the data are imported, with a suggestion."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs `python -m stylexfer.train ARGS` in-process and reports which heavy modules it imported.
PROBE = """
import runpy, sys
sys.argv = ["stylexfer.train", *sys.argv[1:]]
try:
    runpy.run_module("stylexfer.train", run_name="__main__")
except SystemExit as exit:
    heavy = sorted(m for m in ("torch", "pytorch_lightning", "torchvision") if m in sys.modules)
    print("HEAVY", heavy, "EXIT", exit.code, flush=True)
"""


def _train(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    return proc, time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["lamda=7"], "lambda"),  # an unknown key: did you mean
        (["model=adian"], "adain"),  # an unknown group option
        (["optim.lr=-1"], "optim.lr"),  # a value out of its range
    ],
)
def test_config_errors_come_before_torch_is_imported(args: list[str], expected: str, tmp_path: Path) -> None:
    proc, seconds = _train(args, tmp_path)
    assert "HEAVY [] EXIT 2" in proc.stdout, (proc.stdout, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylexfer.train: error: ") and expected in lines[0], lines
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no run folder made for a config that cannot run
    print(f"{args}: answered in {seconds:.2f} s, load average {os.getloadavg()[0]:.1f}")


@pytest.mark.parametrize(
    ("argv", "suggestion", "usage"),
    [
        (["stylize", "a.jpg", "--model", "m.safetensors", "--stlye", "b.jpg"], "did you mean --style?", "stylize"),
        (["sheet", "a.jpg", "--model", "m.safetensors", "--tile-sise", "64"], "did you mean --tile-size?", "sheet"),
        (["info", "m.safetensors", "--jsn"], "did you mean --json?", "info"),
        # argparse reports the missing --model first; the typo that caused it is named too
        (["stylize", "a.jpg", "--stlye", "b.jpg"], "also unrecognized: --stlye (did you mean --style?)", "stylize"),
    ],
)
def test_an_unknown_flag_gets_a_suggestion_and_its_subcommands_usage(
    argv: list[str], suggestion: str, usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from stylexfer.cli.main import build_parser, main

    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: stylexfer {usage} "), err
    assert suggestion in err.splitlines()[-1] and err.splitlines()[-1].startswith(f"stylexfer {usage}: error: ")
    assert build_parser()  # the parser itself still builds


GUI_PROBE = """
import sys
from stylexfer.cli.main import main
code = main(["gui"])
heavy = sorted(m for m in ("torch", "stylexfer.gui.app", "PIL.ImageTk") if m in sys.modules)
print("HEAVY", heavy, "EXIT", code, flush=True)
"""


@pytest.mark.slow
def test_the_gui_says_there_is_no_display_before_the_heavy_imports(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(ROOT / "src")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", GUI_PROBE], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    seconds = time.perf_counter() - start
    assert "HEAVY [] EXIT 2" in proc.stdout, (proc.stdout, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "DISPLAY" in lines[0] and lines[0].startswith("stylexfer: error:"), lines
    print(f"no display: answered in {seconds:.2f} s, load average {os.getloadavg()[0]:.1f}")
