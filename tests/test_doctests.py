"""The docstring examples of every module are tests too (they must not rot).

A module without examples would pass silently, so every module must have at least one,
except the few listed in :data:`WITHOUT_EXAMPLES` (and those must really have none, so the
list cannot hide a module whose examples were lost).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pgaudit_parse

LIBRARY = sorted(
    info.name for info in pkgutil.walk_packages(pgaudit_parse.__path__, "pgaudit_parse.")
    if not info.name.endswith("__main__")
)
#: Test helpers with examples of their own (pyproject puts tests/ on pythonpath).
HELPERS = ["pgserver", "csvlog", "workload", "transcripts"]

#: Modules deliberately without examples, and why.
WITHOUT_EXAMPLES: dict[str, str] = {}


def _run(name: str) -> doctest.TestResults:
    module = importlib.import_module(name)
    return doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)


def check_examples(name: str, result: doctest.TestResults) -> None:
    """Fail unless the examples ran and passed (or the module is a listed exception)."""
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    if name in WITHOUT_EXAMPLES:
        assert result.attempted == 0, f"{name} has examples now: drop it from WITHOUT_EXAMPLES"
    else:
        assert result.attempted > 0, f"{name} has no docstring example (add one)"


@pytest.mark.parametrize("name", ["pgaudit_parse", *LIBRARY, *HELPERS])
def test_docstring_examples(name: str) -> None:
    check_examples(name, _run(name))


def test_a_module_without_examples_is_not_a_pass() -> None:
    import types

    empty = types.ModuleType("pgaudit_parse.empty", "No examples here.")
    with pytest.raises(AssertionError, match="no docstring example"):
        check_examples(empty.__name__, doctest.testmod(empty))
