"""SANet (Park & Lee, CVPR 2019, "Arbitrary Style Transfer with Style-Attentional Networks"); matches
GlebSBrykin/SANET (`Eval.py`, `Train.ipynb`), whose released weights `stylexfer import sanet` reads.

net.py (SANetNet: VGG-19 encoder to relu5_1, two style-attention modules, AdaIN's decoder), losses.py
(content, style, two identity terms), runner.py (styles encoded once, weights, masks, α, tiling with
whole-image mvn statistics), files.py (file layout, the release importer, `info`, the export graph),
importer.py (the release's three state dicts), system.py and config.py (training only).
"""

from __future__ import annotations

from typing import Any

from stylexfer.families.adain import AdaINFamily
from stylexfer.registry import Family


class SANetFamily(Family):
    name = "sanet"
    title = "SANet arbitrary-style"
    architecture = ("SANetNet (Park & Lee 2019): VGG-19 encoder to relu5_1, style-attention modules at relu4_1 "
                    "and relu5_1 merged by a 3×3 conv, AdaIN's mirrored decoder")
    needs_style = True
    supports_mask = True
    system = "stylexfer.families.sanet.system:LitSANet"
    schema = "stylexfer.families.sanet.config:SANetConfig"
    files_module = "stylexfer.families.sanet.files"
    importers = {"sanet": "stylexfer.families.sanet.files:import_release"}
    runner_class = "stylexfer.families.sanet.runner:SANetRunner"
    checkpoint_part = "transform."
    # AdaIN's encoder and decoder, and its inputs: content, style, alpha
    fp32_modules = AdaINFamily.fp32_modules
    export_inputs, export_axes = AdaINFamily.export_inputs, AdaINFamily.export_axes

    def describe(self, spec: Any) -> str:
        return f"SANet arbitrary-style (encoder: {spec.encoder})"


family = SANetFamily()
