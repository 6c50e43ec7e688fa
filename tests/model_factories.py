"""Model files built by tests in exactly the layouts stylexfer reads (no Lightning needed).

Training checkpoints: ``{"hyper_parameters": {...primitives}, "state_dict": {"net.*" | "net.decoder.*"},
"stylexfer": {"format": 1, "model": KIND, "net_prefix": "net."}}`` saved with torch.save, as the training
side writes them (frozen encoder keys dropped).
The original public networks live in reference_nets.py (re-exported here for older imports).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import TypeVar

import torch

from reference_nets import (  # noqa: F401 - re-exported: tests import them from here
    OrigTransformerNet,
    fast_neural_style_state,
    orig_adain_decoder,
    orig_adain_pair,
    orig_adain_vgg,
    orig_calc_mean_std,
    orig_fast_neural_style,
)
from stylexfer.families.adain.net import AdaINNet
from stylexfer.families.johnson.net import TransformerNet
from stylexfer.families.sanet.net import SANetNet
from stylexfer.nets.vgg import RandomWeightsWarning

Net = TypeVar("Net", AdaINNet, SANetNet)


def _random_net(cls: type[Net], seed: int) -> Net:
    """A random net of `cls` (seeded) whose decoder keeps the signal alive, so outputs show structure
    (the default init shrinks it to ~0)."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        net = cls(encoder_weights="random").eval()
    with torch.no_grad():
        for conv in net.decoder.children():
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            conv.bias.zero_()
        net.decoder.conv1_1.weight.mul_(1.5)
        net.decoder.conv1_1.bias.fill_(0.5)
    return net


@functools.lru_cache(maxsize=4)
def adain_net(seed: int = 0) -> AdaINNet:
    """Cached: VGG-19 construction takes seconds; tests must not modify the returned net."""
    return _random_net(AdaINNet, seed)


@functools.lru_cache(maxsize=1)
def sanet_net(seed: int = 0) -> SANetNet:
    """Random SANet, calibrated as adain_net (cached: tests must not modify it)."""
    return _random_net(SANetNet, seed)


def johnson_net(seed: int = 0) -> TransformerNet:
    torch.manual_seed(seed)
    net = TransformerNet().eval()
    with (
        torch.no_grad()
    ):  # fresh IN affine params are 1/0: perturb so the net does something visible
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return net


def save_adain_ckpt(path: Path, net: AdaINNet | None = None, **hparams: object) -> Path:
    net = net or adain_net()
    state = {f"net.decoder.{k}": v for k, v in net.decoder.state_dict().items()}
    if hparams.get("encoder_weights", "random") == "random":  # as training saves it: a random VGG cannot be rebuilt
        state |= {f"net.encoder.{k}": v for k, v in net.encoder.state_dict().items()}
    return _save_ckpt(path, "adain", state, {"encoder_weights": "random", "lr": 1e-4, **hparams})


def save_johnson_ckpt(path: Path, net: TransformerNet | None = None, **hparams: object) -> Path:
    net = net or johnson_net()
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    return _save_ckpt(path, "johnson", state, {"vgg_weights": "random", "lr": 1e-3, **hparams})


def _save_ckpt(path: Path, kind: str, state: dict[str, torch.Tensor], hparams: dict[str, object]) -> Path:
    """The shape of a training checkpoint, as far as the inference side reads it."""
    block = {"format": 1, "model": kind, "net_prefix": "net."}
    torch.save({"hyper_parameters": hparams, "state_dict": state, "global_step": 10, "stylexfer": block}, path)
    return path
