"""Timing harness: what to run (BenchConfig, Case), how it is timed and counted (measure,
count_flops, the matmul limit), and one case run into a CaseResult."""

from __future__ import annotations

import contextlib
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

import benchmarks  # noqa: F401 - puts src/ and tests/ on sys.path
from stylexfer.families.adain.net import AdaINNet
from stylexfer.families.johnson.net import TransformerNet


@dataclass
class BenchConfig:
    """What to run and how often. Tests shrink the sizes; --quick shrinks them for a fast look."""

    device: str = "cpu"
    repeats: int = 5
    warmup: int = 1
    sizes: tuple[int, ...] = (256, 512, 1024)
    batch: int = 8  # training batch
    crop: int = 256  # training crop
    folder_images: int = 8
    folder_batch: int = 4
    batching_images: int = 64  # `stylexfer stylize FOLDER --batch-size B`: the folder's images ...
    batching_size: int = 512  # ... of batching_size² ...
    batching_batches: tuple[int, ...] = (1, 4, 8)  # ... at each of these batch sizes
    jpeg_sizes: tuple[tuple[str, int, int], ...] = (
        ("coco", 640, 480),
        ("wikiart", 4000, 3000),
        ("large", 8000, 6000),
    )
    pipeline_images: int = 6
    shorter_side: int = 512
    loader_items: int = 24
    tiled_size: int = 4096
    video_frames: int = 16  # frames per clip in the video cases
    sanet_sizes: tuple[int, int] = (512, 2048)  # SANet stylize: beside the reference, and for memory ...
    sanet_big_style: int = 1024  # ... with a style of this size (benchmarks/sanet.py)
    amp: bool = False  # bf16 autocast (GPU path; runs on CPU too, for correctness)
    compile: bool = False
    memory: bool = True  # peak RSS per case in a fresh subprocess
    tuned_allocator: bool = True  # stylexfer.runtime.tune_cpu_allocator applied, as the tool's entry points do
    limit_sizes: tuple[int, ...] = (1024, 2048, 4096)
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "stylexfer-bench")

    @classmethod
    def quick(cls, **overrides: Any) -> BenchConfig:
        base = dict(
            repeats=3,
            sizes=(256, 512),
            folder_images=4,
            folder_batch=2,
            batching_images=8,
            batching_size=256,
            batch=4,
            jpeg_sizes=(("coco", 640, 480), ("wikiart", 4000, 3000)),
            pipeline_images=3,
            loader_items=12,
            limit_sizes=(1024, 2048),
            video_frames=8,
        )
        base.update(overrides)
        return cls(**base)


@dataclass
class CaseResult:
    name: str
    group: str
    status: str = "ok"  # "ok" | "n/a"
    note: str = ""
    median_s: float | None = None
    min_s: float | None = None
    cpu_s: float | None = None  # process CPU time per run (median): less sensitive to other load
    times_s: list[float] = field(default_factory=list)
    items: int = 1  # images (or pairs) per run
    items_per_s: float | None = None
    flops: int | None = None
    gflops_per_s: float | None = None
    precision: str = "fp32"
    efficiency: float | None = None
    cpu_efficiency: float | None = None  # the same ratio from process CPU time (robust to other load)
    peak_rss_mb: float | None = None
    rss_growth_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    """setup(cfg) -> (run, items, extra): run() does one iteration (a stylization, a training step…)."""

    name: str
    group: str
    setup: Callable[[BenchConfig], tuple[Callable[[], Any], int, dict[str, Any]]]
    count_flops: bool = True
    memory: bool = True
    single_run: bool = False  # one timed run, no warm-up: for cases measured for memory, not speed
    precision: str = "fp32"  # "bf16": its efficiency is against the measured bf16 limit


class NotAvailable(Exception):
    """A case whose code is not on this branch yet: reported as n/a with the reason."""


# --------------------------------------------------------------------------- measuring


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(run: Callable[[], Any], cfg: BenchConfig) -> dict[str, Any]:
    """Warm-up, then `repeats` timed runs: wall-clock median/min and the median process CPU time."""
    for _ in range(cfg.warmup):
        run()
    synchronize(cfg.device)
    walls, cpus = [], []
    for _ in range(cfg.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        run()
        synchronize(cfg.device)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "cpu_s": statistics.median(cpus),
        "times_s": walls,
    }


def count_flops(run: Callable[[], Any]) -> int:
    """Exact FLOPs of one run as FlopCounterMode counts them (matmuls and convolutions, fwd and bwd)."""
    with FlopCounterMode(display=False) as counter:
        run()
    return int(counter.get_total_flops())


def bf16_conv_speedup(repeats: int = 3) -> float:
    """fp32 time ÷ bf16 time of one 3×3 convolution of the networks' shape (256 channels at 32², NHWC,
    bf16 weights as `--precision bf16` stores them), best of `repeats` each, interleaved. About 50 ms;
    printed in the header beside the CPU's auto choice (it swings with load, so auto does not use it)."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).to(memory_format=torch.channels_last).eval()
    x = torch.randn(1, 256, 32, 32).contiguous(memory_format=torch.channels_last)
    conv_bf16 = torch.nn.Conv2d(256, 256, 3, padding=1).to(dtype=torch.bfloat16)
    conv_bf16 = conv_bf16.to(memory_format=torch.channels_last).eval()
    x_bf16 = x.to(torch.bfloat16)
    best = {"fp32": float("inf"), "bf16": float("inf")}
    with torch.inference_mode():
        for round_ in range(repeats + 1):
            for name, layer, data in (("fp32", conv, x), ("bf16", conv_bf16, x_bf16)):
                start = time.perf_counter()
                layer(data)
                if round_:  # round 0 warms oneDNN's kernel caches up
                    best[name] = min(best[name], time.perf_counter() - start)
    return best["fp32"] / best["bf16"]


def matmul_limit(cfg: BenchConfig, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """Best median GFLOP/s of dense fp32 (or `dtype`: bf16) n×n×n matrix multiplies through every GEMM PyTorch has here:
    torch.mm (MKL on CPU, cuBLAS on GPU), oneDNN's inner product (mkldnn_linear, the AVX-512 brgemm)
    and the same product as a channels_last 1×1 convolution. On AMD CPUs MKL runs its AVX2 path, half
    of what oneDNN reaches, so MKL alone would overstate every efficiency about 2×. FLOPs are
    FlopCounterMode's count of the n×n×n mm (2n³) for all three. bf16: the same three products on
    bf16 operands (oneDNN's avx512_bf16/AMX kernels where the CPU has them), fp32 accumulation."""
    device = cfg.device
    candidates: list[dict[str, Any]] = []
    unavailable: dict[str, str] = {}  # GEMMs this CPU cannot run in `dtype` (oneDNN bf16 without AVX-512)
    gen = torch.Generator().manual_seed(0)
    for n in cfg.limit_sizes:
        a = torch.randn(n, n, generator=gen).to(device, dtype)
        b = torch.randn(n, n, generator=gen).to(device, dtype)
        flops = count_flops(lambda a=a, b=b: a @ b)
        runs: dict[str, Callable[[], Any]] = {f"mm {n}³": lambda a=a, b=b: a @ b}
        if device == "cpu" and torch.backends.mkldnn.is_available():
            a_mkldnn, b_t_mkldnn = a.to_mkldnn(), b.t().contiguous().to_mkldnn()
            runs[f"oneDNN linear {n}³"] = lambda x=a_mkldnn, w=b_t_mkldnn: torch._C._nn.mkldnn_linear(x, w)
        # (1, K, n/64, 64) pixels by an (M, K, 1, 1) weight: the same M×K by K×N product.
        x = a.t().reshape(1, n, n // 64, 64).contiguous(memory_format=torch.channels_last)
        w = b.t().reshape(n, n, 1, 1).contiguous()
        runs[f"1x1 conv {n}³"] = lambda x=x, w=w: F.conv2d(x, w)
        with torch.inference_mode():
            for name, run in runs.items():
                try:
                    stats = measure(run, cfg)
                except RuntimeError as err:
                    unavailable[name] = str(err).strip().splitlines()[0]
                    continue
                candidates.append(
                    {"name": name, "flops": flops, **stats, "gflops_per_s": flops / stats["median_s"] / 1e9}
                )
        del a, b, x, w, runs
    if not candidates:
        raise RuntimeError(f"no {dtype} matrix multiply runs here: {unavailable}")
    best = max(candidates, key=lambda c: c["gflops_per_s"])
    cpu_best = max(c["flops"] / c["cpu_s"] / 1e9 for c in candidates)
    return {
        "gflops_per_s": best["gflops_per_s"],
        "best": best["name"],
        "cpu_gflops_per_s": cpu_best,
        "candidates": candidates,
        "unavailable": unavailable,
    }


# --------------------------------------------------------------------------- models and inputs


@contextlib.contextmanager
def quiet_random_weights() -> Iterator[None]:
    """The bench times the networks, not the pictures: random VGG weights, warning silenced."""
    logger = logging.getLogger("stylexfer.nets.vgg")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def autocast(cfg: BenchConfig) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast when --amp: convs in bf16, statistics and Grams in fp32 (functional.py casts)."""
    if not cfg.amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(cfg.device).type, dtype=torch.bfloat16)


def make_net(kind: str, cfg: BenchConfig) -> torch.nn.Module:
    with quiet_random_weights():
        torch.manual_seed(0)
        net = AdaINNet(encoder_weights="random") if kind == "adain" else TransformerNet()
    net = net.to(cfg.device).eval()
    if cfg.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed sizes: let cuDNN pick the fastest algorithm
    return net


def maybe_compile(fn: Callable[..., Any], cfg: BenchConfig) -> Callable[..., Any]:
    return torch.compile(fn) if cfg.compile else fn


def images(batch: int, size: int, cfg: BenchConfig, seed: int = 0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=gen).to(cfg.device)


def inference(cfg: BenchConfig) -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    stack.enter_context(autocast(cfg))
    return stack



def run_case(
    case: Case, cfg: BenchConfig, limit_gflops: float | None, limit_cpu_gflops: float | None = None
) -> CaseResult:
    """Set up, count FLOPs once, time, derive rates. NotAvailable becomes an n/a row."""
    result = CaseResult(case.name, case.group, precision=case.precision)
    try:
        run, items, extra = case.setup(cfg)
    except NotAvailable as why:
        result.status, result.note = "n/a", str(why)
        return result
    result.items, result.extra = items, extra
    if case.count_flops:
        result.flops = count_flops(run)
    stats = measure(run, replace(cfg, warmup=0, repeats=1) if case.single_run else cfg)
    result.median_s, result.min_s, result.cpu_s, result.times_s = (
        stats["median_s"],
        stats["min_s"],
        stats["cpu_s"],
        stats["times_s"],
    )
    result.items_per_s = items / result.median_s
    if result.flops:
        result.gflops_per_s = result.flops / result.median_s / 1e9
        if limit_gflops:
            result.efficiency = result.gflops_per_s / limit_gflops
        if limit_cpu_gflops and result.cpu_s:
            result.cpu_efficiency = result.flops / result.cpu_s / 1e9 / limit_cpu_gflops
    return result
