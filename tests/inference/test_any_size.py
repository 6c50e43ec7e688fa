"""Any image size (issue 9, items 16 and 17): every H×W from 1×1 comes out at the input's size, and
at every size the imported public networks give the reference network's output cropped to the input
size, so a picture is never shifted against its content.

The references are pytorch/examples' fast-neural-style TransformerNet and naoto0804/pytorch-AdaIN's
vgg_normalised + decoder, re-implemented module for module in tests/model_factories.py (ReflectionPad2d
before each conv, MaxPool2d(2, 2, ceil_mode=True), nearest ×2 upsampling); their forward passes are
written out below, each returning the reference's full (larger) output.
"""

from __future__ import annotations

import pytest
import torch

from model_factories import (
    adain_net,
    fast_neural_style_state,
    johnson_net,
    orig_adain_pair,
    orig_calc_mean_std,
    orig_fast_neural_style,
)
from stylexfer.families.adain.files import convert_adain_release
from stylexfer.families.johnson.files import convert_fast_neural_style
from stylexfer.files.modelfile import ModelSpec, build_net, read_model_file, write_safetensors
from stylexfer.inference import Stylizer

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")

ODD_SIZES = [(37, 53), (41, 40), (64, 71), (19, 33), (9, 9)]


def _reference_adain(vgg, decoder, content, style, alpha):
    """pytorch-AdaIN test.py style_transfer(): encoder to relu4_1, AdaIN, α blend, decoder."""
    encoder = vgg[:31]
    c_feat, s_feat = encoder(content), encoder(style)
    s_mean, s_std = orig_calc_mean_std(s_feat)  # the reference's own σ: unbiased variance
    c_mean, c_std = orig_calc_mean_std(c_feat)
    t = (c_feat - c_mean) / c_std * s_std + s_mean
    return decoder(alpha * t + (1 - alpha) * c_feat)


@pytest.fixture(scope="module")
def adain_pair():
    vgg, decoder = orig_adain_pair()
    weights = convert_adain_release(vgg.state_dict(), decoder.state_dict())
    return vgg, decoder, Stylizer(build_net(weights), weights.spec, device="cpu")


@pytest.fixture(scope="module")
def fns_pair():
    orig = orig_fast_neural_style()
    weights = convert_fast_neural_style(fast_neural_style_state(orig))
    return orig, Stylizer(build_net(weights), weights.spec, device="cpu")


@pytest.mark.parametrize(("h", "w"), ODD_SIZES)
def test_adain_equals_reference_cropped_at_any_size(adain_pair, h, w):
    vgg, decoder, stylizer = adain_pair
    g = torch.Generator().manual_seed(h * 1000 + w)
    content, style = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, 48, 40, generator=g)
    with torch.no_grad():
        theirs = _reference_adain(vgg, decoder, content, style, alpha=0.8)
    assert theirs.shape[-2] >= h and theirs.shape[-1] >= w  # the reference returns a larger picture
    expected = theirs[..., :h, :w].clamp(0, 1)
    assert expected.std() > 0.05  # a live signal: the comparison means something
    ours = stylizer.stylize(content, [style], alpha=0.8, tile=False)
    assert ours.shape == (1, 3, h, w)
    assert (ours - expected).abs().max() < 1e-4


@pytest.mark.parametrize(("h", "w"), ODD_SIZES)
def test_fast_neural_style_equals_reference_cropped_at_any_size(fns_pair, h, w):
    orig, stylizer = fns_pair
    content = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h + w))
    with torch.no_grad():
        theirs = orig(content * 255.0)  # 0-255 in and out
    expected = (theirs[..., :h, :w].clamp(0, 255) / 255.0)
    ours = stylizer.stylize(content)
    assert ours.shape == (1, 3, h, w)
    assert (ours - expected).abs().max() < 1e-4


@pytest.mark.parametrize("kind", ["adain", "johnson"])
@pytest.mark.parametrize(("h", "w"), [(1, 1), (2, 3000), (3000, 2), (7, 9), (4, 4), (1, 17)])
def test_every_size_stylizes_at_its_own_size(kind, h, w):
    if kind == "adain":
        stylizer = Stylizer(adain_net(), ModelSpec("adain", encoder="random"), device="cpu")
        styles = [torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))]
    else:
        stylizer, styles = Stylizer(johnson_net(), ModelSpec("johnson"), device="cpu"), None
    content = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    out = stylizer.stylize(content, styles, preserve_color=(h == 7))
    assert out.shape == (1, 3, h, w) and bool(torch.isfinite(out).all())
    assert out.min() >= 0 and out.max() <= 1


def test_tiny_image_with_a_mask_keeps_its_regions():
    stylizer = Stylizer(adain_net(), ModelSpec("adain", encoder="random"), device="cpu")
    g = torch.Generator().manual_seed(3)
    styles = [torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)]
    labels = torch.tensor([[0, 0, 1]])  # a 1×3 image: two pixels of style 1, one of style 2
    out = stylizer.stylize(torch.rand(1, 3, 1, 3, generator=g), styles, mask=labels)
    assert out.shape == (1, 3, 1, 3)


def test_an_imported_file_keeps_the_references_sigma_at_other_sizes(adain_pair, tmp_path):
    """The σ convention travels with the file: an imported pytorch-AdaIN pair is stored as "unbiased"
    and, written and read back, stylizes like the reference with content and style of different sizes
    (biased σ would differ by a factor sqrt(N/(N-1)) that no longer cancels)."""
    from stylexfer.files.modelfile import metadata_of, weights_of
    from stylexfer.inference import load_model

    vgg, decoder, stylizer = adain_pair
    path = write_safetensors(weights_of(stylizer.net.float(), stylizer.spec), tmp_path / "imported.safetensors")
    assert metadata_of(path)["statistics"] == "unbiased"
    reloaded = load_model(read_model_file(path), device="cpu")
    g = torch.Generator().manual_seed(5)
    content, style = torch.rand(1, 3, 40, 40, generator=g), torch.rand(1, 3, 64, 48, generator=g)
    with torch.no_grad():
        expected = _reference_adain(vgg, decoder, content, style, alpha=1.0)[..., :40, :40].clamp(0, 1)
    assert expected.std() > 0.05
    assert (reloaded.stylize(content, [style], tile=False) - expected).abs().max() < 1e-4
