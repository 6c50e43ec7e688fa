"""bf16 on the CPU: the precision choice, the fp32 path untouched, and how far bf16 lands from fp32.

Quality bound (issue 20's decision): |bf16 − fp32| ≤ 3/255 at the 99.9th percentile and PSNR ≥ 45 dB,
on three sample photos at 128 px (shorter side) with one style, strict for every network. Measured with
this arrangement (every conv bf16 but the image layers, see inference.device):

- calibrated random AdaIN (tests' adain_net), in memory and through a checkpoint: p99.9 2.58/255,
  PSNR 50.8 dB. Issue 14 had asked for 2/255; every one of the 16 bf16 convolutions adds about
  0.7-1.1/255 on its own (README Performance), so 2/255 needs about half of them back in fp32, which
  caps the speed-up near 1.4×: the fast arrangement is kept and 3/255 is the bound.
- calibrated random Johnson (tests' johnson_net): p99.9 1.75/255, PSNR 55.7 dB.
- calibrated random SANet (tests' sanet_net; the attention's 1×1 convs in bf16 too): p99.9 2.29/255,
  PSNR 51.9 dB.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model_factories import adain_net, johnson_net, sanet_net, save_adain_ckpt
from stylexfer.cli.main import main
from stylexfer.files.images import load_image, to_tensor
from stylexfer.files.modelfile import ModelSpec
from stylexfer.inference import RequestError, Stylizer, StylizeRequest, load_model, resize_image
from stylexfer.inference import device as device_mod
from stylexfer.inference.device import resolve_precision

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data"  # the project's photos, beside the checkout
SIZE = 128


def _adain(precision: str | None) -> Stylizer:
    return Stylizer(copy.deepcopy(adain_net()), ModelSpec("adain"), device="cpu", precision=precision)


def test_precision_names_defaults_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("BF16", cpu) == "bf16"
    assert resolve_precision(None, cpu) == "fp32"  # the CPU default is unchanged
    monkeypatch.setattr(device_mod, "cpu_bf16_is_faster", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(device_mod, "cpu_bf16_is_faster", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(RequestError, match="unknown precision 'fp8'; use fp32, bf16 or auto"):
        resolve_precision("fp8", cpu)
    with pytest.raises(RequestError, match="unknown --precision 'fp8'"):
        try:
            StylizeRequest(precision="fp8")
        except RequestError as err:
            raise RequestError(err.render({"precision": "--precision"})) from None
    assert StylizeRequest(precision="Auto").precision == "auto"


def test_asking_for_bf16_without_native_support_warns_that_it_is_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match=r"no native bf16 .* several times slower than fp32"):
        assert resolve_precision("bf16", cpu) == "bf16"  # still honoured
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(device_mod, "cpu_bf16_is_faster", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bf16", cpu) == "bf16"
        assert resolve_precision("auto", cpu) == "bf16"


@pytest.fixture
def fresh_auto_choice():
    """cpu_bf16_is_faster is measured once per process: clear it around a test that fakes the CPU."""
    device_mod.cpu_bf16_is_faster.cache_clear()
    yield
    device_mod.cpu_bf16_is_faster.cache_clear()


@pytest.mark.usefixtures("fresh_auto_choice")
def test_auto_on_the_cpu_picks_bf16_only_where_the_hardware_runs_it_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")

    def cpu_with(native: bool, amx: bool, vendor: str) -> str:
        device_mod.cpu_bf16_is_faster.cache_clear()
        monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: native)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
        monkeypatch.setattr(device_mod, "cpu_vendor", lambda: vendor)
        return resolve_precision("auto", cpu)

    assert cpu_with(native=True, amx=True, vendor="intel") == "bf16"  # AMX tiles
    assert cpu_with(native=True, amx=False, vendor="amd") == "bf16"  # an EPYC: 1.5-1.9x in bf16
    assert cpu_with(native=True, amx=False, vendor="intel") == "fp32"  # a Xeon without AMX: 0.66x
    assert cpu_with(native=True, amx=False, vendor="") == "fp32"
    assert cpu_with(native=False, amx=False, vendor="amd") == "fp32"  # emulated: 8x slower


def test_cpu_vendor_reads_the_vendor_the_os_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    vendor = device_mod.cpu_vendor()
    assert vendor in ("amd", "intel", "")
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            line = next(line for line in cpuinfo if line.startswith("vendor_id"))
    except (OSError, StopIteration):
        return  # not Linux: platform.processor() decides
    assert vendor == {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(line.split(":")[1].strip(), "")


def test_native_bf16_follows_the_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    device_mod.cpu_has_native_bf16.cache_clear()
    try:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        assert device_mod.cpu_has_native_bf16() is False  # plain AVX-512 emulates bf16: slower than fp32
        device_mod.cpu_has_native_bf16.cache_clear()
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
        expected = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        assert device_mod.cpu_has_native_bf16() is expected
    finally:
        device_mod.cpu_has_native_bf16.cache_clear()


def test_fp32_is_the_untouched_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """fp32, the default and auto where bf16 is not faster give bit-identical outputs, with the nets as
    built: fp32 parameters, no hooks. (Checked once against main's code too: torch.equal.)"""
    monkeypatch.setattr(device_mod, "cpu_bf16_is_faster", lambda: False)
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 40, 56, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    outs = []
    for precision in ("fp32", None, "auto"):
        stylizer = _adain(precision)
        assert stylizer.precision == "fp32"
        assert all(p.dtype == torch.float32 for p in stylizer.net.parameters())
        assert not any(m._forward_pre_hooks for m in stylizer.net.modules())
        outs.append(stylizer.stylize(content, [style], alpha=0.8))
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


def test_bf16_stores_conv_weights_bf16_and_keeps_the_image_layers_fp32() -> None:
    stylizer = _adain("bf16")
    net = stylizer.net
    assert stylizer.precision == "bf16" and "(bf16)" in stylizer.describe()
    assert net.decoder.conv2_1.weight.dtype == torch.bfloat16
    assert net.encoder.features[2].weight.dtype == torch.bfloat16  # conv1_2
    assert net.encoder.features[0].weight.dtype == torch.float32  # folded with the normalisation
    assert net.encoder.normalize.weight.dtype == torch.float32
    assert net.decoder.conv1_1.weight.dtype == torch.float32  # writes the pixels
    g = torch.Generator().manual_seed(1)
    image, other = torch.rand(2, 3, 40, 48, generator=g), torch.rand(1, 3, 36, 36, generator=g)
    mask = torch.zeros(40, 48, dtype=torch.long)
    mask[:, 24:] = 1
    for options in ({"alpha": 0.5, "preserve_color": True}, {"mask": mask}):
        styles = [other, image[:1]] if "mask" in options else [other]
        out = stylizer.stylize(image, styles, **options)
        assert out.dtype == torch.float32 and out.shape == image.shape
        assert out.min() >= 0.0 and out.max() <= 1.0
    ref = _adain("fp32").stylize(image, [other], alpha=0.5, preserve_color=True)
    # The same picture (quality on photos is checked below): on these noise inputs mean |bf16 − fp32|
    # measured 2.7/255 where oneDNN emulates bf16 (an AVX2 CPU); a layer in the wrong order gives ~50/255.
    assert (stylizer.stylize(image, [other], alpha=0.5, preserve_color=True) - ref).abs().mean() < 5 / 255
    codes = stylizer.encode_styles([other])
    assert codes[0].mean.dtype == torch.float32  # AdaIN statistics in fp32


def test_bf16_johnson_keeps_first_and_last_conv_fp32() -> None:
    stylizer = Stylizer(copy.deepcopy(johnson_net()), ModelSpec("johnson"), device="cpu", precision="bf16")
    assert stylizer.net.conv1.conv.weight.dtype == torch.float32
    assert stylizer.net.conv_out.conv.weight.dtype == torch.float32
    assert stylizer.net.residuals[0].conv2.weight.dtype == torch.bfloat16
    image = torch.rand(1, 3, 33, 47)
    for tile in (False, True):  # tiled: frozen instance-norm statistics in bf16 too
        out = stylizer.stylize(image, tile=tile)
        assert out.dtype == torch.float32 and out.shape == image.shape


def _png(path: Path, size: tuple[int, int] = (48, 40)) -> Path:
    pixels = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_cli_precision_is_printed_with_timings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = save_adain_ckpt(tmp_path / "m.ckpt")
    content = _png(tmp_path / "c.png")
    for name in ("bf16", "fp32"):
        rc = main(["stylize", str(content), "--style", str(content), "--model", str(model),
                   "--out", str(tmp_path / f"{name}.png"), "--precision", name, "--timings", "--quiet",
                   "--device", "cpu"])
        assert rc == 0
        assert f"; {name} on cpu)" in capsys.readouterr().err
        assert (tmp_path / f"{name}.png").is_file()
    rc = main(["stylize", str(content), "--style", str(content), "--model", str(model), "--out",
               str(tmp_path / "auto.png"), "--precision", "auto", "--timings", "--quiet", "--device", "cpu"])
    expected = "bf16" if device_mod.cpu_bf16_is_faster() else "fp32"
    assert rc == 0 and f"; {expected} on cpu)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse: one usage line, exit 2
        main(["stylize", str(content), "--model", str(model), "--precision", "fp8"])
    assert exit_info.value.code == 2


# --------------------------------------------------------------------------------------- quality


Photos = tuple[list[torch.Tensor], torch.Tensor]  # contents, one style


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Photos:
    """Three sample photos and candy from ../shared/data; a clone without that folder beside it uses the
    procedural sample set (stylexfer.training.data.sample_data) instead, so bf16 is still checked there.
    Measured p99.9 / PSNR, AdaIN and Johnson: photos 2.58 and 1.75/255, 50.8 and 55.7 dB; procedural
    1.52 and 1.81/255, 55.9 and 56.0 dB; the bounds below hold for both."""
    if SAMPLES.is_dir():
        contents = [SAMPLES / "content" / n for n in ("chicago.jpg", "sailboat.jpg", "blonde_girl.jpg")]
        style = SAMPLES / "style" / "candy.jpg"
    else:
        from stylexfer.training.data import sample_data

        content_dir, style_dir = sample_data(tmp_path_factory.mktemp("samples"), count=4, size=160)
        contents, style = sorted(content_dir.glob("*.png"))[:3], sorted(style_dir.glob("*.png"))[0]
    tensors = [to_tensor(resize_image(load_image(path), size=SIZE))[None] for path in [*contents, style]]
    return tensors[:-1], tensors[-1]


def _difference(fp32: Stylizer, bf16: Stylizer, photos: Photos) -> tuple[float, float]:
    """(p99.9 of |bf16 − fp32| in 1/255 steps, PSNR in dB) over the sample photos."""
    contents, style = photos
    styles = [style] if fp32.needs_style else None
    diffs = []
    for photo in contents:
        ref = fp32.stylize(photo, styles, tile=False)
        assert ref.std() > 0.05, "the network must draw a picture, not a flat image"
        diffs.append((bf16.stylize(photo, styles, tile=False) - ref).abs().flatten())
    d = torch.cat(diffs)
    return d.quantile(0.999).item() * 255, (10 * torch.log10(1 / (d * d).mean())).item()


def _pair(kind: str, tmp: Path) -> tuple[Stylizer, Stylizer]:
    if kind == "adain-checkpoint":
        path = save_adain_ckpt(tmp / "m.ckpt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_model(path, device="cpu", precision="fp32"), load_model(path, device="cpu", precision="bf16")
    factory, spec = {"adain": (adain_net, ModelSpec("adain")), "johnson": (johnson_net, ModelSpec("johnson")),
                     "sanet": (sanet_net, ModelSpec("sanet", encoder="random"))}[kind]
    return tuple(  # type: ignore[return-value]
        Stylizer(copy.deepcopy(factory()), spec, device="cpu", precision=p) for p in ("fp32", "bf16")
    )


BF16_P999_BOUND = 3.0  # |bf16 − fp32| at the 99.9th percentile, in 1/255 steps (issue 20's decision)
BF16_PSNR_BOUND = 45.0  # dB against fp32


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["adain", "adain-checkpoint", "johnson", "sanet"])
def test_bf16_output_close_to_fp32_on_the_sample_photos(kind: str, tmp_path: Path, photos: Photos) -> None:
    p999, psnr = _difference(*_pair(kind, tmp_path), photos)
    assert psnr >= BF16_PSNR_BOUND, f"{kind}: PSNR {psnr:.1f} dB"
    assert p999 <= BF16_P999_BOUND, f"{kind}: p99.9 {p999:.2f}/255"


@pytest.mark.slow
def test_bf16_mixed_training_runs_on_the_cpu(tmp_path: Path) -> None:
    """trainer.precision=bf16-mixed: two AdaIN steps under CPU autocast; losses in fp32 (functional,
    losses), weights and checkpoint fp32 and finite, Adam's moments finite and non-zero."""
    from stylexfer.training.config import compose_config
    from stylexfer.training.run import run
    from training_utils import TINY, make_images, override

    make_images(tmp_path / "content", 4, seed=1)
    make_images(tmp_path / "style", 3, seed=2, size=(40, 56))
    overrides = override([*TINY, "data.content_dir=content", "data.style_dir=style"],
                         trainer__precision="bf16-mixed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run(compose_config(overrides), output_dir=tmp_path / "run", base_dir=tmp_path)
    assert result.global_step == 2
    checkpoint = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    state = checkpoint["state_dict"]
    decoder = {k: v for k, v in state.items() if k.startswith("net.decoder.")}
    assert decoder and all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in decoder.values())
    moments = [v["exp_avg"] for v in checkpoint["optimizer_states"][0]["state"].values()]
    assert moments and all(torch.isfinite(m).all() for m in moments)  # Adam saw finite gradients ...
    assert any(m.abs().sum() > 0 for m in moments)  # ... that were not all zero
