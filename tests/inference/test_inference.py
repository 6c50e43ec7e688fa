"""The inference API: each option changes the output the way it should (AdaIN paper §7)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from model_factories import adain_net, johnson_net
from stylexfer.errors import ModelFileError
from stylexfer.files.modelfile import ModelSpec
from stylexfer.inference import (
    RequestError,
    Stylizer,
    load_model,
    mask_labels,
    preserve_content_color,
)

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


def _image(h: int, w: int, seed: int, tint=(1.0, 1.0, 1.0)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, h // 8, w // 8, generator=g)
    img = torch.nn.functional.interpolate(
        base[None], size=(h, w), mode="bilinear", align_corners=False
    )[0]
    return (img * torch.tensor(tint)[:, None, None]).clamp(0, 1)


@pytest.fixture(scope="module")
def adain() -> Stylizer:
    return Stylizer(
        adain_net(), ModelSpec("adain", encoder="random"), device="cpu", name="adain.ckpt"
    )


@pytest.fixture(scope="module")
def johnson() -> Stylizer:
    return Stylizer(johnson_net(), ModelSpec("johnson"), device="cpu", name="johnson.ckpt")


def test_output_is_content_sized_image_in_unit_range(adain, johnson):
    content = _image(40, 56, 0)
    for out in (adain.stylize(content, [_image(32, 32, 1)]), johnson.stylize(content)):
        assert out.shape == (1, 3, 40, 56) and out.dtype == torch.float32
        assert out.min() >= 0 and out.max() <= 1


@pytest.mark.slow
def test_alpha_zero_is_content_reconstruction(adain):
    content = _image(48, 48, 0)
    out = adain.stylize(content, [_image(32, 32, 1)], alpha=0.0)
    with torch.inference_mode():
        expected = adain.net.decoder(
            adain.net.encode(content[None])["relu4_1"], size=(48, 48)
        ).clamp(0, 1)
    assert torch.allclose(out, expected, atol=1e-5)
    full = adain.stylize(content, [_image(32, 32, 1)], alpha=1.0)
    assert (full - out).abs().mean() > 1e-3  # alpha does something


@pytest.mark.slow
def test_identical_styles_with_any_weights_equal_one_style(adain):
    content, style = _image(48, 48, 0), _image(32, 32, 1)
    one = adain.stylize(content, [style])
    mixed = adain.stylize(content, [style, style], style_weights=[0.2, 5.0])
    assert torch.allclose(one, mixed, atol=1e-5)


@pytest.mark.slow
def test_style_weights_interpolate(adain):
    content, s1, s2 = (
        _image(48, 48, 0),
        _image(32, 32, 1, (1, 0.2, 0.2)),
        _image(32, 32, 2, (0.2, 0.2, 1)),
    )
    codes = adain.encode_styles([s1, s2])
    only_first = adain.stylize(content, codes, style_weights=[1, 0])
    assert torch.allclose(only_first, adain.stylize(content, [s1]), atol=1e-5)
    half = adain.stylize(content, codes, style_weights=[1, 1])
    assert (half - only_first).abs().mean() > 1e-3
    with pytest.raises(RequestError, match="gives 1 weight"):
        adain.stylize(content, codes, style_weights=[1])
    with pytest.raises(RequestError, match="non-negative"):
        adain.stylize(content, codes, style_weights=[1, -1])


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_out_of_range_is_refused(adain, johnson, alpha):
    with pytest.raises(RequestError, match="alpha must be between 0 and 1"):
        adain.stylize(_image(16, 16, 0), [_image(16, 16, 1)], alpha=alpha)
    with pytest.raises(RequestError, match="^alpha"):
        johnson.stylize(_image(16, 16, 0), alpha=alpha)


def test_johnson_alpha_blends_pixels(johnson):
    content = _image(32, 32, 0)
    assert torch.allclose(johnson.stylize(content, alpha=0.0), content[None], atol=1e-6)


def test_model_kind_mismatch_is_a_model_file_error(adain, johnson):
    with pytest.raises(ModelFileError, match="Johnson fixed-style model .* drop styles"):
        johnson.stylize(_image(16, 16, 0), [_image(16, 16, 1)])
    with pytest.raises(ModelFileError, match="AdaIN arbitrary-style models need at least one styles image"):
        adain.stylize(_image(16, 16, 0))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["adain", "johnson"])
def test_preserve_color_keeps_content_mean_colour(adain, johnson, kind):
    content = _image(48, 64, 0, (1.0, 0.6, 0.2))  # orange photo
    style = _image(32, 32, 1, (0.1, 0.3, 1.0))  # blue painting
    stylizer = adain if kind == "adain" else johnson
    styles = [style] if kind == "adain" else None
    plain = stylizer.stylize(content, styles)
    kept = stylizer.stylize(content, styles, preserve_color=True)
    target = content.mean((1, 2))
    # Tolerance 0.02 per channel (of 1.0): exact before the final clamp to [0, 1].
    assert (kept[0].mean((1, 2)) - target).abs().max() < 0.02
    assert (plain[0].mean((1, 2)) - target).abs().max() > (
        kept[0].mean((1, 2)) - target
    ).abs().max()


def test_preserve_color_is_exact_without_clamping():
    content = torch.full((1, 3, 8, 8), 0.5) + 0.1 * torch.randn(1, 3, 8, 8)
    output = torch.full((1, 3, 8, 8), 0.45) + 0.1 * torch.randn(1, 3, 8, 8)
    kept = preserve_content_color(output, content)
    assert torch.allclose(kept.mean((2, 3)), content.mean((2, 3)), atol=1e-4)


@pytest.mark.slow
def test_mask_puts_each_style_in_its_region(adain):
    h, w = 64, 192
    content = _image(h, w, 0)
    s1, s2 = _image(32, 32, 1, (1, 0.2, 0.2)), _image(32, 32, 2, (0.2, 0.2, 1))
    mask = Image.new("L", (w, h), 0)
    mask.paste(255, (0, 0, w // 2, h))  # white left = style 1, black right = style 2
    both = adain.stylize(content, [s1, s2], mask=mask)
    left_only = adain.stylize(content, [s1, s1], mask=mask)
    right_only = adain.stylize(content, [s2, s2], mask=mask)
    # The decoder sees ±30 px around a pixel: compare 40 px away from the boundary at x = 96.
    left, right = slice(0, 56), slice(136, 192)
    assert torch.allclose(both[..., left], left_only[..., left], atol=1e-5)
    assert torch.allclose(both[..., right], right_only[..., right], atol=1e-5)
    assert (both[..., right] - left_only[..., right]).abs().mean() > 1e-3


def test_mask_levels_must_match_styles(adain, johnson, tmp_path):
    two = Image.new("L", (16, 16), 0)
    two.paste(255, (0, 0, 8, 16))
    labels = mask_labels(two, 2)
    assert labels[:, :8].eq(0).all() and labels[:, 8:].eq(1).all()
    three = two.copy()
    three.paste(128, (12, 0, 16, 16))
    assert set(mask_labels(three, 3).unique().tolist()) == {0, 1, 2}
    with pytest.raises(RequestError, match="has 3 grey level\\(s\\) but 2 styles"):
        adain.stylize(_image(16, 16, 0), [_image(16, 16, 1)] * 2, mask=three)
    with pytest.raises(RequestError, match="at least two styles"):
        adain.stylize(_image(16, 16, 0), [_image(16, 16, 1)], mask=two)
    with pytest.raises(RequestError, match="^mask needs a model that paints one style per mask region"):
        johnson.stylize(_image(16, 16, 0), mask=two)
    with pytest.raises(RequestError, match="do not combine"):
        adain.stylize(_image(16, 16, 0), [_image(16, 16, 1)] * 2, mask=two, style_weights=[1, 1])


def test_batch_equals_one_by_one(johnson, adain):
    a, b = _image(32, 40, 0), _image(32, 40, 3)
    batch = johnson.stylize(torch.stack([a, b]))
    assert torch.allclose(batch[1:], johnson.stylize(b), atol=1e-5)
    batch = adain.stylize(torch.stack([a, b]), [_image(32, 32, 1)])
    assert torch.allclose(batch[:1], adain.stylize(a, [_image(32, 32, 1)]), atol=1e-5)


def test_load_model_from_checkpoint_path(tmp_path):
    from model_factories import save_johnson_ckpt

    stylizer = load_model(save_johnson_ckpt(tmp_path / "j.ckpt"), device="cpu")
    assert stylizer.kind == "johnson" and not stylizer.needs_style
    assert "Johnson" in stylizer.describe()
    with (
        pytest.raises(RequestError, match="no CUDA GPU")
        if not torch.cuda.is_available()
        else _nothing()
    ):
        load_model(tmp_path / "j.ckpt", device="cuda")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_request_is_checked_once_and_speaks_in_fields():
    from stylexfer.inference import RequestError, StylizeRequest

    with pytest.raises(RequestError, match="^style_weights and mask do not combine") as info:
        StylizeRequest(n_styles=2, style_weights=(1, 1), mask="m.png")
    assert info.value.render({"style_weights": "--style-weights", "mask": "--mask"}).startswith(
        "--style-weights and --mask")
    with pytest.raises(RequestError, match="^size 99999 would make images of at least 10000 megapixels"):
        StylizeRequest(size=99999)
    StylizeRequest(size=16384)  # exactly the loader's 16k × 16k limit
    for bad in ({"alpha": 2}, {"size": 0}, {"tile": "huge"}, {"n_styles": 1, "style_weights": (1, 2)}):
        with pytest.raises(RequestError) as info:
            StylizeRequest(**bad)
        assert "--" not in str(info.value)  # never a command-line flag in the API's words


def test_resize_image_refuses_results_over_the_pixel_limit():
    from stylexfer.errors import ImageError
    from stylexfer.inference import resize_image

    wide = Image.new("RGB", (1000, 10))
    with pytest.raises(ImageError, match="over the limit"):
        resize_image(wide, size=400, max_pixels=1_000_000)  # 40000 × 400 = 16 MP
    assert resize_image(wide, size=20).size == (2000, 20)
