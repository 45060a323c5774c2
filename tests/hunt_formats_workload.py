"""A second real-server workload for the csvlog/jsonlog inputs and the OCSF/ECS outputs:
what ``workload.py`` does not make.

``log_error_verbosity = verbose`` (a LOCATION for every message: csvlog's ``location``,
jsonlog's ``func_name``/``file_name``/``file_line_num``), PL/pgSQL errors with DETAIL,
HINT, CONTEXT, the statement and an internal query, messages with newlines, quotes,
commas, tabs and non-ASCII text, a statement of 300 KB, background processes
(autovacuum, checkpointer: jsonlog leaves out their empty keys), an ``application_name``
with quotes, commas and spaces, a zone with a half-hour offset, every pgAudit class, the
failed logins (wrong password, no ``pg_hba.conf`` entry, unknown database, unknown role)
and the log rotated twice in the middle of sessions (PostgreSQL's own rotation, after the
files were renamed as logrotate does: several files per format, to be read together).

>>> sorted(HUNT_SETTINGS)[:3]
['autovacuum_naptime', 'log_autovacuum_min_duration', 'log_checkpoints']
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pgserver import SOCKET, PgServer
from workload import RDS_SETTINGS

__all__ = ["HUNT_PREFIX", "HUNT_SETTINGS", "HuntRun", "run_hunt", "LONG_STATEMENT_BYTES",
           "APP_NAME"]

HUNT_PREFIX = "%m [%p] %q%u@%d %r %a %e %c %l "
APP_NAME = 'my "app", v1'
LONG_STATEMENT_BYTES = 300_000
PASSWORD = "hunt-Pw-1"

HUNT_SETTINGS: dict[str, str] = {
    **RDS_SETTINGS,
    "log_line_prefix": HUNT_PREFIX,
    "pgaudit.log": "all",
    "pgaudit.log_parameter": "on",
    "log_error_verbosity": "verbose",
    "log_timezone": "America/St_Johns",  # NST/NDT: -03:30 / -02:30
    "log_autovacuum_min_duration": "0",
    "autovacuum_naptime": "1",
    "log_checkpoints": "on",
}

SETUP = f"""
SET log_min_duration_statement = -1;
CREATE ROLE alice LOGIN SUPERUSER PASSWORD '{PASSWORD}';
CREATE DATABASE hunt OWNER alice;
"""

WORK = """
CREATE EXTENSION IF NOT EXISTS pgaudit;
CREATE TABLE t (a integer PRIMARY KEY, b text);
INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 3000) g;
DELETE FROM t WHERE a > 1000;
SELECT count(*) FROM t;
UPDATE t SET b = 'x' WHERE a = 1;
SELECT * INTO t_copy FROM t WHERE a < 10;
CREATE TABLE t_as AS SELECT * FROM t WHERE a < 5;
CREATE MATERIALIZED VIEW mv AS SELECT a FROM t WHERE a < 3;
REFRESH MATERIALIZED VIEW mv;
COPY t TO STDOUT;
COPY t_as FROM STDIN;
100	copied
\\.
TRUNCATE t_as;
MERGE INTO t_copy USING t ON t_copy.a = t.a WHEN NOT MATCHED THEN INSERT VALUES (t.a, t.b);
BEGIN;
DECLARE c CURSOR FOR SELECT a FROM t;
FETCH 2 FROM c;
CLOSE c;
COMMIT;
PREPARE p(integer) AS SELECT b FROM t WHERE a = $1;
EXECUTE p(1);
DEALLOCATE p;
EXPLAIN SELECT 1;
VACUUM t_copy;
ANALYZE t_copy;
CHECKPOINT;
SET work_mem = '8MB';
RESET work_mem;
SET ROLE alice;
RESET ROLE;
CREATE ROLE carol NOLOGIN;
ALTER ROLE carol CONNECTION LIMIT 3;
GRANT SELECT ON t TO carol;
REVOKE SELECT ON t FROM carol;
DROP ROLE carol;
CREATE FUNCTION f(x integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  RETURN x + 1;
END $$;
SELECT f(1);
CREATE PROCEDURE pr() LANGUAGE sql AS $$ SELECT 1 $$;
CALL pr();
DO $$ BEGIN PERFORM f(2); END $$;
COMMENT ON TABLE t IS 'a, "comment"';
ALTER TABLE t ADD COLUMN c text;
DROP TABLE t_as;
DISCARD ALL;
"""

ERRORS = """
DO $$ BEGIN RAISE EXCEPTION E'boom, "quoted"\\ttab\\nsecond line ünïcode ✓'
   USING DETAIL = E'detail one\\ndetail, "two"', HINT = E'hint\\twith tab, comma',
         ERRCODE = '22012'; END $$;
DO $$ BEGIN EXECUTE 'SELECT * FROM no_such_table WHERE x = 1'; END $$;
CREATE FUNCTION g() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  RETURN 1 / (SELECT count(*) - count(*) FROM t);
END $$;
SELECT g();
SELECT nosuchcol FROM t;
INSERT INTO t VALUES (1, 'dup');
DO $$ BEGIN RAISE WARNING E'warn\\nwith, "quotes"' USING HINT = 'a hint'; END $$;
DO $$ BEGIN RAISE NOTICE 'notice ✓'; END $$;
DO $$ BEGIN RAISE LOG E'log line\\r\\nwith CRLF and \\\\ backslash'; END $$;
"""


def _long_statement() -> str:
    """One statement of about :data:`LONG_STATEMENT_BYTES` bytes: a literal with quotes,
    commas, newlines and tabs (many pipe chunks to the logging collector)."""
    unit = 'v, "q" \n\tü'
    body = (unit * (LONG_STATEMENT_BYTES // len(unit.encode())))
    return f"SELECT length('{body}') AS long_one;\n"


@dataclass(frozen=True)
class HuntRun:
    """The log files of one run, oldest first per format (``.2``, ``.1`` are rotated)."""

    settings: dict[str, str]
    stderr_logs: tuple[Path, ...]
    csv_logs: tuple[Path, ...]
    json_logs: tuple[Path, ...]

    @property
    def prefix(self) -> str:
        return self.settings["log_line_prefix"]

    @property
    def log_timezone(self) -> str:
        return self.settings["log_timezone"]


def _rotate(pg: PgServer, number: int) -> None:
    """Rename the three files (as logrotate does) and make PostgreSQL open new ones."""
    paths = (pg.stderr_log_path, pg.csv_log_path, pg.json_log_path)
    for path in paths:
        path.rename(path.with_name(f"{path.name}.{number}"))
    pg.run_sql("SELECT pg_rotate_logfile();")
    deadline = time.monotonic() + 30
    while not all(path.exists() for path in paths):
        if time.monotonic() > deadline:
            raise RuntimeError("the log was not rotated")
        time.sleep(0.05)


def _rewrite_hba(pg: PgServer) -> None:
    """127.0.0.1 may reach the ``hunt`` and ``postgres`` databases only: a connection to
    another database over it finds no ``pg_hba.conf`` entry."""
    (pg.data_dir / "pg_hba.conf").write_text(
        "local all all trust\n"
        "host  hunt,postgres all 127.0.0.1/32 scram-sha-256\n"
        "host  all all ::1/128 scram-sha-256\n")
    pg.run_sql("SELECT pg_reload_conf();")
    time.sleep(0.5)


def run_hunt(out: Path, settings: dict[str, str] | None = None) -> HuntRun:
    """Run the workload on a fresh server and keep its log files in ``out``."""
    settings = {**HUNT_SETTINGS, **(settings or {})}
    with PgServer(settings=settings) as pg:
        pg.run_sql(SETUP)
        _rewrite_hba(pg)
        tcp = {"user": "alice", "database": "hunt", "password": PASSWORD}
        pg.run_sql(WORK, host="127.0.0.1", application_name=APP_NAME, **tcp)
        pg.wait_for_log("automatic vacuum of table", timeout=60)
        _rotate(pg, 2)
        pg.run_sql(ERRORS, host="::1", **tcp)
        # a session that the rotation cuts in two: its lines are in two files
        cut = threading.Thread(target=pg.run_sql, args=(
            "SELECT 1 AS before_rotation;\nSELECT pg_sleep(1.5);\nSELECT 2 AS after;\n",),
            kwargs={"host": SOCKET, "application_name": APP_NAME})
        cut.start()
        time.sleep(0.7)
        _rotate(pg, 1)
        cut.join()
        pg.run_sql(_long_statement(), **tcp, host="127.0.0.1")
        for user, database, host, password in (
                ("alice", "hunt", "127.0.0.1", "not-the-password"),  # wrong password
                ("alice", "template1", "127.0.0.1", PASSWORD),       # no pg_hba entry
                ("alice", "nodb", SOCKET, None),                     # unknown database
                ("nosuch", "hunt", "::1", "whatever")):              # unknown role
            result = pg.run_sql("SELECT 1;", user=user, database=database, host=host,
                                password=password, check=False)
            if result.returncode != 2:
                raise RuntimeError(f"login of {user}@{database} did not fail: {result}")
        pg.stop()
        logs: dict[str, list[Path]] = {}
        for ext in ("log", "csv", "json"):
            for suffix in (".2", ".1", ""):
                source = pg.log_dir / f"postgresql.{ext}{suffix}"
                target = out / source.name
                shutil.copyfile(source, target)
                logs.setdefault(ext, []).append(target)
    return HuntRun(settings, tuple(logs["log"]), tuple(logs["csv"]), tuple(logs["json"]))
