"""The commands shown in the README and on every page of the documentation site (docs/) exist: every
fenced `stylexfer …` command names a real subcommand and real
flags (read from the parser, so new subcommands are covered as they land), every `python -m
stylexfer.train` override names a real config group option or key, and `python -m stylexfer.demo`
flags are the demo's. Examples follow the activation convention (no `.venv/bin/` prefix)."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from selection import fast_sample

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "src" / "stylexfer" / "conf"


DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def readme_commands() -> list[str]:
    """Commands from the fenced code blocks of the README and the docs pages."""
    return [command for page in DOC_PAGES for command in page_commands(page)]


def page_commands(page: Path) -> list[str]:
    """Commands from one page's fenced code blocks, continuation lines joined, comments dropped."""
    text = page.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(("stylexfer ", "python -m stylexfer")):
                commands.append(line)
    return commands


def _words(command: str) -> list[str]:
    """The command's own words: up to the first pipe or redirection (`| jq …`, `< photo.jpg`)."""
    words = shlex.split(command.replace("…", "X"))
    ends = [i for i, w in enumerate(words) if w in ("|", "<", ">", ">>", "&&", ";")]
    return words[: ends[0]] if ends else words


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(words: list[str]) -> list[str]:
    return [w.split("=")[0] for w in words if w.startswith("-") and w != "-" and not re.fullmatch(r"-\d.*", w)]


def test_the_readme_has_commands_and_uses_the_activated_venv() -> None:
    commands = readme_commands()
    assert sum(c.startswith("stylexfer ") for c in commands) >= 10
    assert sum(c.startswith("python -m stylexfer.train") for c in commands) >= 5
    assert "source .venv/bin/activate" in (ROOT / "README.md").read_text(encoding="utf-8")
    for page in DOC_PAGES:
        text = page.read_text(encoding="utf-8")
        prefixed = [line for line in text.splitlines() if ".venv/bin/" in line and "activate" not in line]
        assert prefixed == [], page


def test_the_docs_pages_commands_are_checked_too() -> None:
    """Each page's commands are in the checked list (a page moved out of the README stays covered)."""
    commands = set(readme_commands())
    for name in ("getting-started.md", "stylizing.md", "training.md", "experiments.md", "model-files.md"):
        shown = page_commands(ROOT / "docs" / name)
        assert shown and set(shown) <= commands, name


@pytest.mark.parametrize("command", [c for c in readme_commands() if c.startswith("stylexfer ")])
def test_stylexfer_commands_name_real_subcommands_and_flags(command: str) -> None:
    from stylexfer.cli.main import build_parser

    words = _words(command)
    subcommands = _subparsers(build_parser())
    assert words[1] in subcommands, f"{command}: no subcommand {words[1]!r}"
    unknown = set(_flags(words[2:])) - _options(subcommands[words[1]])
    assert not unknown, f"{command}: unknown flags {sorted(unknown)}"


@pytest.mark.parametrize("command", [c for c in readme_commands() if c.startswith("python -m stylexfer.demo")])
def test_demo_commands_name_real_flags(command: str) -> None:
    from stylexfer.demo import build_parser

    unknown = set(_flags(_words(command)[3:])) - _options(build_parser())
    assert not unknown, f"{command}: unknown flags {sorted(unknown)}"


@pytest.mark.parametrize(
    "command", fast_sample([c for c in readme_commands() if c.startswith("python -m stylexfer.train")], keep=5)
)
def test_train_overrides_name_real_groups_and_keys(command: str) -> None:
    from omegaconf import OmegaConf

    from stylexfer.training.run import compose_config

    words = _words(command)[3:]
    models = {w.split("=", 1)[1] for w in words if w.startswith("model=")}
    example_models = {p.stem for p in ROOT.glob("examples/*/*/conf/model/*.yaml")}
    if models and models <= example_models - {p.stem for p in (CONF / "model").glob("*.yaml")}:
        return  # an example package's family: tests/families/test_plugin_family.py runs it
    groups = [w for w in words if "=" in w and (CONF / w.split("=")[0]).is_dir() and "," not in w]
    cfg = compose_config(groups)  # a group's keys exist once it is chosen (model=johnson: model.style_image)
    for word in words:
        if word.startswith("-") or "=" not in word or word.startswith(("hydra", "+")):
            continue  # Hydra's own flags (-m, --cfg) and settings, and added keys
        key, value = word.split("=", 1)
        key = key.lstrip("~")
        if "/" in key or (CONF / key).is_dir():  # group=option (a sweep lists several)
            group = CONF / key.split("@")[0]
            if not group.is_dir():
                continue  # a plugin's group (hydra/launcher=submitit_slurm)
            for option in value.split(","):
                assert (group / f"{option}.yaml").is_file(), f"{command}: no option {key}={option}"
            continue
        assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>", f"{command}: no key {key!r}"
