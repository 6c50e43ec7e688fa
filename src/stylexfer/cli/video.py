"""Video contents of `stylexfer stylize`: `stylexfer stylize clip.mp4 --style s.jpg --model m`.

This module extends the stylize parser (--smooth, --crf) and takes over its handler: content
arguments that are videos (files or globs with a video suffix; a .gif with several frames) are
stylized here, frame by frame, into CLIP__STYLE.<the input's suffix> inside --out (or into --out
itself when it names one video file); everything else goes to `stylize.run_stylize` unchanged.
It imports stylize, never the other way round (no cycle between sibling modules).
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from stylexfer.cli import contents, output, stylize
from stylexfer.cli.options import unit_float, whole_number
from stylexfer.errors import StylexferError, display_path, one_line


def extend_parser(sub: argparse._SubParsersAction) -> None:
    """Add the video options to the (already registered) stylize parser and route its handler here."""
    p = sub.choices["stylize"]
    p.description = (p.description or "") + (
        " Videos (.mp4 .mov .mkv .webm .avi, a .gif with several frames) are stylized frame by frame into "
        "CONTENT__STYLE with the input's suffix (or --out VIDEO): same size, frame rate and frame count, "
        "audio copied; H.264 yuv420p (VP9 for .webm).")
    p.add_argument("--smooth", type=unit_float, default=0.0, metavar="S",
                   help="videos: smooth the per-frame normalisation statistics across frames, 0 (off) .. <1 "
                        "(0.9 = strong); lowers the brightness/colour flicker (default 0)")
    p.add_argument("--crf", type=whole_number, default=None,
                   help="videos: encoder quality, lower is better (H.264 0..51, default 18; VP9 0..63, default 31)")
    p.set_defaults(handler=run)


def split_contents(patterns: list[str]) -> tuple[list[Path], list[str]]:
    """(video files, the other content arguments). A missing file with a video suffix counts as a
    video (the reader says it is missing); globs contribute their video matches, and stay with the
    images as well when they also match images."""
    from stylexfer.files.images import is_image_file
    from stylexfer.files.video import is_video_file

    videos: list[Path] = []
    rest: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            rest.append(pattern)
        elif path.exists() or not glob.has_magic(pattern):
            if is_video_file(path):  # a .gif only when it holds several frames
                videos.append(path)
            else:
                rest.append(pattern)
        else:
            matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
            found = [m for m in matches if m.is_file() and is_video_file(m)]
            videos.extend(found)
            if not found or any(is_image_file(m) and m not in found for m in matches):
                rest.append(pattern)
    return videos, rest


def run(args: argparse.Namespace) -> int:
    """The stylize handler: images as before, videos here; exit 2 when anything failed."""
    videos, rest = split_contents(args.content)
    if not videos:
        return stylize.run_stylize(args)
    jobs = _plan(args, videos, rest)
    code = 0
    if rest:
        images = argparse.Namespace(**vars(args))
        images.content = rest
        code = stylize.run_stylize(images)
    return max(code, _run_videos(args, jobs, total=len(videos) + len(rest)))


def _plan(args: argparse.Namespace, videos: list[Path], rest: list[str]) -> list[tuple[Path, Path | None, str]]:
    """(source, target or None when refused, refusal message) per video, decided before any work."""
    from stylexfer.files.video import VIDEO_SUFFIXES, check_crf
    from stylexfer.inference import check_smooth

    check_smooth(args.smooth)
    if args.size is not None or args.max_size is not None:
        raise StylexferError("--size and --max-size resize images; video frames keep their size "
                             "(drop them, or run the videos separately)")
    out, single = contents.output_place(args, VIDEO_SUFFIXES, len(videos) + len(rest), "video")
    plan = contents.plan_targets(
        args, out, [contents.ContentItem(source) for source in videos],
        lambda item: item.path.suffix.lower(), single=single)  # a video's own suffix (split_contents)
    for _, target, _ in plan:
        if target is not None:
            check_crf(args.crf, target.suffix)  # the same for every video of one suffix: stops the run
    return [(item.path, target, message) for item, target, message in plan]


def _run_videos(args: argparse.Namespace, jobs: list[tuple[Path, Path | None, str]], *, total: int) -> int:
    import time

    from tqdm import tqdm

    from stylexfer.inference import FrameStream, stylize_video

    failures = [stylize.Failure(str(source), message) for source, target, message in jobs if target is None]
    todo = [(source, target) for source, target, _ in jobs if target is not None]
    written: list[Path] = []
    if todo:
        request = stylize._request(args)
        stylizer, request = stylize.open_stylizer(args, request)
        codes = stylize.encoded_styles(args, stylizer)  # once for every video
    for source, target in todo:
        assert target is not None
        bars: list = []

        def started(info, source=source, bars=bars) -> None:  # noqa: ANN001
            bars.append(tqdm(total=info.expected_frames or None, unit="frame", file=sys.stderr,
                             disable=args.quiet, dynamic_ncols=True, desc=display_path(source.name), leave=False))

        def progress(done: int, expected: int, bars=bars) -> None:  # noqa: ANN001
            bars[0].update(done - bars[0].n)

        started_at = time.perf_counter()
        try:
            stream = FrameStream(stylizer, request, codes, smooth=args.smooth)
            report = stylize_video(source, target, stream, batch_size=args.batch_size, crf=args.crf,
                                   overwrite=args.overwrite, progress=progress, started=started)
        except StylexferError as err:
            failures.append(stylize.Failure(str(source), err.render(args.flag_names)))
            continue
        except OSError as err:
            failures.append(stylize.Failure(
                str(source), f"{display_path(target)}: cannot write ({err.strerror or one_line(err)})"))
            continue
        except (RuntimeError, MemoryError) as err:  # e.g. out of memory on huge frames
            failures.append(stylize.Failure(
                str(source), f"{display_path(source)}: stylizing failed ({one_line(err, with_type=True)})"))
            continue
        finally:
            for bar in bars:
                bar.close()
        written.append(target)
        output.emit(args, input=source, output=target, model=args.model, seconds=time.perf_counter() - started_at,
                    frames=report.frames, flicker=round(report.flicker, 3))
        if args.timings:
            _print_timings(source, report, args.smooth)
    for failure in failures:
        if total == 1:
            raise StylexferError(failure.message)  # main writes its --json error line
        print(f"stylexfer: error: {failure}", file=sys.stderr)
        output.emit(args, input=failure.source, model=args.model, error=failure.message)
    if failures:
        print(f"stylexfer: {len(failures)} of {len(jobs)} video(s) failed; {len(written)} written",
              file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"stylized {len(written)} video(s): {', '.join(display_path(w) for w in written)}", file=sys.stderr)
    return 0


def _print_timings(source: Path, report, smooth: float) -> None:  # noqa: ANN001 (a VideoReport)
    fps = report.frames / report.network_s if report.network_s else 0.0
    print(f"stylexfer: timings: {display_path(source.name)}: {report.frames} frames, network {report.network_s:.2f} s "
          f"({fps:.1f} frames/s), decode {report.decode_s:.2f} s, encode {report.encode_s:.2f} s "
          f"(decode+encode {100 * report.io_share:.1f} %); flicker {report.flicker:+.2f}/255 (output change "
          f"{report.output_change:.2f}, input change {report.input_change:.2f}; --smooth {smooth:g})",
          file=sys.stderr)
