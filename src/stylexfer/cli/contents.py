"""What `stylize` and `sheet` read and where `stylize` and `video` write: CONTENT arguments (files, folders
searched recursively, globs) as items, and each item's output path inside the output folder."""

from __future__ import annotations

import argparse
import glob
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from stylexfer.errors import StylexferError, display_path
from stylexfer.files.naming import MAX_FILE_NAME_BYTES, output_name, sanitize_component


@dataclass
class ContentItem:
    path: Path
    subdir: tuple[str, ...] = ()  # sanitised folders below the folder the user named


def collect_contents(patterns: list[str]) -> tuple[list[ContentItem], list[str]]:
    """Files as given, folders searched recursively for image suffixes, globs expanded (also when the
    shell did not). Returns the items in a stable order and one error line per missing input."""
    from stylexfer.files.images import images_under, is_image_file

    items: list[ContentItem] = []
    errors: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = images_under(path)
            if not found:
                errors.append(f"{path}: folder holds no images (.jpg, .png, .webp, …)")
            for file in found:
                rel = file.parent.relative_to(path).parts
                items.append(
                    ContentItem(file, tuple(sanitize_component(part, "folder") for part in rel))
                )
        elif path.exists() or not glob.has_magic(pattern):
            items.append(ContentItem(path))  # a missing file fails later with the loader's message
        else:
            matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
            files = [m for m in matches if m.is_file() and is_image_file(m)]
            if not files:
                errors.append(f"{pattern}: no image files match")
            items.extend(ContentItem(m) for m in files)
    return items, errors


def output_place(args: argparse.Namespace, formats: Collection[str], count: int, kind: str) -> tuple[Path, bool]:
    """--out as (path, single): a file name whose suffix is one of `formats` when one content is given,
    else a folder (also any path ending in /). Refused with one line before any work: several contents
    for one file, an unknown suffix, an overlong file name, a file where the folder should be, a
    folder that cannot be made or written."""
    from stylexfer.files.atomic import check_output_folder

    out = Path(args.out)
    shown = display_path(out)
    folder = out.is_dir() or str(args.out).endswith(("/", os.sep))  # whatever its name (x.v2, photos.png)
    single = not folder and out.suffix.lower() in formats
    if single and count != 1:
        raise StylexferError(f"--out {shown} is a file name but {count} contents were given; pass a folder instead")
    if not folder and not single and out.suffix:
        raise StylexferError(f"--out {shown}: unknown {kind} format {out.suffix!r}; use one of "
                             f"{', '.join(sorted(formats))}, or end it with / for a folder")
    if single and len(out.name.encode("utf-8")) > MAX_FILE_NAME_BYTES:
        raise StylexferError(f"--out {shown}: file name over {MAX_FILE_NAME_BYTES} bytes; use a shorter one")
    if out.exists() and not out.is_dir() and not single:
        raise StylexferError(f"--out {shown} exists and is not a folder")
    check_output_folder(out.parent if single else out, create=True, error=StylexferError)
    return out, single


Planned = tuple[ContentItem, Path | None, str]  # (item, its output or None, the line that refuses it)


def plan_targets(args: argparse.Namespace, out: Path, items: list[ContentItem], ext: Callable[[ContentItem], str],
                 *, single: bool) -> list[Planned]:
    """Each item's output file, out/subdirs/CONTENT__STYLE1+STYLE2.ext (fixed-style models:
    CONTENT__MODEL.ext; `out` itself when `single`), decided before any work: refused with one line
    when its name would leave the folder, when two items share a name, or when it exists (a dangling
    link too) without --overwrite."""
    tags = [Path(s).stem for s in args.style] if args.style else [Path(args.model).stem]
    root = out.resolve()
    planned: dict[Path, Path] = {}
    plan: list[Planned] = []
    for item in items:
        target = out if single else out.joinpath(*item.subdir, output_name(item.path.stem, tags, ext(item)))
        message = ""
        if not target.resolve().is_relative_to(root):
            message = (f"{display_path(item.path)}: output name {display_path(target)} would leave the output "
                       f"folder {display_path(out)}; refused")
        elif target in planned:
            message = (f"{display_path(item.path)}: same output name as {display_path(planned[target])} "
                       f"({display_path(target.name)}); rename one")
        elif (target.exists() or target.is_symlink()) and not args.overwrite:
            message = f"{display_path(target)}: already exists; pass --overwrite to replace it"
        else:
            planned[target] = item.path
        plan.append((item, None if message else target, message))
    return plan
