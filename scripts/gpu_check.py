"""One table of what the GPU path does: stylize and train in fp32 eager, bf16 + channels_last and
bf16 + torch.compile, the data pipeline's images/s, peak GPU memory. Random weights, generated data.

    python scripts/gpu_check.py                    # CUDA, full sizes (under 8 min on one GPU)
    python scripts/gpu_check.py --device cpu --quick   # tiny sizes: proves the script works
    python scripts/gpu_check.py --device cpu --only stylize512,train --modes fp32,bf16 --rounds 3
                                                   # the CPU bf16 vs fp32 figures, interleaved

On a CPU --quick skips the torch.compile mode (a C++ compile of every graph takes minutes there).

Modes are interleaved round by round (fp32, bf16, fp32, bf16 …) and the best round is kept, so a
machine whose load changes during the run skews every mode alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))  # a checkout
from stylexfer.families.adain.losses import adain_loss_terms  # noqa: E402
from stylexfer.families.adain.net import AdaINNet  # noqa: E402
from stylexfer.inference.device import DevicePolicy  # noqa: E402
from stylexfer.nets.codes import StyleCode  # noqa: E402
from stylexfer.nets.vgg import RandomWeightsWarning  # noqa: E402
from stylexfer.runtime import tune_cpu_allocator  # noqa: E402

MODES = {"fp32": "fp32 eager", "bf16": "bf16 + channels_last", "compile": "bf16 + torch.compile"}
ADAIN_512_GFLOP = 2 * 125.5  # encoder to relu4_1 + decoder at 512², multiply-adds ×2 (see README)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(device: torch.device, dtype: torch.dtype, n: int) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    reps, started = 0, time.perf_counter()
    while time.perf_counter() - started < 1.0:
        a @ b
        reps += 1
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - started) / 1e9


def make_net(device: torch.device, mode: str) -> AdaINNet:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        net = AdaINNet(encoder_weights="random").to(device)
    if mode != "fp32":
        net = net.to(memory_format=torch.channels_last)
    return net


def autocast(device: torch.device, mode: str) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=mode != "fp32")


def stylize_case(device: torch.device, mode: str, size: int, batch: int) -> Callable[[], None]:
    """What the inference API runs (inference.device.DevicePolicy): fp32, or bf16 (CUDA: autocast and
    channels_last; CPU: bf16 convolution weights, the image layers fp32), optionally compiled."""
    policy = DevicePolicy(device, "fp32" if mode == "fp32" else "bf16")
    net = policy.prepare(make_net(device, "fp32"))
    content = policy.to_device(torch.rand(batch, 3, size, size, device=device))
    with policy.context():
        code = StyleCode(*[t[:1] for t in _stats(net, torch.rand(1, 3, size, size, device=device))])

    def forward(x: torch.Tensor) -> torch.Tensor:
        return net(x, code).float().clamp(0, 1)

    fn = torch.compile(forward) if mode == "compile" else forward

    def step() -> None:
        with policy.context():
            fn(content)

    return step


def _stats(net: AdaINNet, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    code = net.encode_style(style)
    return code.mean.float(), code.std.float()


def train_case(device: torch.device, mode: str, size: int, batch: int) -> Callable[[], None]:
    net = make_net(device, mode)
    net.decoder.train()
    optimizer = torch.optim.Adam(net.decoder.parameters(), lr=1e-4)
    content = torch.rand(batch, 3, size, size, device=device)
    style = torch.rand(batch, 3, size, size, device=device)

    def loss() -> torch.Tensor:
        _, terms = adain_loss_terms(net, content, style)
        return terms["content"] + 10.0 * terms["style"]

    fn = torch.compile(loss) if mode == "compile" else loss

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, mode):  # bf16-mixed as Lightning does it: fp32 master weights
            total = fn()
        total.backward()
        optimizer.step()

    return step


def time_rounds(
    cases: dict[str, Callable[[], None]], device: torch.device, rounds: int, reps: int
) -> dict[str, float]:
    """Best seconds per call of each case, the cases interleaved round by round."""
    for step in cases.values():  # warm-up (and compilation)
        step()
        sync(device)
    best = {name: float("inf") for name in cases}
    for _ in range(rounds):
        for name, step in cases.items():
            sync(device)
            started = time.perf_counter()
            for _ in range(reps):
                step()
            sync(device)
            best[name] = min(best[name], (time.perf_counter() - started) / reps)
    return best


def data_pipeline(workers: int, count: int, size: int, batch: int, seconds: float) -> float:
    """images/s of the training loader (RandomCropStream over pre-resized JPEGs, collated batches)."""
    from PIL import Image

    from stylexfer.training.data import ImageSource, RandomCropStream

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        g = torch.Generator().manual_seed(0)
        for i in range(count):
            pixels = F.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(size + 32,) * 2, mode="bicubic")
            array = (pixels[0].clamp(0, 1).permute(1, 2, 0) * 255).byte().numpy()
            path = os.path.join(tmp, f"img_{i:03d}.jpg")
            Image.fromarray(array).save(path, quality=90)
            files.append(path)
        source = ImageSource(files, name="content", resize=size + 32, crop=size, max_pixels=4096 * 4096)
        loader = torch.utils.data.DataLoader(
            RandomCropStream(source, seed=0), batch_size=batch, num_workers=workers,
            persistent_workers=False, pin_memory=torch.cuda.is_available(),
        )
        it = iter(loader)
        next(it)  # workers started
        images, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            images += next(it).shape[0]
        rate = images / (time.perf_counter() - started)
        del it
        return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one round (a smoke test)")
    parser.add_argument("--modes", default="fp32,bf16,compile", help="comma list of fp32,bf16,compile")
    parser.add_argument("--only", default="stylize512,folder,train,data", help="comma list of cases")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: error: no CUDA GPU here; pass --device cpu (add --quick for a smoke test)",
              file=sys.stderr)
        return 2
    tune_cpu_allocator()
    modes = [m for m in args.modes.split(",") if m]
    if args.quick and device.type == "cpu":
        modes = [m for m in modes if m != "compile"]  # a C++ compile per graph: minutes on a CPU
    cases = set(args.only.split(","))
    q = args.quick
    size, fsize, fbatch, fcount = (64, 64, 4, 8) if q else (512, 512, 16, 64)
    tsize, tbatch = (32, 2) if q else (256, 8)
    rounds, reps = (1, 1) if q else (args.rounds, 1 if device.type == "cpu" else 10)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats()
    n = 256 if q else 4096 if device.type == "cuda" else 2048
    limits = {"fp32": matmul_gflops(device, torch.float32, n), "bf16": matmul_gflops(device, torch.bfloat16, n)}
    rows: list[tuple[str, str, str, str]] = []
    flop = {"stylize512": ADAIN_512_GFLOP * (size / 512) ** 2}

    def run(label: str, unit_count: int, factory: Callable[[str], Callable[[], None]], gflop: float | None) -> None:
        timed = time_rounds({m: factory(m) for m in modes}, device, rounds, reps)
        for m in modes:
            seconds = timed[m]
            rate = unit_count / seconds
            limit = limits["fp32" if m == "fp32" else "bf16"]
            eff = f"{100 * gflop * unit_count / seconds / limit:.0f} %" if gflop else ""
            speed = f"×{timed['fp32'] / seconds:.2f}" if "fp32" in timed else ""
            rows.append((label, MODES[m], f"{seconds * 1e3:9.1f} ms  {rate:8.1f}/s  {speed}", eff))

    if "stylize512" in cases:
        label = f"AdaIN stylize {size}², batch 1"
        run(label, 1, lambda m: stylize_case(device, m, size, 1), flop["stylize512"])
    if "folder" in cases:
        per_batch = {m: stylize_case(device, m, fsize, fbatch) for m in modes}

        def folder(m: str) -> Callable[[], None]:
            def whole() -> None:
                for _ in range(fcount // fbatch):
                    per_batch[m]()
            return whole

        label = f"AdaIN {fcount}-image folder {fsize}², batch {fbatch}"
        run(label, fcount, folder, flop["stylize512"] * (fsize / size) ** 2)
    if "train" in cases:
        label = f"AdaIN training step, batch {tbatch}, {tsize}²"
        run(label, 1, lambda m: train_case(device, m, tsize, tbatch), None)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"\ngpu_check on {device} ({name}), torch {torch.__version__}; matmul limit "
          f"fp32 {limits['fp32']:.0f} GFLOP/s, bf16 {limits['bf16']:.0f} GFLOP/s")
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")
    print(f"{'case':<40} {'mode':<22} {'time, rate, speed-up vs fp32':<36} efficiency")
    for row in rows:
        print(f"{row[0]:<40} {row[1]:<22} {row[2]:<36} {row[3]}")
    if "data" in cases:
        workers = 2 if q else 16
        rate = data_pipeline(workers, 8 if q else 256, tsize, tbatch, 2.0 if q else 20.0)
        label = f"data pipeline, {workers} workers, JPEG {tsize}²"
        print(f"{label:<40} {'':<22} {rate:8.1f} images/s")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
