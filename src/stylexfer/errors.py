"""Errors the tool reports as one line and exit code 2 (anything else is a bug)."""


class StylexferError(Exception):
    """Base class: the message says what is wrong and what to do."""


class ImageError(StylexferError, ValueError):
    """A file that is not a usable image (missing, corrupt, truncated, too large, odd mode)."""


class WeightsError(StylexferError, RuntimeError):
    """VGG weights that cannot be had or do not fit."""


class ModelFileError(StylexferError, ValueError):
    """A model file (checkpoint, safetensors, import source) that cannot be used."""
