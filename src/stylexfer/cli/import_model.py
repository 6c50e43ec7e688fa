"""`stylexfer import`: public pretrained models (fast-neural-style, the AdaIN release) into our format."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="convert public pretrained models into our format")
    p.add_argument(
        "kind",
        choices=("fast-neural-style", "adain"),
        help="fast-neural-style: one .pth (mosaic.pth …); adain: vgg_normalised.pth and decoder.pth",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--out", "-o", required=True, help="the .safetensors file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylexfer.files.convert import import_files
    from stylexfer.files.modelfile import describe, write_safetensors

    weights = import_files(args.kind, args.files)
    path = write_safetensors(weights, args.out, overwrite=args.overwrite)
    print(
        f"wrote {path} ({describe(weights.spec)}); use it with: stylexfer stylize PHOTO "
        f"{'--style PAINTING ' if weights.spec.kind == 'adain' else ''}--model {path}"
    )
    return 0
