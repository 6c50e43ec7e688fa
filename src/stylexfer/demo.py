"""`make demo` / `python -m stylexfer.demo`: what stylexfer does, in a few minutes on a CPU.

1. Pretrained: fetch the public AdaIN model once (`stylexfer download adain`, cached) and stylize the
   sample photos with several styles into OUT/pretrained/, with a contact sheet. Offline it says so
   in one paragraph (where to put the files) and goes on.
2. Training: a short AdaIN run on the generated sample set (about a minute of CPU time on 2 cores),
   exported to OUT/model.safetensors, which then stylizes the photos into OUT/trained/. It shows the
   pipeline working (data, training, checkpoint, export, stylize); quality needs the full schedule.

The VGG-19 of the training part is ImageNet's when cached or downloadable, else random: the only
place in stylexfer where such a fallback happens, and the demo says so.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import shutil
import socket
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from stylexfer.errors import StylexferError, WeightsError, one_line
from stylexfer.files.download import default_cache_dir, fetch_model, public_models, takes_style
from stylexfer.files.folders import folder_is_own
from stylexfer.files.images import load_image, save_image, to_tensor
from stylexfer.inference import load_model, resize_image
from stylexfer.inference.sheet import compose_sheet
from stylexfer.nets.vgg import imagenet_weights_file, load_weights
from stylexfer.runtime import handle_interrupts, interrupt_exit_code, tune_cpu_allocator

ADAIN_RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/tag/v0.0.0"
NETWORK_TIMEOUT_S = 20  # an offline machine should not wait minutes for a connection
# Layout of OUT, relative to it (the README names these paths; tests check they are written).
PRETRAINED_DIR, TRAINED_DIR, RUN_DIR = "pretrained", "trained", "train"
MODEL_FILE, SHEET_FILE = "model.safetensors", "sheet.png"
# Written into OUT on the first run: the demo made this folder, so later runs may replace its results.
MARKER = ".stylexfer-demo"
FULL_SCHEDULE = (
    "python -m stylexfer.train model=adain trainer=gpu data.content_dir=YOUR_PHOTOS "
    "data.style_dir=YOUR_PAINTINGS"
)
# Estimated, not measured (no GPU here): the benchmark's 1.75 TFLOP per step (batch 8, 256²) × 150,000
# steps ≈ 2.6e17 FLOP: ~45 min at a sustained 100 TFLOP/s (bf16, H100 class), ~2.5 h at 30 TFLOP/s.
FULL_SCHEDULE_TIME = "150,000 steps: an estimated 1-3 hours on one current GPU, given enough loader workers"


def say(text: str) -> None:
    """One paragraph on stdout, wrapped for a 100-column terminal (paths and commands stay whole)."""
    print(textwrap.fill(" ".join(text.split()), width=100, break_long_words=False, break_on_hyphens=False), flush=True)


@contextlib.contextmanager
def network_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def shown(path: Path) -> str:
    """`path` relative to the current folder when it lies inside it (what a user types), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def pretrained_name() -> str:
    """The public model the tour shows: the first download that stylizes with any style (AdaIN's)."""
    return next(name for name, entry in public_models().items() if takes_style(entry))


def fetch_pretrained(cache_dir: Path | None) -> tuple[Path | None, str]:
    """The public arbitrary-style model as our .safetensors (downloaded and imported once, then cached),
    or (None, the reason in one line)."""
    try:
        with network_timeout(NETWORK_TIMEOUT_S):
            return fetch_model(pretrained_name(), cache_dir=cache_dir, progress=True), ""
    except StylexferError as err:
        return None, str(err).split("; ")[0]  # the cause; the demo itself says what to do


def pick_vgg_weights(requested: str = "auto") -> tuple[str, str]:
    """(weights, reason): "imagenet" when torchvision's VGG-19 file is cached or can be downloaded now,
    else "random" with the reason in one line. `requested` other than "auto" is used as given."""
    if requested != "auto":
        return requested, ""
    if imagenet_weights_file("vgg19").is_file():
        return "imagenet", ""
    print("downloading ImageNet VGG-19 weights for the training part (548 MB, once) ...", flush=True)
    try:
        with network_timeout(NETWORK_TIMEOUT_S):
            load_weights("vgg19", "imagenet")
        return "imagenet", ""
    except WeightsError as err:
        return "random", str(err).split(";")[0]


def sample_pictures(generated: Path) -> tuple[list[Path], list[Path]]:
    """The first 3 contents and 4 styles of the generated sample set."""
    return sorted((generated / "content").glob("*.png"))[:3], sorted((generated / "style").glob("*.png"))[:4]


def stylize_grid(
    model: str | Path, contents: list[Path], styles: list[Path], out_dir: Path, *, max_side: int
) -> dict[tuple[Path, Path], Path]:
    """Every content with every style through the inference API that `stylexfer stylize` and the GUI
    use (each style encoded once); writes OUT_DIR/<content>__<style>.png and returns them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights are announced once, by the demo itself
        stylizer = load_model(model, device="auto")
    # Styles at the pictures' scale: the brush strokes then have the size they have in the painting.
    codes = stylizer.encode_styles(styles, style_size=max_side)
    written = {}
    for content_path in contents:
        content = to_tensor(resize_image(load_image(content_path), max_size=max_side))
        for style_path, code in zip(styles, codes, strict=True):
            output = stylizer.stylize(content, [code])
            target = out_dir / f"{content_path.stem}__{style_path.stem}.png"
            written[content_path, style_path] = save_image(output, target)
    return written


def contact_sheet(
    contents: list[Path], styles: list[Path], pictures: dict[tuple[Path, Path], Path], path: Path,
    *, tile: int = 160,
) -> Path:
    """One picture: styles across the top, each content down the left, its stylizations beside it,
    every tile labelled: the same sheet `stylexfer sheet` draws (stylexfer.inference.sheet)."""
    rows = [(c.stem, load_image(c, draft_shorter_side=tile)) for c in contents]
    columns = [(s.stem, load_image(s, draft_shorter_side=tile)) for s in styles]
    cells = [[load_image(pictures[c, s]) for s in styles] for c in contents]
    return save_image(compose_sheet(rows, columns, cells, tile_size=tile), path)


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the data-loader workers)."""
    usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stylexfer.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder (default outputs/demo)")
    parser.add_argument(
        "--pretrained", choices=("auto", "off"), default="auto",
        help="auto: fetch the public AdaIN model once (cached) and stylize with it; off: training part only",
    )
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the pretrained model is cached (default ~/.cache/stylexfer or $STYLEXFER_CACHE)")
    parser.add_argument("--size", type=int, default=512,
                        help="longer side of the pretrained model's pictures (default 512)")
    parser.add_argument("--steps", type=int, default=50, help="training steps (default 50)")
    parser.add_argument("--crop", type=int, default=64, help="training crop in pixels (default 64)")
    parser.add_argument("--trained-size", type=int, default=256,
                        help="longer side of the trained model's pictures (default 256)")
    parser.add_argument("--weights", default="auto",
                        help="VGG-19 of the training part: auto (imagenet if it can be had), imagenet, random, a file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:  # the real program, not a test calling main([...])
        tune_cpu_allocator()
        handle_interrupts()  # SIGTERM stops like Ctrl-C
    started = time.monotonic()
    out = args.out.resolve()
    try:
        claim_output(out)  # before the slow imports: a refusal is immediate
        return _demo(args, out, started)
    except StylexferError as err:
        print(f"stylexfer.demo: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM: 130 or 143, with what was kept
        print(f"stylexfer.demo: {getattr(err, 'message', '') or 'interrupted'}", file=sys.stderr)
        return interrupt_exit_code(err)


def claim_output(out: Path) -> None:
    """Make `out` the demo's folder, or refuse before anything is written: the demo replaces its own
    results there (it removes RUN_DIR and rewrites the model and pictures), so a folder holding anything
    else it did not make is never used. Accepted: a new or empty folder, one with the demo's MARKER, or
    an earlier demo's folder from before the marker (only the demo's names, and the generated sample set
    inside RUN_DIR)."""
    def earlier_demo(folder: Path, names: set[str]) -> bool:  # sample set: training.data.sample_data
        demo_names = {PRETRAINED_DIR, TRAINED_DIR, RUN_DIR, MODEL_FILE}
        return names <= demo_names and any((folder / RUN_DIR).glob("sample_data_v*"))

    folder_is_own(
        out,
        markers=(MARKER,),
        earlier=earlier_demo,
        what=f"--out {shown(out)}",
        owner="the demo",
        advice="the demo replaces its own results in its folder, so give it a new or empty one "
        "(the default is outputs/demo)",
        error=StylexferError,
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("made by python -m stylexfer.demo, which may replace its own results here\n")
    except OSError as err:
        raise StylexferError(f"--out {shown(out)} cannot be written ({one_line(err)}); choose another folder") from err


def _demo(args: argparse.Namespace, out: Path, started: float) -> int:
    from stylexfer.files.export import export_model
    from stylexfer.training.data import sample_data  # Lightning and Hydra only once needed
    from stylexfer.training.run import compose_config, run

    run_dir = out / RUN_DIR
    if run_dir.exists():
        shutil.rmtree(run_dir)  # the demo's own previous run (claim_output checked the folder is the demo's)
    sample_images = 16
    contents, styles = sample_pictures(sample_data(run_dir, count=sample_images)[0].parent)

    # ---- 1. the public pretrained model
    pretrained, reason = (None, "") if args.pretrained == "off" else fetch_pretrained(args.cache_dir)
    pretrained_sheet = None
    if pretrained is not None:
        print(f"\nPretrained AdaIN model ({shown(pretrained)}): stylizing {len(contents)} photos with "
              f"{len(styles)} styles at {args.size} px ...", flush=True)
        t0 = time.monotonic()
        pictures = stylize_grid(pretrained, contents, styles, out / PRETRAINED_DIR, max_side=args.size)
        pretrained_sheet = contact_sheet(contents, styles, pictures, out / PRETRAINED_DIR / SHEET_FILE, tile=192)
        print(f"  {len(pictures)} pictures and a contact sheet in {shown(out / PRETRAINED_DIR)}/ "
              f"({time.monotonic() - t0:.0f} s)", flush=True)

    # ---- 2. a short training run
    weights, vgg_reason = pick_vgg_weights(args.weights)
    offline = pretrained is None and args.pretrained != "off"
    vgg_file = f"put vgg19-dcbb9e9d.pth in {imagenet_weights_file('vgg19').parent}/"
    no_vgg = ""
    if weights == "random" and vgg_reason:  # offline: the same cause as above, no need to repeat it
        no_vgg = f"no ImageNet VGG-19 weights {'either (' if offline else f'({vgg_reason}; '}{vgg_file})"
    if offline:
        cache = args.cache_dir or default_cache_dir()
        print()
        say(
            f"No pretrained model: the public AdaIN weights could not be fetched ({reason}). To see real "
            f"style transfer, download vgg_normalised.pth and decoder.pth from {ADAIN_RELEASE} on a "
            f"machine with internet, put both in {cache / 'downloads'}/ and run `make demo` again (it "
            f"imports them into {cache / (pretrained_name() + '.safetensors')}). "
            + (f"There are {no_vgg}, so the training part uses random VGG weights. " if no_vgg else "")
            + "Until then the demo only trains a tiny model, and its pictures show that the pipeline "
            "runs, not what style transfer looks like."
        )
    elif no_vgg:
        print()
        say(f"There are {no_vgg}, so the training part uses random VGG weights: the trained model's pictures "
            "show that the pipeline runs, nothing more.")
    print()
    say(
        f"Training AdaIN for {args.steps} steps on {args.crop}-pixel crops of the generated sample set "
        f"(VGG-19 weights: {weights}). This shows the pipeline working (data, training, checkpoints, "
        f"TensorBoard, export, stylizing); it is far too short for quality, which needs the full "
        f"schedule on your own photos and paintings: `{FULL_SCHEDULE}` ({FULL_SCHEDULE_TIME})."
    )
    t0, cpu0 = time.monotonic(), cpu_seconds()
    overrides = [
        "model=adain",
        f"model.vgg_weights={weights}",
        "optim.lr=1e-3",  # a few dozen steps from scratch: faster than the paper's 1e-4
        "optim.lr_decay=0",
        f"data.resize={args.crop + args.crop // 2}",
        f"data.crop={args.crop}",
        "data.batch_size=4",
        "data.val_size=4",
        "data.num_workers=1",
        f"data.sample_images={sample_images}",
        f"trainer.max_steps={args.steps}",
        f"trainer.log_every_n_steps={max(1, min(10, args.steps // 2))}",
        f"trainer.val_check_interval={args.steps}",  # one validation, at the end: images in TensorBoard
        "trainer.num_sanity_val_steps=0",
        f"checkpoint.every_n_steps={args.steps}",
        f"checkpoint.last_every_n_steps={max(1, args.steps // 4)}",
    ]
    with warnings.catch_warnings():
        if weights == "random":
            warnings.simplefilter("ignore")  # announced above, once
        result = run(compose_config(overrides), output_dir=run_dir, base_dir=Path.cwd())
        model = out / MODEL_FILE
        export_model(result.last_checkpoint, model, overwrite=True)  # the demo's own file of the last run
    trained_styles = styles[:2]  # enough to see the pipeline; the minute goes to training
    pictures = stylize_grid(model, contents, trained_styles, out / TRAINED_DIR, max_side=args.trained_size)
    contact_sheet(contents, trained_styles, pictures, out / TRAINED_DIR / SHEET_FILE)
    train_wall, train_cpu = time.monotonic() - t0, cpu_seconds() - cpu0

    print(f"\ndone in {(time.monotonic() - started) / 60:.1f} min; the training part took {train_wall:.0f} s "
          f"({train_cpu:.0f} s of CPU time: training, export, {len(pictures)} pictures).")
    if pretrained_sheet is not None:
        print(f"  pretrained:     {shown(out / PRETRAINED_DIR)}/ (contact sheet {shown(pretrained_sheet)})")
    print(f"  trained model:  {shown(model)} (checkpoint {shown(result.last_checkpoint)})")
    print(f"  its pictures:   {shown(out / TRAINED_DIR)}/ (contact sheet {shown(out / TRAINED_DIR / SHEET_FILE)})"
          + (" - the pipeline only: random VGG weights" if weights == "random" else ""))
    print(f"  TensorBoard:    tensorboard --logdir {shown(run_dir)}")
    print("next, with the virtual environment active (source .venv/bin/activate):")
    photo, painting = shown(contents[0]), shown(styles[0])
    print(f"  stylexfer stylize {photo} --style {painting} --model {shown(model)} --out outputs/mine/")
    if pretrained is not None:
        print(f"  stylexfer stylize YOUR_PHOTO.jpg --style {painting} --model {shown(pretrained)} --out outputs/mine/")
    print(f"  stylexfer gui --model {shown(pretrained or model)} --content {photo} --style {painting}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
