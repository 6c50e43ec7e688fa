"""EFDM (Zhang et al. 2022; YBZh/EFDM ArbitraryStyleTransfer/function.py and net.py): the transfer operator
and its style loss against independent re-implementations written here from the paper's definitions."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from model_factories import adain_net, save_adain_ckpt
from stylexfer.cli import main
from stylexfer.errors import ModelFileError
from stylexfer.families.adain.files import spec_of_metadata
from stylexfer.families.adain.losses import adain_loss_terms
from stylexfer.files.info import model_info
from stylexfer.files.modelfile import build_net, metadata_of, read_model_file
from stylexfer.files.spec import ModelSpec
from stylexfer.functional import exact_feature_distribution_matching, resample_sorted
from stylexfer.inference import FrameStream, Stylizer, StylizeRequest, load_model
from stylexfer.losses import efdm_style_loss
from stylexfer.nets.codes import StyleCode

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


def oracle_matched(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per sample and channel, in plain Python: the content positions ordered by (value, position), the
    style values sorted (resampled at quantiles (i + ½)/N when the counts differ); the k-th content
    position gets the k-th style value."""
    b, c = content.shape[:2]
    out = torch.empty(b, c, content.shape[2] * content.shape[3], dtype=torch.float64)
    for i in range(b):
        for j in range(c):
            values = content[i, j].flatten().tolist()
            source = sorted(style[i if style.shape[0] > 1 else 0, j].flatten().tolist())
            n, m = len(values), len(source)
            targets = []
            for k in range(n):
                p = min(max((k + 0.5) * m / n - 0.5, 0.0), m - 1.0)
                lo = int(p)
                hi = min(lo + 1, m - 1)
                targets.append(source[lo] + (p - lo) * (source[hi] - source[lo]))
            order = sorted(range(n), key=lambda q: (values[q], q))
            for rank, position in enumerate(order):
                out[i, j, position] = targets[rank]
    return out.reshape(b, c, *content.shape[2:])


def reference_efdm(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The reference's operator for equal sizes: sort both, undo the content's sort order, and add the
    difference to the content with the content detached in it (so x + (ŷ − x), rounded as there)."""
    b, c = content.shape[:2]
    flat = content.reshape(b, c, -1)
    _, index = flat.sort(-1)
    styled, _ = style.reshape(b, c, -1).sort(-1)
    return (flat + (styled.gather(-1, index.argsort(-1)) - flat.detach())).reshape(content.shape)


def test_equal_sizes_match_the_oracle_and_the_reference():
    content, style = torch.randn(2, 3, 5, 7), torch.randn(2, 3, 5, 7) * 3 + 1
    out = exact_feature_distribution_matching(content, style)
    torch.testing.assert_close(out, reference_efdm(content, style), rtol=0, atol=0)
    torch.testing.assert_close(out.double(), oracle_matched(content, style), rtol=1e-6, atol=1e-6)  # x + (ŷ − x) rounds
    # the output's histogram is the style's, per sample and channel; the content's order is kept
    torch.testing.assert_close(out.reshape(2, 3, -1).sort(-1).values, style.reshape(2, 3, -1).sort(-1).values)
    assert torch.equal(out.reshape(2, 3, -1).argsort(-1), content.reshape(2, 3, -1).argsort(-1))


@pytest.mark.parametrize("style_size", [(3, 4), (9, 11), (1, 1), (5, 7)])
def test_unequal_sizes_match_style_quantiles(style_size):
    content = torch.randn(2, 4, 5, 7)
    style = torch.randn(1, 4, *style_size)
    out = exact_feature_distribution_matching(content, style)
    assert out.shape == content.shape
    torch.testing.assert_close(out.double(), oracle_matched(content, style), rtol=1e-5, atol=1e-5)  # fp32 positions


def sorted_quantiles(values: torch.Tensor, length: int) -> torch.Tensor:
    return resample_sorted(values.sort(dim=-1).values, length)


def test_quantiles_keep_the_range_and_are_the_sorted_values_at_equal_length():
    values = torch.randn(2, 3, 10)
    assert torch.equal(sorted_quantiles(values, 10), values.sort(-1).values)
    resampled = sorted_quantiles(values, 37)
    assert (resampled.diff(dim=-1) >= 0).all()
    assert (resampled.amin(-1) >= values.amin(-1) - 1e-6).all() and (resampled.amax(-1) <= values.amax(-1) + 1e-6).all()
    # one rank: quantile ½, halfway between the 5th and 6th of 10 sorted values
    torch.testing.assert_close(sorted_quantiles(values, 1)[..., 0], values.sort(-1).values[..., 4:6].mean(-1))


def test_ties_are_ranked_by_position():
    content = torch.zeros(1, 1, 2, 3)  # all tied
    style = torch.arange(6.0).reshape(1, 1, 2, 3).flip(-1)
    out = exact_feature_distribution_matching(content, style)
    assert out.flatten().tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_gradient_passes_to_the_content_as_through_an_identity():
    content = torch.randn(2, 3, 4, 5, requires_grad=True)
    style = torch.randn(2, 3, 4, 5, requires_grad=True)
    upstream = torch.randn(2, 3, 4, 5)
    (exact_feature_distribution_matching(content, style) * upstream).sum().backward()
    torch.testing.assert_close(content.grad, upstream, rtol=0, atol=0)
    # as in the reference, the sorted style values carry theirs: style value of rank k gets the upstream
    # gradient at the content position of rank k
    flat_c, flat_s = content.detach().reshape(2, 3, -1), style.detach().reshape(2, 3, -1)
    flat_u = upstream.reshape(2, 3, -1)
    expected = torch.zeros_like(flat_s).scatter(-1, flat_s.argsort(-1), flat_u.gather(-1, flat_c.argsort(-1)))
    torch.testing.assert_close(style.grad.reshape(2, 3, -1), expected)


def test_one_style_serves_the_whole_batch():
    content, style = torch.randn(3, 2, 4, 4), torch.randn(1, 2, 4, 4)
    out = exact_feature_distribution_matching(content, style)
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], exact_feature_distribution_matching(content[i : i + 1], style))


def test_style_loss_matches_the_oracle_and_the_reference():
    output = torch.randn(2, 3, 6, 5, requires_grad=True)
    style = torch.randn(2, 3, 6, 5) * 2
    loss = efdm_style_loss(output, style)
    expected = (output.detach().double() - oracle_matched(output.detach(), style)).square().mean()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-6, atol=0)
    # YBZh/EFDM calc_style_loss('efdm'): mse(input, sorted style gathered at the input's inverse sort index)
    _, index = output.detach().reshape(2, 3, -1).sort(-1)
    target = style.reshape(2, 3, -1).sort(-1).values.gather(-1, index.argsort(-1))
    torch.testing.assert_close(loss, torch.nn.functional.mse_loss(output.reshape(2, 3, -1), target))
    loss.backward()
    assert output.grad is not None and output.grad.abs().sum() > 0


def test_style_loss_is_zero_for_the_style_itself_and_any_rearrangement_of_it():
    style = torch.randn(1, 4, 5, 5)
    assert efdm_style_loss(style, style).item() == 0.0
    shuffled = style.reshape(1, 4, -1)[..., torch.randperm(25)].reshape(1, 4, 5, 5)
    assert efdm_style_loss(shuffled, style).item() == 0.0
    assert efdm_style_loss(shuffled + 0.1, style).item() > 0.0


def test_style_loss_with_unequal_sizes_uses_the_quantiles():
    output, style = torch.randn(2, 3, 4, 6), torch.randn(1, 3, 7, 9)
    expected = (output.double() - oracle_matched(output, style)).square().mean()
    torch.testing.assert_close(efdm_style_loss(output, style).double(), expected, rtol=1e-5, atol=0)


# ---- quantile matching for different sizes


@pytest.mark.parametrize(("m", "n"), [(10, 37), (37, 10), (64, 108), (5, 1), (1, 7), (9, 9)])
def test_resampling_is_linear_interpolation_at_the_quantiles(m, n):
    ordered = torch.randn(2, 3, m, dtype=torch.float64).sort(-1).values
    # torch's own linear resampling at (i + ½)·M/N − ½ (align_corners=False) is the definition
    expected = torch.nn.functional.interpolate(ordered, size=n, mode="linear", align_corners=False)
    torch.testing.assert_close(resample_sorted(ordered, n), expected, rtol=1e-12, atol=1e-12)


def test_resampling_at_equal_length_is_exact_in_eager_and_traced_graphs():
    ordered = torch.randn(1, 2, 300_007).sort(-1).values  # float32 positions would drift here; ours are integers
    assert torch.equal(resample_sorted(ordered, 300_007), ordered)
    # the traced graph (TorchScript export) takes the general path, with the length from the input's shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes and its deprecation notice
        traced = torch.jit.trace(lambda o: resample_sorted(o, o.shape[-1]), (ordered[..., :10],))
    assert "aten::gather" in str(traced.graph)
    assert torch.equal(traced(ordered), ordered)
    torch.testing.assert_close(traced(ordered[..., :37]), ordered[..., :37])


# ---- the AdaIN family with transfer=efdm: net, loss, runner, file, export


@pytest.fixture(scope="module")
def efdm_net():
    """The tests' AdaIN net (random VGG) with the EFDM transfer: what build_net makes of its file."""
    net = copy.deepcopy(adain_net())
    net.transfer = "efdm"
    return net


def _relu4_1(net, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.encoder(images, ("relu4_1",))["relu4_1"]


def _image(h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 5, generator=g)  # smooth colours plus a little noise: structure to match
    return (torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear") * 0.8
            + torch.rand(1, 3, h, w, generator=g) * 0.2)


@pytest.mark.slow
@pytest.mark.parametrize("style_size", [(40, 48), (64, 72)])
def test_net_decodes_the_oracle_target(efdm_net, style_size):
    content, style = _image(40, 48, 0), _image(*style_size, 1)
    x = _relu4_1(efdm_net, content)
    target = oracle_matched(x, _relu4_1(efdm_net, style)).float()
    with torch.no_grad():
        expected = efdm_net.decoder(0.7 * target + 0.3 * x, size=(40, 48))
        got = efdm_net(content, style, 0.7)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_training_loss_terms_are_the_references(efdm_net):
    content, style = _image(32, 32, 2), _image(32, 32, 3)
    with torch.no_grad():
        output, terms = adain_loss_terms(efdm_net, content, style)
        taps = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
        s_feats, o_feats = efdm_net.encode(style, taps), efdm_net.encode(output, taps)
        target = oracle_matched(_relu4_1(efdm_net, content), s_feats["relu4_1"]).float()
        expected_style = 0.0
        for name in taps:  # calc_style_loss('efdm'): sorted style gathered at the output's inverse sort index
            o = o_feats[name].reshape(1, o_feats[name].shape[1], -1)
            s = s_feats[name].reshape(1, s_feats[name].shape[1], -1)
            index = o.argsort(dim=-1, stable=True)
            expected_style += torch.nn.functional.mse_loss(o, s.sort(-1).values.gather(-1, index.argsort(-1)))
    torch.testing.assert_close(terms["content"], torch.nn.functional.mse_loss(o_feats["relu4_1"], target))
    torch.testing.assert_close(terms["style"], expected_style)


@pytest.fixture(scope="module")
def efdm_stylizer(efdm_net):
    spec = ModelSpec("adain", encoder="random", options=(("transfer", "efdm"),))
    return Stylizer(efdm_net, spec, device="cpu", tile_size=80, tile_overlap=32)


@pytest.mark.slow
def test_runner_mixes_matched_targets_and_applies_alpha(efdm_net, efdm_stylizer):
    content, one, two = _image(48, 56, 4), _image(40, 40, 5), _image(72, 64, 6)
    x = _relu4_1(efdm_net, content)
    matched = [oracle_matched(x, _relu4_1(efdm_net, s)).float() for s in (one, two)]
    with torch.no_grad():
        # the reference's interpolation (test.py style_transfer): Σ w_k·EFDM(x, y_k), then α
        mixed = 0.25 * matched[0] + 0.75 * matched[1]
        expected = efdm_net.decoder(0.6 * mixed + 0.4 * x, size=(48, 56)).clamp(0, 1)
    got = efdm_stylizer.stylize(content, [one, two], style_weights=[1, 3], alpha=0.6, tile=False)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    codes = efdm_stylizer.encode_styles([one, two])
    assert all(c.quantiles is not None and c.quantiles.shape[-1] == c.quantiles.numel() // 512 for c in codes)
    again = efdm_stylizer.stylize(content, codes, style_weights=[1, 3], alpha=0.6, tile=False)
    assert torch.equal(again, got)


@pytest.mark.slow
def test_runner_matches_each_mask_region_to_its_style(efdm_net, efdm_stylizer):
    content, one, two = _image(48, 64, 7), _image(40, 40, 8), _image(56, 48, 9)
    mask = torch.zeros(48, 64, dtype=torch.long)
    mask[:, 24:] = 1  # a boundary on the 8 px grid: relu4_1 columns 0-2 and 3-7
    x = _relu4_1(efdm_net, content)
    target = torch.empty_like(x)
    for cols, style in [(slice(0, 3), one), (slice(3, 8), two)]:
        target[..., cols] = oracle_matched(x[..., cols].contiguous(), _relu4_1(efdm_net, style)).float()
    with torch.no_grad():
        expected = efdm_net.decoder(target, size=(48, 64)).clamp(0, 1)
    got = efdm_stylizer.stylize(content, [one, two], mask=mask, tile=False)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_tiled_equals_whole_image(efdm_stylizer):
    # 80 px cores, 32 px overlap on 144×200: 2×3 windows; ranks from the whole relu4_1 map
    content, one, two = _image(144, 200, 10), _image(64, 64, 11), _image(48, 80, 12)
    mask = torch.zeros(144, 200, dtype=torch.long)
    mask[60:, :] = 1
    for options in [{"style_weights": [0.3, 0.7], "alpha": 0.8}, {"mask": mask}]:
        calls: list[tuple[int, int]] = []
        whole = efdm_stylizer.stylize(content, [one, two], tile=False, **options)
        tiled = efdm_stylizer.stylize(content, [one, two], tile=80,
                                      progress=lambda d, t, seen=calls: seen.append((d, t)), **options)
        assert calls[-1] == (12, 12)  # gather + decode passes
        assert whole.std() > 0.02
        # measured 3e-4 (the windows' encoder edges at the cores' borders; AdaIN's bound is 5e-3)
        assert (whole - tiled).abs().mean() < 2e-3


def test_an_adain_style_code_is_refused_by_an_efdm_model(efdm_stylizer):
    code = StyleCode(torch.zeros(1, 512, 1, 1), torch.ones(1, 512, 1, 1))
    with pytest.raises(ValueError, match="AdaIN model, not an EFDM one"):
        efdm_stylizer.stylize(_image(16, 16, 0), [code], tile=False)


@pytest.mark.slow
def test_video_smoothing_is_ignored_with_a_warning(efdm_stylizer):
    frames, style = torch.cat([_image(16, 24, 20), _image(16, 24, 21)]), _image(16, 16, 22)
    plain = FrameStream(efdm_stylizer, StylizeRequest(n_styles=1), [style])(frames)
    with pytest.warns(UserWarning, match="smoother does not apply to EFDM"):
        smoothed = FrameStream(efdm_stylizer, StylizeRequest(n_styles=1), [style], smooth=0.9)(frames)
    assert torch.equal(smoothed, plain)


# ---- configuration, model file, export


@pytest.mark.slow  # Hydra's composition: seconds
def test_transfer_typo_fails_at_start_with_a_suggestion():
    from stylexfer.training.config import validate  # Lightning and Hydra: only for the tests that train
    from stylexfer.training.ranges import ConfigError
    from stylexfer.training.run import compose_config

    typo = r"model\.transfer must be one of 'adain', 'efdm', got 'efdn'; did you mean 'efdm'\?"
    with pytest.raises(ConfigError, match=typo):
        validate(compose_config(["model.transfer=efdn"]))
    assert validate(compose_config(["model.transfer=efdm"])).model.transfer == "efdm"
    assert validate(compose_config([])).model.transfer == "adain"


def test_model_file_metadata_names_the_transfer():
    assert spec_of_metadata({"encoder": "random"}, "old.safetensors").option("transfer", "adain") == "adain"
    assert spec_of_metadata({"encoder": "random", "transfer": "efdm"}, "m").options == (("transfer", "efdm"),)
    with pytest.raises(ModelFileError, match="unknown transfer 'histogram'"):
        spec_of_metadata({"encoder": "random", "transfer": "histogram"}, "m.safetensors")


@pytest.mark.slow
def test_export_torchscript_matches_and_onnx_is_refused(tmp_path, capsys, efdm_net, efdm_stylizer):

    ckpt = save_adain_ckpt(tmp_path / "e.ckpt", efdm_net, transfer="efdm")
    out, ts, onnx = tmp_path / "e.safetensors", tmp_path / "e.pt", tmp_path / "e.onnx"
    assert main(["export", str(ckpt), "--out", str(out), "--torchscript", str(ts), "--onnx", str(onnx)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ONNX export of an EFDM model is not supported" in err[0]
    assert not out.exists() and not ts.exists() and not onnx.exists()

    assert main(["export", str(ckpt), "--out", str(out), "--torchscript", str(ts)]) == 0
    capsys.readouterr()
    assert metadata_of(out)["transfer"] == "efdm"
    scripted = torch.jit.load(str(ts))
    content, style = _image(56, 80, 13), _image(48, 48, 14)  # not the traced sizes: dynamic H×W and ranks
    reference = efdm_stylizer.stylize(content, [style], alpha=0.6, tile=False)
    with torch.no_grad():
        got = scripted(content, style, torch.tensor([0.6]))
    assert reference.std() > 0.01 and (got - reference).abs().max() <= 1e-4


@pytest.mark.slow
def test_training_with_efdm_writes_a_file_that_stylizes_with_efdm(tmp_path, capsys):
    from training_utils import TINY, make_data_root, train_in_process

    root = make_data_root(tmp_path / "data")
    result = train_in_process(root, [*TINY, "model.transfer=efdm", "data.content_dir=content",
                                     "data.style_dir=style"])
    assert read_model_file(result.last_checkpoint).spec.options == (("transfer", "efdm"),)
    out = tmp_path / "efdm.safetensors"
    assert main(["export", str(result.last_checkpoint), "--out", str(out)]) == 0
    assert "with EFDM" in capsys.readouterr().out
    assert metadata_of(out)["transfer"] == "efdm" and model_info(out)["transfer"] == "efdm"

    net = build_net(read_model_file(out))
    content, style = _image(40, 48, 15), _image(48, 56, 16)
    x = _relu4_1(net, content)
    with torch.no_grad():
        expected = net.decoder(oracle_matched(x, _relu4_1(net, style)).float(), size=(40, 48)).clamp(0, 1)
    got = load_model(out, device="cpu").stylize(content, [style], tile=False)
    assert got.std() > 0  # a decoder trained two steps still draws something
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
