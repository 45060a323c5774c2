"""Lines a real PostgreSQL 15 wrote that the parser misread (found by the prefix hunt,
tests/test_prefix_hunt_real.py, whose csvlog says what each must be).

Each line below is copied from a real server's log (the socket path shortened); the
expected values are that run's csvlog columns.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from csvlog import read_csvlog

import pgaudit_parse as pp

ST_JOHNS = timezone(timedelta(hours=-3, minutes=-30))
KATHMANDU = timezone(timedelta(hours=5, minutes=45))


def _events(lines: list[str], prefix: str, **kwargs: object) -> list[pp.Event]:
    rejects: list[pp.Reject] = []
    events = list(pp.parse_lines(lines, prefix=prefix, on_reject=rejects.append,
                                 **kwargs))  # type: ignore[arg-type]
    assert rejects == []
    return events


# -- %b: backend types of several words --------------------------------------------------

@pytest.mark.parametrize(("prefix", "line", "backend", "tag"), [
    ("%m [%p] %b %i %e ",
     "2026-12-01 04:46:02.508 NST [9994] client backend CREATE TABLE 00000 LOG:  AUDIT: "
     'SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,"CREATE TABLE t (id integer);",<none>',
     "client backend", "CREATE TABLE"),
    ("%m [%p] %b %i %e ",
     "2026-12-01 04:46:02.508 NST [9994] logical replication launcher  00000 LOG:  "
     "logical replication launcher shutting down",
     "logical replication launcher", None),
    ("%b|%i: %m [%p] ",
     "client backend|CREATE TABLE AS: 2026-12-01 04:46:02.508 NST [9994] LOG:  x",
     "client backend", "CREATE TABLE AS"),
])
def test_known_backend_type_of_several_words_before_free_text(
        prefix: str, line: str, backend: str, tag: str | None) -> None:
    """``client backend CREATE TABLE``: the regex read ``client backend`` and ``CREATE
    TABLE``, then the ambiguous-split step moved the split to the first space (backend
    ``client``, command tag ``backend CREATE TABLE``)."""
    [event] = _events([line], prefix)
    assert (event.backend_type, event.command_tag) == (backend, tag)


def test_known_backend_type_before_the_user() -> None:
    """Under ``%b %u@%d``, a user name with a space made every client backend's line
    ambiguous, and the split gave user ``backend Dr. O'Neil @home``."""
    lines = [
        "client backend Dr. O'Neil @home@my db@x: [1] [12145] 2026-12-01 04:47:13 NST LOG:  "
        "connection authorized: user=Dr. O'Neil @home database=my db@x: [1] "
        "application_name=app SSL enabled (protocol=TLSv1.3, "
        "cipher=TLS_AES_256_GCM_SHA384, bits=256)",
        "client backend Dr. O'Neil @home@my db@x: [1] [12145] 2026-12-01 04:47:13 NST LOG:  "
        'AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,"CREATE TABLE t (id integer)'
        ';",<none>',
        "parallel worker @ [12148] 2026-12-01 04:47:13 NST ERROR:  division by zero",
    ]
    *clients, worker = _events(lines, "%b %u@%d [%p] %t ")
    for event in clients:
        assert (event.backend_type, event.user, event.database) == (
            "client backend", "Dr. O'Neil @home", "my db@x: [1]")
    assert (worker.backend_type, worker.user, worker.database) == (
        "parallel worker", None, None)


@pytest.mark.parametrize(("prefix", "line"), [
    ("%b %u@%d [%p] %t ",
     "autoprewarm leader @ [12315] 2026-12-01 04:47:21 NST LOG:  autoprewarm "
     "successfully prewarmed 2041 of 2041 previously-loaded blocks"),
    ("%u@%d %a|%b %i: %m [%p] ",
     "@ |autoprewarm leader : 2026-12-01 04:46:52.649 NST [11337] LOG:  autoprewarm "
     "successfully prewarmed 2044 of 2048 previously-loaded blocks"),
    ("%m [%p] %b %a %r ",
     "2026-12-01 04:46:52.649 NST [11337] autoprewarm leader   LOG:  autoprewarm "
     "successfully prewarmed 2044 of 2048 previously-loaded blocks"),
])
def test_extension_worker_type_of_several_words(prefix: str, line: str) -> None:
    """An extension's background worker (pg_prewarm's ``autoprewarm leader``) has a type
    PostgreSQL core does not know. It serves no client, so PostgreSQL leaves every
    session value empty (the line's own empty user, database or client says so): the
    whole text before them is the backend type."""
    [event] = _events([line], prefix)
    assert event.backend_type == "autoprewarm leader"
    assert (event.user, event.database, event.application_name, event.command_tag,
            event.client_host) == (None, None, None, None, None)


# -- an ambiguous split on a session's first lines -----------------------------------------

def test_unknown_placeholder_settles_a_split() -> None:
    """While a backend authenticates, PostgreSQL writes ``[unknown]`` for the application
    name it does not know yet: ``my db@x: [1] [unknown]`` under ``%d %a`` is database
    ``my db@x: [1]``, not database ``my`` and application ``db@x: [1] [unknown]``."""
    line = ("2026-12-01 04:46:02.501 NST [9994] Dr. O'Neil @home@my db@x: [1] [unknown] "
            "127.0.0.1(57612) LOG:  connection authenticated: identity=\"Dr. O'Neil @home\" "
            "method=scram-sha-256 (/tmp/pg/data/pg_hba.conf:4)")
    [event] = _events([line], "%m [%p] %q%u@%d %a %r ")
    assert (event.user, event.database, event.application_name) == (
        "Dr. O'Neil @home", "my db@x: [1]", None)


@pytest.mark.parametrize("method", ["scram-sha-256", "md5", "password"])
def test_password_login_identity_names_the_user(method: str) -> None:
    """``connection authenticated: identity="U" method=scram-sha-256``: for the password
    methods the identity is the role name, so it settles ``%u@%d`` on that line (it
    gave user ``Dr. O'Neil @home@my db``, database ``x: [1]``)."""
    line = ("2026-12-01 04:46:58.285 NST:127.0.0.1(37464):Dr. O'Neil @home@my db@x: [1]:"
            "[11455]:LOG:  connection authenticated: identity=\"Dr. O'Neil @home\" "
            f"method={method} (/tmp/pg/data/pg_hba.conf:4)")
    [event] = _events([line], "%m:%r:%u@%d:[%p]:")
    assert (event.user, event.database) == ("Dr. O'Neil @home", "my db@x: [1]")


def test_external_identity_does_not_name_the_user() -> None:
    """A certificate or peer identity is not the role name: it settles nothing."""
    line = ("2026-12-01 04:46:58.285 NST:127.0.0.1(37464):bob@x@shop:[11455]:LOG:  "
            "connection authenticated: identity=\"CN=bob@x\" method=cert "
            "(/tmp/pg/data/pg_hba.conf:4)")
    [event] = _events([line], "%m:%r:%u@%d:[%p]:")
    assert (event.user, event.database) == ("bob@x", "shop")


# -- %n: the epoch, in the log's zone --------------------------------------------------------

def test_epoch_is_written_in_the_given_timezone() -> None:
    """``%n`` is an instant; with ``--timezone`` it is written with that zone's offset, as
    the csvlog writes it (it was always +00:00)."""
    [event] = _events(["1796113047.341 [12592] LOG:  starting"], "%n [%p] ",
                      timezone="America/St_Johns")
    assert event.timestamp == datetime(2026, 12, 1, 4, 47, 27, 341000, tzinfo=ST_JOHNS)
    assert event.timestamp.utcoffset() == ST_JOHNS.utcoffset(None)


def test_epoch_without_timezone_stays_utc() -> None:
    [event] = _events(["1796113047.341 [12592] LOG:  starting"], "%n [%p] ")
    assert event.timestamp == datetime(2026, 12, 1, 8, 17, 27, 341000, tzinfo=timezone.utc)
    assert event.timestamp.utcoffset() == timedelta(0)


def test_epoch_gives_milliseconds_and_the_stamp_gives_the_offset() -> None:
    """Under ``%t ... %n`` the event time was ``%t``'s whole second, read from a clock of
    its own (PostgreSQL reads the time again for ``%t``): ``%n`` is the message's time to
    the millisecond (the csvlog's), and ``%t`` says the offset it is written in."""
    line = "2026-12-01 14:02:27 +0545 [12592] 1796113047.341 LOG:  starting"
    [event] = _events([line], "%t [%p] %n ")
    assert event.timestamp == datetime(2026, 12, 1, 14, 2, 27, 341000, tzinfo=KATHMANDU)
    assert event.timestamp.utcoffset() == KATHMANDU.utcoffset(None)


# -- a reload that changes log_line_prefix, logged in an earlier file ----------------------

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: fixtures/real-reload-{1,2}.log: a real server started with RELOAD_FROM; a reload set
#: RELOAD_TO (the postmaster logged it in file 1), then the log rotated: file 2 holds
#: only RELOAD_TO lines. fixtures/real-reload-{1,2}.csv are their csvlogs.
RELOAD_FROM = "%t:%r:%u@%d:[%p]:"
RELOAD_TO = "%m [%p] %q[user=%u,db=%d,app=%a] "
RELOAD_FILES = [str(FIXTURES / "real-reload-1.log"), str(FIXTURES / "real-reload-2.log")]


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args],
                          capture_output=True, timeout=120)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_reload_in_an_earlier_file_carries_to_the_next(tmp_path: Path, jobs: str) -> None:
    """``pgaudit-parse --prefix OLD file1 file2``: file 1 logs the change, file 2 is all in
    the new prefix. Every line of file 2 was a reject and the run exited 2; a multi-file
    run is one log, so the prefix in force at the end of a file is the one the next
    starts with (a line it does not read is still read with the one before it)."""
    errors = tmp_path / "errors.jsonl"
    proc = _cli("--format", "events", "--prefix", RELOAD_FROM, "--timezone",
                "Asia/Kathmandu", "--jobs", jobs, "--errors", str(errors), *RELOAD_FILES)
    assert proc.returncode == 0, proc.stderr
    assert not errors.exists() or errors.read_text() == ""
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    rows = [row for name in ("real-reload-1.csv", "real-reload-2.csv")
            for row in read_csvlog(FIXTURES / name)]
    assert len(events) == len(rows)
    by_pid: dict[int, list[dict[str, object]]] = {}
    for event in events:
        by_pid.setdefault(int(event["pid"]), []).append(event)  # type: ignore[arg-type]
    for pid, pid_events in by_pid.items():
        pid_rows = [row for row in rows if row.process_id == pid]
        assert [(e["message"], e["user"], e["database"]) for e in pid_events] == [
            (row.message, row.user_name, row.database_name) for row in pid_rows]
    second = [e for e in events if e["message"] == "statement: SELECT 'second file';"]
    assert [(e["user"], e["client_host"], e["timestamp"]) for e in second] == [
        ("bob", "127.0.0.1", "2026-12-01T14:07:56.622000+05:45")]


def test_reload_carried_keeps_the_earlier_prefix_for_lines_it_does_not_read(
        tmp_path: Path) -> None:
    """A backend that had not reloaded when the log rotated still writes the prefix
    before the change in the next file: those lines are read with it, as in one file."""
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text(
        "2026-12-01 14:07:55 +0545::@:[29227]:LOG:  received SIGHUP, reloading "
        "configuration files\n"
        '2026-12-01 14:07:55.026 +0545 [29227] LOG:  parameter "log_line_prefix" changed '
        f'to "{RELOAD_TO}"\n')
    second.write_text(
        "2026-12-01 14:07:56 +0545:127.0.0.1(5000):bob@shop:[31]:LOG:  statement: old\n"
        "2026-12-01 14:07:56.100 +0545 [32] [user=amy,db=shop,app=psql] LOG:  "
        "statement: new\n")
    proc = _cli("--format", "events", "--prefix", RELOAD_FROM, str(first), str(second))
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [(e["user"], e["message"]) for e in events[2:]] == [
        ("bob", "statement: old"), ("amy", "statement: new")]


def test_chain_of_free_text_values_follows_what_the_session_said() -> None:
    """``%a:%u@%d:%h`` with an application ``app: [x]@y`` and a database ``my db@x: [1]``:
    the grammar split every value one literal early (application ``app``, user ``[x]``,
    client ``Dr. O'Neil @home@my db@x: [1]:127.0.0.1``); each pair alone cannot tell.
    The session's ``connection authorized`` line names three of the four values."""
    lines = [
        "app: [x]@y:Dr. O'Neil @home@my db@x: [1]:127.0.0.1:[2] 2026-12-01 04:47:13 NST "
        "LOG:  connection authorized: user=Dr. O'Neil @home database=my db@x: [1] "
        "application_name=app: [x]@y",
        "app: [x]@y:Dr. O'Neil @home@my db@x: [1]:127.0.0.1:[2] 2026-12-01 04:47:13 NST "
        "LOG:  statement: SELECT 1",
    ]
    for event in _events(lines, "%a:%u@%d:%h:[%p] %t "):
        assert (event.application_name, event.user, event.database, event.client_host) == (
            "app: [x]@y", "Dr. O'Neil @home", "my db@x: [1]", "127.0.0.1")


def test_connection_received_host_settles_the_authenticated_line() -> None:
    """On ``connection authenticated`` only the user is known (the identity); under
    ``%d:%h`` the database ``my db@x: [1]`` was cut at its ``:`` and the client became
    ``[1]:127.0.0.1``. The backend's ``connection received: host=127.0.0.1`` says it."""
    head = "[unknown]:Dr. O'Neil @home@"
    lines = [
        "[unknown]:[unknown]@[unknown]:127.0.0.1:[8271] 2026-12-01 15:01:11 +0545 LOG:  "
        "connection received: host=127.0.0.1 port=50000",
        f"{head}my db@x: [1]:127.0.0.1:[8271] 2026-12-01 15:01:11 +0545 LOG:  connection "
        "authenticated: identity=\"Dr. O'Neil @home\" method=scram-sha-256 "
        "(/tmp/pg/data/pg_hba.conf:4)",
    ]
    _, authenticated = _events(lines, "%a:%u@%d:%h:[%p] %t ")
    assert (authenticated.user, authenticated.database, authenticated.client_host) == (
        "Dr. O'Neil @home", "my db@x: [1]", "127.0.0.1")
