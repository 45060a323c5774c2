"""Every console transcript in the README and docs/ is run, and its output compared with
the page (tests/transcripts.py says how; ``python tests/transcripts.py --update`` rewrites
the pages after an intended change)."""

from __future__ import annotations

import pytest
from transcripts import PAGES, REPO, Block, differences, parse_blocks, run_block


def _blocks() -> list[object]:
    params = []
    for page in PAGES:
        for index, block in enumerate(parse_blocks((REPO / page).read_text(encoding="utf-8"))):
            demo = any(name in c.command for c in block.commands
                       for name in ("demo-aws.sh", "demo_scale.py"))
            params.append(pytest.param(page, block, id=f"{page}#{index + 1}",
                                       marks=[pytest.mark.aws] if demo else []))
    return params


@pytest.mark.parametrize(("page", "block"), _blocks())
def test_transcript_is_true(page: str, block: Block) -> None:
    assert block.commands, f"an empty console block in {page}"
    problems = differences(block, run_block(block))
    assert not problems, f"{page} shows other output than a run:\n\n" + "\n\n".join(problems)


def test_a_wrong_transcript_fails() -> None:
    [block] = parse_blocks("```console\n$ echo one; exit 3\ntwo\n```\n")
    problems = differences(block, run_block(block))
    assert problems and "--- page (exit 0)\ntwo" in problems[0]
    assert "+++ run (exit 3)\none" in problems[0]


def test_the_pages_have_transcripts() -> None:
    counts = {page: len(parse_blocks((REPO / page).read_text(encoding="utf-8")))
              for page in PAGES}
    assert counts["README.md"] == 3  # a summary, events through jq, records
    assert counts["docs/aws-pipeline.md"] >= 1 and counts["docs/operations.md"] >= 1
