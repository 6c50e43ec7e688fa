"""Errors the tool reports as one line and exit code 2 (anything else is a bug), and the one helper
that turns any exception into such a line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

MESSAGE_LIMIT = 160  # characters of a foreign exception's text quoted in our messages


class StylexferError(Exception):
    """Base class: the message says what is wrong and what to do.

    A message about settings names them as ``{placeholders}`` listed in `fields` (or, for a class with
    `templated`, always read as a template): ``str(err)`` shows the names as the Python API spells
    them, :meth:`render` any other names, so each front end speaks its own terms (the CLI its flags:
    ``err.render({"overwrite": "--overwrite"})``) and no module below it names a flag."""

    templated: ClassVar[bool] = False

    def __init__(self, message: str = "", *fields: str) -> None:
        self.template, self.fields = message, fields
        super().__init__(self.render())

    def render(self, names: Mapping[str, str] | None = None) -> str:
        if not (self.fields or self.templated):
            return self.template
        return self.template.format_map(_Names(names or {}))


class _Names(dict[str, str]):
    def __missing__(self, key: str) -> str:  # a setting the caller has no other name for
        return key


class ImageError(StylexferError, ValueError):
    """A file that is not a usable image (missing, corrupt, truncated, too large, odd mode)."""


class WeightsError(StylexferError, RuntimeError):
    """VGG weights that cannot be had or do not fit."""


class ModelFileError(StylexferError, ValueError):
    """A model file (checkpoint, safetensors, import source) that cannot be used."""


class OutputPathError(StylexferError, ValueError):
    """An output location that cannot be written (missing or read-only folder, a folder as target)."""


def printable(text: str) -> str:
    """Text safe for a one-line message: control characters and undecodable bytes escaped."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )


def one_line(err: BaseException, *, with_type: bool = False, limit: int = MESSAGE_LIMIT) -> str:
    """The first line of an exception's message, escaped and cut to `limit` characters, for quoting
    inside our own one-line messages; the exception's class name when it has no text.
    with_type: prefix the class name ("OSError: [Errno 28] No space left on device").
    One re-raised from a data-loader worker carries the worker's traceback ("Caught X in DataLoader
    worker process 0. Original Traceback ..."): its last line, the original message, is the line."""
    text = str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = printable(lines[0]) if lines else ""
    if lines and "Original Traceback" in text:
        first = re.sub(r"^[\w.]+(Error|Exception): ", "", printable(lines[-1])) + " (in a data-loader worker)"
    if len(first) > limit:
        first = first[: limit - 3] + "..."
    if not first:
        return type(err).__name__
    return f"{type(err).__name__}: {first}" if with_type else first


def literal(value: object) -> str:
    """A value or path for a message template (printable, its braces escaped)."""
    return printable(str(value)).replace("{", "{{").replace("}", "}}")


def display_path(path: object) -> str:
    """A path (or any text) safe for a one-line message: control and other unprintable characters
    escaped (a newline in a file name would split the line), everything else as is."""
    return printable(str(path))
