"""SANet (Park & Lee, CVPR 2019, "Arbitrary Style Transfer with Style-Attentional Networks"); matches
GlebSBrykin/SANET (`Eval.py`, `Train.ipynb`), whose released weights `stylexfer import sanet` reads.

net.py (SANetNet: VGG-19 encoder to relu5_1, two style-attention modules, AdaIN's decoder), losses.py
(content, style, two identity terms), runner.py (styles encoded once, weights, masks, α, tiling with
whole-image mvn statistics), files.py (file layout, the release importer, `info`, the export graph),
importer.py (the release's three state dicts), system.py and config.py (training only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stylexfer.registry import Family

if TYPE_CHECKING:  # the registry imports this module to list families: it stays free of torch
    from torch import Tensor, nn


class SANetFamily(Family):
    name = "sanet"
    title = "SANet arbitrary-style"
    needs_style = True
    supports_mask = True
    system = "stylexfer.families.sanet.system:LitSANet"
    schema = "stylexfer.families.sanet.config:SANetConfig"
    files_module = "stylexfer.families.sanet.files"
    importers = {"sanet": "stylexfer.families.sanet.files:import_release"}

    @property
    def architecture(self) -> str:  # type: ignore[override]
        from stylexfer.families.sanet.files import ARCHITECTURE

        return ARCHITECTURE

    # ---- model file (files.py)
    def spec_of_checkpoint(self, hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str,
                           where: str) -> Any:
        from stylexfer.families.sanet import files

        return files.spec_of_checkpoint(hparams, state, prefix)

    def checkpoint_net_prefix(self, prefix: str) -> str:
        return f"{prefix}transform."

    def describe(self, spec: Any) -> str:
        return f"SANet arbitrary-style (encoder: {spec.encoder})"

    def info(self, spec: Any, shapes: Mapping[str, Any], prefix: str, normalize: Any, random_encoder: bool) -> dict:
        from stylexfer.families.sanet import files

        return files.info(spec, shapes, prefix, normalize, random_encoder)

    # ---- inference (runner.py)
    def runner(self, net: nn.Module, policy: Any, tiles: Any) -> Any:
        from stylexfer.families.sanet.runner import SANetRunner

        return SANetRunner(net, policy, tiles)  # type: ignore[arg-type]

    def fp32_layers(self, net: nn.Module) -> list[nn.Module]:
        return [net.encoder.normalize, net.encoder.features[0], net.decoder.conv1_1]  # type: ignore[index,union-attr,list-item]

    # ---- export (files.py)
    def export_graph(self, net: nn.Module, spec: Any, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
        from stylexfer.families.sanet import files

        return files.export_graph(net, size)

    def export_names(self) -> tuple[list[str], dict[str, dict[int, str]]]:
        return ["content", "style", "alpha"], {"content": {2: "height", 3: "width"},
                                               "style": {2: "style_height", 3: "style_width"}}

    def export_reference(self, net: nn.Module, spec: Any, inputs: tuple) -> Tensor:
        from stylexfer.families.sanet import files

        return files.export_reference(net, inputs)


family = SANetFamily()
