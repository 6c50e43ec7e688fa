"""`stylexfer report SWEEP_DIR`: jobs.csv, report.md, grid.png and tradeoff.png for a sweep."""

from __future__ import annotations

import argparse

from stylexfer.cli.options import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare the runs of a sweep: table, picture grid, trade-off plot")
    p.add_argument("sweep", metavar="SWEEP_DIR", help="a Hydra multirun folder, or any folder of run folders")
    p.add_argument(
        "--content", metavar="DIR", help="content images for the fixed pairs (default: the runs' validation data)"
    )
    p.add_argument("--style", metavar="DIR", help="style images for the fixed pairs")
    p.add_argument("--size", type=positive_int, default=256, help="shorter side in pixels (default 256)")
    p.add_argument("--pairs", type=positive_int, default=4, help="fixed content×style pairs (default 4)")
    p.add_argument("--vgg-weights", default="auto", help="measuring VGG-19: auto, imagenet, random, or a file")
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylexfer.experiments.report import make_report

    target = make_report(
        args.sweep,
        content=args.content,
        style=args.style,
        size=args.size,
        pairs=args.pairs,
        vgg_weights=args.vgg_weights,
        device=args.device,
    )
    print(f"wrote {target}/report.md, jobs.csv, grid.png, tradeoff.png")
    return 0
