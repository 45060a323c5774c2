"""Every line a real PostgreSQL 15 + pgAudit writes, under every ``log_line_prefix``
escape, alone and combined, padded, must come back as the csvlog of the same run says.

:mod:`prefix_hunt` runs a workload made to write every kind of line (background
processes with empty session values and backend types of several words, an extension's
worker, values holding the prefix's own separators, DETAIL/HINT/CONTEXT/QUERY/STATEMENT/
LOCATION lines, 100 kB messages, lock waits, temporary files, autovacuum reports,
replication commands, SSL connections, cut parameters) once per configuration of
:data:`prefix_hunt.HUNT_CONFIGS`, in zones at -03:30 and +05:45, with terse, default and
verbose error verbosity. For each, every csvlog record must be exactly one event with
the same fields (:func:`test_real_server.compare`, and :func:`prefix_hunt.extra_problems`
for the fields only some prefixes carry: backend type, line number, command tag,
transaction ids, leader pid, query id, session start), from the library and from the CLI;
nothing may be rejected; ``--jobs 2`` must write the same bytes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from csvlog import CsvLogRow, parse_csv_time
from prefix_hunt import (
    HUNT_CONFIGS,
    HUNT_PREFIXES,
    RELOAD_FROM,
    RELOAD_TO,
    extra_problems,
    hunt_run,
    rotated_reload_run,
)
from test_real_server import (
    Observed,
    assert_no_problems,
    cli_command,
    compare,
    timestamp_matches,
)
from workload import ServerRun

import pgaudit_parse as pp

pytestmark = pytest.mark.pg


@pytest.fixture(scope="module", params=sorted(HUNT_CONFIGS))
def hunt(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> ServerRun:
    prefix_name, settings = HUNT_CONFIGS[request.param]
    return hunt_run(HUNT_PREFIXES[prefix_name], tmp_path_factory.mktemp("hunt"),
                    name=request.param, settings=settings)


def _has(rows: list[CsvLogRow], test: object) -> bool:
    return any(test(row) for row in rows)  # type: ignore[operator]


def test_answer_key_covers_the_hunt(hunt: ServerRun) -> None:
    """Guards against a vacuous pass: the csvlog holds every kind of line on purpose."""
    rows = hunt.csv_rows()
    terse = hunt.settings["log_error_verbosity"] == "terse"  # (no CONTEXT lines)
    checks = {
        "extension worker type of two words": _has(
            rows, lambda r: r.backend_type == "autoprewarm leader"),
        "parallel worker with its leader": _has(
            rows, lambda r: r.backend_type == "parallel worker" and r.leader_pid),
        "autovacuum report of several lines": _has(
            rows, lambda r: r.backend_type == "autovacuum worker" and "\n" in r.message),
        "checkpointer": _has(rows, lambda r: r.message.startswith("checkpoint complete")),
        "archiver": _has(rows, lambda r: r.backend_type == "archiver"),
        "startup process": _has(rows, lambda r: r.backend_type == "startup"),
        "walsender, replication command": _has(
            rows, lambda r: r.backend_type == "walsender"
            and r.message.startswith("received replication command")),
        "SSL connection": _has(rows, lambda r: "SSL enabled (protocol=" in r.message),
        "unix socket connection": _has(rows, lambda r: r.connection_from == "[local]"),
        "IPv6 client": _has(rows, lambda r: (r.connection_from or "").startswith("::1")),
        "lock wait": _has(rows, lambda r: "still waiting for" in r.message),
        "temporary file": _has(rows, lambda r: r.message.startswith("temporary file")),
        "terminated backend": _has(rows, lambda r: r.error_severity == "FATAL"
                                   and "administrator command" in r.message),
        "failed login": _has(rows, lambda r: r.sql_state_code == "28P01"),
        "100 kB message": _has(rows, lambda r: len(r.message) >= 100_000),
        "TAB, CR and a control character": _has(
            rows, lambda r: "\r" in r.message and "\x01" in r.message),
        "cut parameters (log_parameter_max_length_on_error)": terse or _has(
            rows, lambda r: "$1 = 'a parameter ...'" in (r.context or "")),
        "multi-level CONTEXT": terse or _has(
            rows, lambda r: (r.context or "").count("\n") >= 3),
        "user, database and application with the separators": _has(
            rows, lambda r: r.user_name == "Dr. O'Neil @home"
            and r.database_name == "my db@x: [1]"
            and (r.application_name or "").startswith("app: [x]@y")),
    }
    missing = [name for name, ok in checks.items() if not ok]
    assert not missing, f"the {hunt.name} csvlog lacks: {missing}"


def test_library_matches_csvlog(hunt: ServerRun) -> None:
    rejects: list[pp.Reject] = []
    events = list(pp.parse_file(str(hunt.stderr_log), prefix=hunt.prefix,
                                timezone=hunt.log_timezone, on_reject=rejects.append))
    assert [r.as_dict() for r in rejects] == []
    pairs, problems = compare(hunt, [Observed.from_event(e) for e in events])
    assert_no_problems(problems + extra_problems(hunt, pairs))


def _cli(hunt: ServerRun, errors: Path, *extra: str) -> bytes:
    proc = subprocess.run(
        [*cli_command(), "--format", "events", "--prefix", hunt.prefix, "--timezone",
         hunt.log_timezone, "--errors", str(errors), *extra, str(hunt.stderr_log)],
        capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert not errors.exists() or errors.read_bytes() == b""
    return proc.stdout


def test_cli_matches_csvlog_and_jobs_write_the_same(hunt: ServerRun, tmp_path: Path) -> None:
    one = _cli(hunt, tmp_path / "one.err")
    two = _cli(hunt, tmp_path / "two.err", "--jobs", "2")
    assert one == two
    objects = [json.loads(line) for line in one.decode().split("\n") if line]
    _, problems = compare(hunt, [Observed.from_json(o) for o in objects])
    assert_no_problems(problems)


def test_prefix_reload_across_rotated_files(tmp_path: Path) -> None:
    """A real server: a reload changes the prefix (logged in file 1), the log rotates,
    file 2 is written in the new prefix. ``--prefix OLD file1 file2`` reads both as the
    two csvlogs say, with one process and with ``--jobs 2`` (same bytes)."""
    first, second = rotated_reload_run(tmp_path)
    outputs = []
    for jobs in ("1", "2"):
        errors = tmp_path / f"errors-{jobs}.jsonl"
        proc = subprocess.run(
            [*cli_command(), "--format", "events", "--prefix", first.prefix, "--timezone",
             first.log_timezone, "--jobs", jobs, "--errors", str(errors),
             str(first.stderr_log), str(second.stderr_log)],
            capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert not errors.exists() or errors.read_bytes() == b""
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    objects = [json.loads(line) for line in outputs[0].decode().split("\n") if line]
    problems: list[str] = []
    for run in (first, second):
        part = [o for o in objects if o["source"] == str(run.stderr_log)]
        pairs, found = compare(run, [Observed.from_json(o) for o in part])
        # (the timestamps: %t before the change, %m after it; checked below)
        problems += [p for p in found if ": timestamp " not in p]
        for pair in pairs:
            csv_time = parse_csv_time(pair.row.log_time, run.log_timezone)
            if not any(timestamp_matches(pair.observed.timestamp, csv_time, prefix)
                       for prefix in (RELOAD_FROM, RELOAD_TO)):
                problems.append(f"{run.name} csv record {pair.row.number}: timestamp "
                                f"{pair.observed.timestamp} for {pair.row.log_time}")
    assert_no_problems(problems)
