"""The whole run (limit, cases, memory, limit again), the issue's targets and the readable table."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from benchmarks.harness import BenchConfig, Case, CaseResult, bf16_conv_speedup, matmul_limit, run_case
from benchmarks.memory import memory_in_subprocess
from benchmarks.sanet import sanet_targets
from benchmarks.video import video_targets
from stylexfer.inference.device import cpu_bf16_is_faster, cpu_has_native_bf16

TARGETS = {  # issue 5, CPU fp32
    "stylize/adain/512": 0.75,
    "stylize/johnson/512": 0.65,
    "train/adain": 0.65,
    "train/johnson": 0.65,
}



def find(results: list[CaseResult], name: str) -> CaseResult | None:
    return next((r for r in results if r.name == name and r.status == "ok"), None)


def derived(results: list[CaseResult], cfg: BenchConfig) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    rows: list[dict[str, Any]] = []
    for name, target in TARGETS.items():
        r = find(results, name)
        if r and r.efficiency is not None:
            rows.append(
                {
                    "target": f"{name} efficiency >= {target:.0%}",
                    "value": r.efficiency,
                    "shown": f"{r.efficiency:.0%}",
                    "met": r.efficiency >= target,
                }
            )
    a512, a1024 = find(results, "stylize/adain/512"), find(results, "stylize/adain/1024")
    j512, j1024 = find(results, "stylize/johnson/512"), find(results, "stylize/johnson/1024")
    for label, small, big in (("adain", a512, a1024), ("johnson", j512, j1024)):
        if small and big:
            ratio = big.median_s / small.median_s
            rows.append(
                {
                    "target": f"{label} 1024² time <= 4.4 × 512²",
                    "value": ratio,
                    "shown": f"{ratio:.2f}×",
                    "met": ratio <= 4.4,
                }
            )
    ref = 512 if 512 in cfg.sizes else cfg.sizes[-1]
    full, reused = find(results, f"stylize/adain/{ref}"), find(results, f"stylize/adain/{ref}/reused-style")
    if full and reused:
        per_image = reused.median_s / reused.items
        drop = 1 - per_image / full.median_s
        share = 1 / 3  # one of the three 126-GFLOP passes (style encode, content encode, decode)
        if full.flops and reused.flops:
            share = 1 - (reused.flops / reused.items) / full.flops
        rows.append(
            {
                "target": f"reused style: per-image time falls by the style-encoding share ({share:.0%})",
                "value": drop,
                "shown": f"falls {drop:.0%}",
                "met": drop >= share - 0.05,
            }
        )
    for label, width, height in cfg.jpeg_sizes:
        if width < 2000:
            continue
        d = find(results, f"data/{label}-{width}x{height}/draft")
        f = find(results, f"data/{label}-{width}x{height}/full-decode")
        b = find(results, f"data/{label}-{width}x{height}/full-decode-bilinear")
        if d and f:
            speedup = f.median_s / d.median_s
            cheaper = f"; {b.median_s / d.median_s:.1f}× against a bilinear resize" if b else ""
            rows.append(
                {
                    "target": f"{width}x{height} training pipeline >= 4× full decode + resize (same bicubic filter)",
                    "value": speedup,
                    "shown": f"{speedup:.1f}×{cheaper}",
                    "met": speedup >= 4,
                }
            )
    loader, step = find(results, "data/loader-2-workers"), find(results, "train/adain")
    if loader and step:
        rows.append(
            {
                "target": "2-worker pipeline pairs/s > AdaIN training pairs/s",
                "value": loader.items_per_s,
                "shown": f"{loader.items_per_s:.1f} vs {step.items_per_s:.1f}/s",
                "met": loader.items_per_s > step.items_per_s,
            }
        )
    tiled = next((r for r in results if r.group == "memory"), None)
    if tiled is not None:
        ok = tiled.status == "ok" and tiled.peak_rss_mb is not None
        rows.append(
            {
                "target": "4096² tiled AdaIN peak memory < 3 GB",
                "value": tiled.peak_rss_mb if ok else None,
                "shown": f"{tiled.peak_rss_mb:.0f} MB" if ok else "n/a (tiling not available)",
                "met": (tiled.peak_rss_mb < 3072) if ok else None,
            }
        )
    rows += batching_rows(results)
    # The 1.8× targets are for CPUs that run bf16 in hardware; elsewhere oneDNN emulates it, slower than fp32.
    native = not cfg.device.startswith("cpu") or cpu_has_native_bf16()
    for name in ("stylize/adain/512", "stylize/johnson/512", "train/adain"):
        fp32 = find(results, name)
        bf16 = find(results, name + ("/bf16-mixed" if name.startswith("train") else "/bf16"))
        if fp32 and bf16:
            ratio = fp32.median_s / bf16.median_s
            needed = 1.8 if "johnson" not in name else None
            rows.append(
                {
                    "target": f"{name} bf16 vs fp32" + (f" >= {needed}×" if needed else " (no target)"),
                    "value": ratio,
                    "shown": f"{ratio:.2f}× ({fp32.median_s:.2f} s -> {bf16.median_s:.2f} s)"
                    + ("" if native else "; this CPU has no native bf16 (avx512_bf16/AMX): emulated, target n/a"),
                    "met": ratio >= needed if needed and native else None,
                }
            )
    ref_process = find(results, "cli/pytorch-adain-test.py")
    for suffix, label in (("", "fp32"), ("/bf16", "--precision bf16")):
        cli_run = find(results, "cli/stylize-overhead" + suffix)
        if not (cli_run and ref_process):
            continue
        ratio = cli_run.median_s / ref_process.median_s
        rows.append(
            {
                "target": f"`stylexfer stylize` ({label}) whole process <= 0.40 × pytorch-AdaIN's test.py",
                "value": ratio,
                "shown": f"{ratio:.2f}× ({cli_run.median_s:.2f} s vs {ref_process.median_s:.2f} s)",
                "met": ratio <= 0.40,
            }
        )
    cli = find(results, "cli/stylize-overhead")
    if cli:
        network_s = float(cli.extra.get("network_s", 0.0))
        overhead = cli.median_s - network_s
        rows.append(
            {
                "target": "`stylexfer stylize` time outside the network < 1.5 s",
                "value": overhead,
                "shown": f"{overhead:.2f} s (process {cli.median_s:.2f} s − network {network_s:.2f} s)",
                "met": overhead < 1.5,
            }
        )
    rows += video_targets(results)  # decode+encode share at 512p
    rows += sanet_targets(results)  # SANet beside the reference, peak memory at 2048²
    return rows


def batching_rows(results: list[CaseResult]) -> list[dict[str, Any]]:
    """The folder at each batch size side by side: images/s of the whole command and of the networks
    alone (--timings); the target is a per-image time that falls from the smallest batch to the largest."""
    rows: list[dict[str, Any]] = []
    for kind in ("adain", "johnson"):
        runs = sorted((r for r in results if r.group == "batching" and r.status == "ok"
                       and r.name.startswith(f"batching/{kind}/")), key=lambda r: r.extra["batch"])
        if len(runs) < 2:
            continue
        whole = " | ".join(f"b{r.extra['batch']} {r.items_per_s:.2f}" for r in runs)
        network = " | ".join(f"b{r.extra['batch']} {r.items / r.extra['network_s']:.2f}" for r in runs
                             if r.extra.get("network_s"))
        cpu = " | ".join(f"b{r.extra['batch']} {r.cpu_s / r.items:.3f}" for r in runs if r.cpu_s)
        first, last = runs[0], runs[-1]
        rows.append(
            {
                "target": f"folder of {first.items} {first.extra['size']}² images, {kind}: per-image time falls "
                          f"from batch {first.extra['batch']} to {last.extra['batch']} (images/s)",
                "value": {str(r.extra["batch"]): r.items_per_s for r in runs},
                "shown": f"command {whole}; networks only {network}; process CPU s/image {cpu}",
                "met": last.items_per_s > first.items_per_s,
            }
        )
    return rows


def table(results: list[CaseResult], limit: dict[str, Any] | None, targets: list[dict[str, Any]]) -> str:
    lines = []
    if limit:
        lines.append(f"limit: {limit['gflops_per_s']:.0f} GFLOP/s fp32 ({limit['best']}, median)")
        if limit.get("bf16"):
            bf16 = limit["bf16"]
            lines.append(f"limit: {bf16['gflops_per_s']:.0f} GFLOP/s bf16 ({bf16['best']}, median); "
                         "rows ending /bf16 or /bf16-mixed are against it")
    header = (
        f"{'case':44} {'median ms':>10} {'min ms':>9} {'GFLOP':>8} {'GFLOP/s':>8} {'eff':>5} "
        f"{'cpu eff':>7} {'items/s':>8} {'peak MB':>8}  note"
    )
    lines += [header, "-" * len(header)]
    for r in results:
        if r.status != "ok":
            lines.append(f"{r.name:44} {'n/a':>10}  {r.note}")
            continue

        def fmt(v: float | None, spec: str) -> str:
            return format(v, spec) if v is not None else "-"

        eff = f"{r.efficiency:.0%}" if r.efficiency is not None else "-"
        cpu_eff = f"{r.cpu_efficiency:.0%}" if r.cpu_efficiency is not None else "-"
        lines.append(
            f"{r.name:44} {fmt(r.median_s * 1e3, '10.1f')} {fmt(r.min_s * 1e3, '9.1f')} "
            f"{fmt(r.flops / 1e9 if r.flops else None, '8.1f'):>8} {fmt(r.gflops_per_s, '8.0f'):>8} "
            f"{eff:>5} {cpu_eff:>7} "
            f"{fmt(r.items_per_s, '8.2f'):>8} {fmt(r.peak_rss_mb, '8.0f'):>8}  {r.note}"
        )
    if targets:
        lines += ["", "targets:"]
        for t in targets:
            mark = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
            lines.append(f"  [{mark:7}] {t['target']}: {t['shown']}")
    return "\n".join(lines)


def environment(cfg: BenchConfig) -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": cfg.device,
        "amp_bf16": cfg.amp,
        "compile": cfg.compile,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "native_bf16": cpu_has_native_bf16(),
        "bf16_conv_speedup": round(bf16_conv_speedup(), 2) if cpu_has_native_bf16() else None,
        "auto_cpu_precision": "bf16" if cpu_bf16_is_faster() else "fp32",  # --precision auto on this CPU
        "loadavg_start": os.getloadavg(),
    }
    if cfg.device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def _bf16_words(env: dict[str, Any]) -> str:
    if not env["native_bf16"]:
        return "no (emulated)"
    speedup, auto = env["bf16_conv_speedup"], env["auto_cpu_precision"]
    return f"yes (a 3×3 conv measured {speedup:.2f}× fp32; --precision auto picks {auto})"


def run_bench(
    cfg: BenchConfig,
    cases: list[Case],
    *,
    command: str = "",
    quick: bool = False,
    log: Callable[[str], Any] = lambda line: print(line, flush=True),
) -> dict[str, Any]:
    """The limit, every case (with its peak memory when cfg.memory), the limit again, the targets:
    a JSON-ready report whose "table" entry is the readable table."""
    env = environment(cfg)
    log(
        f"stylexfer bench: {env['cpu']}, {env['threads']} threads, torch {env['torch']}, device {cfg.device}"
        f"{' bf16' if cfg.amp else ''}, allocator {'tuned' if cfg.tuned_allocator else 'glibc default'}, "
        f"native bf16 {_bf16_words(env)}, load average {env['loadavg_start'][0]:.1f}"
    )
    started = time.time()
    limit = matmul_limit(cfg)
    log(f"limit: {limit['gflops_per_s']:.0f} GFLOP/s ({limit['best']})")
    if any(case.precision == "bf16" for case in cases):
        limit["bf16"] = matmul_limit(cfg, torch.bfloat16)
        log(f"limit: {limit['bf16']['gflops_per_s']:.0f} GFLOP/s bf16 ({limit['bf16']['best']})")
    results = []
    for case in cases:
        own = limit["bf16"] if case.precision == "bf16" else limit
        r = run_case(case, cfg, own["gflops_per_s"], own["cpu_gflops_per_s"])
        if r.status == "ok" and cfg.memory and case.memory:
            mem = memory_in_subprocess(case, cfg, quick)
            if mem is not None:
                r.peak_rss_mb, r.rss_growth_mb = mem
        results.append(r)
        shown = f"{r.median_s * 1e3:.1f} ms" if r.median_s is not None else r.note
        eff = f", {r.efficiency:.0%}" if r.efficiency is not None else ""
        log(f"  {r.name}: {shown}{eff}")
    limit_after = matmul_limit(replace(cfg, repeats=3))
    env["loadavg_end"] = os.getloadavg()
    env["limit_after_gflops_per_s"] = limit_after["gflops_per_s"]
    env["seconds"] = time.time() - started
    targets = derived(results, cfg)
    return {
        "command": command,
        "environment": env,
        "limit": limit,
        "config": {k: str(v) for k, v in asdict(cfg).items()},
        "cases": [asdict(r) for r in results],
        "targets": targets,
        "table": table(results, limit, targets),
    }
