"""The allocator setting the entry points apply: on glibc it takes effect, the real programs apply
it, tests calling main([...]) do not, and it never changes a result."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

import stylexfer.runtime as runtime
from stylexfer import cli

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def test_console_entry_tunes_the_allocator_and_test_calls_do_not(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(runtime, "tune_cpu_allocator", lambda: calls.append(1) or True)
    assert cli.main([]) == 0  # a test's call: the pytest process is left alone
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["stylexfer"])
    assert cli.main() == 0  # the console script's call
    assert calls == [1]
    capsys.readouterr()


@pytest.mark.slow
@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_tuning_takes_effect_and_keeps_results_bit_identical():
    code = (
        "import sys, torch, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from stylexfer.runtime import tune_cpu_allocator\n"
        "ok = tune_cpu_allocator() if sys.argv[1] == 'on' else None\n"
        "assert ok in (None, True), ok\n"
        "assert sys.argv[1] == 'off' or tune_cpu_allocator() is True  # idempotent\n"
        "from stylexfer.families.johnson.net import TransformerNet\n"
        "torch.manual_seed(0)\n"
        "net = TransformerNet().eval()\n"
        "with torch.inference_mode():\n"
        "    out = net(torch.rand(1, 3, 96, 80))\n"
        "sys.stdout.buffer.write(out.numpy().tobytes())\n"
    )
    outputs = [
        subprocess.run([sys.executable, "-c", code, mode], check=True, capture_output=True).stdout
        for mode in ("off", "on")
    ]
    assert len(outputs[0]) == 3 * 96 * 80 * 4 and outputs[0] == outputs[1]


@pytest.mark.slow
def test_stylize_as_a_program_writes_everything_and_keeps_its_exit_code(tmp_path):
    """The console script ends without interpreter teardown: outputs, messages and codes are intact."""
    from PIL import Image

    from model_factories import save_johnson_ckpt

    model = save_johnson_ckpt(tmp_path / "m.ckpt")
    Image.new("RGB", (40, 32), (200, 30, 90)).save(tmp_path / "photo.png")
    stylexfer = [sys.executable, "-m", "stylexfer", "stylize", "--model", str(model), "--out", str(tmp_path / "out")]
    done = subprocess.run([*stylexfer, str(tmp_path / "photo.png")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "stylized 1 image(s)" in done.stderr
    assert Image.open(tmp_path / "out" / "photo__m.png").size == (40, 32)
    failed = subprocess.run([*stylexfer, str(tmp_path / "missing.png")], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and "no such file" in failed.stderr
