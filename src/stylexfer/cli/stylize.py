"""`stylexfer stylize`: collect inputs, name outputs safely, stylize with one encoded style, report.

Outputs are always written inside the output folder: names are built from sanitised stems only
(no path components, no "..", no control or bidi characters), and the final path is checked to
resolve inside the folder. An existing output is never replaced without --overwrite.
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from stylexfer.cli.options import positive_int, tile_option, unit_float
from stylexfer.errors import StylexferError

_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MAX_NAME_BYTES = 100  # per name part; filesystems allow 255 bytes per name


def sanitize_component(text: str, fallback: str = "image", max_bytes: int = MAX_NAME_BYTES) -> str:
    """One safe file-name part: NFC, no control/format/surrogate characters (bidi overrides
    included), no separators or Windows-reserved characters, no leading/trailing dots or spaces."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] not in ("C",))
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    while len(text.encode("utf-8")) > max_bytes:
        text = text[:-1]
    text = text.strip(" .")
    return text or fallback


@dataclass
class ContentItem:
    path: Path
    subdir: tuple[str, ...] = ()  # sanitised folders below the folder the user named


def collect_contents(patterns: list[str]) -> tuple[list[ContentItem], list[str]]:
    """Files as given, folders searched recursively for image suffixes, globs expanded (also when the
    shell did not). Returns the items in a stable order and one error line per missing input."""
    from stylexfer.files.images import is_image_file

    items: list[ContentItem] = []
    errors: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
            if not found:
                errors.append(
                    f"{path}: folder holds no images ({', '.join(('.jpg', '.png', '.webp', '…'))})"
                )
            for file in found:
                rel = file.parent.relative_to(path).parts
                items.append(
                    ContentItem(file, tuple(sanitize_component(part, "folder") for part in rel))
                )
        elif path.exists() or not glob.has_magic(pattern):
            items.append(ContentItem(path))  # a missing file fails later with the loader's message
        else:
            matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
            files = [m for m in matches if m.is_file() and is_image_file(m)]
            if not files:
                errors.append(f"{pattern}: no image files match")
            items.extend(ContentItem(m) for m in files)
    return items, errors


def output_path(out_dir: Path, item: ContentItem, tags: list[str], ext: str) -> Path:
    """out_dir / subdirs / CONTENT__TAG1+TAG2.ext, guaranteed to resolve inside out_dir."""
    stem = sanitize_component(item.path.stem)
    tag = "+".join(sanitize_component(t, "style", 60) for t in tags)
    name = f"{stem}__{tag}{ext}" if tag else f"{stem}{ext}"
    target = out_dir.joinpath(*item.subdir, name)
    root = out_dir.resolve()
    if not target.resolve().is_relative_to(root):
        raise StylexferError(
            f"{item.path}: output name {target} would leave the output folder {out_dir}; refused"
        )
    return target


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize",
        help="stylize images with a trained or imported model",
        description="Stylize CONTENT images (files, folders searched recursively, or globs) with a model. "
        "Outputs are named CONTENT__STYLE.png (fixed-style models: CONTENT__MODEL.png) inside --out.",
    )
    p.add_argument(
        "content", nargs="+", metavar="CONTENT", help="image files, folders (recursive) or globs"
    )
    p.add_argument(
        "--model", "-m", required=True, help="model: .ckpt, .safetensors or fast-neural-style .pth"
    )
    p.add_argument(
        "--style",
        "-s",
        nargs="+",
        default=[],
        metavar="STYLE",
        help="style image(s) (AdaIN models)",
    )
    p.add_argument(
        "--out",
        "-o",
        default="outputs/stylized",
        help="output folder, or a file name (its suffix picks the format) for one content image "
        "(default: outputs/stylized)",
    )
    p.add_argument("--alpha", type=unit_float, default=1.0, help="style strength 0..1 (default 1)")
    p.add_argument(
        "--style-weights",
        type=unit_float,
        nargs="+",
        metavar="W",
        help="interpolation weights, one per style (normalised to sum 1)",
    )
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--mask", help="mask image: one grey level per style; brightest = first style")
    p.add_argument(
        "--size", type=positive_int, help="resize content so its shorter side is SIZE px"
    )
    p.add_argument(
        "--max-size", type=positive_int, help="shrink content so its longer side is at most this"
    )
    p.add_argument(
        "--style-size",
        type=positive_int,
        default=512,
        help="shrink styles so their shorter side is at most this before encoding (default 512)",
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument(
        "--batch-size", type=positive_int, default=1, help="stylize equal-sized images together"
    )
    p.add_argument(
        "--tile",
        type=tile_option,
        default="auto",
        help="auto (tile images over 2 MP), on, off, or a tile size in px (default auto)",
    )
    p.add_argument("--ext", default=".png", help="output format inside a folder (default .png)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--timings", action="store_true", help="print the time spent inside the networks (stderr)"
    )
    p.set_defaults(handler=run_stylize)


def run_stylize(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from stylexfer.errors import ModelFileError
    from stylexfer.files.images import SAVE_FORMATS, load_image, save_image, to_tensor
    from stylexfer.files.modelfile import build_net, read_model_file
    from stylexfer.inference import Stylizer, mask_labels, resize_image
    from stylexfer.inference.stylizer import _check_alpha

    _check_alpha(args.alpha)
    if args.style_weights is not None and len(args.style_weights) != len(args.style):
        raise StylexferError(
            f"--style-weights gives {len(args.style_weights)} weight(s) for {len(args.style)} style(s); "
            "give one per style"
        )
    items, errors = collect_contents(args.content)
    if not items:
        raise StylexferError("; ".join(errors) or "no content images given")
    out = Path(args.out)
    single_file = out.suffix.lower() in SAVE_FORMATS
    if single_file and len(items) != 1:
        raise StylexferError(
            f"--out {out} is a file name but {len(items)} content images were given; pass a folder instead"
        )
    if not single_file and out.suffix and out.suffix.lower() not in SAVE_FORMATS:
        raise StylexferError(
            f"--out {out}: unknown image format {out.suffix!r}; use one of "
            f"{', '.join(sorted(SAVE_FORMATS))} or a folder name"
        )
    ext = args.ext if args.ext.startswith(".") else f".{args.ext}"
    if ext.lower() not in SAVE_FORMATS:
        raise StylexferError(
            f"--ext {args.ext}: unknown format; use one of {', '.join(sorted(SAVE_FORMATS))}"
        )
    if out.exists() and not out.is_dir() and not single_file:
        raise StylexferError(f"--out {out} exists and is not a folder")

    # Cheap checks first (model kind, style and mask files) so bad input fails before the net is built.
    weights = read_model_file(args.model)
    if weights.spec.kind == "adain" and not args.style:
        raise StylexferError(f"{args.model}: an AdaIN model needs at least one --style image")
    if weights.spec.kind == "johnson" and args.style:
        raise ModelFileError(
            f"{Path(args.model).name} is a Johnson fixed-style model (its style is built in): "
            "drop --style, or pass an AdaIN model"
        )
    if args.mask and args.style_weights is not None:
        raise StylexferError(
            "--style-weights and --mask do not combine: the mask says which style goes where"
        )
    labels = (
        mask_labels(load_image(args.mask), len(args.style), name=args.mask) if args.mask else None
    )
    style_images = [load_image(s, draft_shorter_side=args.style_size) for s in args.style]
    stylizer = Stylizer(
        build_net(weights), weights.spec, device=args.device, name=Path(args.model).name
    )
    network_s = 0.0  # time inside the networks (style encoding, stylization), for --timings
    started = time.perf_counter()
    codes = (
        stylizer.encode_styles(style_images, style_size=args.style_size) if style_images else None
    )
    network_s += time.perf_counter() - started
    tags = [Path(s).stem for s in args.style] if args.style else [Path(args.model).stem]

    failures = list(errors)
    planned: dict[Path, Path] = {}
    jobs: list[tuple[ContentItem, Path]] = []
    for item in items:
        try:
            target = out if single_file else output_path(out, item, tags, ext)
        except StylexferError as err:
            failures.append(str(err))
            continue
        if target in planned:
            failures.append(
                f"{item.path}: same output name as {planned[target]} ({target.name}); rename one"
            )
            continue
        if target.exists() and not args.overwrite:
            failures.append(f"{target}: already exists; pass --overwrite to replace it")
            continue
        planned[target] = item.path
        jobs.append((item, target))

    bar = tqdm(
        total=len(jobs),
        unit="img",
        file=sys.stderr,
        disable=args.quiet or len(jobs) < 2,
        dynamic_ncols=True,
    )
    pending: list[tuple[torch.Tensor, Path, Path]] = []
    written: list[Path] = []

    def flush() -> None:
        if not pending:
            return
        nonlocal network_s
        batch = torch.stack([t for t, _, _ in pending])
        try:
            started = time.perf_counter()
            result = stylizer.stylize(
                batch,
                codes,
                style_weights=args.style_weights,
                alpha=args.alpha,
                preserve_color=args.preserve_color,
                mask=labels,
                tile=args.tile,
            )
            network_s += time.perf_counter() - started
            for image, (_, _, target) in zip(result, pending, strict=True):
                try:
                    written.append(save_image(image, target, overwrite=args.overwrite))
                except StylexferError as err:
                    failures.append(str(err))
                except OSError as err:
                    failures.append(f"{target}: cannot write ({err})")
        except StylexferError:
            raise  # option errors apply to every image: stop with one line
        except (RuntimeError, MemoryError) as err:  # e.g. out of memory on one huge image
            reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            failures.extend(f"{source}: stylizing failed ({reason})" for _, source, _ in pending)
        bar.update(len(pending))
        pending.clear()

    for item, target in jobs:
        try:
            image = load_image(item.path, draft_shorter_side=args.size or args.max_size)  # JPEG: decode small
            image = resize_image(image, size=args.size, max_size=args.max_size)
        except StylexferError as err:
            failures.append(str(err))
            bar.update(1)
            continue
        tensor = to_tensor(image)
        if pending and (tensor.shape != pending[0][0].shape or len(pending) >= args.batch_size):
            flush()
        pending.append((tensor, item.path, target))
        if len(pending) >= args.batch_size:
            flush()
    flush()
    bar.close()

    for line in failures:
        print(f"stylexfer: error: {line}", file=sys.stderr)
    if args.timings:
        print(f"stylexfer: timings: network {network_s:.3f} s (style encoding and stylization)", file=sys.stderr)
    total = len(items) + len(errors)
    if failures:
        print(
            f"stylexfer: {len(failures)} of {total} input(s) failed; {len(written)} written to {out}",
            file=sys.stderr,
        )
        return 2
    if not args.quiet:
        where = out if single_file else f"{out}/"
        print(f"stylized {len(written)} image(s) into {where}", file=sys.stderr)
    return 0
