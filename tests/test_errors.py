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


def test_a_setting_is_named_by_the_api_and_rendered_as_a_flag_by_the_cli(tmp_path, capsys) -> None:
    import pytest

    from stylexfer.cli.main import main
    from stylexfer.experiments.evaluate import EvaluateError, evaluate_models

    with pytest.raises(EvaluateError) as info:
        evaluate_models(["m.ckpt"], tmp_path, None, size=8)
    assert str(info.value) == "size must be at least 16 pixels, got 8"
    assert info.value.render({"size": "--size"}) == "--size must be at least 16 pixels, got 8"
    assert main(["evaluate", "m.ckpt", "--content", str(tmp_path), "--size", "8"]) == 2
    assert capsys.readouterr().err == "stylexfer: error: --size must be at least 16 pixels, got 8\n"


def test_a_message_without_fields_is_kept_as_written() -> None:
    from stylexfer.errors import StylexferError

    assert str(StylexferError("a {literal} brace")) == "a {literal} brace"
    assert StylexferError("pass {overwrite}", "overwrite").render({"overwrite": "--overwrite"}) == "pass --overwrite"
