"""LightningModules: loss weighting, frozen VGG, optimiser and lr decay, plain checkpoints, NaN guards."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch

import stylexfer.training.systems as systems
from stylexfer.families.adain.config import AdaINConfig
from stylexfer.families.adain.system import LitAdaIN
from stylexfer.families.johnson.config import JohnsonConfig
from stylexfer.families.johnson.system import LitJohnson
from stylexfer.training.config import OptimConfig
from stylexfer.training.systems import NonFiniteError, build_system
from training_utils import make_images


def _quiet_build(model_cfg: object, optim_cfg: object) -> systems.StyleTransferSystem:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random VGG weights warn loudly by design
        return build_system(model_cfg, optim_cfg)


@pytest.fixture(scope="module")
def adain() -> LitAdaIN:
    torch.manual_seed(0)
    return _quiet_build(
        AdaINConfig(style_weight=7.0, vgg_weights="random"), OptimConfig(lr=1e-3, lr_decay=0.5)
    )


@pytest.fixture(scope="module")
def style_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_images(tmp_path_factory.mktemp("style"), 1, size=(64, 48))[0]


@pytest.fixture(scope="module")
def johnson(style_file: Path) -> LitJohnson:
    torch.manual_seed(0)
    cfg = JohnsonConfig(style_image=str(style_file), style_size=32, vgg_weights="random", tv_weight=0.1)
    return _quiet_build(cfg, OptimConfig(lr=1e-3))


def batch(size: int = 2, pixels: int = 32) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {
        "content": torch.rand(size, 3, pixels, pixels, generator=generator),
        "style": torch.rand(size, 3, pixels, pixels, generator=generator),
    }


def test_build_system_looks_up_the_model_name(adain: LitAdaIN, johnson: LitJohnson) -> None:
    assert type(adain) is LitAdaIN and type(johnson) is LitJohnson
    assert adain.hparams.style_weight == 7.0 and adain.hparams.name == "adain"
    with pytest.raises(ValueError, match="unknown model"):
        build_system(type("Cfg", (), {"name": "gatys"})(), OptimConfig())


def test_hyperparameters_are_primitives(adain: LitAdaIN, johnson: LitJohnson) -> None:
    for system in (adain, johnson):
        assert all(isinstance(v, (str, int, float, bool)) for v in system.hparams.values()), dict(
            system.hparams
        )
    assert johnson.hparams.output == "sigmoid" and johnson.hparams.style_size == 32


@pytest.mark.slow
def test_adain_step_weighs_raw_terms_and_never_trains_the_encoder(adain: LitAdaIN) -> None:
    encoder_before = {k: v.clone() for k, v in adain.net.encoder.state_dict().items()}
    optimizer = adain.configure_optimizers()["optimizer"]
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in adain.net.decoder.parameters()}
    logged: dict[str, torch.Tensor] = {}
    adain.log_dict = lambda metrics, **kw: logged.update(metrics)  # type: ignore[method-assign]
    loss = adain.training_step(batch(), 0)
    expected = logged["train/content"] + 7.0 * logged["train/style"]
    assert torch.isfinite(loss) and torch.allclose(loss.detach(), expected)
    assert torch.allclose(logged["train/total"], expected)
    loss.backward()
    assert all(p.grad is None for p in adain.net.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in adain.net.decoder.parameters())
    optimizer.step()
    optimizer.zero_grad()
    for key, value in adain.net.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[key])


def test_lr_decays_as_in_the_adain_paper(adain: LitAdaIN) -> None:
    config = adain.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    for step in range(1, 4):
        optimizer.step()
        scheduler.step()
        assert math.isclose(optimizer.param_groups[0]["lr"], 1e-3 / (1 + 0.5 * step))


def test_no_decay_means_a_plain_optimizer(johnson: LitJohnson) -> None:
    optimizer = johnson.configure_optimizers()
    assert isinstance(optimizer, torch.optim.Adam)
    assert {id(p) for p in optimizer.param_groups[0]["params"]} == {id(p) for p in johnson.net.parameters()}


def test_checkpoint_state_keeps_only_the_trained_net(adain: LitAdaIN, johnson: LitJohnson, tmp_path: Path) -> None:
    encoder_file = tmp_path / "vgg19.pth"
    torch.save(adain.net.encoder.state_dict(), encoder_file)
    adain_from_file = LitAdaIN(**{**adain.hparams, "vgg_weights": str(encoder_file)})
    for system, prefix in ((adain_from_file, "net.decoder."), (johnson, "net.")):
        checkpoint = {"state_dict": system.state_dict()}
        system.on_save_checkpoint(checkpoint)
        keys = list(checkpoint["state_dict"])
        assert keys and all(k.startswith(prefix) for k in keys)
        assert not any(k.startswith(("net.encoder.", "criterion.")) for k in keys)
        assert checkpoint["stylexfer"] == {"format": 1, "model": system.hparams.name, "net_prefix": "net."}
    # random encoder weights cannot be rebuilt from a name: they stay, so the decoder keeps its encoder
    checkpoint = {"state_dict": adain.state_dict()}
    adain.on_save_checkpoint(checkpoint)
    assert {k for k in checkpoint["state_dict"] if k.startswith("net.encoder.")} == {
        f"net.encoder.{k}" for k in adain.net.encoder.state_dict()
    }
    assert (
        "net.conv1.conv.weight" in johnson.state_dict()
        and "net.residuals.4.norm2.weight" in johnson.state_dict()
    )


def test_non_finite_weights_are_never_checkpointed(johnson: LitJohnson) -> None:
    state = johnson.state_dict()
    state["net.conv1.conv.weight"] = state["net.conv1.conv.weight"].clone()
    state["net.conv1.conv.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"not saving the checkpoint .* net.conv1.conv.weight"):
        johnson.on_save_checkpoint({"state_dict": state})


def test_non_finite_loss_names_the_step(johnson: LitJohnson, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        johnson.criterion,
        "forward",
        lambda output, content: {
            "content": torch.tensor(float("nan")),
            "style": torch.tensor(1.0),
            "tv": torch.tensor(0.0),
        },
    )
    with pytest.raises(NonFiniteError, match=r"loss became nan at step 0 \(content=nan"):
        johnson.training_step(batch(), 0)


@pytest.mark.slow
def test_johnson_reads_its_style_once(style_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = systems.load_image
    monkeypatch.setattr(systems, "load_image", lambda *a, **k: calls.append(a) or real(*a, **k))
    cfg = JohnsonConfig(style_image=str(style_file), style_size=40, vgg_weights="random")
    system = _quiet_build(cfg, OptimConfig(lr=1e-3))
    system.log_dict = lambda *a, **k: None  # type: ignore[method-assign]
    for _ in range(2):
        loss = system.training_step(batch(), 0)
        assert torch.isfinite(loss)
    assert len(calls) == 1
    # the Grams are (1, C, C) buffers, not part of the checkpoint
    assert system.criterion.gram_relu1_2.shape == (1, 64, 64)
    assert not any("gram" in k for k in system.state_dict())
    # style_size sets the shorter side at which the Grams are taken
    assert systems.load_style_image(style_file, 40).shape == (3, 40, 53)


@pytest.mark.slow
def test_johnson_training_lowers_its_loss(johnson: LitJohnson) -> None:
    """A handful of Adam steps on one batch must reduce the weighted loss (the wiring learns)."""
    johnson.log_dict = lambda *a, **k: None  # type: ignore[method-assign]
    optimizer = torch.optim.Adam(johnson.net.parameters(), lr=1e-2)
    data = batch()
    losses = []
    for _ in range(6):
        loss = johnson.training_step(data, 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_each_weighted_term_logs_its_share_of_the_total(johnson: LitJohnson) -> None:
    logged: dict[str, torch.Tensor] = {}
    johnson.log_dict = lambda metrics, **kw: logged.update(metrics)  # type: ignore[method-assign]
    loss = johnson.training_step(batch(), 0)
    shares = {key: logged[f"train/{key}_share"].item() for key in ("content", "style", "tv")}
    assert sum(shares.values()) == pytest.approx(1.0, rel=1e-5)
    assert shares["style"] == pytest.approx((1e-3 * logged["train/style"] / loss).item(), rel=1e-5)
    assert shares["tv"] == pytest.approx((0.1 * logged["train/tv"] / loss).item(), rel=1e-5)


def test_validation_grid_is_also_a_png_in_the_run_folder(
    johnson: LitJohnson, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    class FakeTrainer:
        sanity_checking, is_global_zero, global_step = False, True, 500

    monkeypatch.setattr(LitJohnson, "trainer", property(lambda self: FakeTrainer()))
    monkeypatch.setattr(LitJohnson, "global_step", property(lambda self: 500))
    johnson.samples_dir = str(tmp_path / "samples")
    try:
        johnson.log_dict = lambda *a, **k: None  # type: ignore[method-assign]
        johnson.validation_step(batch(size=2, pixels=32), 0)
    finally:
        johnson.samples_dir = None
    files = sorted((tmp_path / "samples").iterdir())
    assert [f.name for f in files] == ["step_0000500.png"]  # no temporary left beside it
    with Image.open(files[0]) as image:  # 2 samples × (content, output), 32² tiles, 2 px padding
        assert image.size == (2 + 2 * 34, 2 + 2 * 34)
