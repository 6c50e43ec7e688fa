"""`make demo` / `python -m stylexfer.demo`: a short CPU training of AdaIN on the generated sample set,
then the trained model stylizes sample photos into outputs/demo/.

About a minute on two cores: 64-pixel crops, 300 steps. With ImageNet VGG-19
weights (cached, or downloaded once) the pictures start to look stylized; without them it falls
back to random weights and says loudly that the pictures only show the pipeline working. This is
the only place in stylexfer where such a fallback happens.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import sys
import time
import warnings
from pathlib import Path

import torch

from stylexfer.errors import StylexferError, WeightsError
from stylexfer.files.images import load_image, load_tensor, save_image, to_tensor
from stylexfer.inference import load_model, resize_image
from stylexfer.nets.vgg import imagenet_weights_file, load_weights
from stylexfer.runtime import tune_cpu_allocator

log = logging.getLogger(__name__)

BANNER = "!" * 78


def pick_vgg_weights(requested: str = "auto") -> str:
    """ "imagenet" when torchvision's VGG-19 file is cached or can be downloaded now, else "random"
    (with a loud warning). `requested` other than "auto" is used as given."""
    if requested != "auto":
        return requested
    if imagenet_weights_file("vgg19").is_file():
        return "imagenet"
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # an offline machine should not wait minutes
    try:
        print("downloading ImageNet VGG-19 weights (548 MB, once) ...", flush=True)
        load_weights("vgg19", "imagenet")
        return "imagenet"
    except WeightsError as err:
        print(
            f"\n{BANNER}\nWARNING: no ImageNet VGG-19 weights ({err}).\n"
            "The demo falls back to RANDOM VGG weights: training and stylizing run, but the pictures\n"
            "show the pipeline working, not style-transfer quality. Put vgg19-dcbb9e9d.pth in\n"
            f"{imagenet_weights_file('vgg19').parent} and run `make demo` again for real results.\n"
            f"{BANNER}\n",
            file=sys.stderr,
            flush=True,
        )
        return "random"
    finally:
        socket.setdefaulttimeout(previous)


def stylize_with_checkpoint(
    checkpoint: str | Path,
    contents: list[Path],
    styles: list[Path],
    out_dir: str | Path,
    *,
    max_side: int = 512,
) -> list[Path]:
    """Stylize every content image with every style through the inference API that `stylexfer stylize`
    and the GUI use (each style encoded once); returns the written files (`<content>__<style>.png`)
    plus `grid.png` (styles across, contents down)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights were announced when training started
        stylizer = load_model(checkpoint, device="auto")
        codes = stylizer.encode_styles(styles)
    out_dir = Path(out_dir)
    written: list[Path] = []
    rows = []
    for content_path in contents:
        content = to_tensor(resize_image(load_image(content_path), max_size=max_side))
        row = [content]
        for style_path, code in zip(styles, codes, strict=True):
            output = stylizer.stylize(content, [code])
            written.append(save_image(output, out_dir / f"{content_path.stem}__{style_path.stem}.png"))
            row.append(output[0])
        rows.append(row)
    tile = 160
    header = [torch.ones(3, tile, tile)] + [_fit(load_tensor(p), tile, square=True) for p in styles]
    tiles = header + [_fit(image, tile, square=True) for row in rows for image in row]
    from torchvision.utils import make_grid

    written.append(
        save_image(
            make_grid(torch.stack(tiles), nrow=len(styles) + 1, padding=4, pad_value=1.0),
            out_dir / "grid.png",
        )
    )
    return written


def sample_pictures(generated: Path) -> tuple[list[Path], list[Path]]:
    """Real photos and paintings from ../shared/data beside the checkout when present (3 contents,
    4 styles), else the generated sample set the model was trained on."""
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"  # checkout/src/stylexfer/demo.py
    contents = [shared / "content" / name for name in ("chicago.jpg", "golden_gate.jpg", "sailboat.jpg")]
    styles = [shared / "style" / name for name in ("mosaic.jpg", "candy.jpg", "la_muse.jpg", "udnie.jpg")]
    if all(path.is_file() for path in contents + styles):
        return contents, styles
    return sorted((generated / "content").glob("*.png"))[:3], sorted((generated / "style").glob("*.png"))[:4]


def _fit(image: torch.Tensor, side: int, square: bool = False) -> torch.Tensor:
    """(3, H, W) scaled so its longer side is at most `side` (or centre-cropped to side×side)."""
    h, w = image.shape[-2:]
    if square:
        scale = side / min(h, w)
        resized = torch.nn.functional.interpolate(
            image[None],
            size=(max(side, round(h * scale)), max(side, round(w * scale))),
            mode="bilinear",
            antialias=True,
        )[0]
        top, left = (resized.shape[1] - side) // 2, (resized.shape[2] - side) // 2
        return resized[:, top : top + side, left : left + side]
    scale = min(1.0, side / max(h, w))
    if scale == 1.0:
        return image
    size = (max(8, round(h * scale)), max(8, round(w * scale)))
    return torch.nn.functional.interpolate(image[None], size=size, mode="bilinear", antialias=True)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylexfer.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("outputs/demo"), help="output folder (default outputs/demo)"
    )
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--crop", type=int, default=64, help="training crop in pixels (default 64)")
    parser.add_argument(
        "--size", type=int, default=256, help="longer side of the stylized pictures (default 256)"
    )
    parser.add_argument(
        "--weights",
        default="auto",
        help="VGG-19: auto (imagenet if it can be had), imagenet, random or a file",
    )
    args = parser.parse_args(argv)
    if argv is None:  # the real program, not a test calling main([...])
        tune_cpu_allocator()
    from stylexfer.training.run import compose_config, run  # Hydra and Lightning only once needed

    started = time.monotonic()
    try:
        weights = pick_vgg_weights(args.weights)
        out = args.out.resolve()
        run_dir = out / "train"
        if run_dir.exists():
            shutil.rmtree(run_dir)  # the demo's own previous run
        overrides = [
            "model=adain",
            f"model.vgg_weights={weights}",
            "optim.lr=1e-3",  # a few hundred steps from scratch: faster than the paper's 1e-4
            "optim.lr_decay=0",
            f"data.resize={args.crop + args.crop // 2}",
            f"data.crop={args.crop}",
            "data.batch_size=4",
            "data.val_size=4",
            "data.num_workers=1",
            "data.sample_images=16",
            f"trainer.max_steps={args.steps}",
            f"trainer.log_every_n_steps={max(1, min(10, args.steps // 2))}",
            f"trainer.val_check_interval={max(1, args.steps // 2)}",
            f"checkpoint.every_n_steps={args.steps}",
            f"checkpoint.last_every_n_steps={max(1, args.steps // 4)}",
        ]
        print(
            f"training AdaIN for {args.steps} steps on the generated sample set "
            f"(VGG-19 weights: {weights}) ...",
            flush=True,
        )
        with warnings.catch_warnings():
            if weights == "random":
                warnings.simplefilter("ignore")  # announced above, once
            result = run(compose_config(overrides), output_dir=run_dir, base_dir=Path.cwd())
        contents, styles = sample_pictures(run_dir / "sample_data_v1")
        written = stylize_with_checkpoint(
            result.last_checkpoint, contents, styles, out / "stylized", max_side=args.size
        )
    except StylexferError as err:
        print(f"stylexfer.demo: error: {err}", file=sys.stderr)
        return 2
    minutes = (time.monotonic() - started) / 60
    print(f"\ndone in {minutes:.1f} min.")
    print(f"  stylized images: {out / 'stylized'} ({len(written) - 1} files, overview: {written[-1]})")
    print(f"  checkpoint:      {result.last_checkpoint}")
    print(f"  TensorBoard:     tensorboard --logdir {run_dir}")
    print(
        f"  try it yourself: .venv/bin/stylexfer stylize {contents[0]} --style {styles[0]} "
        f"--model {result.last_checkpoint} --out {out / 'mine'}"
    )
    if weights == "random":
        print("  (random VGG weights: the pictures show the pipeline working, not style-transfer quality)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
