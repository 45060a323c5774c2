"""The SQL workload the real-server tests run against a :class:`~pgserver.PgServer`.

It is written to make the server log hard to parse: DDL, DML whose text holds commas,
quotes, ``--`` comments, newlines, a bare CR, non-ASCII text and a line that looks like a
log prefix; prepared statements (PREPARE/EXECUTE and the extended protocol through
``pgbench -M extended|prepared``); functions whose bodies run statements; foreign-key
checks and cascades; object auditing through ``pgaudit.role``; CREATE/ALTER ROLE with
passwords; errors with DETAIL, HINT, CONTEXT, QUERY and cursor positions; warnings; failed
logins; and sessions over 127.0.0.1, ::1 and the unix socket.

Run it like this (``conftest.py`` does, once per configuration)::

    with PgServer(settings=RDS_SETTINGS) as pg:
        run_workload(pg)
        pg.stop()

>>> sorted({s.host for s in SESSIONS}, key=str)
['127.0.0.1', '::1', 'socket']
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from csvlog import CsvLogRow, read_csvlog
from pgserver import SOCKET, PgServer, PgServerError

__all__ = [
    "RDS_PREFIX", "RICH_PREFIX", "VERBOSE_PREFIX", "RDS_SETTINGS", "RICH_SETTINGS",
    "VERBOSE_SETTINGS", "SERVER_CONFIGS", "Session", "ServerRun", "run_config",
    "FIXTURE_SESSIONS", "write_fixtures",
    "SESSIONS", "run_workload", "AUDIT_ROLE",
]

RDS_PREFIX = "%t:%r:%u@%d:[%p]:"
RICH_PREFIX = "%m [%p] %q%u@%d %r %e %l %c "
VERBOSE_PREFIX = "%m [%p] "
AUDIT_ROLE = "rds_pgaudit"

#: The seed guide's RDS parameter group, plus connection logging.
RDS_SETTINGS: dict[str, str] = {
    "shared_preload_libraries": "pgaudit",
    "pgaudit.log": "all,-misc",
    "pgaudit.log_catalog": "off",
    "pgaudit.log_parameter": "off",
    "pgaudit.role": AUDIT_ROLE,
    "log_error_verbosity": "default",
    "log_line_prefix": RDS_PREFIX,
    "log_connections": "on",
    "log_disconnections": "on",
    "log_timezone": "UTC",
    "log_checkpoints": "on",  # background-process lines (no user, no host) in the log
}

#: Everything that makes lines longer and stranger: milliseconds, a half-hour zone,
#: one audit line per relation, statements logged once, parameters, rows, durations.
RICH_SETTINGS: dict[str, str] = {
    **RDS_SETTINGS,
    "pgaudit.log": "all",
    "pgaudit.log_relation": "on",
    "pgaudit.log_statement_once": "on",
    "pgaudit.log_parameter": "on",
    "pgaudit.log_rows": "on",
    "log_min_duration_statement": "0",
    "log_line_prefix": RICH_PREFIX,
    "log_timezone": "Asia/Kolkata",
}

#: PostgreSQL's own default prefix, every message with its SQLSTATE and a LOCATION line,
#: and a zone whose abbreviation is numeric.
VERBOSE_SETTINGS: dict[str, str] = {
    **RDS_SETTINGS,
    "log_line_prefix": VERBOSE_PREFIX,
    "log_error_verbosity": "verbose",
    "log_timezone": "America/Sao_Paulo",
}

#: The server configurations the real-server tests run, by name.
SERVER_CONFIGS: dict[str, dict[str, str]] = {
    "rds": RDS_SETTINGS, "rich": RICH_SETTINGS, "verbose": VERBOSE_SETTINGS,
}

# Test-only credentials for roles the workload creates; pgAudit logs them as <REDACTED>.
ALICE_PASSWORD = "alice-Pw-1"
BOB_PASSWORD = "bob-Pw-2"
CR = "\r"


@dataclass(frozen=True, slots=True)
class Session:
    """One client session: a psql script (or a pgbench run) as some user over some host.

    ``login_fails`` marks sessions that must be refused at login.
    """

    name: str
    sql: str = ""
    user: str = "postgres"
    database: str = "postgres"
    host: str | None = SOCKET
    password: str | None = None
    login_fails: bool = False
    pgbench: tuple[str, ...] = field(default=())


SETUP = f"""
-- keep the passwords below out of duration lines (pgAudit redacts its own copy)
SET log_min_duration_statement = -1;
CREATE ROLE {AUDIT_ROLE} NOLOGIN;
CREATE ROLE alice LOGIN CREATEDB PASSWORD '{ALICE_PASSWORD}';
CREATE USER bob WITH ENCRYPTED PASSWORD 'first-{BOB_PASSWORD}';
ALTER ROLE bob WITH PASSWORD '{BOB_PASSWORD}';
ALTER ROLE bob CONNECTION LIMIT 5;
CREATE DATABASE shop OWNER alice;
"""

SHOP_SETUP = """
CREATE EXTENSION pgaudit;
"""

DDL = f"""
CREATE TABLE customers (
    id integer PRIMARY KEY,
    name text NOT NULL,
    note text
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    amount numeric(10, 2) NOT NULL
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
ALTER TABLE customers ADD COLUMN email text;
CREATE VIEW big_orders AS
    SELECT o.id, c.name, o.amount
      FROM orders o JOIN customers c ON c.id = o.customer_id
     WHERE o.amount > 100;
CREATE FUNCTION add_order(cid integer, amt numeric) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    new_id integer;
BEGIN
    INSERT INTO orders (customer_id, amount) VALUES (cid, amt) RETURNING id INTO new_id;
    UPDATE customers SET note = coalesce(note, '') || '+1' WHERE id = cid;
    RETURN new_id;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO {AUDIT_ROLE};
GRANT SELECT ON orders TO {AUDIT_ROLE};
GRANT SELECT ON customers TO bob;
"""

LONG_TEXT = "".join(f"{i:04d}, \"x\" ;" for i in range(600))  # ~6 KB: many pipe chunks

DML = f"""
INSERT INTO customers (id, name, note) VALUES
    (1, 'Zoë, "quoted"', 'it''s -- not a comment'),
    (2, '日本語のテキスト', E'line one\\nline two');
INSERT INTO customers VALUES (3, 'Bob', NULL, 'bob@example.com'); -- trailing, with comma
/* block comment */ SELECT id, name,
       note
  FROM customers   -- a comment, "with" quotes
 WHERE name <> 'x,y'
 ORDER BY id;
UPDATE customers SET note = 'a,b,"c"' WHERE id = 3;
BEGIN;
SELECT add_order(1, 150.00);
SELECT add_order(2, 12.50);
COMMIT;
SELECT * FROM big_orders;
PREPARE find_customer(integer, text) AS
    SELECT id, name FROM customers WHERE id = $1 OR name = $2;
EXECUTE find_customer(1, 'Zoë, "quoted"');
EXECUTE find_customer(2, NULL);
PREPARE echo(text) AS SELECT $1 AS echoed;
EXECUTE echo(E'a\\rb');
SELECT 'carriage{CR}return' AS bare_cr;
SELECT 'looks like
2026-01-01 00:00:00 UTC::@:[1]:LOG:  not a real line' AS tricky;
SELECT '{LONG_TEXT}' AS long_one;
SELECT 1 AS first \\; SELECT 2 AS second;
DELETE FROM customers WHERE id = 1;
BEGIN;
UPDATE customers SET note = 'rolled back' WHERE id = 2;
ROLLBACK;
ROLLBACK;
DO $$ BEGIN RAISE WARNING E'two\\nlines' USING DETAIL = E'detail one\\ndetail two',
    HINT = 'a hint, with comma'; END $$;
DO $$ BEGIN RAISE WARNING 'bare %', E'c\\rr'; END $$;
DO $$ BEGIN RAISE WARNING 'this text ends at character 5'; END $$;
"""

ERRORS = f"""
SELECT 1/0;
SELECT * FROM no_such_table;
SELEC 1;
INSERT INTO customers (id, name) VALUES (2, 'duplicate');
SELECT add_order(999, 1);
INSERT INTO orders (customer_id, amount) VALUES (998, 5);
SELECT no_such_function(1);
DO $$ BEGIN EXECUTE 'SELEC 2'; END $$;
SELECT * FROM "tab{CR}le";
UPDATE customers SET id = id + 'x';
"""

CLEANUP_DDL = """
DROP VIEW big_orders;
DROP INDEX orders_customer_idx;
ALTER TABLE orders RENAME TO orders_archive;
DROP FUNCTION add_order(integer, numeric);
"""

BOB = """
SELECT name FROM customers WHERE id = 2;
SELECT * FROM orders_archive;
"""

PGBENCH_SCRIPT = """\\set cid 2
SELECT id, name FROM customers WHERE id = :cid AND name <> :label;
"""

LATE_ROLES = f"""
SET log_min_duration_statement = -1;
ALTER USER alice WITH PASSWORD '{ALICE_PASSWORD}' VALID UNTIL 'infinity';
ALTER ROLE bob RENAME TO robert;
"""

SESSIONS: tuple[Session, ...] = (
    Session("setup", SETUP),
    Session("shop-setup", SHOP_SETUP, database="shop"),
    Session("ddl-ipv4", DDL, user="alice", database="shop", host="127.0.0.1",
            password=ALICE_PASSWORD),
    Session("dml-ipv4", DML, user="alice", database="shop", host="127.0.0.1",
            password=ALICE_PASSWORD),
    Session("errors-ipv6", ERRORS, user="alice", database="shop", host="::1",
            password=ALICE_PASSWORD),
    Session("pgbench-extended", user="alice", database="shop", host="127.0.0.1",
            password=ALICE_PASSWORD, pgbench=("-M", "extended")),
    Session("pgbench-prepared", user="alice", database="shop", host="::1",
            password=ALICE_PASSWORD, pgbench=("-M", "prepared")),
    Session("cleanup-socket", CLEANUP_DDL, user="alice", database="shop"),
    Session("bob-ipv6", BOB, user="bob", database="shop", host="::1", password=BOB_PASSWORD),
    Session("wrong-password", "SELECT 1;", user="alice", database="shop", host="127.0.0.1",
            password="not-the-password", login_fails=True),
    Session("unknown-role-tcp", "SELECT 1;", user="nosuch", database="shop", host="::1",
            password="whatever", login_fails=True),
    Session("unknown-role-socket", "SELECT 1;", user="nosuch", database="shop",
            login_fails=True),
    Session("unknown-database", "SELECT 1;", user="alice", database="nodb",
            login_fails=True),
    Session("late-roles", LATE_ROLES),
)


@dataclass(frozen=True)
class ServerRun:
    """What one workload run left behind: its settings and its log files (the jsonlog
    when the server wrote one)."""

    name: str
    settings: dict[str, str]
    stderr_log: Path
    csv_log: Path
    json_log: Path | None = None

    @property
    def prefix(self) -> str:
        """The ``log_line_prefix`` the server used."""
        return self.settings["log_line_prefix"]

    @property
    def log_timezone(self) -> str:
        """The ``log_timezone`` the server used."""
        return self.settings["log_timezone"]

    def csv_rows(self) -> list[CsvLogRow]:
        """The csvlog records, in file order."""
        return list(read_csvlog(self.csv_log))


def run_config(name: str, out_dir: Path, sessions: tuple[Session, ...] | None = None,
               file_stem: str = "postgresql") -> ServerRun:
    """Start a server with ``SERVER_CONFIGS[name]``, run the workload, stop it, and keep
    its stderr log, csvlog and jsonlog in ``out_dir`` as ``<file_stem>.log`` / ``.csv`` /
    ``.json``."""
    settings = SERVER_CONFIGS[name]
    stderr_log = out_dir / f"{file_stem}.log"
    csv_log = out_dir / f"{file_stem}.csv"
    json_log: Path | None = out_dir / f"{file_stem}.json"
    with PgServer(settings=settings) as pg:
        run_workload(pg, SESSIONS if sessions is None else sessions)
        pg.stop()
        shutil.copyfile(pg.stderr_log_path, stderr_log)
        shutil.copyfile(pg.csv_log_path, csv_log)
        if pg.json_log_path.exists() and json_log is not None:
            shutil.copyfile(pg.json_log_path, json_log)
        else:
            json_log = None
    return ServerRun(name, dict(settings), stderr_log, csv_log, json_log)


def run_session(pg: PgServer, session: Session) -> None:
    """Run one session; raise :class:`PgServerError` if login fails or succeeds wrongly."""
    if session.pgbench:
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write(PGBENCH_SCRIPT)
        try:
            result = pg.run_client(
                ["pgbench", "-n", "-t", "1", "-f", script.name, *session.pgbench,
                 "-D", 'label=Zoë, "quoted"', "-h", pg.host_arg(session.host),
                 "-p", str(pg.port), "-U", session.user, session.database],
                password=session.password,
            )
        finally:
            Path(script.name).unlink()
        if result.returncode != 0:
            raise PgServerError(f"pgbench session {session.name} failed: {result.stderr}")
        return
    result = pg.run_sql(session.sql, user=session.user, database=session.database,
                        host=session.host, password=session.password, check=False)
    refused = result.returncode == 2 and "FATAL" in result.stderr
    if refused != session.login_fails:
        raise PgServerError(
            f"session {session.name}: login {'refused' if refused else 'accepted'}"
            f" unexpectedly: {result.stderr}"
        )


def run_workload(pg: PgServer, sessions: tuple[Session, ...] = SESSIONS) -> None:
    """Run every session of the workload, one after the other."""
    for session in sessions:
        run_session(pg, session)


FIXTURE_SQL = f"""
CREATE TABLE notes (id integer PRIMARY KEY, body text);
GRANT SELECT, INSERT ON notes TO {AUDIT_ROLE};
INSERT INTO notes VALUES (1, 'Zoë, "quoted", -- not a comment'), (2, E'two\\nlines');
SELECT id,
       body
  FROM notes WHERE body <> 'a{CR}b';
PREPARE pick(integer) AS SELECT body FROM notes WHERE id = $1;
EXECUTE pick(2);
INSERT INTO notes VALUES (1, 'duplicate');
SELECT * FROM missing_table;
"""

#: A short workload for the small real logs kept in fixtures/ (a few dozen lines).
FIXTURE_SESSIONS: tuple[Session, ...] = (
    Session("setup", SETUP),
    Session("shop-setup", SHOP_SETUP, database="shop"),
    Session("notes-ipv4", FIXTURE_SQL, user="alice", database="shop", host="127.0.0.1",
            password=ALICE_PASSWORD),
    Session("wrong-password", "SELECT 1;", user="alice", database="shop", host="::1",
            password="not-the-password", login_fails=True),
)


def write_fixtures(out_dir: Path) -> list[Path]:
    """Run :data:`FIXTURE_SESSIONS` on the ``rds`` and ``rich`` configurations and keep
    their logs as ``real-<name>.log`` / ``real-<name>.csv`` in ``out_dir``."""
    written = []
    for name in ("rds", "rich"):
        run = run_config(name, out_dir, FIXTURE_SESSIONS, file_stem=f"real-{name}")
        written += [run.stderr_log, run.csv_log]
    return written


def main(argv: list[str] | None = None) -> int:
    """``python tests/workload.py --fixtures fixtures/`` regenerates the real-log fixtures."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--fixtures", type=Path, required=True, metavar="DIR")
    args = parser.parse_args(argv)
    for path in write_fixtures(args.fixtures):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
