"""`stylexfer report SWEEP_DIR`: one table, one picture and one trade-off plot for a folder of runs.

A run folder is any folder under SWEEP_DIR holding `.hydra/`, `final.json` or `checkpoints/` (a Hydra
multirun folder's numbered jobs, or run folders gathered by hand). Read without Hydra or Lightning:
`.hydra/*.yaml` are plain YAML and `final.json` is written by the training run (RunSummary) from its
first step; a run without it failed at start-up (its train.log says why), runs, or was never started.

Writes SWEEP_DIR/report/{jobs.csv, report.md, grid.png, tradeoff.png} into a temporary folder first
and renames it into place, so a reader sees the whole old report or the whole new one.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from stylexfer.errors import StylexferError, one_line
from stylexfer.experiments.evaluate import evaluate_models
from stylexfer.files.atomic import atomic_folder
from stylexfer.files.runs import SUMMARY_NAME, is_locked
from stylexfer.files.userfile import file_problem, read_text_if_regular
from stylexfer.measures import OBJECTIVES, Judge

REPORT_DIR = "report"
MARKER = ".stylexfer-report"  # a report folder this tool wrote (and may replace)
X_MEASURE, Y_MEASURE = OBJECTIVES  # both kinds are measured on these; the Optuna searches minimise them
VAL_TERMS = ("val/content", "val/style", "val/total")


class ReportError(StylexferError, ValueError):
    """A folder without runs, or a report folder that is not ours to replace."""


@dataclass
class Job:
    folder: Path
    name: str
    overrides: list[str] = field(default_factory=list)
    status: str = "unknown"
    error: str | None = None
    model: str | None = None
    step: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    measures: dict[str, float] = field(default_factory=dict)  # this report's evaluate pass on its checkpoint
    run_measures: dict[str, float] = field(default_factory=dict)  # the run's own, at its end (final.json)
    checkpoint: Path | None = None
    pruned_at: int | None = None  # the step a search's pruner stopped the run at (status "pruned")
    config: dict[str, Any] = field(default_factory=dict)
    cwd: Path | None = None

    @property
    def label(self) -> str:
        return " ".join(self.overrides) or self.name


def _yaml(path: Path) -> Any:
    text = read_text_if_regular(path)  # never blocks on a FIFO named like a record
    try:
        return yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        return None


def find_runs(root: Path) -> list[Path]:
    """Run folders under `root` (not below another run folder), sorted by job number then name."""
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if any((folder / name).exists() for name in (".hydra", SUMMARY_NAME, "checkpoints")):
            found.append(folder)
            return
        if depth == 0:
            return
        with contextlib.suppress(OSError):
            for child in sorted(folder.iterdir()):
                if (
                    child.is_dir()
                    and not child.is_symlink()
                    and child.name != REPORT_DIR
                    and not child.name.startswith(".")
                ):
                    walk(child, depth - 1)

    walk(root, 3)
    return sorted(found, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, str(p)))


def read_job(folder: Path, root: Path) -> Job:
    """Everything the report says about one run folder; never raises for a broken run."""
    job = Job(folder=folder, name=str(folder.relative_to(root)) if folder != root else folder.name)
    overrides = _yaml(folder / ".hydra" / "overrides.yaml")
    if isinstance(overrides, list):
        job.overrides = [str(o) for o in overrides]
    config = _yaml(folder / ".hydra" / "config.yaml")
    if isinstance(config, dict):
        job.config = config
        model = config.get("model")
        job.model = model.get("name") if isinstance(model, dict) else None
    hydra = _yaml(folder / ".hydra" / "hydra.yaml")
    with contextlib.suppress(AttributeError, TypeError, KeyError):
        job.cwd = Path(hydra["hydra"]["runtime"]["cwd"])
    summary = None
    summary_text = read_text_if_regular(folder / SUMMARY_NAME)
    with contextlib.suppress(ValueError):
        summary = json.loads(summary_text) if summary_text is not None else None
    unreadable = [f"{name}: {problem}" for name in (SUMMARY_NAME, ".hydra/overrides.yaml", ".hydra/config.yaml")
                  if (folder / name).exists() and (problem := file_problem(folder / name))]
    if isinstance(summary, dict):
        job.status = str(summary.get("status", "unknown"))
        job.error = summary.get("error")
        job.step = summary.get("step")
        job.model = summary.get("model") or job.model
        job.metrics = {
            k: float(v)
            for k, v in (summary.get("metrics") or {}).items()
            if k in VAL_TERMS and isinstance(v, (int, float))
        }
        job.run_measures = {
            k: float(v)
            for k, v in (summary.get("evaluate") or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if isinstance(summary.get("pruned_at_step"), int):
            job.pruned_at = summary["pruned_at_step"]
        if job.status == "running" and not is_locked(folder):
            job.status, job.error = "killed", "the run stopped without recording an end (killed?)"
    else:
        log_error = _error_in_log(folder / "train.log")
        if log_error:
            job.status, job.error = "failed", log_error
        elif is_locked(folder):
            job.status = "running"
        else:  # status stays "unknown"
            job.error = "no final.json (never started, or killed before its first step)"
    if unreadable and not job.error:
        job.error = "; ".join(unreadable)
    last = folder / "checkpoints" / "last.ckpt"
    job.checkpoint = last if last.is_file() else None
    return job


def _error_in_log(log: Path) -> str | None:
    text = read_text_if_regular(log)
    if text is not None:
        for line in reversed(text.splitlines()[-50:]):
            if "error" in line.lower() and ("[ERROR]" in line or "Error" in line):
                return line.strip()[:300]
    return None


def data_folders(jobs: list[Job], content: str | None, style: str | None) -> tuple[Path, Path | None]:
    """The folders the report's fixed pairs come from: given, or the first job's validation data
    (its data.val_*_dir, else data.*_dir, else its generated sample set)."""
    if content:
        return Path(content), Path(style) if style else None
    for job in jobs:
        found = job.config.get("data")
        data: dict[str, Any] = found if isinstance(found, dict) else {}
        base = job.cwd or Path.cwd()
        for c_key, s_key in (("val_content_dir", "val_style_dir"), ("content_dir", "style_dir")):
            c, s = data.get(c_key), data.get(s_key)
            c = c[0] if isinstance(c, list) and c else c
            s = s[0] if isinstance(s, list) and s else s
            if isinstance(c, str) and c:
                return base / c, (base / s) if isinstance(s, str) and s else None
        samples = sorted(job.folder.glob("sample_data_v*/content"))
        if samples:
            return samples[-1], samples[-1].parent / "style"
    raise ReportError("cannot tell which images to evaluate on; pass {content} and {style} (folders of images)",
                      "content", "style")


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """True for each point no other point beats in both coordinates (lower is better in both)."""
    return [not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points) for p in points]


def make_report(
    root: str | os.PathLike,
    *,
    content: str | None = None,
    style: str | None = None,
    size: int = 256,
    pairs: int = 4,
    vgg_weights: str = "auto",
    device: str = "cpu",
) -> Path:
    """Write root/report/ (see the module docstring); returns its path."""
    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"{root} is not a folder; pass a sweep folder (outputs/multirun/<date>/<time>)")
    target = root / REPORT_DIR
    if target.exists() and not (target / MARKER).is_file():
        raise ReportError(f"{target} exists and was not written by stylexfer report; move it away first")
    folders = find_runs(root)
    if not folders:
        raise ReportError(
            f"{root} holds no run folders (folders with .hydra/, final.json or checkpoints/); "
            "pass a sweep folder or a folder of run folders"
        )
    jobs = [read_job(folder, root) for folder in folders]
    common = set.intersection(*(set(job.overrides) for job in jobs)) if len(jobs) > 1 else set()
    for job in jobs:  # label each job by what sets it apart; the shared overrides are said once
        job.overrides = [o for o in job.overrides if o not in common]
    content_dir, style_dir = data_folders(jobs, content, style)
    judge = Judge(vgg_weights, device=device)
    evaluated = [job for job in jobs if job.checkpoint is not None]
    doc = _evaluate_each(evaluated, content_dir, style_dir, size, pairs, judge, device)
    with atomic_folder(target) as tmp:
        (tmp / MARKER).write_text("written by stylexfer report\n")
        _write_csv(tmp / "jobs.csv", jobs)
        (tmp / "report.md").write_text(_markdown(jobs, doc, judge, root, sorted(common)), encoding="utf-8")
        _grid(tmp / "grid.png", jobs, doc)
        _tradeoff(tmp / "tradeoff.png", jobs)
    return target


def _evaluate_each(
    jobs: list[Job], content_dir: Path, style_dir: Path | None, size: int, pairs: int, judge: Judge, device: str
) -> dict[str, Any]:
    """One evaluate pass per job (a broken checkpoint marks that job, not the report)."""
    merged: dict[str, Any] = {"pairs": [], "_inputs": [], "_by_folder": {}}  # job folder -> its pictures
    for job in jobs:
        try:
            doc = evaluate_models(
                [job.checkpoint] if job.checkpoint else [],
                content_dir,
                style_dir,
                size=size,
                pairs=pairs,
                judge=judge,
                device=device,
                keep_images=True,
            )
        except StylexferError as err:
            job.error = job.error or f"evaluate: {one_line(err)}"
            continue
        job.measures = doc["models"][0]["mean"]
        merged["_by_folder"][job.folder] = doc["_images"][0]
        if not merged["pairs"]:
            merged["pairs"], merged["_inputs"] = doc["pairs"], doc["_inputs"]
    return merged


MEASURE_COLUMNS = (
    "content_relu4_1",
    "content_relu2_2",
    "ssim_luma",
    "style_gram_mean",
    "style_mean_std",
    "colour_hist",
)


# Characters with a meaning in Markdown (CommonMark's backslash-escapable punctuation that can start
# markup) and in the HTML it may contain; `<`, `>` and `&` become entities so no tag survives.
_MARKDOWN_ESCAPES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", **{c: "\\" + c for c in "\\`*_[](){}#+!|~"}}
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def markdown_text(text: str) -> str:
    """Text from a run folder (a name, an override, an error) as one literal Markdown table cell:
    whitespace runs (newlines included) collapsed to one space, markup and HTML escaped."""
    flat = " ".join(str(text).split())
    return "".join(_MARKDOWN_ESCAPES.get(c, c) for c in flat)


def csv_text(text: str) -> str:
    """A CSV text cell a spreadsheet shows as text: a leading formula character gets a `'` first."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _write_csv(path: Path, jobs: list[Job]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "job",
                "status",
                "error",
                "model",
                "overrides",
                "step",
                *VAL_TERMS,
                *MEASURE_COLUMNS,
                *[f"run/{k}" for k in MEASURE_COLUMNS],
            ]
        )
        for job in jobs:
            writer.writerow(
                [
                    csv_text(job.name),
                    csv_text(job.status),
                    csv_text(job.error or ""),
                    csv_text(job.model or ""),
                    csv_text(" ".join(job.overrides)),
                    job.step if job.step is not None else "",
                    *[_fmt(job.metrics.get(k)) for k in VAL_TERMS],
                    *[_fmt(job.measures.get(k)) for k in MEASURE_COLUMNS],
                    *[_fmt(job.run_measures.get(k)) for k in MEASURE_COLUMNS],
                ]
            )


def _markdown(jobs: list[Job], doc: dict[str, Any], judge: Judge, root: Path, shared: list[str]) -> str:
    kinds = sorted({job.model for job in jobs if job.model})
    # a fixed-style model whose file names no style image has no style measures: off the front
    measured = [j for j in jobs if X_MEASURE in j.measures and Y_MEASURE in j.measures]
    best = pareto([(j.measures[X_MEASURE], j.measures[Y_MEASURE]) for j in measured])
    on_front = {j.name for j, b in zip(measured, best, strict=True) if b}
    lines = [f"# Sweep report: {markdown_text(str(root))}", ""]
    lines.append(
        f"{len(jobs)} job(s); model kind(s): {markdown_text(', '.join(kinds)) or 'unknown'}. "
        f"Measures of each job's last checkpoint on {len(doc.get('pairs', []))} fixed pair(s) "
        f"(VGG-19 weights: {judge.vgg_weights}); lower is better except SSIM. "
        "★ = Pareto-optimal in (content_relu4_1, style_mean_std). "
        "The `run:` columns are the run's own end-of-training measures on its validation pairs at its crop "
        "size (final.json; what an Optuna search minimises): same formulas, other pictures and size."
    )
    if shared:
        lines += ["", f"Overrides common to every job: {markdown_text(' '.join(shared))}"]
    if judge.random_vgg:
        lines += ["", "**Random VGG weights**: the measures check the pipeline only."]
    if len(kinds) > 1:
        lines += ["", "Jobs of both model kinds: the measures are the same for both (λ and loss scales are not)."]
    lines.append("")
    head = [
        "job",
        "status",
        "overrides",
        "step",
        "val/content",
        "val/style",
        *MEASURE_COLUMNS,
        *[f"run: {k}" for k in OBJECTIVES],
        "★",
    ]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for job in jobs:
        status = job.status if not job.error else f"{job.status}: {job.error}"
        if job.pruned_at is not None:
            status = f"pruned at step {job.pruned_at}"
        cells = [
            markdown_text(job.name),
            markdown_text(status),
            markdown_text(" ".join(job.overrides)),
            _fmt(job.step),
            _fmt(job.metrics.get("val/content")),
            _fmt(job.metrics.get("val/style")),
            *[_fmt(job.measures.get(k)) for k in MEASURE_COLUMNS],
            *[_fmt(job.run_measures.get(k)) for k in OBJECTIVES],
            "★" if job.name in on_front else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += _search_section(jobs)
    lines += ["", "![grid](grid.png)", "", "![trade-off](tradeoff.png)", ""]
    return "\n".join(lines)


def search_front(jobs: list[Job]) -> list[Job]:
    """The finished runs no other finished run beats in both of the run's own end-of-training measures
    (what an Optuna search minimises): the search's Pareto set. Pruned runs stopped early and never compete."""
    measured = [j for j in jobs if j.status == "finished" and all(k in j.run_measures for k in OBJECTIVES)]
    points = [(j.run_measures[X_MEASURE], j.run_measures[Y_MEASURE]) for j in measured]
    return [job for job, best in zip(measured, pareto(points), strict=True) if best]


def _search_section(jobs: list[Job]) -> list[str]:
    """Trials by status and the search's Pareto set (from final.json alone, whatever logger the runs used)."""
    counts = Counter(job.status for job in jobs)
    front = search_front(jobs)
    lines = ["", "## The search", "", "Runs by status: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
    if "pruned" in counts:
        lines.append("Pruned runs were stopped early by the search's pruner: their measures are those of that step.")
    if front:
        lines += ["", f"Pareto set of the runs' own measures ({X_MEASURE}, {Y_MEASURE}; lower is better in both):", ""]
        lines += ["| job | overrides | " + " | ".join(OBJECTIVES) + " |", "|---|---|---|---|"]
        for job in sorted(front, key=lambda j: j.run_measures[X_MEASURE]):
            cells = [
                job.name,
                " ".join(job.overrides).replace("|", "/"),
                *(_fmt(job.run_measures[k]) for k in OBJECTIVES),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


GRID_TILE = 160  # px per thumbnail (the pictures are evaluated at --size, often smaller: enlarged)


def _grid(path: Path, jobs: list[Job], doc: dict[str, Any]) -> None:
    """The contact sheet (inference.sheet.compose_sheet, labels in strips above the rows): the
    contents as the header row, then the styles (if any), then one row per job; columns: the fixed
    pairs. Each row's label is wrapped in full, so the sheet is pictures, not margin."""
    from stylexfer.files.images import save_image, to_pil
    from stylexfer.inference.sheet import compose_sheet

    def picture(image: Any) -> Any:
        return None if image is None else to_pil(image[0] if image.dim() == 4 else image)

    inputs = doc.get("_inputs") or []
    columns = max(1, len(inputs))
    names = [Path(pair["content"]).stem for pair in doc.get("pairs", [])]
    header = [(names[i] if i < len(names) else "content", picture(c)) for i, (c, _) in enumerate(inputs)]
    rows: list[tuple[str, list[Any]]] = []
    if any(s is not None for _, s in inputs):
        rows.append(("style", [picture(s) for _, s in inputs]))
    for job in jobs:
        images = doc.get("_by_folder", {}).get(job.folder)
        label = job.label if images else f"{job.label} (no checkpoint)"
        rows.append((label, [picture(i) for i in images] if images else [None] * columns))
    sheet = compose_sheet([(label, None) for label, _ in rows], header or [("", None)], [cells for _, cells in rows],
                          tile_size=GRID_TILE, row_labels="above")
    save_image(sheet, path)


def _tradeoff(path: Path, jobs: list[Job]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    measured = [j for j in jobs if X_MEASURE in j.measures and Y_MEASURE in j.measures]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    if measured:
        points = [(j.measures[X_MEASURE], j.measures[Y_MEASURE]) for j in measured]
        front = pareto(points)
        for job, (x, y), best in zip(measured, points, front, strict=True):
            ax.scatter(
                [x],
                [y],
                marker="*" if best else "o",
                s=160 if best else 50,
                color="tab:red" if best else "tab:blue",
                zorder=3,
            )
            ax.annotate(job.label or job.name, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=7,
                        parse_math=False)  # literal: `$...$` in an override is text, not TeX
        ordered = sorted(p for p, b in zip(points, front, strict=True) if b)
        if len(ordered) > 1:
            ax.plot(*zip(*ordered, strict=True), color="tab:red", linewidth=1, zorder=2, label="Pareto front")
            ax.legend(loc="best", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no job has a checkpoint yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"content distance ({X_MEASURE}, lower = closer to the content)")
    ax.set_ylabel(f"style distance ({Y_MEASURE}, lower = closer to the style)")
    ax.set_title("content/style trade-off, one point per job (★ Pareto-optimal)")
    ax.grid(True, alpha=0.3)
    with warnings.catch_warnings():  # long labels: a clipped margin is fine, a warning line is noise
        warnings.simplefilter("ignore")
        fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


