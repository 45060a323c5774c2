"""The way in: the README's first screen, its two set-up commands, the docs it points to,
the licence, and the Python version every file states."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))

#: The two commands a newcomer copies: run the main job on a bundled sample, and install
#: everything the tests need and run the whole suite.
SETUP_COMMANDS = [
    "pip install -e . && pgaudit-parse fixtures/rds-postgresql.log",
    "bash scripts/test-all.sh",
]


def _code_blocks(text: str, info: str) -> list[str]:
    return re.findall(rf"^```{info}\n(.*?)^```", text, re.M | re.S)


def test_readme_is_short_and_says_what_it_does_first() -> None:
    assert len(README.splitlines()) < 200
    first_screen = "\n".join(README.splitlines()[:12])
    assert "PostgreSQL" in first_screen and "pgAudit" in first_screen
    assert "Guardium" in first_screen and "RDS" in first_screen


def test_readme_has_exactly_the_two_setup_commands() -> None:
    commands = [line for block in _code_blocks(README, "bash") for line in block.splitlines()
                if line.strip()]
    assert commands == SETUP_COMMANDS
    assert (REPO / "fixtures" / "rds-postgresql.log").is_file()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/test-all.sh" in ci


def test_nobody_is_told_to_install_from_an_index() -> None:
    pages = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"pip install +['\"]?pgaudit-parse", text), page
    assert "pip install -e '.[aws]'" in README


def test_every_local_link_resolves() -> None:
    pages = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_license_is_the_one_pyproject_names() -> None:
    license_text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert PYPROJECT["project"]["license"] == {"text": "Apache-2.0"}


def test_one_python_version_everywhere() -> None:
    """The prefix regex uses atomic groups (Python 3.11): every file says 3.11."""
    floor = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert floor is not None
    major, minor = map(int, floor.groups())
    assert (major, minor) == (3, 11)
    assert PYPROJECT["tool"]["ruff"]["target-version"] == f"py{major}{minor}"
    assert f"Python {major}.{minor}" in README
    assert "(?>" in (REPO / "pgaudit_parse" / "prefix.py").read_text(encoding="utf-8")
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
                 *sorted((REPO / "scripts").glob("*"))]:
        if path.is_file():
            assert not re.search(r"[Pp]ython 3\.10|py310", path.read_text(encoding="utf-8")), path
