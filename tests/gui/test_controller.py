"""The GUI's controller without Tk: stylization on the worker thread, one-line errors through the
event queue, the model loaded once and each style encoded once per (model, style file, mtime)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylexfer.errors import StylexferError
from stylexfer.files.images import load_image
from stylexfer.gui.controller import Controller, Event, Failed, ModelLoaded, Progress, Result
from stylexfer.inference import load_model
from stylexfer.nets.adain import StyleCode

CONTENT_SIZE = (64, 48)


def run_until(controller: Controller, done, *, timeout: float = 60.0) -> list[Event]:
    """Poll like the window's after() loop until `done(events)`; all events seen, in order."""
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while not done(events):
        if time.monotonic() > deadline:
            pytest.fail(f"no answer from the worker within {timeout:.0f} s; events so far: {events}")
        time.sleep(0.01)
        events += controller.poll()
    return events


def finished(events: list[Event]) -> bool:
    return any(isinstance(e, Result) or (isinstance(e, Failed) and e.action == "stylize") for e in events)


def stylize(controller: Controller, **options) -> list[Event]:
    controller.stylize(**({"alpha": 1.0, "preserve_color": False} | options))
    return run_until(controller, finished)


def only(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, message


@pytest.fixture
def controller(cached_loader):
    controller = Controller(device="cpu", loader=cached_loader)
    yield controller
    controller.close()


def test_adain_stylization_has_the_content_size_and_saves(controller, gui_files, tmp_path) -> None:
    controller.set_model(gui_files.adain_model)
    controller.set_content(gui_files.content)
    controller.set_style(gui_files.style)
    events = stylize(controller, alpha=0.7)

    (loaded,) = only(events, ModelLoaded)
    assert (loaded.kind, loaded.needs_style) == ("adain", True)
    assert "AdaIN" in loaded.description
    (result,) = only(events, Result)
    assert result.image.size == CONTENT_SIZE and result.image.mode == "RGB"
    assert controller.result is result.image and not controller.stylizing
    progress = only(events, Progress)
    assert progress and progress[-1].done == progress[-1].total  # the bar can end full

    out = controller.save(tmp_path / "out" / "photo__stripes.png")
    assert load_image(out).size == CONTENT_SIZE
    assert not [p for p in out.parent.iterdir() if p.name != out.name]  # no temp file left behind


def test_johnson_model_ignores_the_style_and_alpha_zero_returns_the_content(controller, gui_files) -> None:
    controller.set_model(gui_files.johnson_model)
    controller.set_content(gui_files.content)
    controller.set_style(gui_files.style)  # chosen earlier for an AdaIN model: must not matter
    events = stylize(controller, alpha=0.0)

    (loaded,) = only(events, ModelLoaded)
    assert (loaded.kind, loaded.needs_style) == ("johnson", False)
    (result,) = only(events, Result)
    # Johnson's alpha blends pixels, so alpha 0 must give back the content exactly: the slider value arrives.
    assert np.array_equal(np.asarray(result.image), np.asarray(Image.open(gui_files.content).convert("RGB")))
    events = stylize(controller, alpha=1.0)
    (styled,) = only(events, Result)
    assert styled.image.size == CONTENT_SIZE
    assert not np.array_equal(np.asarray(styled.image), np.asarray(result.image))


def test_corrupt_content_is_one_line_in_the_queue_and_the_worker_survives(controller, gui_files) -> None:
    controller.set_model(gui_files.adain_model)
    controller.set_style(gui_files.style)
    controller.set_content(gui_files.corrupt)
    events = stylize(controller)
    assert not only(events, Result)
    (failed,) = only(events, Failed)
    assert failed.action == "stylize" and "corrupt.png" in failed.message and "image" in failed.message
    assert_one_line(failed.message)
    assert not controller.stylizing and controller.result is None

    controller.set_content(gui_files.content)
    (result,) = only(stylize(controller), Result)
    assert result.image.size == CONTENT_SIZE


def test_wrong_model_files_are_one_line_errors(controller, gui_files, tmp_path) -> None:
    controller.set_model(gui_files.wrong_kind_model)
    events = run_until(controller, lambda ev: bool(ev))
    (failed,) = events
    assert isinstance(failed, Failed) and failed.action == "load"
    assert "wrong-kind.safetensors" in failed.message and "Johnson" in failed.message
    assert_one_line(failed.message)

    controller.set_content(gui_files.content)
    (failed,) = only(stylize(controller), Failed)  # stylizing with it tries again and says the same
    assert failed.action == "stylize" and "Johnson" in failed.message
    assert_one_line(failed.message)

    controller.set_model(gui_files.content)  # an image picked as the model
    (failed,) = run_until(controller, lambda ev: bool(ev))
    assert isinstance(failed, Failed) and "photo.png" in failed.message
    assert_one_line(failed.message)

    controller.set_model(tmp_path / "missing.safetensors")
    (failed,) = run_until(controller, lambda ev: bool(ev))
    assert isinstance(failed, Failed) and "missing.safetensors" in failed.message


def test_adain_without_a_style_asks_for_one(controller, gui_files) -> None:
    controller.set_model(gui_files.adain_model)
    controller.set_content(gui_files.content)
    (failed,) = only(stylize(controller), Failed)
    assert "style" in failed.message
    assert_one_line(failed.message)


def test_unexpected_exceptions_become_one_line(gui_files) -> None:
    def broken_loader(path, *, device):
        raise RuntimeError("kaput\nsecond line of a long story")

    controller = Controller(loader=broken_loader)
    try:
        controller.set_model(gui_files.adain_model)
        (failed,) = run_until(controller, lambda ev: bool(ev))
    finally:
        controller.close()
    assert isinstance(failed, Failed)
    assert failed.message == "unexpected error (RuntimeError: kaput); please report it"


def test_nothing_starts_without_a_model_or_content_or_while_busy(controller, gui_files, tmp_path) -> None:
    with pytest.raises(StylexferError, match="model"):
        controller.stylize(alpha=1.0, preserve_color=False)
    controller.set_model(gui_files.johnson_model)
    with pytest.raises(StylexferError, match="content"):
        controller.stylize(alpha=1.0, preserve_color=False)
    with pytest.raises(StylexferError, match="nothing to save"):
        controller.save(tmp_path / "x.png")
    controller.set_content(gui_files.content)
    controller.stylize(alpha=1.0, preserve_color=False)
    with pytest.raises(StylexferError, match="already"):
        controller.stylize(alpha=1.0, preserve_color=False)
    run_until(controller, finished)
    with pytest.raises(StylexferError, match="unknown output format"):
        controller.save(tmp_path / "result.xyz")
    assert not (tmp_path / "result.xyz").exists()


def test_unwritable_save_path_is_one_line(controller, gui_files, tmp_path) -> None:
    controller.set_model(gui_files.johnson_model)
    controller.set_content(gui_files.content)
    stylize(controller)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StylexferError, match="cannot write") as info:  # even root cannot mkdir through a file
        controller.save(blocker / "out.png")
    assert_one_line(str(info.value))


def test_model_loaded_once_and_style_encoded_once_per_file_version(gui_files, tmp_path) -> None:
    loads: list[str] = []
    file_encodes: list[str] = []

    def counting_loader(path, *, device):
        loads.append(os.fspath(path))
        stylizer = load_model(path, device=device)
        real = stylizer.encode_styles

        def encode_styles(styles, **kwargs):
            # stylize() may pass cached StyleCodes through encode_styles too: count only real encodings
            file_encodes.extend(os.fspath(s) for s in styles if not isinstance(s, StyleCode))
            return real(styles, **kwargs)

        stylizer.encode_styles = encode_styles
        return stylizer

    style = tmp_path / "style.png"
    shutil.copy(gui_files.style, style)
    controller = Controller(device="cpu", loader=counting_loader)
    try:
        controller.set_model(gui_files.adain_model)
        controller.set_content(gui_files.content)
        controller.set_style(style)
        first = only(stylize(controller, alpha=1.0), Result)[0].image
        again = only(stylize(controller, alpha=1.0), Result)[0].image
        only(stylize(controller, alpha=0.3, preserve_color=True), Result)
        assert (len(loads), len(file_encodes)) == (1, 1)
        # The cached code is the same style: the same settings give the same picture.
        assert np.array_equal(np.asarray(first), np.asarray(again))

        # A new version of the style file (same name) is encoded again ...
        Image.open(gui_files.content).save(style)
        stat = style.stat()
        os.utime(style, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
        changed = only(stylize(controller, alpha=1.0), Result)[0].image
        assert (len(loads), len(file_encodes)) == (1, 2)
        assert not np.array_equal(np.asarray(changed), np.asarray(first))

        # ... and so is every style for another model, which is loaded once.
        other = tmp_path / "other.safetensors"
        shutil.copy(gui_files.adain_model, other)
        controller.set_model(other)
        stylize(controller)
        stylize(controller, alpha=0.5)
        assert (len(loads), len(file_encodes)) == (2, 3)
    finally:
        controller.close()


def test_preserve_colour_keeps_the_content_mean_colour(controller, gui_files) -> None:
    controller.set_model(gui_files.adain_model)
    controller.set_content(gui_files.content)
    controller.set_style(gui_files.style)
    content_mean = np.asarray(Image.open(gui_files.content).convert("RGB"), dtype=float).mean((0, 1))
    plain = only(stylize(controller, preserve_color=False), Result)[0].image
    kept = only(stylize(controller, preserve_color=True), Result)[0].image
    drift_plain = np.abs(np.asarray(plain, dtype=float).mean((0, 1)) - content_mean).max()
    drift_kept = np.abs(np.asarray(kept, dtype=float).mean((0, 1)) - content_mean).max()
    # luminance matched, chroma copied: only pixels clamped to [0, 1] move the mean (grey levels of 255)
    assert drift_kept < 12 < drift_plain, (drift_kept, drift_plain)


def test_save_dialog_opens_in_the_output_folder_never_an_input_folder(controller, gui_files, tmp_path,
                                                                         monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    controller.set_model(gui_files.adain_model)
    controller.set_content(gui_files.content)
    controller.set_style(gui_files.style)
    first = controller.save_folder()
    assert first == (tmp_path / "outputs" / "stylized").absolute() and first.is_dir()
    assert first not in (Path(gui_files.content).parent, Path(gui_files.style).parent)
    only(stylize(controller, alpha=1.0), Result)
    controller.save(tmp_path / "mine" / "x.png")
    assert controller.save_folder() == (tmp_path / "mine").absolute()  # then the last save folder
