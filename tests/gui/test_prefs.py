"""Recent files in the user's config folder (atomic, corrupt files ignored with a warning) and the
light/dark choice, without a display."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from stylexfer.gui import prefs
from stylexfer.gui.prefs import MAX_RECENT, RecentFiles, config_dir, system_theme


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG rules are Linux's")
def test_config_dir_follows_xdg(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg" / "stylexfer"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")  # the spec says: ignore relative paths
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir() == tmp_path / "home" / ".config" / "stylexfer"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert RecentFiles.default().path == tmp_path / "cfg" / "stylexfer" / "recent.json"


def test_recent_files_round_trip_newest_first_without_duplicates(tmp_path) -> None:
    store = tmp_path / "config" / "recent.json"
    files = [tmp_path / f"photo{i}.png" for i in range(MAX_RECENT + 3)]
    for path in files:
        path.write_bytes(b"x")
    recent = RecentFiles(store)
    for path in files:
        recent.add("content", path)
    recent.add("content", files[0])  # used again: back to the front, once
    recent.set_save_folder(tmp_path)
    assert sorted(p.name for p in store.parent.iterdir()) == ["recent.json"]  # no temporaries left
    again = RecentFiles(store)
    assert again.problem is None
    assert again.get("content") == [files[0], *reversed(files[-(MAX_RECENT - 1):])]
    assert again.save_folder == str(tmp_path)
    files[0].unlink()  # a file gone since is not offered
    assert files[0] not in again.get("content")
    with pytest.raises(ValueError, match="unknown kind"):
        again.add("video", files[1])


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"version": 1, "recent": {"content": [3]}}',
                                  '{"version": 99}', "\udcff"])
def test_a_corrupt_list_is_ignored_with_a_warning_and_replaced(tmp_path, caplog, text) -> None:
    store = tmp_path / "recent.json"
    store.write_bytes(text.encode("utf-8", "surrogateescape"))
    with caplog.at_level(logging.WARNING, logger=prefs.__name__):
        recent = RecentFiles(store)
    assert recent.problem is not None and "recent.json" in recent.problem and "\n" not in recent.problem
    assert recent.problem in caplog.text
    assert recent.get("content") == [] and recent.save_folder is None
    photo = tmp_path / "a.png"
    photo.write_bytes(b"x")
    recent.add("content", photo)  # the next change writes a good list over it
    assert json.loads(store.read_text())["recent"]["content"] == [str(photo)]


def test_an_unwritable_config_folder_does_not_stop_the_gui(tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    recent = RecentFiles(blocker / "stylexfer" / "recent.json")
    recent.add("model", tmp_path / "m.safetensors")  # no exception: kept in memory, said once
    assert recent.problem is not None and "cannot write" in recent.problem
    assert recent.lists["model"] == [str(tmp_path / "m.safetensors")]


def test_theme_override_and_fallback(monkeypatch) -> None:
    monkeypatch.setenv("STYLEXFER_THEME", "dark")
    assert system_theme() == "dark"
    monkeypatch.setenv("STYLEXFER_THEME", "Light")
    assert system_theme() == "light"
    monkeypatch.setenv("STYLEXFER_THEME", "")
    monkeypatch.setitem(sys.modules, "darkdetect", None)  # not installed: GTK's override, else light
    monkeypatch.setenv("GTK_THEME", "Adwaita:dark")
    assert system_theme() == "dark"
    monkeypatch.delenv("GTK_THEME")
    assert system_theme() == "light"
