"""The GUI's controller without Tk: stylization on the worker thread, one-line errors through the
event queue, the model loaded once and each style encoded once per (model, style file, mtime)."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clips import make_clip
from stylexfer.errors import StylexferError
from stylexfer.families.adain.net import StyleCode
from stylexfer.files.images import load_image
from stylexfer.files.modelfile import ModelSpec, ModelWeights, build_net, read_model_file, write_safetensors
from stylexfer.files.video import VideoReader
from stylexfer.gui.controller import Controller
from stylexfer.gui.events import Event, Failed, ModelLoaded, Progress, Result, Stopped, Thumbnail, VideoSaved
from stylexfer.gui.previews import CONTENT_KINDS, compare, content_kind, fit, gallery_images
from stylexfer.inference import Stylizer, load_model
from stylexfer.nets.vgg import RandomWeightsWarning

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
    return any(isinstance(e, Result | Stopped) or (isinstance(e, Failed) and e.action == "stylize")
               for e in events)


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


# ------------------------------------------------------------------ several styles, masks, progress


def test_style_weights_reach_the_network(controller, gui_files, tmp_path) -> None:
    other = tmp_path / "flat.png"
    Image.new("RGB", (40, 40), (30, 160, 90)).save(other)
    controller.set_model(gui_files.adain_model)
    controller.set_content(gui_files.content)
    controller.set_style(gui_files.style)
    stripes_only = np.asarray(only(stylize(controller), Result)[0].image, dtype=float)
    controller.set_style(other)
    flat_only = np.asarray(only(stylize(controller), Result)[0].image, dtype=float)

    controller.set_style(gui_files.style)
    assert controller.add_style(other) == 1 and controller.add_style(other) == 1  # no duplicates
    results = {}
    for weights in ((1.0, 0.0), (0.0, 2.0), (0.5, 0.5)):
        for i, w in enumerate(weights):
            controller.set_style_weight(i, w)
        results[weights] = np.asarray(only(stylize(controller), Result)[0].image, dtype=float)
    # A weight of 0 removes a style exactly; the mix is neither style alone.
    assert np.abs(results[(1.0, 0.0)] - stripes_only).max() <= 1
    assert np.abs(results[(0.0, 2.0)] - flat_only).max() <= 1
    mix = results[(0.5, 0.5)]
    assert np.abs(mix - stripes_only).mean() > 2 and np.abs(mix - flat_only).mean() > 2

    controller.remove_style(0)
    assert controller.styles == [other] and controller.style_weights == [0.5]


def test_request_errors_name_the_window_controls(controller, gui_files, tmp_path) -> None:
    controller.set_model(gui_files.adain_model)
    controller.set_content(gui_files.content)
    run_until(controller, lambda ev: bool(only(ev, ModelLoaded)))  # the kind is known from now on
    with pytest.raises(StylexferError, match="style image") as info:
        controller.stylize(alpha=1.0, preserve_color=False)
    assert "styles" not in str(info.value)  # the field's name, not the window's
    controller.set_style(gui_files.style)
    controller.add_style(gui_files.content)
    controller.set_style_weight(0, 0.0)
    controller.set_style_weight(1, 0.0)
    with pytest.raises(StylexferError, match="the style weights must be non-negative with a positive sum"):
        controller.stylize(alpha=1.0, preserve_color=False)
    controller.set_mask(gui_files.content)  # with a mask the weights are not sent
    controller.remove_style(1)
    with pytest.raises(StylexferError, match=r"the mask \(Mask… button\) needs at least two styles") as info:
        controller.stylize(alpha=1.0, preserve_color=False)
    assert "--mask" not in str(info.value)
    assert not controller.stylizing


def test_a_mask_puts_each_style_in_its_region(controller, gui_files, tmp_path) -> None:
    green, blue = tmp_path / "green.png", tmp_path / "blue.png"
    Image.new("RGB", (40, 40), (20, 200, 40)).save(green)
    Image.new("RGB", (40, 40), (20, 40, 220)).save(blue)
    mask = np.zeros((48, 64), np.uint8)
    mask[:, :32] = 255  # left: first style
    Image.fromarray(mask).save(tmp_path / "mask.png")
    controller.set_model(gui_files.adain_model)
    controller.set_content(gui_files.content)
    controller.set_style(green)
    all_green = np.asarray(only(stylize(controller), Result)[0].image, dtype=float)
    controller.set_style(blue)
    all_blue = np.asarray(only(stylize(controller), Result)[0].image, dtype=float)
    controller.set_style(green)
    controller.add_style(blue)
    controller.set_mask(tmp_path / "mask.png")
    masked = np.asarray(only(stylize(controller), Result)[0].image, dtype=float)
    # Away from the seam (the decoder's receptive field), each half looks like its own style alone.
    left, right = np.s_[:, :20], np.s_[:, 44:]
    assert np.abs(masked[left] - all_green[left]).mean() < np.abs(masked[left] - all_blue[left]).mean()
    assert np.abs(masked[right] - all_blue[right]).mean() < np.abs(masked[right] - all_green[right]).mean()

    Image.new("L", (64, 48), 128).save(tmp_path / "flat-mask.png")  # one grey level for two styles
    controller.set_mask(tmp_path / "flat-mask.png")
    (failed,) = only(stylize(controller), Failed)
    assert "flat-mask.png" in failed.message
    assert_one_line(failed.message)


def tiny_tile_loader(path, *, device="cpu") -> Stylizer:
    """Tiles the 64×48 photo into 2×2 tiles of 32 px: AdaIN reports 8 steps (statistics, then output)."""
    weights = read_model_file(path)
    return Stylizer(build_net(weights), weights.spec, device=device, name=Path(path).name, tile_size=32,
                    tile_overlap=8, auto_tile_pixels=1000)


def test_tiled_progress_counts_tiles_and_cancel_stops_between_them(gui_files) -> None:
    controller = Controller(device="cpu", loader=tiny_tile_loader)
    try:
        controller.set_model(gui_files.adain_model)
        controller.set_content(gui_files.content)
        controller.set_style(gui_files.style)
        events = stylize(controller)
        tiles = [(e.done, e.total) for e in only(events, Progress) if e.stage == "tiles"]
        assert tiles == [(0, 1)] + [(i, 8) for i in range(1, 9)]  # "tiles next", then each tile
        assert [(e.done, e.total) for e in only(events, Progress) if e.stage == "styles"] == [(1, 1)]
        (full,) = only(events, Result)

        real = controller._progress

        def cancel_after_two(done: int, total: int) -> None:
            if done == 2:
                controller.cancel()  # as the Cancel button would, from another thread
            real(done, total)

        controller._progress = cancel_after_two
        events = stylize(controller)
        assert not only(events, Result) and len(only(events, Stopped)) == 1
        assert max(e.done for e in only(events, Progress) if e.stage == "tiles") == 2  # stopped between tiles
        assert controller.result is full.image and not controller.stylizing  # the last good result stays
        assert not controller.cancel()  # nothing to cancel now

        controller._progress = real
        again = only(stylize(controller), Result)[0]  # the worker carries on
        assert np.array_equal(np.asarray(again.image), np.asarray(full.image))
        assert again.before is not None and again.before.size == CONTENT_SIZE
    finally:
        controller.close()


def test_load_warnings_come_back_as_text(gui_files, cached_loader) -> None:
    def warning_loader(path, *, device):
        warnings.warn("adain.ckpt was trained with RANDOM VGG weights", RandomWeightsWarning, stacklevel=2)
        warnings.warn("some library chatter", DeprecationWarning, stacklevel=2)
        return cached_loader(path, device=device)

    controller = Controller(device="cpu", loader=warning_loader)
    try:
        controller.set_model(gui_files.adain_model)
        (loaded,) = run_until(controller, lambda ev: bool(ev))
        assert loaded.warnings == ("adain.ckpt was trained with RANDOM VGG weights",)
        controller.set_model(gui_files.adain_model)  # the same file again: loaded once, warned again
        (again,) = run_until(controller, lambda ev: bool(ev))
        assert again.warnings == loaded.warnings
    finally:
        controller.close()


def test_a_random_vgg_model_file_warns_in_the_event(gui_files, tmp_path) -> None:
    """A real file whose encoder is "random" (the warning stylexfer stylize prints on the terminal)."""
    weights = read_model_file(gui_files.adain_model)
    path = tmp_path / "random-vgg.safetensors"
    write_safetensors(ModelWeights(ModelSpec("adain", encoder="random"), weights.net_state), path)
    controller = Controller(device="cpu")
    try:
        controller.set_model(path)
        (loaded,) = run_until(controller, lambda ev: bool(ev), timeout=120)
    finally:
        controller.close()
    assert isinstance(loaded, ModelLoaded)
    assert any("RANDOM weights" in w for w in loaded.warnings), loaded.warnings


# --------------------------------------------------------------------- gallery, previews, compare


def test_gallery_lists_images_and_makes_thumbnails_in_the_background(controller, gui_files, tmp_path) -> None:
    folder = tmp_path / "styles"
    folder.mkdir()
    for name in ("b.png", "a.jpg"):
        Image.new("RGB", (300, 200), (200, 40, 40)).save(folder / name)
    shutil.copy(gui_files.corrupt, folder / "c.png")
    (folder / "readme.txt").write_text("x")
    (folder / "sub.png").mkdir()  # a folder with an image's name is no image
    assert gallery_images(folder) == [folder / "a.jpg", folder / "b.png", folder / "c.png"]

    paths = controller.open_gallery(folder, 64)
    events = run_until(controller, lambda ev: len(only(ev, Thumbnail)) == 3)
    thumbs = only(events, Thumbnail)
    assert [t.path for t in thumbs] == paths
    assert thumbs[0].image.size == (64, 43) and thumbs[2].image is None and "c.png" in thumbs[2].error
    assert controller.recent.get("gallery") == [folder]

    # A newer gallery while one is being made: the older thread stops after the file in hand, and what it
    # made by then never reaches the window. The thread is held inside that file until the newer one opens.
    newer = tmp_path / "newer"
    newer.mkdir()
    Image.new("RGB", (30, 20), (0, 90, 200)).save(newer / "z.png")
    in_hand, go_on = threading.Event(), threading.Event()
    made: list[Path] = []
    real_get = controller.thumbnails.get

    def held_get(path, width, height=None):
        made.append(Path(path))
        in_hand.set()
        go_on.wait(60)
        return real_get(path, width, height)

    controller.thumbnails.get = held_get
    controller.open_gallery(folder, 64)
    assert in_hand.wait(60), "the gallery thread never started"
    controller.open_gallery(newer, 64)
    go_on.set()
    for thread in threading.enumerate():  # both gallery threads have put all they will put
        if thread.name == "stylexfer-gui-gallery":
            thread.join(60)
    assert sorted(made) == sorted([folder / "a.jpg", newer / "z.png"])  # the older one made one and stopped
    assert controller.events.qsize() == 2  # that one was made and queued, ...
    assert [t.path for t in only(controller.poll(), Thumbnail)] == [newer / "z.png"]  # ... then dropped

    with pytest.raises(StylexferError, match="no images"):
        controller.open_gallery(tmp_path / "styles" / "sub.png", 64)
    with pytest.raises(StylexferError, match="missing"):
        gallery_images(tmp_path / "missing")
    with pytest.raises(StylexferError, match="not a folder"):
        gallery_images(folder / "a.jpg")


def test_previews_decode_each_file_version_once(controller, tmp_path, monkeypatch) -> None:
    import stylexfer.gui.previews as module

    decodes = []
    real = module._decode_preview
    monkeypatch.setattr(module, "_decode_preview", lambda path, box: (decodes.append(path), real(path, box))[1])
    path = tmp_path / "big.png"
    Image.new("RGB", (1600, 1200), (10, 20, 30)).save(path)
    small, size = controller.thumbnails.get(path, 200)
    large, _ = controller.thumbnails.get(path, 500, 300)
    assert size == (1600, 1200) and small.size == (200, 150) and large.size == (400, 300)
    assert len(decodes) == 1  # a window resize only re-fits the cached copy
    Image.new("RGB", (800, 600), (10, 20, 30)).save(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert controller.thumbnails.get(path, 200)[1] == (800, 600) and len(decodes) == 2


def test_compare_shows_before_left_of_the_split_and_after_right() -> None:
    before = Image.new("RGB", (20, 10), (255, 0, 0))
    after = Image.new("RGB", (40, 20), (0, 0, 255))  # before is scaled to after's size
    out = np.asarray(compare(before, after, 0.25, line=(0, 255, 0)))
    assert out.shape == (20, 40, 3)
    assert (out[:, :10] == (255, 0, 0)).all() and (out[:, 11:] == (0, 0, 255)).all()
    assert (out[:, 10] == (0, 255, 0)).all()  # the divider
    assert np.array_equal(np.asarray(compare(before, after, 0.0)), np.asarray(after))
    assert (np.asarray(compare(before, after, 1.0)) == (255, 0, 0)).all()
    assert fit(after, 10, 10).size == (10, 5) and fit(before, 1000, 1000).size == (80, 40)  # at most 4×


def test_the_save_folder_is_never_an_input_folder(controller, gui_files, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    controller.set_model(gui_files.johnson_model)
    controller.set_content(gui_files.content)
    stylize(controller)
    controller.save(Path(gui_files.content).parent / "out.png")  # the user chose the inputs' folder once
    try:
        assert controller.last_save_folder == Path(gui_files.content).parent.absolute()
        assert controller.save_folder() == (tmp_path / "outputs" / "stylized").absolute()
        assert controller.recent.save_folder == str(Path(gui_files.content).parent.absolute())
    finally:
        (Path(gui_files.content).parent / "out.png").unlink()


def test_content_kinds_table_drives_the_picker(tmp_path) -> None:
    assert content_kind("a/photo.JPG") == "image" and content_kind("clip.MP4") == "video"
    assert content_kind("notes.txt") is None
    assert set(CONTENT_KINDS) == {"image", "video"}
    assert ".mkv" in CONTENT_KINDS["video"] and ".png" not in CONTENT_KINDS["video"]
    still, moving = tmp_path / "still.gif", tmp_path / "moving.gif"
    Image.new("RGB", (8, 8), "red").save(still)
    Image.new("RGB", (8, 8), "red").save(moving, save_all=True, append_images=[Image.new("RGB", (8, 8), "blue")])
    assert content_kind(still) == "image" and content_kind(moving) == "video"  # a GIF by its frame count


# ------------------------------------------------------------------------------------------ video


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Six 32×24 frames of moving colour bars at 12 frames/s."""
    pytest.importorskip("av")  # the `video` extra, part of `dev`
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=6, size=(32, 24), rate=12)


def decoded(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return list(reader.frames())


def saved(events: list[Event]) -> bool:
    return any(isinstance(e, VideoSaved | Stopped) or (isinstance(e, Failed) and e.action == "video")
               for e in events)


def test_video_content_previews_its_first_frame_and_writes_the_whole_clip(controller, gui_files, clip,
                                                                          tmp_path) -> None:
    controller.set_model(gui_files.adain_model)
    controller.set_content(clip)
    controller.set_style(gui_files.style)
    preview, size = controller.thumbnails.get(clip, 100)
    assert size == (32, 24) and preview.size == (100, 75)  # the first frame, fitted
    info = controller.video_info(clip)
    assert (info.width, info.height, info.rate, info.expected_frames) == (32, 24, 12, 6)

    events = stylize(controller, alpha=0.8)
    (result,) = only(events, Result)
    first = decoded(clip)[0]
    assert result.image.size == (32, 24) and np.array_equal(np.asarray(result.before), first)
    assert controller.result_is_video and controller.video_name() == "clip__stripes.mp4"

    target = tmp_path / "out" / controller.video_name()
    controller.set_style(None)  # a change after the preview: the video repeats the preview's settings
    controller.write_video(target)
    assert controller.stylizing and controller.writing_video
    with pytest.raises(StylexferError, match="already busy with a video"):
        controller.stylize(alpha=1.0, preserve_color=False)
    events = run_until(controller, saved)
    (done,) = only(events, VideoSaved)
    assert done.path == target and done.frames == 6 and not controller.stylizing
    frames = [(e.done, e.total) for e in only(events, Progress) if e.stage == "frames"]
    assert frames == [(i, 6) for i in range(7)]  # "started", then one per frame: the bar can end full
    assert [(e.done, e.total) for e in only(events, Progress) if e.stage == "styles"] == [(1, 1)]
    out = decoded(target)
    assert len(out) == 6 and out[0].shape == (24, 32, 3)
    # The video's first frame is the preview (the same settings; smoothing leaves frame one alone),
    # up to H.264's loss; and the clip moves.
    assert np.abs(out[0].astype(int) - np.asarray(result.image, dtype=int)).mean() < 12
    assert np.abs(out[0].astype(int) - out[-1].astype(int)).mean() > 1
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporary left
    assert controller.last_save_folder == target.parent.absolute()


def test_cancel_mid_video_leaves_no_file(controller, gui_files, clip, tmp_path) -> None:
    controller.set_model(gui_files.johnson_model)
    controller.set_content(clip)
    stylize(controller)
    real = controller._frame_progress

    def cancel_after_two(done: int, total: int) -> None:
        if done == 2:
            controller.cancel()  # as the Cancel button would, from the Tk thread
        real(done, total)

    controller._frame_progress = cancel_after_two
    controller.write_video(tmp_path / "out" / "clip__johnson.mp4")
    events = run_until(controller, saved)
    assert len(only(events, Stopped)) == 1 and not only(events, VideoSaved)
    assert max(e.done for e in only(events, Progress) if e.stage == "frames") == 2  # stopped between frames
    assert not (tmp_path / "out").exists()  # no video, no temporary, not even the folder made for it
    assert not controller.stylizing and not controller.writing_video and controller.result_is_video

    controller._frame_progress = real  # the worker carries on
    controller.write_video(tmp_path / "clip__johnson.mp4")
    events = run_until(controller, saved)
    assert only(events, VideoSaved)[0].frames == 6


def test_write_video_refuses_what_it_cannot_do_in_one_line(controller, gui_files, clip, tmp_path) -> None:
    with pytest.raises(StylexferError, match="no video to write"):
        controller.write_video(tmp_path / "x.mp4")
    controller.set_model(gui_files.johnson_model)
    controller.set_content(gui_files.content)
    stylize(controller)
    with pytest.raises(StylexferError, match="no video to write"):  # an image result
        controller.write_video(tmp_path / "x.mp4")
    controller.set_content(clip)
    stylize(controller)
    existing = tmp_path / "taken.mp4"
    existing.write_bytes(b"keep me")
    for path, message in ((tmp_path / "x.png", "not a video file name"), (clip, "the content video itself"),
                          (existing, "already exists")):
        with pytest.raises(StylexferError, match=message) as info:
            controller.write_video(path)
        assert_one_line(str(info.value))
    assert existing.read_bytes() == b"keep me" and not controller.stylizing
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    controller.write_video(blocker / "out.mp4")
    events = run_until(controller, saved)
    (failed,) = only(events, Failed)
    assert failed.action == "video" and "cannot write" in failed.message and not controller.stylizing
    assert_one_line(failed.message)


@pytest.mark.parametrize("make", ["corrupt", "no_pyav"])
def test_unusable_video_content_is_one_line(controller, gui_files, clip, tmp_path, monkeypatch, make) -> None:
    if make == "corrupt":
        content = tmp_path / "noise.mp4"
        content.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
        expected = "not a readable video"
    else:
        content = clip
        monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
        expected = "video files need PyAV"
    with pytest.raises(StylexferError, match=expected) as info:
        controller.thumbnails.get(content, 64)
    assert_one_line(str(info.value))
    controller.set_model(gui_files.johnson_model)
    controller.set_content(content)
    events = stylize(controller)
    (failed,) = only(events, Failed)
    assert expected in failed.message and failed.action == "stylize" and not only(events, Result)
    assert_one_line(failed.message)
    assert controller.result is None and not controller.stylizing
    assert sorted(p.name for p in tmp_path.iterdir()) == (["noise.mp4"] if make == "corrupt" else [])


def test_an_exported_model_of_a_random_vgg_run_warns_in_the_event(gui_files, tmp_path) -> None:
    """The demo's own model: exported from a run with random VGG weights, its encoder embedded in the
    file; the file keeps that fact, so the window shows the warning bar as it does for the checkpoint."""
    weights = read_model_file(gui_files.adain_model)
    path = tmp_path / "exported.safetensors"
    embedded = ModelWeights(ModelSpec("adain", encoder="embedded"), weights.net_state, weights.encoder_state)
    write_safetensors(embedded, path, random_vgg=True)
    controller = Controller(device="cpu")
    try:
        controller.set_model(path)
        (loaded,) = run_until(controller, lambda ev: bool(ev), timeout=120)
    finally:
        controller.close()
    assert isinstance(loaded, ModelLoaded)
    assert [w for w in loaded.warnings if "RANDOM VGG weights" in w] and len(loaded.warnings) == 1, loaded.warnings
