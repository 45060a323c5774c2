"""A ``duration:`` value no server writes (hundreds of digits) must not break any format.

PostgreSQL writes ``duration: %.3f ms``; a forged or damaged line can carry any digits.
Every format must still write strict JSON (no ``Infinity``) and never stop with a
traceback: a value beyond a double is not a duration (the line stays a plain log
message), and a finite value too large for a field leaves that field out or saturates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgaudit_parse.cli import main

PREFIX = "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
HUGE = {
    "beyond a double": "9" * 400 + ".000",
    "a finite double": "1" + "0" * 305 + ".000",
    "past a long in ns": "99999999999999.000",
}


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
@pytest.mark.parametrize("label", list(HUGE))
def test_huge_durations_give_strict_json_in_every_format(tmp_path: Path, fmt: str,
                                                         label: str) -> None:
    log = tmp_path / "in.log"
    log.write_text(PREFIX + "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>\n"
                   + PREFIX + f"duration: {HUGE[label]} ms  statement: select 1\n"
                   + PREFIX + "checkpoint starting: time\n")
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    assert main([str(log), "--quiet", "--format", fmt, "--output", str(out),
                 "--errors", str(errors)]) == 0
    objects = [_strict(line) for line in out.read_text().splitlines()]
    assert objects and errors.read_text() == ""
    if fmt == "events":
        # one event per line: the forged duration is kept, as a duration or as a message
        assert len(objects) == 3
        forged = objects[1]
        assert isinstance(forged, dict)
        assert forged["kind"] in ("duration", "log") and HUGE[label] in forged["message"]
    if fmt == "ecs":  # event.duration is an Elasticsearch long when present
        durations = [o["event"].get("duration") for o in objects]  # type: ignore[index]
        assert all(d is None or 0 <= d <= 2**63 - 1 for d in durations)
