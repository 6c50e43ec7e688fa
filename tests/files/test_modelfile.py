"""Model files: checkpoints and safetensors load into the right net; hostile or broken files are
refused with one clear line and no code from them ever runs."""

from __future__ import annotations

import pickle
import warnings

import pytest
import torch
from safetensors.torch import save_file

from model_factories import adain_net, johnson_net, save_adain_ckpt, save_johnson_ckpt
from stylexfer.errors import ModelFileError
from stylexfer.families.adain.net import AdaINNet
from stylexfer.families.johnson.net import TransformerNet
from stylexfer.files.modelfile import (
    ModelSpec,
    build_net,
    metadata_of,
    read_model_file,
    weights_of,
    write_safetensors,
)
from stylexfer.nets.vgg import RandomWeightsWarning, VGGFeatures

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _one_line_error(path, match: str) -> ModelFileError:
    with pytest.raises(ModelFileError, match=match) as info:
        build_net(read_model_file(path))
    assert "\n" not in str(info.value)
    return info.value


def test_johnson_checkpoint_loads_into_transformer_net(tmp_path):
    net = johnson_net()
    weights = read_model_file(save_johnson_ckpt(tmp_path / "j.ckpt", net))
    assert weights.spec == ModelSpec("johnson", output="sigmoid")
    loaded = build_net(weights)
    assert isinstance(loaded, TransformerNet) and _same_state(loaded, net)


def test_adain_checkpoint_loads_decoder_and_its_random_encoder(tmp_path):
    net = adain_net()
    weights = read_model_file(save_adain_ckpt(tmp_path / "a.ckpt", net))
    assert weights.spec == ModelSpec("adain", encoder="embedded") and weights.encoder_state is not None
    loaded = build_net(weights)
    assert isinstance(loaded, AdaINNet) and _same_state(loaded, net)  # the very encoder it was trained with


def test_adain_checkpoint_without_encoder_names_the_encoder_to_rebuild(tmp_path):
    net = adain_net()
    vgg = tmp_path / "vgg19.pth"
    torch.save(net.encoder.state_dict(), vgg)
    weights = read_model_file(save_adain_ckpt(tmp_path / "a.ckpt", net, encoder_weights=str(vgg)))
    assert weights.spec == ModelSpec("adain", encoder=str(vgg)) and weights.encoder_state is None
    assert _same_state(build_net(weights), net)  # encoder rebuilt from the named file


def test_a_checkpoint_without_the_stylexfer_block_is_refused(tmp_path):
    path = tmp_path / "foreign.ckpt"
    torch.save({"hyper_parameters": {"name": "adain"}, "state_dict": {"net.decoder.conv4_1.weight": torch.zeros(1)}},
               path)
    _one_line_error(path, "a checkpoint without stylexfer's 'stylexfer' block")


@pytest.mark.parametrize("kind", ["johnson", "adain"])
def test_export_roundtrip_is_small_and_exact(tmp_path, kind):
    net = johnson_net() if kind == "johnson" else adain_net()
    spec = ModelSpec(kind) if kind == "johnson" else ModelSpec(kind, encoder="random")
    out = write_safetensors(weights_of(net, spec), tmp_path / "m.safetensors")
    meta = metadata_of(out)
    assert meta["format"] == "stylexfer-model" and meta["format_version"] == "1" and meta["kind"] == kind
    loaded = build_net(read_model_file(out))
    assert _same_state(loaded, net)  # everything, the AdaIN encoder included
    if kind == "adain":  # a random encoder cannot be rebuilt from its name: it travels in the file
        assert meta["encoder"] == "embedded"
    with pytest.raises(ModelFileError, match="already exists"):
        write_safetensors(weights_of(net, spec), out)


def test_imagenet_adain_export_stores_only_the_decoder(tmp_path):
    net = adain_net()
    out = write_safetensors(weights_of(net, ModelSpec("adain", encoder="imagenet")), tmp_path / "m.safetensors")
    assert metadata_of(out)["encoder"] == "imagenet"  # rebuilt from torchvision's weights when loaded
    assert out.stat().st_size < sum(v.numel() * 4 for v in net.decoder.state_dict().values()) + 10_000


@pytest.mark.slow
def test_adain_with_file_encoder_exports_self_contained(tmp_path):
    torch.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        vgg = VGGFeatures("vgg19", ("relu4_1",), weights="random")
    torch.nn.init.normal_(vgg.features[0].weight)
    vgg_file = tmp_path / "caffe_vgg.pth"
    torch.save(vgg.state_dict(), vgg_file)
    net = adain_net()
    ckpt = save_adain_ckpt(tmp_path / "a.ckpt", net, encoder_weights=str(vgg_file))
    built = build_net(read_model_file(ckpt))
    assert torch.equal(built.encoder.features[0].weight, vgg.features[0].weight)
    out = write_safetensors(
        weights_of(built, read_model_file(ckpt).spec), tmp_path / "m.safetensors"
    )
    vgg_file.unlink()  # the exported file must not need it any more
    assert metadata_of(out)["encoder"] == "embedded"
    again = build_net(read_model_file(out))
    assert _same_state(again, built)


class _Hostile:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))  # unpickling would create the marker file


@pytest.mark.parametrize("wrapper", ["checkpoint", "raw_pickle"])
def test_hostile_pickle_is_refused_and_never_runs(tmp_path, wrapper):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    payload = {
        "state_dict": {"net.conv1.conv.weight": torch.zeros(1)},
        "hyper_parameters": _Hostile(marker),
    }
    if wrapper == "checkpoint":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    _one_line_error(path, "refused: it would import [\\w.]+ while loading")
    assert not marker.exists()


def test_safetensors_with_wrong_shapes_is_refused(tmp_path):
    state = {f"net.{k}": v for k, v in johnson_net().state_dict().items()}
    state["net.conv1.conv.weight"] = torch.zeros(32, 3, 3, 3)
    path = tmp_path / "bad.safetensors"
    save_file(
        state,
        path,
        metadata={
            "format": "stylexfer-model",
            "format_version": "1",
            "kind": "johnson",
            "output": "sigmoid",
        },
    )
    _one_line_error(
        path, r"'conv1.conv.weight' has shape \(32, 3, 3, 3\) but the Johnson TransformerNet needs"
    )


def test_checkpoint_of_other_kind_is_refused(tmp_path):
    # AdaIN decoder weights in a file whose metadata says Johnson: the keys do not fit.
    state = {f"net.{k}": v for k, v in adain_net().decoder.state_dict().items()}
    path = tmp_path / "mixed.safetensors"
    save_file(
        state,
        path,
        metadata={"format": "stylexfer-model", "format_version": "1", "kind": "johnson"},
    )
    _one_line_error(path, "do not fit the Johnson TransformerNet")


@pytest.mark.parametrize("suffix", [".ckpt", ".safetensors"])
def test_truncated_file_is_refused(tmp_path, suffix):
    good = tmp_path / f"good{suffix}"
    if suffix == ".ckpt":
        save_johnson_ckpt(good)
    else:
        write_safetensors(weights_of(johnson_net(), ModelSpec("johnson")), good)
    data = good.read_bytes()
    bad = tmp_path / f"cut{suffix}"
    bad.write_bytes(data[: len(data) // 2])
    _one_line_error(bad, "truncated")


def test_random_bytes_empty_missing_nan_and_foreign(tmp_path):
    noise = tmp_path / "noise.ckpt"
    noise.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    _one_line_error(noise, "not a (readable )?model file")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    _one_line_error(empty, "empty file")
    _one_line_error(tmp_path / "nope.ckpt", "no such model file")
    net = johnson_net()
    with torch.no_grad():
        net.conv1.conv.weight[0, 0, 0, 0] = float("nan")
    _one_line_error(save_johnson_ckpt(tmp_path / "nan.ckpt", net), "NaN or infinite")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    _one_line_error(foreign, "without stylexfer metadata")
    not_dict = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], not_dict)
    _one_line_error(not_dict, "holds a list")


def test_a_checkpoint_trained_with_random_vgg_says_so(tmp_path):
    ckpt = save_adain_ckpt(tmp_path / "a.ckpt", adain_net(), vgg_weights="random")
    with pytest.warns(RandomWeightsWarning, match="trained with RANDOM VGG weights"):
        read_model_file(ckpt)
