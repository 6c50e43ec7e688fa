"""`stylexfer evaluate`: λ-independent measures of one or more models on fixed content×style pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylexfer.cli import output
from stylexfer.cli.options import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="measure models on fixed content×style pairs (content fidelity, style match)")
    p.add_argument("models", nargs="+", metavar="MODEL", help="model files (.ckpt, .safetensors, .pth)")
    p.add_argument("--content", required=True, metavar="DIR", help="folder of content images")
    p.add_argument("--style", metavar="DIR", help="folder of style images (needed for models that take a style)")
    p.add_argument("--size", type=positive_int, default=512, help="shorter side in pixels (default 512)")
    p.add_argument("--pairs", type=positive_int, default=8, help="content×style pairs, seeded (default 8)")
    p.add_argument(
        "--vgg-weights",
        default="auto",
        help="measuring VGG-19: auto (ImageNet if cached, else random), imagenet, random, or a file",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    p.add_argument("--out", default="evaluate.json", help="where to write the JSON (default ./evaluate.json)")
    p.add_argument("--json", action="store_true", help="print the JSON document only")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylexfer.experiments.evaluate import EvaluateError, evaluate_models, format_table, write_json

    out = Path(args.out)
    if not out.parent.is_dir():  # before any work
        raise EvaluateError(f"--out {out}: the folder {out.parent} does not exist")
    doc = evaluate_models(
        args.models,
        args.content,
        args.style,
        size=args.size,
        pairs=args.pairs,
        vgg_weights=args.vgg_weights,
        device=args.device,
    )
    write_json(out, doc)
    if args.json:
        output.document(args, doc)
    else:
        print(format_table(doc))
        print(f"wrote {out}")
    return 0
