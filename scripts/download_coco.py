#!/usr/bin/env python
"""Download MS-COCO 2014 images (the content set) and explain how to get Painter by Numbers (styles).

    python scripts/download_coco.py data/coco                 # train2014 (13 GB) and val2014 (6 GB)
    python scripts/download_coco.py data/coco --splits val2014
    python scripts/download_coco.py --dry-run data/coco       # print what would be fetched

A failed download is retried, a zip appears only when complete, and it is extracted once.
Then pre-resize for cheap data loading:

    python scripts/prepare_data.py data/coco/train2014 data/content --size 512
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

from tqdm import tqdm

from stylexfer.files.download import download_file

COCO_URL = "http://images.cocodataset.org/zips/{split}.zip"
SPLITS = ("train2014", "val2014", "test2014")

PAINTER_BY_NUMBERS = """\
Style images: Painter by Numbers (WikiArt), https://www.kaggle.com/c/painter-by-numbers/data
It needs a Kaggle account (the competition's rules must be accepted on the web page once):
    pip install kaggle                     # and put your API token in ~/.kaggle/kaggle.json
    kaggle competitions download -c painter-by-numbers -f train.zip -p data/wikiart
    unzip data/wikiart/train.zip -d data/wikiart
    python scripts/prepare_data.py data/wikiart/train data/style --size 512
Some paintings are over 100 megapixels and a few files are broken: prepare_data.py resizes the
big ones and lists the broken ones; training skips and counts anything unusable.
"""


def download(url: str, target: Path) -> Path:
    """Fetch `url` into `target` (stylexfer's one downloader: length checked, retried, renamed when complete)."""
    return download_file(url, target, timeout=60.0)


def extract(archive: Path, folder: Path) -> None:
    done = folder / f".{archive.stem}.extracted"
    if done.is_file():
        return
    with zipfile.ZipFile(archive) as zipped:
        for member in tqdm(zipped.infolist(), unit="file", desc=f"extracting {archive.name}"):
            zipped.extract(member, folder)
    done.touch()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where to put the zips and images")
    parser.add_argument("--splits", nargs="+", default=["train2014", "val2014"], choices=SPLITS)
    parser.add_argument("--keep-zips", action="store_true", help="keep the zip files after extracting")
    parser.add_argument("--dry-run", action="store_true", help="print what would be downloaded and stop")
    args = parser.parse_args(argv)
    urls = [(split, COCO_URL.format(split=split)) for split in args.splits]
    if args.dry_run:
        for split, url in urls:
            print(f"{url} -> {args.folder / split}/")
        print()
        print(PAINTER_BY_NUMBERS)
        return 0
    args.folder.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(args.folder).free / 1e9
    if free_gb < 45 * len(urls) / 2:
        print(f"warning: only {free_gb:.0f} GB free in {args.folder}; COCO 2014 needs ~40 GB with the zips")
    for split, url in urls:
        try:
            archive = download(url, args.folder / f"{split}.zip")
        except OSError as err:
            print(f"download_coco: error: {url}: {err}; run again", file=sys.stderr)
            return 1
        extract(archive, args.folder)
        if not args.keep_zips:
            archive.unlink()
        print(f"{split}: {args.folder / split}")
    print()
    print(PAINTER_BY_NUMBERS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
