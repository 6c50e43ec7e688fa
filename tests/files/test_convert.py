"""Importers: converted public models give the same image as the original networks, re-implemented
independently in tests/reference_nets.py from the original sources."""

from __future__ import annotations

import pytest
import torch

from reference_nets import fast_neural_style_state, orig_adain, orig_adain_pair, orig_fast_neural_style
from stylexfer.cli import main
from stylexfer.errors import ModelFileError
from stylexfer.files.modelfile import metadata_of
from stylexfer.inference import load_model


def _relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return ((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-6)).item()


@pytest.mark.slow
def test_fast_neural_style_import_matches_original(tmp_path, capsys):
    orig = orig_fast_neural_style()
    pth = tmp_path / "mosaic.pth"
    torch.save(fast_neural_style_state(orig), pth)
    out = tmp_path / "mosaic.safetensors"
    assert main(["import", "fast-neural-style", str(pth), "--out", str(out)]) == 0
    assert metadata_of(out)["output"] == "clamp"
    content = torch.rand(
        2, 3, 64, 96, generator=torch.Generator().manual_seed(1)
    )  # sides divisible by 4
    with torch.no_grad():
        theirs = orig(content * 255.0)  # their pipeline: 0-255 in, 0-255 out, clamped when saved
        expected = theirs.clamp(0, 255) / 255.0
    assert (
        theirs.std() > 20.0 and (theirs < 0).any() and (theirs > 255).any()
    )  # the clamp is exercised
    for model in (out, pth):  # our file, and the .pth read directly
        ours = load_model(model, device="cpu").stylize(content)
        assert (ours - expected).abs().max() < 1e-4, _relative_error(ours, expected)


def test_adain_release_import_matches_original(tmp_path, capsys):
    vgg, decoder = orig_adain_pair()
    torch.save(vgg.state_dict(), tmp_path / "vgg_normalised.pth")
    torch.save(decoder.state_dict(), tmp_path / "decoder.pth")
    out = tmp_path / "adain.safetensors"
    # either order; told apart by the first layer's shape
    rc = main(
        [
            "import",
            "adain",
            str(tmp_path / "decoder.pth"),
            str(tmp_path / "vgg_normalised.pth"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0 and metadata_of(out)["encoder"] == "embedded"
    g = torch.Generator().manual_seed(2)
    content, style = torch.rand(1, 3, 64, 64, generator=g), torch.rand(1, 3, 64, 64, generator=g)
    encoder = vgg[:31]  # pytorch-AdaIN test.py: up to relu4_1
    with torch.no_grad():
        c_feat, s_feat = encoder(content), encoder(style)
        assert c_feat.std() > 0.05  # a live signal, not all-zero activations
        alpha = 0.7
        theirs = decoder(alpha * orig_adain(c_feat, s_feat) + (1 - alpha) * c_feat)
    stylizer = load_model(out, device="cpu")
    with torch.no_grad():  # our encoder to relu4_1 on its own
        ours_feat = stylizer.net.encode(content)["relu4_1"]
    assert _relative_error(ours_feat, c_feat) < 1e-4
    # Equal content and style sizes: the original's unbiased variance cancels in σ(s)/σ(c).
    ours = stylizer.stylize(content, [style], alpha=alpha, tile=False)
    assert theirs.clamp(0, 1).std() > 0.05  # an image with structure, not a clamped flat one
    assert (ours - theirs.clamp(0, 1)).abs().max() < 1e-4 * max(1.0, theirs.abs().max().item())


def test_import_refuses_wrong_files(tmp_path, capsys):
    orig = orig_fast_neural_style()
    state = fast_neural_style_state(orig)
    del state["res3.in2.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ModelFileError, match="lacks 'res3.in2.bias'"):
        from stylexfer.files.convert import import_files

        import_files("fast-neural-style", [tmp_path / "broken.pth"])
    assert (
        main(
            [
                "import",
                "adain",
                str(tmp_path / "broken.pth"),
                "--out",
                str(tmp_path / "x.safetensors"),
            ]
        )
        == 2
    )
    assert "two files" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()
