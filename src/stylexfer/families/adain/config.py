"""The AdaIN training config schema (`model=adain`, conf/model/adain.yaml): types, defaults, ranges."""

from __future__ import annotations

from dataclasses import dataclass, field

from stylexfer.training.ranges import NetTrainingOptions, bounded, check_model, choice, require


@dataclass
class AdaINConfig(NetTrainingOptions):
    """LitAdaIN: L = content_weight·L_c + style_weight·L_s (Huang & Belongie 2017, eq. 11)."""

    name: str = "adain"
    # the transfer operator at relu4_1, stored in the model file: "adain" (mean/std) or "efdm" (exact
    # feature distribution matching, Zhang et al. 2022; its style loss matches ranks, not mean/std)
    transfer: str = "adain"
    content_weight: float = bounded(1.0, 0)
    # λ; the YAML sets it from the top-level `lambda`
    style_weight: float = bounded(10.0, 0, key="model.style_weight (lambda)")
    vgg_weights: str = "imagenet"  # "imagenet" | "random" | path to a torchvision VGG-19 state dict
    channels_last: bool = False  # NHWC convs: faster with tensor cores (AMP on recent GPUs)
    # encoder taps whose mean/std feed the style loss (§3.3; the content loss is at relu4_1, the AdaIN layer)
    style_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1"])

    def __post_init__(self) -> None:
        check_model(self, "adain")
        choice("model.transfer", self.transfer, ("adain", "efdm"))  # net.TRANSFERS (this module stays torch-free)
        taps = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
        require(bool(self.style_layers) and set(self.style_layers) <= set(taps), "model.style_layers",
                f"must be a non-empty list of {', '.join(taps)}, got {list(self.style_layers)}")
