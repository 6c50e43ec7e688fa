"""An installed wheel (not an editable checkout) carries conf/ and can train from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from stylexfer.training.run import CONFIG_DIR
from training_utils import REPO


@pytest.mark.slow
def test_a_wheel_ships_the_configs_and_trains_one_step_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("stylexfer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"stylexfer/conf/{p.relative_to(CONFIG_DIR).as_posix()}" for p in CONFIG_DIR.rglob("*.yaml")}
    assert shipped and shipped <= names, sorted(shipped - names)
    assert "stylexfer/conf/debug/fast.yaml" in names

    # a fresh venv with the wheel; torch & co. come from this interpreter's site-packages through a
    # .pth line (a path line does not run that folder's own .pth files, so no editable checkout leaks in)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a checkout on the path must not count
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    if install.returncode != 0:  # pip older than 22.3 has no --python: install with the venv's own pip path
        install = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", purelib, str(wheel)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert install.returncode == 0, install.stderr[-2000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import stylexfer; print(stylexfer.__file__)"],
        capture_output=True,
        text=True,
        cwd=outside,
        env=env,
    )
    assert where.returncode == 0, where.stderr[-2000:]
    assert where.stdout.startswith(purelib), where.stdout  # the installed copy, not the checkout
    result = subprocess.run(
        [str(python), "-m", "stylexfer.train", "debug=fast", "trainer.max_steps=1", f"hydra.run.dir={outside / 'run'}"],
        capture_output=True,
        text=True,
        cwd=outside,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (outside / "run" / "checkpoints" / "last.ckpt").is_file()
