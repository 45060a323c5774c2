"""docs/sql.md's examples are run: the documented outputs are what the code gives."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pgaudit_parse.sql as sql

DOC = Path(__file__).resolve().parent.parent / "docs" / "sql.md"


def test_docs_examples_run() -> None:
    blocks = re.findall(r"```\n(>>>.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for i, block in enumerate(blocks):
        test = doctest.DocTestParser().get_doctest(block, dict(vars(sql)), f"sql.md#{i}",
                                                   str(DOC), 0)
        runner.run(test)
    assert runner.failures == 0
