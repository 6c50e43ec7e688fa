"""What a model file holds, as plain data: shared by the readers (modelfile), the importers
(convert) and the writers, so none of them needs another to describe a model."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from stylexfer.errors import ModelFileError
from stylexfer.registry import get_family

OUTPUT_MODES = ("sigmoid", "clamp")
# Encoder specs in our files: torchvision ImageNet VGG-19, random (tests), or weights inside the file.
ENCODER_IMAGENET, ENCODER_RANDOM, ENCODER_EMBEDDED = "imagenet", "random", "embedded"


@dataclass(frozen=True)
class ModelSpec:
    """What a model file holds.

    kind: the model family's name (stylexfer.registry; an unknown one is refused, naming the installed).
    output: families with an output head choice: "sigmoid" (ours) or "clamp" (imported 0-255 nets).
    encoder: families with a VGG encoder: "imagenet", "random", "embedded" (weights in the file) or a
    VGG file path.
    options: family-specific settings stored in the file (sorted (key, value) pairs of strings), e.g. the
    statistics convention of an imported net; absent keys take the family's defaults.
    """

    kind: str
    output: str = "sigmoid"
    encoder: str = ENCODER_IMAGENET
    options: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        get_family(self.kind)
        object.__setattr__(self, "options", tuple(sorted(dict(self.options).items())))
        if self.output not in OUTPUT_MODES:
            raise ModelFileError(
                f"unknown output mode {self.output!r}; expected one of {', '.join(OUTPUT_MODES)}"
            )

    def option(self, key: str, default: str) -> str:
        """A family-specific setting stored in the file, or `default`."""
        return dict(self.options).get(key, default)


@dataclass
class ModelWeights:
    """A model file's contents: the spec, the trained part's state dict (the family says which part)
    and, when the file carries it, the frozen encoder's VGGFeatures state dict."""

    spec: ModelSpec
    net_state: dict[str, Tensor]
    encoder_state: dict[str, Tensor] | None = None
    source: str = field(default="", compare=False)
    random_vgg: bool = field(default=False, compare=False)  # trained with random VGG weights (readers warn)
