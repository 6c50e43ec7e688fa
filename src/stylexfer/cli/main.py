"""`stylexfer` command line: one handler per subcommand; errors are one line and exit code 2.

Subcommands: stylize, sheet, info, export, import, download, gui, evaluate, report. Heavy modules
(torch, the nets) are imported inside the handlers, and never Lightning or Hydra, so
`stylexfer --help` and start-up stay quick.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from typing import NoReturn

from stylexfer import __version__
from stylexfer.cli import download, evaluate, export, gui, import_model, info, output, report, sheet, stylize
from stylexfer.cli import video as stylize_video  # extends the stylize parser: video contents
from stylexfer.cli.options import flag_names
from stylexfer.errors import StylexferError
from stylexfer.runtime import interrupt_exit_code

SUBCOMMANDS = (stylize, sheet, info, export, import_model, download, gui, evaluate, report)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, remembering its last usage error (for --json's error line)."""

    last_error = ""
    typo = ""  # "--stlye (did you mean --style?)": added to any usage error, as argparse stops at the first

    def error(self, message: str) -> NoReturn:
        if _Parser.typo and "unrecognized arguments" not in message:
            message += f"; also unrecognized: {_Parser.typo}"
        _Parser.last_error = message
        super().error(message)


def _known_flags(command: argparse.ArgumentParser) -> list[str]:
    return [flag for action in command._actions for flag in action.option_strings if flag.startswith("--")]


def _suggestion(flag: str, known: list[str]) -> str:
    close = difflib.get_close_matches(flag.split("=")[0], known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _first_typo(parser: argparse.ArgumentParser, argv: list[str]) -> str:
    """The first --flag the chosen subcommand does not know, with its suggestion ("" if none): a missing
    required argument is reported before unknown ones, and the typo is often the reason it is missing."""
    subcommands = _subparsers(parser)
    words = argv[: argv.index("--")] if "--" in argv else argv
    name = next((word for word in words if word in subcommands), None)
    if name is None:
        return ""
    known = _known_flags(subcommands[name])
    for word in words[words.index(name) + 1 :]:
        if word.startswith("--") and word.split("=")[0] not in known:
            return word.split("=")[0] + _suggestion(word, known)
    return ""


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, except that an unknown flag is reported by its subcommand's parser (that usage
    line) with the closest of that subcommand's flags: "did you mean --style?"."""
    _Parser.typo = _first_typo(parser, sys.argv[1:] if argv is None else list(argv))
    args, extras = parser.parse_known_args(argv)
    _Parser.typo = ""
    if not extras:
        return args
    command = _subparsers(parser).get(getattr(args, "command", None) or "", parser)
    hints = [_suggestion(extra, _known_flags(command)) for extra in extras if extra.startswith("-")]
    command.error(f"unrecognized arguments: {' '.join(extras)}" + next((hint for hint in hints if hint), ""))


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stylexfer", description="Feed-forward neural style transfer."
    )
    parser.add_argument("--version", action="version", version=f"stylexfer {__version__}")
    parser.set_defaults(handler=lambda args: parser.print_help())  # no subcommand: exit code 0
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for command in SUBCOMMANDS:
        command.add_parser(sub)
    stylize_video.extend_parser(sub)
    for command_parser in sub.choices.values():  # an API message names a setting: say its flag
        command_parser.set_defaults(flag_names=flag_names(command_parser))
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"stylexfer: warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """The `stylexfer` program (argv None: sys.argv, as the console script runs it). Tests call
    main([...]) and leave the process-wide settings alone."""
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as done:
        if done.code == 2:  # a usage error: under --json it gets its line too
            output.usage_error_record(sys.argv[1:] if argv is None else argv, _Parser.last_error, sys.stdout)
        raise
    program = argv is None
    if program:
        from stylexfer.runtime import handle_interrupts, tune_cpu_allocator

        tune_cpu_allocator()
        handle_interrupts()  # SIGTERM cleans up like Ctrl-C, and exits 143
    code = _run(args)
    if program and args.command == "stylize":
        # Every output is written and fsynced (atomic rename) by now; tearing down the interpreter
        # with torch loaded would add 0.3-0.5 s to each command for nothing.
        from stylexfer.runtime import exit_now

        exit_now(code)
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        with warnings.catch_warnings(), output.json_mode(args):  # restores the caller's warning display
            warnings.showwarning = _show_warning  # one line, no source excerpt
            try:
                return int(args.handler(args) or 0)
            except StylexferError as err:
                output.error_record(args, err.render(getattr(args, "flag_names", None)))  # under --json: the last line
                raise
    except StylexferError as err:
        print(f"stylexfer: error: {err.render(getattr(args, 'flag_names', None))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (Interrupted): clean-up has run on the way out
        print(f"stylexfer: {getattr(err, 'message', '') or 'interrupted'}", file=sys.stderr)
        return interrupt_exit_code(err)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
