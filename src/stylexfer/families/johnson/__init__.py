"""Johnson: fixed-style feed-forward transfer (Johnson, Alahi & Fei-Fei, ECCV 2016, "Perceptual Losses
for Real-Time Style Transfer and Super-Resolution", with instance norm, Ulyanov et al. 2016); matches
pytorch/examples fast_neural_style (transformer_net.py), whose .pth files load directly.

net.py (TransformerNet), losses.py (content, Gram style, TV on VGG-16), runner.py (α blends pixels;
tiles share whole-image instance-norm statistics), files.py (file layout, the fast-neural-style
converter, `info`, export), system.py (LitJohnson and its config schema; reached from training only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stylexfer.files.download import Asset, PublicModel
from stylexfer.registry import Family

# pytorch/examples fast_neural_style/download_saved_models.py fetches this archive.
_SAVED_MODELS = Asset("https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1",
                      "fast_neural_style_saved_models.zip")
PUBLIC_MODELS = {  # `stylexfer download NAME`, read by `stylexfer import fast-neural-style`
    name: PublicModel("fast-neural-style", (replace(_SAVED_MODELS, member=member),),
                      f"fast-neural-style {what} (pytorch/examples; fixed style; unverified hash)")
    for name, member, what in [("mosaic", "mosaic.pth", "mosaic"), ("candy", "candy.pth", "candy"),
                               ("rain-princess", "rain_princess.pth", "rain princess"),
                               ("udnie", "udnie.pth", "udnie")]
}

if TYPE_CHECKING:  # the registry imports this module to list families: it stays free of torch
    from torch import Tensor


class JohnsonFamily(Family):
    name = "johnson"
    title = "Johnson fixed-style"
    architecture = ("TransformerNet (Johnson et al. 2016): 3 convolutions down, 5 residual blocks, "
                    "2 nearest-upsampling convolutions, a 9×9 output convolution; instance norm")
    needs_style = False
    supports_mask = False
    system = "stylexfer.families.johnson.system:LitJohnson"
    schema = "stylexfer.families.johnson.config:JohnsonConfig"
    files_module = "stylexfer.families.johnson.files"
    importers = {"fast-neural-style": "stylexfer.families.johnson.files:import_fast_neural_style"}
    public_models = "stylexfer.families.johnson:PUBLIC_MODELS"
    runner_class = "stylexfer.families.johnson.runner:JohnsonRunner"
    fp32_modules = ("conv1.conv", "conv_out.conv")
    export_inputs = ("image",)
    export_axes = {"image": {0: "batch", 2: "height", 3: "width"}}

    def owns_state_dict(self, state: Mapping[str, Tensor]) -> bool:
        return "conv1.conv2d.weight" in state  # fast-neural-style's first conv (ours: conv1.conv.weight)

    def convert_state_dict(self, state: Mapping[str, Tensor], source: str) -> Any:
        from stylexfer.families.johnson import files

        return files.convert_fast_neural_style(state, source=source)

    def describe(self, spec: Any) -> str:
        return f"Johnson fixed-style (output: {spec.output})"


family = JohnsonFamily()
