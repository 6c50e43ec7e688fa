"""`stylexfer` command line: one handler per subcommand; errors are one line and exit code 2.

Subcommands: stylize, export, import, download, gui. Heavy modules (torch, the nets) are imported
inside the handlers, and never Lightning or Hydra, so `stylexfer --help` and start-up stay quick.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from stylexfer import __version__
from stylexfer.errors import StylexferError


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return value  # the range is checked by the inference API, with one clear message


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _tile(text: str) -> bool | int | str:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylexfer", description="Feed-forward neural style transfer."
    )
    parser.add_argument("--version", action="version", version=f"stylexfer {__version__}")
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "stylize",
        help="stylize images with a trained or imported model",
        description="Stylize CONTENT images (files, folders searched recursively, or globs) with a model. "
        "Outputs are named CONTENT__STYLE.png (fixed-style models: CONTENT__MODEL.png) inside --out.",
    )
    p.add_argument(
        "content", nargs="+", metavar="CONTENT", help="image files, folders (recursive) or globs"
    )
    p.add_argument(
        "--model", "-m", required=True, help="model: .ckpt, .safetensors or fast-neural-style .pth"
    )
    p.add_argument(
        "--style",
        "-s",
        nargs="+",
        default=[],
        metavar="STYLE",
        help="style image(s) (AdaIN models)",
    )
    p.add_argument(
        "--out",
        "-o",
        default="outputs/stylized",
        help="output folder, or a file name (its suffix picks the format) for one content image "
        "(default: outputs/stylized)",
    )
    p.add_argument("--alpha", type=_unit_float, default=1.0, help="style strength 0..1 (default 1)")
    p.add_argument(
        "--style-weights",
        type=_unit_float,
        nargs="+",
        metavar="W",
        help="interpolation weights, one per style (normalised to sum 1)",
    )
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--mask", help="mask image: one grey level per style; brightest = first style")
    p.add_argument(
        "--size", type=_positive_int, help="resize content so its shorter side is SIZE px"
    )
    p.add_argument(
        "--max-size", type=_positive_int, help="shrink content so its longer side is at most this"
    )
    p.add_argument(
        "--style-size",
        type=_positive_int,
        default=512,
        help="shrink styles so their shorter side is at most this before encoding (default 512)",
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument(
        "--batch-size", type=_positive_int, default=1, help="stylize equal-sized images together"
    )
    p.add_argument(
        "--tile",
        type=_tile,
        default="auto",
        help="auto (tile images over 2 MP), on, off, or a tile size in px (default auto)",
    )
    p.add_argument("--ext", default=".png", help="output format inside a folder (default .png)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--timings", action="store_true", help="print the time spent inside the networks (stderr)"
    )
    p.set_defaults(handler=_stylize)

    p = sub.add_parser(
        "export", help="turn a checkpoint into a small inference file (+ TorchScript/ONNX)"
    )
    p.add_argument("model", help="training .ckpt (or any model file stylize reads)")
    p.add_argument("--out", "-o", required=True, help="the .safetensors file to write")
    p.add_argument("--torchscript", help="also write a TorchScript file (.pt)")
    p.add_argument("--onnx", help="also write an ONNX file (.onnx)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(handler=_export)

    p = sub.add_parser("import", help="convert public pretrained models into our format")
    p.add_argument(
        "kind",
        choices=("fast-neural-style", "adain"),
        help="fast-neural-style: one .pth (mosaic.pth …); adain: vgg_normalised.pth and decoder.pth",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--out", "-o", required=True, help="the .safetensors file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(handler=_import)

    p = sub.add_parser("download", help="download a public pretrained model and import it")
    p.add_argument("name", nargs="?", help="model name; omit to list them")
    p.add_argument(
        "--cache-dir", help="where downloads go (default ~/.cache/stylexfer or $STYLEXFER_CACHE)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(handler=_download)

    p = sub.add_parser("gui", help="open the Tkinter GUI", description="Open the GUI, optionally with files chosen.")
    p.add_argument("--model", "-m", default=None, help="model file to load at start")
    p.add_argument("--content", default=None, help="content image to show at start")
    p.add_argument("--style", "-s", default=None, help="style image to show at start (AdaIN models)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(handler=_gui)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"stylexfer: warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """The `stylexfer` program (argv None: sys.argv, as the console script runs it). Tests call
    main([...]) and leave the process-wide settings alone."""
    parser = build_parser()
    args = parser.parse_args(argv)
    program = argv is None
    if program:
        from stylexfer.runtime import tune_cpu_allocator

        tune_cpu_allocator()
    code = _run(args)
    if program and args.command == "stylize":
        # Every output is written and fsynced (atomic rename) by now; tearing down the interpreter
        # with torch loaded would add 0.3-0.5 s to each command for nothing.
        from stylexfer.runtime import exit_now

        exit_now(code)
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        with warnings.catch_warnings():  # restores the caller's warning display on return
            warnings.showwarning = _show_warning  # one line, no source excerpt
            return int(args.handler(args) or 0)
    except StylexferError as err:
        print(f"stylexfer: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stylexfer: interrupted", file=sys.stderr)
        return 130


def _stylize(args: argparse.Namespace) -> int:
    from stylexfer.stylize_cmd import run_stylize

    return run_stylize(args)


def _export(args: argparse.Namespace) -> int:
    from stylexfer.export import export_model

    for line in export_model(
        args.model, args.out, torchscript=args.torchscript, onnx=args.onnx, overwrite=args.overwrite
    ):
        print(line)
    return 0


def _import(args: argparse.Namespace) -> int:
    from stylexfer.convert import import_files
    from stylexfer.modelfile import describe, write_safetensors

    weights = import_files(args.kind, args.files)
    path = write_safetensors(weights, args.out, overwrite=args.overwrite)
    print(
        f"wrote {path} ({describe(weights.spec)}); use it with: stylexfer stylize PHOTO --model {path}"
    )
    return 0


def _download(args: argparse.Namespace) -> int:
    from stylexfer.download import MODELS, fetch_model

    if not args.name:
        for name, entry in MODELS.items():
            print(f"{name:16s} {entry.description}")
        return 0
    path = fetch_model(args.name, cache_dir=args.cache_dir, progress=not args.quiet)
    print(
        f"{path}\nuse it with: stylexfer stylize PHOTO {'--style PAINTING ' if args.name == 'adain' else ''}"
        f"--model {path}"
    )
    return 0


def _gui(args: argparse.Namespace) -> int:
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
    return int(gui_main(model=args.model, content=args.content, style=args.style, device=args.device) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
