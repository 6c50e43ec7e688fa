"""Large images under a memory limit (issue 20, item 11): the memory is estimated from the header
before decoding, and from the README's bound before stylizing, against what the process may still
allocate (`ulimit -v`); a picture that does not fit is one line (suggesting --max-size where that
helps), and a folder run goes on with the other images and exits 2 at the end."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from PIL import Image

from model_factories import save_johnson_ckpt
from stylexfer.files.images import ImageMemoryError, decode_bytes, load_image
from stylexfer.inference.tiling import longer_side_within, tiled_memory_bytes

resource = pytest.importorskip("resource")  # RLIMIT_AS: POSIX only

HEADROOM = 640 << 20  # address space the child may still allocate once the tool is imported

_CHILD = textwrap.dedent(
    """
    import contextlib, io, json, resource, sys
    from stylexfer.cli.main import main
    import torch  # what stylize loads, mapped before the limit is measured

    with open("/proc/self/statm") as statm:
        used = int(statm.read().split()[0]) * resource.getpagesize()
    limit = used + int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(json.loads(sys.argv[1]))
    print(json.dumps([rc, err.getvalue()]))
    """
)


def png_header_only(path: Path, width: int, height: int, colour_type: int = 6) -> Path:
    """A PNG whose header declares width×height (8-bit RGBA by default) with almost no pixel data:
    a decoder that allocates before checking needs gigabytes, one that checks first needs nothing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_decode_memory_is_checked_from_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    huge = png_header_only(tmp_path / "huge.png", 12000, 12000)  # 144 MP, RGBA: ~1.1 GB to decode
    assert decode_bytes(12000, 12000, "RGBA") == 12000 * 12000 * 8
    import stylexfer.files.images as images

    monkeypatch.setattr(images, "available_memory", lambda: 512 << 20)
    with pytest.raises(ImageMemoryError, match=r"huge.png: decoding its 12000×12000 pixels needs about "
                                               r"1,099 MB, more than the 512 MB of memory available"):
        load_image(huge)


def test_longer_side_suggested_fits_the_budget() -> None:
    budget = 2 << 30
    side = longer_side_within(12000, 12000, budget)
    assert side % 64 == 0 and tiled_memory_bytes(side * side) <= budget < tiled_memory_bytes((side + 64) ** 2)


def _run_limited(argv: list[str], headroom: int = HEADROOM) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argv), str(headroom)], capture_output=True,
                          text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rc, err = json.loads(done.stdout.splitlines()[-1])
    return rc, err


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="measures the address space in /proc")
def test_folder_run_under_ulimit_v_goes_on_past_a_huge_image(tmp_path: Path) -> None:
    model = save_johnson_ckpt(tmp_path / "m.ckpt")
    photos = tmp_path / "photos"
    photos.mkdir()
    png_header_only(photos / "a_header.png", 12000, 12000)  # too big to decode here
    Image.new("RGB", (4000, 3000), (90, 120, 200)).save(photos / "b_big.png")  # decodes, too big to stylize
    Image.new("RGB", (24, 16), (200, 30, 90)).save(photos / "c_small.png")
    out = tmp_path / "out"
    rc, err = _run_limited(["stylize", str(photos), "--model", str(model), "--out", str(out), "-q"])
    assert rc == 2, err
    assert "Traceback" not in err and "MemoryError" not in err, err
    lines = err.strip().splitlines()
    assert any("a_header.png: decoding its 12000×12000 pixels needs about" in line for line in lines), err
    big = next(line for line in lines if "b_big.png" in line)
    assert "stylizing its 4000×3000 pixels needs about" in big and "pass --max-size 1600 (or less)" in big, err
    assert "2 of 3 input(s) failed; 1 written" in lines[-1], err
    assert sorted(p.name for p in out.iterdir()) == ["c_small__m.png"]
