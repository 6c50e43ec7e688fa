"""images.py: every colour mode becomes the right RGB, EXIF orientation, draft decoding, limits, refusals
(one line, naming the file), no global Pillow switch, and atomic saves."""

from __future__ import annotations

import io
import os
import stat
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, ImageOps

from fuzzing import exif_bytes, jpeg_with_size, png_file, png_raw, webp_vp8x
from stylexfer.errors import ImageError
from stylexfer.files.images import (
    DEFAULT_MAX_PIXELS,
    is_image_file,
    load_image,
    save_image,
    to_pil,
    to_tensor,
)


def rgb_of(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def refused(path: Path, **kwargs: object) -> str:
    """load_image must raise ImageError with one line that names the file; returns the message."""
    with pytest.raises(ImageError) as info:
        load_image(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert str(path) in message
    return message


# ------------------------------------------------------------------ colour modes


def test_16bit_grey_png_maps_full_range(tmp_path: Path) -> None:
    grey = np.array([[0, 257 * 100, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    pixels = rgb_of(load_image(tmp_path / "g16.png"))
    assert pixels[0, :, 0].tolist() == [0, 100, 128, 255]  # 65535 is white, not clipped at 255
    assert (pixels == pixels[..., :1]).all()  # grey stays grey


def test_16bit_rgb_png(tmp_path: Path) -> None:
    rows = np.array([[[65535, 0, 0], [0, 32896, 65535]]], dtype=">u2").tobytes()
    write(tmp_path / "rgb16.png", png_raw(2, 1, rows, bit_depth=16, colour_type=2))
    assert rgb_of(load_image(tmp_path / "rgb16.png")).tolist() == [[[255, 0, 0], [0, 128, 255]]]


def test_cmyk_becomes_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # pure red in CMYK
    cmyk.save(tmp_path / "red.tif")
    assert rgb_of(load_image(tmp_path / "red.tif"))[0, 0].tolist() == [255, 0, 0]
    cmyk.save(tmp_path / "red.jpg", quality=95)  # Adobe (inverted) CMYK JPEG
    assert np.abs(rgb_of(load_image(tmp_path / "red.jpg"))[2, 2] - [255, 0, 0]).max() <= 8


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)  # index 0: black, fully transparent
    palette.putpixel((1, 0), 1)  # index 1: red, opaque
    palette.save(tmp_path / "p.png", transparency=0)
    palette.save(tmp_path / "p.gif", transparency=0)
    for name in ("p.png", "p.gif"):
        assert rgb_of(load_image(tmp_path / name)).tolist() == [[[255, 255, 255], [255, 0, 0]]]


def test_rgba_and_la_are_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (3, 1))
    rgba.putpixel((0, 0), (255, 0, 0, 128))  # half red over white
    rgba.putpixel((1, 0), (0, 0, 0, 0))  # transparent black -> white
    rgba.putpixel((2, 0), (0, 0, 255, 255))  # opaque blue stays blue
    rgba.save(tmp_path / "a.png")
    got = rgb_of(load_image(tmp_path / "a.png"))[0]
    assert np.abs(got[0] - [255, 127, 127]).max() <= 1
    assert got[1].tolist() == [255, 255, 255] and got[2].tolist() == [0, 0, 255]
    Image.new("LA", (1, 1), (0, 128)).save(tmp_path / "la.png")
    assert np.abs(rgb_of(load_image(tmp_path / "la.png"))[0, 0] - 127).max() <= 1


def test_float_and_int_tiffs(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)).save(tmp_path / "f.tif")
    assert rgb_of(load_image(tmp_path / "f.tif"))[0, :, 0].tolist() == [0, 128, 255, 0]  # [0,1] scale
    Image.fromarray(np.array([[0.0, 100.0, 255.0]], dtype=np.float32)).save(tmp_path / "f255.tif")
    assert rgb_of(load_image(tmp_path / "f255.tif"))[0, :, 0].tolist() == [0, 100, 255]  # 0..255 scale
    Image.fromarray(np.array([[0.0, 2570.0, 65535.0]], dtype=np.float32)).save(tmp_path / "f16.tif")
    assert rgb_of(load_image(tmp_path / "f16.tif"))[0, :, 0].tolist() == [0, 10, 255]  # 16-bit scale
    Image.fromarray(np.array([[0, 257 * 10, 65535]], dtype=np.int32)).save(tmp_path / "i.tif")
    assert rgb_of(load_image(tmp_path / "i.tif"))[0, :, 0].tolist() == [0, 10, 255]


@pytest.mark.parametrize(("mode", "suffix"), [("1", ".png"), ("L", ".png"), ("P", ".png"), ("RGB", ".bmp"),
                                             ("YCbCr", ".jpg"), ("L", ".pgm"), ("RGB", ".ppm")])
def test_plain_modes(tmp_path: Path, mode: str, suffix: str) -> None:
    source = Image.new("RGB", (5, 3), (200, 200, 200)).convert(mode)
    path = tmp_path / f"m{suffix}"
    source.save(path, **({"quality": 100} if suffix == ".jpg" else {}))
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (5, 3)
    expected = np.asarray(source.convert("RGB")).astype(int)
    assert np.abs(rgb_of(image) - expected).max() <= 2


# ------------------------------------------------------------------ EXIF orientation


def marked(width: int = 4, height: int = 2) -> Image.Image:
    """Grey picture with a red top-left pixel and a blue top-right pixel."""
    image = Image.new("RGB", (width, height), (128, 128, 128))
    image.putpixel((0, 0), (255, 0, 0))
    image.putpixel((width - 1, 0), (0, 0, 255))
    return image


def test_exif_orientation_6_rotates_clockwise(tmp_path: Path) -> None:
    marked().save(tmp_path / "o6.png", exif=exif_bytes({0x0112: 6}))
    image = load_image(tmp_path / "o6.png")
    assert image.size == (2, 4)  # W×H 4×2 becomes 2×4
    pixels = rgb_of(image)
    assert pixels[0, 1].tolist() == [255, 0, 0]  # stored top-left is shown top-right
    assert pixels[3, 1].tolist() == [0, 0, 255]  # stored top-right is shown bottom-right


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    source = marked(5, 3)
    source.save(tmp_path / "o.png", exif=exif_bytes({0x0112: orientation}))
    with Image.open(tmp_path / "o.png") as reference:
        expected = np.asarray(ImageOps.exif_transpose(reference).convert("RGB"))
    assert np.array_equal(np.asarray(load_image(tmp_path / "o.png")), expected)


@pytest.mark.parametrize(
    "exif", [b"Exif\0\0II*\0\xff\xff\xff\xff", b"Exif\0\0garbage", exif_bytes({0x0112: 9})]
)
def test_malformed_exif_keeps_pixels_as_stored(tmp_path: Path, exif: bytes) -> None:
    source = Image.new("RGB", (32, 16), (128, 128, 128))
    source.paste((255, 0, 0), (0, 0, 8, 8))
    source.save(tmp_path / "bad.jpg", exif=exif, quality=100, subsampling=0)
    image = load_image(tmp_path / "bad.jpg")
    assert image.size == (32, 16)
    assert np.abs(rgb_of(image)[2, 2] - [255, 0, 0]).max() <= 8  # red corner still top-left


# ------------------------------------------------------------------ draft mode and limits


def test_draft_decodes_big_jpeg_at_reduced_scale(tmp_path: Path) -> None:
    small = Image.effect_noise((400, 300), 40).convert("RGB")
    small.resize((4000, 3000), Image.Resampling.BILINEAR).save(tmp_path / "big.jpg", quality=85)
    image = load_image(tmp_path / "big.jpg", draft_shorter_side=512)
    assert 512 <= min(image.size) <= 1024
    assert image.size == (1000, 750)  # 1/4 scale: never decoded at 4000×3000
    assert load_image(tmp_path / "big.jpg").size == (4000, 3000)
    # Draft only concerns JPEG, and never shrinks below the requested shorter side.
    assert load_image(tmp_path / "big.jpg", draft_shorter_side=3000).size == (4000, 3000)
    Image.new("RGB", (2000, 1500)).save(tmp_path / "big.png")
    assert load_image(tmp_path / "big.png", draft_shorter_side=512).size == (2000, 1500)


def test_draft_lets_a_jpeg_over_max_pixels_load_reduced(tmp_path: Path) -> None:
    Image.new("RGB", (2048, 2048), (10, 20, 30)).save(tmp_path / "sq.jpg")
    refused(tmp_path / "sq.jpg", max_pixels=1_000_000)
    assert load_image(tmp_path / "sq.jpg", draft_shorter_side=256, max_pixels=1_000_000).size == (256, 256)


def test_max_pixels_enforced(tmp_path: Path) -> None:
    Image.new("RGB", (100, 100)).save(tmp_path / "hundred.png")
    Image.new("RGB", (100, 100)).save(tmp_path / "hundred.webp")
    for name in ("hundred.png", "hundred.webp"):
        assert "over the limit" in refused(tmp_path / name, max_pixels=9999)
        assert load_image(tmp_path / name, max_pixels=10000).size == (100, 100)
    assert DEFAULT_MAX_PIXELS == 16384 * 16384


def test_decompression_bomb_headers_refused(tmp_path: Path) -> None:
    bombs = {
        "huge.png": png_file(100000, 100000, idat=zlib.compress(b"\0" * 64)),
        "bomb.png": png_file(14000, 14000, colour_type=0),  # 196 MP of zeros in ~200 KB
        "huge.jpg": jpeg_with_size(_small_jpeg(), 65535, 65535),
        "huge.webp": webp_vp8x(16384, 16384, _small_webp()[12:]),
    }
    for name, data in bombs.items():
        message = refused(write(tmp_path / name, data))
        assert "megapixels" in message or "decompression bomb" in message, message


def test_header_size_is_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "big.png", png_file(5000, 5000, colour_type=0))

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("decoded an image that is over the limit")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert "over the limit" in refused(tmp_path / "big.png", max_pixels=1_000_000)


# ------------------------------------------------------------------ refusals


def _small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 50).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def _small_webp() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "WEBP", lossless=True)
    return buffer.getvalue()


def test_truncated_files_refused_and_pillow_switches_untouched(tmp_path: Path) -> None:
    before = (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS)
    assert before[0] is False
    jpeg = _small_jpeg()
    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 50).convert("RGB").save(buffer, "PNG")
    png = buffer.getvalue()
    for name, data in (("cut.jpg", jpeg[: len(jpeg) // 2]), ("cut.png", png[: len(png) // 2])):
        assert "truncated" in refused(write(tmp_path / name, data))
    assert load_image(write(tmp_path / "whole.jpg", jpeg)).size == (64, 48)
    assert before == (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS)


def test_empty_missing_directory_and_fifo_refused(tmp_path: Path) -> None:
    assert "empty file" in refused(write(tmp_path / "empty.jpg", b""))
    assert "no such file" in refused(tmp_path / "missing.png")
    (tmp_path / "folder.png").mkdir()
    assert "directory" in refused(tmp_path / "folder.png")
    if hasattr(os, "mkfifo"):  # a named pipe would block a plain open() forever
        os.mkfifo(tmp_path / "pipe.png")
        assert "not a regular file" in refused(tmp_path / "pipe.png")


def test_not_images_refused_whatever_their_name(tmp_path: Path) -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    assert "not a supported image" in refused(write(tmp_path / "eps.jpg", eps))  # never reaches Ghostscript
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "ICO")
    assert "not a supported image" in refused(write(tmp_path / "icon.png", buffer.getvalue()))
    assert "not a supported image" in refused(write(tmp_path / "notes.png", b"hello, world\n"))


def test_wrong_extension_still_loads(tmp_path: Path) -> None:
    Image.new("RGB", (7, 5), (1, 2, 3)).save(tmp_path / "x.jpg", format="PNG")
    assert rgb_of(load_image(tmp_path / "x.jpg"))[0, 0].tolist() == [1, 2, 3]


def test_message_stays_one_line_for_odd_names(tmp_path: Path) -> None:
    path = write(tmp_path / "two\nlines.png", b"not an image")
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert "\n" not in str(info.value) and "two\\nlines.png" in str(info.value)


def test_loaded_image_holds_no_file(tmp_path: Path) -> None:
    Image.effect_noise((32, 32), 30).convert("RGB").save(tmp_path / "a.jpg")
    fds = len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else None
    image = load_image(tmp_path / "a.jpg")
    (tmp_path / "a.jpg").unlink()
    assert image.getpixel((31, 31)) is not None and image.size == (32, 32)
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds


# ------------------------------------------------------------------ tensors


def test_tensor_round_trip(tmp_path: Path) -> None:
    Image.new("RGB", (6, 4), (255, 0, 51)).save(tmp_path / "t.png")
    tensor = to_tensor(load_image(tmp_path / "t.png"))
    assert tensor.shape == (3, 4, 6) and tensor.dtype == torch.float32
    assert torch.allclose(tensor[:, 0, 0], torch.tensor([1.0, 0.0, 0.2]))
    assert np.array_equal(np.asarray(to_pil(tensor.unsqueeze(0))), np.asarray(load_image(tmp_path / "t.png")))
    assert to_tensor(to_pil(torch.full((3, 2, 2), 2.0))).max() == 1.0  # clamped
    assert is_image_file("a/B.JPG") and is_image_file("x.tiff") and not is_image_file("notes.txt")


# ------------------------------------------------------------------ atomic saves


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_save_image_writes_and_leaves_no_temp_file(tmp_path: Path) -> None:
    out = save_image(torch.rand(3, 8, 10), tmp_path / "sub" / "out.png")
    assert out == tmp_path / "sub" / "out.png" and load_image(out).size == (10, 8)
    assert leftovers(tmp_path / "sub") == []
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # not mkstemp's private 0600


def test_save_image_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="unknown output format"):
        save_image(torch.rand(3, 4, 4), tmp_path / "out.xyz")
    assert list(tmp_path.iterdir()) == []


def test_save_image_failing_encoder_leaves_existing_file(tmp_path: Path) -> None:
    target = write(tmp_path / "out.jpg", b"previous result")
    with pytest.raises(ImageError, match="cannot write"):
        save_image(Image.new("RGBA", (4, 4)), target)  # JPEG cannot hold RGBA
    assert target.read_bytes() == b"previous result" and leftovers(tmp_path) == []


def test_save_image_interrupted_midway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write(tmp_path / "out.png", b"previous result")

    def half_then_interrupt(self: Image.Image, fp: io.BufferedWriter, *args: object, **kw: object) -> None:
        fp.write(b"\x89PNG half an image")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_image(torch.rand(3, 4, 4), target)
    assert target.read_bytes() == b"previous result" and leftovers(tmp_path) == []


def test_save_image_without_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write(tmp_path / "out.png", b"keep me")
    with pytest.raises(ImageError, match="already exists; pass overwrite to replace it"):
        save_image(torch.rand(3, 4, 4), target, overwrite=False)
    assert target.read_bytes() == b"keep me"
    # A file that appears while encoding is not replaced either.
    racer = tmp_path / "race.png"
    real_save = Image.Image.save

    def save_while_someone_writes(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        racer.write_bytes(b"written by another process")
        real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_while_someone_writes)
    with pytest.raises(ImageError, match="already exists"):
        save_image(torch.rand(3, 4, 4), racer, overwrite=False)
    assert racer.read_bytes() == b"written by another process" and leftovers(tmp_path) == []
    monkeypatch.setattr(Image.Image, "save", real_save)
    fresh = save_image(torch.rand(3, 4, 4), tmp_path / "fresh.png", overwrite=False)
    assert load_image(fresh).size == (4, 4) and leftovers(tmp_path) == []
