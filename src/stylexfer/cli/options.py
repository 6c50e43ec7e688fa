"""argparse value types shared by the subcommands (ranges are checked by the API they feed)."""

from __future__ import annotations

import argparse


def unit_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def positive_int(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def tile_option(text: str) -> bool | int | str:
    low = text.lower()
    if low == "auto":
        return "auto"
    if low in ("on", "yes", "true"):
        return True
    if low in ("off", "no", "false", "0"):
        return False
    try:
        return int(low)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--tile takes auto, on, off or a size in pixels, not {text!r}"
        ) from None


def add_device_and_precision(p: argparse.ArgumentParser) -> None:
    """--device and --precision, the same for every stylize entry (files, stdin, video, sheet, GUI);
    the values are checked once more by stylexfer.inference (StylizeRequest, DevicePolicy)."""
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),  # stylexfer.inference.request.PRECISIONS (not imported: startup)
        help="fp32, bf16, or auto (bf16 on a GPU, or a CPU with AMX or an AMD one with avx512_bf16); "
        "default fp32 on the CPU, auto on CUDA",
    )


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each option's destination -> its longest flag (`overwrite` -> `--overwrite`): how the CLI names
    the settings an API message names by their Python names (StylexferError.render); plus the parser's
    `field_flags` default, for API fields named otherwise than the flag's destination."""
    names = {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}
    return names | (parser.get_default("field_flags") or {})
