"""csvlog and jsonlog inputs: recognised by content, every column and key read, and the
same events as the stderr log of the same run, message for message.

The real-server test runs every configuration of ``server_run`` (rds, rich, verbose: the
PgServer writes ``log_destination = 'stderr,csvlog,jsonlog'``) and compares the three
files' events backend by backend (the collector may interleave backends differently per
destination, never the messages of one backend).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from workload import SERVER_CONFIGS, ServerRun

import pgaudit_parse as pp
from pgaudit_parse.structured import (
    CSVLOG_COLUMNS,
    JSONLOG_KEYS,
    csvlog_entries,
    jsonlog_entries,
    sniff_structured,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: Fields a stderr line has only when its prefix carries them (null otherwise).
PREFIX_KEYS = frozenset({
    "user", "database", "client_host", "client_port", "session_id", "session_line",
    "session_start", "command_tag", "sqlstate", "backend_type", "virtual_xid", "xid",
    "leader_pid", "query_id", "application_name",
})
#: Where each input came from, not what it says.
ORIGIN_KEYS = frozenset({"source", "line", "stream"})

FULL_ROW = [
    "2026-11-25 16:05:01.120 UTC", "alice", "shop", "42", "10.0.0.5:50012", "6565f1a2.2a",
    "3", "SELECT", "2026-11-25 16:05:00 UTC", "3/7", "731", "ERROR", "42P01",
    'relation "nope" does not exist', "the detail", "the hint", "select * from inner_q", "15",
    "PL/pgSQL function f() line 3", "select f()", "8", "parserOpenTable, parse_relation.c:1392",
    "psql", "client backend", "40", "-123456789",
]


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return out.getvalue()


def _events(text: str, kind: str) -> tuple[list[pp.Event], list[pp.Reject]]:
    rejects: list[pp.Reject] = []
    read = csvlog_entries if kind == "csvlog" else jsonlog_entries
    entries = read(io.StringIO(text), "t", rejects.append)
    return list(pp.parser.parse_entries(entries, rejects.append)), rejects


# -- recognising ---------------------------------------------------------------------------

@pytest.mark.parametrize("width", [23, 24, 26])
def test_csvlog_of_every_version_is_recognised(width: int) -> None:
    assert sniff_structured(_csv_text([FULL_ROW[:width]])) == "csvlog"


@pytest.mark.parametrize("text", [
    "2026-11-25 16:05:01 UTC::@:[7]:LOG:  hi\n",
    "2026-11-25 16:05:01.120 UTC [7] LOG:  a, b, c\n",
    '[{"message": "x"}]',
    '{"events": []}\n',
    '{"message": "2026-11-25 16:05:01 UTC::@:[7]:LOG:  hi", "eventId": "1"}\n',
    "",
])
def test_other_inputs_are_not_structured(text: str) -> None:
    assert sniff_structured(text) is None


# -- every column, every key ---------------------------------------------------------------

def test_every_csvlog_column_is_read() -> None:
    [event], rejects = _events(_csv_text([FULL_ROW]), "csvlog")
    assert rejects == []
    got = pp.event_to_json(event)
    assert got["timestamp"] == "2026-11-25T16:05:01.120000+00:00"
    assert (got["user"], got["database"], got["pid"]) == ("alice", "shop", 42)
    assert (got["client_host"], got["client_port"]) == ("10.0.0.5", 50012)
    assert (got["session_id"], got["session_line"], got["command_tag"]) == (
        "6565f1a2.2a", 3, "SELECT")
    assert got["session_start"] == "2026-11-25T16:05:00+00:00"
    assert (got["virtual_xid"], got["xid"], got["severity"], got["sqlstate"]) == (
        "3/7", 731, "ERROR", "42P01")
    assert got["message"] == 'relation "nope" does not exist'
    assert (got["detail"], got["hint"], got["query"]) == (
        "the detail", "the hint", "select * from inner_q")
    assert got["cursor_position"] == 8  # query_pos first, as stderr's " at character N"
    assert (got["context"], got["statement"]) == ("PL/pgSQL function f() line 3", "select f()")
    assert got["location"] == "parserOpenTable, parse_relation.c:1392"
    assert (got["application_name"], got["backend_type"]) == ("psql", "client backend")
    assert (got["leader_pid"], got["query_id"]) == (40, -123456789)
    assert len(CSVLOG_COLUMNS) == len(FULL_ROW)


def test_every_jsonlog_key_is_read() -> None:
    obj = {
        "timestamp": "2026-11-25 16:05:01.120 UTC", "user": "alice", "dbname": "shop",
        "pid": 42, "remote_host": "::1", "remote_port": 50012, "session_id": "6565f1a2.2a",
        "line_num": 3, "ps": "SELECT", "session_start": "2026-11-25 16:05:00 UTC",
        "vxid": "3/7", "txid": 731, "error_severity": "ERROR", "state_code": "42P01",
        "message": "boom", "detail": "client detail", "detail_log": "server detail",
        "hint": "h", "internal_query": "iq", "internal_position": 4, "context": "ctx",
        "statement": "select 1", "cursor_position": 0, "func_name": "fn",
        "file_name": "f.c", "file_line_num": 9, "application_name": "psql",
        "backend_type": "client backend", "leader_pid": 40, "query_id": 77,
    }
    assert set(obj) == JSONLOG_KEYS
    [event], rejects = _events(json.dumps(obj) + "\n", "jsonlog")
    assert rejects == []
    got = pp.event_to_json(event)
    assert (got["client_host"], got["client_port"], got["pid"]) == ("::1", 50012, 42)
    assert (got["session_line"], got["command_tag"], got["xid"]) == (3, "SELECT", 731)
    assert got["detail"] == "server detail"  # what stderr's DETAIL line shows
    assert (got["hint"], got["query"], got["context"], got["statement"]) == (
        "h", "iq", "ctx", "select 1")
    assert got["cursor_position"] == 4  # internal_position when there is no cursor
    assert got["location"] == "fn, f.c:9"
    assert (got["leader_pid"], got["query_id"], got["sqlstate"]) == (40, 77, "42P01")


def test_multiline_fields_and_bare_cr_stay_inside_one_record() -> None:
    row = list(FULL_ROW)
    row[11], row[12] = "LOG", "00000"
    row[13] = "AUDIT: SESSION,1,1,READ,SELECT,,,\"select 'a\r\nb',\n  2\",<none>"
    text = _csv_text([row, FULL_ROW])
    events, rejects = _events(text, "csvlog")
    assert rejects == [] and [e.kind for e in events] == ["audit", "error"]
    audit = events[0]
    assert isinstance(audit, pp.AuditEvent)
    assert audit.audit.statement == "select 'a\r\nb',\n  2"
    assert events[1].line == 4  # the second record starts on the fourth physical line


def test_a_broken_record_is_a_reject_with_its_text() -> None:
    text = _csv_text([FULL_ROW, FULL_ROW[:10], FULL_ROW])
    events, rejects = _events(text, "csvlog")
    assert len(events) == 2
    [reject] = rejects
    assert reject.line == 2 and "10 columns" in reject.reason
    assert reject.raw == _csv_text([FULL_ROW[:10]]).rstrip("\n")
    events, rejects = _events('{"timestamp": "x", "message": 1}\nnot json\n', "jsonlog")
    assert events == [] and [r.line for r in rejects] == [1, 2]


def test_cli_reads_gzip_csvlog_and_jsonlog_by_content(tmp_path: Path) -> None:
    plain = FIXTURES / "real-rds.csv"
    packed = tmp_path / "postgresql.log.gz"  # the name says nothing: content decides
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    outputs = []
    for path in (plain, packed):
        proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", "events",
                               str(path)], capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outputs.append([_drop(json.loads(line), ORIGIN_KEYS)
                        for line in proc.stdout.decode().splitlines()])
    assert outputs[0] == outputs[1] and len(outputs[0]) >= 40


# -- the same events as the stderr log -----------------------------------------------------

def _drop(obj: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


def _by_pid(events: list[pp.Event]) -> dict[int | None, list[dict[str, Any]]]:
    out: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        out[event.pid].append(_drop(pp.event_to_json(event), ORIGIN_KEYS))
    return out


def _parse(path: Path, prefix: str, timezone: str | None = None) -> list[pp.Event]:
    rejects: list[pp.Reject] = []
    events = list(pp.parse_file(str(path), prefix=prefix, on_reject=rejects.append,
                                timezone=timezone))
    assert rejects == [], rejects[:3]
    return events


def _differences(stderr: dict[int | None, list[dict[str, Any]]],
                 other: dict[int | None, list[dict[str, Any]]], whole_seconds: bool,
                 exact: bool) -> list[str]:
    """Every way ``other`` differs from ``stderr``; with ``exact`` off, a field the prefix
    does not carry (null in stderr) may have a value, and ``%t``'s whole second may be the
    same second or one earlier (PostgreSQL reads the clock again for %t)."""
    problems = []
    if set(stderr) != set(other):
        problems.append(f"pids differ: {sorted(set(stderr) ^ set(other), key=str)}")
    for pid in stderr:
        mine, theirs = stderr[pid], other.get(pid, [])
        if len(mine) != len(theirs):
            problems.append(f"pid {pid}: {len(mine)} events vs {len(theirs)}")
        for number, (a, b) in enumerate(zip(mine, theirs, strict=False)):
            for key in sorted(set(a) | set(b)):
                x, y = a.get(key), b.get(key)
                if x == y or (not exact and key in PREFIX_KEYS and x is None):
                    continue
                if key == "timestamp" and whole_seconds and x and y:
                    from datetime import datetime
                    full = datetime.fromisoformat(y)
                    second = full.replace(microsecond=0)
                    if datetime.fromisoformat(x) in (second, second - timedelta(seconds=1)):
                        continue
                problems.append(f"pid {pid} event {number} ({a.get('message', '')[:40]!r}): "
                                f"{key}: {x!r} != {y!r}")
    return problems


def _check_run(run: ServerRun) -> None:
    assert run.json_log is not None, "the server wrote no jsonlog"
    zone = run.log_timezone
    stderr = _by_pid(_parse(run.stderr_log, run.prefix, zone))
    csvlog = _by_pid(_parse(run.csv_log, run.prefix, zone))
    jsonlog = _by_pid(_parse(run.json_log, run.prefix, zone))
    total = sum(len(v) for v in stderr.values())
    assert total == len(run.csv_rows()) and total >= 40
    whole = "%m" not in run.prefix
    problems = _differences(csvlog, jsonlog, whole_seconds=False, exact=True)
    problems += _differences(stderr, csvlog, whole_seconds=whole, exact=False)
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:30])


def test_csvlog_jsonlog_and_stderr_give_equal_events(server_run: ServerRun) -> None:
    _check_run(server_run)


@pytest.mark.parametrize("name", ["rds", "rich"])
def test_fixture_csvlog_gives_the_stderr_events(name: str) -> None:
    run = ServerRun(name, SERVER_CONFIGS[name], FIXTURES / f"real-{name}.log",
                    FIXTURES / f"real-{name}.csv")
    stderr = _by_pid(_parse(run.stderr_log, run.prefix, run.log_timezone))
    csvlog = _by_pid(_parse(run.csv_log, run.prefix, run.log_timezone))
    problems = _differences(stderr, csvlog, whole_seconds="%m" not in run.prefix, exact=False)
    assert not problems, "\n".join(problems[:30])


def test_the_comparison_sees_a_changed_field(tmp_path: Path) -> None:
    """Mutation check: a csvlog whose one message differs is caught."""
    run = ServerRun("rds", SERVER_CONFIGS["rds"], FIXTURES / "real-rds.log",
                    FIXTURES / "real-rds.csv")
    rows = list(csv.reader(io.StringIO(run.csv_log.read_text(encoding="utf-8"), newline="")))
    rows[-3][13] = rows[-3][13] + " (changed)"
    changed = tmp_path / "changed.csv"
    changed.write_text(_csv_text(rows), encoding="utf-8")
    stderr = _by_pid(_parse(run.stderr_log, run.prefix))
    problems = _differences(stderr, _by_pid(_parse(changed, run.prefix)), True, exact=False)
    assert any("(changed)" in p for p in problems)


def test_aws_rds_download_json_output_reads_like_the_log(tmp_path: Path) -> None:
    """``aws rds download-db-log-file-portion`` writes JSON by default: the log text is
    its ``LogFileData`` (the CLI joins every portion into it)."""
    log = FIXTURES / "real-rds.log"
    text = log.read_bytes().decode("utf-8")
    download = tmp_path / "postgresql.log.2026-11-25-16"
    download.write_text(json.dumps({"LogFileData": text, "AdditionalDataPending": False,
                                     "Marker": "7:4096"}, indent=4), encoding="utf-8")
    prefix = SERVER_CONFIGS["rds"]["log_line_prefix"]
    got = [_drop(pp.event_to_json(e), ORIGIN_KEYS) for e in _parse(download, prefix)]
    want = [_drop(pp.event_to_json(e), ORIGIN_KEYS) for e in _parse(log, prefix)]
    assert got == want and len(got) >= 40


@pytest.mark.parametrize("kind", ["csvlog", "jsonlog"])
def test_a_first_record_longer_than_the_sniffed_head_and_a_bom(tmp_path: Path,
                                                               kind: str) -> None:
    row = list(FULL_ROW)
    row[11], row[12] = "LOG", "00000"
    row[13] = "AUDIT: SESSION,1,1,READ,SELECT,,,\"select '" + "x" * 200_000 + "'\",<none>"
    if kind == "csvlog":
        text = _csv_text([row, FULL_ROW])
    else:
        first = {"timestamp": row[0], "pid": 42, "error_severity": "LOG",
                 "state_code": "00000", "message": row[13]}
        text = json.dumps(first) + "\n" + json.dumps(dict(first, message="hi")) + "\n"
    path = tmp_path / "log.gz"
    path.write_bytes(gzip.compress(("\ufeff" + text).encode("utf-8")))
    rejects: list[pp.Reject] = []
    events = list(pp.parse_file(str(path), on_reject=rejects.append))
    assert rejects == [] and len(events) == 2
    assert isinstance(events[0], pp.AuditEvent) and len(events[0].audit.statement or "") > 200_000


# -- inputs that start inside a record (a rotated or copied file, tail, a byte range) ------

def _record_starts(text: str) -> list[int]:
    """Offsets where each csvlog record starts (read with the csv module, not our reader)."""
    starts, offset = [], 0
    for physical in _physical_records(text):
        starts.append(offset)
        offset += len(physical)
    return starts


def _physical_records(text: str) -> list[str]:
    records, current, quotes = [], "", 0
    for line in _lf_lines(text):
        current += line
        quotes += line.count('"')
        if quotes % 2 == 0:
            records.append(current)
            current, quotes = "", 0
    return records


def _lf_lines(text: str) -> list[str]:
    """Lines ended by LF only (a bare CR inside a statement is data)."""
    return [line + "\n" for line in text.split("\n")[:-1]] + \
        ([text.rsplit("\n", 1)[-1]] if not text.endswith("\n") else [])


def _cut_cases(name: str) -> list[tuple[str, int, int]]:
    text = (FIXTURES / name).read_bytes().decode("utf-8")
    starts = _record_starts(text)
    cases = []
    for index, (start, end) in enumerate(zip(starts, [*starts[1:], len(text)], strict=True)):
        record = text[start:end]
        if index in (0, len(starts) - 1):  # no cut before the first, no record after the last
            continue
        if "\n" in record[:-1]:  # a record over several lines: cut after each of its lines
            at = start
            for line in _lf_lines(record)[:-1]:
                at += len(line)
                cases.append((name, at, index + 1))
        if index % 7 == 3:  # and in the middle of a line, inside or outside quotes
            cases.append((name, start + len(record) // 2, index + 1))
            cases.append((name, start + 31, index + 1))
    return cases


@pytest.mark.parametrize(("name", "cut", "first_whole"),
                         _cut_cases("real-rds.csv") + _cut_cases("real-rich.csv"))
def test_a_csvlog_that_starts_inside_a_record_is_read_from_the_next_record(
        tmp_path: Path, name: str, cut: int, first_whole: int) -> None:
    """The cut end of the first record is one reject with its text and line count; every
    later record gives the event it gives in the whole file (not a plain log's rejects,
    nor an event made of a statement's line that looks like a log line)."""
    text = (FIXTURES / name).read_bytes().decode("utf-8")
    starts = _record_starts(text)
    reference = tmp_path / "whole-records.csv"  # the same file, cut between records
    reference.write_bytes(text[starts[first_whole]:].encode("utf-8"))
    whole = [_drop(pp.event_to_json(e), ORIGIN_KEYS) for e in pp.parse_file(str(reference))]
    path = tmp_path / "postgresql.log"
    path.write_bytes(text[cut:].encode("utf-8"))
    rejects: list[pp.Reject] = []
    events = [_drop(pp.event_to_json(e), ORIGIN_KEYS)
              for e in pp.parse_file(str(path), on_reject=rejects.append)]
    assert sniff_structured(text[cut:]) == "csvlog"
    tail = text[cut:starts[first_whole]]
    assert [(r.line, r.raw, r.lines) for r in rejects] == \
        [(1, tail[:-1], tail.count("\n"))], rejects
    assert "cut short" in rejects[0].reason
    assert events == whole and len(events) == len(starts) - first_whole


def test_a_jsonlog_that_starts_inside_a_line_is_read_from_the_next_line(tmp_path: Path) -> None:
    lines = [json.dumps({"timestamp": f"2026-11-25 16:05:0{i}.120 UTC", "pid": 40 + i,
                         "error_severity": "LOG", "message": f"m{i}, \"q\"\nnext"})
             for i in range(3)]
    path = tmp_path / "postgresql.json"
    path.write_text("\n".join(lines)[25:] + "\n", encoding="utf-8")
    rejects: list[pp.Reject] = []
    events = list(pp.parse_file(str(path), on_reject=rejects.append))
    assert [e.pid for e in events] == [41, 42]
    assert [(r.line, r.raw) for r in rejects] == [(1, lines[0][25:])]


# -- csvlog records among plain lines: mixed files, CloudWatch events ----------------------

def _events_json(path: Path, prefix: str = "%t:%r:%u@%d:[%p]:", jobs: int = 1
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", "events",
                           "--prefix", prefix, "--jobs", str(jobs), "--errors", "/dev/stderr",
                           str(path)], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    errors = [json.loads(line) for line in proc.stderr.decode().splitlines()
              if line.startswith("{")]
    return events, errors


def _comparable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_drop(e, ORIGIN_KEYS | {"session_line"}) for e in events]


def test_a_file_of_stderr_lines_then_csvlog_records_reads_both(tmp_path: Path) -> None:
    """``cat postgresql.log postgresql.csv``: the stderr part reads with the prefix, each
    csvlog record as csvlog (its statement's lines are not log lines, even the one that
    looks like one); nothing is a reject."""
    stderr = (FIXTURES / "real-rds.log").read_bytes()
    csvlog = (FIXTURES / "real-rds.csv").read_bytes()
    mixed = tmp_path / "mixed.log"
    mixed.write_bytes(stderr + csvlog)
    alone = [tmp_path / "alone.log", tmp_path / "alone.csv"]
    alone[0].write_bytes(stderr)
    alone[1].write_bytes(csvlog)
    for jobs in (1, 2):
        events, errors = _events_json(mixed, jobs=jobs)
        assert errors == []
        want = _events_json(alone[0])[0] + _events_json(alone[1])[0]
        assert _comparable(events) == _comparable(want)


def test_a_file_of_csvlog_records_then_stderr_lines_rejects_each_stderr_line(
        tmp_path: Path) -> None:
    """A csvlog file has no prefix to read stderr lines with: they are rejects, and their
    ``lines`` account for every one (a quote that opens a csv field makes one reject of
    several lines); no stderr line becomes an event."""
    stderr = (FIXTURES / "real-rds.log").read_bytes()
    csvlog = (FIXTURES / "real-rds.csv").read_bytes()
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(csvlog + stderr)
    events, errors = _events_json(mixed)
    assert _comparable(events) == _comparable(_events_json(FIXTURES / "real-rds.csv")[0])
    assert sum(e["lines"] for e in errors) == stderr.count(b"\n")


def _cloudwatch_export(text: str, streams: int) -> str:
    """A CloudWatch export of a csvlog: one event per physical line (a record of several
    lines spans several events), records dealt to ``streams`` streams by backend."""
    events: list[dict[str, Any]] = []
    for record in _physical_records(text):
        pid = int(next(csv.reader(io.StringIO(record, newline="")))[3])
        stream = f"db-{pid % streams}"
        for line in _lf_lines(record):
            events.append({"timestamp": 1796079236000 + len(events), "message": line[:-1],
                           "logStreamName": stream, "eventId": str(len(events)),
                           "ingestionTime": 1796079237000})
    return json.dumps(events)


@pytest.mark.parametrize("streams", [1, 2])
def test_csvlog_records_split_across_cloudwatch_events(tmp_path: Path, streams: int) -> None:
    text = (FIXTURES / "real-rich.csv").read_bytes().decode("utf-8")
    export = tmp_path / "export.json"
    export.write_text(_cloudwatch_export(text, streams), encoding="utf-8")
    events, errors = _events_json(export, prefix="auto")
    assert errors == []
    want = _comparable(_events_json(FIXTURES / "real-rich.csv")[0])
    got = _comparable(events)
    assert sorted(json.dumps(e, sort_keys=True) for e in got) == \
        sorted(json.dumps(e, sort_keys=True) for e in want)
    assert len(got) == len(_physical_records(text))


# -- %b: backend types of several words ---------------------------------------------------

@pytest.mark.pg
def test_parallel_workers_and_every_backend_type_read_alike_in_all_three_formats(
        tmp_path: Path) -> None:
    """A prefix with %b (``client backend``, ``parallel worker``: a space inside) before
    %q and the session escapes, %P and %Q from a parallel query that fails in its workers:
    stderr, csvlog and jsonlog give equal events (stderr read ``client backend bob@db`` as
    backend ``client``, user ``backend bob``, and rejected the parallel workers' lines)."""
    from pgserver import PgServer
    from workload import RDS_SETTINGS

    prefix = "%m [%p] %P %Q %b %q%u@%d %a %e %c %l "
    settings = {**RDS_SETTINGS, "log_line_prefix": prefix, "compute_query_id": "on"}
    with PgServer(settings=settings) as pg:
        pg.run_sql("CREATE TABLE big AS SELECT g AS a FROM generate_series(1, 100000) g; "
                   "ANALYZE big;")
        pg.run_sql("SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; "
                   "SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; "
                   "SET force_parallel_mode = on; "
                   "SELECT count(*) FROM big WHERE 1 / (a - 90000) > 0;", check=False)
        pg.stop()
        paths = {}
        for name, source in (("pg.log", pg.stderr_log_path), ("pg.csv", pg.csv_log_path),
                             ("pg.json", pg.json_log_path)):
            paths[name] = tmp_path / name
            paths[name].write_bytes(source.read_bytes())
    stderr_events = _parse(paths["pg.log"], prefix)
    stderr = _by_pid(stderr_events)
    csvlog = _by_pid(_parse(paths["pg.csv"], prefix))
    jsonlog = _by_pid(_parse(paths["pg.json"], prefix))
    problems = _differences(csvlog, jsonlog, whole_seconds=False, exact=True)
    problems += _differences(stderr, csvlog, whole_seconds=False, exact=False)
    assert not problems, "\n".join(problems[:30])
    types = {e.backend_type for e in stderr_events}
    assert {"client backend", "parallel worker", "postmaster"} <= types
    assert any(e.backend_type == "parallel worker" and e.leader_pid for e in stderr_events)


@pytest.mark.parametrize("backend", ["client backend", "parallel worker", "autovacuum worker",
                                     "logical replication launcher", "checkpointer"])
def test_a_backend_type_of_several_words_is_read_whole(backend: str) -> None:
    prefix = pp.LinePrefix("%m [%p] %b %q%u@%d ")
    session = backend == "client backend"
    line = f"2026-11-25 16:05:01.120 UTC [7] {backend} {'bob@shop ' if session else ''}LOG:  hi"
    for parsed in (prefix.parse(line), prefix.parse_with_grammar(line)):
        assert parsed is not None
        assert (parsed.fields["b"], parsed.fields.get("u"), parsed.fields.get("d")) == \
            (backend, "bob" if session else None, "shop" if session else None)


def test_jsonlog_lines_in_cloudwatch_events_read_like_the_jsonlog(tmp_path: Path) -> None:
    lines = [json.dumps({"timestamp": f"2026-11-25 16:05:0{i}.120 UTC", "pid": 40 + i,
                         "user": "alice", "dbname": "shop", "error_severity": "LOG",
                         "message": f"AUDIT: SESSION,{i},1,READ,SELECT,,,\"select 'a,\"\"b\"\"\n"
                                    f"c'\",<not logged>"}) for i in range(1, 4)]
    jsonlog = tmp_path / "postgresql.json"
    jsonlog.write_text("\n".join(lines) + "\n", encoding="utf-8")
    export = tmp_path / "export.json"
    export.write_text(json.dumps([{"timestamp": 1796079236000 + i, "message": line,
                                   "logStreamName": "db", "eventId": str(i)}
                                  for i, line in enumerate(lines)]), encoding="utf-8")
    events, errors = _events_json(export, prefix="auto")
    assert errors == [] and len(events) == 3
    assert _comparable(events) == _comparable(_events_json(jsonlog)[0])


def test_an_open_csvlog_record_is_held_unacknowledged_then_given_up() -> None:
    """A source acknowledges only what the parser no longer holds: the lines of a csvlog
    record still open are pending; a record whose rest never comes is a reject (at the end
    of input, or when the source releases its stale lines), never dropped."""
    from pgaudit_parse.lines import Line
    from pgaudit_parse.parser import Parser

    first = Line('2026-11-25 16:05:01.120 UTC,"alice","shop",42,,6565f1a2.2a,3,,'
                 '2026-11-25 16:05:00 UTC,3/7,0,LOG,00000,"two', "f", 1, stream="a")
    rest = Line('lines",,,,,,,,,"psql","client backend",,0', "f", 2, stream="a")
    rejects: list[pp.Reject] = []
    parser = Parser(on_reject=rejects.append)
    assert parser.feed(first) == [] and parser.pending_lines() == [first]
    assert [e.message for e in parser.feed(rest)] == ["two\nlines"]
    assert parser.pending_lines() == [] and rejects == []
    for end in ("flush", "release"):
        parser = Parser(on_reject=rejects.append)
        parser.feed(first)
        if end == "flush":
            assert parser.flush() == []
        else:
            assert parser.release(lambda line: line.number == 1) == []
        assert parser.pending_lines() == []
        assert [(r.line, r.raw, "cut short" in r.reason) for r in rejects] == \
            [(1, first.text, True)]
        rejects.clear()


@pytest.mark.parametrize("kind", ["csvlog", "jsonlog"])
def test_a_crlf_csvlog_or_jsonlog_reads_like_the_lf_one(tmp_path: Path, kind: str) -> None:
    """PostgreSQL on Windows writes its log files in text mode: every LF becomes CR LF,
    inside a quoted csv field too. That CR is not data (a statement's lines ended in
    '\\r'); a bare CR inside a statement ('a\\rb' in the fixture) is, and stays."""
    if kind == "csvlog":
        lf = (FIXTURES / "real-rich.csv").read_bytes()
    else:
        lf = "".join(json.dumps({"timestamp": f"2026-11-25 16:05:0{i}.120 UTC", "pid": 7,
                                 "error_severity": "LOG", "message": "two\nlines a\rb"}) + "\n"
                     for i in range(3)).encode()
    assert kind == "jsonlog" or b"\r" in lf  # a bare CR that is data (jsonlog escapes it)
    plain, crlf = tmp_path / "lf.log", tmp_path / "crlf.log.gz"
    plain.write_bytes(lf)
    crlf.write_bytes(gzip.compress(lf.replace(b"\n", b"\r\n")))
    want = [_drop(pp.event_to_json(e), ORIGIN_KEYS) for e in _parse(plain, "%m ")]
    got = [_drop(pp.event_to_json(e), ORIGIN_KEYS) for e in _parse(crlf, "%m ")]
    assert got == want and len(got) >= 3


@pytest.mark.parametrize("where", ["file", "first line", "cloudwatch"])
def test_jsonlog_bytes_that_are_not_utf8_read_like_the_stderr_log(tmp_path: Path,
                                                                  where: str) -> None:
    """A SQL_ASCII database logs the bytes it was sent; jsonlog writes them raw inside its
    JSON strings (seen on a real server). The stderr log and the csvlog give the event with
    each such byte as ``\\xNN`` (docs/input.md); so must the jsonlog, not a dead letter."""
    def line(i: int, sql: bytes) -> bytes:
        return (b'{"timestamp":"2026-11-25 16:05:0' + str(i).encode() + b'.120 UTC","pid":'
                + str(40 + i).encode() + b',"user":"alice","dbname":"raw",'
                b'"error_severity":"LOG","message":"AUDIT: SESSION,1,1,READ,SELECT,,,'
                + sql + b',<not logged>"}\n')
    bad = line(2, b"\\\"SELECT 'bad \xff\xfe byte' AS \\\"\\\"col \xff \\\\x41\\\"\\\"\\\"")
    lines = [line(1, b"select 1"), bad, line(3, b"select 3")]
    if where == "first line":
        lines = lines[1:]
    path = tmp_path / "postgresql.json"
    if where == "cloudwatch":
        path = tmp_path / "export.json"
        path.write_text(json.dumps([
            {"timestamp": 1796079236000 + i, "eventId": str(i), "logStreamName": "db",
             "message": raw.decode("utf-8", "surrogateescape").rstrip("\n")}
            for i, raw in enumerate(lines)]), encoding="utf-8", errors="surrogateescape")
    else:
        path.write_bytes(b"".join(lines))
    events, errors = _events_json(path, prefix="auto")
    assert errors == []
    statements = [e["audit"]["statement"] for e in events]
    assert "SELECT 'bad \\xff\\xfe byte' AS \"col \\xff \\x41\"" in statements
    assert len(events) == len(lines)
