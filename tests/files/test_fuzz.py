"""fuzzing.py: a few hundred malformed inputs through the real loader, with no failure; the crafted
files are what they claim to be; and the harness really catches hangs, crashes, stray exceptions,
multi-line errors, memory blow-ups and leaks (the full 10,000 run is `make fuzz`)."""

from __future__ import annotations

import io
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import fuzzing
from fuzzing import make_case, run_fuzz
from stylexfer.errors import ImageError
from stylexfer.files.images import load_image

SEED = 6  # differs from the script's default, so CI and `make fuzz` cover different random inputs


@pytest.mark.slow
@pytest.mark.xdist_group("memory")  # its loaders take up to 512 MB each: never beside the zip-bomb test
def test_few_hundred_fuzz_cases_have_no_failures() -> None:
    count = len(fuzzing.SPECIALS) + 400  # the whole catalogue, then random mutations
    report = run_fuzz(count, seed=SEED, jobs=2, timeout_s=60.0)
    assert report.failures == [], fuzzing.format_report(report)
    assert report.inputs == count and report.loads == 2 * count
    assert report.ok > 0.15 * report.loads  # valid and wrong-extension files really load
    assert {"not an image", "truncated", "too large", "corrupt", "empty"} <= set(report.refused)
    assert {"truncated", "bitflip", "edited", "random-bytes", "special-mutated"} <= set(report.kinds)


def test_cases_are_deterministic() -> None:
    for index in (0, 40, 150, 777, 4242):
        first, again = make_case(3, index), make_case(3, index)
        assert (first.description, first.suffix, first.data) == (again.description, again.suffix, again.data)
    randoms = range(len(fuzzing.SPECIALS), len(fuzzing.SPECIALS) + 20)
    assert [make_case(3, i).data for i in randoms] != [make_case(4, i).data for i in randoms]


def header_only(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_crafted_headers_claim_what_they_say() -> None:
    # Pillow parses them (valid PNG CRCs, JPEG markers, GIF/BMP/TIFF fields) and sees the claimed sizes.
    with pytest.raises(Image.DecompressionBombError):
        header_only(fuzzing.png_file(100000, 100000, idat=b""))
    assert header_only(fuzzing.png_file(640, 480, colour_type=0)).size == (640, 480)
    jpeg = fuzzing._cached_encode("JPEG", (16, 16), "RGB", ())
    assert header_only(fuzzing.jpeg_with_size(jpeg, 3000, 2000)).size == (3000, 2000)
    assert header_only(fuzzing.gif_file((300, 200), (1, 1))).size == (300, 200)
    assert header_only(fuzzing.bmp_file(300, -200)).size == (300, 200)
    assert header_only(fuzzing.tiff_file(300, 200)).size == (300, 200)
    with pytest.raises(Image.DecompressionBombError):
        header_only(fuzzing.tiff_file(100000, 100000))
    names = " | ".join(name for name, _ in fuzzing.SPECIALS)
    for needed in ("png header 100000x100000", "jpeg SOF 65535x65535", "gif screen 65535x65535",
                   "bmp header 100000x100000", "tiff header 100000x100000", "webp VP8X canvas",
                   "png bomb", "png 1x100000", "png 100000x1", "png 1x1", "16-bit", "jpeg CMYK", "png LA",
                   "palette with transparency", "F with NaN", "animated gif", "EXIF orientation",
                   "ICC", "tEXt", "IFD"):
        assert needed in names, needed


# Loaders that misbehave on purpose: the harness must report each as a failure, and go on.


def _hangs(path: Path, **kwargs: object) -> Image.Image:
    time.sleep(60)
    raise AssertionError("unreachable")


def _crashes(path: Path, **kwargs: object) -> Image.Image:
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("unreachable")


def _raises_os_error(path: Path, **kwargs: object) -> Image.Image:
    raise OSError("broken data stream when reading image file")


def _two_line_error(path: Path, **kwargs: object) -> Image.Image:
    raise ImageError(f"{path}: bad\ncontinued")


def _error_without_name(path: Path, **kwargs: object) -> Image.Image:
    raise ImageError("bad image")


def _hogs_memory(path: Path, **kwargs: object) -> Image.Image:
    return bytearray(64 << 30)  # type: ignore[return-value]


def _returns_rgba(path: Path, **kwargs: object) -> Image.Image:
    return Image.new("RGBA", (2, 2))


def _leaks_a_file(path: Path, **kwargs: object) -> Image.Image:
    _leaks_a_file.handles.append(open(path, "rb"))  # noqa: SIM115 - the leak is the point
    return Image.new("RGB", (2, 2))


_leaks_a_file.handles = []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("loader", "reason"),
    [
        pytest.param(_hangs, "hang", marks=pytest.mark.slow),  # waits out the 1.5 s timeout twice
        (_crashes, "crash"),
        (_raises_os_error, "unexpected OSError"),
        (_two_line_error, "multi-line error"),
        (_error_without_name, "error does not name the file"),
        (_hogs_memory, "memory blow-up"),
        (_returns_rgba, "not an RGB image"),
        (_leaks_a_file, "file descriptor leaked"),
    ],
)
def test_harness_reports_misbehaving_loaders(loader: object, reason: str) -> None:
    indices = [len(fuzzing.SPECIALS) + 1, len(fuzzing.SPECIALS) + 2]  # small random cases
    report = run_fuzz(2, indices=indices, loader=loader, start_method="fork", timeout_s=1.5,  # type: ignore[arg-type]
                      memory_budget_mb=512)
    assert report.inputs == 2
    assert [failure.reason for failure in report.failures] == [reason, reason], fuzzing.format_report(report)
    assert "reproduce: --seed 0 --case" in fuzzing.format_report(report)


def test_harness_imports_without_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows has no `resource` module: the catalogue must still import there (the memory cap is skipped).
    import importlib.util
    import sys

    monkeypatch.setitem(sys.modules, "resource", None)  # makes `import resource` raise ImportError
    spec = importlib.util.spec_from_file_location("fuzzing_without_resource", fuzzing.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    assert module.resource is None and module._rss_mb() == 0.0
    assert module.make_case(0, 0).data == make_case(0, 0).data


# Mutation fuzzing by hypothesis, in-process on small PNG/JPEG files: it shrinks a failure to the
# fewest, smallest edits, which the seeded harness above cannot. Derandomized, so CI runs the same
# examples every time (`make fuzz` covers random ground).

_MUTABLE = [source for source in fuzzing.sources() if source.suffix in (".png", ".jpg")]

_edit = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
    st.tuples(st.just("overwrite"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=32)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 64)),
)


def _mutate(data: bytes, edits: list[tuple]) -> bytes:
    out = bytearray(data)
    for kind, where, *rest in edits:
        # half the edits land in the first 256 bytes, where the parsers decide sizes and modes
        at = min(int(where * min(len(out), 512)), max(len(out) - 1, 0))
        if kind == "truncate":
            del out[max(at, 1):]
        elif kind == "flip" and out:
            out[at] ^= 1 << rest[0]
        elif kind == "overwrite":
            out[at:at + len(rest[0])] = rest[0]
        elif kind == "insert":
            out[at:at] = rest[0]
        elif kind == "delete":
            del out[at:at + rest[0]]
    return bytes(out)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(_MUTABLE), edits=st.lists(_edit, min_size=1, max_size=4),
       draft=st.sampled_from([None, fuzzing.DRAFT_SHORTER_SIDE]))
def test_mutated_png_and_jpeg_load_as_rgb_or_fail_with_one_line(
    source: fuzzing.Source, edits: list[tuple], draft: int | None
) -> None:
    data = _mutate(source.data, edits)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"mutated{source.suffix}"
        path.write_bytes(data)
        result = fuzzing.check_load(load_image, path, draft, expect=None)
    assert result.status in ("ok", "refused"), f"{source.label}, edits {edits}: {result.category}: {result.detail}"
