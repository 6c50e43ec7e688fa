"""`stylexfer evaluate`: λ-independent measures of one or more models on fixed content×style pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylexfer.cli import output
from stylexfer.cli.options import positive_int
from stylexfer.errors import display_path
from stylexfer.files.atomic import check_output_path

EVALUATE_NAME = "evaluate.json"  # the default file, in the run folder of the models' checkpoints


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="measure models on fixed content×style pairs (content fidelity, style match)")
    p.add_argument("models", nargs="+", metavar="MODEL", help="model files (.ckpt, .safetensors, .pth)")
    p.add_argument("--content", dest="content_dir", required=True, metavar="DIR", help="folder of content images")
    p.add_argument("--style", dest="style_dir", metavar="DIR",
                   help="folder of style images (needed for models that take a style)")
    p.add_argument("--size", type=positive_int, default=512, help="shorter side in pixels (default 512)")
    p.add_argument("--pairs", type=positive_int, default=8, help="content×style pairs, seeded (default 8)")
    p.add_argument(
        "--vgg-weights",
        default="auto",
        help="measuring VGG-19: auto (ImageNet if cached, else random), imagenet, random, or a file",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="where to write the JSON (default: evaluate.json in the run folder when every model is a "
        "checkpoint of one training run; otherwise only the table is printed)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing JSON file")
    p.add_argument("--json", action="store_true", help="print the JSON document only")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylexfer.experiments.evaluate import evaluate_models, format_table, write_json

    out = Path(args.out) if args.out else default_out(args.models)
    if out is not None:
        check_output_path(out, overwrite=args.overwrite)  # before any work
    doc = evaluate_models(
        args.models,
        args.content_dir,
        args.style_dir,
        size=args.size,
        pairs=args.pairs,
        vgg_weights=args.vgg_weights,
        device=args.device,
    )
    if out is not None:
        write_json(out, doc, overwrite=args.overwrite)
    if args.json:
        output.document(args, doc)
    else:
        print(format_table(doc))
        print(f"wrote {display_path(out)}" if out is not None else "no JSON written: pass --out FILE to keep it")
    return 0


def default_out(models: list[str]) -> Path | None:
    """<run>/evaluate.json when every model is a checkpoint in the `checkpoints/` folder of one
    training run; None otherwise (the current folder is never written unasked)."""
    folders = {Path(model).resolve().parent for model in models}
    if len(folders) != 1:
        return None
    folder = folders.pop()
    return folder.parent / EVALUATE_NAME if folder.name == "checkpoints" else None
