"""Tiled stylization: seamless (close to the untiled result) and with a lower memory peak."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from model_factories import adain_net, johnson_net
from stylexfer.files.modelfile import ModelSpec
from stylexfer.inference import Stylizer, tile_spans
from stylexfer.inference.tiling import _ramp

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


def _image(h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(
        base, size=(h, w), mode="bicubic", align_corners=False
    ).clamp(0, 1)


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(100, 512, 64), (1000, 256, 64), (4000, 512, 64), (203, 80, 32)]
)
def test_tiles_cover_and_ramps_sum_to_one(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    assert spans[0][2] == 0 and spans[-1][3] == length
    total = torch.zeros(length)
    for (w0, w1, c0, c1), nxt in zip(spans, spans[1:] + [None], strict=True):
        assert w0 % 8 == 0 and c0 % 8 == 0 and w0 <= c0 < c1 <= w1
        assert c1 - c0 >= 2 * overlap or len(spans) == 1
        if nxt:
            assert nxt[2] == c1
        total[w0:w1] += _ramp(w0, w1, c0, c1, length, overlap)
    assert torch.allclose(total, torch.ones(length), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["adain", "johnson"])
def test_tiled_matches_untiled(kind):
    # Small tiles (80 px cores, 32 px overlap) on a 144×200 image: 2×3 tiles.
    net, spec = (
        (adain_net(), ModelSpec("adain", encoder="random"))
        if kind == "adain"
        else (johnson_net(), ModelSpec("johnson"))
    )
    stylizer = Stylizer(net, spec, device="cpu", tile_size=80, tile_overlap=32)
    content = _image(144, 200, 0)
    styles = [_image(64, 64, 1)] if kind == "adain" else None
    calls = []
    whole = stylizer.stylize(content, styles, tile=False)
    tiled = stylizer.stylize(
        content, styles, tile=80, progress=lambda done, total: calls.append((done, total))
    )
    assert (
        calls[-1][0] == calls[-1][1] == (12 if kind == "adain" else 6)
    )  # AdaIN: statistics + stylize passes
    diff = (whole - tiled).abs()
    # Tolerances (mean abs difference, images in [0, 1]), with this test's small 32 px overlap: AdaIN 5e-3
    # (whole-image statistics; measured 3e-3, and 1e-4 with the default 64 px overlap); Johnson 3e-2
    # (instance-norm statistics from a downscaled copy; measured 1.8e-2).
    assert diff.mean() < (5e-3 if kind == "adain" else 3e-2), diff.mean()
    assert whole.std() > 0.02  # the outputs have content, the comparison means something


@pytest.mark.slow
def test_tiled_mask_matches_untiled():
    stylizer = Stylizer(
        adain_net(),
        ModelSpec("adain", encoder="random"),
        device="cpu",
        tile_size=80,
        tile_overlap=32,
    )
    content = _image(144, 200, 0)
    mask = Image.new("L", (200, 144), 0)
    mask.paste(255, (0, 0, 90, 144))
    styles = [_image(64, 64, 1), _image(64, 64, 2)]
    whole = stylizer.stylize(content, styles, mask=mask, tile=False)
    tiled = stylizer.stylize(content, styles, mask=mask, tile=80)
    assert (whole - tiled).abs().mean() < 5e-3


_MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("ignore")
    sys.path.insert(0, sys.argv[1])
    import torch
    torch.set_num_threads(1)
    from model_factories import adain_net
    from stylexfer.inference import Stylizer
    from stylexfer.files.modelfile import ModelSpec

    def reset_peak():  # Linux: "5" resets the peak resident set size (VmHWM) of this process
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def peak_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

    spec = ModelSpec("adain", encoder="random")
    s = Stylizer(adain_net(), spec, device="cpu", tile_size=128, tile_overlap=32)
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 512, 512, generator=g), torch.rand(1, 3, 64, 64, generator=g)
    code = s.encode_styles([style])
    s.stylize(content[..., :64, :64], code, tile=False)  # warm up the allocator and kernels
    import gc; gc.collect()
    reset_peak()
    base = peak_mb()
    s.stylize(content, code, tile=128)
    tiled = peak_mb()
    reset_peak()
    s.stylize(content, code, tile=False)
    untiled = peak_mb()
    print(json.dumps({"base": base, "tiled": tiled, "untiled": untiled}))
""")


@pytest.mark.slow
def test_tiled_peak_memory_is_lower(tmp_path):
    """Peak RSS (VmHWM, reset before each run) in a fresh process: tiled vs untiled on 512×512."""
    script = tmp_path / "mem.py"
    script.write_text(_MEMORY_SCRIPT)
    tests_dir = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, str(script), tests_dir], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    mb = json.loads(result.stdout.strip().splitlines()[-1])
    tiled_growth, untiled_growth = mb["tiled"] - mb["base"], mb["untiled"] - mb["base"]
    # 512×512 untiled AdaIN holds 64-channel full-resolution activations (64 MB each); 192×192 windows
    # hold 1/7 of that. Require the untiled peak to be clearly higher than the tiled one.
    assert untiled_growth > tiled_growth + 50, mb
