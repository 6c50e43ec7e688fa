"""Contact sheets: one picture comparing styles (or fixed-style models) on several contents.

Rows are contents, columns styles: the first row shows the style images (a fixed-style model's
column shows its name), the first column the contents, and cell (row, column) is that content
stylized with that column. Every tile has a label strip below it with its file stem, cut with "…"
to fit. Used by `stylexfer sheet`, the demo's sheet.png, and anything else that wants the grid.

- :func:`compose_sheet` is the pure Pillow part: labelled tiles in, one RGB image out.
- :func:`sheet_columns` encodes each column's style once; :func:`stylize_sheet` stylizes every
  content (shrunk to the tile first, so a sheet costs rows × columns tile-sized runs) and composes.

Geometry (:class:`SheetLayout`): tiles of tile_size², each with a label strip of label_height below,
gap px between cells and around the sheet: width = cols·tile + (cols + 1)·gap, height =
rows·(tile + label) + (rows + 1)·gap, with rows and cols counting the header row and column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from stylexfer.errors import printable
from stylexfer.files.images import resample, to_pil, to_tensor
from stylexfer.inference.request import DEFAULT_STYLE_SIZE
from stylexfer.inference.stylizer import Stylizer
from stylexfer.nets.codes import StyleCode

SHEET_TILE_SIZE = 256  # `stylexfer sheet --tile-size` default
MIN_SHEET_TILE = 32
BACKGROUND = (255, 255, 255)
LABEL_BACKGROUND = (32, 32, 32)
LABEL_COLOUR = (255, 255, 255)
MISSING = (200, 200, 200)  # a cell without a picture
Labelled = tuple[str, Image.Image | None]  # (label, picture); None: a label on an empty tile


@dataclass(frozen=True)
class SheetLayout:
    """Where each tile and label goes; see the module docstring for the formula."""

    tile: int
    label: int
    gap: int

    @classmethod
    def for_tile(cls, tile: int) -> SheetLayout:
        font = label_font(tile)
        top, bottom = font.getbbox("Hgjy…")[1::2]
        return cls(tile, int(bottom - top) + 2 * max(2, tile // 64), max(2, tile // 64))

    def size(self, rows: int, cols: int) -> tuple[int, int]:
        return (cols * self.tile + (cols + 1) * self.gap,
                rows * (self.tile + self.label) + (rows + 1) * self.gap)

    def origin(self, row: int, col: int) -> tuple[int, int]:
        """Top-left corner of the tile in (row, col); its label strip lies just below."""
        return (self.gap + col * (self.tile + self.gap), self.gap + row * (self.tile + self.label + self.gap))


@lru_cache(maxsize=16)
def label_font(tile: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at about 7 % of the tile (at least 10 px): readable at 256 px."""
    size = max(10, round(tile * 0.07))
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def fit_label(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    """`text` (control characters escaped) cut with "…" so it is at most `width` px wide."""
    text = printable(text)
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def fit_tile(image: Image.Image, tile: int) -> Image.Image:
    """Scaled, aspect kept, so its longer side is `tile` (shrunk with Lanczos, enlarged bicubic)."""
    scale = tile / max(image.size)
    return resample(image, (max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def compose_sheet(
    contents: Sequence[Labelled],
    columns: Sequence[Labelled],
    cells: Sequence[Sequence[Image.Image | None]],
    *,
    tile_size: int = SHEET_TILE_SIZE,
    row_labels: str = "column",
) -> Image.Image:
    """The sheet: header row `columns`, then one row per content, cells[i][j] = content i, column j.
    Pictures are fitted into their tiles (centred, aspect kept); a None cell is a grey tile.
    row_labels "column": the contents are a header column (picture and label; the top-left tile
    stays empty). "above": no header column; each content's label, wrapped in full over as many
    lines as it needs, is a strip above its row (the sweep report's grid: long labels, no margin)."""
    if len(cells) != len(contents) or any(len(row) != len(columns) for row in cells):
        raise ValueError(f"cells must be {len(contents)} rows × {len(columns)} columns")
    if row_labels not in ("column", "above"):
        raise ValueError(f"row_labels must be 'column' or 'above', got {row_labels!r}")
    layout = SheetLayout.for_tile(tile_size)
    font = label_font(tile_size)
    tile, gap = tile_size, layout.gap
    margin = max(2, tile_size // 64)
    above = row_labels == "above"
    first = 0 if above else 1  # the column of the first cell
    width = layout.size(1, first + len(columns))[0]
    top, bottom = font.getbbox("Hgjy…")[1::2]
    line_height = int(bottom - top) + 2
    wrapped = [_wrap(printable(label), font, width - 2 * gap - 2 * margin) if above else []
               for label, _ in contents]
    strips = [len(lines) * line_height + 2 * margin + gap if above else 0 for lines in wrapped]
    header = tile + (layout.label if not above or any(label for label, _ in columns) else 0)
    row_height = tile + (0 if above else layout.label)
    height = gap + header + gap + sum(strip + row_height + gap for strip in strips)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)

    def place(x: int, y: int, label: str, picture: Image.Image | None, missing: bool = False) -> None:
        if picture is not None:
            fitted = fit_tile(picture.convert("RGB"), tile)
            sheet.paste(fitted, (x + (tile - fitted.width) // 2, y + (tile - fitted.height) // 2))
        elif missing:
            draw.rectangle((x, y, x + tile - 1, y + tile - 1), fill=MISSING)
        if label:
            draw.rectangle((x, y + tile, x + tile - 1, y + tile + layout.label - 1), fill=LABEL_BACKGROUND)
            shown = fit_label(label, font, tile - 2 * margin)
            draw.text((x + margin, y + tile + layout.label / 2), shown, fill=LABEL_COLOUR, font=font, anchor="lm")

    for col, (label, picture) in enumerate(columns, start=first):
        place(*layout.origin(0, col), label, picture)
    y = gap + header + gap
    for (label, picture), lines, strip, row in zip(contents, wrapped, strips, cells, strict=True):
        if above:
            draw.rectangle((gap, y, width - gap - 1, y + strip - gap - 1), fill=LABEL_BACKGROUND)
            for i, line in enumerate(lines):
                draw.text((gap + margin, y + margin + i * line_height), line, fill=LABEL_COLOUR, font=font)
            y += strip
        else:
            place(layout.origin(0, 0)[0], y, label, picture)
        for col, cell in enumerate(row, start=first):
            place(layout.origin(0, col)[0], y, "", cell, missing=True)
        y += row_height + gap
    return sheet


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """`text` in lines of at most `width` px, broken at spaces (a word wider than that on its own line)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


@dataclass(frozen=True)
class SheetColumn:
    """One column: a model, and for a model that takes a style the style's picture (the header) and its code."""

    label: str
    stylizer: Stylizer
    style: Image.Image | None = None
    code: StyleCode | None = None


def sheet_columns(
    models: Sequence[tuple[str, Stylizer]],
    styles: Sequence[tuple[str, Image.Image]],
    *,
    style_size: int | None = DEFAULT_STYLE_SIZE,
) -> list[SheetColumn]:
    """Models that take a style: one column per style, each style encoded once per model; fixed-style
    models: one column each. With several style-taking models a label also names the model. The caller
    checks that those models have styles (the CLI with its own flags)."""
    styled_models = sum(stylizer.needs_style for _, stylizer in models)
    columns = []
    for model_label, stylizer in models:
        if not stylizer.needs_style:
            columns.append(SheetColumn(model_label, stylizer))
            continue
        for style_label, image in styles:
            (code,) = stylizer.encode_styles([image], style_size=style_size)
            label = f"{style_label} · {model_label}" if styled_models > 1 else style_label
            columns.append(SheetColumn(label, stylizer, image, code))
    return columns


def stylize_sheet(
    contents: Sequence[tuple[str, Image.Image]],
    columns: Sequence[SheetColumn],
    *,
    tile_size: int = SHEET_TILE_SIZE,
    alpha: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> Image.Image:
    """Every content (shrunk so its longer side is at most tile_size) through every column, composed
    with compose_sheet. progress(done, total) after each cell."""
    if tile_size < MIN_SHEET_TILE:
        raise ValueError(f"tile_size must be at least {MIN_SHEET_TILE} px, got {tile_size}")
    small = [(label, image if max(image.size) <= tile_size else fit_tile(image, tile_size))
             for label, image in contents]
    tensors = [to_tensor(image) for _, image in small]
    total, done = len(small) * len(columns), 0
    cells: list[list[Image.Image]] = [[] for _ in small]
    for column in columns:
        styles = [column.code] if column.code is not None else None
        for row, tensor in enumerate(tensors):
            out = column.stylizer.stylize(tensor, styles, alpha=alpha, tile=False)
            cells[row].append(to_pil(out))
            done += 1
            if progress is not None:
                progress(done, total)
    header: list[Labelled] = [(column.label, column.style) for column in columns]
    return compose_sheet(small, header, cells, tile_size=tile_size)
