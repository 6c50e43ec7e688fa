"""scripts/gpu_check.sh runs end to end on the CPU (--device cpu --quick), so it is known to work
before a GPU is ever lent; and it refuses CUDA cleanly where there is none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run([str(REPO / "scripts" / "gpu_check.sh"), *args], capture_output=True, text=True,
                          env=env, timeout=900)


@pytest.mark.slow
def test_gpu_check_quick_on_cpu_prints_the_table() -> None:
    result = _run("--device", "cpu", "--quick")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for case in ("AdaIN stylize 64², batch 1", "AdaIN 8-image folder 64², batch 4",
                 "AdaIN training step, batch 2, 32²", "data pipeline, 2 workers"):
        assert case in out, out
    assert out.count("fp32 eager") == 3 and out.count("bf16 + channels_last") == 3
    assert "matmul limit fp32" in out and "images/s" in out


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where there is no GPU")
def test_gpu_check_without_a_gpu_says_what_to_do() -> None:
    result = _run()
    assert result.returncode == 2
    assert "no CUDA GPU here; pass --device cpu" in result.stderr
