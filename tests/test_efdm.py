"""EFDM (Zhang et al. 2022; YBZh/EFDM ArbitraryStyleTransfer/function.py and net.py): the transfer operator
and its style loss against independent re-implementations written here from the paper's definitions."""

from __future__ import annotations

import pytest
import torch

from stylexfer.functional import exact_feature_distribution_matching, sorted_quantiles
from stylexfer.losses import efdm_style_loss


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
