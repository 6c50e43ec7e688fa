"""errors.one_line: the one way an exception becomes the user's line."""

from __future__ import annotations

from stylexfer.errors import one_line


def test_first_non_blank_line_escaped_and_cut() -> None:
    assert one_line(ValueError("\n  bad value \nmore detail")) == "bad value"
    assert one_line(OSError("name\x1bwith escape")) == "name\\x1bwith escape"
    assert one_line(ValueError("x" * 200)) == "x" * 157 + "..."
    assert one_line(KeyError()) == "KeyError"
    assert one_line(OSError(28, "No space left on device"), with_type=True) == (
        "OSError: [Errno 28] No space left on device"
    )


def test_a_loader_workers_traceback_gives_its_original_message() -> None:
    err = RuntimeError(
        "Caught FileNotFoundError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\nFileNotFoundError: [Errno 2] No such file: a.jpg\n'
    )
    assert one_line(err) == "[Errno 2] No such file: a.jpg (in a data-loader worker)"
