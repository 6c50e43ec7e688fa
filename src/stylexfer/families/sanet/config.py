"""The SANet training config schema (`model=sanet`, conf/model/sanet.yaml): types, defaults, ranges."""

from __future__ import annotations

from dataclasses import dataclass

from stylexfer.training.ranges import NetTrainingOptions, bounded, check_model


@dataclass
class SANetConfig(NetTrainingOptions):
    """LitSANet: L = content_weight·L_c + style_weight·L_s + identity1_weight·L_id1 + identity2_weight·L_id2
    (Park & Lee 2019 eq. 7; GlebSBrykin/SANET's Train.ipynb: 1, 3, 50, 1)."""

    name: str = "sanet"
    content_weight: float = bounded(1.0, 0)
    # λ; the YAML sets it from the top-level `lambda`
    style_weight: float = bounded(3.0, 0, key="model.style_weight (lambda)")
    identity1_weight: float = bounded(50.0, 0)  # pixels: MSE(D(T(c, c)), c) + MSE(D(T(s, s)), s)
    identity2_weight: float = bounded(1.0, 0)  # features of those identity pictures at relu1_1 … relu5_1
    vgg_weights: str = "imagenet"  # "imagenet" | "random" | path to a torchvision VGG-19 state dict
    channels_last: bool = False  # NHWC convs: faster with tensor cores (AMP on recent GPUs)

    def __post_init__(self) -> None:
        check_model(self, "sanet")
