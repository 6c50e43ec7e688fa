"""The Johnson training config schema (`model=johnson`, conf/model/johnson.yaml): types, defaults, ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stylexfer.training.ranges import NetTrainingOptions, bounded, check_model, choice, require


@dataclass
class JohnsonConfig(NetTrainingOptions):
    """LitJohnson: L = content_weight·L_c + style_weight·L_s + tv_weight·TV (Johnson et al. 2016, §3)."""

    name: str = "johnson"
    style_image: str | None = None  # None: the first image of the generated sample style set
    style_size: int = bounded(512, 16, 8192)  # the style image's shorter side when its Grams are computed
    content_weight: float = bounded(1.0, 0)
    style_weight: float = bounded(1e-3, 0)  # seed Table 2 (Grams divided by C·H·W)
    tv_weight: float = bounded(0.0, 0)
    output: str = "sigmoid"  # TransformerNet output: "sigmoid" (train default) | "clamp"
    vgg_weights: str = "imagenet"
    channels_last: bool = False
    content_layer: str = "relu2_2"  # VGG-16 tap of the content loss (Johnson et al. §3.3)
    style_layers: list[str] = field(default_factory=lambda: ["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    style_reduction: str = "sum"  # Gram loss over C×C entries: "sum" (seed) | "mean" (pytorch/examples, C² less)

    def __post_init__(self) -> None:
        check_model(self, "johnson")
        require(
            self.style_image is None or bool(self.style_image),
            "model.style_image",
            "must be a path to an image or null",
        )
        choice("model.output", self.output, ("sigmoid", "clamp"))
        choice("model.style_reduction", self.style_reduction, ("sum", "mean"))
        names = re.compile(r"relu[1-5]_[1-3]")
        require(all(names.fullmatch(n) for n in [self.content_layer, *self.style_layers]) and bool(self.style_layers),
                "model.content_layer/style_layers", "must name VGG-16 taps such as relu2_2 (style: a non-empty list)")
