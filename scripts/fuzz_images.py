"""Feed malformed image files through the tool's image loader and print the tally.

    python scripts/fuzz_images.py --count 10000            # what `make fuzz` runs
    python scripts/fuzz_images.py --seed 0 --case 1234     # rerun one case (see a failure's line)
    python scripts/fuzz_images.py --case 1234 --dump out/  # write that case's file to look at it

Every input is loaded twice by `stylexfer.files.images.load_image` (as stylize does, and with
draft_shorter_side=512 as training does), in worker processes with a per-load time limit and an
address-space limit. Allowed: an RGB image, or ImageError with one line naming the file. Anything
else, a hang, a crash or hitting the memory limit is a failure: they are listed with the seed and
case number to reproduce them, and the exit status is 1. Linux/macOS only (uses fork and rlimits).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT / "src", ROOT / "tests"):  # the harness lives beside the tests, not in the package
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import fuzzing  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10000, help="number of inputs (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="run seed: same seed, same inputs (default 0)")
    parser.add_argument("--start", type=int, default=0, help="first case index (default 0)")
    parser.add_argument("--case", type=int, action="append", help="run only this case index (repeatable)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--timeout", type=float, default=fuzzing.DEFAULT_TIMEOUT_S,
                        help="seconds allowed per load before it counts as a hang (default %(default)s)")
    parser.add_argument("--memory-mb", type=int, default=fuzzing.DEFAULT_MEMORY_BUDGET_MB,
                        help="address space a worker may add while loading (default %(default)s MB)")
    default_data = ROOT.parent / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default_data if default_data.is_dir() else None,
                        help="folder of real photos to mutate as well (default ../shared/data when present)")
    parser.add_argument("--no-data", action="store_true", help="use generated pictures only")
    parser.add_argument("--dump", type=Path, help="write the selected cases' files here and exit")
    parser.add_argument("--verbose", action="store_true", help="keep the workers' stderr (libtiff warnings)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data_dir = None if args.no_data or args.data is None else str(args.data.resolve())
    indices = args.case if args.case else range(args.start, args.start + args.count)
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for index in indices:
            case = fuzzing.make_case(args.seed, index, data_dir)
            target = args.dump / f"case-{index}{case.suffix}"
            target.write_bytes(case.data)
            print(f"{target}  [{case.kind}] {case.description}")
        return 0
    print(f"fuzzing stylexfer.files.images.load_image: seed {args.seed}, {len(indices)} inputs, "
          f"{args.jobs} worker(s), "
          f"{args.timeout:.0f} s per load, +{args.memory_mb} MB address space per worker, "
          f"sources: generated{' + ' + data_dir if data_dir else ''}", flush=True)
    last = [time.monotonic()]

    def progress(report: fuzzing.FuzzReport) -> None:
        if time.monotonic() - last[0] > 15 or report.inputs == len(indices):
            last[0] = time.monotonic()
            print(f"  {report.inputs}/{len(indices)} inputs, {len(report.failures)} failure(s)", flush=True)

    report = fuzzing.run_fuzz(
        len(indices), seed=args.seed, indices=indices, jobs=args.jobs, timeout_s=args.timeout,
        memory_budget_mb=args.memory_mb, data_dir=data_dir, quiet=not args.verbose, progress=progress,
    )
    print(fuzzing.format_report(report))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
