"""`make install TORCH=cpu` hands PyTorch's CPU-only index to pip; the default install does not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dry_install(tmp_path: Path, *extra: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "install", f"VENV={tmp_path / 'venv'}", *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return next(line for line in done.stdout.splitlines() if "pip install" in line and "-e" in line)


def test_torch_cpu_reaches_pips_command_line(tmp_path: Path) -> None:
    line = _dry_install(tmp_path, "TORCH=cpu")
    assert "--index-url https://download.pytorch.org/whl/cpu" in line and "--extra-index-url" in line
    assert "--quiet" not in line


def test_the_default_install_uses_the_default_index(tmp_path: Path) -> None:
    assert "--index-url" not in _dry_install(tmp_path)
