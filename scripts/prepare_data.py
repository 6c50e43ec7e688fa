#!/usr/bin/env python
"""Pre-resize a folder of training images so that their shorter side is at most --size (512).

    python scripts/prepare_data.py data/raw/train2014 data/coco --size 512 --workers 8

Training resizes every image to a shorter side of 512 before cropping; a WikiArt painting can be
100 megapixels and a COCO photo is ~640×480 JPEG, so doing the resize once, up front, makes data
loading several times cheaper. The folder structure is kept, every output is a JPEG (quality 95),
images are never upscaled, files already converted are skipped (so an interrupted run resumes),
and unusable files (corrupt, truncated, empty, not images) are counted and listed, not fatal.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from stylexfer.errors import ImageError, one_line
from stylexfer.files.images import is_image_file, load_image, save_image

MAX_PIXELS = 1_000_000_000  # paintings up to a gigapixel are resized here rather than refused in training


def convert(job: tuple[str, str, int]) -> tuple[str, str, str]:
    """(source, destination, size) -> (status, source, detail); status: written | exists | unusable."""
    source, destination, size = job
    if Path(destination).is_file():
        return "exists", source, ""
    try:
        image = load_image(source, draft_shorter_side=size, max_pixels=MAX_PIXELS)
        scale = size / min(image.size)
        if scale < 1.0:
            image = image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                Image.Resampling.LANCZOS,
            )
        save_image(image, destination)  # atomic: an interrupted run never leaves half a file
        return "written", source, ""
    except (ImageError, OSError) as err:
        return "unusable", source, one_line(err)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder of images (searched recursively)")
    parser.add_argument("destination", type=Path, help="output folder (same structure, .jpg files)")
    parser.add_argument("--size", type=int, default=512, help="shorter side in pixels (default 512)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.source.is_dir():
        print(f"prepare_data: error: {args.source} is not a folder", file=sys.stderr)
        return 2
    if args.size < 8 or args.workers < 1:
        print("prepare_data: error: --size must be >= 8 and --workers >= 1", file=sys.stderr)
        return 2
    sources = sorted(p for p in args.source.rglob("*") if p.is_file() and is_image_file(p))
    jobs = [
        (str(p), str((args.destination / p.relative_to(args.source)).with_suffix(".jpg")), args.size)
        for p in sources
    ]
    counts = {"written": 0, "exists": 0, "unusable": 0}
    problems: list[str] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = pool.map(convert, jobs, chunksize=16)
        for status, _source, detail in tqdm(results, total=len(jobs), unit="img", desc="resizing"):
            counts[status] += 1
            if detail:
                problems.append(detail)
    for line in problems[:20]:
        print(f"  unusable: {line}")
    if len(problems) > 20:
        print(f"  ... and {len(problems) - 20} more")
    print(
        f"{len(jobs)} images: {counts['written']} written, {counts['exists']} already there, "
        f"{counts['unusable']} unusable -> {args.destination}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
