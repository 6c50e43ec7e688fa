"""The `stylexfer` command line: one module per subcommand, sharing the parser in `main`."""

from stylexfer.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
