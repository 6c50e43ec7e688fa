"""Every speed-up keeps the plain path's numbers: channels_last, folded normalisation, in-place ReLU,
batch-norm-kernel instance norm, layout-aware statistics, batched vs one by one, fused Adam, and bf16
autocast (looser). The plain paths are reference_nets.py's independent re-implementations of the
published forwards (NCHW, a reflection-pad copy before each conv, separate 1×1 normalisation conv,
F.instance_norm), shared with the benchmark.

fp32 tolerance: 1e-5 relative to the output's largest magnitude (summation order differs).
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from reference_nets import plain_adain, plain_johnson, plain_vgg
from stylexfer.families.adain.net import AdaINNet
from stylexfer.families.johnson.net import TransformerNet
from stylexfer.functional import channel_mean_std, gram_matrix, instance_norm
from stylexfer.nets import VGGFeatures

RTOL = 1e-5
CL = torch.channels_last


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12)).item()


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        yield


def johnson_with_affine_norms() -> TransformerNet:
    net = TransformerNet()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return net


@pytest.mark.parametrize("padding_mode", ["reflect", "zeros"])
def test_vgg_taps_equal_plain_path(padding_mode):
    """Folded normalisation (reflect), channels_last and in-place ReLU keep every tap, conv taps too."""
    layers = ("conv1_1", "relu1_1", "conv2_1", "relu2_2", "relu3_1", "relu4_1")
    vgg = VGGFeatures("vgg19", layers, weights="random", padding_mode=padding_mode)
    x = torch.rand(2, 3, 37, 45)
    original = x.clone()
    fast, plain = vgg(x), plain_vgg(vgg, x)
    assert torch.equal(x, original)  # the caller's tensor is untouched
    for name in layers:
        assert fast[name].shape == plain[name].shape
        assert rel_err(fast[name], plain[name]) < RTOL, name


def test_folding_handles_a_general_normalisation_layer():
    """A Caffe-converted VGG's first 1×1 conv can mix channels (BGR order, 0–255 scale): the fold is a
    matrix product, not a per-channel scale, so it stays exact."""
    vgg = VGGFeatures("vgg19", ("relu1_2",), weights="random", padding_mode="reflect")
    with torch.no_grad():
        bgr_255 = torch.tensor([[0, 0, 255.0], [0, 255.0, 0], [255.0, 0, 0]])
        vgg.normalize.weight.copy_(bgr_255.reshape(3, 3, 1, 1))
        vgg.normalize.bias.copy_(torch.tensor([-103.9, -116.8, -123.7]))
    x = torch.rand(1, 3, 20, 23)
    assert rel_err(vgg(x)["relu1_2"], plain_vgg(vgg, x)["relu1_2"]) < RTOL


@pytest.mark.slow
def test_adain_equals_plain_path_with_alpha_and_odd_sizes():
    net = AdaINNet(encoder_weights="random")
    content, style = torch.rand(2, 3, 43, 38), torch.rand(1, 3, 35, 50)
    with torch.inference_mode():
        for alpha in (1.0, 0.6):
            assert rel_err(net(content, style, alpha=alpha), plain_adain(net, content, style, alpha)) < RTOL


@pytest.mark.slow
def test_johnson_equals_plain_path_forward_and_backward():
    net = johnson_with_affine_norms()
    x = torch.rand(2, 3, 35, 42, requires_grad=True)
    x_plain = x.detach().clone().requires_grad_(True)
    out, ref = net(x), plain_johnson(net, x_plain)
    assert rel_err(out, ref) < RTOL
    grads = torch.autograd.grad(out.square().sum(), [x, *net.parameters()])
    grads_plain = torch.autograd.grad(ref.square().sum(), [x_plain, *net.parameters()])
    # Biases of convs followed by instance norm have a zero gradient in exact arithmetic, so compare
    # each gradient against the largest gradient magnitude, not its own (rounding-noise) size.
    scale = max(g.abs().max() for g in grads_plain)
    for got, want in zip(grads, grads_plain, strict=True):
        assert (got - want).abs().max() / scale < 5e-5


@pytest.mark.slow
def test_adain_training_gradients_equal_plain_path():
    """The decoder's in-place ReLUs and the encoder's channels_last path are autograd-correct."""
    net = AdaINNet(encoder_weights="random")
    content, style = torch.rand(2, 3, 32, 40), torch.rand(2, 3, 32, 40)
    params = list(net.decoder.parameters())
    fast = torch.autograd.grad(net(content, style).square().mean(), params)
    plain = torch.autograd.grad(plain_adain(net, content, style).square().mean(), params)
    for got, want in zip(fast, plain, strict=True):
        assert rel_err(got, want) < 5e-5


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["adain", "johnson"])
def test_channels_last_input_equals_contiguous_input(kind):
    net = AdaINNet(encoder_weights="random") if kind == "adain" else johnson_with_affine_norms()
    x = torch.rand(2, 3, 33, 40)
    args = (net.encode_style(torch.rand(1, 3, 40, 33)),) if kind == "adain" else ()
    with torch.inference_mode():
        a = net(x.contiguous(), *args)
        b = net(x.contiguous(memory_format=CL), *args)
        c = net.to(memory_format=CL)(x, *args)  # channels_last weights too (what a caller may do)
    assert rel_err(b, a) < RTOL and rel_err(c, a) < RTOL


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["adain", "johnson"])
def test_batched_equals_one_by_one(kind):
    """A folder batch with one shared StyleCode gives each image what it gets alone."""
    net = AdaINNet(encoder_weights="random") if kind == "adain" else johnson_with_affine_norms()
    batch = torch.rand(3, 3, 32, 36)
    with torch.inference_mode():
        if kind == "adain":
            code = net.encode_style(torch.rand(1, 3, 40, 40))
            together = net(batch, code)
            alone = torch.cat([net(image[None], code) for image in batch])
        else:
            together = net(batch)
            alone = torch.cat([net(image[None]) for image in batch])
    assert rel_err(together, alone) < RTOL


@pytest.mark.slow
def test_reused_style_code_equals_style_image():
    net = AdaINNet(encoder_weights="random")
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 48, 40)
    with torch.inference_mode():
        assert rel_err(net(content, net.encode_style(style)), net(content, style)) < RTOL


def test_instance_norm_equals_torch():
    x = torch.randn(3, 8, 9, 11) * 4 + 2
    weight, bias = torch.rand(8) + 0.5, torch.randn(8)
    want = F.instance_norm(x, weight=weight, bias=bias)
    for layout in (torch.contiguous_format, CL):
        got = instance_norm(x.contiguous(memory_format=layout), weight, bias)
        assert got.is_contiguous(memory_format=layout)
        assert rel_err(got, want) < RTOL
    assert rel_err(instance_norm(x, None, None), F.instance_norm(x)) < RTOL


def test_statistics_and_gram_do_not_depend_on_layout():
    x = torch.randn(2, 16, 10, 7) * 3 + 1
    mean, std = channel_mean_std(x)
    mean_cl, std_cl = channel_mean_std(x.contiguous(memory_format=CL))
    flat = x.flatten(2)
    assert mean.shape == (2, 16, 1, 1)
    assert rel_err(mean, flat.mean(2)[..., None, None]) < RTOL
    assert rel_err(std, (flat.var(2, unbiased=False) + 1e-5).sqrt()[..., None, None]) < RTOL
    assert rel_err(mean_cl, mean) < RTOL and rel_err(std_cl, std) < RTOL
    gram = gram_matrix(x)
    assert rel_err(gram, flat @ flat.mT / (16 * 10 * 7)) < RTOL
    assert rel_err(gram_matrix(x.contiguous(memory_format=CL)), gram) < RTOL


@pytest.mark.slow
def test_bf16_autocast_stays_close_and_keeps_statistics_fp32():
    """The GPU path (bf16 autocast) checked on CPU: ~3 significant digits, statistics and Grams fp32."""
    net = AdaINNet(encoder_weights="random")
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    johnson = johnson_with_affine_norms()
    with torch.inference_mode():
        want, want_j = net(content, style), johnson(content)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got, got_j = net(content, style), johnson(content)
            feats = net.encode(content)["relu4_1"]
            assert feats.dtype == torch.bfloat16
            assert channel_mean_std(feats)[1].dtype == torch.float32
            assert gram_matrix(feats).dtype == torch.float32
    assert rel_err(got, want) < 0.1
    assert (got_j.float() - want_j).abs().max() < 0.05  # sigmoid output in [0, 1]


def test_fused_adam_equals_foreach_adam():
    """Training should use Adam(fused=True): same parameters after a few steps."""
    torch.manual_seed(0)
    a = [torch.randn(64, 32, 3, 3, requires_grad=True), torch.randn(64, requires_grad=True)]
    b = [p.detach().clone().requires_grad_(True) for p in a]
    opt_a = torch.optim.Adam(a, lr=1e-3, fused=True)
    opt_b = torch.optim.Adam(b, lr=1e-3, foreach=True)
    for step in range(3):
        grads = [torch.randn_like(p) * (step + 1) for p in a]
        for p, q, g in zip(a, b, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        opt_a.step()
        opt_b.step()
    for p, q in zip(a, b, strict=True):
        assert rel_err(p.detach(), q.detach()) < RTOL
