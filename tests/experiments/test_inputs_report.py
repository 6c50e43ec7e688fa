"""`stylexfer report` on run folders whose names, overrides and errors are hostile (issue 20, item 9):
plot labels are drawn literally (two `$` are not maths), every Markdown cell is escaped with its
newlines collapsed, and CSV cells that a spreadsheet would run as a formula are neutralised."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from stylexfer.cli.main import main
from stylexfer.experiments import report as report_mod
from stylexfer.experiments.report import Job
from training_utils import make_images

HOSTILE_OVERRIDES = [
    "name=<script>alert(1)</script>",
    "note=[click](javascript:alert(1))",
    "a=b|c",
    "tag=<iframe src=x>",
    "cost=$5 and $10$",
]


def _run(folder: Path, overrides: list[str], summary: dict) -> None:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(json.dumps(overrides))  # JSON is YAML
    (folder / "final.json").write_text(json.dumps(summary))


def test_report_escapes_markdown_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_images(tmp_path / "content", 1, size=(32, 32), seed=1)
    make_images(tmp_path / "style", 1, size=(32, 32), seed=2)
    sweep = tmp_path / "sweep"
    _run(sweep / "0", HOSTILE_OVERRIDES, {"status": "failed", "error": "boom\n| x | y |\n<script>x</script>"})
    _run(sweep / "=HYPERLINK(1)", ["lambda=1"], {"status": "finished", "error": "@SUM(A1)"})
    _run(sweep / "$a$ $\\frac{1}{2}$", ["+trainer.x=-1"], {"status": "finished"})
    assert main(["report", str(sweep), "--content", str(tmp_path / "content"), "--style", str(tmp_path / "style"),
                 "--vgg-weights", "random"]) == 0, capsys.readouterr().err
    markdown = (sweep / "report" / "report.md").read_text(encoding="utf-8")
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3  # head, rule, one row per job: no newline ended a row
    columns = table[0].count(" | ")
    for row in table[2:]:
        assert row.replace("\\|", "").count(" | ") == columns  # no `|` shifted a column
    for raw in ("<script>", "<iframe", "](javascript:", "\n| x | y |"):
        assert raw not in markdown
    assert "&lt;script&gt;" in markdown and "javascript" in markdown  # kept, as text
    rows = list(csv.reader((sweep / "report" / "jobs.csv").open(encoding="utf-8")))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=HYPERLINK(1)" in cells and "'@SUM(A1)" in cells and "'+trainer.x=-1" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]


def test_tradeoff_labels_are_drawn_literally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    labels = ["lambda=$1$ x=$\\frac{1}{2}$", "$a^$ $$", "plain"]
    jobs = [Job(folder=tmp_path / str(i), name=str(i), overrides=[label],
                measures={report_mod.X_MEASURE: 1.0 + i, report_mod.Y_MEASURE: 3.0 - i})
            for i, label in enumerate(labels)]
    report_mod._tradeoff(tmp_path / "tradeoff.png", jobs)  # two `$` crashed matplotlib's maths parser
    assert (tmp_path / "tradeoff.png").stat().st_size > 0
    (figure,) = figures
    texts = [text for ax in figure.axes for text in ax.texts]
    assert sorted(text.get_text() for text in texts) == sorted(labels)
    for text in texts:  # literal: what is shown is the label, not TeX rendered from it
        assert not text.get_parse_math()
    close(figure)
