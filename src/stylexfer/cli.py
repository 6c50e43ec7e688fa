"""`stylexfer` command line: one handler per subcommand; errors are one line and exit code 2."""

from __future__ import annotations

import argparse
import sys

from stylexfer import __version__
from stylexfer.errors import StylexferError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylexfer", description="Feed-forward neural style transfer.")
    parser.add_argument("--version", action="version", version=f"stylexfer {__version__}")
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except StylexferError as err:
        print(f"stylexfer: error: {err}", file=sys.stderr)
        return 2
