"""Start-up: a real `stylexfer stylize` run imports only what the stylize path needs."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_factories import adain_net
from stylexfer.files.modelfile import ModelSpec, weights_of, write_safetensors

REPO = Path(__file__).resolve().parents[2]
UNWANTED = ("lightning", "pytorch_lightning", "lightning_fabric", "hydra", "omegaconf", "torchvision",
            "matplotlib", "torchmetrics", "safetensors.torch", "tensorboard", "pandas", "scipy")


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_stylize_run_imports_none_of_the_training_or_experiment_stack(tmp_path: Path, precision: str) -> None:
    model = tmp_path / "m.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_safetensors(weights_of(adain_net(), ModelSpec("adain", encoder="random")), model)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 56, 3), dtype=np.uint8)).save(photo)
    code = (
        "import sys\n"
        "from stylexfer.cli.main import main\n"
        f"rc = main(['stylize', {str(photo)!r}, '--style', {str(photo)!r}, '--model', {str(model)!r}, "
        f"'--out', {str(tmp_path / 'out.png')!r}, '--device', 'cpu', '--precision', {precision!r}, '--quiet'])\n"
        f"bad = sorted(m for m in sys.modules if any(m == u or m.startswith(u + '.') for u in {UNWANTED!r}))\n"
        "print(rc, bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 []"
    assert (tmp_path / "out.png").is_file()
