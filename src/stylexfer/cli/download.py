"""`stylexfer download`: fetch a public pretrained model and import it."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download a public pretrained model and import it")
    p.add_argument("name", nargs="?", help="model name; omit to list them")
    p.add_argument(
        "--cache-dir", help="where downloads go (default ~/.cache/stylexfer or $STYLEXFER_CACHE)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylexfer.files.download import MODELS, fetch_model

    if not args.name:
        for name, entry in MODELS.items():
            print(f"{name:16s} {entry.description}")
        return 0
    path = fetch_model(args.name, cache_dir=args.cache_dir, progress=not args.quiet)
    print(
        f"{path}\nuse it with: stylexfer stylize PHOTO {'--style PAINTING ' if args.name == 'adain' else ''}"
        f"--model {path}"
    )
    return 0
