"""`stylexfer download`: fetch a public pretrained model and import it."""

from __future__ import annotations

import argparse
import time

from stylexfer.cli import output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download a public pretrained model and import it")
    p.add_argument("name", nargs="?", help="model name; omit to list them")
    p.add_argument(
        "--cache-dir", help="where downloads go (default ~/.cache/stylexfer or $STYLEXFER_CACHE)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    output.add_json_option(p, input="name", model="name")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylexfer.files.download import fetch_model, public_models, takes_style

    models = public_models()
    if not args.name:
        for name, entry in models.items():
            output.say(f"{name:16s} {entry.description}")
            output.emit(args, model=name, status="available", description=entry.description)
        return 0
    started = time.perf_counter()
    path = fetch_model(args.name, cache_dir=args.cache_dir, progress=not args.quiet, models=models)
    style = "--style PAINTING " if takes_style(models[args.name]) else ""
    output.say(f"{path}\nuse it with: stylexfer stylize PHOTO {style}--model {path}")
    output.emit(args, input=args.name, output=path, model=args.name, seconds=time.perf_counter() - started)
    return 0
