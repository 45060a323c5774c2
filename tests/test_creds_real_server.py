"""A real PostgreSQL 15 + pgAudit logs credentials pgAudit does not hide: none of our outputs
carries one (records, OCSF, ECS by default; events in passwords and literals mode; the
summary and its HTML report; the dead-letter file; our stderr).

pgAudit hides the password of CREATE/ALTER ROLE only when the statement parses; the server
also logs (``log_statement = all``, durations, ERROR ``STATEMENT``/``CONTEXT``) the other
places a password or key goes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PgServer
from workload import RDS_SETTINGS

SETTINGS = {
    **RDS_SETTINGS,
    "pgaudit.log": "all",
    "pgaudit.log_parameter": "on",
    "log_statement": "all",
    "log_min_duration_statement": "0",
}
SECRETS = [f"PwReal{i:02d}" for i in range(1, 33)]
# The extended protocol (pgbench -M extended): the values come as parameters, which
# pgaudit.log_parameter and log_statement's DETAIL write out.
PARAMETER_SCRIPT = """
UPDATE users SET password = :pw WHERE name = 'bob';
INSERT INTO users (name, password) VALUES ('al', :pw2);
SELECT set_config('app.auth_token'::text, :tok::text, false);
INSERT INTO users (name, password) SELECT 'am', :pw3;
"""
SCRIPT = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE TABLE users (name text, password text);
ALTER ROLE nosuch PASSWORD PwReal01;
SELECT set_config('app.password', 'PwReal02', false);
SET app.password = 'PwReal03';
SELECT crypt('PwReal04', gen_salt('bf'));
SELECT pgp_sym_encrypt('data', 'PwReal05');
INSERT INTO users (name, password) VALUES ('bob', 'PwReal06');
DO $$BEGIN EXECUTE format('ALTER ROLE nosuch PASSWORD %L', 'PwReal07'); END$$;
UPDATE users SET password = 'PwReal08' WHERE name = 'bob';
SELECT dblink_connect('c', 'host=127.0.0.1 port=1 dbname=x user=u password=PwReal09');
CREATE TABLE u (id int, password varchar(3));
COPY u FROM STDIN;
1\tPwReal14
\\.
SELECT '{"password": "PwReal15", }'::json;
DO $$DECLARE password text; BEGIN password := 'PwReal16' || 1/0; END$$;
DO $$BEGIN IF crypt('PwReal17', 'xx') = 'y' || 1/0 THEN NULL; END IF; END$$;
SET app.api_key = 'PwReal18';
SELECT set_config(setting_name => 'myapp.auth_token', new_value => 'PwReal19', is_local => false);
PREPARE q(text) AS UPDATE users SET password = $1 WHERE name = 'bob';
EXECUTE q('PwReal20');
DO $$DECLARE api_token text := 'PwReal21'; BEGIN RAISE NOTICE 'token %', api_token; END$$;
INSERT INTO users (name, password) SELECT 'c', 'PwReal22';
UPDATE users SET (name, password) = ('d', 'PwReal23') WHERE name = 'c';
CREATE TABLE k (name text, api_key varchar(40));
COPY k (name, api_key) FROM STDIN;
a\tPwReal24\textra
\\.
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE SERVER fdw FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', sslkey 'PwReal25');
CREATE USER MAPPING FOR postgres SERVER fdw OPTIONS (user 'u', password 'PwReal26');
PREPARE r AS SELECT set_config('app.secret_key', $1, false);
EXECUTE r('PwReal27');
DO $$BEGIN RAISE NOTICE USING MESSAGE = 'key: ' || current_setting('app.api_key'); END$$;
INSERT INTO users (name, password) VALUES ('e', 'x') ON CONFLICT DO NOTHING;
SELECT dblink_connect('c2', 'postgresql://u:PwReal28@127.0.0.1:1/x');
UPDATE users SET password = 'PwReal31' WHERE name = 'bob';
DO $$DECLARE s text; BEGIN SELECT password INTO s FROM users WHERE name = 'bob';
  RAISE NOTICE 'pw=% (%)', s, length(s); END$$;
DO $$DECLARE password text := 'PwReal32'; BEGIN RAISE EXCEPTION 'bad password %', password; END$$;
ALTER ROLE nosuch PASSWORD ( 'PwReal10' );
ALTER ROLE nosuch PASSWORD 'PwReal11
"""


@pytest.fixture(scope="module")
def secret_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    out = tmp_path_factory.mktemp("creds-server")
    with PgServer(settings=SETTINGS) as pg:
        pg.run_sql(f"CREATE ROLE {RDS_SETTINGS['pgaudit.role']};")
        pg.run_sql(SCRIPT)
        script = out / "parameters.sql"
        script.write_text(PARAMETER_SCRIPT)
        script.chmod(0o644)
        result = pg.run_client(["pgbench", "-n", "-t", "1", "-M", "extended",
                                "-D", "pw=PwReal12", "-D", "pw2=PwReal13",
                                "-D", "tok=PwReal29", "-D", "pw3=PwReal30", "-f", str(script),
                                "-h", pg.host_arg(None), "-p", str(pg.port), "-U", "postgres",
                                "postgres"])
        assert result.returncode == 0, result.stderr
        pg.stop()
        logs = {"stderr": out / "postgresql.log", "csvlog": out / "postgresql.csv",
                "jsonlog": out / "postgresql.json"}
        logs["stderr"].write_bytes(pg.stderr_log_path.read_bytes())
        logs["csvlog"].write_bytes(pg.csv_log_path.read_bytes())
        logs["jsonlog"].write_bytes(pg.json_log_path.read_bytes())
    yield logs


@pytest.fixture
def secret_log(secret_logs: dict[str, Path]) -> Path:
    return secret_logs["stderr"]


@pytest.mark.parametrize("kind", ["stderr", "csvlog", "jsonlog"])
def test_the_server_logged_every_secret(secret_logs: dict[str, Path], kind: str) -> None:
    text = secret_logs[kind].read_text()
    assert [s for s in SECRETS if s not in text] == []


@pytest.mark.parametrize("kind", ["csvlog", "jsonlog"])
@pytest.mark.parametrize("fmt", ["records", "ocsf", "ecs"])
def test_structured_logs_give_no_secret(secret_logs: dict[str, Path], kind: str,
                                        fmt: str, tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    run = _run("--format", fmt, "--errors", str(dead), str(secret_logs[kind]))
    assert run.returncode == 0, run.stderr
    assert run.stdout
    text = run.stdout + run.stderr + dead.read_text()
    assert [s for s in SECRETS if s in text] == []


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("args", [
    ["--format", "records"],
    ["--format", "records", "--redact", "none"],
    ["--format", "records", "--redact", "literals"],
    ["--format", "ocsf"],
    ["--format", "ecs"],
    ["--format", "ocsf", "--redact", "literals"],
    ["--format", "events", "--redact", "passwords"],
    ["--format", "events", "--redact", "literals"],
    ["--format", "records", "--summary"],
])
def test_no_output_carries_a_secret(secret_log: Path, tmp_path: Path,
                                    args: list[str]) -> None:
    dead = tmp_path / "dead.jsonl"
    run = _run(*args, "--errors", str(dead), str(secret_log))
    assert run.returncode == 0, run.stderr
    assert run.stdout
    text = run.stdout + run.stderr + dead.read_text()
    assert [s for s in SECRETS if s in text] == []


def test_summary_and_report_carry_no_secret(secret_log: Path, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    run = _run("summary", "--html", str(html), str(secret_log))
    assert run.returncode == 0, run.stderr
    json_run = _run("summary", "--json", str(secret_log))
    text = run.stdout + run.stderr + html.read_text() + json_run.stdout
    assert [s for s in SECRETS if s in text] == []
