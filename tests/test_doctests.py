"""The docstring examples of every module are tests too (they must not rot)."""

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
#: Test helpers with examples of their own (conftest puts tests/ on sys.path).
HELPERS = ["pgserver", "csvlog", "workload"]


@pytest.mark.parametrize("name", ["pgaudit_parse", *LIBRARY, *HELPERS])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
