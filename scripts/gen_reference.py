"""The Reference pages of the documentation site, generated from the code so they cannot drift:
the CLI from the argparse parser (`stylexfer.cli.main.build_parser`), the training config groups
from `conf/` and the schemas with their ranges (`stylexfer.training.config`).

`mkdocs build` runs it as a hook (mkdocs.yml: `hooks:`), adding `reference/cli.md` and
`reference/config.md` to the site; `python scripts/gen_reference.py [cli|config]` prints a page.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("reference/cli.md", "reference/config.md")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """Every subcommand's `--help`, exactly as the program prints it (at 100 columns)."""
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; a fixed width keeps the page stable
    from stylexfer.cli.main import build_parser

    parser = build_parser()
    parts = [
        "# CLI reference\n",
        "Generated from the program's own parser when the site is built (`scripts/gen_reference.py`), "
        "so it always matches `stylexfer COMMAND --help`.\n",
        "```text\n" + parser.format_help().rstrip() + "\n```\n",
    ]
    for name, sub in _subparsers(parser).items():
        parts.append(f"## stylexfer {name}\n")
        parts.append("```text\n" + sub.format_help().rstrip() + "\n```\n")
    return "\n".join(parts)


def _type_name(spec: dataclasses.Field[Any]) -> str:
    return str(spec.type).replace("|", "or").replace("'", "")


def _default(spec: dataclasses.Field[Any]) -> str:
    if spec.default is not dataclasses.MISSING:
        return f"`{spec.default!r}`"
    if spec.default_factory is not dataclasses.MISSING:
        return f"`{spec.default_factory()!r}`"
    return "(required)"


def _schema_table(schema: type, prefix: str = "") -> str:
    rows = ["| key | type | default | allowed |", "|---|---|---|---|"]
    for spec in dataclasses.fields(schema):
        bounds = spec.metadata.get("range")
        key = spec.metadata.get("key") or f"{prefix}{spec.name}"
        allowed = bounds.describe() if bounds is not None else ""
        rows.append(f"| `{key}` | {_type_name(spec)} | {_default(spec)} | {allowed} |")
    doc = " ".join((schema.__doc__ or "").split())
    return (doc + "\n\n" if doc else "") + "\n".join(rows) + "\n"


def _option_note(path: Path) -> str:
    """An option file's first comment line (not Hydra's `# @package` directive), if it starts with one."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# @package"):
            continue
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def config_reference() -> str:
    """The config groups of `conf/`, their options, and each schema's keys, defaults and ranges."""
    from omegaconf import OmegaConf

    from stylexfer.training import config

    conf = Path(config.CONFIG_DIR)
    parts = [
        "# Training configuration reference\n",
        "Generated from `conf/` and the schemas in `stylexfer.training.config` when the site is built "
        "(`scripts/gen_reference.py`). Pick an option with `group=option`, set a key with `group.key=value`; "
        "the ranges below are the ones the run checks before it imports PyTorch.\n",
        "## Groups and options\n",
        "| group | options |",
        "|---|---|",
    ]
    for group in sorted(p for p in conf.iterdir() if p.is_dir()):
        options = sorted(p.stem for p in group.glob("*.yaml"))
        notes = [f"`{name}`" + (f" ({note})" if (note := _option_note(group / f"{name}.yaml")) else "")
                 for name in options]
        parts.append(f"| `{group.name}` | {', '.join(notes) or '(optional, your own file)'} |")
    parts.append("\n## Top-level keys\n")
    parts.append(_schema_table(config.RootConfig))
    for name, schema in config.model_schemas().items():
        parts.append(f"## `model={name}`\n")
        parts.append(_schema_table(schema, "model."))
    for group, schema in config.GROUP_SCHEMAS.items():
        parts.append(f"## `{group}`\n")
        parts.append(_schema_table(schema, f"{group}."))
    composed = OmegaConf.to_yaml(config.compose_config([]))
    parts.append("## The default configuration, composed\n")
    parts.append("`python -m stylexfer.train --cfg job` prints the same for any overrides.\n")
    parts.append("```yaml\n" + composed.rstrip() + "\n```\n")
    return "\n".join(parts)


def pages() -> dict[str, str]:
    return {"reference/cli.md": cli_reference(), "reference/config.md": config_reference()}


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: add the generated pages to the site."""
    from mkdocs.structure.files import File

    if str(ROOT / "src") not in sys.path:
        sys.path.insert(0, str(ROOT / "src"))
    for path, text in pages().items():
        files.append(File.generated(config, path, content=text))
    return files


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "cli"
    print(cli_reference() if which == "cli" else config_reference())
