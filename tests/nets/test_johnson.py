import pytest
import torch

from stylexfer.families.johnson.net import TransformerNet


@pytest.mark.parametrize("size", [(256, 256), (257, 301), (33, 17)])
def test_output_has_the_input_size_and_is_an_image(size):
    net = TransformerNet()
    images = torch.rand(1, 3, *size)
    out = net(images)
    assert out.shape == images.shape
    assert out.min() >= 0 and out.max() <= 1


def test_layout_matches_the_paper_table():
    net = TransformerNet()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs[:3]] == [(32, 9, 1), (64, 3, 2), (128, 3, 2)]
    assert len(net.residuals) == 5
    assert [(c.out_channels, c.kernel_size[0]) for c in convs[-3:]] == [(64, 3), (32, 3), (3, 9)]
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    assert {c.padding_mode for c in convs} == {"reflect"}
    norms = [m for m in net.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert len(norms) == len(convs) - 1  # after every conv but the last


def test_gradients_reach_every_parameter():
    net = TransformerNet()
    net(torch.rand(2, 3, 32, 32)).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_clamp_output_mode_bounds_a_linear_head():
    net = TransformerNet(output="clamp")
    with torch.no_grad():
        net.conv_out.conv.bias.fill_(5.0)
    assert torch.equal(net(torch.rand(1, 3, 16, 16)), torch.ones(1, 3, 16, 16))
    with pytest.raises(ValueError, match="output"):
        TransformerNet(output="tanh")
