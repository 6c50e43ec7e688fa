
import pytest
import torch

from stylexfer.families.adain.losses import adain_loss_terms
from stylexfer.families.adain.net import AdaINNet
from stylexfer.families.johnson.losses import JohnsonCriterion
from stylexfer.families.johnson.net import TransformerNet
from stylexfer.functional import gram_matrix
from stylexfer.losses import (
    content_loss,
    gram_style_loss,
    mean_std_loss,
)


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


# --------------------------------------------------------------------------- loss scales


def test_gram_reductions_differ_by_c_squared_per_layer():
    features = torch.randn(2, 64, 6, 6)
    target = gram_matrix(torch.randn(1, 64, 6, 6))
    total = gram_style_loss(features, target, "sum")
    mean = gram_style_loss(features, target, "mean")
    torch.testing.assert_close(total, mean * 64**2)
    with pytest.raises(ValueError, match="reduction"):
        gram_style_loss(features, target, "median")


def _reference_fns_loss(state, y255, x255, style255, content_weight, style_weight):
    """pytorch/examples fast_neural_style's training loss, written from its formulas: inputs in
    0..255, `normalize_batch` (÷255, ImageNet mean/std), torchvision VGG-16 slices up to relu4_3
    (zero padding), content = cw·mse(relu2_2), style = sw·Σ mse(gram(y), gram(s)),
    gram = F·Fᵀ/(c·h·w)."""
    import torch.nn.functional as F

    mean = torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    plan = [0, 2, "relu1_2", "M", 5, 7, "relu2_2", "M", 10, 12, 14, "relu3_3", "M", 17, 19, 21, "relu4_3"]

    def vgg(batch):
        h = (batch / 255.0 - mean) / std
        taps = {}
        for step in plan:
            if step == "M":
                h = F.max_pool2d(h, 2, 2)
            elif isinstance(step, str):
                taps[step] = h
            else:
                h = F.relu(F.conv2d(h, state[f"features.{step}.weight"], state[f"features.{step}.bias"], padding=1))
        return taps

    def gram(y):
        b, ch, h, w = y.size()
        f = y.view(b, ch, w * h)
        return f.bmm(f.transpose(1, 2)) / (ch * h * w)

    fy, fx, fs = vgg(y255), vgg(x255), vgg(style255.repeat(y255.shape[0], 1, 1, 1))
    content = content_weight * F.mse_loss(fy["relu2_2"], fx["relu2_2"])
    style = 0.0
    for name in ("relu1_2", "relu2_2", "relu3_3", "relu4_3"):
        style = style + F.mse_loss(gram(fy[name]), gram(fs[name]))
    return content + style_weight * style


def test_fns_mosaic_loss_equals_pytorch_examples_loss(tmp_path):
    """experiment=fns_mosaic's weights and reduction give pytorch/examples' loss value and gradient
    for the same output picture (ours in 0..1, theirs in 0..255), on random VGG weights."""
    from stylexfer.files.images import save_image
    from stylexfer.training.config import validate
    from stylexfer.training.run import compose_config
    from stylexfer.training.systems import build_system

    torch.manual_seed(0)
    style = torch.rand(3, 40, 40)
    save_image(style, tmp_path / "style.png")
    settings = validate(compose_config([
        "experiment=fns_mosaic", "model.vgg_weights=random", f"model.style_image={tmp_path / 'style.png'}",
        "model.style_size=40",
    ]))
    system = build_system(settings.model, settings.optim)
    state = {k: v for k, v in system.criterion.vgg.state_dict().items() if k.startswith("features.")}
    style255 = torch.round(style * 255)[None]  # the PNG round trip quantises the style image
    x255 = torch.rand(2, 3, 32, 32) * 255
    y255 = (torch.rand(2, 3, 32, 32) * 255).requires_grad_(True)

    ours = system._weigh(system.criterion(y255 / 255, x255 / 255))
    (ours_grad,) = torch.autograd.grad(ours, y255)
    theirs = _reference_fns_loss(state, y255, x255, style255, 1e5, 1e10)
    (theirs_grad,) = torch.autograd.grad(theirs, y255)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-5, atol=1e-5 * theirs_grad.abs().max().item())


def test_adain_style_loss_uses_the_biased_sigma():
    """σ = sqrt(Σ(x − μ)²/N + 1e-5): the biased σ, not pytorch-AdaIN's unbiased calc_mean_std."""
    torch.manual_seed(0)
    out, style = torch.randn(2, 4, 3, 3), torch.randn(1, 4, 3, 3) * 3 + 1
    def stats(x, correction):
        var = x.flatten(2).var(dim=2, correction=correction) + 1e-5
        return x.flatten(2).mean(dim=2), var.sqrt()
    def loss(correction):
        (om, os_), (sm, ss) = stats(out, correction), stats(style, correction)
        return ((om - sm) ** 2).mean() + ((os_ - ss) ** 2).mean()
    value = mean_std_loss(out, style)
    torch.testing.assert_close(value, loss(0))
    assert abs(value.item() - loss(1).item()) > 1e-3  # N = 9: the unbiased σ would differ visibly
