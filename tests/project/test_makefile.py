"""The install: PyTorch's CPU-only wheels when no NVIDIA GPU is present, the default wheels with one line saying why
when the CPU index cannot be reached (probed with a short timeout, so the fallback is quick)."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install_venv.sh"


def _make_dry(target: str, tmp_path: Path) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _dry_install(tmp_path: Path, **env: str) -> tuple[list[str], float]:
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not (Path(p) / "nvidia-smi").exists())  # no NVIDIA GPU here
    start = time.perf_counter()
    done = subprocess.run([str(SCRIPT), str(tmp_path / "venv")], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PATH": path, "DRY_RUN": "1", **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), time.perf_counter() - start


def test_without_a_gpu_the_cpu_wheels_come_from_the_cpu_index(tmp_path: Path) -> None:
    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        index = f"http://127.0.0.1:{server.server_port}/whl/cpu"
        lines, _ = _dry_install(tmp_path, TORCH="auto", TORCH_CPU_INDEX=index)
    finally:
        server.shutdown()
    torch = [line for line in lines if "pip install" in line and "torch" in line]
    assert len(torch) == 1 and f"--index-url {index}" in torch[0], lines
    assert lines[-1].endswith("pip install --progress-bar on -e .")  # the runtime set, no extra


def test_an_unreachable_cpu_index_falls_back_quickly_with_one_line(tmp_path: Path) -> None:
    with_socket = __import__("socket").socket()
    with_socket.bind(("127.0.0.1", 0))  # a port nobody listens on: refused at once
    port = with_socket.getsockname()[1]
    with_socket.close()
    lines, seconds = _dry_install(tmp_path, TORCH="auto", TORCH_CPU_INDEX=f"http://127.0.0.1:{port}/whl/cpu")
    why = [line for line in lines if "cannot be reached" in line]
    assert len(why) == 1 and "installing the default wheels" in why[0], lines
    assert not any("--index-url" in line for line in lines)
    assert seconds < 15


def test_a_gpu_machine_or_torch_default_uses_the_default_wheels(tmp_path: Path) -> None:
    lines, _ = _dry_install(tmp_path, TORCH="default")
    assert not any("--index-url" in line or "cannot be reached" in line for line in lines), lines


def test_the_test_targets_run_in_parallel_and_list_the_slowest(tmp_path: Path) -> None:
    for target in ("test", "test-fast"):
        pytest_line = next(line for line in _make_dry(target, tmp_path) if " -m pytest " in line)
        assert " -n " in pytest_line and "--dist loadgroup" in pytest_line and "--durations=10" in pytest_line


@pytest.mark.slow
def test_a_stuck_test_is_named_while_the_suite_runs(tmp_path: Path) -> None:
    """pytest-timeout is loaded by pyproject's addopts (plugins do not autoload): a test past its limit
    fails with its name instead of sitting silent."""
    (tmp_path / "test_stuck.py").write_text("import time\n\ndef test_sits_forever():\n    time.sleep(60)\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=2",
                           "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), str(tmp_path / "test_stuck.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout[-2000:]
    assert "Timeout" in done.stdout and "test_sits_forever" in done.stdout, done.stdout[-2000:]
