"""The case catalogue: stylize (fast and plain reference paths), folders, training steps, Adam, the
data pipeline, the DataLoader, tiled memory, the CLI's own overhead and video (benchmarks/video.py)."""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmarks.harness import (
    BenchConfig,
    Case,
    autocast,
    images,
    inference,
    make_net,
    maybe_compile,
    quiet_random_weights,
)
from benchmarks.sanet import sanet_cases
from benchmarks.video import video_cases
from reference_nets import plain_adain, plain_johnson
from stylexfer.files.images import load_image, save_image, to_tensor


def bf16_net(net: torch.nn.Module, cfg: BenchConfig) -> torch.nn.Module:
    """The net as `stylexfer stylize --precision bf16` runs it (inference.device.DevicePolicy)."""
    from stylexfer.inference.device import DevicePolicy
    from stylexfer.registry import families

    owner = next(f for f in families() if type(net).__module__.startswith(f"stylexfer.families.{f.name}."))
    return DevicePolicy(cfg.device, "bf16").prepare(net, owner.fp32_layers(net))


def stylize_case(kind: str, size: int, *, reference: bool = False, precision: str = "fp32") -> Case:
    suffix = "/plain" if reference else ("/bf16" if precision == "bf16" else "")

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        net = make_net(kind, cfg)
        if precision == "bf16":
            net = bf16_net(net, cfg)
        content = images(1, size, cfg)
        if kind == "adain":
            style = images(1, size, cfg, seed=1)
            fn = (
                (lambda: plain_adain(net, content, style)) if reference else (lambda: net(content, style))
            )
        else:
            fn = (lambda: plain_johnson(net, content)) if reference else (lambda: net(content))
        fn = maybe_compile(fn, cfg)

        def run() -> Any:
            with inference(cfg):
                return fn()

        return run, 1, {"size": size, "precision": precision}

    return Case(f"stylize/{kind}/{size}{suffix}", "stylize", setup, precision=precision)


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
                batch = torch.stack([to_tensor(load_image(p)) for p in chunk]).to(cfg.device)
                with inference(cfg):
                    result = net(batch, code) if kind == "adain" else net(batch)
                for path, image in zip(chunk, result.float().cpu(), strict=True):
                    save_image(image, out / path.name)

        return run, len(paths), {"size": size, "batch": cfg.folder_batch}

    return Case(f"folder/{kind}/{size}", "folder", setup)


def _bench_model_file(kind: str, folder: Path) -> Path:
    """A random-weight model file of `kind`, as `stylexfer stylize --model` reads it (written once)."""
    from stylexfer.files.modelfile import ModelSpec, weights_of, write_safetensors

    model = folder / f"{kind}.safetensors"
    if not model.exists():
        spec = ModelSpec("adain", encoder="random") if kind == "adain" else ModelSpec("johnson")
        folder.mkdir(parents=True, exist_ok=True)
        write_safetensors(weights_of(make_net(kind, BenchConfig()), spec), model)
    return model


def batching_case(kind: str, batch: int) -> Case:
    """`stylexfer stylize FOLDER --batch-size B` (in-process, the real command): a folder of
    cfg.batching_images JPEGs of cfg.batching_size², one style (AdaIN) or a fixed-style model, each
    decoded, stylized in batches of B and saved. extra["network_s"] is the command's --timings
    figure (the networks alone). One timed run after a warm-up run on B of the images, so oneDNN's
    kernels for the batch shape are built before the clock starts."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        import contextlib
        import io

        from stylexfer.cli import main

        size, count = cfg.batching_size, cfg.batching_images
        work = cfg.workdir / f"batching{size}"
        paths = _write_jpegs(work / "photos", count, size, size)
        warm = work / f"warm{batch}"
        warm.mkdir(parents=True, exist_ok=True)
        for path in paths[:batch]:
            if not (warm / path.name).exists():
                (warm / path.name).write_bytes(path.read_bytes())
        model = _bench_model_file(kind, work)
        style: list[str] = []
        if kind == "adain":
            style_path = work / "style.png"
            if not style_path.exists():
                save_image(images(1, size, BenchConfig(), seed=1)[0], style_path)
            style = ["--style", str(style_path)]
        extra: dict[str, Any] = {"size": size, "images": count, "batch": batch, "network_s": None}

        def command(folder: Path) -> float:
            err = io.StringIO()
            argv = ["stylize", str(folder), *style, "--model", str(model), "--out", str(work / f"out-{kind}"),
                    "--overwrite", "--quiet", "--timings", "--device", cfg.device, "--batch-size", str(batch)]
            with quiet_random_weights(), contextlib.redirect_stderr(err):
                code = main(argv)
            found = re.search(r"timings: network ([0-9.]+) s", err.getvalue())
            if code != 0 or found is None:
                raise RuntimeError(f"stylexfer stylize failed: {err.getvalue()[-500:]}")
            return float(found.group(1))

        command(warm)

        def run() -> Any:
            extra["network_s"] = command(work / "photos")

        return run, count, extra

    return Case(f"batching/{kind}/batch-{batch}", "batching", setup, count_flops=False, memory=False,
                single_run=True)


def train_case(kind: str, *, fused: bool = True, precision: str = "fp32") -> Case:
    """One optimisation step at batch × crop² (forward, backward, Adam), data already in memory.
    precision "bf16": the forward under bf16 autocast, as trainer.precision=bf16-mixed runs it
    (fp32 weights and Adam; losses, statistics and Grams in fp32)."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        from stylexfer.families.adain.losses import adain_loss_terms
        from stylexfer.families.johnson.losses import JohnsonCriterion

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

        mixed = torch.autocast(device_type=torch.device(cfg.device).type, dtype=torch.bfloat16)

        def run() -> Any:
            opt.zero_grad(set_to_none=True)
            with mixed if precision == "bf16" else autocast(cfg):
                total = loss()
            total.backward()
            opt.step()
            return total.detach()

        extra = {"batch": cfg.batch, "crop": cfg.crop, "adam": "fused" if fused else "foreach",
                 "precision": precision}
        return run, cfg.batch, extra

    suffix = ("" if fused else "/adam-foreach") + ("/bf16-mixed" if precision == "bf16" else "")
    return Case(f"train/{kind}{suffix}", "train", setup, precision=precision)


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
    """The baselines' full-image resize: the tool's one size rule, with the variant's filter."""
    from stylexfer.inference.inputs import resized_size

    return image.resize(resized_size(*image.size, size=shorter), resample, reducing_gap=None)


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


def cli_overhead_case(precision: str = "fp32") -> Case:
    """Whole-process cost of `stylexfer stylize` on one 512² photo outside the networks: interpreter
    start, imports, model file load, style and content decode, encode of the output. The network's own
    time (cold, as in a fresh process) is what `stylexfer stylize --timings` reports from inside."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        from stylexfer.files.modelfile import ModelSpec, weights_of, write_safetensors

        content, style, work = _cli_inputs(cfg)
        model = work / "adain.safetensors"
        if not model.exists():
            write_safetensors(weights_of(make_net("adain", BenchConfig()), ModelSpec("adain", encoder="random")), model)
        stylexfer = Path(sys.executable).with_name("stylexfer")
        command = [str(stylexfer), "stylize", str(content), "--style", str(style), "--model", str(model),
                   "--out", str(work / "out"), "--overwrite", "--device", "cpu", "--timings",
                   "--precision", precision]
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

    name = "cli/stylize-overhead" + ("/bf16" if precision == "bf16" else "")
    return Case(name, "cli", setup, count_flops=False, memory=False, precision=precision)


def _cli_inputs(cfg: BenchConfig) -> tuple[Path, Path, Path]:
    """The start-up cases' inputs: a 512² JPEG content, a 512² PNG style, the work folder."""
    from stylexfer.files.images import save_image

    work = cfg.workdir / "cli"
    work.mkdir(parents=True, exist_ok=True)
    content = _write_jpegs(work, 1, 512, 512)[0]
    style = work / "style.png"
    if not style.exists():
        save_image(images(1, 512, BenchConfig(), seed=1)[0], style)
    return content, style, work


def reference_process_case() -> Case:
    """pytorch-AdaIN's test.py (benchmarks/adain_test_py.py: its imports, nets and steps) as a whole
    process on the same 512² content and style as cli/stylize-overhead, with its .pth files."""

    def setup(cfg: BenchConfig) -> tuple[Callable[[], Any], int, dict[str, Any]]:
        from reference_nets import orig_adain_pair

        content, style, work = _cli_inputs(cfg)
        vgg_path, decoder_path = work / "vgg_normalised.pth", work / "decoder.pth"
        if not decoder_path.exists():
            vgg, decoder = orig_adain_pair()
            torch.save(vgg.state_dict(), vgg_path)
            torch.save(decoder.state_dict(), decoder_path)
        script = Path(__file__).with_name("adain_test_py.py")
        command = [sys.executable, str(script), "--content", str(content), "--style", str(style),
                   "--vgg", str(vgg_path), "--decoder", str(decoder_path), "--output", str(work / "ref.jpg")]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # as the original runs: no checkout

        def run() -> Any:
            subprocess.run(command, check=True, capture_output=True, text=True, env=env)

        return run, 1, {"command": "pytorch-AdaIN test.py (512² JPEG, one style)"}

    return Case("cli/pytorch-adain-test.py", "cli", setup, count_flops=False, memory=False)


def all_cases(cfg: BenchConfig) -> list[Case]:
    cases: list[Case] = []
    for size in cfg.sizes:
        cases += [stylize_case("adain", size), stylize_case("johnson", size)]
    ref = 512 if 512 in cfg.sizes else cfg.sizes[-1]
    cases += [stylize_case("adain", ref, precision="bf16"), stylize_case("johnson", ref, precision="bf16")]
    cases += [
        stylize_case("adain", ref, reference=True),
        stylize_case("johnson", ref, reference=True),
        reused_style_case(ref),
        folder_case("adain", ref),
        folder_case("johnson", ref),
    ]
    cases += [
        train_case("adain"),
        train_case("adain", precision="bf16"),
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
    cases += [loader_case(0), loader_case(2), tiled_case(), cli_overhead_case(),
              cli_overhead_case("bf16"), reference_process_case()]
    cases += [batching_case(kind, batch) for kind in ("adain", "johnson") for batch in cfg.batching_batches]
    cases += video_cases(cfg)  # benchmarks/video.py
    cases += sanet_cases(cfg)  # benchmarks/sanet.py
    return cases
