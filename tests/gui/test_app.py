"""The real window on a virtual X server (Xvfb): drive a stylization through the widgets, check the
result shown and saved, the Johnson and error paths, and save a screenshot under outputs/gui/."""

from __future__ import annotations

import gc
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

tk = pytest.importorskip("tkinter", reason="this Python has no Tkinter (Debian/Ubuntu: apt install python3-tk)")
from PIL import Image, ImageGrab  # noqa: E402

from stylexfer.files.images import load_image  # noqa: E402
from stylexfer.gui import app as gui_app  # noqa: E402
from stylexfer.gui.controller import Controller  # noqa: E402

CONTENT_SIZE = (64, 48)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "outputs" / "gui"


@pytest.fixture(scope="module")
def xdisplay():
    """A private Xvfb server; `-displayfd` makes it pick a free display number and tell us which."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian/Ubuntu: apt install xvfb; .ci/run installs it)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 30)
        number = os.read(read_end, 64).decode().strip() if ready else ""
        if not number:
            pytest.fail("Xvfb did not report a display within 30 s")
        yield f":{number}"
    finally:
        os.close(read_end)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def app(xdisplay, cached_loader):
    root = tk.Tk(screenName=xdisplay)
    window = gui_app.StylexferApp(root, Controller(device="cpu", loader=cached_loader))
    root.update()
    yield window
    window.close()
    # A destroyed Tk root is cyclic garbage; collected on the worker thread, Tcl would abort the process
    # ("Tcl_AsyncDelete: async handler deleted by the wrong thread"). Collect it here, on Tk's thread.
    del window, root
    gc.collect()


def pump(window, condition, *, timeout: float = 60.0) -> None:
    """Run Tk's event loop (as mainloop would) until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"GUI did not get there within {timeout:.0f} s; status: {window.status_var.get()!r}")
        window.root.update()
        time.sleep(0.01)


def enabled(widget) -> bool:
    return widget.instate(["!disabled"])


def screenshot(window, display: str, name: str) -> Path:
    window.root.update()
    root = window.root
    x, y = root.winfo_rootx(), root.winfo_rooty()
    box = (x, y, x + root.winfo_width(), y + root.winfo_height())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    ImageGrab.grab(bbox=box, xdisplay=display).save(path)
    return path


def test_stylize_through_the_window(app, xdisplay, gui_files, tmp_path) -> None:
    app.set_model(gui_files.adain_model)
    assert app.model_info.cget("text") == "loading…"
    pump(app, lambda: "AdaIN" in app.model_info.cget("text"))
    assert enabled(app.style_button) and not enabled(app.save_button)

    app.set_content(gui_files.content)
    app.set_style(gui_files.style)
    assert (app.content_panel.photo.width(), app.content_panel.photo.height()) == CONTENT_SIZE
    assert "64×48" in app.content_panel.caption.cget("text")
    assert app.style_panel.photo is not None

    app.alpha_scale.set(0.6)  # moving the slider updates its read-out
    app.root.update()
    assert app.alpha_text.cget("text") == "0.60"
    app.preserve_check.invoke()
    assert app.preserve_var.get() is True

    requests = []
    real_stylize = app.controller.stylize
    app.controller.stylize = lambda **kw: (requests.append(kw), real_stylize(**kw))[1]
    app.stylize_button.invoke()
    assert requests == [{"alpha": 0.6, "preserve_color": True}]
    assert not enabled(app.stylize_button)  # no second click while the worker runs
    pump(app, lambda: app.controller.result is not None)
    app.root.update()

    assert (app.result_panel.photo.width(), app.result_panel.photo.height()) == CONTENT_SIZE
    assert app.controller.result.size == CONTENT_SIZE
    assert enabled(app.stylize_button) and enabled(app.save_button)
    assert str(app.progress.cget("mode")) == "determinate" and float(app.progress.cget("value")) == 1.0
    assert app.status_var.get().startswith("Done")
    assert app._suggested_name() == "photo__stripes.png"

    saved = app.save(tmp_path / "photo__stripes.png")
    assert saved is not None and saved.exists()
    assert load_image(saved).size == CONTENT_SIZE
    assert app.status_var.get() == f"Saved {saved}"

    shot = screenshot(app, xdisplay, "screenshot.png")
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    width, height = app.root.winfo_width(), app.root.winfo_height()
    assert pixels.shape[:2] == (height, width) and width >= 800
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # widgets and three pictures, not a blank
    # The result thumbnail is on screen: its pixels appear at the result label's place.
    label = app.result_panel.image_label
    lx, ly = label.winfo_rootx() - app.root.winfo_rootx(), label.winfo_rooty() - app.root.winfo_rooty()
    shown = pixels[ly:ly + label.winfo_height(), lx:lx + label.winfo_width()]
    result = np.asarray(app.controller.result)
    assert any(
        np.array_equal(shown[r:r + CONTENT_SIZE[1], c:c + CONTENT_SIZE[0]], result)
        for r in range(shown.shape[0] - CONTENT_SIZE[1] + 1)
        for c in range(shown.shape[1] - CONTENT_SIZE[0] + 1)
        if np.array_equal(shown[r, c], result[0, 0])
    )


def test_fixed_style_model_disables_the_style_picker(app, gui_files) -> None:
    app.set_style(gui_files.style)
    app.set_model(gui_files.johnson_model)
    pump(app, lambda: "Johnson" in app.model_info.cget("text"))
    assert not enabled(app.style_button)
    assert "built in" in app.style_panel.caption.cget("text")

    app.set_content(gui_files.content)
    app.stylize_button.invoke()
    pump(app, lambda: app.controller.result is not None)
    app.root.update()
    assert (app.result_panel.photo.width(), app.result_panel.photo.height()) == CONTENT_SIZE
    assert app._suggested_name() == "photo__johnson.png"


def test_errors_show_in_the_status_line(app, xdisplay, gui_files, tmp_path) -> None:
    error = gui_app.ERROR_COLOUR

    def status_is_error() -> bool:
        return str(app.status_label.cget("foreground")) == error

    app.stylize_button.invoke()  # nothing chosen yet
    assert "model" in app.status_var.get() and status_is_error()

    app.set_model(gui_files.wrong_kind_model)
    pump(app, lambda: app.model_info.cget("text") == "not loaded")
    assert "wrong-kind.safetensors" in app.status_var.get() and status_is_error()

    app.set_model(gui_files.adain_model)
    pump(app, lambda: "AdaIN" in app.model_info.cget("text"))
    app.set_style(gui_files.style)
    app.set_content(gui_files.corrupt)  # the preview already says what is wrong
    message = app.status_var.get()
    assert "corrupt.png" in message and "\n" not in message and status_is_error()
    assert app.content_panel.photo is None

    app.stylize_button.invoke()  # and stylizing it reports it again, without a traceback
    pump(app, lambda: enabled(app.stylize_button))
    message = app.status_var.get()
    assert "corrupt.png" in message and "\n" not in message and "Traceback" not in message
    assert status_is_error() and app.controller.result is None and not enabled(app.save_button)
    assert float(app.progress.cget("value")) == 0.0
    screenshot(app, xdisplay, "screenshot-error.png")

    app.save(tmp_path / "nothing.png")  # Save before any result
    assert "nothing to save" in app.status_var.get() and not (tmp_path / "nothing.png").exists()


def test_gui_command_without_a_display_is_a_one_line_error() -> None:
    # `stylexfer gui` in a fresh interpreter (once Tk is initialised in a process it may reuse a display).
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, "-m", "stylexfer", "gui"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot open a window" in lines[0] and "DISPLAY" in lines[0], done.stderr
