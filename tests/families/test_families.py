"""Model families are plug-ins: the code above them asks the registry and never names one; an unknown
family name anywhere is one line naming the installed ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stylexfer.errors import ModelFileError
from stylexfer.registry import Family, UnknownFamilyError, builtin_family_names, family_names, get_family

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "stylexfer"

# Modules outside the families' folders that may still spell a built-in family's name, and why.
ALLOWED = {
    "__init__.py": "the package docstring cites the two papers it started from",
    "functional.py": "shared maths: adaptive instance normalisation (eq. 8) is an operation several "
                     "families use (a statistics transfer, EFDM's variant, SANet's decoder target); its "
                     "docstrings cite the paper and pytorch-AdaIN's σ convention",
    "nets/decoder.py": "its docstring cites the papers whose decoder it is (AdaIN's, which SANet reuses)",
    "losses.py": "shared maths: the docstrings cite the papers whose loss scales the terms follow",
    "measures.py": "each quality measure's docstring says which paper's loss it is",
    "demo.py": "the scripted tour's text and its full-schedule command name the family it trains on purpose",
    "training/run.py": "the command-line usage examples in its docstring (`model=adain lambda=7`)",
    "training/hydra_errors.py": "a usage example in a docstring (`model=johnson`)",
}
NAMES = re.compile("|".join(builtin_family_names()), re.IGNORECASE)


def _naming_modules() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("families/") and relative.count("/") >= 2:  # inside a family's own folder
            continue
        if NAMES.search(path.read_text(encoding="utf-8")):
            found.add(relative)
    return found


def test_no_module_above_the_families_names_one():
    naming = _naming_modules()
    assert naming - set(ALLOWED) == set(), "ask stylexfer.registry instead of naming a family"
    assert set(ALLOWED) - naming == set(), "an allow-list entry no longer needed: remove it"


def test_the_built_ins_register_through_the_registry():
    assert {"adain", "johnson"} <= set(family_names())
    for name in ("adain", "johnson"):
        family = get_family(name)
        assert isinstance(family, Family) and family.name == name
    assert get_family("adain").needs_style and not get_family("johnson").needs_style


def test_an_unknown_family_is_one_line_naming_the_installed_ones():
    with pytest.raises(UnknownFamilyError) as info:
        get_family("sanet-typo")
    message = str(info.value)
    assert "\n" not in message and "'sanet-typo'" in message
    assert all(name in message for name in family_names())
    assert isinstance(info.value, ModelFileError)  # the CLI's one-line, exit-2 path


def test_a_model_file_of_an_unknown_family_is_refused_in_one_line(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"net.w": torch.zeros(2)}, path, metadata={"format": "stylexfer-model", "format_version": "1",
                                                         "kind": "nosuchnet"})
    from stylexfer.cli import main

    for argv in (["info", str(path)], ["stylize", str(path), "--model", str(path), "--out", str(tmp_path / "o")]):
        with pytest.raises(SystemExit) as info:
            raise SystemExit(main(argv))
        assert info.value.code == 2


def test_an_unknown_family_in_a_checkpoint_block_names_the_installed_ones(tmp_path):
    import torch

    from stylexfer.files.modelfile import read_model_file

    path = tmp_path / "x.ckpt"
    torch.save({"hyper_parameters": {}, "state_dict": {"net.w": torch.zeros(1)},
                "stylexfer": {"format": 1, "model": "nosuchnet", "net_prefix": "net."}}, path)
    with pytest.raises(UnknownFamilyError, match=r"unknown model family 'nosuchnet'; installed: adain, johnson, sanet"):
        read_model_file(path)


def test_an_unknown_family_in_the_config_names_the_installed_ones():
    from stylexfer.training.config import ConfigError, compose_config, validate

    cfg = compose_config(["model=adain", "model.name=nosuchnet"])
    with pytest.raises(ConfigError, match=r"installed model families \(adain, johnson, sanet"):
        validate(cfg)


def test_loss_layers_are_configurable_with_the_papers_as_defaults(tmp_path):
    from PIL import Image

    from stylexfer.training.config import ConfigError, compose_config, validate
    from stylexfer.training.systems import build_system

    settings = validate(compose_config(["model=adain", "model.vgg_weights=random"]))
    assert settings.model.style_layers == ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
    settings = validate(compose_config(["model=adain", "model.vgg_weights=random",
                                        "model.style_layers=[relu1_1,relu3_1]"]))
    assert build_system(settings.model, settings.optim).style_layers == ("relu1_1", "relu3_1")
    style = tmp_path / "style.png"
    Image.new("RGB", (40, 40), (200, 30, 30)).save(style)
    settings = validate(compose_config(["model=johnson", "model.vgg_weights=random", f"model.style_image={style}",
                                        "model.style_size=32", "model.content_layer=relu3_3",
                                        "model.style_layers=[relu1_2,relu2_2]"]))
    system = build_system(settings.model, settings.optim)
    assert system.criterion.content_layer == "relu3_3" and system.criterion.style_layers == ("relu1_2", "relu2_2")
    with pytest.raises(ConfigError, match="model.style_layers"):
        validate(compose_config(["model=adain", "model.style_layers=[relu5_1]"]))


def test_built_ins_are_the_folders_and_downloads_come_from_their_families():
    from stylexfer.files.download import public_models, takes_style
    from stylexfer.registry import import_kinds

    assert {"adain", "johnson", "sanet"} <= set(builtin_family_names()) <= set(family_names())
    models = public_models()
    assert {"adain", "mosaic", "candy", "rain-princess", "udnie"} <= set(models)
    assert all(entry.kind in import_kinds() for entry in models.values())  # each release has an importer
    assert takes_style(models["adain"]) and not takes_style(models["mosaic"])
