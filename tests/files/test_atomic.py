"""The atomic text/JSON writers and the folder commit in files/atomic.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stylexfer.files.atomic import atomic_folder, atomic_write_json


def test_json_writer_respects_the_umask_and_refuses_to_overwrite(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        path = atomic_write_json(tmp_path / "doc.json", {"a": 1})
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert path.read_text(encoding="utf-8") == '{\n  "a": 1\n}\n'
    with pytest.raises(FileExistsError):
        atomic_write_json(path, {"a": 2}, overwrite=False)
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]  # no temporary left


def test_folder_commit_replaces_the_whole_folder_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "report"
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("one")
        assert not target.exists()
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "b.txt").write_text("two")
        raise RuntimeError("a failed writer")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]  # the old folder, untouched
    with atomic_folder(target) as tmp:
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary or old folder left


def test_a_committed_folder_has_the_ordinary_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_folder(tmp_path / "report") as tmp:
            (tmp / "a.txt").write_text("one")
    finally:
        os.umask(old)
    assert oct((tmp_path / "report").stat().st_mode & 0o777) == oct(0o750)  # 0777 minus the umask
