import torch

from stylexfer.functional import EPS, adain, adain_with_stats, channel_mean_std, gram_matrix, total_variation


def test_channel_mean_std_matches_definition():
    x = torch.randn(2, 3, 5, 7)
    mean, std = channel_mean_std(x)
    assert mean.shape == std.shape == (2, 3, 1, 1)
    torch.testing.assert_close(mean[..., 0, 0], x.mean(dim=(2, 3)))
    torch.testing.assert_close(std[..., 0, 0], (x.var(dim=(2, 3), correction=0) + EPS).sqrt())


def test_adain_output_carries_style_statistics():
    content = torch.randn(3, 8, 16, 16) * 2 + 1
    style = torch.randn(3, 8, 9, 11) * 0.5 - 3
    out = adain(content, style)
    assert out.shape == content.shape
    out_mean, out_std = channel_mean_std(out, eps=0.0)
    style_mean, style_std = channel_mean_std(style, eps=0.0)
    torch.testing.assert_close(out_mean, style_mean, atol=1e-4, rtol=0)
    torch.testing.assert_close(out_std, style_std, atol=1e-4, rtol=1e-4)


def test_adain_single_style_broadcasts_over_batch():
    content = torch.randn(4, 8, 6, 6)
    style = torch.randn(1, 8, 6, 6)
    torch.testing.assert_close(adain(content, style), adain(content, style.expand(4, -1, -1, -1)))


def test_adain_with_stats_is_eq_8_computed_independently():
    """σ_s·(x − μ(x))/sqrt(var(x) + ε) + μ_s, written out with torch's own reductions (biased variance,
    ε inside the root), for precomputed (1, C, 1, 1) statistics broadcast over the batch."""
    content = torch.randn(2, 4, 6, 5) * 3 + 2
    style_mean, style_std = torch.randn(1, 4, 1, 1), torch.rand(1, 4, 1, 1) + 0.5
    out = adain_with_stats(content, style_mean, style_std)
    mu = content.mean(dim=(2, 3), keepdim=True)
    sigma = (content.var(dim=(2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    torch.testing.assert_close(out, (content - mu) / sigma * style_std + style_mean)
    # so the output carries the given statistics, per sample (σ ≫ ε here)
    torch.testing.assert_close(out.mean(dim=(2, 3)), style_mean.reshape(1, 4).expand(2, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(2, 3), unbiased=False), style_std.reshape(1, 4).expand(2, 4),
                               atol=1e-4, rtol=1e-4)


def test_adain_with_stats_keeps_a_half_input_dtype_but_computes_in_fp32():
    content = (torch.randn(1, 4, 32, 32) * 100).to(torch.bfloat16)
    style_mean, style_std = torch.zeros(1, 4, 1, 1), torch.ones(1, 4, 1, 1)
    out = adain_with_stats(content, style_mean, style_std)
    assert out.dtype == torch.bfloat16
    exact = adain_with_stats(content.float(), style_mean, style_std)
    assert (out.float() - exact).abs().max() < 0.02  # one bf16 rounding of a unit-σ output, no more


def test_adain_constant_inputs_are_finite_with_finite_gradients():
    content = torch.full((1, 4, 8, 8), 0.7, requires_grad=True)
    style = torch.full((1, 4, 8, 8), 0.2, requires_grad=True)
    out = adain(content, style)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(content.grad).all() and torch.isfinite(style.grad).all()


def test_gram_matrix_of_a_known_tensor():
    # one sample, C=2, H=1, W=2: ψ = [[1, 2], [3, 4]]; ψψᵀ = [[5, 11], [11, 25]]; / (C·H·W = 4)
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    torch.testing.assert_close(gram_matrix(features), expected)


def test_gram_matrix_is_fp32_under_half_inputs():
    features = torch.full((1, 4, 64, 64), 300.0, dtype=torch.float16)  # fp16 would overflow the sum
    gram = gram_matrix(features)
    assert gram.dtype == torch.float32 and torch.isfinite(gram).all()
    torch.testing.assert_close(gram, torch.full((1, 4, 4), 300.0**2 / 4))


def test_total_variation_zero_for_constant_and_positive_for_edges():
    assert total_variation(torch.ones(1, 3, 8, 8)).item() == 0
    stripes = torch.zeros(1, 3, 8, 8)
    stripes[..., ::2] = 1
    assert total_variation(stripes).item() > 0.5
