"""`stylexfer sheet`: one contact sheet, rows = contents, columns = styles (or fixed-style models).

The work is stylexfer.inference.sheet's (the demo and the GUI use it too); this module checks the
command line, loads the files and writes the sheet atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stylexfer.cli import output
from stylexfer.cli.options import add_device_and_precision, positive_int, unit_float
from stylexfer.errors import StylexferError, display_path

DEFAULT_OUT = "outputs/sheet.png"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sheet",
        help="one picture comparing styles or models on several contents",
        description="A contact sheet: rows = CONTENT images, columns = --style images (models that take a style) or "
        "--model files (fixed-style models, one column each); the first row shows the styles, the first "
        "column the contents, each tile labelled with its file stem.",
    )
    p.add_argument("content", nargs="*", metavar="CONTENT",
                   help="content images, folders (searched recursively) or globs")
    p.add_argument("--style", "-s", nargs="+", action="extend", default=[], metavar="STYLE_OR_FOLDER",
                   help="style images or folders of them (models that take a style); each is encoded once")
    p.add_argument("--model", "-m", nargs="+", action="extend", required=True, metavar="MODEL",
                   help="model file(s); repeat or list several (fixed-style models: one column each)")
    p.add_argument("--out", "-o", default=DEFAULT_OUT, help=f"the sheet image (default {DEFAULT_OUT})")
    p.add_argument("--tile-size", type=positive_int, default=256, help="tile side in px (default 256)")
    p.add_argument("--alpha", type=unit_float, default=1.0, help="style strength 0..1 (default 1)")
    p.add_argument("--style-size", type=positive_int, default=512,
                   help="shrink styles so their shorter side is at most this before encoding (default 512)")
    add_device_and_precision(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing sheet")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    output.add_json_option(p, input="content", model="model")
    p.set_defaults(handler=run)


def _images(patterns: list[str], flag: str) -> list[Path]:
    """Files, folders (recursive) and globs, as stylize collects them; any miss ends the run."""
    from stylexfer.cli.contents import collect_contents

    items, errors = collect_contents(patterns)
    if errors:
        raise StylexferError(f"{flag}: {errors[0]}")
    return [item.path for item in items]


def _check_out(args: argparse.Namespace) -> Path:
    from stylexfer.files.atomic import check_output_path
    from stylexfer.files.images import SAVE_FORMATS

    out = Path(args.out)
    if out.suffix.lower() not in SAVE_FORMATS:
        raise StylexferError(f"--out {display_path(out)}: not an image file name; end it with one of "
                             f"{', '.join(sorted(SAVE_FORMATS))}")
    check_output_path(out, overwrite=args.overwrite, create_parents=True, error=StylexferError)  # before any work
    return out


def _check_kinds(args: argparse.Namespace) -> None:
    """Before any network is built: models that take a style need styles, styles need such a model."""
    from stylexfer.files.modelfile import read_spec
    from stylexfer.registry import get_family

    families = [get_family(read_spec(model).kind) for model in args.model]
    styled = [(m, f) for m, f in zip(args.model, families, strict=True) if f.needs_style]
    if styled and not args.style:
        raise StylexferError(f"{display_path(styled[0][0])} is a {styled[0][1].title} model: the sheet needs "
                             "at least one --style image or folder")
    if args.style and not styled:
        raise StylexferError("--style needs a model that takes a style, but every --model is fixed-style (its "
                             "style is built in): drop --style, or add a model that takes one")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from stylexfer.files.images import load_image, save_image
    from stylexfer.inference import StylizeRequest, open_model
    from stylexfer.inference.sheet import MIN_SHEET_TILE, sheet_columns, stylize_sheet

    started = time.perf_counter()
    if not args.content:
        raise StylexferError("no CONTENT given: name at least one content image or folder")
    if args.tile_size < MIN_SHEET_TILE:
        raise StylexferError(f"--tile-size must be at least {MIN_SHEET_TILE} px, got {args.tile_size}")
    StylizeRequest(alpha=args.alpha)  # its range, before any work
    out = _check_out(args)
    contents = _images(args.content, "CONTENT")
    styles = _images(args.style, "--style") if args.style else []
    _check_kinds(args)
    content_images = [(p.stem, load_image(p, draft_shorter_side=args.tile_size)) for p in contents]
    style_images = [(p.stem, load_image(p, draft_shorter_side=args.style_size)) for p in styles]
    models = [(Path(m).stem, open_model(m, device=args.device, precision=args.precision)) for m in args.model]
    columns = sheet_columns(models, style_images, style_size=args.style_size)
    total = len(columns) * len(content_images)
    with tqdm(total=total, unit="tile", file=sys.stderr, disable=args.quiet or total < 2,
              dynamic_ncols=True) as bar:
        sheet = stylize_sheet(content_images, columns, tile_size=args.tile_size, alpha=args.alpha,
                              progress=lambda done, _: bar.update(done - bar.n))
    path = save_image(sheet, out, overwrite=args.overwrite)
    seconds = time.perf_counter() - started
    if not args.quiet:
        print(f"wrote {display_path(path)} ({sheet.width}×{sheet.height}: {len(contents)} content(s) × "
              f"{len(columns)} column(s)) in {seconds:.1f} s", file=sys.stderr)
    output.emit(args, input=args.content, output=path, model=args.model, seconds=seconds,
                rows=len(contents), columns=[c.label for c in columns])
    return 0
