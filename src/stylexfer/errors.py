"""Errors the tool reports as one line and exit code 2 (anything else is a bug)."""


class StylexferError(Exception):
    """Base class: the message says what is wrong and what to do."""


class ImageError(StylexferError, ValueError):
    """A file that is not a usable image (missing, corrupt, truncated, too large, odd mode)."""


class WeightsError(StylexferError, RuntimeError):
    """VGG weights that cannot be had or do not fit."""


class ModelFileError(StylexferError, ValueError):
    """A model file (checkpoint, safetensors, import source) that cannot be used."""


def display_path(path: object) -> str:
    """A path (or any text) safe for a one-line message: control and other unprintable characters
    escaped (a newline in a file name would split the line), everything else as is."""
    text = str(path)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)
