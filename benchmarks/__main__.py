"""`python -m benchmarks`: the command line (what `make bench` runs)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

import benchmarks
from benchmarks import ROOT
from benchmarks.cases import all_cases
from benchmarks.harness import BenchConfig, Case
from benchmarks.memory import child_main
from benchmarks.report import run_bench
from stylexfer.runtime import tune_cpu_allocator


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=(benchmarks.__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument(
        "--cases", default="", help="comma-separated words; run cases whose name contains one"
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated words; leave out cases whose name contains one (e.g. bf16)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (statistics and Grams stay fp32)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the stylize/loss functions")
    parser.add_argument("--repeats", type=int, help="timed runs per case (default 5, quick 3)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's choice)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-case peak-memory subprocesses")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "outputs" / "bench", help="folder for the JSON file"
    )
    parser.add_argument("--list", action="store_true", help="print the case names and exit")
    parser.add_argument(
        "--default-allocator",
        action="store_true",
        help="keep glibc's default allocator settings (the tool's entry points tune them; compare)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def select(cases: list[Case], wanted: str, skipped: str) -> list[Case]:
    """--cases and --skip: comma-separated words matched anywhere in a case's name."""
    words = [w for w in wanted.split(",") if w]
    unwanted = [w for w in skipped.split(",") if w]
    return [c for c in cases
            if (not words or any(w in c.name for w in words)) and not any(w in c.name for w in unwanted)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "error: --device cuda but no CUDA device is available; run on CPU or on a GPU machine",
            file=sys.stderr,
        )
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    # as `stylexfer`, `python -m stylexfer.train` and the demo run: see stylexfer.runtime
    allocator = "glibc default" if args.default_allocator else ("tuned" if tune_cpu_allocator() else "default")
    overrides: dict[str, Any] = {
        "device": args.device,
        "amp": args.amp,
        "compile": args.compile,
        "memory": not args.no_memory,
        "tuned_allocator": allocator == "tuned",
    }
    if args.repeats:
        overrides["repeats"] = args.repeats
    cfg = BenchConfig.quick(**overrides) if args.quick else BenchConfig(**overrides)
    if args.child:
        return child_main(args.child, cfg)
    cases = select(all_cases(cfg), args.cases, args.skip)
    if args.list:
        print("\n".join(c.name for c in cases))
        return 0
    report = run_bench(
        cfg,
        cases,
        command=" ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
        quick=args.quick,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    env = report["environment"]
    print()
    print(report["table"])
    print(
        f"\nlimit re-measured at the end: {env['limit_after_gflops_per_s']:.0f} GFLOP/s; load average "
        f"{env['loadavg_start'][0]:.1f} -> {env['loadavg_end'][0]:.1f}; wrote {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
