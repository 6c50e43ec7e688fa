"""Johnson: fixed-style feed-forward transfer (Johnson, Alahi & Fei-Fei, ECCV 2016, "Perceptual Losses
for Real-Time Style Transfer and Super-Resolution", with instance norm, Ulyanov et al. 2016); matches
pytorch/examples fast_neural_style (transformer_net.py), whose .pth files load directly.

net.py (TransformerNet), losses.py (content, Gram style, TV on VGG-16), runner.py (α blends pixels;
tiles share whole-image instance-norm statistics), files.py (file layout, the fast-neural-style
converter, `info`, export), system.py (LitJohnson and its config schema; reached from training only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stylexfer.registry import Family

if TYPE_CHECKING:  # the registry imports this module to list families: it stays free of torch
    from torch import Tensor, nn


class JohnsonFamily(Family):
    name = "johnson"
    title = "Johnson fixed-style"
    needs_style = False
    supports_mask = False
    system = "stylexfer.families.johnson.system:LitJohnson"
    schema = "stylexfer.families.johnson.config:JohnsonConfig"
    files_module = "stylexfer.families.johnson.files"
    importers = {"fast-neural-style": "stylexfer.families.johnson.files:import_fast_neural_style"}

    @property
    def architecture(self) -> str:  # type: ignore[override]
        from stylexfer.families.johnson.files import ARCHITECTURE

        return ARCHITECTURE

    # ---- model file (files.py)
    def spec_of_checkpoint(self, hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str,
                           where: str) -> Any:
        from stylexfer.families.johnson import files

        return files.spec_of_checkpoint(hparams)

    def owns_state_dict(self, state: Mapping[str, Tensor]) -> bool:
        from stylexfer.families.johnson.files import FAST_NEURAL_STYLE_KEY

        return FAST_NEURAL_STYLE_KEY in state

    def convert_state_dict(self, state: Mapping[str, Tensor], source: str) -> Any:
        from stylexfer.families.johnson import files

        return files.convert_fast_neural_style(state, source=source)

    def describe(self, spec: Any) -> str:
        return f"Johnson fixed-style (output: {spec.output})"

    def info(self, spec: Any, shapes: Mapping[str, Any], prefix: str, normalize: Any, random_encoder: bool) -> dict:
        from stylexfer.families.johnson import files

        return files.info(spec, shapes, prefix)

    # ---- inference (runner.py)
    def runner(self, net: nn.Module, policy: Any, tiles: Any) -> Any:
        from stylexfer.families.johnson.runner import JohnsonRunner

        return JohnsonRunner(net, policy, tiles)  # type: ignore[arg-type]

    def fp32_layers(self, net: nn.Module) -> list[nn.Module]:
        return [net.conv1.conv, net.conv_out.conv]  # type: ignore[union-attr,list-item]

    # ---- export (files.py)
    def export_graph(self, net: nn.Module, spec: Any, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
        from stylexfer.families.johnson import files

        return files.export_graph(net, size)

    def export_names(self) -> tuple[list[str], dict[str, dict[int, str]]]:
        return ["image"], {"image": {0: "batch", 2: "height", 3: "width"}}

    def export_reference(self, net: nn.Module, spec: Any, inputs: tuple) -> Tensor:
        from stylexfer.families.johnson import files

        return files.export_reference(net, inputs)


family = JohnsonFamily()
