"""AdaIN: arbitrary style transfer in real time (Huang & Belongie, ICCV 2017, "Arbitrary Style Transfer
in Real-time with Adaptive Instance Normalization"); matches naoto0804/pytorch-AdaIN (net.py,
function.py, test.py), whose released weights `stylexfer import adain` reads.

net.py (AdaINNet: VGG-19 encoder to relu4_1, AdaIN or EFDM (`model.transfer`), mirrored decoder), losses.py
(§3.3), runner.py (styles encoded once, interpolation, masks, α, tiling), files.py (file layout, the release importer,
`info`, the export graph), system.py (LitAdaIN and its config schema; reached from training only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stylexfer.registry import Family

if TYPE_CHECKING:  # the registry imports this module to list families: it stays free of torch
    from torch import Tensor, nn


class AdaINFamily(Family):
    name = "adain"
    title = "AdaIN arbitrary-style"
    needs_style = True
    supports_mask = True
    system = "stylexfer.families.adain.system:LitAdaIN"
    schema = "stylexfer.families.adain.config:AdaINConfig"
    files_module = "stylexfer.families.adain.files"
    importers = {"adain": "stylexfer.families.adain.files:import_release"}

    @property
    def architecture(self) -> str:  # type: ignore[override]
        from stylexfer.families.adain.files import ARCHITECTURE

        return ARCHITECTURE

    # ---- model file (files.py)
    def spec_of_checkpoint(self, hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str,
                           where: str) -> Any:
        from stylexfer.families.adain import files

        return files.spec_of_checkpoint(hparams, state, prefix)

    def checkpoint_net_prefix(self, prefix: str) -> str:
        return f"{prefix}decoder."

    def describe(self, spec: Any) -> str:
        transfer = spec.option("transfer", "adain")  # files.TRANSFER (this module stays free of torch)
        with_efdm = " with EFDM" if transfer == "efdm" else ""
        return f"AdaIN arbitrary-style{with_efdm} (encoder: {spec.encoder})"

    def info(self, spec: Any, shapes: Mapping[str, Any], prefix: str, normalize: Any, random_encoder: bool) -> dict:
        from stylexfer.families.adain import files

        return files.info(spec, shapes, prefix, normalize, random_encoder)

    # ---- inference (runner.py)
    def runner(self, net: nn.Module, policy: Any, tiles: Any) -> Any:
        from stylexfer.families.adain.runner import AdaINRunner

        return AdaINRunner(net, policy, tiles)  # type: ignore[arg-type]

    def fp32_layers(self, net: nn.Module) -> list[nn.Module]:
        return [net.encoder.normalize, net.encoder.features[0], net.decoder.conv1_1]  # type: ignore[index,union-attr,list-item]

    # ---- export (files.py)
    def export_graph(self, net: nn.Module, spec: Any, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
        from stylexfer.families.adain import files

        return files.export_graph(net, size)

    def export_names(self) -> tuple[list[str], dict[str, dict[int, str]]]:
        return ["content", "style", "alpha"], {"content": {2: "height", 3: "width"},
                                               "style": {2: "style_height", 3: "style_width"}}

    def export_reference(self, net: nn.Module, spec: Any, inputs: tuple) -> Tensor:
        from stylexfer.families.adain import files

        return files.export_reference(net, inputs)


family = AdaINFamily()
