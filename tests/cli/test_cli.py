"""`stylexfer stylize` end to end: files, folders, globs, options, every bad input, safe output names."""

from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from model_factories import adain_net, save_adain_ckpt, save_johnson_ckpt
from stylexfer.cli import main
from stylexfer.files.images import load_image, to_tensor

pytestmark = pytest.mark.filterwarnings("ignore::stylexfer.nets.vgg.RandomWeightsWarning")


def read_tensor(path: Path) -> torch.Tensor:
    """A written picture as (3, H, W) floats in [0, 1], as stylexfer reads one."""
    return to_tensor(load_image(path))


def _png(path: Path, size=(40, 32), seed=0) -> Path:
    g = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(size[1], size[0], 3, generator=g) * 255).byte().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG" if path.suffix == ".jpg" else "PNG")
    return path


@pytest.fixture(scope="module")
def johnson_ckpt(tmp_path_factory) -> Path:
    return save_johnson_ckpt(tmp_path_factory.mktemp("models") / "mosaic.ckpt")


@pytest.fixture(scope="module")
def adain_ckpt(tmp_path_factory) -> Path:
    return save_adain_ckpt(tmp_path_factory.mktemp("models") / "adain.ckpt", adain_net())


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _run(capsys, *argv: str) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def test_files_folders_and_globs(tmp_path, capsys, johnson_ckpt):
    photos = tmp_path / "photos"
    _png(photos / "a.png")
    _png(photos / "trip" / "b.jpg", seed=1)
    _png(tmp_path / "c.png", seed=2)
    out = tmp_path / "out"
    rc, err = _run(
        capsys,
        "stylize",
        photos,
        tmp_path / "c.png",
        str(tmp_path / "c*.png"),
        "--model",
        johnson_ckpt,
        "--out",
        out,
        "--overwrite",
    )
    # c.png named twice (file + glob): one output, the duplicate reported
    assert rc == 2 and "same output name" in err
    assert _files(out) == ["a__mosaic.png", "c__mosaic.png", "trip/b__mosaic.png"]
    out2 = tmp_path / "out2"
    rc, err = _run(
        capsys,
        "stylize",
        str(photos / "**" / "*.jpg"),
        "--model",
        johnson_ckpt,
        "--out",
        out2,
        "--ext",
        "jpg",
    )
    assert rc == 0, err
    assert _files(out2) == ["b__mosaic.jpg"]
    assert read_tensor(out2 / "b__mosaic.jpg").shape == (3, 32, 40)


def test_single_file_out_size_and_exif(tmp_path, capsys, johnson_ckpt):
    photo = tmp_path / "rot.jpg"
    img = Image.new("RGB", (40, 24), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: the stored 40×24 image is shown 24×40
    img.save(photo, exif=exif)
    rc, err = _run(
        capsys, "stylize", photo, "--model", johnson_ckpt, "--out", tmp_path / "res.webp"
    )
    assert rc == 0, err
    assert Image.open(tmp_path / "res.webp").size == (24, 40)
    rc, _ = _run(
        capsys,
        "stylize",
        photo,
        "--model",
        johnson_ckpt,
        "--out",
        tmp_path / "big.png",
        "--size",
        "48",
    )
    assert rc == 0 and Image.open(tmp_path / "big.png").size == (48, 80)
    rc, _ = _run(
        capsys,
        "stylize",
        photo,
        "--model",
        johnson_ckpt,
        "--out",
        tmp_path / "s.png",
        "--max-size",
        "20",
    )
    assert rc == 0 and Image.open(tmp_path / "s.png").size == (12, 20)


def test_adain_styles_encoded_once_and_named(tmp_path, capsys, adain_ckpt, monkeypatch):
    from stylexfer.families.adain.net import StyleCode
    from stylexfer.inference import Stylizer

    calls = []
    original = Stylizer.encode_styles

    def counting(self, styles, **kw):
        calls.extend(s for s in styles if not isinstance(s, StyleCode))
        return original(self, styles, **kw)

    monkeypatch.setattr(Stylizer, "encode_styles", counting)
    for i in range(3):
        _png(tmp_path / "in" / f"p{i}.png", seed=i)
    s1, s2 = _png(tmp_path / "starry-night.png", seed=7), _png(tmp_path / "scream.png", seed=8)
    out = tmp_path / "out"
    rc, err = _run(
        capsys,
        "stylize",
        tmp_path / "in",
        "--model",
        adain_ckpt,
        "--style",
        s1,
        s2,
        "--style-weights",
        "2",
        "1",
        "--alpha",
        "0.5",
        "--batch-size",
        "2",
        "--out",
        out,
        "--quiet",
    )
    assert rc == 0, err
    assert _files(out) == [f"p{i}__starry-night+scream.png" for i in range(3)]
    assert len(calls) == 2  # two style images encoded once for three contents


def _bomb_png(path: Path) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)  # claims 10 gigapixels
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


def test_bad_content_files_are_reported_and_others_written(tmp_path, capsys, johnson_ckpt):
    folder = tmp_path / "in"
    _png(folder / "good.png")
    (folder / "notes.jpg").write_text("not an image")
    truncated = _png(folder / "cut.png", size=(64, 64)).read_bytes()
    (folder / "cut.png").write_bytes(truncated[: len(truncated) // 2])
    _bomb_png(folder / "bomb.png")
    (folder / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    rc, err = _run(
        capsys, "stylize", folder, tmp_path / "missing.png", "--model", johnson_ckpt, "--out", out
    )
    assert rc == 2
    assert _files(out) == ["good__mosaic.png"]  # nothing half-written, no temporary files left
    lines = [line for line in err.splitlines() if line.startswith("stylexfer: error:")]
    assert len(lines) == 5
    for name, reason in [
        ("notes.jpg", "not a supported image|not a readable image"),
        ("cut.png", "truncated|not a readable image|corrupt"),
        ("bomb.png", "decompression bomb|megapixels"),
        ("empty.png", "empty file"),
        ("missing.png", "no such file"),
    ]:
        line = next(line for line in lines if name in line)
        assert __import__("re").search(reason, line), line
    assert "5 of 6 input(s) failed" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--alpha", "1.5"], "--alpha must be between 0 and 1"),
        (["--alpha", "-0.1"], "--alpha must be between 0 and 1"),
        (["--style", "STYLE"], "Johnson fixed-style model .*drop --style"),
        (["--model", "HOSTILE"], "refused: it would import"),
        (["--model", "NOISE"], "not a (readable )?model file"),
        (["--model", "MISSING"], "no such model file"),
        (["--tile", "8"], "--tile must be at least"),
    ],
)
def test_bad_options_one_line_exit_2_nothing_written(
    tmp_path, capsys, johnson_ckpt, extra, message
):
    class Hostile:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    torch.save({"state_dict": {}, "x": Hostile()}, tmp_path / "hostile.ckpt")
    (tmp_path / "noise.ckpt").write_bytes(os.urandom(2048))
    subs = {
        "STYLE": str(_png(tmp_path / "style.png")),
        "HOSTILE": str(tmp_path / "hostile.ckpt"),
        "NOISE": str(tmp_path / "noise.ckpt"),
        "MISSING": str(tmp_path / "nope.ckpt"),
    }
    argv = [
        "stylize",
        str(_png(tmp_path / "photo.png")),
        "--model",
        str(johnson_ckpt),
        "--out",
        str(tmp_path / "out"),
    ] + [subs.get(a, a) for a in extra]
    rc, err = _run(capsys, *argv)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and __import__("re").search(message, err), err
    assert not (tmp_path / "out").exists() and not (tmp_path / "pwned").exists()


def test_adain_bad_style_mask_and_missing_style(tmp_path, capsys, adain_ckpt):
    photo, style = _png(tmp_path / "photo.png"), _png(tmp_path / "style.png")
    mask = tmp_path / "mask.png"
    Image.new("L", (40, 32), 255).save(mask)  # one level
    out = tmp_path / "out"
    cases = [
        ([], "AdaIN arbitrary-style models need at least one --style"),
        (["--style", tmp_path / "nope.jpg"], "no such file"),
        (["--style", style, style, "--mask", mask], "has 1 grey level\\(s\\) but 2 styles"),
        (["--style", style, "--style-weights", "1", "2"], "gives 2 weight\\(s\\) for 1 style"),
    ]
    for extra, message in cases:
        rc, err = _run(capsys, "stylize", photo, "--model", adain_ckpt, "--out", out, *extra)
        assert rc == 2 and len(err.strip().splitlines()) == 1
        assert __import__("re").search(message, err), err
    assert not out.exists()


def test_existing_output_needs_overwrite(tmp_path, capsys, johnson_ckpt):
    photo = _png(tmp_path / "photo.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "photo__mosaic.png").write_bytes(b"keep me")
    rc, err = _run(capsys, "stylize", photo, "--model", johnson_ckpt, "--out", out)
    assert rc == 2 and "already exists; pass --overwrite" in err
    assert (out / "photo__mosaic.png").read_bytes() == b"keep me"
    rc, err = _run(capsys, "stylize", photo, "--model", johnson_ckpt, "--out", out, "--overwrite")
    assert rc == 0, err
    assert read_tensor(out / "photo__mosaic.png").shape == (3, 32, 40)


def test_hostile_names_never_write_outside_out(tmp_path, capsys, johnson_ckpt):
    src = tmp_path / "in"
    names = [
        "...png",
        "..\\..\\escape.png",
        "a\nb\x1b[31m.png",
        "\u202egnp.exe.png",
        "  .hidden .png",
        "Ω\u0301mega" + "x" * 300 + ".png",
    ]
    names = [n if len(n.encode()) < 250 else n[:120] + ".png" for n in names]
    for i, name in enumerate(names):
        _png(src / name, seed=i)
    _png(src / "sub" / "inner.png")
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside)  # a planted link must not lead the writer out
    rc, err = _run(
        capsys,
        "stylize",
        src,
        str(src.resolve() / names[0]),
        "--model",
        johnson_ckpt,
        "--out",
        out,
        "--quiet",
    )
    assert _files(outside) == []
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) == len(names)  # every odd name written once; sub/inner refused
    for path in written:
        assert path.resolve().parent == out.resolve()
        assert not any(ord(ch) < 32 or ch in "\u202e/\\" for ch in path.name), path.name
        assert not path.name.startswith(".") and len(path.name.encode()) <= 255
    assert "would leave the output folder" in err and rc == 2
    assert not any(p.name.endswith(".part") for p in tmp_path.rglob("*"))


def test_sanitize_component():
    from stylexfer.files.naming import sanitize_component

    assert sanitize_component("..") == "image"
    assert sanitize_component("../../etc/passwd") == "_.._etc_passwd"
    assert sanitize_component("a\x00b\u200fc\u202e") == "abc"
    assert sanitize_component("  .x.  ") == "x"
    assert sanitize_component("C:\\x") == "C__x"
    assert len(sanitize_component("é" * 400).encode()) <= 100


def test_gui_without_module_is_one_line(capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_gui(name, *args, **kwargs):
        if name.startswith("stylexfer.gui"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gui)
    monkeypatch.setenv("DISPLAY", ":0")  # past the display check, which comes before any GUI import
    rc, err = _run(capsys, "gui")
    assert rc == 2 and err.count("\n") == 1 and "GUI is not part of this build" in err


def test_gui_subcommand_passes_its_options_to_the_window(monkeypatch, tmp_path):
    pytest.importorskip("tkinter", reason="this Python has no Tkinter")
    from stylexfer.gui import app as gui_app

    seen = {}
    monkeypatch.setattr(gui_app, "main", lambda **kwargs: seen.update(kwargs) or 0)
    monkeypatch.setenv("DISPLAY", ":0")  # past the display check (the window itself is replaced)
    assert main(["gui", "--model", "m.ckpt", "--content", "c.jpg", "--style", "s.jpg", "--device", "cpu"]) == 0
    assert seen == {"model": "m.ckpt", "content": "c.jpg", "style": "s.jpg", "device": "cpu", "theme": "auto",
                    "precision": None}
    assert main(["gui", "--theme", "dark", "--precision", "bf16"]) == 0
    assert seen["theme"] == "dark" and seen["precision"] == "bf16"


def test_timings_reports_the_network_time(capsys, tmp_path, johnson_ckpt):
    content = _png(tmp_path / "photo.png", size=(40, 32))
    rc, err = _run(capsys, "stylize", content, "--model", johnson_ckpt, "--out", tmp_path / "out", "--timings")
    assert rc == 0
    line = next(line for line in err.splitlines() if "timings:" in line)
    assert float(line.split("network ")[1].split(" s")[0]) > 0


def test_long_style_names_give_a_capped_unique_output_name(tmp_path, capsys, adain_ckpt):
    """Issue 9 #11: three 60-byte style names and a long stem stay within 255 bytes, checked first."""
    photo = _png(tmp_path / ("p" * 100 + ".png"))
    styles = [_png(tmp_path / (f"{c}" * 90 + ".png"), seed=i) for i, c in enumerate("abc")]
    out = tmp_path / "out"
    rc, err = _run(capsys, "stylize", photo, "--model", adain_ckpt, "--style", *styles, "--out", out)
    assert rc == 0, err
    (written,) = _files(out)
    assert len(written.encode()) <= 255 and written.endswith(".png") and written.startswith("p" * 50)
    from stylexfer.files.naming import cap_file_name

    a, b = cap_file_name("x" * 300 + "a", ".png"), cap_file_name("x" * 300 + "b", ".png")
    assert a != b and len(a.encode()) == len(b.encode()) <= 255
    multi = cap_file_name("é" * 200, ".jpeg")  # cut on a character boundary
    assert len(multi.encode()) <= 255 and multi.encode().decode() == multi


def test_size_over_the_pixel_limit_is_refused_at_start(tmp_path, capsys, johnson_ckpt):
    """Issue 9 #13: one line, exit 2, before the model is read."""
    rc, err = _run(capsys, "stylize", _png(tmp_path / "p.png"), "--model", tmp_path / "never-read.ckpt",
                   "--size", "99999", "--out", tmp_path / "out")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--size 99999" in err and "megapixels" in err and "never-read" not in err


def test_out_folder_with_a_dot_is_a_folder(tmp_path, capsys, johnson_ckpt):
    photo = _png(tmp_path / "photo.png")
    for name in ("results.v2", "shots.png"):
        (tmp_path / name).mkdir()
        rc, err = _run(capsys, "stylize", photo, "--model", johnson_ckpt, "--out", tmp_path / name)
        assert rc == 0, err
        assert _files(tmp_path / name) == ["photo__mosaic.png"]
    rc, err = _run(capsys, "stylize", photo, "--model", johnson_ckpt, "--out", f"{tmp_path / 'new.v3'}/")
    assert rc == 0 and _files(tmp_path / "new.v3") == ["photo__mosaic.png"], err


def test_paths_with_control_characters_stay_on_one_line(tmp_path, capsys, johnson_ckpt):
    bad = tmp_path / "evil\nname.png"
    bad.write_text("not an image")
    rc, err = _run(capsys, "stylize", bad, "--model", johnson_ckpt, "--out", tmp_path / "out")
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "evil\\nname.png" in lines[0], err  # the error, then the tally


def test_request_errors_speak_in_flags_on_the_command_line(tmp_path, capsys, adain_ckpt):
    photo, style = _png(tmp_path / "photo.png"), _png(tmp_path / "style.png")
    mask = tmp_path / "mask.png"
    Image.new("L", (40, 32), 255).save(mask)
    rc, err = _run(capsys, "stylize", photo, "--model", adain_ckpt, "--style", style, style,
                   "--mask", mask, "--style-weights", "1", "1", "--out", tmp_path / "out")
    assert rc == 2 and "--style-weights and --mask do not combine" in err


def _stdin_photo(monkeypatch) -> list[int]:  # noqa: ANN001
    """stdin holds a PNG; the list counts how often it was read."""
    import io

    reads: list[int] = []
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 40, 40)).save(buffer, format="PNG")

    class _Stdin:
        class buffer:  # noqa: N801 - sys.stdin.buffer
            @staticmethod
            def read(size: int = -1) -> bytes:
                reads.append(size)
                return buffer.getvalue()

        @staticmethod
        def isatty() -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", _Stdin())
    return reads


@pytest.mark.parametrize("command", ["stylize", "stdin", "sheet", "folder", "import", "export"])
def test_out_under_a_regular_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch, johnson_ckpt, command):
    import stylexfer.files.modelfile as modelfile

    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (24, 16), (200, 40, 40)).save(photo)
    reads = _stdin_photo(monkeypatch)
    loads: list[object] = []
    real_read = modelfile.read_model_file
    monkeypatch.setattr(modelfile, "read_model_file", lambda *a, **k: loads.append(a) or real_read(*a, **k))
    argv = {
        "stylize": ["stylize", photo, "--model", johnson_ckpt, "--out", afile / "s.png"],
        "stdin": ["stylize", "-", "--model", johnson_ckpt, "--out", afile / "s.png"],
        "sheet": ["sheet", photo, "--model", johnson_ckpt, "--out", afile / "s.png"],
        "folder": ["stylize", photo, "--model", johnson_ckpt, "--out", f"{afile}/sub/"],
        "import": ["import", "fast-neural-style", tmp_path / "missing.pth", "--out", afile / "m.safetensors"],
        "export": ["export", johnson_ckpt, "--out", afile / "m.safetensors"],
    }[command]
    rc, err = _run(capsys, *argv)
    assert rc == 2
    assert err == f"stylexfer: error: {afile}: is a file, not a folder; choose another location\n"
    assert loads == [] and reads == []  # refused before the model (or stdin) was read
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "photo.png"]


def test_a_folder_that_refuses_the_write_is_named_not_the_temporary(tmp_path, capsys, monkeypatch, johnson_ckpt):
    import errno

    import stylexfer.files.atomic as atomic

    photo = tmp_path / "photo.png"
    Image.new("RGB", (24, 16), (200, 40, 40)).save(photo)
    out = tmp_path / "out"
    out.mkdir()
    real_open = os.open

    def refuse(path, flags, *args):  # noqa: ANN001, ANN002, ANN202 - a read-only folder, even for root
        if Path(path).name.endswith(".part"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(atomic.os, "open", refuse)
    rc, err = _run(capsys, "stylize", photo, "--model", johnson_ckpt, "--out", out / "s.png")
    assert rc == 2
    assert f"{out / 's.png'}: cannot write the image (" in err and "Permission denied" in err
    assert ".part" not in err


def test_an_output_name_held_by_a_dangling_link_is_refused_without_overwrite(tmp_path, capsys, johnson_ckpt):
    _png(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    link = out / "a__mosaic.png"
    link.symlink_to("nowhere.png")  # inside the folder; the same rule as `video`: a link is not replaced unasked
    rc, err = _run(capsys, "stylize", tmp_path / "a.png", "--model", johnson_ckpt, "--out", out)
    assert rc == 2 and "a__mosaic.png: already exists; pass --overwrite" in err
    assert link.is_symlink() and not (out / "nowhere.png").exists()
