"""One validated stylization request: every option rule of the inference API, checked once.

Messages name the request's fields (``alpha``, ``style_weights``, ``mask`` …), never a command-line
flag: a :class:`RequestError` keeps its field names as placeholders, and each caller renders them in
its own terms (the CLI as flags, the GUI as its controls, Python users as the keyword arguments).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stylexfer.errors import ModelFileError, StylexferError, literal
from stylexfer.files.images import DEFAULT_MAX_PIXELS
from stylexfer.registry import Family, get_family

DEFAULT_STYLE_SIZE = 512  # styles are encoded with the shorter side at most this (the references' default)
PRECISIONS = ("fp32", "bf16", "auto")


class RequestError(StylexferError, ValueError):
    """An option out of range, or options that do not fit together. The message is a template whose
    ``{field}`` placeholders name request fields (see StylexferError.render)."""

    templated = True


class StyleKindError(RequestError, ModelFileError):
    """Styles that do not fit the model kind (a fixed-style model given styles, a style-taking one without)."""


def check_precision(precision: str | None) -> str | None:
    """`precision` lower-cased when it is one of PRECISIONS (or None: the device's default)."""
    if precision is None:
        return None
    name = str(precision).lower()
    if name not in PRECISIONS:
        raise RequestError(f"unknown {{precision}} {literal(precision)!r}; use fp32, bf16 or auto", "precision")
    return name


@dataclass(frozen=True)
class StylizeRequest:
    """What to do with one model: alpha, styles and their weights or mask, colour, sizes, tiling, and
    the precision to load the model in (the Stylizer is built with it: ``load_model(precision=...)``).

    n_styles: the number of styles (for Python callers, len(styles)); the model-dependent rules are
    in :meth:`check_model`. max_pixels: the image loader's limit, which resized contents must respect.
    """

    alpha: float = 1.0
    n_styles: int = 0
    style_weights: tuple[float, ...] | None = None
    mask: Any = None
    preserve_color: bool = False
    size: int | None = None
    max_size: int | None = None
    style_size: int | None = DEFAULT_STYLE_SIZE
    tile: bool | int | str = "auto"
    max_pixels: int = DEFAULT_MAX_PIXELS
    precision: str | None = None  # fp32 | bf16 | auto | None (the device's default): see load_model

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", check_precision(self.precision))
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha) \
                or not 0.0 <= alpha <= 1.0:
            raise RequestError(
                f"{{alpha}} must be between 0 and 1 (0 = content, 1 = full style), got {literal(alpha)}",
                "alpha")
        object.__setattr__(self, "alpha", float(alpha))
        if self.style_weights is not None:
            weights = tuple(float(w) for w in self.style_weights)
            object.__setattr__(self, "style_weights", weights)
            if len(weights) != self.n_styles:
                raise RequestError(
                    f"{{style_weights}} gives {len(weights)} weight(s) for {self.n_styles} style(s); "
                    "give one per style", "style_weights")
            if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
                raise RequestError(
                    f"{{style_weights}} must be non-negative with a positive sum, got {literal(list(weights))}",
                    "style_weights")
        if self.mask is not None and self.style_weights is not None:
            raise RequestError("{style_weights} and {mask} do not combine: the mask says which "
                               "style goes where", "style_weights", "mask")
        for name in ("size", "max_size", "style_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise RequestError(f"{{{name}}} must be a positive number of pixels, got {literal(value)}",
                                   name)
        if self.size is not None and self.size * self.size > self.max_pixels:
            # The shorter side is `size`, so even a square image would have size² pixels.
            raise RequestError(
                f"{{size}} {self.size} would make images of at least {self.size ** 2 / 1e6:.0f} megapixels, "
                f"over the image limit of {self.max_pixels / 1e6:.0f}; use at most "
                f"{math.isqrt(self.max_pixels)}", "size")
        tile = self.tile
        if not (tile in ("auto", True, False, None) or (isinstance(tile, int) and tile >= 0)):
            raise RequestError(f"{{tile}} must be auto, on, off or a size in pixels, got {literal(tile)!r}",
                               "tile")

    def check_model(self, family: Family | str, name: str = "model") -> None:
        """The rules that depend on the model's family (stylexfer.registry): whether it takes a style
        at run time and whether it paints one style per mask region."""
        family = get_family(family) if isinstance(family, str) else family
        shown = literal(name)
        if self.mask is not None and not family.supports_mask:
            raise RequestError(f"{{mask}} needs a model that paints one style per mask region; {shown} is a "
                               f"{family.title} model", "mask")
        if family.needs_style and self.n_styles == 0:
            raise StyleKindError(f"{shown}: {family.title} models need at least one {{styles}} image", "styles")
        if not family.needs_style and self.n_styles:
            raise StyleKindError(f"{shown} is a {family.title} model (its style is built in): "
                                 "drop {styles}, or pass a model that takes a style", "styles")
        if self.mask is not None and self.n_styles < 2:
            raise RequestError("{mask} needs at least two styles, one per mask region", "mask")

    def weights(self) -> list[float]:
        """Style interpolation weights normalised to sum 1 (equal when none were given)."""
        n = self.n_styles
        if self.style_weights is None:
            return [1.0 / n] * n
        total = sum(self.style_weights)
        return [w / total for w in self.style_weights]

