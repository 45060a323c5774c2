"""A real PostgreSQL 15 + pgAudit run that writes every kind of line the server can write,
under a ``log_line_prefix`` given by the caller: the workload of the prefix hunt.

The csvlog of the run is the answer key (see :mod:`csvlog`). What it makes the server
write, on purpose:

* values holding the prefix's own separators: an application name with ``:``, ``@``,
  ``[``, ``]``, spaces and non-ASCII text; role and database names with spaces, quotes
  and ``@``;
* background processes with empty session values and backend types of several words:
  checkpointer, autovacuum worker (multi-line reports), archiver (a failing
  ``archive_command``), parallel worker (an error raised inside a worker, with its leader
  pid), walsender (``log_replication_commands``), ``autoprewarm leader`` (an extension's
  background worker, a type PostgreSQL core does not know), the startup process after a
  crash;
* messages with DETAIL, HINT, CONTEXT of several PL/pgSQL levels, QUERY, STATEMENT,
  LOCATION; text with newlines, TABs, CR, control characters and 100 kB lines;
  lock waits, temporary files, checkpoints, connections over TCP, SSL and the unix
  socket, disconnections, a terminated backend (FATAL), parameters cut by
  ``log_parameter_max_length(_on_error)``.

>>> sorted(HUNT_PREFIXES)[:2]
['all', 'all-padded']
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from csvlog import CsvLogRow
from pgserver import SOCKET, PgServer
from test_real_server import visible_escapes
from workload import ServerRun

__all__ = ["HUNT_PREFIXES", "HUNT_CONFIGS", "HUNT_SETTINGS", "TerseRun", "extra_problems",
           "ODD_APP", "ODD_USER", "ODD_DB", "hunt_run", "rotated_reload_run"]

#: Values holding every separator the prefixes below use.
ODD_APP = "app: [x]@y zoë 日本"
ODD_USER = "Dr. O'Neil @home"
ODD_DB = "my db@x: [1]"
ODD_PASSWORD = "odd-Pw-3"

#: Prefixes by name: every escape of PostgreSQL 15, alone and combined, padded.
HUNT_PREFIXES: dict[str, str] = {
    "all": ("%m [%p] %q%u@%d %a %r %h %b %i %e %c %l %s %v %x %Q %P %n %% "),
    "all-padded": ("%t [%10p] [%-20u] [%-12d] [%-25a] [%-22b] [%-20i] %-7e %-16c %5l "
                   "[%-15r] [%-10h] %-8v %-6x %-22Q %-8P %n: "),
    "right-padded": "%30m %8p %20u %20d %25a %20b %15i|",
    "session-first": "%u@%d %a|%b|%i: %m [%p] %c %l ",
    "backend-type": "%b %u@%d [%p] %t ",
    "app-first": "%a:%u@%d:%h:[%p] %b %t %n ",
    "epoch": "%n [%p] %q%u@%d ",
    "rds-ms": "%m:%r:%u@%d:[%p]:",
}

#: The configurations the real-server hunt runs: a prefix of :data:`HUNT_PREFIXES` and
#: settings over :data:`HUNT_SETTINGS` (zones with half and three-quarter hour offsets,
#: the three error verbosities).
HUNT_CONFIGS: dict[str, tuple[str, dict[str, str]]] = {
    "all": ("all", {}),
    "all-padded": ("all-padded", {"log_timezone": "Asia/Kathmandu",
                                  "log_error_verbosity": "verbose"}),
    "right-padded": ("right-padded", {"log_error_verbosity": "terse"}),
    "session-first": ("session-first", {"log_timezone": "Asia/Kathmandu",
                                        "log_error_verbosity": "terse"}),
    "backend-type": ("backend-type", {}),
    "app-first": ("app-first", {"log_timezone": "Asia/Kathmandu"}),
    "epoch": ("epoch", {"log_error_verbosity": "verbose"}),
    "rds-ms": ("rds-ms", {}),
}

HUNT_SETTINGS: dict[str, str] = {
    "shared_preload_libraries": "pgaudit,pg_prewarm",
    "pgaudit.log": "all,-misc",
    "pgaudit.log_parameter": "on",
    "pgaudit.role": "rds_pgaudit",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_checkpoints": "on",
    "log_lock_waits": "on",
    "deadlock_timeout": "200ms",
    "log_temp_files": "0",
    "log_autovacuum_min_duration": "0",
    "autovacuum_naptime": "1",
    "log_replication_commands": "on",
    "log_parameter_max_length": "10",
    "log_parameter_max_length_on_error": "12",
    "log_min_duration_statement": "0",
    "compute_query_id": "on",
    "archive_mode": "on",
    "archive_command": "false",
    "max_worker_processes": "8",
    "max_parallel_workers_per_gather": "2",
    "ssl": "on",
    "ssl_cert_file": "server.crt",
    "ssl_key_file": "server.key",
    "log_error_verbosity": "default",
    "log_timezone": "America/St_Johns",
}

SETUP = f"""
SET log_min_duration_statement = -1;
CREATE ROLE rds_pgaudit NOLOGIN;
CREATE ROLE "{ODD_USER.replace('"', '""')}" LOGIN SUPERUSER PASSWORD '{ODD_PASSWORD}';
CREATE DATABASE "{ODD_DB}" OWNER "{ODD_USER}";
"""

BIG = "x" * 100_000

WORK = f"""
CREATE TABLE t (id integer PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 2000) g;
CREATE TABLE big AS SELECT g AS x FROM generate_series(1, 200000) g;
ANALYZE big;
CREATE FUNCTION inner_f(n integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    IF n = 0 THEN
        RAISE EXCEPTION 'deep failure' USING DETAIL = E'first\\nsecond', HINT = 'tab\\there';
    END IF;
    RETURN inner_f(n - 1);
END $$;
CREATE FUNCTION outer_f() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN RETURN inner_f(2); END $$;
SELECT outer_f();
DO $$ BEGIN RAISE NOTICE E'notice with\\ttab'; RAISE WARNING E'cr\\rin\\nnewline\\x01ctl'; END $$;
DO $$ BEGIN RAISE LOG E'log\\tline\\n\\tindented'; END $$;
DO $$ BEGIN RAISE LOG '%', repeat('y', 100000); END $$;
SELECT '{BIG}' AS big_literal;
SELECT 1/0;
SELECT * FROM nope;
SET work_mem = '64kB';
SELECT x FROM big ORDER BY x DESC LIMIT 1;
RESET work_mem;
SET force_parallel_mode = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT count(*) FROM big WHERE 1/(x - 150000) > 5;
RESET force_parallel_mode;
PREPARE p(text, integer) AS SELECT $1, $2;
EXECUTE p('a long parameter value', 1);
CHECKPOINT;
DELETE FROM t WHERE id > 100;
SELECT pg_switch_wal();
SELECT pg_sleep(2.5);
"""


@dataclass(frozen=True)
class _Client:
    pg: PgServer

    def psql(self, sql: str, *, user: str = "postgres", database: str = "postgres",
             host: str | None = SOCKET, password: str | None = None,
             app: str | None = None, sslmode: str | None = None,
             extra: str = "") -> subprocess.CompletedProcess[bytes]:
        conninfo = (f"host='{self.pg.host_arg(host)}' port={self.pg.port} "
                    f"user='{_q(user)}' dbname='{_q(database)}'")
        if sslmode:
            conninfo += f" sslmode={sslmode}"
        if app is not None:
            conninfo += f" application_name='{_q(app)}'"
        conninfo += extra
        env = self.pg.client_env(password)
        return subprocess.run([str(self.pg.bin_dir / "psql"), "-X", "-q", "-v",
                               "ON_ERROR_STOP=0", "-d", conninfo, "-f", "-"],
                              input=sql.encode(), capture_output=True, env=env, timeout=120)


def _q(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


class _HuntServer(PgServer):
    """A :class:`PgServer` that also allows replication over the socket and has a
    self-signed certificate for SSL."""

    def _init_cluster(self) -> None:
        super()._init_cluster()
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text("local replication all trust\n" + hba.read_text())
        subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes",
                        "-subj", "/CN=localhost", "-keyout", str(self.data_dir / "server.key"),
                        "-out", str(self.data_dir / "server.crt")],
                       check=True, capture_output=True)
        for name in ("server.key", "server.crt", "pg_hba.conf"):
            (self.data_dir / name).chmod(0o600)
            self._chown(self.data_dir / name)


def hunt_run(prefix: str, out_dir: Path, *, name: str = "hunt",
             settings: dict[str, str] | None = None) -> ServerRun:
    """Run the hunt workload on a fresh server with this prefix; keep its logs."""
    conf = {**HUNT_SETTINGS, **(settings or {}), "log_line_prefix": prefix}
    pg = _HuntServer(settings=conf)
    try:
        pg.start()
        c = _Client(pg)
        c.psql(SETUP)
        c.psql("CREATE EXTENSION pgaudit;", database=ODD_DB)
        # TCP with SSL, an odd user, database and application name
        c.psql(WORK, user=ODD_USER, database=ODD_DB, host="127.0.0.1",
               password=ODD_PASSWORD, app=ODD_APP, sslmode="require")
        # a lock wait: one session holds a lock while another waits for it
        holder = subprocess.Popen(
            [str(pg.bin_dir / "psql"), "-X", "-q", "-h", pg.host_arg(SOCKET), "-p",
             str(pg.port), "-U", "postgres", "-d", ODD_DB, "-c",
             "BEGIN; LOCK TABLE t; SELECT pg_sleep(1); COMMIT;"],
            env=pg.client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        c.psql("UPDATE t SET v = 'w' WHERE id = 1;", database=ODD_DB, host="::1",
               user=ODD_USER, password=ODD_PASSWORD, app="waiter", sslmode="disable")
        holder.wait(timeout=60)
        # the replication protocol over the socket
        c.psql("IDENTIFY_SYSTEM;", extra=" replication=database", app="")
        # a backend terminated by another
        victim = subprocess.Popen(
            [str(pg.bin_dir / "psql"), "-X", "-q", "-h", pg.host_arg(SOCKET), "-p",
             str(pg.port), "-U", "postgres", "-d", "postgres", "-c", "SELECT pg_sleep(30);"],
            env={**pg.client_env(), "PGAPPNAME": "victim app"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE application_name = 'victim app';")
        victim.wait(timeout=60)
        # extended protocol with parameters longer than log_parameter_max_length
        pg.run_client(["pgbench", "-i", "-s", "1", "-h", pg.host_arg(SOCKET), "-p",
                       str(pg.port), "-U", "postgres", "postgres"])
        script = out_dir / f"{name}-bench.sql"
        script.write_text("SELECT :long::text, 1/(:n - 1);\n")
        pg.run_client(["pgbench", "-n", "-t", "1", "-M", "extended", "-f", str(script),
                       "-D", "long=a parameter of some length", "-D", "n=1",
                       "-h", pg.host_arg(SOCKET), "-p", str(pg.port), "-U", "postgres",
                       "postgres"])
        # a failed login, a login to a missing database
        c.psql("SELECT 1;", user=ODD_USER, host="127.0.0.1", password="wrong",
               sslmode="disable")
        c.psql("SELECT 1;", database="no such db")
        # crash and restart: the startup process replays WAL; autoprewarm reloads
        pg.stop()
        pg.start()
        # (autoprewarm's leader logs what it loaded once its worker is done)
        c.psql("SELECT pg_sleep(1.5);", database=ODD_DB)
        pg.stop()
        stem = out_dir / name
        shutil.copyfile(pg.stderr_log_path, stem.with_suffix(".log"))
        shutil.copyfile(pg.csv_log_path, stem.with_suffix(".csv"))
    finally:
        pg.cleanup()
    kind = TerseRun if conf["log_error_verbosity"] == "terse" else ServerRun
    return kind(name, conf, stem.with_suffix(".log"), stem.with_suffix(".csv"))


#: Event attributes (beyond test_real_server's comparison) -> the escape that carries
#: them and the csvlog column that says what they must be.
EXTRA_FIELDS: dict[str, tuple[str, str]] = {
    "backend_type": ("%b", "backend_type"),
    "session_line": ("%l", "session_line_num"),
    "command_tag": ("%i", "command_tag"),
    "virtual_xid": ("%v", "virtual_transaction_id"),
    "xid": ("%x", "transaction_id"),
    "leader_pid": ("%P", "leader_pid"),
    "query_id": ("%Q", "query_id"),
    "session_start": ("%s", "session_start_time"),
}


def extra_problems(run: ServerRun, pairs: list) -> list[str]:  # type: ignore[type-arg]
    """Differences in the fields only some prefixes carry (backend type, line number,
    command tag, transaction ids, leader pid, query id, session start)."""
    problems = []
    # %l counts the lines a process prefixes (DETAIL, STATEMENT... lines too), the csvlog
    # its messages: per process, the csvlog number plus the secondary lines before it.
    secondary_before: dict[int, int] = {}
    for pair in sorted(pairs, key=lambda pair: pair.row.number):
        row = pair.row
        before = secondary_before.get(row.process_id, 0)
        secondary_before[row.process_id] = before + secondary_lines(run, row)
        pair.expected["_line"] = row.session_line_num + before
    for pair in pairs:
        row, event = pair.row, pair.observed.event
        visible = visible_escapes(run.prefix, row)
        for name, (escape, column) in EXTRA_FIELDS.items():
            if escape not in visible:
                continue
            want = getattr(row, column)
            got = getattr(event, name)
            if name == "session_line":
                if row.backend_type == "postmaster":
                    continue  # (it prefixed lines before the logging collector started)
                want = pair.expected["_line"]
            if name == "command_tag" and want is None \
                    and row.backend_type == "not initialized":
                continue  # (a padded %i shows the process title before the first tag)
            if name == "session_start":
                want = parse_session_start(want, run.log_timezone)
            elif name in ("query_id", "xid") and want is None:
                want = 0  # the csvlog leaves 0 empty; the prefix writes it
            if got != want:
                problems.append(f"csv record {row.number} / log line {event.line}: {name}: "
                                f"expected {want!r}, got {got!r}")
    return problems


def parse_session_start(text: str, zone: str) -> datetime:
    """A csvlog ``session_start_time`` (``YYYY-MM-DD HH:MM:SS ABBR``) as an aware datetime
    in the server's ``log_timezone``."""
    stamp, _, abbreviation = text.rpartition(" ")
    aware = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(zone))
    if aware.tzname() != abbreviation:
        raise ValueError(f"csvlog session start {text!r}: {zone} is {aware.tzname()} then")
    return aware


def secondary_lines(run: ServerRun, row: CsvLogRow) -> int:
    """How many DETAIL/HINT/QUERY/CONTEXT/STATEMENT/LOCATION lines the stderr log has
    for this message (terse verbosity writes only STATEMENT)."""
    terse = run.settings.get("log_error_verbosity") == "terse"
    parts = [row.query] if terse else [row.detail, row.hint, row.internal_query,
                                       row.context, row.query, row.location]
    return sum(part is not None for part in parts)


@dataclass(frozen=True)
class TerseRun(ServerRun):
    """A run with ``log_error_verbosity = terse``: its stderr log has no DETAIL, HINT,
    QUERY or CONTEXT lines, while its csvlog still has those columns. The answer key is
    what the stderr log can say: those columns empty."""

    def csv_rows(self) -> list[CsvLogRow]:
        return [replace(row, detail=None, hint=None, internal_query=None,
                        internal_query_pos=None, context=None)
                for row in super().csv_rows()]


RELOAD_FROM = "%t:%r:%u@%d:[%p]:"
RELOAD_TO = "%m [%p] %q[user=%u,db=%d,app=%a] "


def rotated_reload_run(out_dir: Path) -> tuple[ServerRun, ServerRun]:
    """A server that starts with :data:`RELOAD_FROM`, reloads to :data:`RELOAD_TO` (the
    postmaster logs the change in the first file), then rotates its log: the second
    file is all in the new prefix. Returns the two files' runs (log and csvlog each);
    both runs name the prefix the server started with."""
    conf = {"log_line_prefix": RELOAD_FROM, "log_connections": "on",
            "log_disconnections": "on", "log_statement": "all",
            "log_timezone": "Asia/Kathmandu"}
    pg = PgServer(settings=conf)
    try:
        pg.start()
        pg.run_sql("CREATE ROLE bob LOGIN PASSWORD 'bob-pw';")
        pg.run_sql("SELECT 'before';", user="bob", host="127.0.0.1", password="bob-pw")
        pg.run_sql(f"ALTER SYSTEM SET log_line_prefix = '{RELOAD_TO}'; "
                   "SELECT pg_reload_conf();")
        time.sleep(1)
        pg.run_sql("SELECT 'after the reload';", user="bob", host="::1", password="bob-pw")
        for ext in ("log", "csv"):
            (pg.log_dir / f"postgresql.{ext}").rename(pg.log_dir / f"postgresql.1.{ext}")
        pg.run_sql("SELECT pg_rotate_logfile();")
        time.sleep(0.5)
        pg.run_sql("SELECT 'second file';", user="bob", host="127.0.0.1", password="bob-pw")
        pg.stop()
        runs = []
        for name, stem in (("reload-1", "postgresql.1"), ("reload-2", "postgresql")):
            log, csv = out_dir / f"{name}.log", out_dir / f"{name}.csv"
            shutil.copyfile(pg.log_dir / f"{stem}.log", log)
            shutil.copyfile(pg.log_dir / f"{stem}.csv", csv)
            runs.append(ServerRun(name, dict(conf), log, csv))
    finally:
        pg.cleanup()
    return runs[0], runs[1]
