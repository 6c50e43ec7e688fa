"""Contact sheets: the layout (header row and column, labelled tiles), each style encoded once, the
`stylexfer sheet` command and its bad inputs (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_factories import adain_net, save_adain_ckpt, save_johnson_ckpt
from stylexfer.cli import main
from stylexfer.families.adain.runner import AdaINRunner
from stylexfer.inference import load_model
from stylexfer.inference.sheet import (
    LABEL_BACKGROUND,
    SheetLayout,
    compose_sheet,
    fit_label,
    label_font,
    sheet_columns,
    stylize_sheet,
)

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")

RED, GREEN, BLUE, YELLOW, GREY = (220, 20, 20), (20, 200, 20), (20, 20, 220), (230, 230, 20), (128, 128, 128)


def _solid(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Image.Image:
    return Image.new("RGB", size, colour)


def _save(image: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _noise(path: Path, seed: int, size: int = 48) -> Path:
    rng = np.random.default_rng(seed)
    return _save(Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)), path)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "adain": save_adain_ckpt(folder / "adain.ckpt", adain_net()),
        "mosaic": save_johnson_ckpt(folder / "mosaic.ckpt"),
        "candy": save_johnson_ckpt(folder / "candy.ckpt"),
    }


def _tile_centre(sheet: Image.Image, layout: SheetLayout, row: int, col: int) -> tuple[int, ...]:
    x, y = layout.origin(row, col)
    return sheet.getpixel((x + layout.tile // 2, y + layout.tile // 2))


def _strip(sheet: Image.Image, layout: SheetLayout, row: int, col: int) -> np.ndarray:
    x, y = layout.origin(row, col)
    top = y + layout.tile
    return np.asarray(sheet.crop((x, top, x + layout.tile, top + layout.label)))


# ----------------------------------------------------------------------------- compose_sheet (Pillow only)


def test_compose_sheet_puts_headers_and_cells_where_the_layout_says() -> None:
    tile = 64
    contents = [("red", _solid(RED)), ("green", _solid(GREEN, (20, 50)))]
    columns = [("blue", _solid(BLUE)), ("yellow", _solid(YELLOW)), ("grey", None)]
    cells = [[_solid((i * 40, j * 40, 7)) for j in range(3)] for i in range(2)]
    sheet = compose_sheet(contents, columns, cells, tile_size=tile)
    layout = SheetLayout.for_tile(tile)

    # (1 + rows) × (1 + columns) tiles, each with its label strip, gaps around them.
    assert layout.label >= 10
    assert sheet.size == (4 * tile + 5 * layout.gap, 3 * (tile + layout.label) + 4 * layout.gap)
    assert _tile_centre(sheet, layout, 0, 0) == (255, 255, 255)  # the corner stays empty
    assert _tile_centre(sheet, layout, 0, 1) == BLUE and _tile_centre(sheet, layout, 0, 2) == YELLOW
    assert _tile_centre(sheet, layout, 1, 0) == RED and _tile_centre(sheet, layout, 2, 0) == GREEN
    for i in range(2):
        for j in range(3):
            assert _tile_centre(sheet, layout, 1 + i, 1 + j) == (i * 40, j * 40, 7)


def test_every_header_tile_is_labelled_and_the_label_is_its_text() -> None:
    tile = 96
    pictures = [("aaaa", _solid(RED)), ("zzzz", _solid(RED))]
    sheet = compose_sheet(pictures, pictures, [[_solid(GREY)] * 2] * 2, tile_size=tile)
    layout = SheetLayout.for_tile(tile)
    first, second = _strip(sheet, layout, 0, 1), _strip(sheet, layout, 0, 2)
    for strip in (first, second, _strip(sheet, layout, 1, 0), _strip(sheet, layout, 2, 0)):
        assert (strip == LABEL_BACKGROUND).all(axis=-1).mean() > 0.5  # the dark strip
        assert (strip.min(axis=-1) > 200).sum() > 20  # light text pixels on it
    assert np.abs(first.astype(int) - second).sum() > 0  # different text, different pixels
    # Stylized cells carry no label: their strips are the plain background.
    assert (_strip(sheet, layout, 1, 1) == 255).all()


def test_long_labels_are_cut_to_fit_the_tile() -> None:
    font = label_font(64)
    name = "a painting with a very long file name indeed, much wider than the tile"
    shown = fit_label(name, font, 60)
    assert shown.endswith("…") and font.getlength(shown) <= 60 and len(shown) < len(name)
    assert fit_label("short", font, 60) == "short"
    assert "\n" not in fit_label("two\nlines", font, 200)


def test_compose_sheet_refuses_a_ragged_grid() -> None:
    with pytest.raises(ValueError, match="2 rows × 1 columns"):
        compose_sheet([("a", None), ("b", None)], [("s", None)], [[_solid(RED)]], tile_size=32)


# ----------------------------------------------------------------------------- stylizing


@pytest.mark.slow
def test_each_style_is_encoded_once_for_all_contents(models, monkeypatch) -> None:
    stylizer = load_model(models["adain"], device="cpu")
    calls: list[tuple[int, ...]] = []
    encode = AdaINRunner._encode

    def counting(self, images):  # noqa: ANN001, ANN202
        calls.append(tuple(images.shape))
        return encode(self, images)

    monkeypatch.setattr(AdaINRunner, "_encode", counting)
    styles = [("s1", _solid(BLUE, (50, 50))), ("s2", _solid(YELLOW, (60, 40)))]
    contents = [(f"c{i}", _solid(RED, (40, 32))) for i in range(3)]
    columns = sheet_columns([("adain", stylizer)], styles, style_size=64)
    assert len(calls) == 2  # one encoding per style ...
    sheet = stylize_sheet(contents, columns, tile_size=48)
    assert len(calls) == 2 + 3 * 2  # ... and after it only the contents' own encodings, one per cell
    layout = SheetLayout.for_tile(48)
    assert sheet.size == layout.size(4, 3)


@pytest.mark.slow
def test_the_sheet_command_with_an_adain_model(models, tmp_path, capsys) -> None:
    contents = [_save(_solid(RED, (40, 32)), tmp_path / "in" / "red.png"),
                _save(_solid(GREEN, (32, 40)), tmp_path / "in" / "green.png")]
    _noise(tmp_path / "styles" / "noise.png", 1)
    _noise(tmp_path / "styles" / "sub" / "noise2.png", 2)
    single = _noise(tmp_path / "wave.png", 3)
    out = tmp_path / "sheets" / "sheet.png"
    rc = main(["sheet", *map(str, contents), "--style", str(tmp_path / "styles"), str(single),
               "--model", str(models["adain"]), "--out", str(out), "--tile-size", "48", "--quiet",
               "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert len(lines) == 1 and lines[0]["status"] == "ok" and lines[0]["output"] == str(out)
    assert lines[0]["columns"] == ["noise", "noise2", "wave"] and lines[0]["seconds"] > 0
    sheet = Image.open(out)
    layout = SheetLayout.for_tile(48)
    assert sheet.size == layout.size(1 + 2, 1 + 3)
    assert _tile_centre(sheet, layout, 1, 0) == RED and _tile_centre(sheet, layout, 2, 0) == GREEN


def test_fixed_style_models_give_one_column_each(models, tmp_path, capsys) -> None:
    content = _save(_solid(RED, (40, 40)), tmp_path / "red.png")
    out = tmp_path / "sheet.png"
    rc = main(["sheet", str(content), "--model", str(models["mosaic"]), "--model", str(models["candy"]),
               "--out", str(out), "--tile-size", "40", "--quiet", "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    sheet = Image.open(out)
    layout = SheetLayout.for_tile(40)
    assert sheet.size == layout.size(2, 3)
    stylized = [_tile_centre(sheet, layout, 1, col) for col in (1, 2)]
    assert all(pixel != RED for pixel in stylized)  # the models did something
    assert capsys.readouterr().out == ""  # without --json nothing on stdout


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("stylexfer: error: "), captured.err
    return captured.err


@pytest.mark.parametrize("case", ["no-content", "empty-folder", "corrupt-style", "adain-without-style",
                                  "style-for-fixed-models", "bad-out", "existing-out", "missing-model"])
def test_bad_sheet_inputs_are_one_line_and_exit_2(models, tmp_path, capsys, case) -> None:
    content = _save(_solid(RED), tmp_path / "red.png")
    style = _noise(tmp_path / "style.png", 0)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(style.read_bytes()[:60])
    (tmp_path / "empty").mkdir()
    out = tmp_path / "sheet.png"
    args = {
        "no-content": ["--style", str(style), "--model", str(models["adain"])],
        "empty-folder": [str(tmp_path / "empty"), "--style", str(style), "--model", str(models["adain"])],
        "corrupt-style": [str(content), "--style", str(corrupt), "--model", str(models["adain"])],
        "adain-without-style": [str(content), "--model", str(models["adain"])],
        "style-for-fixed-models": [str(content), "--style", str(style), "--model", str(models["mosaic"])],
        "bad-out": [str(content), "--model", str(models["mosaic"]), "--out", str(tmp_path / "sheet.txt")],
        "existing-out": [str(content), "--model", str(models["mosaic"])],
        "missing-model": [str(content), "--model", str(tmp_path / "nope.ckpt")],
    }[case]
    if case == "existing-out":
        out.write_bytes(b"mine")
    if "--out" not in args:
        args += ["--out", str(out)]
    assert main(["sheet", *args, "--quiet", "--device", "cpu"]) == 2
    err = _one_line_error(capsys)
    expected = {
        "no-content": "no CONTENT", "empty-folder": "holds no images", "corrupt-style": "corrupt.png",
        "adain-without-style": "needs at least one --style", "style-for-fixed-models": "fixed-style",
        "bad-out": "not an image file name", "existing-out": "--overwrite", "missing-model": "no such model",
    }[case]
    assert expected in err
    if case == "existing-out":
        assert out.read_bytes() == b"mine"
    else:
        assert not out.exists() and not (tmp_path / "sheet.txt").exists()
