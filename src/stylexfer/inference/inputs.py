"""Inputs of the inference API: images as tensors, the one shorter-side resize, mask labels, and the
padding that lets images smaller than a network's minimum through."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from stylexfer.errors import ImageError, display_path
from stylexfer.files.images import DEFAULT_MAX_PIXELS, load_image, resample, resized_size, to_tensor
from stylexfer.inference.request import RequestError, literal

ImageLike = Tensor | Image.Image | str | os.PathLike


def as_image_tensor(image: ImageLike) -> Tensor:
    """Path / PIL / (3, H, W) / (B, 3, H, W) tensor in [0, 1] -> (B, 3, H, W) float32."""
    if isinstance(image, str | os.PathLike):
        image = load_image(image)
    if isinstance(image, Image.Image):
        image = to_tensor(image.convert("RGB"))
    if not isinstance(image, Tensor) or image.dim() not in (3, 4) or image.shape[-3] != 3:
        raise RequestError(
            f"expected an RGB image or a (3, H, W) tensor, got {literal(getattr(image, 'shape', type(image)))}"
        )
    return (image.unsqueeze(0) if image.dim() == 3 else image).float()


def resize_image(image: Image.Image, *, size: int | None = None, max_size: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "image") -> Image.Image:
    """The tool's one shorter-side resize (see :func:`resized_size`; resampled by files.images.resample).
    A result over `max_pixels` is an ImageError naming `name`."""
    for field, value in (("size", size), ("max_size", max_size)):
        if value is not None and value < 1:
            raise RequestError(f"{{{field}}} must be a positive number of pixels, got {literal(value)}", field)
    new = resized_size(*image.size, size=size, max_size=max_size)
    if new == image.size:
        return image
    if new[0] * new[1] > max_pixels:
        raise ImageError(
            f"{display_path(name)}: resized to {new[0]}×{new[1]} it would have {new[0] * new[1] / 1e6:.0f} "
            f"megapixels, over the limit of {max_pixels / 1e6:.0f}; use a smaller size"
        )
    return resample(image, new)


def style_tensor(style: ImageLike, style_size: int | None) -> Tensor:
    """A style picture as (B, 3, H, W), its shorter side scaled down to `style_size` (a JPEG file is
    decoded at reduced scale first)."""
    if isinstance(style, str | os.PathLike):
        style = load_image(style, draft_shorter_side=style_size)
    if isinstance(style, Image.Image) and style_size is not None and min(style.size) > style_size:
        style = resize_image(style, size=style_size)
    tensor = as_image_tensor(style)
    if style_size is not None and min(tensor.shape[-2:]) > style_size:
        scale = style_size / min(tensor.shape[-2:])
        tensor = F.interpolate(tensor, scale_factor=scale, mode="bilinear", antialias=True)
    return tensor


def mask_labels(mask: ImageLike, n_styles: int, *, name: str = "mask") -> Tensor:
    """A mask image -> (H, W) int64 style index per pixel, for `n_styles` styles.

    The mask must show exactly `n_styles` distinct grey levels; the brightest is style 1, the next
    style 2, …, the darkest the last (two styles: white = first, black = second). Levels closer than
    24 grey values count as one and levels covering under 0.5 % of the pixels (anti-aliased edges,
    JPEG noise) go to their nearest level. An integer (H, W) tensor is taken as labels 0..n-1.
    """
    if n_styles < 2:
        raise RequestError("{mask} needs at least two styles, one per mask region", "mask")
    if isinstance(mask, Tensor) and not mask.is_floating_point():
        labels = _squeeze_leading(mask.long())
        if labels.dim() != 2 or int(labels.min()) < 0 or int(labels.max()) >= n_styles:
            raise RequestError(f"{literal(name)}: label tensor must be (H, W) with values 0..{n_styles - 1}",
                               "mask")
        return labels
    if isinstance(mask, str | os.PathLike):
        name = str(mask)
        mask = load_image(mask)
    if isinstance(mask, Image.Image):
        grey = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.int64).copy())
    else:
        t = _squeeze_leading(mask.float())
        t = t.mean(0) if t.dim() == 3 else t
        grey = (t.clamp(0, 1) * 255).round().long()
    counts = torch.bincount(grey.flatten(), minlength=256)
    centres: list[int] = []
    for value in torch.argsort(counts, descending=True).tolist():
        if counts[value] < max(1, 0.005 * grey.numel()):
            break
        if all(abs(value - c) >= 24 for c in centres):
            centres.append(value)
    if len(centres) != n_styles:
        raise RequestError(
            f"{literal(name)} has {len(centres)} grey level(s) but {n_styles} styles were given; the mask "
            "needs one level per style (brightest = first style, darkest = last)", "mask"
        )
    centres_t = torch.tensor(sorted(centres, reverse=True))
    return (grey.unsqueeze(-1) - centres_t).abs().argmin(-1)


def _squeeze_leading(t: Tensor) -> Tensor:
    """(1, …, 1, H, W) or (1, C, H, W) -> (H, W) / (C, H, W), keeping 1-pixel sides (no plain squeeze)."""
    while t.dim() > 2 and t.shape[0] == 1:
        t = t[0]
    return t


def resize_labels(labels: Tensor, size: tuple[int, ...]) -> Tensor:
    """(H, W) labels -> (h, w) by nearest neighbour."""
    return F.interpolate(labels[None, None].float(), size=size, mode="nearest")[0, 0].long()


Box = tuple[int, int, int, int]  # top, left, height, width of the original inside the padded image


def pad_to_min(images: Tensor, min_side: int) -> tuple[Tensor, Box]:
    """Pad (B, C, H, W) so both sides are at least `min_side` (the smallest the network's reflection
    pads accept), split evenly around the picture: reflected where the side allows it, replicated
    when it is too short to reflect (a 1-pixel side). Returns the padded tensor and where the
    original sits in it; sides already large enough are untouched."""
    h, w = images.shape[-2:]
    box = ((min_side - h) // 2 if h < min_side else 0, (min_side - w) // 2 if w < min_side else 0, h, w)
    if h >= min_side and w >= min_side:
        return images, box
    x = images
    for dim, side, before in ((-2, h, box[0]), (-1, w, box[1])):
        total = max(0, min_side - side)
        if not total:
            continue
        pad = (0, 0, before, total - before) if dim == -2 else (before, total - before, 0, 0)
        mode = "reflect" if max(pad) < side else "replicate"
        x = F.pad(x.float(), pad, mode=mode).to(images.dtype)
    return x, box


def crop_box(images: Tensor, box: Box) -> Tensor:
    top, left, h, w = box
    return images[..., top : top + h, left : left + w]
