"""`stylexfer evaluate`: stylize a fixed, seeded set of content×style pairs with each model and
measure the results (see `measures`). The report of a sweep uses the same code."""

from __future__ import annotations

import functools
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from stylexfer.errors import StylexferError, display_path, one_line
from stylexfer.files.atomic import atomic_write_json, exists_error
from stylexfer.files.images import IMAGE_SUFFIXES, images_under, load_image, to_tensor
from stylexfer.inference import load_model, resize_image
from stylexfer.measures import Judge, mean_measures
from stylexfer.nets.vgg import RandomWeightsWarning

PAIR_SEED = 0
RANDOM_VGG_NOTE = (
    "the measuring VGG-19 has RANDOM weights (no ImageNet VGG-19 in torch's cache): "
    "the numbers check the pipeline only, they do not judge style transfer"
)


class EvaluateError(StylexferError, ValueError):
    """Nothing to evaluate (no images, no models) or an output that cannot be written."""


@dataclass(frozen=True)
class Pair:
    content: Path
    style: Path


def image_files(folder: str | os.PathLike, what: str) -> list[Path]:
    """Image files under `folder` (recursive, sorted); EvaluateError when there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise EvaluateError(f"{what} folder {root} does not exist; pass a folder of images")
    files = images_under(root)
    if not files:
        raise EvaluateError(f"{what} folder {root} holds no images ({', '.join(IMAGE_SUFFIXES[:4])}, …)")
    return files


def fixed_pairs(contents: list[Path], styles: list[Path], count: int, seed: int = PAIR_SEED) -> list[Pair]:
    """`count` distinct content×style pairs drawn with a fixed seed (all of them if fewer exist);
    the same folders always give the same pairs, in the same order."""
    everything = [Pair(c, s) for c in contents for s in styles]
    return everything if count >= len(everything) else random.Random(seed).sample(everything, count)


def training_style_image(model: str | os.PathLike) -> Path | None:
    """The style image a training checkpoint names (hyper_parameters.style_image), if it exists."""
    from stylexfer.files.modelfile import load_weights_only

    if not str(model).endswith(".ckpt"):
        return None
    try:
        checkpoint = load_weights_only(Path(model))
        style = checkpoint.get("hyper_parameters", {}).get("style_image")
    except (StylexferError, AttributeError):
        return None
    return Path(style) if isinstance(style, str) and Path(style).is_file() else None


def evaluate_models(
    models: list[str | os.PathLike],
    content_dir: str | os.PathLike,
    style_dir: str | os.PathLike | None,
    *,
    size: int = 512,
    pairs: int = 8,
    vgg_weights: str = "auto",
    device: str = "cpu",
    judge: Judge | None = None,
    keep_images: bool = False,
) -> dict[str, Any]:
    """Every model on the same pairs; returns the evaluate.json document. All models are loaded
    (and so checked) before any picture is stylized. keep_images: also return the stylized tensors
    under "_images" (for the report's grid; not JSON)."""
    if not models:
        raise EvaluateError("no model given; pass one or more model files")
    if size < 16:
        raise EvaluateError(f"{{size}} must be at least 16 pixels, got {size}", "size")
    if pairs < 1:
        raise EvaluateError(f"{{pairs}} must be at least 1, got {pairs}", "pairs")
    contents = image_files(content_dir, "content")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)  # a model's own warning comes back as a field
        stylizers = [load_model(m, device=device) for m in models]
    if any(s.needs_style for s in stylizers) and not style_dir:
        raise EvaluateError("a model that takes a style needs style images: pass {style_dir}", "style_dir")
    styles = image_files(style_dir, "style") if style_dir else []
    chosen = fixed_pairs(contents, styles or [Path()], pairs)
    judge = judge or Judge(vgg_weights, device=device)
    doc: dict[str, Any] = {
        "vgg_weights": judge.vgg_weights,
        "note": RANDOM_VGG_NOTE if judge.random_vgg else None,
        "size": size,
        "pairs": [{"content": str(p.content), "style": str(p.style) if styles else None} for p in chosen],
        "lpips": judge.lpips_skipped or "computed (AlexNet, to the content)",
        "models": [],
    }
    images: list[list[Tensor]] = []

    @functools.cache  # each picture is decoded once, whichever models and pairs use it
    def picture(path: Path) -> Tensor:
        return to_tensor(resize_image(load_image(path), size=size))[None]

    for path, stylizer in zip(models, stylizers, strict=True):
        own_style = None if stylizer.needs_style else training_style_image(path)
        rows, outs = [], []
        # a fixed-style model stylizes each content once, whatever the style set
        seen: dict[Path, Tensor] = {}
        for pair in chosen:
            content = picture(pair.content)
            if stylizer.needs_style:
                output = stylizer.stylize(content, [picture(pair.style)], tile=False)
                style: Tensor | None = picture(pair.style)
            else:
                if pair.content not in seen:
                    seen[pair.content] = stylizer.stylize(content, tile=False)
                output = seen[pair.content]
                style = picture(own_style) if own_style is not None else None
            rows.append(
                {"content": str(pair.content), "style": str(own_style or pair.style) if style is not None else None}
                | judge.measure(output, content, style)
            )
            outs.append(output)
        entry: dict[str, Any] = {
            "model": str(path),
            "kind": stylizer.kind,
            "mean": mean_measures(rows),
            "per_pair": rows,
        }
        if not stylizer.needs_style:
            entry["style"] = (
                f"measured against its training style {own_style}"
                if own_style is not None
                else "skipped: the model file does not name its style image (a training .ckpt does)"
            )
        if stylizer.needs_style and stylizer.spec.encoder == "random":
            entry["warning"] = "the model's own encoder has random weights"
        doc["models"].append(entry)
        images.append(outs)
    if keep_images:
        doc["_images"] = images
        doc["_inputs"] = [(picture(p.content), picture(p.style) if styles else None) for p in chosen]
    return doc


def write_json(path: str | os.PathLike, doc: dict[str, Any], *, overwrite: bool = False) -> Path:
    """The document (without its "_" entries) through the one atomic writer; an existing file is
    replaced only with `overwrite`. EvaluateError, one line, when it cannot be written."""
    path = Path(path)
    try:
        return atomic_write_json(path, {k: v for k, v in doc.items() if not k.startswith("_")}, overwrite=overwrite)
    except FileExistsError as err:
        raise exists_error(EvaluateError, path) from err
    except OSError as err:
        raise EvaluateError(f"cannot write {display_path(path)}: {one_line(err)}") from err


COLUMNS = (
    ("content_relu4_1", "c.relu4_1"),
    ("content_relu2_2", "c.relu2_2"),
    ("ssim_luma", "SSIM"),
    ("style_gram_sum", "gram.sum"),
    ("style_gram_mean", "gram.mean"),
    ("style_mean_std", "μσ"),
    ("colour_hist", "hist"),
    ("lpips", "LPIPS"),
)


def format_table(doc: dict[str, Any]) -> str:
    """The human table: one row per model (means over the pairs); then what was skipped and why."""
    head = ["model", "kind", *[label for _, label in COLUMNS]]
    rows = [head]
    names = [Path(entry["model"]).name for entry in doc["models"]]
    if len(set(names)) < len(names):  # several last.ckpt: show the paths
        names = [str(entry["model"]) for entry in doc["models"]]
    for shown, entry in zip(names, doc["models"], strict=True):
        mean = entry["mean"]
        rows.append(
            [
                shown,
                entry["kind"],
                *[f"{mean[key]:.4g}" if key in mean else "-" for key, _ in COLUMNS],
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(f"{len(doc['pairs'])} pair(s) at {doc['size']} px; VGG-19 weights: {doc['vgg_weights']}")
    if doc.get("note"):
        lines.append(f"note: {doc['note']}")
    lines.append(f"LPIPS: {doc['lpips']}")
    for entry in doc["models"]:
        for key in ("style", "warning"):
            if entry.get(key):
                lines.append(f"{Path(entry['model']).name}: {entry[key]}")
    return "\n".join(lines)
