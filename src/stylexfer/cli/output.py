"""`--json`: one JSON object per line on stdout and nothing else there; human messages go to stderr.

The one writer of machine-readable output for every subcommand that has `--json` (the fields:
docs/stylizing.md, "Scripts and pipelines"; `evaluate --json` prints one whole document through `document`).
While a handler runs under --json, Python's `sys.stdout` points at stderr (json_mode), so a stray print
can never corrupt the stream.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

FIELDS = ("input", "output", "model", "seconds", "status", "error")


def add_json_option(parser: argparse.ArgumentParser, *, input: str, model: str) -> None:  # noqa: A002
    """--json, and the subject of the error line that ends a failed run: the arguments named `input`
    and `model` (a subcommand may set its own `json_subject` afterwards)."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="machine-readable: one JSON object per line on stdout (input, output, model, seconds, "
        "status, error), nothing else there; messages go to stderr",
    )
    parser.set_defaults(json_subject=lambda args: {"input": getattr(args, input), "model": getattr(args, model)})


def _plain(value: Any) -> Any:
    """Paths as strings, sequences as lists of strings; numbers, strings and None as they are."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v) for v in value]
    return str(value)


def record(
    *,
    input: Any = None,  # noqa: A002 - the field's name in the format
    output: Any = None,
    model: Any = None,
    seconds: float | None = None,
    error: str | None = None,
    status: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One line's object: the six fields first (status "ok" without an error, else "error"), then extras."""
    line: dict[str, Any] = {
        "input": _plain(input),
        "output": _plain(output),
        "model": _plain(model),
        "seconds": None if seconds is None else round(float(seconds), 4),
        "status": status or ("error" if error else "ok"),
        "error": error,
    }
    line.update({k: _plain(v) for k, v in extra.items()})
    return line


class JsonLines:
    """Writes records to the stream that was stdout when it was made, one flushed line each."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.count = 0

    def emit(self, **fields: Any) -> None:
        # ASCII escapes keep any file name (even undecodable bytes, as surrogates) on one valid line.
        self.stream.write(json.dumps(record(**fields), ensure_ascii=True) + "\n")
        self.stream.flush()
        self.count += 1


def records(args: argparse.Namespace) -> JsonLines | None:
    """The writer when the command runs with --json, else None."""
    return getattr(args, "records", None)


def emit(args: argparse.Namespace, **fields: Any) -> None:
    """One record under --json; nothing otherwise."""
    writer = records(args)
    if writer is not None:
        writer.emit(**fields)


def document(args: argparse.Namespace, doc: Any) -> None:
    """A whole JSON document (`evaluate --json`) on the real stdout, where the records go."""
    writer = records(args)
    stream = writer.stream if writer is not None else sys.stdout
    stream.write(json.dumps(_plain(doc), indent=2, ensure_ascii=True) + "\n")
    stream.flush()


def say(line: str) -> None:
    """A human message for the terminal: stdout normally; under --json `main` has pointed stdout at
    stderr, so it lands there."""
    print(line, flush=True)


@contextlib.contextmanager
def json_mode(args: argparse.Namespace) -> Iterator[None]:
    """Under --json: args.records writes to the real stdout and sys.stdout is stderr meanwhile."""
    if not getattr(args, "json", False):
        yield
        return
    args.records = JsonLines(sys.stdout)
    with contextlib.redirect_stdout(sys.stderr):
        yield


def error_record(args: argparse.Namespace, message: str) -> None:
    """The last line of a run a StylexferError ended: its subject (the subcommand's `json_subject`)
    and the message."""
    writer = records(args)
    if writer is None:
        return
    subject = getattr(args, "json_subject", None)
    fields = subject(args) if subject is not None else {}
    writer.emit(**fields, error=message)


def usage_error_record(argv: Sequence[str], message: str, stream: TextIO) -> None:
    """A command line argparse refused, when it asked for --json: one error line all the same."""
    if "--json" in argv:
        JsonLines(stream).emit(error=message)
