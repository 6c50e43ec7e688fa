"""The "identity" model family: a 1x1 convolution initialised to the identity, trained to shift each
picture's mean colour towards the style images' (a fixed-style toy). The smallest complete family:
copy it to start your own. Not a paper; it exists to show what a family provides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from stylexfer.files.modelfile import load_checked, strip_prefix
from stylexfer.files.spec import ModelSpec, ModelWeights
from stylexfer.registry import Family


class IdentityPlusBias(nn.Module):
    """(B, 3, H, W) in [0, 1] -> the same shape: x ↦ W·x + b per pixel, starting at W = I, b = 0."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
            self.conv.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Runner:
    """Stylizes for the façade: no style at run time, α blends pixels (no tiling needed: 1x1)."""

    min_side = 1

    def __init__(self, net: nn.Module, policy: Any, tiles: Any) -> None:
        self.net, self.policy = net, policy

    def stylize(self, images: Tensor, box: Any, codes: list, request: Any, tile: Any, progress: Any,
                smoother: Any = None) -> Tensor:
        with self.policy.context():
            out = self.net(self.policy.to_device(images)).float().cpu()
        out = request.alpha * out + (1.0 - request.alpha) * images.float()
        if progress:
            progress(1, 1)
        return out.clamp(0, 1)


class IdentityFamily(Family):
    name = "identity"
    title = "identity-plus-bias fixed-style"
    architecture = "IdentityPlusBias: one 1x1 convolution, initialised to the identity"
    needs_style = False
    system = "stylexfer_identity.system:LitIdentity"
    schema = "stylexfer_identity.system:IdentityConfig"
    config_package = "stylexfer_identity.conf"  # holds model/identity.yaml

    # model file: tensors "net.*", no family metadata
    def spec_of_metadata(self, metadata: Mapping[str, str], where: str) -> ModelSpec:
        return ModelSpec(self.name)

    def metadata_of(self, weights: ModelWeights) -> dict[str, str]:
        return {}

    def split_tensors(self, spec: ModelSpec, tensors: dict[str, Tensor], where: str) -> ModelWeights:
        return ModelWeights(spec, strip_prefix(tensors, "net."), source=where)

    def join_tensors(self, weights: ModelWeights) -> dict[str, Tensor]:
        return {f"net.{k}": v for k, v in weights.net_state.items()}

    def spec_of_checkpoint(self, hparams: Mapping[str, Any], state: Mapping[str, Tensor], prefix: str,
                           where: str) -> ModelSpec:
        return ModelSpec(self.name)

    def weights_of_checkpoint(self, spec: ModelSpec, state: Mapping[str, Tensor], prefix: str,
                              where: str) -> ModelWeights:
        return ModelWeights(spec, strip_prefix(state, prefix), source=where)

    def build_net(self, weights: ModelWeights) -> nn.Module:
        net = IdentityPlusBias()
        load_checked(net, weights.net_state, weights.source or "model file", "IdentityPlusBias")
        return net.eval()

    def weights_of(self, net: nn.Module, spec: ModelSpec) -> ModelWeights:
        return ModelWeights(spec, dict(net.state_dict()))

    def info(self, spec: ModelSpec, shapes: Mapping[str, Any], prefix: str, normalize: Any,
             random_encoder: bool) -> dict[str, Any]:
        count = sum(int(torch.Size(s).numel()) for k, s in shapes.items() if k.startswith(prefix))
        return {"normalisation": "RGB in [0, 1]", "output_range": "clamped to [0, 1]",
                "parameters": {"net": count}}

    # inference and export
    def runner(self, net: nn.Module, policy: Any, tiles: Any) -> Runner:
        return Runner(net, policy, tiles)

    def export_graph(self, net: nn.Module, spec: ModelSpec, size: tuple[int, int]) -> tuple[nn.Module, tuple]:
        return net.eval(), (torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)),)

    def export_names(self) -> tuple[list[str], dict[str, dict[int, str]]]:
        return ["image"], {"image": {0: "batch", 2: "height", 3: "width"}}

    def export_reference(self, net: nn.Module, spec: ModelSpec, inputs: tuple) -> Tensor:
        with torch.inference_mode():
            return net(inputs[0])


family = IdentityFamily()
