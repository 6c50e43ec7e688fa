"""`stylexfer import`: public pretrained models into our format (each family declares the layouts it imports)."""

from __future__ import annotations

import argparse
import time

from stylexfer.cli import output


def add_parser(sub: argparse._SubParsersAction) -> None:
    from stylexfer.registry import import_kinds  # the registry alone: the parser is built before torch loads

    p = sub.add_parser("import", help="convert public pretrained models into our format")
    kinds = import_kinds()
    p.add_argument(
        "kind",
        choices=sorted(kinds),
        help="the public weight layout, one of those the installed model families import (the number of "
        "files each takes is in the docs)",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--out", "-o", required=True, help="the .safetensors file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    output.add_json_option(p, input="files", model="kind")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylexfer.errors import ModelFileError
    from stylexfer.files.atomic import check_output_path
    from stylexfer.files.convert import import_files
    from stylexfer.files.modelfile import describe, write_safetensors

    started = time.perf_counter()
    # the output is checked before the (slow, large) sources are read
    check_output_path(args.out, overwrite=args.overwrite, create_parents=True, error=ModelFileError)
    weights = import_files(args.kind, args.files)
    path = write_safetensors(weights, args.out, overwrite=args.overwrite)
    from stylexfer.registry import get_family

    style = "--style PAINTING " if get_family(weights.spec.kind).needs_style else ""
    output.say(f"wrote {path} ({describe(weights.spec)}); use it with: stylexfer stylize PHOTO {style}--model {path}")
    output.emit(args, input=args.files, output=path, model=args.kind, seconds=time.perf_counter() - started,
                kind=weights.spec.kind)
    return 0
