"""`stylexfer export`: a checkpoint to a small inference file, optionally TorchScript and ONNX."""

from __future__ import annotations

import argparse
import time

from stylexfer.cli import output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="turn a checkpoint into a small inference file (+ TorchScript/ONNX)"
    )
    p.add_argument("model", help="training .ckpt (or any model file stylize reads)")
    p.add_argument("--out", "-o", required=True, help="the .safetensors file to write")
    p.add_argument("--torchscript", help="also write a TorchScript file (.pt)")
    p.add_argument("--onnx", help="also write an ONNX file (.onnx)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    output.add_json_option(p, input="model", model="model")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stylexfer.files.export import export_model

    started = time.perf_counter()
    lines = export_model(
        args.model, args.out, torchscript=args.torchscript, onnx=args.onnx, overwrite=args.overwrite
    )
    for line in lines:
        output.say(line)
    seconds = time.perf_counter() - started
    for target in (t for t in (args.out, args.torchscript, args.onnx) if t):  # one line per file written
        output.emit(args, input=args.model, output=target, model=args.model, seconds=seconds)
    return 0
