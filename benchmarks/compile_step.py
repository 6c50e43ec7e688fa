"""What `model.compile=true` buys on this machine: seconds per training step (forward, loss, backward,
Adam) of a model family, eager vs torch.compile, after the compile's warm-up steps.

    python -m benchmarks.compile_step                      # Johnson, 4 × 128 px crops, 10 timed steps
    python -m benchmarks.compile_step --model adain --crop 256 --batch 8 --steps 20

Random VGG weights (no download). Prints the compile time, both step times and eager/compiled.
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import torch

from stylexfer.training.averaging import compile_networks
from stylexfer.training.config import compose_config, validate
from stylexfer.training.data import sample_data
from stylexfer.training.systems import build_system


def _system(model: str, crop: int, style_image: str | None, compiled: bool) -> Any:
    overrides = [f"model={model}", "model.vgg_weights=random"]
    if model == "johnson":
        overrides += [f"model.style_image={style_image}", f"model.style_size={crop}"]
    settings = validate(compose_config(overrides))
    torch.manual_seed(0)
    system = build_system(settings.model, settings.optim)
    if compiled:
        compile_networks(system)
    return system


def _step(system: Any, optimizer: torch.optim.Optimizer, content: torch.Tensor, style: torch.Tensor) -> None:
    from stylexfer.families.adain.losses import adain_loss_terms

    if system.model_name == "adain":
        _, terms = adain_loss_terms(system.net, content, style)
    else:
        terms = system.criterion(system.net(content), content)
    total = system._weigh(terms)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()


def seconds_per_step(system: Any, batch: int, crop: int, warmup: int, steps: int) -> tuple[float, float]:
    """(seconds of the warm-up steps, which include compiling; mean seconds of one timed step)."""
    generator = torch.Generator().manual_seed(0)
    content = torch.rand(batch, 3, crop, crop, generator=generator)
    style = torch.rand(batch, 3, crop, crop, generator=generator)
    optimizer = torch.optim.Adam(system.trainable_parameters(), lr=1e-4)
    start = time.perf_counter()
    for _ in range(warmup):
        _step(system, optimizer, content, style)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        _step(system, optimizer, content, style)
    return warm, (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compile_step", description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("johnson", "adain"), default="johnson")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    style_image = None
    if args.model == "johnson":
        import tempfile
        from pathlib import Path

        folder = Path(tempfile.mkdtemp(prefix="compile_step_"))
        style_image = str(sorted(sample_data(folder, count=2)[1].glob("*.png"))[0])
    results = {}
    for compiled in (False, True):
        system = _system(args.model, args.crop, style_image, compiled)
        results[compiled] = seconds_per_step(system, args.batch, args.crop, args.warmup, args.steps)
    (eager_warm, eager), (compile_warm, fast) = results[False], results[True]
    threads = torch.get_num_threads()
    print(f"{args.model}, batch {args.batch} × {args.crop} px, {threads} threads, torch {torch.__version__}")
    print(f"eager:    {eager * 1000:8.1f} ms/step (warm-up {eager_warm:.1f} s for {args.warmup} steps)")
    print(f"compiled: {fast * 1000:8.1f} ms/step (warm-up {compile_warm:.1f} s for {args.warmup} steps, compiling)")
    print(f"eager/compiled: {eager / fast:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
