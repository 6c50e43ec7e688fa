"""Peak resident memory of one case, measured in a fresh interpreter so cases never inherit each
other's peaks (python -m benchmarks --child NAME prints it as JSON)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks import ROOT
from benchmarks.cases import all_cases
from benchmarks.harness import BenchConfig, Case, NotAvailable


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the address space, so it starts afresh at
    exec; ru_maxrss would inherit the forking parent's peak on Linux (and then every child of the
    bench would report at least the bench's own peak)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024.0  # kB
    import resource  # Unix only; reached only where /proc is missing (macOS)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux, bytes on macOS


def current_rss_mb() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return peak_rss_mb()


def memory_in_subprocess(case: Case, cfg: BenchConfig, quick: bool) -> tuple[float, float] | None:
    """(peak RSS MB, growth over the post-setup RSS) of one run of `case` in a fresh interpreter."""
    command = [sys.executable, "-m", "benchmarks", "--child", case.name, "--device", cfg.device]
    if quick:
        command.append("--quick")
    if cfg.amp:
        command.append("--amp")
    if not cfg.tuned_allocator:
        command.append("--default-allocator")
    proc = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}
    )
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return data["peak_rss_mb"], data["growth_mb"]


def child_main(name: str, cfg: BenchConfig) -> int:
    case = next(c for c in all_cases(cfg) if c.name == name)
    before = peak_rss_mb()
    try:
        run, _, _ = case.setup(cfg)
    except NotAvailable:
        print(json.dumps({"peak_rss_mb": None, "growth_mb": None}))
        return 0
    baseline = current_rss_mb()
    run()
    if cfg.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
        print(json.dumps({"peak_rss_mb": peak, "growth_mb": peak}))
        return 0
    peak = peak_rss_mb()
    print(json.dumps({"peak_rss_mb": peak, "growth_mb": peak - max(baseline, before)}))
    return 0
