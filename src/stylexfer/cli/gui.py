"""`stylexfer gui`: open the Tkinter GUI."""

from __future__ import annotations

import argparse
import os
import sys

from stylexfer.cli.options import add_device_and_precision
from stylexfer.errors import StylexferError

NO_DISPLAY = ("cannot open a window (no display: DISPLAY is not set); the GUI needs a desktop session "
              "with DISPLAY set (for a headless test: xvfb-run stylexfer gui)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the Tkinter GUI", description="Open the GUI, optionally with files chosen.")
    p.add_argument("--model", "-m", default=None, help="model file to load at start")
    p.add_argument("--content", default=None, help="content image to show at start")
    p.add_argument("--style", "-s", default=None, help="style image to show at start (models that take a style)")
    add_device_and_precision(p)
    p.add_argument("--theme", choices=("auto", "light", "dark"), default="auto",
                   help="colour theme (auto: follow the desktop; dark needs the sv-ttk package)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # On X11 systems (Linux, the BSDs) no DISPLAY or WAYLAND_DISPLAY means no window: say so at once,
    # before PyTorch and the window's modules are imported. Tk's own refusal (app.main) covers the rest.
    x11 = sys.platform not in ("win32", "darwin")
    if x11 and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise StylexferError(NO_DISPLAY)
    try:
        from stylexfer.gui.app import main as gui_main
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("stylexfer.gui"):
            raise StylexferError(
                "the GUI is not part of this build yet (stylexfer.gui.app is missing)"
            ) from None
        if err.name in ("tkinter", "_tkinter"):
            raise StylexferError(
                "the GUI needs Tkinter: install your system's python3-tk package"
            ) from None
        raise
    return int(gui_main(model=args.model, content=args.content, style=args.style, device=args.device,
                             theme=args.theme, precision=args.precision) or 0)
