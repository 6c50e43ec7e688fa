"""SANet (Park & Lee 2019, as GlebSBrykin/SANET runs it): the module, the transform and the loss terms
against re-implementations written here from the formulas (float64, relative 1e-5, random weights); the
whole network against the reference's own forward (benchmarks/sanet_reference.py) wherever the
reference runs; any input size; the importer on files with the release's keys and shapes; a few Adam
steps that lower each loss term."""

from __future__ import annotations

import functools
import warnings

import pytest
import torch
import torch.nn.functional as F

from benchmarks.sanet_reference import reference_losses, reference_release, reference_stylize
from stylexfer.errors import ModelFileError
from stylexfer.families.sanet.importer import convert_sanet_release, read_sanet_release
from stylexfer.families.sanet.losses import sanet_loss_terms
from stylexfer.families.sanet.net import MIN_SIDE, STYLE_LAYERS, SANet, SANetNet, Transform
from stylexfer.inference.inputs import crop_box, pad_to_min
from stylexfer.nets.vgg import RandomWeightsWarning

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# --------------------------------------------------------------------------- the formulas, in float64


def mvn(x: torch.Tensor) -> torch.Tensor:
    """(x − μ) / sqrt(Σ(x − μ)²/(N − 1) + 1e-5) per sample and channel."""
    x = x.double()
    n = x.shape[2] * x.shape[3]
    mean = x.sum((2, 3), keepdim=True) / n
    var = ((x - mean) ** 2).sum((2, 3), keepdim=True) / max(n - 1, 1)
    return (x - mean) / (var + 1e-5).sqrt()


def mean_sigma(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.double()
    n = x.shape[2] * x.shape[3]
    mean = x.sum((2, 3)) / n
    var = ((x - mean[..., None, None]) ** 2).sum((2, 3)) / (n - 1)
    return mean, (var + 1e-5).sqrt()


def conv1x1(conv: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    weight, bias = conv.weight[:, :, 0, 0].double(), conv.bias.double()[:, None, None]
    return torch.einsum("oc,bchw->bohw", weight, x.double()) + bias


def sanet_formula(module: SANet, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """F = f(mvn(c)), G = g(mvn(s)), H = h(s); S = softmax over style positions of FᵀG (no scaling);
    O = out_conv(H·Sᵀ) + c."""
    b, c, h, w = content.shape
    f = conv1x1(module.f, mvn(content)).reshape(b, c, h * w)
    g = conv1x1(module.g, mvn(style)).reshape(style.shape[0], c, -1).expand(b, -1, -1)
    v = conv1x1(module.h, style).reshape(style.shape[0], c, -1).expand(b, -1, -1)
    s = torch.softmax(f.transpose(1, 2) @ g, dim=-1)  # (B, Nc, Ns)
    o = (v @ s.transpose(1, 2)).reshape(b, c, h, w)
    return conv1x1(module.out_conv, o) + content.double()


def transform_formula(t: Transform, c4, s4, c5, s5) -> torch.Tensor:
    """merge_conv(reflect-pad(SANet₄ + nearest ×2 of SANet₅, cropped to relu4_1's size))."""
    deep = sanet_formula(t.sanet5_1, c5, s5).repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    merged = sanet_formula(t.sanet4_1, c4, s4) + deep[..., : c4.shape[2], : c4.shape[3]]
    conv = t.merge_conv
    return F.conv2d(F.pad(merged, (1, 1, 1, 1), mode="reflect"), conv.weight.double(), conv.bias.double())


def assert_relative(actual: torch.Tensor, expected: torch.Tensor, tol: float = 1e-5) -> None:
    error = (actual.double() - expected.double()).abs().max() / expected.double().abs().max()
    assert error <= tol, f"relative error {error:.2e} > {tol:.0e}"


def small_sanet(channels: int = 16) -> SANet:
    module = SANet(channels)
    with torch.no_grad():
        for conv in (module.f, module.g):
            conv.weight.mul_(3.0)  # logits of a few units: neither uniform nor one-hot attention
    return module


# --------------------------------------------------------------------------- module and transform


@pytest.mark.parametrize(("content_size", "style_size", "style_batch"), [((6, 7), (5, 9), 2), ((4, 4), (3, 2), 1),
                                                                          ((1, 1), (1, 1), 1)])
def test_sanet_module_is_the_formula(content_size, style_size, style_batch):
    module = small_sanet()
    content = torch.randn(2, 16, *content_size).contiguous(memory_format=torch.channels_last)
    style = torch.randn(style_batch, 16, *style_size) * 2 + 1
    assert_relative(module(content, style), sanet_formula(module, content, style))


def test_attention_is_a_softmax_over_style_positions_without_scaling():
    """With identity 1×1 convs and zero biases the module is c + softmax(mvn(c)ᵀ mvn(s))-weighted style."""
    module = SANet(4)
    with torch.no_grad():
        for conv in (module.f, module.g, module.h, module.out_conv):
            conv.weight.copy_(torch.eye(4)[:, :, None, None])
            conv.bias.zero_()
    content, style = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 2, 5)
    logits = mvn(content).reshape(4, 9).T @ mvn(style).reshape(4, 10)  # no 1/√C
    expected = content.double().reshape(4, 9) + style.double().reshape(4, 10) @ torch.softmax(logits, -1).T
    assert_relative(module(content, style), expected.reshape(1, 4, 3, 3))


@pytest.mark.parametrize("size4", [(6, 8), (5, 7), (3, 2), (2, 2)])
def test_transform_is_the_formula_at_even_and_odd_relu4_1_sizes(size4):
    transform = Transform(16)
    for sanet in (transform.sanet4_1, transform.sanet5_1):
        sanet.load_state_dict(small_sanet().state_dict())
    c4 = torch.randn(2, 16, *size4)
    c5 = torch.randn(2, 16, (size4[0] + 1) // 2, (size4[1] + 1) // 2)  # ceil-mode pool of relu4_1
    s4, s5 = torch.randn(1, 16, 7, 5), torch.randn(1, 16, 4, 3)
    out = transform(c4, s4, c5, s5)
    assert out.shape == c4.shape
    assert_relative(out, transform_formula(transform, c4, s4, c5, s5))


# --------------------------------------------------------------------------- the whole net vs the reference


def _quiet_net() -> SANetNet:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return SANetNet(encoder_weights="random")


@functools.lru_cache(maxsize=1)
def release_and_net():
    """The reference's three modules on random weights, and our net with them imported."""
    vgg, decoder, transform = reference_release()
    net = _quiet_net().eval()
    net.load_state_dict(convert_sanet_release(vgg.state_dict(), decoder.state_dict(), transform.state_dict()))
    return (vgg, decoder, transform), net


@pytest.mark.slow
@pytest.mark.parametrize(("size", "style_size"), [((64, 48), (40, 56)), ((250, 333), (64, 64))])
def test_stylize_equals_the_reference_where_it_runs(size, style_size):
    (vgg, decoder, transform), net = release_and_net()
    content, style = torch.rand(1, 3, *size), torch.rand(1, 3, *style_size)
    with torch.no_grad():
        ours = net(content, style)
        theirs = reference_stylize(vgg, decoder, transform, content, style)
    assert ours.shape == content.shape
    assert theirs.std() > 0.1  # a live signal, not a constant
    assert_relative(ours, theirs[..., : size[0], : size[1]], tol=2e-5)  # fp32 both; VGG to relu5_1


@pytest.mark.slow
def test_where_the_reference_fails_on_an_odd_relu4_1_the_net_runs():
    (vgg, decoder, transform), net = release_and_net()
    content, style = torch.rand(1, 3, 72, 100), torch.rand(1, 3, 32, 32)  # relu4_1 is 9 × 13
    with torch.no_grad(), pytest.raises(RuntimeError, match="must match"):
        reference_stylize(vgg, decoder, transform, content, style)
    with torch.no_grad():
        out = net(content, style)
    assert out.shape == content.shape and torch.isfinite(out).all()


@pytest.mark.slow
@pytest.mark.parametrize("size", [(1, 1), (1, 40), (5, 17), (16, 16), (17, 17), (33, 18)])
def test_tiny_inputs_padded_to_min_side_come_back_at_their_size(size):
    _, net = release_and_net()
    content, style = torch.rand(1, 3, *size), torch.rand(1, 3, 1, 1)
    padded, box = pad_to_min(content, MIN_SIDE)
    style, _ = pad_to_min(style, MIN_SIDE)
    with torch.no_grad():
        out = crop_box(net(padded, style), box)
    assert out.shape == content.shape and torch.isfinite(out).all()


@pytest.mark.slow
def test_min_side_is_the_smallest_the_encoder_takes():
    _, net = release_and_net()
    with torch.no_grad():
        features = net.encode(torch.rand(1, 3, MIN_SIDE, MIN_SIDE), ("relu5_1",))
        assert features["relu5_1"].shape[-2:] == (2, 2)
        with pytest.raises(RuntimeError):
            net.encode(torch.rand(1, 3, MIN_SIDE - 1, MIN_SIDE - 1), ("relu5_1",))


@pytest.mark.slow
def test_alpha_and_style_weights_blend_the_transformed_features():
    _, net = release_and_net()
    content = net.encode_style(torch.rand(1, 3, 32, 40))
    first, second = net.encode_style(torch.rand(1, 3, 32, 32)), net.encode_style(torch.rand(1, 3, 48, 24))
    with torch.no_grad():
        t1, t2 = net.stylize_features(content, [first]), net.stylize_features(content, [second])
        own = net.transform(content.relu4_1, content.relu4_1, content.relu5_1, content.relu5_1)
        torch.testing.assert_close(net.stylize_features(content, [first, second], style_weights=[0.25, 0.75]),
                                   0.25 * t1 + 0.75 * t2)
        torch.testing.assert_close(net.stylize_features(content, [first, second]), 0.5 * t1 + 0.5 * t2)
        torch.testing.assert_close(net.stylize_features(content, [first], alpha=0.3), 0.3 * t1 + 0.7 * own)
        torch.testing.assert_close(net.stylize_features(content, [first], alpha=0.0), own)
    with pytest.raises(ValueError, match="alpha"):
        net.stylize_features(content, [first], alpha=1.5)
    with pytest.raises(ValueError, match="one per style"):
        net.stylize_features(content, [first, second], style_weights=[1.0])


# --------------------------------------------------------------------------- losses


@pytest.mark.slow
def test_loss_terms_are_the_formulas_and_the_references():
    (vgg, decoder, transform), net = release_and_net()
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        output, terms = sanet_loss_terms(net, content, style)
        phi = {name: net.encode(x) for name, x in (("c", content), ("s", style), ("g", output))}
        icc = net.decoder(transform_formula(net.transform, phi["c"]["relu4_1"], phi["c"]["relu4_1"],
                                            phi["c"]["relu5_1"], phi["c"]["relu5_1"]).float())
        iss = net.decoder(transform_formula(net.transform, phi["s"]["relu4_1"], phi["s"]["relu4_1"],
                                            phi["s"]["relu5_1"], phi["s"]["relu5_1"]).float())
        phi_cc, phi_ss = net.encode(icc), net.encode(iss)

        def mse(a, b):
            return ((a.double() - b.double()) ** 2).mean()

        expected = {
            "content": sum(mse(mvn(phi["g"][n]), mvn(phi["c"][n])) for n in ("relu4_1", "relu5_1")),
            "style": sum(mse(mean_sigma(phi["g"][n])[0], mean_sigma(phi["s"][n])[0])
                         + mse(mean_sigma(phi["g"][n])[1], mean_sigma(phi["s"][n])[1]) for n in LAYERS),
            "identity1": mse(icc, content) + mse(iss, style),
            "identity2": sum(mse(phi_cc[n], phi["c"][n]) + mse(phi_ss[n], phi["s"][n]) for n in LAYERS),
        }
        reference = dict(zip(expected, reference_losses(vgg, decoder, transform, content, style), strict=True))
    assert STYLE_LAYERS == LAYERS and set(terms) == set(expected)
    for name, value in terms.items():
        assert value > 0
        assert_relative(value, expected[name], tol=1e-4 if name.startswith("identity") else 1e-5)
        assert_relative(value, reference[name], tol=1e-4)


@pytest.mark.slow
def test_a_few_adam_steps_lower_each_loss_term():
    torch.manual_seed(0)
    (vgg, decoder, transform), _ = release_and_net()
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    for term in ("content", "style", "identity1", "identity2"):
        net = _quiet_net()
        net.load_state_dict(convert_sanet_release(vgg.state_dict(), decoder.state_dict(), transform.state_dict()))
        params = [*net.transform.parameters(), *net.decoder.parameters()]
        optimizer = torch.optim.Adam(params, lr=1e-4)
        values = []
        for _ in range(4):
            _, terms = sanet_loss_terms(net, content, style)
            values.append(terms[term].item())
            optimizer.zero_grad()
            terms[term].backward()
            optimizer.step()
        assert values[-1] < values[0], f"{term}: {values}"
        assert all(p.grad is None for p in net.encoder.parameters())  # the encoder stays frozen


# --------------------------------------------------------------------------- importer


def _save_release(tmp_path, vgg_state, decoder_state, transform_state):
    paths = [tmp_path / "vgg_normalised.pth", tmp_path / "decoder_iter_500000.pth",
             tmp_path / "transformer_iter_500000.pth"]
    for path, state in zip(paths, (vgg_state, decoder_state, transform_state), strict=True):
        torch.save(state, path)
    return paths


def _release_states():
    (vgg, decoder, transform), _ = release_and_net()
    return dict(vgg.state_dict()), dict(decoder.state_dict()), dict(transform.state_dict())


@pytest.mark.slow
def test_release_files_have_the_reference_layout():
    vgg, decoder, transform = _release_states()
    assert tuple(vgg["0.weight"].shape) == (3, 3, 1, 1) and tuple(vgg["42.weight"].shape) == (512, 512, 3, 3)
    assert tuple(vgg["51.weight"].shape) == (512, 512, 3, 3)  # conv5_4: the file holds all of VGG-19
    assert sorted(decoder) == sorted(f"{i}.{s}" for i in (1, 5, 8, 11, 14, 18, 21, 25, 28) for s in ("weight", "bias"))
    assert tuple(decoder["28.weight"].shape) == (3, 64, 3, 3)
    assert sorted(transform) == sorted(
        [f"{m}.{c}.{s}" for m in ("sanet4_1", "sanet5_1") for c in ("f", "g", "h", "out_conv")
         for s in ("weight", "bias")]
        + ["merge_conv.weight", "merge_conv.bias"])
    assert tuple(transform["sanet4_1.f.weight"].shape) == (512, 512, 1, 1)
    assert tuple(transform["merge_conv.weight"].shape) == (512, 512, 3, 3)


@pytest.mark.slow
def test_import_reads_the_three_files_into_the_net(tmp_path):
    (vgg, decoder, transform), _ = release_and_net()
    paths = _save_release(tmp_path, *_release_states())
    net = _quiet_net().eval()
    net.load_state_dict(read_sanet_release(*paths), strict=True)
    content, style = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert_relative(net(content, style), reference_stylize(vgg, decoder, transform, content, style), tol=2e-5)


def _one_line_error(match: str, *states) -> None:
    with pytest.raises(ModelFileError, match=match) as caught:
        convert_sanet_release(*states, sources=("v.pth", "d.pth", "t.pth"))
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_import_errors_name_the_file_and_the_problem():
    vgg, decoder, transform = _release_states()
    _one_line_error(r"t.pth: lacks 'merge_conv.bias'", vgg, decoder,
                    {k: v for k, v in transform.items() if k != "merge_conv.bias"})
    _one_line_error(r"d.pth: '28.weight' has shape \(3, 64, 1, 1\), SANet needs \(3, 64, 3, 3\)", vgg,
                    decoder | {"28.weight": torch.zeros(3, 64, 1, 1)}, transform)
    _one_line_error(r"v.pth: lacks '42.weight'", {k: v for k, v in vgg.items() if not k.startswith("42.")},
                    decoder, transform)
    _one_line_error(r"t.pth: unexpected keys \['extra.weight'\]", vgg, decoder,
                    transform | {"extra.weight": torch.zeros(1)})
    # a transformer file where the decoder belongs, and files in the wrong order
    _one_line_error(r"d.pth: looks like the SANet transformer file .* order VGG DECODER TRANSFORMER", vgg, transform,
                    transform)
    _one_line_error(r"v.pth: looks like the SANet decoder file", decoder, vgg, transform)
    _one_line_error(r"t.pth: 'sanet5_1.h.weight' .*NaN", vgg, decoder,
                    transform | {"sanet5_1.h.weight": torch.full((512, 512, 1, 1), float("nan"))})


@pytest.mark.slow
def test_import_of_missing_or_foreign_files_is_one_line(tmp_path):
    vgg, decoder, transform = _release_states()
    paths = _save_release(tmp_path, vgg, decoder, transform)
    with pytest.raises(ModelFileError, match="no such file"):
        read_sanet_release(paths[0], paths[1], tmp_path / "missing.pth")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ModelFileError, match=r"other.pth: lacks 'sanet4_1.f.weight'"):
        read_sanet_release(paths[0], paths[1], tmp_path / "other.pth")
