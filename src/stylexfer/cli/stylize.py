"""`stylexfer stylize`: collect inputs, name outputs safely (files/naming.py), stylize with one encoded style, report.

Outputs are always written inside the output folder: names are built from sanitised stems only
(no path components, no "..", no control or bidi characters), and the final path is checked to
resolve inside the folder. An existing output is never replaced without --overwrite.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stylexfer.cli import output
from stylexfer.cli.contents import ContentItem, collect_contents, output_place, plan_targets
from stylexfer.cli.options import add_device_and_precision, positive_int, tile_option, unit_float
from stylexfer.errors import StylexferError, display_path, one_line

DEFAULT_OUT = "outputs/stylized"
STDIO = "-"  # CONTENT "-": one image from stdin, written to stdout
MAX_STDIN_BYTES = 1 << 30  # one picture; more is not an image stream


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize",
        help="stylize images with a trained or imported model",
        description="Stylize CONTENT images (files, folders searched recursively, or globs) with a model. "
        "Outputs are named CONTENT__STYLE.png (fixed-style models: CONTENT__MODEL.png) inside --out.",
    )
    p.add_argument(
        "content", nargs="+", metavar="CONTENT",
        help="image files, folders (recursive) or globs; - reads one image from stdin and writes the "
        "result to stdout (PNG unless --ext)",
    )
    p.add_argument(
        "--model", "-m", required=True, help="model: .ckpt, .safetensors or fast-neural-style .pth"
    )
    p.add_argument(
        "--style",
        "-s",
        nargs="+",
        default=[],
        metavar="STYLE",
        help="style image(s) (models that take a style)",
    )
    p.add_argument(
        "--out",
        "-o",
        default=DEFAULT_OUT,
        help="output folder, or a file name (its suffix picks the format) for one content image "
        "(default: outputs/stylized)",
    )
    p.add_argument("--alpha", type=unit_float, default=1.0, help="style strength 0..1 (default 1)")
    p.add_argument(
        "--style-weights",
        type=unit_float,
        nargs="+",
        metavar="W",
        help="interpolation weights, one per style (normalised to sum 1)",
    )
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--mask", help="mask image: one grey level per style; brightest = first style")
    p.add_argument(
        "--size", type=positive_int, help="resize content so its shorter side is SIZE px"
    )
    p.add_argument(
        "--max-size", type=positive_int, help="shrink content so its longer side is at most this"
    )
    p.add_argument(
        "--style-size",
        type=positive_int,
        default=512,
        help="shrink styles so their shorter side is at most this before encoding (default 512)",
    )
    add_device_and_precision(p)  # --timings prints the precision chosen
    p.add_argument(
        "--batch-size", type=positive_int, default=1, help="stylize equal-sized images together"
    )
    p.add_argument(
        "--tile",
        type=tile_option,
        default="auto",
        help="auto (tile images over 2 MP), on, off, or a tile size in px (default auto)",
    )
    p.add_argument("--ext", default=".png", help="output format inside a folder (default .png)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--timings", action="store_true", help="print the time spent inside the networks (stderr)"
    )
    output.add_json_option(p, input="content", model="model")
    # the API names the style images `styles`
    p.set_defaults(handler=run_stylize, json_subject=_subject, field_flags={"styles": "--style"})


def _subject(args: argparse.Namespace) -> dict[str, object]:
    """A whole-run --json error line: the arguments it was about."""
    content = args.content[0] if len(args.content) == 1 else args.content
    return {"input": content, "model": args.model}


@dataclass(frozen=True)
class Failure:
    """One input that failed (its one-line message), for the report and --json."""

    source: str | None  # the CONTENT it is about; None: not one input (a glob that matched nothing)
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class Plan:
    """Where every content image goes, decided before any work."""

    out: Path
    single_file: bool
    ext: str
    jobs: list[tuple[ContentItem, Path]]
    failures: list[Failure | str]
    total: int


def run_stylize(args: argparse.Namespace) -> int:
    if STDIO in args.content:
        return _stylize_stdio(args)
    request = _request(args)
    plan = _plan_outputs(args)
    stylizer, request = open_stylizer(args, request)
    timer = _Timer()
    codes = encoded_styles(args, stylizer, timer)
    written = _run_jobs(args, plan, stylizer, request, codes, timer)
    return _report(args, plan, written, timer, f"{stylizer.precision} on {stylizer.device}")


def open_stylizer(args: argparse.Namespace, request):  # noqa: ANN001, ANN201 (-> Stylizer, StylizeRequest)
    """Every CLI stylize entry (files, folders, stdin, video) sets up its model here: the one set-up,
    stylexfer.inference.open_model, with --model, --device and the request's --precision; then --mask
    is read into the request (one region per style)."""
    import dataclasses

    from stylexfer.files.images import load_image
    from stylexfer.inference import mask_labels, open_model

    stylizer = open_model(args.model, request, device=args.device)
    if args.mask:
        labels = mask_labels(load_image(args.mask), request.n_styles, name=args.mask)
        request = dataclasses.replace(request, mask=labels)
    return stylizer, request


def _request(args: argparse.Namespace):  # noqa: ANN202 (a StylizeRequest; imported lazily)
    from stylexfer.inference import StylizeRequest

    weights = tuple(args.style_weights) if args.style_weights is not None else None
    return StylizeRequest(alpha=args.alpha, n_styles=len(args.style), style_weights=weights,
                          mask=args.mask, preserve_color=args.preserve_color, size=args.size,
                          max_size=args.max_size, style_size=args.style_size, tile=args.tile,
                          precision=args.precision)


def _plan_outputs(args: argparse.Namespace) -> Plan:
    from stylexfer.files.images import SAVE_FORMATS

    items, errors = collect_contents(args.content)
    if not items:
        raise StylexferError("; ".join(errors) or "no content images given")
    out, single_file = output_place(args, SAVE_FORMATS, len(items), "image")
    ext = _ext(args)
    failures: list[Failure | str] = list(errors)
    jobs: list[tuple[ContentItem, Path]] = []
    for item, target, message in plan_targets(args, out, items, lambda item: ext, single=single_file):
        if target is None:
            failures.append(Failure(str(item.path), message))
        else:
            jobs.append((item, target))
    return Plan(out, single_file, ext, jobs, failures, len(items) + len(errors))


def _ext(args: argparse.Namespace) -> str:
    """--ext with its dot, or a StylexferError naming the formats."""
    from stylexfer.files.images import SAVE_FORMATS

    ext = args.ext if args.ext.startswith(".") else f".{args.ext}"
    if ext.lower() not in SAVE_FORMATS:
        raise StylexferError(
            f"--ext {display_path(args.ext)}: unknown format; use one of {', '.join(sorted(SAVE_FORMATS))}"
        )
    return ext


def encoded_styles(args: argparse.Namespace, stylizer, timer: _Timer | None = None) -> list | None:  # noqa: ANN001
    """--style's pictures read, then encoded once for every content (timed by `timer`); None when
    the model takes no style."""
    from stylexfer.files.images import load_image

    if not args.style:
        return None
    images = [load_image(s, draft_shorter_side=args.style_size) for s in args.style]
    with timer or contextlib.nullcontext():
        return stylizer.encode_styles(images, style_size=args.style_size)


class _Timer:
    """Seconds spent inside the networks (style encoding, stylization), for --timings."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> _Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._start


def _run_jobs(args, plan: Plan, stylizer, request, codes, timer: _Timer) -> list[Path]:  # noqa: ANN001
    """Load, resize, batch equal-sized images, stylize, save; per-image failures go to plan.failures."""
    import torch
    from tqdm import tqdm

    from stylexfer.files.images import ImageMemoryError, load_image, to_tensor
    from stylexfer.inference import resize_image

    bar = tqdm(total=len(plan.jobs), unit="img", file=sys.stderr, disable=args.quiet or len(plan.jobs) < 2,
               dynamic_ncols=True)
    pending: list[tuple[torch.Tensor, Path, Path]] = []
    written: list[Path] = []
    load_seconds: dict[Path, float] = {}

    def done(source: Path, target: Path, seconds: float) -> None:
        output.emit(args, input=source, output=target, model=args.model,
                    seconds=seconds + load_seconds.pop(source, 0.0))

    def flush() -> None:
        if pending:
            _flush(args, pending, stylizer, request, codes, timer, written, plan.failures, done)
            bar.update(len(pending))
            pending.clear()

    for item, target in plan.jobs:
        started = time.perf_counter()
        try:
            image = load_image(item.path, draft_shorter_side=args.size or args.max_size)  # JPEG: decode small
            image = resize_image(image, size=args.size, max_size=args.max_size, name=str(item.path))
            check_stylize_memory(item.path, image.width, image.height)
            tensor = to_tensor(image)
        except ImageMemoryError as err:
            jpeg = item.path.suffix.lower() in (".jpg", ".jpeg") and not args.max_size and not args.size
            hint = "; or pass --max-size 4096 (a JPEG then decodes at 1/2 to 1/8 scale)" if jpeg else ""
            plan.failures.append(Failure(str(item.path), f"{err.render(args.flag_names)}{hint}"))
            bar.update(1)
            continue
        except StylexferError as err:
            plan.failures.append(Failure(str(item.path), err.render(args.flag_names)))
            bar.update(1)
            continue
        except MemoryError:  # the estimate was short: this image fails, the others go on
            plan.failures.append(Failure(str(item.path), f"{display_path(item.path)}: not enough memory for its "
                                         f"{image.width}×{image.height} pixels; pass --max-size 2048 (or less)"))
            bar.update(1)
            continue
        load_seconds[item.path] = time.perf_counter() - started
        if pending and (tensor.shape != pending[0][0].shape or len(pending) >= args.batch_size):
            flush()
        pending.append((tensor, item.path, target))
        if len(pending) >= args.batch_size:
            flush()
    flush()
    bar.close()
    return written


def check_stylize_memory(path: Path, width: int, height: int) -> None:
    """StylexferError suggesting --max-size when stylizing a width×height image (tiled: the README's
    bound) would need more memory than the process may allocate; checked before the image becomes a
    tensor, so one huge photo fails alone and the folder run goes on."""
    from stylexfer.inference.tiling import AUTO_TILE_PIXELS, longer_side_within, tiled_memory_bytes
    from stylexfer.runtime import available_memory

    pixels = width * height
    if pixels <= AUTO_TILE_PIXELS:
        return
    need, available = tiled_memory_bytes(pixels), available_memory()
    if available is not None and need > available:
        raise StylexferError(
            f"{display_path(path)}: stylizing its {width}×{height} pixels needs about {need / 2**20:,.0f} MB, "
            f"more than the {available / 2**20:,.0f} MB of memory available; pass --max-size "
            f"{longer_side_within(width, height, available)} (or less)"
        )


def _flush(args: argparse.Namespace, pending, stylizer, request, codes, timer: _Timer,  # noqa: ANN001
           written: list[Path], failures: list[Failure | str],
           done: Callable[[Path, Path, float], None] | None = None) -> None:
    """Stylize one batch of equal-sized images (one network call) and save each result; done(source,
    target, seconds) after each save, seconds = its share of the batch's network time + its save."""
    import torch

    from stylexfer.files.images import save_image

    batch = torch.stack([t for t, _, _ in pending])
    started = time.perf_counter()
    try:
        with timer:
            result = stylizer.run(request, batch, codes)
    except StylexferError:
        raise  # option errors apply to every image: stop with one line
    except (RuntimeError, MemoryError) as err:  # e.g. out of memory on one huge image
        reason = one_line(err, with_type=True)
        failures.extend(Failure(str(source), f"{display_path(source)}: stylizing failed ({reason})")
                        for _, source, _ in pending)
        return
    share = (time.perf_counter() - started) / len(pending)
    for image, (_, source, target) in zip(result, pending, strict=True):
        saving = time.perf_counter()
        try:
            written.append(save_image(image, target, overwrite=args.overwrite))
        except StylexferError as err:
            failures.append(Failure(str(source), err.render(args.flag_names)))
            continue
        except OSError as err:
            failures.append(Failure(str(source), f"{display_path(target)}: cannot write ({err.strerror or err})"))
            continue
        if done is not None:
            done(source, target, share + time.perf_counter() - saving)


def _report(args: argparse.Namespace, plan: Plan, written: list[Path], timer: _Timer, ran: str) -> int:
    for line in plan.failures:
        print(f"stylexfer: error: {line}", file=sys.stderr)
        source = line.source if isinstance(line, Failure) else None
        output.emit(args, input=source, model=args.model, error=str(line))
    if args.timings:
        print(f"stylexfer: timings: network {timer.seconds:.3f} s (style encoding and stylization; {ran})",
              file=sys.stderr)
    if plan.failures:
        print(f"stylexfer: {len(plan.failures)} of {plan.total} input(s) failed; {len(written)} written to "
              f"{display_path(plan.out)}", file=sys.stderr)
        return 2
    if not args.quiet:
        where = plan.out if plan.single_file else f"{plan.out}/"
        print(f"stylized {len(written)} image(s) into {display_path(where)}", file=sys.stderr)
    return 0


def _stylize_stdio(args: argparse.Namespace) -> int:
    """CONTENT "-": one image read from stdin, stylized, written to stdout (format from --ext) or to
    --out when it names a file. Nothing else goes to stdout: messages stay on stderr."""
    from stylexfer.files.atomic import check_output_path
    from stylexfer.files.images import SAVE_FORMATS, decode_image, encode_image, save_image
    from stylexfer.inference import resize_image

    if args.content != [STDIO]:
        raise StylexferError(f"{STDIO} (stdin) must be the only CONTENT; stylize files and folders separately")
    to_stdout = args.out in (DEFAULT_OUT, STDIO)
    ext = _ext(args) if to_stdout else ""  # --out FILE: its suffix picks the format
    if not to_stdout and Path(args.out).suffix.lower() not in SAVE_FORMATS:
        raise StylexferError(f"--out {display_path(args.out)}: with {STDIO} as CONTENT, --out names one image "
                             f"file ({', '.join(sorted(SAVE_FORMATS))}) or is {STDIO} (stdout)")
    if to_stdout and args.json:
        raise StylexferError(f"--json and the image cannot share stdout: pass --out FILE with {STDIO}")
    stdout = sys.stdout.buffer if to_stdout else None
    if stdout is not None and sys.stdout.isatty():
        raise StylexferError(f"the image would be written to a terminal: redirect stdout "
                             f"(stylexfer stylize {STDIO} ... > out{ext})")
    if not to_stdout:  # before stdin is read and the image stylized
        check_output_path(args.out, overwrite=args.overwrite, create_parents=True, error=StylexferError)
    request = _request(args)
    stylizer, request = open_stylizer(args, request)  # with --precision (this path used to drop it)
    timer = _Timer()
    codes = encoded_styles(args, stylizer, timer)
    data = _read_stdin()
    started = time.perf_counter()
    image = decode_image(data, name="<stdin>", draft_shorter_side=args.size or args.max_size)
    image = resize_image(image, size=args.size, max_size=args.max_size, name="<stdin>")
    with timer:
        result = stylizer.run(request, image, codes)
    if args.timings:
        print(f"stylexfer: timings: network {timer.seconds:.3f} s (style encoding and stylization)",
              file=sys.stderr)
    if stdout is None:
        path = save_image(result, args.out, overwrite=args.overwrite)
        output.emit(args, input=STDIO, output=path, model=args.model, seconds=time.perf_counter() - started)
        return 0
    blob = encode_image(result, ext)  # the whole file first: an encoder error writes nothing
    try:
        stdout.write(blob)
        stdout.flush()
    except (BrokenPipeError, OSError) as err:
        raise StylexferError(f"stdout: cannot write the image ({err.strerror or err})") from None
    return 0


def _read_stdin() -> bytes:
    if sys.stdin is None or sys.stdin.isatty():
        raise StylexferError(f"{STDIO} reads an image from stdin, but stdin is a terminal: pipe one in "
                             f"(stylexfer stylize {STDIO} ... < photo.jpg)")
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise StylexferError(f"<stdin>: over {MAX_STDIN_BYTES >> 20} MB; that is not one image")
    return data
