"""`stylexfer info MODEL`: what a model file is (kind, architecture, input normalisation, training
steps and settings, size, SHA-256), read without building the network."""

from __future__ import annotations

import argparse
import time
from typing import Any

from stylexfer.cli import output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a model file: kind, architecture, normalisation, training, SHA-256",
                       description="Describe a model file (.ckpt, .safetensors or fast-neural-style .pth) "
                       "without building its network.")
    p.add_argument("model", help="a .ckpt, .safetensors or fast-neural-style .pth file")
    output.add_json_option(p, input="model", model="model")
    p.set_defaults(handler=run)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_shown(v)}" for k, v in value.items()) or "-"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f"{value:,}"
    return str(value)


def run(args: argparse.Namespace) -> int:
    from stylexfer.files.info import model_info

    started = time.perf_counter()
    facts = model_info(args.model)
    if output.records(args) is not None:
        output.emit(args, input=args.model, model=args.model, seconds=time.perf_counter() - started, **facts)
        return 0
    for key, value in facts.items():
        if key == "settings" and isinstance(value, dict) and value:
            output.say("settings:")
            for name, setting in value.items():
                output.say(f"  {name:22s} {_shown(setting)}")
            continue
        output.say(f"{key:24s} {_shown(value)}")
    return 0
