import pytest
import torch
from torchvision import models

from stylexfer.errors import WeightsError
from stylexfer.nets import vgg as vgg_module
from stylexfer.nets.vgg import IMAGENET_MEAN, IMAGENET_STD, RandomWeightsWarning, VGGFeatures, layer_names

TORCHVISION_INDEX = {  # torchvision's own `features` indices, from its documentation of the architecture
    "vgg16": {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22},
    "vgg19": {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20},
}


@pytest.fixture(scope="module", params=["vgg16", "vgg19"])
def torchvision_vgg(request, tmp_path_factory):
    """A randomly initialised torchvision VGG and its state dict saved the way users save weights."""
    torch.manual_seed(1)
    model = getattr(models, request.param)(weights=None).eval()
    path = tmp_path_factory.mktemp("weights") / f"{request.param}.pth"
    torch.save(model.state_dict(), path)
    return request.param, model, path


def test_layer_names_follow_block_and_depth():
    names = layer_names("vgg19")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names.index("relu4_1") == 20 and names.index("relu5_4") == 35
    with torch.device("meta"):  # the layer count only: no need to initialise 143M random weights
        assert len(names) == len(models.vgg19(weights=None).features)


@pytest.mark.slow
def test_taps_equal_torchvision_activations_at_their_indices(torchvision_vgg):
    arch, model, path = torchvision_vgg
    taps = TORCHVISION_INDEX[arch]
    ours = VGGFeatures(arch, layers=tuple(taps), weights=path)
    images = torch.rand(2, 3, 48, 40)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected, x = {}, (images - mean) / std
    with torch.no_grad():
        for index, module in enumerate(model.features):
            x = module(x)
            expected[index] = x.clone()
        features = ours(images)
    assert set(features) == set(taps)
    for name, index in taps.items():
        torch.testing.assert_close(features[name], expected[index], rtol=1e-4, atol=1e-5)


def test_stops_after_deepest_layer():
    vgg = VGGFeatures("vgg19", layers=("relu2_1",), weights="random")
    assert len(vgg.features) == layer_names("vgg19").index("relu2_1") + 1
    assert vgg(torch.rand(1, 3, 16, 16))["relu2_1"].shape == (1, 128, 8, 8)


def test_frozen_and_always_in_eval_mode():
    vgg = VGGFeatures("vgg16", layers=("relu1_2",), weights="random")
    assert not any(p.requires_grad for p in vgg.parameters())
    parent = torch.nn.Sequential(vgg).train()
    assert not vgg.training and not parent[0].training


def test_own_state_dict_round_trips_through_a_file(tmp_path):
    vgg = VGGFeatures("vgg19", layers=("relu1_1", "relu3_1"), weights="random", padding_mode="reflect")
    path = tmp_path / "encoder.pth"
    torch.save(vgg.state_dict(), path)
    again = VGGFeatures("vgg19", layers=("relu1_1", "relu3_1"), weights=path, padding_mode="reflect")
    images = torch.rand(1, 3, 20, 24)
    for name, value in vgg(images).items():
        torch.testing.assert_close(again(images)[name], value, rtol=0, atol=0)


def test_padding_mode_is_applied():
    zeros = VGGFeatures("vgg19", layers=("relu1_1",), weights="random")
    reflect = VGGFeatures("vgg19", layers=("relu1_1",), weights="random", padding_mode="reflect")
    assert {m.padding_mode for m in reflect.features if isinstance(m, torch.nn.Conv2d)} == {"reflect"}
    reflect.load_state_dict(zeros.state_dict())
    images = torch.rand(1, 3, 12, 12)
    a, b = zeros(images)["relu1_1"], reflect(images)["relu1_1"]
    torch.testing.assert_close(a[..., 2:-2, 2:-2], b[..., 2:-2, 2:-2])  # same inside, different at borders
    assert not torch.allclose(a, b)


def test_random_weights_warn_loudly():
    with pytest.warns(RandomWeightsWarning, match="RANDOM weights"):
        VGGFeatures("vgg16", layers=("relu1_2",), weights="random")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pickle at all", "not a weights-only PyTorch state dict"),
        (None, "lack 'features.0.weight'"),
        ("wrong-shape", "has shape"),
    ],
)
def test_wrong_weight_files_give_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    if content is None:
        torch.save({"something.else": torch.zeros(1)}, path)
    elif content == "wrong-shape":
        torch.save({"features.0.weight": torch.zeros(64, 3, 5, 5), "features.0.bias": torch.zeros(64)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        VGGFeatures("vgg16", layers=("relu1_2",), weights=path)


def test_missing_file_gives_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        VGGFeatures("vgg16", layers=("relu1_2",), weights=tmp_path / "nope.pth")


def test_imagenet_offline_names_the_file_and_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(WeightsError) as info:
        VGGFeatures("vgg19", layers=("relu1_1",), weights="imagenet")
    message = str(info.value)
    assert "vgg19-dcbb9e9d.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "\n" not in message


def test_imagenet_uses_the_cached_file_without_network(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", pytest.fail)
    reference = VGGFeatures("vgg19", layers=("relu1_1",), weights="random")
    cached = vgg_module.imagenet_weights_file("vgg19")
    cached.parent.mkdir(parents=True)
    torch.save({k: v for k, v in reference.state_dict().items() if k.startswith("features.")}, cached)
    loaded = VGGFeatures("vgg19", layers=("relu1_1",), weights="imagenet")
    images = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(loaded(images)["relu1_1"], reference(images)["relu1_1"])


def test_unknown_layer_and_arch_are_rejected():
    with pytest.raises(ValueError, match="relu9_9"):
        VGGFeatures("vgg16", layers=("relu9_9",), weights="random")
    with pytest.raises(ValueError, match="vgg11"):
        VGGFeatures("vgg11", layers=("relu1_1",), weights="random")


def test_a_subset_of_taps_equals_the_full_forward():
    vgg = VGGFeatures("vgg19", layers=("relu1_1", "relu2_1", "relu4_1"), weights="random", padding_mode="reflect")
    images = torch.rand(1, 3, 32, 40)
    full = vgg(images)
    only = vgg(images, layers=("relu4_1",))
    assert list(only) == ["relu4_1"]
    torch.testing.assert_close(only["relu4_1"], full["relu4_1"], rtol=0, atol=0)
    assert list(vgg(images, layers=("relu2_1",))) == ["relu2_1"]  # stops early
    with pytest.raises(ValueError, match="relu3_1"):
        vgg(images, layers=("relu3_1",))
