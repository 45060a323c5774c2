"""One home per concept: each rule below is written once in the package and imported
everywhere else. The checks read the source (string constants and names outside
docstrings), so a second copy fails here, whichever module it is in."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

from pgaudit_parse.prefix import RDS_PREFIX

PACKAGE = Path(__file__).resolve().parent.parent / "pgaudit_parse"


def _modules() -> dict[str, ast.Module]:
    return {str(path.relative_to(PACKAGE)): ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))}


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _strings(tree: ast.Module) -> list[str]:
    """Every string constant outside docstrings; an f-string counts as its text parts."""
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            found.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            found.append("".join(v.value if isinstance(v, ast.Constant) else "{}"
                                 for v in node.values))
    return found


def _where(predicate: Callable[[str], bool]) -> set[str]:
    return {name for name, tree in _modules().items()
            if any(predicate(text) for text in _strings(tree))}


def test_the_rds_prefix_literal_is_written_once() -> None:
    assert _where(lambda text: text == RDS_PREFIX) == {"prefix.py"}


def test_rds_log_group_names_are_built_in_one_place() -> None:
    assert _where(lambda text: text.lstrip("^").startswith("/aws/rds/")) == {"aws/naming.py"}


AWS_CODE = re.compile(r"^(AWS\.)?[A-Z][A-Za-z.]*(NotFound|Denied|DoesNotExist|NonExistent"
                      r"|Unauthorized|InvalidClientTokenId|ExpiredToken)\w*$")


def test_aws_error_codes_live_in_errors() -> None:
    assert _where(lambda text: bool(AWS_CODE.match(text))) == {"aws/errors.py"}


def test_what_starts_a_message_is_decided_in_entries() -> None:
    """The secondary labels (what does *not* start a message) are read in one rule."""
    users = {name for name, tree in _modules().items()
             if any(isinstance(node, ast.Name | ast.alias)
                    and getattr(node, "id", getattr(node, "name", None)) in
                    ("SECONDARY_LABELS", "PRIMARY_SEVERITIES")
                    for node in ast.walk(tree))}
    assert users == {"prefix.py", "entries.py"}
    for name in ("parallel.py", "aws/messages.py"):
        source = (PACKAGE / name).read_text(encoding="utf-8")
        assert re.search(r"\b(starts_message|parse_start)\(", source), name


def test_the_high_water_mark_has_one_home() -> None:
    for name in ("aws/cloudwatch.py", "aws/forwarder.py"):
        tree = _modules()[name]
        assert any(isinstance(node, ast.alias) and node.name == "HighWater"
                   for node in ast.walk(tree)), name
        # No second copy of the rule "newer timestamp replaces the ids, same one adds".
        assert not [node for node in ast.walk(tree) if isinstance(node, ast.Compare)
                    and any(isinstance(side, ast.Name) and "high" in side.id
                            for side in [node.left, *node.comparators])], name
