"""Files the GUI tests share: tiny images and random-weight model files in the formats stylexfer reads."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from stylexfer.families.adain.net import AdaINNet
from stylexfer.families.johnson.net import TransformerNet
from stylexfer.files.images import load_image, to_tensor
from stylexfer.files.modelfile import ModelSpec, ModelWeights, weights_of, write_safetensors
from stylexfer.inference import Stylizer, load_model
from stylexfer.nets.vgg import RandomWeightsWarning

CONTENT_SIZE = (64, 48)  # (width, height): not square and not a multiple of 32, to catch size slips


@dataclass(frozen=True)
class GuiFiles:
    content: Path
    style: Path
    corrupt: Path  # a PNG header followed by garbage
    adain_model: Path
    johnson_model: Path
    wrong_kind_model: Path  # metadata says Johnson, the tensors are an AdaIN decoder


@pytest.fixture(scope="session")
def gui_files(tmp_path_factory: pytest.TempPathFactory) -> GuiFiles:
    root = tmp_path_factory.mktemp("gui-files")
    rng = np.random.default_rng(0)
    w, h = CONTENT_SIZE
    y, x = np.mgrid[0:h, 0:w]
    content = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 96)], axis=-1).astype(np.uint8)
    content[10:30, 20:40] = (230, 40, 40)  # a red block, so the content has a shape
    Image.fromarray(content).save(root / "photo.png")
    stripes = np.zeros((40, 40, 3), dtype=np.uint8)
    stripes[:, ::8] = (250, 200, 20)
    stripes[::5] = (20, 60, 200)
    stripes += rng.integers(0, 30, stripes.shape, dtype=np.uint8)
    Image.fromarray(stripes).save(root / "stripes.png")
    good = (root / "photo.png").read_bytes()
    (root / "corrupt.png").write_bytes(good[:40] + bytes(rng.integers(0, 256, 200, dtype=np.uint8)))

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        adain = AdaINNet(encoder_weights="random").eval()
    content_t, style_t = (to_tensor(load_image(root / name))[None] for name in ("photo.png", "stripes.png"))
    _make_decoder_visible(adain, content_t, style_t)
    # "embedded": the random encoder is stored in the file, so every load gives the same network.
    write_safetensors(weights_of(adain, ModelSpec("adain", encoder="embedded")), root / "adain.safetensors")
    johnson = TransformerNet().eval()
    write_safetensors(weights_of(johnson, ModelSpec("johnson")), root / "johnson.safetensors")
    decoder_state = dict(adain.decoder.state_dict())
    write_safetensors(ModelWeights(ModelSpec("johnson"), decoder_state), root / "wrong-kind.safetensors")
    names = ("photo.png", "stripes.png", "corrupt.png", "adain.safetensors", "johnson.safetensors",
             "wrong-kind.safetensors")
    return GuiFiles(*(root / name for name in names))


@pytest.fixture(scope="session")
def cached_loader():
    """load_model, memoised per file for the session: building a random VGG-19 costs seconds on a
    shared CPU. Tests of the controller's own caching use their own loader instead."""
    cache: dict[tuple[str, str], Stylizer] = {}

    def loader(path, *, device: str = "cpu") -> Stylizer:
        key = (str(path), str(device))
        if key not in cache:
            cache[key] = load_model(path, device=device)
        return cache[key]

    return loader


@torch.no_grad()
def _make_decoder_visible(net: AdaINNet, content: torch.Tensor, style: torch.Tensor) -> None:
    """PyTorch's default init shrinks the signal through the decoder's nine convs to ≈ 1e-4, so every
    output is one flat grey. He init keeps it alive; the last conv is then scaled so that on the test
    images the output is 0.5 ± 0.2 per channel: other styles and alphas give visibly other pictures."""
    for module in net.decoder.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            module.bias.zero_()
    raw = net(content, net.encode_style(style))
    mean, std = raw.mean((0, 2, 3)), raw.std((0, 2, 3))
    last = net.decoder.conv1_1
    last.weight.mul_((0.2 / std)[:, None, None, None])
    last.bias.copy_(0.5 - mean * 0.2 / std)
