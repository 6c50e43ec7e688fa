"""What `stylize` and `sheet` read and where `stylize` and `video` write: CONTENT arguments (files, folders
searched recursively, globs) as items, and each item's output path inside the output folder."""

from __future__ import annotations

import glob
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from stylexfer.errors import StylexferError, display_path
from stylexfer.files.naming import output_name, sanitize_component


@dataclass
class ContentItem:
    path: Path
    subdir: tuple[str, ...] = ()  # sanitised folders below the folder the user named


def collect_contents(patterns: list[str]) -> tuple[list[ContentItem], list[str]]:
    """Files as given, folders searched recursively for image suffixes, globs expanded (also when the
    shell did not). Returns the items in a stable order and one error line per missing input."""
    from stylexfer.files.images import is_image_file

    items: list[ContentItem] = []
    errors: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
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


def output_path(out_dir: Path, item: ContentItem, tags: list[str], ext: str) -> Path:
    """out_dir / subdirs / CONTENT__TAG1+TAG2.ext, guaranteed to resolve inside out_dir."""
    target = out_dir.joinpath(*item.subdir, output_name(item.path.stem, tags, ext))
    root = out_dir.resolve()
    if not target.resolve().is_relative_to(root):
        raise StylexferError(
            f"{display_path(item.path)}: output name {display_path(target)} would leave the output folder "
            f"{display_path(out_dir)}; refused"
        )
    return target


Planned = tuple[ContentItem, Path | None, str]  # (item, its output or None, the line that refuses it)


def plan_targets(out: Path, items: list[ContentItem], tags: list[str], ext: Callable[[ContentItem], str], *,
                 single: bool, overwrite: bool, flag_names: Mapping[str, str]) -> list[Planned]:
    """Each item's output file (`out` itself when `single`), decided before any work: refused with one
    line when its name would leave the folder, when two items share a name, or when it exists (a
    dangling link too) without --overwrite."""
    planned: dict[Path, Path] = {}
    plan: list[Planned] = []
    for item in items:
        try:
            target = out if single else output_path(out, item, tags, ext(item))
        except StylexferError as err:
            plan.append((item, None, err.render(flag_names)))
            continue
        message = ""
        if target in planned:
            message = (f"{display_path(item.path)}: same output name as {display_path(planned[target])} "
                       f"({display_path(target.name)}); rename one")
        elif (target.exists() or target.is_symlink()) and not overwrite:
            message = f"{display_path(target)}: already exists; pass --overwrite to replace it"
        else:
            planned[target] = item.path
        plan.append((item, None if message else target, message))
    return plan
