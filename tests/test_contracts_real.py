"""Every event kind a real PostgreSQL 15 + pgAudit writes, through every output format.

One server per prefix configuration runs a workload that makes each kind the events
contract names (DESIGN.md): pgAudit SESSION and OBJECT lines of every class the server
writes (READ, WRITE, FUNCTION, ROLE, DDL, MISC), errors, failed logins, connections,
disconnections, durations (``log_duration`` without the statement,
``log_min_duration_statement`` with it), and other messages (server start, checkpoints,
autovacuum). Names and statements hold spaces, non-ASCII text, quotes, NaN-like text,
numbers beyond 64 bits and bytes that are not UTF-8 (a SQL_ASCII database).

For each configuration, every line of ``--format events``, ``records``, ``records
--values postgres``, ``ocsf`` and ``ecs`` is validated against the JSON Schema the
package ships for it, and the values are compared with the csvlog the server wrote for
the same messages (read here with :mod:`csv` only):

* user, database, pid, client host and port: the csvlog's when the prefix carries them;
  without the escape null, or (the line names its backend with ``%p``) the csvlog's value
  taken from the session's connection lines (docs/attribution.md), never anything else;
  without ``%p`` and ``%c`` always null;
* timestamps: ISO 8601 with the server's offset (``%t``, ``%m``; ``%n`` is UTC by
  definition, docs/prefix.md) and the csvlog's instant (``%t`` to the second);
* severity, message, DETAIL/HINT/CONTEXT, the failing statement, the pgAudit fields
  (``parameter`` null for ``<not logged>``, ``[]`` for ``<none>``, else the list;
  ``rows`` an int or null) and the types (ints are ints, never text or floats).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from csvlog import CsvLogRow, audit_fields, parse_csv_time
from ocsf_schema import FIXTURES as OCSF_FIXTURES
from ocsf_schema import OcsfSchema
from pgserver import PgServer
from workload import AUDIT_ROLE

import pgaudit_parse as pp
from pgaudit_parse.formats import schema
from pgaudit_parse.formats.guardium import record_schema
from pgaudit_parse.formats.ocsf import datastore_activity, to_ocsf

pytestmark = pytest.mark.pg

OCSF = OcsfSchema.load(OCSF_FIXTURES / "1.1.0")
ALICE_PASSWORD = "alice-Pw-contracts"


@dataclass(frozen=True)
class Config:
    """A server configuration: its prefix, zone and pgAudit parameter/rows settings."""

    prefix: str
    zone: str
    log_parameter: bool
    log_rows: bool
    verbose: bool = False  # log_error_verbosity: a SQLSTATE before each message, LOCATION

    def has(self, escape: str) -> bool:
        return escape in self.prefix

    def carries(self, escape: str, row: CsvLogRow) -> bool:
        """Whether the prefix writes ``escape`` on the line of ``row``: not after ``%q``
        on the line of a process that has no client session (a background process)."""
        if escape not in self.prefix:
            return False
        quiet = self.prefix.find("%q")
        return quiet < 0 or self.prefix.find(escape) < quiet or row.connection_from is not None

    @property
    def names_backend(self) -> bool:
        """Whether a line says which backend wrote it (``%p`` or ``%c``)."""
        return self.has("%p") or self.has("%c")


CONFIGS: dict[str, Config] = {
    # the RDS default; pgAudit parameters and rows not logged
    "rds": Config("%t:%r:%u@%d:[%p]:", "UTC", log_parameter=False, log_rows=False),
    # every escape that names something, a +05:45 zone, parameters and rows
    "rich": Config("%m [%p] %q%u@%d %r %e %l %c %s %v %x <%i> <%b> <%a> ", "Asia/Kathmandu",
                   log_parameter=True, log_rows=True),
    # epoch milliseconds (an instant; written in --timezone) in a zone with a numeric abbreviation
    "epoch": Config("%n [%p] %u@%d %r ", "America/Sao_Paulo", log_parameter=True,
                    log_rows=False, verbose=True),
    # no %u %d %r %h %p %c: nothing but the time
    "bare": Config("%m ", "Australia/Adelaide", log_parameter=False, log_rows=True),
    # %h (no port), %a; no %u %d %p
    "host": Config("%t %h %a ", "Asia/Kolkata", log_parameter=True, log_rows=True),
}


def _settings(config: Config) -> dict[str, str]:
    return {
        "shared_preload_libraries": "pgaudit",
        "pgaudit.log": "all",
        "pgaudit.log_catalog": "off",
        "pgaudit.log_parameter": "on" if config.log_parameter else "off",
        "pgaudit.log_rows": "on" if config.log_rows else "off",
        "pgaudit.role": AUDIT_ROLE,
        "log_line_prefix": config.prefix,
        "log_error_verbosity": "verbose" if config.verbose else "default",
        "log_timezone": config.zone,
        "log_connections": "on",
        "log_disconnections": "on",
        "log_checkpoints": "on",
        "log_autovacuum_min_duration": "0",
        "autovacuum_naptime": "1",
        "autovacuum_vacuum_threshold": "5",
        "autovacuum_analyze_threshold": "5",
        "autovacuum_vacuum_scale_factor": "0",
        "autovacuum_analyze_scale_factor": "0",
    }


DB = "sh Zö"
TABLE = '"tab Ü"'
SETUP = f"""
CREATE ROLE {AUDIT_ROLE} NOLOGIN;
CREATE ROLE alice LOGIN PASSWORD '{ALICE_PASSWORD}';
CREATE ROLE bench LOGIN PASSWORD '{ALICE_PASSWORD}';
ALTER ROLE bench SET log_min_duration_statement = 0;
CREATE DATABASE "{DB}" OWNER alice;
CREATE DATABASE raw ENCODING SQL_ASCII LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
"""
SCHEMA = f"""
CREATE TABLE {TABLE} (id numeric PRIMARY KEY, v text, n float8);
CREATE FUNCTION bump(i numeric) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {TABLE} SET n = n + 1 WHERE id = i;
    RETURN i;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO {AUDIT_ROLE};
GRANT ALL ON {TABLE} TO alice;
GRANT EXECUTE ON FUNCTION bump(numeric) TO alice;
GRANT SELECT ON {TABLE} TO bench;
ALTER ROLE alice SET work_mem = '8MB';
"""
CLIENT = f"""
SET search_path = public;
INSERT INTO {TABLE} VALUES (1, 'Zoë, "quoted", -- not a comment', 1),
    (2, E'two\\nlines', 'NaN'), (99999999999999999999999999, '😀 ﾃｽﾄ', 'Infinity');
SELECT id, v FROM {TABLE} WHERE v <> 'NaN' AND n < 'Infinity'::float8;
SELECT bump(1);
DO $$ BEGIN PERFORM 1; END $$;
UPDATE {TABLE} SET v = 'x,y' WHERE id = 2;
DELETE FROM {TABLE} WHERE id = 2;
PREPARE pick(numeric, text) AS SELECT id FROM {TABLE} WHERE id = $1 OR v = $2;
EXECUTE pick(1, NULL);
EXECUTE pick(99999999999999999999999999, '');
EXECUTE pick(3, 'a,"b"');
BEGIN;
SELECT 'NaN'::float8, '-Infinity'::float8, 18446744073709551616 AS big;
COMMIT;
SELECT 1/0;
SELECT * FROM "missing Ü";
SELEC 1;
DO $$ BEGIN EXECUTE 'SELEC 2'; END $$;
DO $$ BEGIN RAISE WARNING 'two%lines', E'\\n' USING DETAIL = 'a detail', HINT = 'a hint'; END $$;
"""
SUPERUSER = f"""
SET log_duration = on;
SELECT 2 AS timed_without_text;
SET log_duration = off;
SET log_min_duration_statement = 0;
SELECT 3 AS "timed with text ﾃｽﾄ";
SET log_min_duration_statement = -1;
CHECKPOINT;
INSERT INTO {TABLE} SELECT g, 'x', g FROM generate_series(10, 300) g;
DELETE FROM {TABLE} WHERE id >= 10;
"""


@dataclass(frozen=True)
class Run:
    """One finished server run: its configuration and log files."""

    name: str
    config: Config
    stderr_log: Path
    csv_log: Path
    json_log: Path


def _run_server(name: str, config: Config, out: Path) -> Run:
    with PgServer(settings=_settings(config)) as pg:
        pg.run_sql(SETUP)
        pg.run_sql(SCHEMA, database=DB)
        pg.run_sql(CLIENT, user="alice", database=DB, host="127.0.0.1",
                   password=ALICE_PASSWORD, application_name="app ü")
        pg.run_sql(SUPERUSER, database=DB, host="::1", password=pg.superuser_password)
        # the extended protocol: parse/bind/execute durations, parameters of a portal
        script = out / "bench.sql"
        script.write_text(f"SELECT id, v FROM {TABLE} WHERE id = :cid OR v = :label;\n",
                          encoding="utf-8")
        bench = pg.run_client(["pgbench", "-n", "-t", "2", "-M", "extended", "-f", str(script),
                               "-D", "cid=1", "-D", 'label=Zoë, "q"', "-h", "127.0.0.1",
                               "-p", str(pg.port), "-U", "bench", DB],
                              password=ALICE_PASSWORD)
        assert bench.returncode == 0, bench.stderr
        # bytes that are not UTF-8 (SQL_ASCII stores and logs them as sent)
        raw = pg.run_client(["psql", "-X", "-h", pg.host_arg(None), "-p", str(pg.port),
                             "-U", "postgres", "-d", "raw", "-c",
                             "SELECT 'bad \udcff\udcfe byte' AS \"col \udcff\""])
        assert raw.returncode == 0, raw.stderr
        for user, database, host, password in (
                ("alice", DB, "127.0.0.1", "not-the-password"),
                ("nosuch", DB, "::1", "whatever"),
                ("alice", "nodb", None, None)):
            result = pg.run_sql("SELECT 1;", user=user, database=database, host=host,
                                password=password, check=False)
            assert result.returncode == 2, result
        pg.wait_for_log("automatic vacuum of table", timeout=60)
        pg.stop()
        shutil.copyfile(pg.stderr_log_path, out / "postgresql.log")
        shutil.copyfile(pg.csv_log_path, out / "postgresql.csv")
        shutil.copyfile(pg.json_log_path, out / "postgresql.json")
    return Run(name, config, out / "postgresql.log", out / "postgresql.csv",
               out / "postgresql.json")


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    name = request.param
    return _run_server(name, CONFIGS[name], tmp_path_factory.mktemp(f"contracts-{name}"))


# -- the answer key ------------------------------------------------------------------------

_LONE = re.compile("[\udc80-\udcff]")


def _as_read(text: str | None) -> str | None:
    """The csvlog's text as the parser gives it: an undecodable byte as ``\\xNN``
    (docs/input.md)."""
    if text is None:
        return None
    return _LONE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def csv_rows(path: Path) -> list[CsvLogRow]:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return [CsvLogRow.from_record([_as_read(v) or "" for v in record], number)
                for number, record in enumerate(csv.reader(handle, strict=True), start=1)]


@dataclass(frozen=True)
class Expected:
    """What every output must say of one csvlog record under a configuration.

    A value is a tuple of the values allowed (null, and the csvlog's, where the prefix
    lacks the escape but the line names its backend)."""

    user: tuple[str | None, ...]
    database: tuple[str | None, ...]
    client: tuple[tuple[str | None, int | None], ...]
    pid: int | None
    instant: datetime
    offset: timedelta
    slack: timedelta


#: Messages that name their session's user, database and client themselves.
_SELF_NAMING = ("connection received: ", "connection authorized: ", "disconnection: ")


def expected(row: CsvLogRow, config: Config) -> Expected:
    # (a connection line's own text names its values: docs/attribution.md)
    named = config.names_backend or row.message.startswith(_SELF_NAMING)

    def allowed(escape: str, value: Any) -> tuple[Any, ...]:
        if config.has(escape):
            return (value,)
        return (None, value) if named else (None,)

    host, port = row.client_host, row.client_port
    if config.has("%r"):
        client: tuple[tuple[str | None, int | None], ...] = ((host, port),)
    elif config.has("%h"):
        # %h has no port: the session's connection received line may say it
        client = ((host, None), (host, port)) if named else ((host, None),)
    else:
        client = ((None, None), (host, port)) if named else ((None, None),)
    csv_time = parse_csv_time(row.log_time, config.zone)
    epoch = config.has("%n")
    user = allowed("%u", row.user_name)
    if row.error_severity == "FATAL" and row.sql_state_code.startswith("28"):
        user += (row.user_name,)  # a failed login's message names its role (attribution.md)
    return Expected(
        user=user, database=allowed("%d", row.database_name),
        client=client, pid=row.process_id if config.has("%p") else None,
        # %n is an instant written in the --timezone zone the runs pass (docs/prefix.md)
        instant=csv_time, offset=csv_time.utcoffset() or timedelta(0),
        slack=timedelta(0) if config.has("%m") or epoch else timedelta(seconds=2))


def _session_start(row: CsvLogRow, zone: str) -> str:
    """The csvlog's ``session_start_time`` (whole seconds) as the events write it."""
    stamp, _, _abbreviation = row.session_start_time.rpartition(" ")
    naive = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    return naive.replace(tzinfo=ZoneInfo(zone)).isoformat()


def _time_ok(got: datetime, want: Expected) -> bool:
    """``%m``/``%n``: the csvlog's instant to the millisecond; ``%t`` (whole seconds of
    its own ``time()`` call): at most the slack before it."""
    if want.slack == timedelta(0):
        return abs(got - want.instant) < timedelta(milliseconds=1)
    return timedelta(0) <= want.instant - got < want.slack


def _parameters(field: str) -> list[str] | None:
    if field == "<not logged>":
        return None
    if field == "<none>":
        return []
    return next(csv.reader(io.StringIO(field), strict=True), None) or [""]


def pair(messages: list[tuple[str, int | None]], rows: list[CsvLogRow]) -> list[CsvLogRow]:
    """The csvlog record of each event (its message and pid, None if the line has none):
    the first one left with that message (and pid). The logging collector writes each
    backend's messages in order, but two backends' messages may interleave differently in
    the stderr log, the csvlog and the jsonlog, so file order alone does not pair them."""
    left: dict[str, list[CsvLogRow]] = defaultdict(list)
    for row in rows:
        left[row.message].append(row)
    paired = []
    for message, pid in messages:
        candidates = left.get(message, [])
        found = next((r for r in candidates if pid is None or r.process_id == pid), None)
        assert found is not None, f"no csvlog record for {message[:80]!r} (pid {pid})"
        candidates.remove(found)
        paired.append(found)
    return paired


def _paired_rows(events: list[dict[str, Any]], rows: list[CsvLogRow]) -> list[CsvLogRow]:
    assert len(events) == len(rows)
    return pair([(e["message"], e["pid"]) for e in events], rows)


#: A duration message's SQL, after PostgreSQL's ``statement:`` / ``parse <name>:`` /
#: ``bind <name>:`` / ``execute <name>:`` (postgres.c).
_DURATION_TEXT = re.compile(r"duration: [0-9.]+ ms  (?:statement|(?:parse|bind|execute) "
                            r"[^:]*): (.*)\Z", re.DOTALL)
_ISO = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?[+-]\d\d:\d\d\Z")


# -- running the CLI -------------------------------------------------------------------------

FORMATS: dict[str, tuple[str, ...]] = {
    "events": ("--format", "events"),
    "records": ("--format", "records"),
    "records-postgres": ("--format", "records", "--values", "postgres",
                         "--account-id", "123456789012", "--instance", "db1"),
    "ocsf": ("--format", "ocsf", "--account-id", "123456789012", "--instance", "db1"),
    "ecs": ("--format", "ecs", "--account-id", "123456789012", "--instance", "db1"),
}


def cli(run: Run, fmt: str, tmp_path: Path, path: Path | None = None) -> list[dict[str, Any]]:
    """The objects the CLI writes for the stderr log (or ``path``); it must read
    everything (no dead letter, exit 0)."""
    errors = tmp_path / f"{fmt}.errors.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pgaudit_parse", *FORMATS[fmt], "--prefix", run.config.prefix,
         "--timezone", run.config.zone, "--errors", str(errors),
         str(path or run.stderr_log)], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    assert not errors.exists() or errors.read_text() == "", errors.read_text()[:2000]
    return [json.loads(line) for line in proc.stdout.decode("utf-8").split("\n") if line]


def _validator(fmt: str) -> jsonschema.Draft202012Validator:
    loaded = record_schema() if fmt.startswith("records") else schema(fmt)
    jsonschema.Draft202012Validator.check_schema(loaded)
    # (without rfc3339-validator, jsonschema skips "format": "date-time" silently)
    assert "date-time" in jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers
    return jsonschema.Draft202012Validator(
        loaded, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _show(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(p[:400] for p in problems[:40])


# -- the tests ----------------------------------------------------------------------------

def test_the_run_has_every_event_kind(run: Run, tmp_path: Path) -> None:
    events = cli(run, "events", tmp_path)
    kinds = {e["kind"] for e in events}
    assert kinds == {"audit", "error", "login_failed", "connection", "disconnection",
                     "duration", "log"}
    audits = [e["audit"] for e in events if e["kind"] == "audit"]
    assert {a["class"] for a in audits} >= {"READ", "WRITE", "FUNCTION", "ROLE", "DDL", "MISC"}
    assert {a["audit_type"] for a in audits} == {"SESSION", "OBJECT"}
    durations = [e for e in events if e["kind"] == "duration"]
    assert {e["duration_statement"] is None for e in durations} == {True, False}
    phases = {e["message"].split("  ")[1].split(" ")[0] for e in durations if "  " in e["message"]}
    assert {"statement:", "parse", "bind", "execute"} <= phases, phases
    logs = " ".join(e["message"] for e in events if e["kind"] == "log")
    for text in ("database system is ready to accept connections", "checkpoint complete",
                 "automatic vacuum of table", "database system is shut down"):
        assert text in logs
    parameters = {json.dumps(a["parameter"]) for a in audits}
    if run.config.log_parameter:
        assert {"[]", '["1", ""]', '["3", "a,\\"b\\""]', '["1", "Zo\\u00eb, \\"q\\""]'} \
            <= parameters
    else:
        assert parameters == {"null"}
    assert ({a["rows"] is None for a in audits} == {True}) != run.config.log_rows


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("source", ["stderr", "csvlog", "jsonlog"])
def test_every_line_is_valid_by_its_schema(run: Run, source: str, fmt: str,
                                           tmp_path: Path) -> None:
    path = {"stderr": run.stderr_log, "csvlog": run.csv_log, "jsonlog": run.json_log}[source]
    objects = cli(run, fmt, tmp_path, path)
    assert len(objects) >= 30
    check = _validator(fmt)
    problems = []
    for number, obj in enumerate(objects, start=1):
        problems += [f"{fmt} object {number}: {e.json_path}: {e.message[:200]}"
                     for e in check.iter_errors(obj)]
        if fmt == "ocsf":
            problems += [f"object {number}: OCSF 1.1.0: {p}" for p in OCSF.validate(obj)]
    assert not problems, _show(problems)


def test_events_say_what_the_csvlog_says(run: Run, tmp_path: Path) -> None:
    events = cli(run, "events", tmp_path)
    rows = _paired_rows(events, csv_rows(run.csv_log))
    problems: list[str] = []
    for event, row in zip(events, rows, strict=True):
        where = f"csv record {row.number} ({event['kind']}: {row.message[:50]!r})"
        problems += [f"{where}: {p}" for p in _event_vs_row(event, row, run.config)]
    assert not problems, _show(problems)


@pytest.mark.parametrize("source", ["csvlog", "jsonlog"])
def test_events_of_structured_logs_say_what_the_csvlog_says(run: Run, source: str,
                                                            tmp_path: Path) -> None:
    """A csvlog or jsonlog input carries every field (as a prefix with every escape
    would, and milliseconds): the events must say all of it."""
    path = run.csv_log if source == "csvlog" else run.json_log
    events = cli(run, "events", tmp_path, path)
    rows = _paired_rows(events, csv_rows(run.csv_log))
    full = Config("%m %u %d %r %p %c %e %a %b %i %v %x %s", run.config.zone,
                  run.config.log_parameter, run.config.log_rows)
    problems: list[str] = []
    for event, row in zip(events, rows, strict=True):
        where = f"csv record {row.number} ({event['kind']}: {row.message[:50]!r})"
        problems += [f"{where}: {p}" for p in _event_vs_row(event, row, full)]
    assert not problems, _show(problems)


def _event_vs_row(event: dict[str, Any], row: CsvLogRow, config: Config) -> list[str]:
    want = expected(row, config)
    problems = []

    def same(name: str, got: Any, allowed: tuple[Any, ...]) -> None:
        if got not in allowed or type(got) not in {type(a) for a in allowed}:
            problems.append(f"{name} {got!r}, expected one of {allowed!r}")

    same("user", event["user"], want.user)
    same("database", event["database"], want.database)
    same("client", (event["client_host"], event["client_port"]), want.client)
    if type(event["client_port"]) not in (int, type(None)):
        problems.append(f"client_port {event['client_port']!r} is not an int")
    same("pid", event["pid"], (want.pid,))
    stamp = event["timestamp"]
    if not isinstance(stamp, str) or not _ISO.match(stamp):
        problems.append(f"timestamp {stamp!r} is not ISO 8601 with an offset")
    else:
        got = datetime.fromisoformat(stamp)
        if got.utcoffset() != want.offset:
            problems.append(f"timestamp {stamp} offset, expected {want.offset}")
        if not _time_ok(got, want):
            problems.append(f"timestamp {stamp} for csv {row.log_time}")
    same("severity", event["severity"], (row.error_severity,))
    # the other escapes: the csvlog's value with the escape, else null (never inferred)
    for escape, key, value in (
            ("%c", "session_id", row.session_id),
            ("%e", "sqlstate", row.sql_state_code),
            ("%a", "application_name", row.application_name),
            ("%b", "backend_type", row.backend_type),
            ("%i", "command_tag", row.command_tag),
            ("%v", "virtual_xid", row.virtual_transaction_id),
            ("%x", "xid", row.transaction_id),
            ("%s", "session_start", _session_start(row, config.zone))):
        # (log_error_verbosity=verbose writes the SQLSTATE in the message itself)
        carried = config.carries(escape, row) or escape == "%e" and config.verbose
        same(key, event[key], (value if carried else None,))
    same("message", event["message"], (row.message,))
    for key, value in (("detail", row.detail), ("hint", row.hint), ("context", row.context),
                       ("query", row.internal_query), ("location", row.location)):
        same(key, event[key], (value,))
    if row.query_pos is not None or row.internal_query_pos is not None:
        same("cursor_position", event["cursor_position"],
             (row.query_pos if row.query_pos is not None else row.internal_query_pos,))
    if event["kind"] in ("error", "login_failed"):
        same("statement", event["statement"], (row.query,))
    if event["kind"] == "duration":
        text = _DURATION_TEXT.match(row.message)
        same("duration_statement", event["duration_statement"],
             (text.group(1) if text else None,))
        ms = float(row.message.split()[1])
        if type(event["duration_ms"]) is not float or event["duration_ms"] != ms:
            problems.append(f"duration_ms {event['duration_ms']!r} != {ms}")
    if row.is_audit:
        problems += _audit_vs_row(event.get("audit"), row)
    elif "audit" in event:
        problems.append("an audit object on a non-audit event")
    return problems


def _audit_vs_row(audit: dict[str, Any] | None, row: CsvLogRow) -> list[str]:
    if audit is None:
        return ["no audit object"]
    fields = audit_fields(row.message)
    want: dict[str, Any] = {
        "audit_type": fields[0], "statement_id": int(fields[1]),
        "substatement_id": int(fields[2]), "class": fields[3] or None,
        "command": fields[4] or None, "object_type": fields[5] or None,
        "object_name": fields[6] or None, "statement": fields[7] or None,
        "parameter": _parameters(fields[8]),
        "rows": int(fields[9]) if len(fields) > 9 and fields[9] != "" else None,
    }
    problems = []
    for key, value in want.items():
        if audit[key] != value or type(audit[key]) is not type(value):
            problems.append(f"audit.{key} {audit[key]!r} != {value!r}")
    return problems


def _library_events(run: Run) -> list[pp.Event]:
    return list(pp.parse_file(str(run.stderr_log), prefix=run.config.prefix,
                              timezone=run.config.zone))


def _millis(value: datetime) -> int:
    return round(value.timestamp() * 1000)


_SEVERITY_IDS = {"LOG": 1, "INFO": 1, "NOTICE": 1, "WARNING": 2, "ERROR": 3, "FATAL": 4,
                 "PANIC": 6}


def test_ocsf_says_what_the_csvlog_says(run: Run, tmp_path: Path) -> None:
    objects = iter(cli(run, "ocsf", tmp_path))
    events = _library_events(run)
    rows = pair([(e.message, e.pid) for e in events], csv_rows(run.csv_log))
    problems: list[str] = []
    checked: dict[int, int] = defaultdict(int)
    for event, row in zip(events, rows, strict=True):
        if to_ocsf(event) is None:
            continue
        obj = next(objects)
        checked[obj["class_uid"]] += 1
        want = expected(row, run.config)
        where = f"csv record {row.number} ({row.message[:50]!r})"
        got_time = datetime.fromtimestamp(obj["time"] / 1000, timezone.utc)
        if not _time_ok(got_time, want) or obj["timezone_offset"] * 60 != \
                want.offset.total_seconds():
            problems.append(f"{where}: time {obj['time']} {obj['timezone_offset']} for "
                            f"{row.log_time}")
        if obj["severity_id"] != _SEVERITY_IDS[row.error_severity]:
            problems.append(f"{where}: severity_id {obj['severity_id']}")
        user = (obj["actor"] if obj["class_uid"] == 6005 else obj)["user"]["name"]
        if user not in tuple(u or "[unknown]" for u in want.user):
            problems.append(f"{where}: user {user!r}, expected {want.user}")
        pid = obj["actor"].get("process", {}).get("pid")
        if pid != want.pid:
            problems.append(f"{where}: pid {pid!r} != {want.pid!r}")
        endpoint = obj["src_endpoint"]
        got_client = (endpoint.get("ip") or endpoint.get("name") or endpoint.get("hostname"),
                      endpoint.get("port"))
        allowed = tuple((h if h is not None else "[unknown]", p) for h, p in want.client)
        if got_client not in allowed:
            problems.append(f"{where}: src_endpoint {endpoint}, expected {want.client}")
        session = (obj["actor"] if obj["class_uid"] == 6005 else obj).get("session", {})
        uid = row.session_id if run.config.carries("%c", row) else None
        if session.get("uid") != uid:
            problems.append(f"{where}: session {session}, expected uid {uid!r}")
        app = row.application_name if run.config.carries("%a", row) else None
        if obj["actor"].get("invoked_by") != app:
            problems.append(f"{where}: invoked_by {obj['actor'].get('invoked_by')!r}")
        if obj["class_uid"] == 6005:
            if obj["database"].get("name") not in want.database:
                problems.append(f"{where}: database {obj['database']}")
            if row.is_audit:
                fields = audit_fields(row.message)
                if obj["activity_id"] != datastore_activity(fields[3], fields[4]):
                    problems.append(f"{where}: activity {obj['activity_id']}")
                if obj["status_id"] != (1 if len(fields) > 9 else 0):
                    problems.append(f"{where}: status {obj['status_id']}")
            elif obj["status_id"] != 2 or obj["status_detail"] != row.message:
                problems.append(f"{where}: error status {obj['status_id']}")
        else:
            failed = row.error_severity == "FATAL"
            if (obj["activity_id"], obj["status_id"]) != (
                    2 if row.message.startswith("disconnection") else 1, 2 if failed else 1):
                problems.append(f"{where}: authentication {obj['activity_id']} "
                                f"{obj['status_id']}")
    assert next(objects, None) is None, "more OCSF objects than events that have one"
    assert checked[6005] >= 20 and checked[3002] >= 6, dict(checked)
    assert not problems, _show(problems)


def test_ecs_says_what_the_csvlog_says(run: Run, tmp_path: Path) -> None:
    docs = cli(run, "ecs", tmp_path)
    events = cli(run, "events", tmp_path)  # (one document per event, in the same order)
    assert len(docs) == len(events)
    rows = _paired_rows(events, csv_rows(run.csv_log))
    problems: list[str] = []
    for doc, row in zip(docs, rows, strict=True):
        want = expected(row, run.config)
        where = f"csv record {row.number} ({row.message[:50]!r})"
        stamp = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))
        if stamp.utcoffset() != timedelta(0) or not _time_ok(stamp, want):
            problems.append(f"{where}: @timestamp {doc['@timestamp']} for {row.log_time}")
        offset = int(want.offset.total_seconds() // 60)
        zone = f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
        if doc["event"].get("timezone") != zone:
            problems.append(f"{where}: event.timezone {doc['event'].get('timezone')}")
        if doc["log"]["level"] != row.error_severity.lower():
            problems.append(f"{where}: log.level {doc['log']['level']}")
        if doc.get("user", {}).get("name") not in want.user:
            problems.append(f"{where}: user {doc.get('user')}, expected {want.user}")
        if doc["postgresql"]["log"].get("database") not in want.database:
            problems.append(f"{where}: database {doc['postgresql']['log'].get('database')}")
        if doc.get("process", {}).get("pid") != want.pid:
            problems.append(f"{where}: process {doc.get('process')}")
        log = doc["postgresql"]["log"]
        for escape, name, value in (
                ("%c", "session_id", row.session_id), ("%e", "sql_state_code",
                                                       row.sql_state_code),
                ("%a", "application_name", row.application_name),
                ("%b", "backend_type", row.backend_type), ("%i", "command_tag",
                                                           row.command_tag),
                ("%v", "virtual_transaction_id", row.virtual_transaction_id),
                ("%x", "transaction_id", row.transaction_id),
                ("%s", "session_start_time", _session_start(row, run.config.zone))):
            carried = run.config.carries(escape, row) or escape == "%e" and run.config.verbose
            if log.get(name) != (value if carried else None):
                problems.append(f"{where}: postgresql.log.{name} {log.get(name)!r}")
        source = doc.get("source", {})
        if (source.get("address"), source.get("port")) not in want.client:
            problems.append(f"{where}: source {source}, expected {want.client}")
        if row.error_severity in ("ERROR", "FATAL", "PANIC") and (
                doc["event"]["outcome"] != "failure" or doc["error"]["message"] != row.message):
            problems.append(f"{where}: error {doc.get('error')}")
        if row.is_audit:
            audit = dict(doc["postgresql"]["audit"])
            full = {key: audit.get(key) for key in (
                "audit_type", "statement_id", "substatement_id", "class", "command",
                "object_type", "object_name", "statement", "parameter", "rows")}
            if "PASSWORD" in row.message:  # (ECS hides passwords: compare the rest)
                full["statement"] = audit_fields(row.message)[7] or None
            problems += [f"{where}: {p}" for p in _audit_vs_row(full, row)]
    assert not problems, _show(problems)


@pytest.mark.parametrize("fmt", ["records", "records-postgres"])
def test_records_say_what_the_csvlog_says(run: Run, fmt: str, tmp_path: Path) -> None:
    """Records group a statement's lines (docs/guardium.md), so each is checked against
    the csvlog records of its backend: its time is one of theirs, its user and client
    theirs (or the connector's unknown values where the prefix does not say)."""
    records = cli(run, fmt, tmp_path)
    rows = csv_rows(run.csv_log)
    by_session: dict[str, list[CsvLogRow]] = defaultdict(list)
    for row in rows:
        by_session[str(row.process_id)].append(row)
        by_session[row.session_id].append(row)
    problems: list[str] = []
    for number, record in enumerate(records, start=1):
        what = json.dumps(record.get("data") or record.get("exception"))[:80]
        where = f"record {number} ({what})"
        session = record["sessionId"]
        if run.config.has("%p") or run.config.has("%c"):  # the pid, or %c (--values postgres)
            candidates = by_session.get(session, [])
        else:
            candidates = rows
        wants = [(row, expected(row, run.config)) for row in candidates]
        stamp = datetime.fromtimestamp(record["time"]["timstamp"] / 1000, timezone.utc)
        if not any(_time_ok(stamp, want) for _, want in wants):
            problems.append(f"{where}: time {record['time']} is no csvlog time of its backend")
        offsets = {int(want.offset.total_seconds() // 60) for _, want in wants}
        if record["time"]["minOffsetFromGMT"] not in offsets:
            problems.append(f"{where}: minOffsetFromGMT {record['time']['minOffsetFromGMT']}")
        users = {u for _, want in wants for u in want.user}
        user = record["accessor"]["dbUser"]
        if user not in {u for u in users if u is not None} | ({"NA"} if None in users else set()):
            problems.append(f"{where}: dbUser {user!r}, expected one of {users}")
        port = record["sessionLocator"]["clientPort"]
        ports = {p for _, want in wants for _, p in want.client}
        if port not in {p if p is not None else -1 for p in ports}:
            problems.append(f"{where}: clientPort {port}, expected one of {ports}")
        if type(record["time"]["timstamp"]) is not int or type(port) is not int:
            problems.append(f"{where}: a number that is not an int")
        problems += [f"{where}: {p}" for p in _record_text(record, candidates, fmt)]
    assert len(records) >= 20
    assert not problems, _show(problems)



def _record_text(record: dict[str, Any], rows: list[CsvLogRow], fmt: str) -> list[str]:
    """A record's SQL is one its backend's csvlog records show (pgAudit's statement, a
    duration's SQL); an exception record's text is one of its backend's errors."""
    if record["exception"] is not None:
        exception = record["exception"]
        errors = [r for r in rows if r.error_severity in ("ERROR", "FATAL", "PANIC")]
        connector = fmt == "records"  # (the connector removes double quotes)
        texts = {(r.message.replace('"', "") if connector else r.message, r.query or "NA")
                 for r in errors}
        if (exception["description"], exception["sqlString"]) not in texts:
            return [f"exception {exception} is no error of its backend"]
        return []
    sql = record["data"]["originalSqlCommand"]
    statements = {audit_fields(r.message)[7] for r in rows if r.is_audit}
    statements |= {m.group(1) for r in rows if (m := _DURATION_TEXT.match(r.message))}
    return [] if sql in statements else [f"SQL {sql[:80]!r} is no statement of its backend"]
