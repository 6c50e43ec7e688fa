"""stylexfer evaluate and stylexfer report: measures, fixed pairs, reports of sweeps, bad input."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from model_factories import save_adain_ckpt, save_johnson_ckpt
from stylexfer.cli.main import main
from stylexfer.experiments.evaluate import fixed_pairs
from stylexfer.experiments.report import pareto, read_job, search_front
from stylexfer.measures import colour_histogram_distance
from training_utils import make_images


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("data")
    make_images(root / "content", 3, size=(40, 32), seed=1)
    make_images(root / "style", 2, size=(36, 36), seed=2)
    return root / "content", root / "style"


def test_fixed_pairs_are_seeded_and_distinct() -> None:
    contents, styles = [Path(f"c{i}") for i in range(5)], [Path(f"s{i}") for i in range(4)]
    first = fixed_pairs(contents, styles, 6)
    assert first == fixed_pairs(contents, styles, 6) and len(set(first)) == 6
    assert len(fixed_pairs(contents, styles, 100)) == 20  # every pair once


def test_pareto_marks_the_undominated_points() -> None:
    assert pareto([(1, 5), (2, 2), (3, 3), (5, 1)]) == [True, True, False, True]


def test_colour_histogram_distance_spans_zero_to_one() -> None:
    red, blue = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8)
    red[:, 0], blue[:, 2] = 1, 1
    assert colour_histogram_distance(red, red) == 0
    assert colour_histogram_distance(red, blue) == 1


@pytest.mark.slow
def test_evaluate_two_models_of_both_kinds(tmp_path: Path, data: tuple[Path, Path], capsys) -> None:
    content, style = data
    adain = save_adain_ckpt(tmp_path / "adain.ckpt")
    johnson = save_johnson_ckpt(tmp_path / "johnson.ckpt", style_image=str(sorted(style.iterdir())[0]))
    out = tmp_path / "evaluate.json"
    code = main(["evaluate", str(adain), str(johnson), "--content", str(content), "--style", str(style),
                 "--size", "32", "--pairs", "2", "--vgg-weights", "random", "--out", str(out), "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)  # --json: nothing but the document on stdout
    assert printed == json.loads(out.read_text())
    assert printed["vgg_weights"] == "random" and "RANDOM" in printed["note"]
    assert printed["lpips"].startswith("skipped: ")  # never a silent zero
    kinds = [m["kind"] for m in printed["models"]]
    assert kinds == ["adain", "johnson"] and all(len(m["per_pair"]) == 2 for m in printed["models"])
    for model in printed["models"]:
        mean = model["mean"]
        assert mean["content_relu4_1"] > 0 and -1 <= mean["ssim_luma"] <= 1
        assert mean["style_gram_sum"] > mean["style_gram_mean"] > 0  # sum = C²·mean per layer
    assert "measured against its training style" in printed["models"][1]["style"]
    # the same pairs and the same random VGG give the same numbers in a second run
    main(["evaluate", str(adain), "--content", str(content), "--style", str(style), "--size", "32",
          "--pairs", "2", "--vgg-weights", "random", "--out", str(out), "--overwrite"])
    table = capsys.readouterr().out
    assert "adain.ckpt" in table and "VGG-19 weights: random" in table
    again = json.loads(out.read_text())["models"][0]["mean"]
    assert again == printed["models"][0]["mean"]


@pytest.mark.slow
def test_evaluate_bad_input_is_one_line_exit_2(tmp_path: Path, data: tuple[Path, Path], capsys) -> None:
    content, style = data
    corrupt = tmp_path / "broken.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    empty = tmp_path / "empty"
    empty.mkdir()
    good = save_adain_ckpt(tmp_path / "adain.ckpt")
    out = tmp_path / "evaluate.json"
    for argv in (
        ["evaluate", str(corrupt), "--content", str(content), "--style", str(style)],
        ["evaluate", str(good), "--content", str(empty), "--style", str(style)],
        ["evaluate", str(good), "--content", str(content), "--style", str(empty)],
        ["evaluate", str(good), "--content", str(content)],  # an AdaIN model without styles
    ):
        assert main([*argv, "--out", str(out), "--vgg-weights", "random", "--size", "32"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("stylexfer: error: ") and "\n" not in err
        assert not out.exists() and not list(tmp_path.glob(".evaluate.json*"))


def _job(root: Path, name: str, overrides: list[str], *, model: str, summary: dict | None, ckpt) -> Path:
    folder = root / name
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"model": {"name": model}}))
    if summary is not None:
        (folder / "final.json").write_text(json.dumps(summary))
    if ckpt is not None:
        (folder / "checkpoints").mkdir()
        ckpt(folder / "checkpoints" / "last.ckpt")
    return folder


def test_a_running_job_is_one_whose_run_lock_a_live_process_holds(tmp_path: Path) -> None:
    from stylexfer.files.runs import LOCK_NAME
    from stylexfer.training.runfolder import RunLock

    running = _job(tmp_path, "0", [], model="adain", summary={"status": "running", "step": 3}, ckpt=None)
    started = _job(tmp_path, "1", [], model="adain", summary=None, ckpt=None)
    with RunLock(running), RunLock(started):
        assert [read_job(f, tmp_path).status for f in (running, started)] == ["running", "running"]
    # the lock file stays with our own (live) PID in it, but nobody holds the lock any more
    assert (running / LOCK_NAME).read_text().strip() == str(os.getpid())
    job = read_job(running, tmp_path)
    assert (job.status, job.error) == ("killed", "the run stopped without recording an end (killed?)")
    assert read_job(started, tmp_path).status == "unknown"


@pytest.mark.slow
def test_report_on_a_sweep_with_failed_half_written_and_both_kinds(
    tmp_path: Path, data: tuple[Path, Path], capsys
) -> None:
    content, style = data
    sweep = tmp_path / "sweep"
    style_image = str(sorted(style.iterdir())[0])
    done = {"status": "finished", "step": 10, "model": "adain", "metrics": {"val/content": 1.5, "val/style": 0.5}}
    own = {"evaluate": {"content_relu4_1": 0.25, "style_mean_std": 0.125}}  # the run's end-of-training measures
    _job(sweep, "0", ["lambda=1"], model="adain", summary=done | own, ckpt=save_adain_ckpt)
    _job(sweep, "1", ["lambda=10"], model="adain", summary={**done, "status": "failed", "error": "loss became nan"},
         ckpt=lambda p: save_adain_ckpt(p, net=None))
    _job(sweep, "2", ["lambda=5"], model="adain", summary=None, ckpt=None)  # half-written: no summary yet
    _job(sweep, "3", ["model=johnson", "lambda=1e-3"], model="johnson", summary={**done, "model": "johnson"},
         ckpt=lambda p: save_johnson_ckpt(p, style_image=style_image))
    (sweep / "2" / "final.json").write_text('{"status": "runn')  # truncated JSON
    code = main(["report", str(sweep), "--content", str(content), "--style", str(style), "--size", "32",
                 "--pairs", "2", "--vgg-weights", "random"])
    assert code == 0, capsys.readouterr().err
    report = sweep / "report"
    assert {p.name for p in report.iterdir()} >= {"jobs.csv", "report.md", "grid.png", "tradeoff.png"}
    rows = list(csv.DictReader((report / "jobs.csv").open()))
    assert [r["job"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["status"] for r in rows] == ["finished", "failed", "unknown", "finished"]
    assert rows[1]["error"] == "loss became nan" and rows[0]["overrides"] == "lambda=1"
    assert rows[0]["val/content"] == "1.5" and float(rows[0]["content_relu4_1"]) > 0
    assert rows[2]["content_relu4_1"] == ""  # no checkpoint: no measures, no made-up zero
    assert float(rows[3]["style_mean_std"]) > 0
    markdown = (report / "report.md").read_text()
    jobs_table = markdown.split("## The search")[0]  # then runs by status and the search's Pareto set
    assert jobs_table.count("\n| ") == 5 and "both model kinds" in markdown and "★" in markdown
    assert "Runs by status: 1 failed, 2 finished, 1 unknown" in markdown
    assert (rows[0]["run/content_relu4_1"], rows[0]["run/style_mean_std"]) == ("0.25", "0.125")
    assert rows[3]["run/style_mean_std"] == ""  # not in its final.json: left empty
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert table[0].endswith("| run: content_relu4_1 | run: style_mean_std | ★ |")
    assert "| 0.25 | 0.125 |" in table[1]
    from PIL import Image

    with Image.open(report / "grid.png") as grid:  # content row, style row, then one row per job
        assert (2 + 4) * 128 < grid.height < (2 + 4) * (160 + 40)  # six rows of thumbnails, each with its label
    # a second report replaces the first as a whole, leaving no temporary folder
    assert main(["report", str(sweep), "--content", str(content), "--style", str(style), "--size", "32",
                 "--pairs", "1", "--vgg-weights", "random"]) == 0
    assert not [p for p in sweep.iterdir() if p.name.startswith(".report")]


@pytest.mark.slow
def test_report_marks_pruned_runs_and_shows_the_searchs_pareto_set_from_the_run_folders(
    tmp_path: Path, data: tuple[Path, Path], capsys
) -> None:
    sweep = tmp_path / "sweep"
    runs = {  # (content, style) the runs measured at their end; 2 is beaten in both by 1; 3 was pruned
        "0": ("finished", 0.1, 0.9), "1": ("finished", 0.5, 0.2), "2": ("finished", 0.6, 0.3),
        "3": ("pruned", 0.01, 0.01),
    }
    for name, (status, content_d, style_d) in runs.items():
        summary = {"status": status, "step": 4, "model": "adain",
                   "evaluate": {"content_relu4_1": content_d, "style_mean_std": style_d}}
        if status == "pruned":
            summary |= {"step": 1, "pruned_at_step": 1}
        _job(sweep, name, [f"lambda={name}"], model="adain", summary=summary, ckpt=None)
    jobs = [read_job(sweep / name, sweep) for name in runs]
    assert [j.status for j in jobs] == ["finished", "finished", "finished", "pruned"]
    assert [j.name for j in search_front(jobs)] == ["0", "1"]  # the pruned run never competes
    content, style = data
    assert main(["report", str(sweep), "--content", str(content), "--style", str(style), "--size", "32",
                 "--pairs", "1", "--vgg-weights", "random"]) == 0, capsys.readouterr().err
    rows = list(csv.DictReader((sweep / "report" / "jobs.csv").open()))
    assert [r["status"] for r in rows] == ["finished", "finished", "finished", "pruned"]
    markdown = (sweep / "report" / "report.md").read_text()
    assert "| 3 | pruned at step 1 |" in markdown
    assert "Runs by status: 3 finished, 1 pruned" in markdown
    front = markdown.split("Pareto set of the runs' own measures")[1].splitlines()
    assert [line.split(" | ")[0] for line in front if line.startswith("| ") and line[2].isdigit()] == ["| 0", "| 1"]


def test_report_bad_input_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("not a run")
    assert main(["report", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds no run folders" in err and "\n" not in err
    assert not (tmp_path / "nothing" / "report").exists()
    theirs = tmp_path / "sweep" / "report"
    theirs.mkdir(parents=True)
    _job(tmp_path / "sweep", "0", [], model="adain", summary=None, ckpt=None)
    assert main(["report", str(tmp_path / "sweep")]) == 2  # a report/ folder the user made stays
    assert "not written by stylexfer report" in capsys.readouterr().err
    assert list(theirs.iterdir()) == []


def test_evaluate_checks_its_out_before_any_work(tmp_path: Path, data: tuple[Path, Path], capsys) -> None:
    content, style = data
    missing_model = tmp_path / "not_loaded_yet.ckpt"  # the output check must come first
    existing = tmp_path / "mine.json"
    existing.write_text("my own notes\n")
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o500)
    cases = [
        (existing, "already exists; pass --overwrite"),
        (tmp_path, "is a folder"),
        (tmp_path / "nowhere" / "e.json", "no such folder"),
    ]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((read_only / "e.json", "not writable"))
    try:
        for out, reason in cases:
            code = main(["evaluate", str(missing_model), "--content", str(content), "--style", str(style),
                         "--out", str(out)])
            err = capsys.readouterr().err.strip()
            assert code == 2 and err.startswith("stylexfer: error: ") and "\n" not in err, err
            assert reason in err and "not_loaded_yet" not in err, err
        assert existing.read_text() == "my own notes\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.json", "read_only"]
    finally:
        read_only.chmod(0o700)


@pytest.mark.slow
def test_evaluate_writes_into_the_run_folder_or_where_out_says_never_the_current_folder(
    tmp_path: Path, data: tuple[Path, Path], capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, style = data
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    model = save_adain_ckpt(run / "checkpoints" / "last.ckpt")
    argv = ["evaluate", str(model), "--content", str(content), "--style", str(style), "--size", "32",
            "--pairs", "1", "--vgg-weights", "random"]
    assert main(argv) == 0
    assert f"wrote {run / 'evaluate.json'}" in capsys.readouterr().out
    assert json.loads((run / "evaluate.json").read_text())["models"][0]["kind"] == "adain"
    assert main(argv) == 2  # its own earlier file too is replaced only when asked
    assert "pass --overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    loose = save_adain_ckpt(tmp_path / "loose.ckpt")  # not in a run folder: only the table
    assert main(["evaluate", str(loose), *argv[2:]]) == 0
    assert "no JSON written: pass --out FILE" in capsys.readouterr().out
    assert list(here.iterdir()) == [] and not (tmp_path / "evaluate.json").exists()
