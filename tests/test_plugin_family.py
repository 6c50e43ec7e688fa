"""A model family from another package (examples/stylexfer-identity), with no edit to stylexfer: found
through its `stylexfer.families` entry point, it trains (`model=identity debug=fast`), stylizes, is
described by `info`, exports (safetensors, TorchScript, ONNX), sweeps over λ and is reported.

The package is put on sys.path and its entry point registered by a `.dist-info` folder holding
entry_points.txt (what `pip install -e examples/stylexfer-identity` writes), in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "stylexfer-identity"

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    info = site / "stylexfer_identity-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stylexfer-identity\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[stylexfer.families]\nidentity = stylexfer_identity:family\n")
    paths = [str(ROOT / "src"), str(EXAMPLE), str(site), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_example_family_trains_stylizes_exports_sweeps_and_reports(env, tmp_path):
    listed = _run(env, tmp_path, "-c", "from stylexfer.registry import family_names; print(family_names())")
    assert "identity" in listed.stdout
    _run(env, tmp_path, "-m", "stylexfer.train", "model=identity", "debug=fast", "hydra.run.dir=run")
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    content = sorted((tmp_path / "run").glob("sample_data_v*/content/*.png"))[0]
    _run(env, tmp_path, "-m", "stylexfer", "stylize", str(content), "--model", str(ckpt), "--out", "out.png")
    assert (tmp_path / "out.png").stat().st_size > 0
    info = _run(env, tmp_path, "-m", "stylexfer", "info", str(ckpt)).stdout
    assert "identity" in info and "IdentityPlusBias" in info
    export = ["-m", "stylexfer", "export", str(ckpt), "--out", "id.safetensors", "--torchscript", "id.pt"]
    try:
        import onnxruntime  # noqa: F401

        export += ["--onnx", "id.onnx"]
    except ImportError:
        pass
    _run(env, tmp_path, *export)
    _run(env, tmp_path, "-m", "stylexfer", "stylize", str(content), "--model", "id.safetensors", "--out", "out2.png")
    _run(env, tmp_path, "-m", "stylexfer.train", "-m", "model=identity", "debug=fast", "lambda=0.5,2",
         "hydra.sweep.dir=sweep")
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.name.isdigit()) == ["0", "1"]
    _run(env, tmp_path, "-m", "stylexfer", "report", "sweep")
    assert (tmp_path / "sweep" / "report" / "report.md").is_file()


def test_without_the_package_its_files_are_one_line_naming_the_installed_families(env, tmp_path):
    _run(env, tmp_path, "-m", "stylexfer.train", "model=identity", "debug=fast", "hydra.run.dir=run",
         "trainer.max_steps=1")
    bare = dict(env, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-m", "stylexfer", "info", "run/checkpoints/last.ckpt"], cwd=tmp_path,
                          env=bare, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert "unknown model family 'identity'; installed: adain, johnson" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
