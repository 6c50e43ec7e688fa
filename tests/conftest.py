"""Shared fixtures: everything on the CPU with random or test-made weights, images made in tmp_path."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def adain_net():
    """One random-weight AdaIN network for the whole session (read-only use)."""
    from stylexfer.families.adain.net import AdaINNet

    return AdaINNet(encoder_weights="random").eval()
