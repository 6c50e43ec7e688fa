"""A model family from another package (examples/stylexfer-identity), with no edit to stylexfer: found
through its `stylexfer.families` entry point, it trains (`model=identity debug=fast`), stylizes, is
described by `info`, exports (safetensors, TorchScript, ONNX), sweeps over λ and is reported.

The package is put on sys.path and its entry point registered by a `.dist-info` folder holding
entry_points.txt (what `pip install -e examples/stylexfer-identity` writes), in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "stylexfer-identity"

pytestmark = pytest.mark.slow

# The `stylexfer` commands after training, in one fresh interpreter (each interpreter start with torch
# costs seconds): the family list first, then main(argv) for each command; one JSON line of results.
COMMANDS = """
import contextlib, io, json, sys
from stylexfer.registry import family_names
from stylexfer.cli import main
done = {"families": family_names(), "commands": []}
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    done["commands"].append({"argv": argv, "code": code, "out": out.getvalue(), "err": err.getvalue()[-3000:]})
print(json.dumps(done))
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("site")
    info = site / "stylexfer_identity-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stylexfer-identity\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[stylexfer.families]\nidentity = stylexfer_identity:family\n")
    paths = [str(ROOT / "src"), str(EXAMPLE), str(site), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))


@pytest.fixture(scope="module")
def run(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`model=identity debug=fast`: the example family's training run folder, read by both tests."""
    cwd = tmp_path_factory.mktemp("trained")
    _run(env, cwd, "-m", "stylexfer.train", "model=identity", "debug=fast", "hydra.run.dir=run")
    return cwd / "run"


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _commands(env: dict[str, str], cwd: Path, *commands: list[str]) -> tuple[list[str], list[dict]]:
    """The installed families and each command's {argv, code, out, err}, every command asserted to pass."""
    done = json.loads(_run(env, cwd, "-c", COMMANDS, json.dumps(commands)).stdout.strip().splitlines()[-1])
    for command in done["commands"]:
        assert command["code"] == 0, (command["argv"], command["err"])
    return done["families"], done["commands"]


def test_the_example_family_trains_stylizes_exports_sweeps_and_reports(env, run, tmp_path):
    ckpt = run / "checkpoints" / "last.ckpt"
    content = sorted(run.glob("sample_data_v*/content/*.png"))[0]
    _run(env, tmp_path, "-m", "stylexfer.train", "-m", "model=identity", "debug=fast", "lambda=0.5,2",
         "hydra.sweep.dir=sweep")
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.name.isdigit()) == ["0", "1"]
    export = ["export", str(ckpt), "--out", "id.safetensors", "--torchscript", "id.pt"]
    try:
        import onnxruntime  # noqa: F401

        export += ["--onnx", "id.onnx"]
    except ImportError:
        pass
    families, (_, info, *_) = _commands(
        env, tmp_path,
        ["stylize", str(content), "--model", str(ckpt), "--out", "out.png"],
        ["info", str(ckpt)],
        export,
        ["stylize", str(content), "--model", "id.safetensors", "--out", "out2.png"],
        ["report", "sweep"],
    )
    assert "identity" in families
    assert (tmp_path / "out.png").stat().st_size > 0 and (tmp_path / "out2.png").stat().st_size > 0
    assert "identity" in info["out"] and "IdentityPlusBias" in info["out"]
    assert (tmp_path / "id.safetensors").is_file() and (tmp_path / "id.pt").is_file()
    assert (tmp_path / "sweep" / "report" / "report.md").is_file()


def test_without_the_package_its_files_are_one_line_naming_the_installed_families(env, run):
    bare = dict(env, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-m", "stylexfer", "info", "run/checkpoints/last.ckpt"], cwd=run.parent,
                          env=bare, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert "unknown model family 'identity'; installed: adain, johnson" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
