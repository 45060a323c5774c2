"""A real PostgreSQL 15 + pgAudit writes secrets and constants in the parts of a message
that are not the statement: the values an ERROR quotes (``invalid input syntax for type
integer: "..."``, JSON's ``Token "..." is invalid.``, a name the server lower-cased:
``relation "..." does not exist``), the bind parameters of an extended-protocol statement
in CONTEXT (``unnamed portal with parameters: $1 = '...'``,
``log_parameter_max_length_on_error``), the SQL of a PL/pgSQL CONTEXT line, and
auto_explain's plans in JSON and YAML (``"Filter": "(password = '...'::text)"``).

``passwords`` mode (the default of records, OCSF, ECS) must carry none of the credentials;
``literals`` mode none of the constants either; the dead-letter file and our stderr
neither. pglast (the test extra) confirms that each literal secret is a string constant of
the statement that carries it, so ``literals`` mode is bound to hide it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pglast
import pytest
from pgserver import PgServer
from workload import RDS_SETTINGS

SETTINGS = {
    **RDS_SETTINGS,
    "shared_preload_libraries": "pgaudit,auto_explain",
    "pgaudit.log": "all",
    "pgaudit.log_parameter": "on",
    "log_statement": "all",
    "log_min_duration_statement": "0",
    "log_parameter_max_length": "-1",
    "log_parameter_max_length_on_error": "-1",
}
# Credentials: hidden in passwords and literals mode.
SCRIPT = r"""
CREATE TABLE users (id int, name text, password text);
INSERT INTO users (id, name) VALUES (1, 'bob');
UPDATE users SET password = 'EchoPw01' WHERE id = 1;
SELECT password::int FROM users WHERE id = 1;
SELECT '{"password": EchoPw02}'::json;
CREATE FUNCTION setpw(p text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN EXECUTE 'ALTER ROLE nosuch PASSWORD ' || quote_literal(p); END $f$;
SELECT setpw('EchoPw03');
CREATE FUNCTION chk(api_password text) RETURNS int LANGUAGE plpgsql AS $f$
DECLARE v int; BEGIN SELECT api_password::int INTO v; RETURN v; END $f$;
SELECT public.chk('EchoPw08');
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_format = 'json';
SELECT * FROM users WHERE password = 'EchoPw04';
SELECT * FROM users WHERE name = 'EchoLit01';
SET auto_explain.log_format = 'yaml';
SELECT * FROM users WHERE password = 'EchoPw05';
SELECT * FROM users WHERE name = 'EchoLit02';
SET auto_explain.log_min_duration = -1;
SELECT 'EchoLit03'::regclass;
SELECT nextval('EchoLit04');
SELECT '{"a": EchoLit05}'::json;
INSERT INTO users (id, name) VALUES (2, 'EchoLit06');
SELECT name::int FROM users WHERE id = 2;
SELECT 'EchoLit07'::int;
"""
# Extended protocol (pgbench -M extended), one run each: pgbench stops at an error.
EXTENDED = [
    ("SELECT set_config('app.password', :v, false)::int;", "EchoPw06"),
    ("SELECT :v::int;", "EchoLit08"),
    ("UPDATE users SET name = 'x' WHERE id = :v;", "EchoLit09"),
]
# EchoPw03 goes through a function whose name says nothing: its own statement and audit
# lines, written before the error that shows what it is, keep it (no lookahead); the
# ERROR's fields hide it (test_a_context_that_shows_a_password_hides_it_in_its_error).
PASSWORDS = [f"EchoPw{i:02d}" for i in (1, 2, 4, 5, 6, 7, 8)]
LITERALS = [f"EchoLit{i:02d}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def echo_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("creds-echoes")
    with PgServer(settings=SETTINGS) as pg:
        pg.run_sql(f"CREATE ROLE {RDS_SETTINGS['pgaudit.role']};")
        pg.run_sql(SCRIPT)
        for n, (sql, value) in enumerate(EXTENDED):
            script = out / f"ext{n}.sql"
            script.write_text(sql + "\n")
            script.chmod(0o644)
            pg.run_client(["pgbench", "-n", "-t", "1", "-M", "extended", "-D", f"v={value}",
                           "-f", str(script), "-h", pg.host_arg(None), "-p", str(pg.port),
                           "-U", "postgres", "postgres"])
        # a client that passes a connection string as its application name
        pg.run_sql("SELECT 1", host="127.0.0.1", password=pg.superuser_password,
                   application_name="etl host=db1 password=EchoPw07")
        pg.run_sql("SELECT 1", host="127.0.0.1", password=pg.superuser_password,
                   application_name="EchoApp01")
        pg.stop()
        log = out / "postgresql.log"
        log.write_bytes(pg.stderr_log_path.read_bytes())
        for suffix, path in ((".csv", pg.csv_log_path), (".json", pg.json_log_path)):
            log.with_suffix(suffix).write_bytes(path.read_bytes())
    yield log


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args],
                          capture_output=True, text=True, check=False)


def _found(text: str, secrets: list[str]) -> list[str]:
    low = text.lower()  # (the server lower-cases some names it quotes)
    return [s for s in secrets if s.lower() in low]


def test_the_server_wrote_every_secret_outside_the_statement(echo_log: Path) -> None:
    text = echo_log.read_text()
    assert _found(text, PASSWORDS + LITERALS) == PASSWORDS + LITERALS
    assert "application_name=etl host=db1 password=EchoPw07" in text
    # the places this file is about, as PostgreSQL 15 writes them
    for needle in ('"Filter": "(password = \'EchoPw04\'::text)"',
                   "Filter: \"(password = 'EchoPw05'::text)\"",
                   "unnamed portal with parameters: $1 = 'EchoPw06'",
                   "unnamed portal parameter $1 = 'EchoLit08'",
                   'invalid input syntax for type integer: "EchoPw06"',
                   'relation "echolit03" does not exist',
                   'Token "EchoPw02" is invalid.',
                   'SQL statement "ALTER ROLE nosuch PASSWORD \'EchoPw03\'"'):
        assert needle in text, needle


@pytest.mark.parametrize("args", [["--format", "records"], ["--format", "events", "--redact",
                                   "passwords"], ["--format", "ocsf"], ["--format", "ecs"]])
def test_a_context_that_shows_a_password_hides_it_in_its_error(echo_log: Path,
                                                                args: list[str]) -> None:
    run = _run(*args, str(echo_log))
    assert run.returncode == 0, run.stderr
    errors = [line for line in run.stdout.splitlines() if "nosuch" in line]
    assert errors
    assert [line for line in errors if "EchoPw03" in line] == []


def test_literal_secrets_are_string_constants() -> None:
    """pglast's scanner: each literal secret of the script is inside a string constant."""
    constants = [t for t in pglast.parser.scan(SCRIPT) if t.name == "SCONST"]
    texts = [SCRIPT[t.start:t.end + 1] for t in constants]
    for secret in LITERALS[:7]:
        assert any(secret in text for text in texts), secret


@pytest.mark.parametrize("kind", ["log", "csv", "json"])
@pytest.mark.parametrize("args", [
    ["--format", "records"],
    ["--format", "records", "--redact", "none"],
    ["--format", "ocsf"],
    ["--format", "ecs"],
    ["--format", "events", "--redact", "passwords"],
])
def test_no_credential_outside_the_statement_reaches_an_output(
        echo_log: Path, tmp_path: Path, kind: str, args: list[str]) -> None:
    dead = tmp_path / "dead.jsonl"
    run = _run(*args, "--errors", str(dead), str(echo_log.with_suffix("." + kind)))
    assert run.returncode == 0, run.stderr
    assert run.stdout
    assert _found(run.stdout + run.stderr + dead.read_text(), PASSWORDS) == []


@pytest.mark.parametrize("kind", ["log", "csv", "json"])
@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
def test_no_constant_outside_the_statement_reaches_a_literals_output(
        echo_log: Path, tmp_path: Path, kind: str, fmt: str) -> None:
    dead = tmp_path / "dead.jsonl"
    run = _run("--format", fmt, "--redact", "literals", "--errors", str(dead),
               str(echo_log.with_suffix("." + kind)))
    assert run.returncode == 0, run.stderr
    assert run.stdout
    assert _found(run.stdout + run.stderr + dead.read_text(), PASSWORDS + LITERALS) == []


@pytest.mark.parametrize("mode", ["passwords", "literals"])
def test_an_application_name_without_a_credential_is_kept(echo_log: Path, mode: str) -> None:
    run = _run("--format", "events", "--redact", mode, str(echo_log))
    assert run.returncode == 0, run.stderr
    assert "application_name=EchoApp01" in run.stdout
    assert "application_name=<REDACTED>" in run.stdout


def test_summary_and_report_carry_no_credential(echo_log: Path, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    run = _run("summary", "--html", str(html), str(echo_log))
    assert run.returncode == 0, run.stderr
    json_run = _run("summary", "--json", str(echo_log))
    assert _found(run.stdout + run.stderr + html.read_text() + json_run.stdout,
                  PASSWORDS) == []


def _damaged_copies(echo_log: Path, out: Path) -> list[Path]:
    """The real jsonlog with the line of an UPDATE that sets a password cut short, and a
    CloudWatch export of the real log followed by a document cut short that holds it."""
    lines = echo_log.with_suffix(".json").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "EchoPw01" in line)
    cut = lines[at][:lines[at].index("EchoPw01") + 40]
    jsonlog = out / "cut.json"
    jsonlog.write_text("\n".join(lines[:at] + [cut] + lines[at + 1:]) + "\n")
    plain = echo_log.read_text().splitlines()
    secret = next(line for line in plain if "EchoPw01" in line)
    events = [{"timestamp": 1796101460000 + i, "message": line, "logStreamName": "db1",
               "eventId": str(i)} for i, line in enumerate(plain)]
    export = out / "export.json"
    export.write_text(json.dumps({"events": events}) + "\n"
                      + json.dumps({"events": [{"message": secret, "timestamp": 1}]})[:-3])
    return [jsonlog, export]


@pytest.mark.parametrize("mode", ["passwords", "literals"])
def test_dead_letters_of_json_lines_carry_no_secret(echo_log: Path, tmp_path: Path,
                                                   mode: str) -> None:
    for damaged in _damaged_copies(echo_log, tmp_path):
        dead = tmp_path / "dead.jsonl"
        run = _run("--format", "records", "--redact", mode, "--errors", str(dead),
                   str(damaged))
        assert run.returncode == 0, run.stderr
        letters = dead.read_text()
        assert "UPDATE users SET password" in letters  # the line is a dead letter...
        assert _found(letters + run.stderr, ["EchoPw01"]) == [], damaged.name  # ...hidden


@pytest.mark.parametrize("mode,secrets", [("passwords", PASSWORDS),
                                          ("literals", PASSWORDS + LITERALS)])
def test_ocsf_parquet_carries_no_secret_outside_the_statement(
        echo_log: Path, tmp_path: Path, mode: str, secrets: list[str]) -> None:
    import pyarrow.parquet as pq  # (the test extra has pyarrow)
    out = tmp_path / "lake"
    run = _run("--format", "ocsf-parquet", "--account-id", "123456789012", "--lake-region",
               "eu-west-1", "--redact", mode, "-o", str(out), str(echo_log))
    assert run.returncode == 0, run.stderr
    files = sorted(out.rglob("*.parquet"))
    assert files
    text = "".join(str(pq.read_table(f).to_pylist()) for f in files)
    assert "invalid input syntax" in text
    assert _found(text + run.stderr, secrets) == []
