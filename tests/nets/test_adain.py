import pytest
import torch

from reference_nets import plain_mean_std
from stylexfer.families.adain.net import AdaINNet, Decoder
from stylexfer.functional import EPS, channel_mean_std
from stylexfer.nets import StyleCode


@pytest.mark.parametrize("size", [(256, 256), (257, 301)])
def test_output_has_the_content_size(adain_net, size):
    with torch.no_grad():
        out = adain_net(torch.rand(1, 3, *size), torch.rand(1, 3, 64, 80))
    assert out.shape == (1, 3, *size)
    assert torch.isfinite(out).all()


def test_decoder_layout_mirrors_the_encoder():
    decoder = Decoder()
    convs = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (512, 256), (256, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64), (64, 3)
    ]
    assert {c.kernel_size for c in convs} == {(3, 3)} and {c.padding_mode for c in convs} == {"reflect"}
    assert decoder(torch.rand(1, 512, 4, 5)).shape == (1, 3, 32, 40)


def test_encoder_is_vgg19_to_relu4_1_with_reflection():
    net = AdaINNet(encoder_weights="random")
    assert net.encoder.arch == "vgg19" and net.encoder.names[-1] == "relu4_1"
    convs = [m for m in net.encoder.features if isinstance(m, torch.nn.Conv2d)]
    assert {c.padding_mode for c in convs} == {"reflect"}


def test_a_reused_style_code_equals_encoding_each_time(adain_net):
    content, style = torch.rand(3, 3, 64, 64), torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        code = adain_net.encode_style(style)
        torch.testing.assert_close(adain_net(content, code), adain_net(content, style))


def test_alpha_zero_decodes_the_content_features(adain_net):
    content = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = adain_net.decoder(adain_net.encode(content)["relu4_1"], size=(64, 64))
        torch.testing.assert_close(adain_net(content, torch.rand(1, 3, 64, 64), alpha=0.0), expected)
    with pytest.raises(ValueError, match="alpha"):
        adain_net(content, torch.rand(1, 3, 64, 64), alpha=1.5)


def test_stylized_features_carry_the_style_statistics(adain_net):
    content, style = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        code = adain_net.encode_style(style)
        features = adain_net.encode(content)["relu4_1"]
        target = adain_net.stylize_features(features, code)
    mean, std = channel_mean_std(target, eps=0.0)
    torch.testing.assert_close(mean, code.mean, atol=1e-4, rtol=0)
    # σ_out = σ_s · σ_c / sqrt(σ_c² + ε): the style's σ wherever the content channel varies well above ε
    content_std = channel_mean_std(features, eps=0.0)[1]
    expected = code.std * content_std / (content_std.square() + EPS).sqrt()
    torch.testing.assert_close(std, expected, atol=1e-5, rtol=1e-3)
    assert (content_std > 0.01).float().mean() > 0.5  # var ≫ ε: σ_out ≈ σ_s on most channels


def test_a_weighted_sum_of_two_codes_is_the_papers_interpolation(adain_net):
    """Σ w_k·AdaIN(x, y_k) (Huang & Belongie §7, style interpolation) equals AdaIN(x, Σ w_k·code_k),
    which is why StyleCodes mix by a weighted sum; the right side is computed here independently."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 512, 8, 8, generator=gen) * 2 + 0.5
    codes = [StyleCode(torch.randn(1, 512, 1, 1, generator=gen), torch.rand(1, 512, 1, 1, generator=gen) + 0.2)
             for _ in range(2)]
    assert (codes[0].mean - codes[1].mean).abs().mean() > 0.5  # two really different styles
    weights = (0.3, 0.7)
    mixed = StyleCode(*(sum(w * getattr(c, part) for w, c in zip(weights, codes, strict=True))
                        for part in ("mean", "std")))
    got = adain_net.stylize_features(x, mixed)
    mu, sigma = plain_mean_std(x)
    expected = sum(w * ((x - mu) / sigma * c.std + c.mean) for w, c in zip(weights, codes, strict=True))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # the mixed picture carries the mixed statistics, not one style's
    out_mean, out_std = plain_mean_std(got)
    torch.testing.assert_close(out_mean, (0.3 * codes[0].mean + 0.7 * codes[1].mean).expand_as(out_mean),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(out_std, (0.3 * codes[0].std + 0.7 * codes[1].std).expand_as(out_std),
                               atol=1e-4, rtol=1e-4)


def test_constant_images_give_finite_outputs_and_gradients():
    net = AdaINNet(encoder_weights="random")
    content, style = torch.full((1, 3, 32, 32), 0.5), torch.full((1, 3, 32, 32), 0.1)
    out = net(content, style)
    out.mean().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in net.decoder.parameters())
    assert all(p.grad is None for p in net.encoder.parameters())
