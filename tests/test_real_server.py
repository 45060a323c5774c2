"""The stderr log of a real PostgreSQL 15 + pgAudit, parsed by the library and by the CLI,
must say exactly what the csvlog of the same run says.

Each configuration (``rds``: the seed guide's parameter group; ``rich``: milliseconds, a
+05:30 zone, session ids, SQLSTATEs, one audit line per relation, statements logged once,
parameters, rows and durations; ``verbose``: PostgreSQL's default prefix, a numeric zone
abbreviation, and log_error_verbosity=verbose, i.e. a SQLSTATE before every message and a
LOCATION line after it) runs :mod:`workload` once (see ``conftest.py``). The
csvlog is read with nothing but :mod:`csv` (:mod:`csvlog`), including the pgAudit payload,
so a parser bug cannot hide in a shared helper. Every csvlog record must come back as one
event, in the same order per backend, with the same fields; nothing may be rejected.

Two differences between the formats are PostgreSQL's, and are modelled, not ignored:
``%t`` is taken from its own ``time()`` call (one second earlier than the csvlog time at
a second boundary), and stderr appends `` at character N`` to the message where the
csvlog keeps N in ``query_pos`` (else ``internal_query_pos``): the event must give the
csvlog's message and N as ``cursor_position``. (A third, ``[unknown]`` in stderr where
the csvlog has an empty user or database before authentication, maps to null.)
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from csvlog import CsvLogRow, audit_fields, parse_csv_time
from workload import SERVER_CONFIGS, ServerRun

import pgaudit_parse as pp
from pgaudit_parse.formats.guardium import redact_passwords

PREVIOUSLY_LOGGED = "<previously logged>"
ERROR_SEVERITIES = ("ERROR", "FATAL", "PANIC")
#: --format events keys DESIGN.md promises.
CONTRACT_KEYS = ("kind", "timestamp", "severity", "user", "database", "client_host",
                 "client_port", "pid", "message", "detail", "hint", "context", "statement")
AUDIT_KEYS = ("audit_type", "statement_id", "substatement_id", "class", "command",
              "object_type", "object_name", "statement", "parameter", "rows")
#: Observed fields -> the prefix escapes that carry them. Without one of its escapes a
#: field may be null (DESIGN.md) or, if the parser reads it from the message text (e.g.
#: ``connection authorized: user=...``), the csvlog's value; never anything else.
PREFIX_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("%u",), "database": ("%d",), "client_host": ("%r", "%h"),
    "client_port": ("%r",), "session_id": ("%c",), "sqlstate": ("%e",),
    "application_name": ("%a",),
}


# -- what the parser produced, from the library or from CLI JSON -------------------------

@dataclass(frozen=True)
class Observed:
    """One event as the comparison sees it, whichever way it was produced."""

    kind: str
    timestamp: datetime | None
    severity: str
    user: str | None
    database: str | None
    client_host: str | None
    client_port: int | None
    pid: int | None
    message: str
    cursor_position: int | None
    detail: str | None
    hint: str | None
    context: str | None
    statement: str | None
    query: str | None
    location: str | None
    session_id: str | None
    sqlstate: str | None
    application_name: str | None
    audit: dict[str, Any] | None
    line: int
    event: pp.Event | None = None  # the library's own object, when there is one

    @classmethod
    def from_event(cls, event: pp.Event) -> Observed:
        audit = None
        if isinstance(event, pp.AuditEvent):
            a = event.audit
            audit = {"audit_type": a.audit_type, "statement_id": a.statement_id,
                     "substatement_id": a.substatement_id, "class": a.class_,
                     "command": a.command, "object_type": a.object_type,
                     "object_name": a.object_name, "statement": a.statement,
                     "parameter": None if a.parameter is None else list(a.parameter),
                     "rows": a.rows}
        return cls(event.kind, event.timestamp, event.severity, event.user, event.database,
                   event.client_host, event.client_port, event.pid, event.message,
                   getattr(event, "cursor_position", None), event.detail, event.hint,
                   event.context, event.statement,
                   getattr(event, "query", None), getattr(event, "location", None),
                   event.session_id, event.sqlstate, event.application_name, audit,
                   event.line, event)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Observed:
        missing = [k for k in CONTRACT_KEYS if k not in obj]
        assert not missing, f"--format events object lacks {missing}: {obj}"
        audit = obj.get("audit")
        if obj["kind"] == "audit":
            assert isinstance(audit, dict) and set(AUDIT_KEYS) <= set(audit), obj
        stamp = obj["timestamp"]
        return cls(obj["kind"], datetime.fromisoformat(stamp) if stamp else None,
                   obj["severity"], obj["user"], obj["database"], obj["client_host"],
                   obj["client_port"], obj["pid"], obj["message"],
                   obj.get("cursor_position"), obj["detail"],
                   obj["hint"], obj["context"], obj["statement"], obj.get("query"),
                   obj.get("location"), obj.get("session_id"), obj.get("sqlstate"),
                   obj.get("application_name"),
                   _whole_statement(audit) if audit is not None else None,
                   int(obj.get("line") or 0))


def _whole_statement(audit: dict[str, Any]) -> dict[str, Any]:
    """The audit keys with the statement as pgAudit wrote it: a line of a multi-statement
    string has its own statement in ``statement`` and the string in ``statement_full``
    (tests/test_sql_real_server.py checks the split itself)."""
    out = {k: audit[k] for k in AUDIT_KEYS}
    if audit.get("statement_full") is not None:
        out["statement"] = audit["statement_full"]
    return out


# -- what the csvlog says the parser must produce ----------------------------------------

def expected_kind(row: CsvLogRow) -> str:
    """The event kind a csvlog record must become.

    Login failures are the FATALs of SQLSTATE class 28 (invalid authorization: wrong
    password, unknown role, no pg_hba entry); every log_connections line is a connection.
    """
    if row.is_audit and row.error_severity == "LOG":
        return "audit"
    if row.error_severity in ERROR_SEVERITIES:
        login = row.error_severity == "FATAL" and row.sql_state_code.startswith("28")
        return "login_failed" if login else "error"
    if row.message.startswith(("connection received: ", "connection authenticated: ",
                               "connection authorized: ",
                               "replication connection authorized: ")):
        return "connection"
    if row.message.startswith("disconnection: "):
        return "disconnection"
    if row.message.startswith("duration: "):
        return "duration"
    return "log"


def expected_cursor_position(row: CsvLogRow) -> int | None:
    """The N of the `` at character N`` stderr appends to the message: PostgreSQL's
    ``cursorpos``, else ``internalpos``, which the csvlog keeps in their own columns."""
    return row.query_pos or row.internal_query_pos


def parse_parameter(text: str) -> list[str] | None:
    """pgAudit's PARAMETER field: a CSV list, ``<none>`` or ``<not logged>``."""
    if text == "<not logged>":
        return None
    if text == "<none>":
        return []
    if text == "":  # one parameter, NULL or ''
        return [""]
    [values] = list(csv.reader([text], strict=True))
    return values


class AuditAnswerKey:
    """Expected ``event.audit`` dicts, resolving ``<previously logged>`` per backend."""

    def __init__(self) -> None:
        self._logged: dict[tuple[int, int, int], tuple[str, str]] = {}

    def expect(self, row: CsvLogRow) -> dict[str, Any]:
        fields = audit_fields(row.message)
        assert len(fields) in (9, 10), f"csv row {row.number}: {fields}"
        statement, parameter = fields[7], fields[8]
        key = (row.process_id, int(fields[1]), int(fields[2]))
        if PREVIOUSLY_LOGGED in (statement, parameter):
            earlier = self._logged[key]
            statement = earlier[0] if statement == PREVIOUSLY_LOGGED else statement
            parameter = earlier[1] if parameter == PREVIOUSLY_LOGGED else parameter
        else:
            self._logged[key] = (statement, parameter)
        rows = fields[9] if len(fields) == 10 else ""
        return {
            "audit_type": fields[0], "statement_id": int(fields[1]),
            "substatement_id": int(fields[2]), "class": fields[3], "command": fields[4],
            "object_type": fields[5] or None, "object_name": fields[6] or None,
            "statement": statement, "parameter": parse_parameter(parameter),
            "rows": int(rows) if rows else None,
        }


def prefix_escapes(prefix: str) -> set[str]:
    """The escapes of a ``log_line_prefix``, padding left out (``%-10u`` is ``%u``).

    >>> sorted(prefix_escapes("%30m [%-5p] %%u %q%u"))
    ['%%', '%m', '%p', '%q', '%u']
    """
    return {"%" + letter for letter in re.findall(r"%-?\d*(.)", prefix)}


#: Escapes PostgreSQL leaves empty for a process that serves no client.
SESSION_ONLY = frozenset({"%u", "%d", "%a", "%r", "%h", "%i"})


def visible_escapes(prefix: str, row: CsvLogRow) -> set[str]:
    """The escapes whose values the stderr line of this csvlog record shows: a process
    without a client connection (csvlog: no connection_from) prints only the part of the
    prefix before ``%q``, and its session values are empty (the csvlog still names a
    parallel worker's application)."""
    if row.connection_from is None:
        return prefix_escapes(prefix.split("%q")[0]) - SESSION_ONLY
    return prefix_escapes(prefix)


def timestamp_matches(actual: datetime | None, csv_time: datetime, prefix: str) -> bool:
    """``%m`` and ``%n`` equal the csvlog time to the millisecond; ``%t`` is the same
    second or, because PostgreSQL reads the clock again for ``%t``, at most one second
    earlier. Either way the UTC offset must be the server's."""
    if actual is None or actual.utcoffset() != csv_time.utcoffset():
        return False
    if {"%m", "%n"} & prefix_escapes(prefix):
        return actual == csv_time
    second = csv_time.replace(microsecond=0)
    return actual in (second, second - timedelta(seconds=1))


@dataclass(frozen=True)
class Pair:
    """A csvlog record, the event it must be, and what that event must say."""

    row: CsvLogRow
    observed: Observed
    expected: dict[str, Any]


def expected_fields(row: CsvLogRow, run: ServerRun,
                    audits: AuditAnswerKey) -> tuple[dict[str, Any], frozenset[str]]:
    """Every Observed field (but the timestamp) the csvlog record fixes, and the names
    of those the prefix does not carry (null is accepted for them, see PREFIX_FIELDS)."""
    expected: dict[str, Any] = {
        "kind": expected_kind(row),
        "severity": row.error_severity,
        "user": row.user_name,
        "database": row.database_name,
        "client_host": row.client_host,
        "client_port": row.client_port,
        "pid": row.process_id,
        "message": row.message,
        "cursor_position": expected_cursor_position(row),
        "detail": row.detail,
        "hint": row.hint,
        "context": row.context,
        "statement": row.query,
        "query": row.internal_query,
        "location": row.location,
        "session_id": row.session_id,
        "sqlstate": row.sql_state_code,
        "application_name": row.application_name,
        "audit": audits.expect(row) if expected_kind(row) == "audit" else None,
    }
    # %q: processes without a client connection (csvlog: no connection_from) print
    # only the part of the prefix before it, and their session values (%u %d %a %r %h
    # %i) are empty (the csvlog still names a parallel worker's application).
    visible = visible_escapes(run.prefix, row)
    # log_error_verbosity=verbose writes "SEVERITY:  SQLSTATE: message": no %e needed.
    verbose = run.settings.get("log_error_verbosity") == "verbose"
    may_be_null = frozenset(
        name for name, escapes in PREFIX_FIELDS.items()
        if not any(e in visible for e in escapes) and not (name == "sqlstate" and verbose)
    )
    return expected, may_be_null


def compare(run: ServerRun, observed: list[Observed]) -> tuple[list[Pair], list[str]]:
    """Pair csvlog records with events backend by backend; list every difference.

    Across backends the two files may order messages differently (each backend writes
    its stderr and csv copies separately to the collector), so the order is compared
    per process id, where it is fixed.
    """
    rows = run.csv_rows()
    by_pid_rows: dict[int, list[CsvLogRow]] = defaultdict(list)
    for row in rows:
        by_pid_rows[row.process_id].append(row)
    by_pid_events: dict[int | None, list[Observed]] = defaultdict(list)
    for event in observed:
        by_pid_events[event.pid].append(event)

    problems: list[str] = []
    if len(observed) != len(rows):
        problems.append(f"{len(rows)} csvlog records but {len(observed)} events")
    for pid in sorted(set(by_pid_events) - set(by_pid_rows), key=str):
        problems.append(f"events for pid {pid} that the csvlog does not have: "
                        f"{[e.message[:60] for e in by_pid_events[pid]]}")

    audits = AuditAnswerKey()
    expected_by_row = {row.number: expected_fields(row, run, audits) for row in rows}
    pairs: list[Pair] = []
    for pid, pid_rows in by_pid_rows.items():
        events = by_pid_events.get(pid, [])
        if len(events) != len(pid_rows):
            problems.append(
                f"pid {pid}: {len(pid_rows)} csvlog records, {len(events)} events; csv "
                f"{[r.message[:50] for r in pid_rows]} events {[e.message[:50] for e in events]}"
            )
        for row, event in zip(pid_rows, events, strict=False):
            expected, may_be_null = expected_by_row[row.number]
            pairs.append(Pair(row, event, expected))
            where = f"csv record {row.number} / log line {event.line} (pid {pid})"
            csv_time = parse_csv_time(row.log_time, run.log_timezone)
            if not timestamp_matches(event.timestamp, csv_time, run.prefix):
                problems.append(f"{where}: timestamp {event.timestamp!r} for csv "
                                f"{row.log_time!r}")
            for name, want in expected.items():
                got = getattr(event, name)
                if got != want and not (got is None and name in may_be_null):
                    problems.append(f"{where}: {name}: expected {want!r}, got {got!r}")
    return pairs, problems


def assert_no_problems(problems: list[str]) -> None:
    shown = "\n".join(problems[:40])
    more = f"\n... and {len(problems) - 40} more" if len(problems) > 40 else ""
    assert not problems, f"{len(problems)} difference(s) from the csvlog:\n{shown}{more}"


# -- running the parser ------------------------------------------------------------------

def cli_command() -> list[str]:
    """How to run the CLI: ``python -m pgaudit_parse`` or the console script."""
    if importlib.util.find_spec("pgaudit_parse.__main__") is not None:
        return [sys.executable, "-m", "pgaudit_parse"]
    script = shutil.which("pgaudit-parse")
    assert script, "neither pgaudit_parse/__main__.py nor the pgaudit-parse script exists"
    return [script]


@dataclass(frozen=True)
class CliRun:
    objects: list[dict[str, Any]]
    stderr: str
    dead_letters: list[str]


def run_cli(run: ServerRun, fmt: str, work_dir: Path) -> CliRun:
    errors = work_dir / f"{run.name}-{fmt}-errors.jsonl"
    proc = subprocess.run(
        [*cli_command(), "--format", fmt, "--prefix", run.prefix, "--errors", str(errors),
         str(run.stderr_log)],
        capture_output=True, timeout=300,
    )
    stderr = proc.stderr.decode("utf-8", errors="replace")
    assert proc.returncode == 0, f"pgaudit-parse exited {proc.returncode}: {stderr}"
    # JSON escapes CR and LF inside strings; split on LF only (U+2028 may stay raw).
    text = proc.stdout.decode("utf-8")
    objects = [json.loads(line) for line in text.split("\n") if line]
    dead = errors.read_text(encoding="utf-8").split("\n") if errors.exists() else []
    return CliRun(objects, stderr, [line for line in dead if line])


@dataclass(frozen=True)
class LibraryRun:
    events: list[pp.Event]
    rejects: list[pp.Reject]


@pytest.fixture(scope="session")
def library_run(server_run: ServerRun) -> LibraryRun:
    rejects: list[pp.Reject] = []
    events = list(pp.parse_file(str(server_run.stderr_log), prefix=server_run.prefix,
                                on_reject=rejects.append))
    return LibraryRun(events, rejects)


@pytest.fixture(scope="session")
def cli_events(server_run: ServerRun, tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    return run_cli(server_run, "events", tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="session")
def cli_records(server_run: ServerRun, tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    return run_cli(server_run, "records", tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="session")
def library_pairs(server_run: ServerRun, library_run: LibraryRun) -> list[Pair]:
    pairs, _ = compare(server_run, [Observed.from_event(e) for e in library_run.events])
    return pairs


# -- the answer key must itself hold what the workload was written to produce -----------

def _count(rows: Iterable[CsvLogRow], predicate: Any) -> int:
    return sum(1 for row in rows if predicate(row))


def test_answer_key_covers_the_workload(server_run: ServerRun) -> None:
    """Guards against a vacuous pass: the csvlog holds every hard case on purpose."""
    rows = server_run.csv_rows()
    audits = [r for r in rows if r.is_audit]
    fields = [audit_fields(r.message) for r in audits]
    checks = {
        "role statements redacted": _count(audits, lambda r: ",ROLE," in r.message
                                           and "<REDACTED>" in r.message) >= 4,
        "no password in clear": not any("-Pw-" in (r.message + (r.query or "")) for r in rows),
        "object audit lines": any(f[0] == "OBJECT" for f in fields),
        "sub-statements": any(int(f[2]) > 1 for f in fields),
        "multi-line statements": any("\n" in f[7] for f in fields),
        "bare CR in a statement": any("\r" in f[7] for f in fields),
        "bare CR in a message": any("\r" in r.message for r in rows if not r.is_audit),
        "non-ASCII text": any("日本語" in f[7] for f in fields),
        "quotes and commas": any('"quoted"' in f[7] for f in fields),
        "fake prefix inside a statement": any("UTC::@:[1]:LOG:" in f[7] for f in fields),
        "long statement (> 5 KB)": any(len(f[7]) > 5000 for f in fields),
        "wrong password": any(r.sql_state_code == "28P01" and "alice" in r.message
                              for r in rows),
        "unknown role": _count(rows, lambda r: '"nosuch"' in r.message
                               and r.error_severity == "FATAL") == 2,
        "unknown database": any(r.sql_state_code == "3D000" for r in rows),
        "IPv4 client": any(r.client_host == "127.0.0.1" for r in rows),
        "IPv6 client": any(r.client_host == "::1" for r in rows),
        "unix socket client": any(r.client_host == "[local]" for r in rows),
        "background process lines": any(r.connection_from is None for r in rows),
        "ERROR with DETAIL": any(r.error_severity == "ERROR" and r.detail for r in rows),
        "ERROR with HINT": any(r.error_severity == "ERROR" and r.hint for r in rows),
        "multi-line CONTEXT": any(r.context and "\n" in r.context for r in rows),
        "internal QUERY": any(r.internal_query for r in rows),
        "cursor position": any(r.query_pos for r in rows),
        "internal cursor position": any(r.internal_query_pos for r in rows),
        "multi-line WARNING with DETAIL and HINT": any(
            r.error_severity == "WARNING" and "\n" in r.message and r.detail and r.hint
            for r in rows),
        "extended protocol": any(r.application_name == "pgbench" and r.is_audit
                                 and "$2" in r.message for r in rows),
    }
    if server_run.name == "rich":
        checks.update({
            "parameters logged": any(f[8] not in ("<none>", "<not logged>",
                                                  PREVIOUSLY_LOGGED) for f in fields),
            "NULL parameter": any(f[8].endswith(",") for f in fields),
            "CR in a parameter": any("\r" in f[8] for f in fields),
            "rows logged": all(len(f) == 10 for f in fields),
            "statement logged once": any(f[7] == PREVIOUSLY_LOGGED for f in fields),
            "duration lines": any(r.message.startswith("duration: ") for r in rows),
            "failing DML has no audit line": not any(
                "'duplicate'" in f[7] for f in fields),
        })
    missing = [name for name, ok in checks.items() if not ok]
    assert not missing, f"the {server_run.name} csvlog lacks: {missing}"


# -- the parser against the answer key ---------------------------------------------------

def test_library_rejects_nothing(library_run: LibraryRun) -> None:
    assert [r.as_dict() for r in library_run.rejects] == []


def test_library_events_match_csvlog(server_run: ServerRun, library_run: LibraryRun) -> None:
    observed = [Observed.from_event(e) for e in library_run.events]
    _, problems = compare(server_run, observed)
    assert_no_problems(problems)


def test_library_duration_values(library_pairs: list[Pair]) -> None:
    problems = []
    for pair in library_pairs:
        match = re.match(r"duration: (\d+\.\d+) ms", pair.row.message)
        if match is None:
            continue
        got = getattr(pair.observed.event, "duration_ms", None)
        if got != float(match.group(1)):
            problems.append(f"csv record {pair.row.number}: duration {match.group(1)} ms, "
                            f"event says {got!r}")
    assert_no_problems(problems)


def test_cli_events_match_csvlog(server_run: ServerRun, cli_events: CliRun) -> None:
    assert cli_events.dead_letters == []
    assert "reject" not in cli_events.stderr, cli_events.stderr
    _, problems = compare(server_run, [Observed.from_json(o) for o in cli_events.objects])
    assert_no_problems(problems)


def test_roles_login_failures_and_ipv6(server_run: ServerRun,
                                       library_run: LibraryRun) -> None:
    rows = server_run.csv_rows()
    events = library_run.events
    redacted_rows = _count(rows, lambda r: r.is_audit and ",ROLE," in r.message
                           and "<REDACTED>" in r.message)
    redacted = [e for e in events if isinstance(e, pp.AuditEvent)
                and e.audit.class_ == "ROLE" and "<REDACTED>" in (e.audit.statement or "")]
    assert len(redacted) == redacted_rows >= 4
    failed = [e for e in events if e.kind == "login_failed"]
    assert {e.user for e in failed} >= {"alice", "nosuch"}
    assert any(e.message == 'password authentication failed for user "alice"'
               for e in failed)
    assert all(isinstance(e, pp.ErrorEvent) and e.severity == "FATAL" for e in failed)
    assert any(e.client_host == "::1" and e.client_port for e in events)
    assert any(e.client_host == "::1" and e.kind == "audit" for e in events)


# -- Guardium records --------------------------------------------------------------------

def test_guardium_records(server_run: ServerRun, library_run: LibraryRun,
                          library_pairs: list[Pair], cli_records: CliRun) -> None:
    """Every audit event and every ERROR/FATAL has a record (``to_guardium`` of the event
    alone) saying what the csvlog says; failed passwords are LOGIN_FAILED. The CLI's
    records, one per statement execution, are checked in test_guardium_real_server.py."""
    problems: list[str] = []
    for pair in library_pairs:
        kind = pair.expected["kind"]
        if kind not in ("audit", "error", "login_failed"):
            continue
        event = pair.observed.event
        assert event is not None
        record = pp.to_guardium(event)
        where = f"csv record {pair.row.number} ({kind})"
        if record is None:
            problems.append(f"{where}: no Guardium record")
            continue
        checks = _record_checks(pair, record, event.timestamp)
        prefix = server_run.settings["log_line_prefix"]
        for escape, name, unknown in (("%d", "dbName", ""), ("%u", "accessor.dbUser", "NA")):
            # Without the escape the log names the database/user only through the
            # backend's connection lines; a failed password login has none of those.
            if escape not in prefix_escapes(prefix) and checks[name][1] == unknown:
                del checks[name]
        problems += [f"{where}: {name}: expected {want!r}, got {got!r}"
                     for name, (want, got) in checks.items() if want != got]

    assert cli_records.dead_letters == []
    login_failed = [r for r in cli_records.objects
                    if (r.get("exception") or {}).get("exceptionTypeId") == "LOGIN_FAILED"]
    wanted = _count(server_run.csv_rows(), lambda r: expected_kind(r) == "login_failed")
    if len(login_failed) != wanted or wanted < 2:
        problems.append(f"{wanted} login failures in the csvlog, {len(login_failed)} "
                        "LOGIN_FAILED records")
    assert_no_problems(problems)


def _record_checks(pair: Pair, record: dict[str, Any],
                   timestamp: datetime | None) -> dict[str, tuple[Any, Any]]:
    row, expected = pair.row, pair.expected
    offset = timestamp.utcoffset() if timestamp else None
    checks: dict[str, tuple[Any, Any]] = {
        "dbName": (row.database_name or "", record["dbName"]),
        "accessor.dbUser": (row.user_name or "NA", record["accessor"]["dbUser"]),
        "accessor.serverType": ("POSTGRESQL", record["accessor"]["serverType"]),
        "time.timstamp": (int(timestamp.timestamp() * 1000) if timestamp else None,
                          record["time"]["timstamp"]),
        "time.minOffsetFromGMT": (int(offset.total_seconds() // 60)
                                  if offset is not None else None,
                                  record["time"]["minOffsetFromGMT"]),
    }
    host = row.client_host
    locator = record["sessionLocator"]
    if host not in (None, "[local]"):
        ipv6 = ip_address(host).version == 6
        checks["sessionLocator.isIpv6"] = (ipv6, locator["isIpv6"])
        checks["sessionLocator.client address"] = (
            host, locator["clientIpv6"] if ipv6 else locator["clientIp"])
        checks["sessionLocator.clientPort"] = (row.client_port, locator["clientPort"])
    if expected["kind"] == "audit":
        checks["data.originalSqlCommand"] = (expected["audit"]["statement"],
                                             (record["data"] or {}).get("originalSqlCommand"))
        checks["exception"] = (None, record["exception"])
    else:
        type_id = "LOGIN_FAILED" if expected["kind"] == "login_failed" else "SQL_ERROR"
        exception = record["exception"] or {}
        checks["exception.exceptionTypeId"] = (type_id, exception.get("exceptionTypeId"))
        # the connector's values: double quotes removed, "NA" for no statement, and
        # never a password
        checks["exception.description"] = (row.message.replace('"', ""),
                                           exception.get("description"))
        checks["exception.sqlString"] = (redact_passwords(row.query) if row.query
                                         else "NA", exception.get("sqlString"))
    return checks


# -- the comparison itself must be able to fail -----------------------------------------

def _drop_first(lines: list[str], predicate: Any) -> list[str]:
    index = next(i for i, line in enumerate(lines) if predicate(line))
    return lines[:index] + lines[index + 1:]


@pytest.mark.parametrize("mutation", ["continuation", "detail", "audit line"])
def test_comparison_catches_a_dropped_line(server_run: ServerRun, library_run: LibraryRun,
                                           mutation: str, tmp_path: Path) -> None:
    """Drop one physical line from the real log: the comparison must report it."""
    lines = server_run.stderr_log.read_bytes().decode("utf-8").split("\n")
    if mutation == "continuation":
        mutated = _drop_first(lines, lambda line: line.startswith("\t    amount numeric"))
    elif mutation == "detail":
        mutated = _drop_first(lines, lambda line: "DETAIL:  Key (id)=(2) already" in line)
    else:
        mutated = _drop_first(lines, lambda line: "AUDIT: " in line and "DROP VIEW" in line)
    path = tmp_path / "mutated.log"
    path.write_bytes("\n".join(mutated).encode("utf-8"))
    events = list(pp.parse_file(str(path), prefix=server_run.prefix))
    _, before = compare(server_run, [Observed.from_event(e) for e in library_run.events])
    _, after = compare(server_run, [Observed.from_event(e) for e in events])
    assert set(after) - set(before), f"dropping a {mutation} line went unnoticed"


# -- the small real logs kept in fixtures/ (regenerate: python tests/workload.py --fixtures
#    fixtures) obey the same answer key --------------------------------------------------

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.mark.parametrize("name", ["rds", "rich"])
def test_fixture_logs_match_their_csvlog(name: str) -> None:
    run = ServerRun(name, SERVER_CONFIGS[name], FIXTURES / f"real-{name}.log",
                    FIXTURES / f"real-{name}.csv")
    rejects: list[pp.Reject] = []
    events = list(pp.parse_file(str(run.stderr_log), prefix=run.prefix,
                                on_reject=rejects.append))
    assert rejects == []
    assert len(run.csv_rows()) >= 40
    _, problems = compare(run, [Observed.from_event(e) for e in events])
    assert_no_problems(problems)
