"""What a model file holds, as plain data: shared by the readers (modelfile), the importers
(convert) and the writers, so none of them needs another to describe a model."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from stylexfer.errors import ModelFileError

KINDS = ("johnson", "adain")
OUTPUT_MODES = ("sigmoid", "clamp")
# Encoder specs in our files: torchvision ImageNet VGG-19, random (tests), or weights inside the file.
ENCODER_IMAGENET, ENCODER_RANDOM, ENCODER_EMBEDDED = "imagenet", "random", "embedded"


@dataclass(frozen=True)
class ModelSpec:
    """What a model file holds.

    kind: "johnson" (fixed-style TransformerNet) or "adain" (arbitrary-style AdaINNet).
    output: Johnson only; "sigmoid" (ours) or "clamp" (imported fast-neural-style).
    encoder: AdaIN only; "imagenet", "random", "embedded" (weights in the file) or a VGG file path.
    """

    kind: str
    output: str = "sigmoid"
    encoder: str = ENCODER_IMAGENET

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelFileError(
                f"unknown model kind {self.kind!r}; expected one of {', '.join(KINDS)}"
            )
        if self.output not in OUTPUT_MODES:
            raise ModelFileError(
                f"unknown output mode {self.output!r}; expected one of {', '.join(OUTPUT_MODES)}"
            )


@dataclass
class ModelWeights:
    """A model file's contents: the spec, the trained part's state dict (TransformerNet for Johnson,
    Decoder for AdaIN) and, when the file carries it, the AdaIN encoder's VGGFeatures state dict."""

    spec: ModelSpec
    net_state: dict[str, Tensor]
    encoder_state: dict[str, Tensor] | None = None
    source: str = field(default="", compare=False)
    random_vgg: bool = field(default=False, compare=False)  # trained with random VGG weights (readers warn)
