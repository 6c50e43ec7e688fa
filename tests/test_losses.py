import subprocess
import sys

import pytest
import torch

from stylexfer.functional import gram_matrix
from stylexfer.losses import (
    JohnsonCriterion,
    adain_loss_terms,
    content_loss,
    gram_style_loss,
    mean_std_loss,
)
from stylexfer.nets import AdaINNet, TransformerNet


@pytest.fixture(scope="module")
def johnson_criterion():
    torch.manual_seed(0)
    return JohnsonCriterion(torch.rand(1, 3, 48, 48), vgg_weights="random")


def test_content_loss_is_normalised_by_chw():
    a, b = torch.zeros(2, 4, 3, 5), torch.ones(2, 4, 3, 5) * 2
    assert content_loss(a, b).item() == pytest.approx(4.0)  # ‖2‖² per element, / (C·H·W), mean over batch
    assert content_loss(a, a).item() == 0


def test_gram_style_loss_is_the_squared_frobenius_norm():
    features = torch.randn(2, 3, 4, 4)
    target = torch.zeros(1, 3, 3)
    expected = gram_matrix(features).square().sum(dim=(1, 2)).mean()
    torch.testing.assert_close(gram_style_loss(features, target), expected)
    assert gram_style_loss(features, gram_matrix(features)).item() == pytest.approx(0, abs=1e-10)


def test_mean_std_loss_zero_for_identical_and_positive_otherwise():
    a = torch.randn(2, 8, 6, 6)
    assert mean_std_loss(a, a).item() == 0
    assert mean_std_loss(a, a * 2 + 1).item() > 0


@pytest.mark.slow
def test_johnson_terms_zero_for_identical_images(johnson_criterion):
    style = torch.rand(1, 3, 48, 48)
    criterion = JohnsonCriterion(style, vgg_weights="random")
    criterion.load_state_dict(johnson_criterion.state_dict())
    criterion.set_style(style)
    terms = criterion(style, style)
    assert terms["content"].item() == 0
    assert terms["style"].item() == pytest.approx(0, abs=1e-9)
    other = criterion(torch.rand(1, 3, 48, 48), style)
    assert other["content"].item() > 0 and other["style"].item() > 0 and other["tv"].item() > 0


def test_johnson_style_grams_are_computed_once_and_broadcast(johnson_criterion):
    assert johnson_criterion.gram_relu3_3.shape == (1, 256, 256)
    assert "gram_relu3_3" not in johnson_criterion.state_dict()  # the style image is configuration
    terms = johnson_criterion(torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32))
    assert all(t.dim() == 0 for t in terms.values())


@pytest.mark.slow
def test_johnson_gradients_reach_the_transformer_and_never_vgg(johnson_criterion):
    net = TransformerNet()
    content = torch.rand(2, 3, 32, 32)
    terms = johnson_criterion(net(content), content)
    (terms["content"] + 1e-3 * terms["style"]).backward()
    assert all(p.grad is not None for p in net.parameters())
    assert all(p.grad is None for p in johnson_criterion.parameters())


@pytest.mark.slow
def test_adain_terms_and_gradients():
    net = AdaINNet(encoder_weights="random")
    content, style = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    output, terms = adain_loss_terms(net, content, style)
    assert output.shape == content.shape
    assert terms["content"].item() > 0 and terms["style"].item() > 0
    (terms["content"] + 10 * terms["style"]).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.decoder.parameters())
    assert all(p.grad is None for p in net.encoder.parameters())


def test_adain_style_term_vanishes_when_output_is_the_style():
    net = AdaINNet(encoder_weights="random")
    style = torch.rand(1, 3, 32, 32)
    features = net.encode(style)
    assert sum(mean_std_loss(features[k], features[k]) for k in features).item() == 0


@pytest.mark.slow
def test_constant_images_give_finite_losses_and_gradients():
    net = AdaINNet(encoder_weights="random")
    flat = torch.full((1, 3, 32, 32), 0.5)
    _, terms = adain_loss_terms(net, flat, torch.zeros(1, 3, 32, 32))
    (terms["content"] + terms["style"]).backward()
    assert all(torch.isfinite(t) for t in terms.values())
    assert all(torch.isfinite(p.grad).all() for p in net.decoder.parameters())


@pytest.mark.slow
def test_core_imports_without_lightning_or_hydra():
    code = (
        "import sys, stylexfer.nets, stylexfer.losses, stylexfer.functional, stylexfer.files.images\n"
        "bad = [m for m in ('pytorch_lightning', 'lightning', 'hydra', 'omegaconf') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
