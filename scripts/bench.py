#!/usr/bin/env python
"""stylexfer performance benchmark: every case against this machine's measured fp32 matmul limit.

    python scripts/bench.py                       # all cases, table + outputs/bench/bench-<time>.json
    python scripts/bench.py --quick               # small sizes, few repeats (a minute or two)
    python scripts/bench.py --cases stylize,train # cases whose name contains any of these words
    python scripts/bench.py --device cuda --amp --compile

One process times every case after warm-up (median of the repeats; min and process CPU time are
kept too). FLOPs come from torch.utils.flop_counter.FlopCounterMode (a multiply-add is 2 FLOPs),
for the limit and the cases alike; efficiency = achieved GFLOP/s / limit GFLOP/s. The limit is the
best median over a few dense fp32 matrix multiplies run through both CPU GEMM back ends PyTorch has:
MKL (torch.mm) and oneDNN (the same product as a 1×1 convolution). Peak resident memory of each
case comes from a fresh subprocess that runs the case once (ru_maxrss), so cases don't inherit
each other's peaks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))

from stylexfer.files.images import load_image, load_tensor, save_image, to_tensor  # noqa: E402
from stylexfer.functional import adain_with_stats, channel_mean_std  # noqa: E402
from stylexfer.nets import AdaINNet, TransformerNet  # noqa: E402
from stylexfer.runtime import tune_cpu_allocator  # noqa: E402

TARGETS = {  # issue 5, CPU fp32
    "stylize/adain/512": 0.75,
    "stylize/johnson/512": 0.65,
    "train/adain": 0.65,
    "train/johnson": 0.65,
}


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
    jpeg_sizes: tuple[tuple[str, int, int], ...] = (
        ("coco", 640, 480),
        ("wikiart", 4000, 3000),
        ("large", 8000, 6000),
    )
    pipeline_images: int = 6
    shorter_side: int = 512
    loader_items: int = 24
    tiled_size: int = 4096
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
            batch=4,
            jpeg_sizes=(("coco", 640, 480), ("wikiart", 4000, 3000)),
            pipeline_images=3,
            loader_items=12,
            limit_sizes=(1024, 2048),
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


def matmul_limit(cfg: BenchConfig) -> dict[str, Any]:
    """Best median GFLOP/s of dense fp32 n×n×n matrix multiplies through every GEMM PyTorch has here:
    torch.mm (MKL on CPU, cuBLAS on GPU), oneDNN's inner product (mkldnn_linear, the AVX-512 brgemm)
    and the same product as a channels_last 1×1 convolution. On AMD CPUs MKL runs its AVX2 path, half
    of what oneDNN reaches, so MKL alone would overstate every efficiency about 2×. FLOPs are
    FlopCounterMode's count of the n×n×n mm (2n³) for all three."""
    device = cfg.device
    candidates = []
    gen = torch.Generator().manual_seed(0)
    for n in cfg.limit_sizes:
        a = torch.randn(n, n, generator=gen).to(device)
        b = torch.randn(n, n, generator=gen).to(device)
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
                stats = measure(run, cfg)
                candidates.append(
                    {"name": name, "flops": flops, **stats, "gflops_per_s": flops / stats["median_s"] / 1e9}
                )
        del a, b, x, w, runs
    best = max(candidates, key=lambda c: c["gflops_per_s"])
    cpu_best = max(c["flops"] / c["cpu_s"] / 1e9 for c in candidates)
    return {
        "gflops_per_s": best["gflops_per_s"],
        "best": best["name"],
        "cpu_gflops_per_s": cpu_best,
        "candidates": candidates,
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the address space, so it starts afresh at
    exec; ru_maxrss would inherit the forking parent's peak on Linux (and then every child of the
    bench would report at least the bench's own peak)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024.0  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB; no /proc


def current_rss_mb() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return peak_rss_mb()


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


# --------------------------------------------------------------------------- plain reference path


def reference_adain(net: AdaINNet, content: Tensor, style: Tensor) -> Tensor:
    """The widely used public implementation's forward (naoto0804/pytorch-AdaIN style): NCHW,
    a separate 1×1 normalisation conv, a reflection-pad copy before every conv, out-of-place ReLU."""

    def encode(x: Tensor) -> Tensor:
        x = F.conv2d(x.contiguous(), net.encoder.normalize.weight, net.encoder.normalize.bias)
        for module in net.encoder.features:
            if isinstance(module, torch.nn.Conv2d):
                x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), module.weight, module.bias)
            elif isinstance(module, torch.nn.ReLU):
                x = F.relu(x)
            else:
                x = F.max_pool2d(x, 2, 2, ceil_mode=module.ceil_mode)
        return x

    style_features = encode(style)
    mean, std = channel_mean_std(style_features)
    x = adain_with_stats(encode(content), mean, std)
    from stylexfer.nets.adain import DECODER_LAYERS

    for name, _, _, upsample in DECODER_LAYERS:
        conv = getattr(net.decoder, name)
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight, conv.bias)
        if name == "conv1_1":
            break
        x = F.relu(x)
        if upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
    return x[..., : content.shape[-2], : content.shape[-1]]  # the reference's output, cropped


def reference_johnson(net: TransformerNet, images: Tensor) -> Tensor:
    """pytorch/examples fast_neural_style's forward: NCHW, ReflectionPad copies, F.instance_norm."""

    def conv(layer: torch.nn.Module, x: Tensor) -> Tensor:
        c = layer.conv if hasattr(layer, "conv") else layer
        p = c.kernel_size[0] // 2
        return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), c.weight, c.bias, c.stride)

    def conv_norm_relu(layer: torch.nn.Module, x: Tensor) -> Tensor:
        return F.relu(F.instance_norm(conv(layer, x), weight=layer.norm.weight, bias=layer.norm.bias))

    x = conv_norm_relu(net.conv3, conv_norm_relu(net.conv2, conv_norm_relu(net.conv1, images.contiguous())))
    for block in net.residuals:
        y = conv(block.conv2, conv_norm_relu(block.conv1, x))
        x = x + F.instance_norm(y, weight=block.norm2.weight, bias=block.norm2.bias)
    x = conv_norm_relu(net.up1.conv, F.interpolate(x, scale_factor=2, mode="nearest"))
    x = conv_norm_relu(net.up2.conv, F.interpolate(x, scale_factor=2, mode="nearest"))
    x = conv(net.conv_out, x)[..., : images.shape[-2], : images.shape[-1]]
    return torch.sigmoid(x) if net.output == "sigmoid" else x.clamp(0.0, 1.0)


# --------------------------------------------------------------------------- cases


def stylize_case(kind: str, size: int, *, reference: bool = False) -> Case:
    suffix = "/plain" if reference else ""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        net = make_net(kind, cfg)
        content = images(1, size, cfg)
        if kind == "adain":
            style = images(1, size, cfg, seed=1)
            fn = (
                (lambda: reference_adain(net, content, style)) if reference else (lambda: net(content, style))
            )
        else:
            fn = (lambda: reference_johnson(net, content)) if reference else (lambda: net(content))
        fn = maybe_compile(fn, cfg)

        def run() -> Any:
            with inference(cfg):
                return fn()

        return run, 1, {"size": size}

    return Case(f"stylize/{kind}/{size}{suffix}", "stylize", setup)


def reused_style_case(size: int) -> Case:
    """AdaIN with one StyleCode reused over a batch of contents: per-image time without the style
    encoding (the content+style case encodes two images per output)."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        net = make_net("adain", cfg)
        with inference(cfg):
            code = net.encode_style(images(1, size, cfg, seed=1))
        contents = images(cfg.folder_batch, size, cfg)

        def run() -> Any:
            with inference(cfg):
                return net(contents, code)

        return run, cfg.folder_batch, {"size": size, "batch": cfg.folder_batch}

    return Case(f"stylize/adain/{size}/reused-style", "stylize", setup)


def _write_jpegs(folder: Path, count: int, width: int, height: int, seed: int = 0) -> list[Path]:
    """Photo-like JPEGs (smooth gradients plus texture; pure noise would be unrealistically big)."""
    from PIL import Image, ImageFilter

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    rng = random.Random(seed)
    for i in range(count):
        path = folder / f"img{i:03d}_{width}x{height}.jpg"
        if not path.exists():
            small = Image.effect_noise((max(8, width // 16), max(8, height // 16)), 64).convert("RGB")
            tint = Image.new("RGB", small.size, tuple(rng.randrange(256) for _ in range(3)))
            small = Image.blend(small, tint, 0.5).filter(ImageFilter.GaussianBlur(1))
            big = small.resize((width, height), Image.Resampling.BICUBIC)
            texture = Image.effect_noise((width, height), 20).convert("RGB")
            Image.blend(big, texture, 0.15).save(path, quality=90)
        paths.append(path)
    return paths


def folder_case(kind: str, size: int) -> Case:
    """A folder run with one style: decode each JPEG, stylize in batches, save each result."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        net = make_net(kind, cfg)
        paths = _write_jpegs(cfg.workdir / f"folder{size}", cfg.folder_images, size, size)
        out = cfg.workdir / f"folder{size}-out-{kind}"
        with inference(cfg):
            code = net.encode_style(images(1, size, cfg, seed=1)) if kind == "adain" else None

        def run() -> Any:
            for start in range(0, len(paths), cfg.folder_batch):
                chunk = paths[start : start + cfg.folder_batch]
                batch = torch.stack([load_tensor(p) for p in chunk]).to(cfg.device)
                with inference(cfg):
                    result = net(batch, code) if kind == "adain" else net(batch)
                for path, image in zip(chunk, result.float().cpu(), strict=True):
                    save_image(image, out / path.name)

        return run, len(paths), {"size": size, "batch": cfg.folder_batch}

    return Case(f"folder/{kind}/{size}", "folder", setup)


def train_case(kind: str, *, fused: bool = True) -> Case:
    """One optimisation step at batch × crop² (forward, backward, Adam), data already in memory."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        from stylexfer.losses import JohnsonCriterion, adain_loss_terms

        content = images(cfg.batch, cfg.crop, cfg)
        style = images(cfg.batch, cfg.crop, cfg, seed=1)
        if kind == "adain":
            net = make_net("adain", cfg).train()
            params = list(net.decoder.parameters())

            def loss() -> Tensor:
                _, terms = adain_loss_terms(net, content, style)
                return terms["content"] + 10.0 * terms["style"]
        else:
            net = make_net("johnson", cfg).train()
            with quiet_random_weights():
                criterion = JohnsonCriterion(style[:1], vgg_weights="random").to(cfg.device)
            params = list(net.parameters())

            def loss() -> Tensor:
                terms = criterion(net(content), content)
                return terms["content"] + 1e-3 * terms["style"]

        opt = torch.optim.Adam(params, lr=1e-4, **({"fused": True} if fused else {"foreach": True}))
        loss = maybe_compile(loss, cfg)

        def run() -> Any:
            opt.zero_grad(set_to_none=True)
            with autocast(cfg):
                total = loss()
            total.backward()
            opt.step()
            return total.detach()

        return run, cfg.batch, {"batch": cfg.batch, "crop": cfg.crop, "adam": "fused" if fused else "foreach"}

    return Case(f"train/{kind}" + ("" if fused else "/adam-foreach"), "train", setup)


def optimizer_case(fused: bool) -> Case:
    """Adam's step alone over the AdaIN decoder's 3.5 M parameters: fused vs foreach."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        params = [p for p in make_net("adain", cfg).decoder.parameters()]
        for p in params:
            p.grad = torch.randn_like(p)
        opt = torch.optim.Adam(params, lr=1e-4, **({"fused": True} if fused else {"foreach": True}))
        return opt.step, 1, {"parameters": sum(p.numel() for p in params)}

    return Case(
        f"optim/adam/{'fused' if fused else 'foreach'}", "optim", setup, count_flops=False, memory=False
    )


def _crop(image: Any, size: int, rng: random.Random) -> Tensor:
    """Shorter side to `shorter`, then a random size² crop (SPEC Data): done on the PIL image."""
    left = rng.randrange(image.width - size + 1)
    top = rng.randrange(image.height - size + 1)
    return to_tensor(image.crop((left, top, left + size, top + size)))


def _resize_shorter(image: Any, shorter: int, resample: Any) -> Any:
    scale = shorter / min(image.size)
    size = (max(shorter, round(image.width * scale)), max(shorter, round(image.height * scale)))
    return image.resize(size, resample, reducing_gap=None)


def pipeline_item(path: Path, shorter: int, crop: int, rng: random.Random, *, variant: str) -> Tensor:
    """variant "draft": the training pipeline itself (stylexfer.training.data): reduced-scale JPEG decode, then
    only the crop's region resampled (bicubic). "full-decode": a full decode, the whole image resized
    to the shorter side with the same bicubic filter, then the crop. "full-decode-bilinear": the same
    with torchvision Resize's cheaper bilinear filter."""
    from PIL import Image

    from stylexfer.training.data import resize_crop

    if variant == "draft":
        return to_tensor(resize_crop(load_image(path, draft_shorter_side=shorter), resize=shorter, crop=crop, rng=rng))
    resample = Image.Resampling.BICUBIC if variant == "full-decode" else Image.Resampling.BILINEAR
    return _crop(_resize_shorter(load_image(path), shorter, resample), crop, rng)


def pipeline_case(label: str, width: int, height: int, *, variant: str) -> Case:
    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        paths = _write_jpegs(cfg.workdir / "jpegs", cfg.pipeline_images, width, height)
        rng = random.Random(0)

        def run() -> Any:
            return [pipeline_item(p, cfg.shorter_side, cfg.crop, rng, variant=variant) for p in paths]

        return (
            run,
            len(paths),
            {"jpeg": f"{width}x{height}", "file_kb": round(paths[0].stat().st_size / 1024)},
        )

    return Case(
        f"data/{label}-{width}x{height}/{variant}",
        "data",
        setup,
        count_flops=False,
        memory=False,
    )


class PairDataset(torch.utils.data.Dataset):
    """(content crop, style crop) pairs: a COCO-size content and a WikiArt-size style per item."""

    def __init__(
        self, contents: list[Path], styles: list[Path], length: int, shorter: int, crop: int
    ) -> None:
        self.contents, self.styles, self.length, self.shorter, self.crop = (
            contents,
            styles,
            length,
            shorter,
            crop,
        )

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        rng = random.Random(index)
        content = pipeline_item(
            self.contents[index % len(self.contents)], self.shorter, self.crop, rng, variant="draft"
        )
        style = pipeline_item(self.styles[index % len(self.styles)], self.shorter, self.crop, rng, variant="draft")
        return content, style


def loader_case(workers: int) -> Case:
    """The training input pipeline through a DataLoader: pairs of a COCO-size content crop and a
    WikiArt-size style crop (draft decode), in batches; workers persist, as in training."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        (_, cw, ch), (_, sw, sh) = cfg.jpeg_sizes[0], cfg.jpeg_sizes[min(1, len(cfg.jpeg_sizes) - 1)]
        contents = _write_jpegs(cfg.workdir / "jpegs", cfg.pipeline_images, cw, ch)
        styles = _write_jpegs(cfg.workdir / "jpegs", cfg.pipeline_images, sw, sh)
        dataset = PairDataset(contents, styles, cfg.loader_items, cfg.shorter_side, cfg.crop)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=cfg.batch, num_workers=workers, persistent_workers=workers > 0
        )

        def run() -> Any:
            return sum(batch[0].shape[0] for batch in loader)

        unit = f"pairs ({cw}x{ch} content + {sw}x{sh} style)"
        return run, cfg.loader_items, {"workers": workers, "batch": cfg.batch, "unit": unit}

    return Case(f"data/loader-{workers}-workers", "data", setup, count_flops=False, memory=False)


def tiled_case() -> Case:
    """Peak memory of a 4096² AdaIN stylization through the inference API with tiling (the path
    `stylexfer stylize` takes for big images)."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        from stylexfer.files.modelfile import ModelSpec
        from stylexfer.inference import Stylizer

        stylizer = Stylizer(make_net("adain", cfg), ModelSpec("adain", encoder="embedded"), device=cfg.device)
        content = images(1, cfg.tiled_size, cfg).cpu()
        code = stylizer.encode_styles([images(1, 512, cfg, seed=1).cpu()])

        def run() -> Any:
            return stylizer.stylize(content, code, tile=True)

        return run, 1, {"size": cfg.tiled_size, "tile": stylizer.tile_size, "overlap": stylizer.tile_overlap}

    return Case(f"memory/adain/{4096}/tiled", "memory", setup, count_flops=False, single_run=True)


def cli_overhead_case() -> Case:
    """Whole-process cost of `stylexfer stylize` on one 512² photo outside the networks: interpreter
    start, imports, model file load, style and content decode, encode of the output. The network's own
    time (cold, as in a fresh process) is what `stylexfer stylize --timings` reports from inside."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        from stylexfer.files.images import save_image
        from stylexfer.files.modelfile import ModelSpec, weights_of, write_safetensors

        work = cfg.workdir / "cli"
        work.mkdir(parents=True, exist_ok=True)
        content = _write_jpegs(work, 1, 512, 512)[0]
        style = work / "style.png"
        save_image(images(1, 512, BenchConfig(), seed=1)[0], style)
        model = work / "adain.safetensors"
        if not model.exists():
            write_safetensors(weights_of(make_net("adain", BenchConfig()), ModelSpec("adain", encoder="random")), model)
        stylexfer = Path(sys.executable).with_name("stylexfer")
        command = [str(stylexfer), "stylize", str(content), "--style", str(style), "--model", str(model),
                   "--out", str(work / "out"), "--overwrite", "--device", "cpu", "--timings"]
        network: list[float] = []
        extra: dict[str, Any] = {"command": "stylexfer stylize --timings (512² JPEG, one style)", "network_s": 0.0}

        def run() -> Any:
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            found = re.search(r"timings: network ([0-9.]+) s", done.stderr)
            if found is None:
                raise RuntimeError(f"no timings line from stylexfer stylize: {done.stderr[-500:]}")
            network.append(float(found.group(1)))
            extra["network_s"] = statistics.median(network)

        return run, 1, extra

    return Case("cli/stylize-overhead", "cli", setup, count_flops=False, memory=False)


class NotAvailable(Exception):
    """A case whose code is not on this branch yet: reported as n/a with the reason."""


def all_cases(cfg: BenchConfig) -> list[Case]:
    cases: list[Case] = []
    for size in cfg.sizes:
        cases += [stylize_case("adain", size), stylize_case("johnson", size)]
    ref = 512 if 512 in cfg.sizes else cfg.sizes[-1]
    cases += [
        stylize_case("adain", ref, reference=True),
        stylize_case("johnson", ref, reference=True),
        reused_style_case(ref),
        folder_case("adain", ref),
        folder_case("johnson", ref),
    ]
    cases += [
        train_case("adain"),
        train_case("johnson"),
        train_case("adain", fused=False),
        optimizer_case(True),
        optimizer_case(False),
    ]
    for label, width, height in cfg.jpeg_sizes:
        cases += [
            pipeline_case(label, width, height, variant="draft"),
            pipeline_case(label, width, height, variant="full-decode"),
            pipeline_case(label, width, height, variant="full-decode-bilinear"),
        ]
    cases += [loader_case(0), loader_case(2), tiled_case(), cli_overhead_case()]
    return cases


def run_case(
    case: Case, cfg: BenchConfig, limit_gflops: float | None, limit_cpu_gflops: float | None = None
) -> CaseResult:
    """Set up, count FLOPs once, time, derive rates. NotAvailable becomes an n/a row."""
    result = CaseResult(case.name, case.group)
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


def memory_in_subprocess(case: Case, cfg: BenchConfig, quick: bool) -> tuple[float, float] | None:
    """(peak RSS MB, growth over the post-setup RSS) of one run of `case` in a fresh interpreter."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", case.name, "--device", cfg.device]
    if quick:
        command.append("--quick")
    if cfg.amp:
        command.append("--amp")
    if not cfg.tuned_allocator:
        command.append("--default-allocator")
    proc = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}
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


# --------------------------------------------------------------------------- report


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
    return rows


def table(results: list[CaseResult], limit: dict[str, Any] | None, targets: list[dict[str, Any]]) -> str:
    lines = []
    if limit:
        lines.append(f"limit: {limit['gflops_per_s']:.0f} GFLOP/s fp32 ({limit['best']}, median)")
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
        "loadavg_start": os.getloadavg(),
    }
    if cfg.device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


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
        f"load average {env['loadavg_start'][0]:.1f}"
    )
    started = time.time()
    limit = matmul_limit(cfg)
    log(f"limit: {limit['gflops_per_s']:.0f} GFLOP/s ({limit['best']})")
    results = []
    for case in cases:
        r = run_case(case, cfg, limit["gflops_per_s"], limit["cpu_gflops_per_s"])
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument(
        "--cases", default="", help="comma-separated words; run cases whose name contains one"
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
    cases = all_cases(cfg)
    if args.list:
        print("\n".join(c.name for c in cases))
        return 0
    words = [w for w in args.cases.split(",") if w]
    if words:
        cases = [c for c in cases if any(w in c.name for w in words)]
    report = run_bench(
        cfg,
        cases,
        command=" ".join(["scripts/bench.py", *(argv if argv is not None else sys.argv[1:])]),
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
