"""The documentation stays in step with the code it describes.

The strict site build itself (``mkdocs build --strict``) is ``make docs``, which
``make test`` runs before pytest; these checks are what a build cannot see.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from carepaths.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CLI_PAGE = ROOT / "docs" / "cli.md"
API_DIR = ROOT / "docs" / "api"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        opt
        for action in parser._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    ]


COMMANDS = _subcommands(build_parser())


def test_the_parser_has_commands():
    assert {"demo", "simulate", "validate"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_cli_command_and_option_is_documented(name):
    page = CLI_PAGE.read_text(encoding="utf-8")
    sections = re.split(r"^## ", page, flags=re.MULTILINE)
    section = next((s for s in sections if s.startswith(f"`carepaths {name}`")), None)
    assert section is not None, f"docs/cli.md has no '## `carepaths {name}`' section"
    missing = [opt for opt in _options(COMMANDS[name]) if f"`{opt}" not in section]
    assert not missing, f"docs/cli.md, section `carepaths {name}`, does not document {missing}"


def test_global_options_are_documented():
    page = CLI_PAGE.read_text(encoding="utf-8")
    missing = [opt for opt in _options(build_parser()) if f"`{opt}" not in page]
    assert not missing, missing


def _griffe_extension():
    import importlib.util

    spec = importlib.util.spec_from_file_location("griffe_sphinx_roles", ROOT / "docs" / "griffe_sphinx_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_literal_blocks_become_fenced_code():
    ext = _griffe_extension()
    text = "Intro.\n\nThe layout::\n\n    a = 1\n      b = 2\n\nAfter.\n\n::\n\n    raw\n"
    assert ext.literal_blocks_to_fences(text) == (
        "Intro.\n\nThe layout:\n\n```text\na = 1\n  b = 2\n```\n\nAfter.\n\n\n```text\nraw\n```\n"
    )


def test_documented_modules_are_read_from_the_api_pages():
    modules = _griffe_extension().documented_modules(API_DIR)
    assert {"carepaths.spec", "carepaths.equations", "carepaths.fit"} <= modules
