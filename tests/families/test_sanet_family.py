"""SANet as a registered family: the runner (weights, α, masks, tiling with whole-image mvn statistics,
video smoothing, any size) against SANetNet itself, the model file (layout, import, info, export parity)
and the bad inputs (wrong kind, missing parts, wrong shapes, NaN): one line, exit 2, nothing written.
Random weights, small pictures. Training, evaluate and the two-family sweep: test_sanet_training.py."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from model_factories import sanet_net
from stylexfer.cli import main
from stylexfer.families.sanet.net import SANetNet
from stylexfer.files.modelfile import ModelSpec, metadata_of, read_model_file, weights_of, write_safetensors
from stylexfer.inference import Stylizer, load_model
from stylexfer.inference.request import StylizeRequest
from stylexfer.inference.temporal import StatisticsSmoother
from stylexfer.nets.vgg import RandomWeightsWarning

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")
SPEC = ModelSpec("sanet", encoder="random")


def image(h: int, w: int, seed: int) -> torch.Tensor:
    """Smooth random colours (so crops and tiles see structure, not noise)."""
    base = torch.rand(1, 3, max(1, h // 8), max(1, w // 8), generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(base, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def stylizer(**options: int) -> Stylizer:
    return Stylizer(sanet_net(), SPEC, device="cpu", **options)


# ------------------------------------------------------------------------------------------- the runner


def test_the_runner_is_the_net_with_normalised_weights_and_alpha():
    net, content = sanet_net(), image(40, 56, 0)
    styles = [image(32, 40, 1), image(48, 24, 2)]
    got = stylizer().stylize(content, styles, style_weights=[1, 3], alpha=0.6, tile=False)
    with torch.no_grad():
        expected = net(content, styles, alpha=0.6, style_weights=[0.25, 0.75]).clamp(0, 1)
    assert expected.std() > 0.02
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=0)
    one = stylizer().stylize(content, styles[:1], tile=False)
    with torch.no_grad():
        torch.testing.assert_close(one, net(content, styles[0]).clamp(0, 1), atol=2e-5, rtol=0)
    assert (one - got).abs().mean() > 1e-3  # weights and α change the picture


@pytest.mark.slow
def test_encoded_styles_are_reused_as_given():
    s, content, style = stylizer(), image(40, 40, 0), image(32, 32, 1)
    codes = s.encode_styles([style])
    torch.testing.assert_close(s.stylize(content, codes, tile=False), s.stylize(content, [style], tile=False))


@pytest.mark.slow
def test_a_mask_paints_each_region_with_its_own_style():
    """Σₖ maskₖ·T(c, sₖ) at relu4_1: away from the seam (the decoder's reach, about 30 px) each half is
    what its style alone gives."""
    s, content = stylizer(), image(48, 128, 0)
    styles = [image(32, 32, 1), image(32, 32, 2)]
    labels = torch.zeros(48, 128, dtype=torch.long)
    labels[:, 64:] = 1
    masked = s.stylize(content, styles, mask=labels, tile=False)
    left, right = (s.stylize(content, [style], tile=False) for style in styles)
    torch.testing.assert_close(masked[..., :16], left[..., :16], atol=1e-5, rtol=0)
    torch.testing.assert_close(masked[..., 112:], right[..., 112:], atol=1e-5, rtol=0)
    assert (left[..., :16] - right[..., :16]).abs().mean() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_tiled_matches_untiled(alpha):
    """Small tiles (80 px cores, 32 px overlap) on a 144×200 image: 2×3 windows, two passes; the mvn
    statistics (and for α < 1 the keys of T(c, c)) are the whole image's, so only the windows' borders
    differ."""
    s, content, styles = stylizer(tile_size=80, tile_overlap=32), image(144, 200, 0), [image(64, 64, 1)]
    calls: list[tuple[int, int]] = []
    whole = s.stylize(content, styles, alpha=alpha, tile=False)
    tiled = s.stylize(content, styles, alpha=alpha, tile=80, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] == 2 * 2 * 3
    assert whole.std() > 0.02
    # measured 7.0e-3 (α 1) and 7.1e-3 (α 0.5) with this small 32 px overlap; AdaIN's is 3e-3: relu5_1
    # reaches twice as far, so a window's border effects do too
    assert (whole - tiled).abs().mean() < 1e-2, (whole - tiled).abs().mean()


@pytest.mark.slow
def test_tiles_use_the_whole_images_statistics(monkeypatch):
    """The statistics pass measures the whole image: what the runner hands the transform equals
    mean_std of the untiled relu4_1/relu5_1 up to the windows' border effects, and a window's own
    statistics would be far off (the picture's halves differ)."""
    from stylexfer.families.sanet import runner as runner_module
    from stylexfer.families.sanet.net import mean_std

    content = torch.cat([image(144, 100, 0) * 0.3, image(144, 100, 3) * 0.7 + 0.3], dim=-1)
    seen: list[dict] = []
    original = runner_module.SANetRunner._decode

    def spy(self, features, stats, *args):  # noqa: ANN001, ANN202
        seen.append(stats)
        return original(self, features, stats, *args)

    monkeypatch.setattr(runner_module.SANetRunner, "_decode", spy)
    stylizer(tile_size=80, tile_overlap=32).stylize(content, [image(64, 64, 1)], tile=80)
    with torch.no_grad():
        whole = sanet_net().encode(content, ("relu4_1", "relu5_1"))
    for name in ("relu4_1", "relu5_1"):
        mean, _ = mean_std(whole[name])
        used = seen[0][name][0]
        assert all(s[name][0] is used for s in seen)  # one set for every window
        assert (used - mean).abs().mean() < 0.1 * mean.abs().mean()
        window_mean, _ = mean_std(whole[name][..., : whole[name].shape[-1] // 3])
        assert (window_mean - mean).abs().mean() > 2 * (used - mean).abs().mean()


@pytest.mark.parametrize(("h", "w"), [(1, 1), pytest.param(1, 40, marks=pytest.mark.slow),
                                      pytest.param(9, 23, marks=pytest.mark.slow)])
def test_tiny_pictures_and_styles_stylize_at_their_own_size(h, w):
    out = stylizer().stylize(image(h, w, 0), [image(1, 1, 1)])
    assert out.shape == (1, 3, h, w) and bool(torch.isfinite(out).all())


@pytest.mark.slow
def test_video_smoothing_is_frame_sequential_and_damps_the_statistics():
    """The smoother averages the content's mvn statistics (relu4_1 and relu5_1) over the frames: the
    first frame is as without it, later ones differ, and batches of 1 or 3 frames agree."""
    s, style = stylizer(), [image(32, 32, 1)]
    clip = torch.cat([image(32, 48, 0), image(32, 48, 0) * 0.5, image(32, 48, 0)])
    request = StylizeRequest(n_styles=1)
    plain = s.run(request, clip, style)
    smoother = StatisticsSmoother(0.8)
    batch = s.run(request, clip, style, smoother=smoother)
    one = StatisticsSmoother(0.8)
    frames = torch.cat([s.run(request, clip[i : i + 1], style, smoother=one) for i in range(3)])
    torch.testing.assert_close(batch, frames, atol=2e-5, rtol=0)
    torch.testing.assert_close(batch[0], plain[0], atol=2e-5, rtol=0)
    assert (batch[1] - plain[1]).abs().mean() > 1e-3


# ---------------------------------------------------------------------------------------- the model file


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sanet") / "sanet.safetensors"
    return write_safetensors(weights_of(sanet_net(), SPEC), path)


@pytest.mark.slow
def test_the_file_holds_decoder_transform_and_encoder(model_file):
    tensors = load_file(model_file)
    parts = {key.split(".", 1)[0] for key in tensors}
    assert parts == {"decoder", "transform", "encoder"}
    assert metadata_of(model_file)["kind"] == "sanet" and metadata_of(model_file)["encoder"] == "embedded"
    reloaded = load_model(model_file, device="cpu")
    content, style = image(40, 40, 0), [image(32, 32, 1)]
    torch.testing.assert_close(reloaded.stylize(content, style), stylizer().stylize(content, style))


@pytest.mark.slow
def test_info_names_the_parts(model_file, capsys):
    assert main(["info", str(model_file), "--json"]) == 0
    import json

    facts = json.loads(capsys.readouterr().out)
    assert facts["kind"] == "sanet" and facts["statistics"] == "unbiased"
    assert facts["parameters"] == {"transform": 4 * 2 * (512 * 512 + 512) + 512 * 512 * 9 + 512,
                                   "decoder": sum(p.numel() for p in sanet_net().decoder.parameters()),
                                   "encoder": sum(v.numel() for v in sanet_net().encoder.state_dict().values())}


@pytest.mark.slow
def test_export_torchscript_and_onnx_match_pytorch(model_file, tmp_path, capsys):
    import onnxruntime as ort

    out, ts, onnx = tmp_path / "m.safetensors", tmp_path / "m.pt", tmp_path / "m.onnx"
    rc = main(["export", str(model_file), "--out", str(out), "--torchscript", str(ts), "--onnx", str(onnx)])
    report = capsys.readouterr()
    assert rc == 0, report.err
    g = torch.Generator().manual_seed(5)
    content, style = torch.rand(1, 3, 56, 80, generator=g), torch.rand(1, 3, 48, 48, generator=g)
    reference = stylizer().stylize(content, [style], alpha=0.6, tile=False)
    alpha = torch.tensor([0.6])
    ts_out = torch.jit.load(str(ts))(content, style, alpha)
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    feeds = {"content": content.numpy(), "style": style.numpy(), "alpha": alpha.numpy()}
    onnx_out = torch.from_numpy(session.run(None, feeds)[0])
    assert reference.std() > 0.01
    assert (ts_out - reference).abs().max() <= 1e-4
    assert (onnx_out - reference).abs().max() <= 1e-4


@pytest.mark.slow
def test_import_of_the_release_layout_stylizes_as_the_net(tmp_path, capsys):
    """Files with the reference's exact keys and shapes (random values) -> `stylexfer import sanet` ->
    a file whose stylization equals SANetNet loaded with the converted state dict."""
    from benchmarks.sanet_reference import reference_release
    from stylexfer.families.sanet.importer import convert_sanet_release

    vgg, decoder, transform = reference_release()
    paths = [tmp_path / name for name in ("vgg_normalised.pth", "decoder_iter_500000.pth",
                                          "transformer_iter_500000.pth")]
    for module, path in zip((vgg, decoder, transform), paths, strict=True):
        torch.save(module.state_dict(), path)
    out = tmp_path / "sanet.safetensors"
    assert main(["import", "sanet", *map(str, paths), "--out", str(out)]) == 0, capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        net = SANetNet(encoder_weights="random").eval()
    net.load_state_dict(convert_sanet_release(vgg.state_dict(), decoder.state_dict(), transform.state_dict()))
    content, style = image(48, 64, 0), image(40, 40, 1)
    with torch.no_grad():
        expected = net(content, style).clamp(0, 1)
    got = load_model(out, device="cpu").stylize(content, [style], tile=False)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------- bad input


def _refused(tmp_path: Path, capsys, *argv: str) -> str:
    """Runs the CLI; asserts exit 2, one line on stderr, and no output folder written."""
    out = tmp_path / "out"
    rc = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert not out.exists()
    return err


def _stylize_args(model: Path, tmp_path: Path, style: Path | None = None) -> list[str]:
    photo, style_path = tmp_path / "photo.png", style or tmp_path / "style.png"
    Image.new("RGB", (40, 32), (120, 80, 40)).save(photo)
    if style is None:
        Image.new("RGB", (24, 24), (10, 200, 90)).save(style_path)
    return ["stylize", str(photo), "--model", str(model), "--style", str(style_path)]


def _rewrite(model_file: Path, path: Path, kind: str | None = None, keep=lambda key: True, change=None) -> Path:
    tensors = {k: v for k, v in load_file(model_file).items() if keep(k)}
    if change:
        change(tensors)
    metadata = metadata_of(model_file) | ({"kind": kind} if kind else {})
    save_file(tensors, str(path), metadata=metadata)
    return path


def test_a_sanet_file_labelled_adain_is_refused(model_file, tmp_path, capsys):
    bad = _rewrite(model_file, tmp_path / "as_adain.safetensors", kind="adain")
    err = _refused(tmp_path, capsys, *_stylize_args(bad, tmp_path))
    assert "transform." in err and "adain" in err


@pytest.mark.slow
def test_an_adain_file_labelled_sanet_is_refused(model_file, tmp_path, capsys):
    bad = _rewrite(model_file, tmp_path / "adain_as_sanet.safetensors", keep=lambda k: not k.startswith("transform."))
    err = _refused(tmp_path, capsys, *_stylize_args(bad, tmp_path))
    assert "transformer" in err and "missing" in err


@pytest.mark.slow
def test_a_transformer_without_a_decoder_is_refused(model_file, tmp_path, capsys):
    bad = _rewrite(model_file, tmp_path / "t.safetensors", keep=lambda k: not k.startswith("decoder."))
    err = _refused(tmp_path, capsys, *_stylize_args(bad, tmp_path))
    assert "decoder" in err and "missing" in err


@pytest.mark.slow
def test_wrong_shapes_and_nan_weights_are_refused(model_file, tmp_path, capsys):
    def shrink(tensors):
        tensors["transform.sanet4_1.f.weight"] = tensors["transform.sanet4_1.f.weight"][:256]

    def poison(tensors):
        tensors["transform.merge_conv.weight"] = tensors["transform.merge_conv.weight"].clone()
        tensors["transform.merge_conv.weight"][0, 0, 0, 0] = float("nan")

    err = _refused(tmp_path, capsys, *_stylize_args(_rewrite(model_file, tmp_path / "s.safetensors", change=shrink),
                                                    tmp_path))
    assert "sanet4_1.f.weight" in err and "shape" in err
    err = _refused(tmp_path, capsys, *_stylize_args(_rewrite(model_file, tmp_path / "n.safetensors", change=poison),
                                                    tmp_path))
    assert "merge_conv.weight" in err and "NaN" in err


def test_the_importers_refuse_each_others_files(tmp_path, capsys):
    """`import sanet` with AdaIN's two files, `import adain` with SANet's transformer file: one line."""
    from benchmarks.sanet_reference import RefTransform

    transformer = tmp_path / "transformer_iter_500000.pth"
    torch.save(RefTransform().state_dict(), transformer)
    vgg = tmp_path / "vgg_normalised.pth"
    torch.save({"0.weight": torch.zeros(3, 3, 1, 1), "0.bias": torch.zeros(3)}, vgg)
    for argv in (["import", "sanet", str(vgg), str(transformer)], ["import", "adain", str(vgg), str(transformer)]):
        out = tmp_path / "o.safetensors"
        rc = main([*argv, "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("size", [(1, 1), (20000, 20)])
def test_extreme_style_images_stylize(model_file, tmp_path, capsys, size):
    """A 1×1 style is padded to the encoder's minimum; a 20,000×20 strip is encoded as it is (its
    shorter side is under the style size): both stylize, at the content's size."""
    style = tmp_path / "style.png"
    Image.new("RGB", size, (200, 30, 60)).save(style)
    out = tmp_path / "out"
    rc = main([*_stylize_args(model_file, tmp_path, style), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    (picture,) = out.iterdir()
    assert Image.open(picture).size == (40, 32)


@pytest.mark.slow
def test_read_model_file_of_a_checkpoint_naming_sanet(tmp_path):
    net = sanet_net()
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "m.ckpt"
    block = {"format": 1, "model": "sanet", "net_prefix": "net."}
    torch.save({"hyper_parameters": {"name": "sanet", "vgg_weights": "random"}, "state_dict": state,
                "stylexfer": block}, path)
    weights = read_model_file(path)
    assert weights.spec.kind == "sanet" and weights.spec.encoder == "embedded"
    assert {k.split(".")[0] for k in weights.net_state} == {"decoder", "transform"}
    # without training's block the kind is not guessed (SANet's layout holds AdaIN's decoder): refused
    torch.save({"hyper_parameters": {"name": "sanet", "vgg_weights": "random"}, "state_dict": state}, path)
    from stylexfer.errors import ModelFileError

    with pytest.raises(ModelFileError, match="is it a stylexfer training checkpoint"):
        read_model_file(path)
