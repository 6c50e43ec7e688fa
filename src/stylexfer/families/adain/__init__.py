"""AdaIN: arbitrary style transfer in real time (Huang & Belongie, ICCV 2017, "Arbitrary Style Transfer
in Real-time with Adaptive Instance Normalization"); matches naoto0804/pytorch-AdaIN (net.py,
function.py, test.py), whose released weights `stylexfer import adain` reads.

net.py (AdaINNet: VGG-19 encoder to relu4_1, AdaIN or EFDM (`model.transfer`), mirrored decoder), losses.py
(§3.3), runner.py (styles encoded once, interpolation, masks, α, tiling), files.py (file layout, the release importer,
`info`, the export graph), system.py (LitAdaIN and its config schema; reached from training only).
"""

from __future__ import annotations

from typing import Any

from stylexfer.files.download import Asset, PublicModel
from stylexfer.registry import Family

_RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
PUBLIC_MODELS = {  # `stylexfer download adain`: pytorch-AdaIN's release, read by `stylexfer import adain`
    "adain": PublicModel(
        "adain",
        tuple(Asset(f"{_RELEASE}/{name}", name) for name in ("vgg_normalised.pth", "decoder.pth")),
        "AdaIN arbitrary style (naoto0804/pytorch-AdaIN release: Caffe VGG-19 + decoder; unverified hash)",
    ),
}


class AdaINFamily(Family):
    name = "adain"
    title = "AdaIN arbitrary-style"
    architecture = ("AdaINNet (Huang & Belongie 2017): VGG-19 encoder to relu4_1, AdaIN, mirrored decoder "
                    "(nearest upsampling, no normalisation layers)")
    needs_style = True
    supports_mask = True
    system = "stylexfer.families.adain.system:LitAdaIN"
    schema = "stylexfer.families.adain.config:AdaINConfig"
    files_module = "stylexfer.families.adain.files"
    importers = {"adain": "stylexfer.families.adain.files:import_release"}
    public_models = "stylexfer.families.adain:PUBLIC_MODELS"
    runner_class = "stylexfer.families.adain.runner:AdaINRunner"
    checkpoint_part = "decoder."
    fp32_modules = ("encoder.normalize", "encoder.features.0", "decoder.conv1_1")
    export_inputs = ("content", "style", "alpha")
    export_axes = {"content": {2: "height", 3: "width"}, "style": {2: "style_height", 3: "style_width"}}

    def describe(self, spec: Any) -> str:
        transfer = spec.option("transfer", "adain")  # files.TRANSFER (this module stays free of torch)
        with_efdm = " with EFDM" if transfer == "efdm" else ""
        return f"AdaIN arbitrary-style{with_efdm} (encoder: {spec.encoder})"


family = AdaINFamily()
