"""Per-session state is bounded in bytes, not by counts (issue 8, item 9).

1000 backends x 256 remembered statements of 500 bytes used to hold 237 MB: the count
bounds let the bytes grow with the statements' size. The ``<previously logged>`` cache and
the Guardium builder's held records now have byte budgets (docs/memory.md); what they
evict is counted, and a line that then cannot be resolved keeps its marker.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import pgaudit_parse as pp
from pgaudit_parse.events import DEFAULT_STATEMENT_CACHE_BYTES
from pgaudit_parse.formats.guardium import DEFAULT_HELD_BYTES, RecordBuilder
from pgaudit_parse.lines import Line
from pgaudit_parse.parser import DEFAULT_STATE_BYTES, split_state_bytes

T = "2026-11-25 16:05:01 UTC:10.0.0.5(5000):u@db:"
MIB = 1024 * 1024


def audit_lines(backends: int, statements: int, size: int) -> Iterator[Line]:
    """Lines of ``backends`` sessions, each logging ``statements`` distinct statements."""
    number = 0
    for statement_id in range(1, statements + 1):
        for pid in range(1000, 1000 + backends):
            number += 1
            sql = f"select {pid}, {statement_id}, '" + "x" * size + "'"
            yield Line(f"{T}[{pid}]:LOG:  AUDIT: SESSION,{statement_id},1,READ,SELECT,,,"
                       f'"{sql}",<none>', "f", number)


def retained_by(parser: pp.Parser, lines: Iterator[Line]) -> int:
    """Bytes the parser still holds after taking every line (its events are dropped)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for line in lines:
            parser.feed(line)
        parser.flush()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_statement_cache_stays_within_its_byte_budget() -> None:
    parser = pp.Parser(max_state_bytes=1 * MIB)
    # 100 backends x 60 statements x ~520 bytes: 3 MB of SQL to remember
    held = retained_by(parser, audit_lines(100, 60, 500))
    assert parser.state_bytes <= 1 * MIB
    assert held < 2 * MIB, held
    assert parser.evicted_statements > 0


def test_evicted_statement_keeps_the_marker_and_is_counted() -> None:
    parser = pp.Parser(max_state_bytes=64 * 1024)
    events = []
    for line in audit_lines(40, 3, 2000):  # ~250 KB of statements: the first go
        events += parser.feed(line)
    again = Line(f"{T}[1000]:LOG:  AUDIT: OBJECT,3,1,READ,SELECT,TABLE,public.t,"
                 "<previously logged>,<previously logged>", "f", 999)
    recent = Line(f"{T}[1039]:LOG:  AUDIT: OBJECT,3,1,READ,SELECT,TABLE,public.t,"
                  "<previously logged>,<previously logged>", "f", 1000)
    events += parser.feed(again) + parser.feed(recent) + parser.flush()
    assert events[-2].audit.statement == "<previously logged>"
    assert events[-1].audit.statement.startswith("select 1039, 3, ")
    assert parser.unresolved_statements == 1
    assert parser.evicted_statements > 0


def test_one_statement_larger_than_the_budget_is_evicted_not_kept() -> None:
    parser = pp.Parser(max_state_bytes=64 * 1024)
    parser.feed(next(audit_lines(1, 1, 200_000)))
    [event] = parser.flush()
    assert len(event.audit.statement) > 200_000  # the event has it; the cache does not
    assert parser.state_bytes <= 64 * 1024
    assert parser.evicted_statements == 1


def test_held_records_stay_within_their_byte_budget_and_none_is_lost() -> None:
    # 2000 sessions each leave an execution waiting for its duration line (~1 KB of SQL)
    events = list(pp.parse_lines(audit_lines(2000, 1, 1000)))
    sql = sum(len(event.audit.statement or "") for event in events)
    builder = RecordBuilder(max_held_bytes=256 * 1024)
    out = []
    for event in events:
        out += builder.add(event)
        assert builder.held_bytes <= 256 * 1024
    assert sql > 2_000_000 and builder.released_early > 0
    assert builder.released_early == len(out)  # released by the bound, and said so
    out += builder.flush()
    assert len(out) == len(events)  # nothing lost
    assert builder.held_bytes == 0


@pytest.mark.parametrize("where", ["user", "detail"])
def test_held_records_count_every_text_their_events_keep(where: str) -> None:
    """The byte budget of held executions counts what their events keep besides the SQL
    and the message: prefix values (a 4 KB user name) and a DETAIL (an execute line's
    parameters). It counted SQL and message only: 2000 held executions kept 13 MB
    within a 256 KB budget."""
    head = "2026-11-25 16:05:01 UTC:10.0.0.5(5000):"
    big = "v" * 4000

    def lines(count: int) -> Iterator[Line]:
        number = 0
        for pid in range(1000, 1000 + count):
            user = f"{big}{pid}" if where == "user" else "u"
            prefix = f"{head}{user}@db:[{pid}]:"
            if where == "user":
                number += 1
                yield Line(f"{prefix}LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
                           "f", number)
            else:
                number += 2
                yield Line(f"{prefix}LOG:  execute S_1: select $1", "f", number - 1)
                yield Line(f"{prefix}DETAIL:  parameters: $1 = '{big}{pid}'", "f", number)

    def retained(count: int) -> tuple[int, RecordBuilder]:
        builder = RecordBuilder(max_held_bytes=256 * 1024)
        parser = pp.Parser()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for line in lines(count):
                for event in parser.feed(line):
                    builder.add(event)
            gc.collect()
            return tracemalloc.get_traced_memory()[0] - before, builder
        finally:
            tracemalloc.stop()

    small, _ = retained(200)
    large, builder = retained(2000)
    assert builder.released_early > 0
    assert large < small + 2 * MIB, (small, large)


def test_defaults_add_up_to_the_documented_total() -> None:
    assert DEFAULT_STATE_BYTES == 64 * MIB
    assert split_state_bytes(DEFAULT_STATE_BYTES) == (DEFAULT_STATEMENT_CACHE_BYTES,
                                                      DEFAULT_HELD_BYTES)
    assert pp.Parser().max_state_bytes == DEFAULT_STATEMENT_CACHE_BYTES
    assert RecordBuilder().max_held_bytes == DEFAULT_HELD_BYTES


# -- the CLI option ------------------------------------------------------------------------

def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def _write_log(path: Path) -> int:
    """40 sessions x 20 statements of 2 KB, then a <previously logged> for the least
    recently used session's last statement."""
    lines = [line.text for line in audit_lines(40, 20, 2000)]
    lines.append(f"{T}[1000]:LOG:  AUDIT: OBJECT,20,1,READ,SELECT,TABLE,public.t,"
                 "<previously logged>,<previously logged>")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_state_bytes_bounds_and_reports_evictions(tmp_path: Path, jobs: str) -> None:
    log = tmp_path / "big.log"
    count = _write_log(log)
    small = _run_cli("--format", "events", "--state-bytes", "64K", "--jobs", jobs, str(log))
    assert small.returncode == 0, small.stderr
    events = [json.loads(line) for line in small.stdout.splitlines()]
    assert len(events) == count  # nothing dropped
    assert events[-1]["audit"]["statement"] == "<previously logged>"
    assert "statement(s) evicted" in small.stderr
    assert "kept <previously logged>" in small.stderr
    roomy = _run_cli("--format", "events", "--jobs", jobs, str(log))
    assert roomy.returncode == 0, roomy.stderr
    last = json.loads(roomy.stdout.splitlines()[-1])
    assert last["audit"]["statement"].startswith("select 1000, 20, ")
    assert "evicted" not in roomy.stderr


def test_cli_state_bytes_releases_held_records_early_and_says_so(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    count = _write_log(log)
    result = _run_cli("--state-bytes", "64K", str(log))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == count
    assert "written before their duration line" in result.stderr


@pytest.mark.parametrize("value", ["lots", "-1", "12X"])
def test_cli_state_bytes_rejects_a_bad_size_in_one_line(value: str, tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(f"{T}[1]:LOG:  hi\n")
    result = _run_cli("--state-bytes", value, str(log))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--state-bytes" in result.stderr


def test_parse_lines_and_parse_file_take_the_budget(tmp_path: Path) -> None:
    lines = [line.text for line in audit_lines(40, 3, 2000)]
    lines.append(f"{T}[1000]:LOG:  AUDIT: OBJECT,3,1,READ,SELECT,TABLE,public.t,"
                 "<previously logged>,<previously logged>")
    small = list(pp.parse_lines(lines, max_state_bytes=16 * 1024))
    assert small[-1].audit.statement == "<previously logged>"
    path = tmp_path / "x.log"
    path.write_text("\n".join(lines) + "\n")
    roomy = list(pp.parse_file(str(path)))
    assert roomy[-1].audit.statement.startswith("select 1000, 3, ")
