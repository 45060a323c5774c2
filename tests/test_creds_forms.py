"""Forms that leaked a credential in ``--redact passwords`` (fix-creds): keys and secrets
under other names, prepared statements, named and cast arguments, RAISE messages, rows
written by INSERT ... SELECT, tuple assignments and COPY data, and the hunt's finds.

Each marker ``Kx..`` is a secret; pglast (PostgreSQL's own scanner) is the oracle that the
secret is a string constant and that every other token is kept.
"""

from __future__ import annotations

import io
from typing import Any

import pglast.parser
import pytest

from pgaudit_parse import parse_lines
from pgaudit_parse.sinks import OutputSink
from pgaudit_parse.sql import REDACTED, redact, redact_parameters, redact_passwords
from pgaudit_parse.sql.redact import credential_name, password_parameters

P = "2026-11-25 16:05:05 UTC:10.0.1.25(50012):alice@shop:[4242]:"
Q = "2026-11-25 16:05:05 UTC:10.0.1.26(50013):bob@shop:[4343]:"
_CONSTANTS = frozenset({"SCONST", "USCONST", "ICONST", "FCONST", "BCONST", "XCONST"})


def _others(sql: str) -> list[str]:
    return [sql[t.start:t.end + 1] for t in pglast.parser.scan(sql) if t.name not in _CONSTANTS]


def _hidden_and_rest_kept(sql: str, secret: str = "Kx") -> str:
    out = redact_passwords(sql)
    assert secret not in out, out
    assert any(secret in sql[t.start:t.end + 1] for t in pglast.parser.scan(sql)
               if t.name in _CONSTANTS)
    assert _others(sql) == _others(out.replace(REDACTED, "''"))
    return out


# -- 1. keys and secrets under other names ---------------------------------------------

@pytest.mark.parametrize("name", [
    "app.api_key", "myapp.auth_token", "x.secret_key", "svc.apikey", "svc.access_key",
    "svc.private_key", "svc.credentials", "app.credential", "app.passwd", "app.pwd",
    "app.db_pass", "app.refresh_token", "app.auth", "app.signing_key", "app.sslkey",
    '"app.apiKey"', "app.authorization", "app.encryption_key",
])
@pytest.mark.parametrize("template", [
    "SET {name} = 'Kx1'",
    "SET SESSION {name} TO 'Kx1'",
    "ALTER ROLE a SET {name} = 'Kx1'",
    "ALTER DATABASE d IN SCHEMA s SET {name} TO 'Kx1'",
    "ALTER SYSTEM SET {name} = 'Kx1'",
    "ALTER ROLE a IN DATABASE d SET {name} = E'Kx1'",
])
def test_settings_under_credential_names(template: str, name: str) -> None:
    _hidden_and_rest_kept(template.format(name=name))


@pytest.mark.parametrize("option", ["sslkey", "token", "apikey", "access_key", "private_key",
                                    "credentials", "credential", "api_key", "auth_token",
                                    "secret_access_key", "passwd"])
@pytest.mark.parametrize("template", [
    "CREATE SERVER s FOREIGN DATA WRAPPER w OPTIONS (host 'h', {option} 'Kx1')",
    "ALTER SERVER s OPTIONS (ADD {option} 'Kx1', SET port '1')",
    "CREATE USER MAPPING FOR a SERVER s OPTIONS (user 'u', {option} $$Kx1$$)",
    "ALTER USER MAPPING FOR a SERVER s OPTIONS (SET {option} 'Kx1')",
    "CREATE FOREIGN TABLE f (a int) SERVER s OPTIONS ({option} 'Kx1')",
])
def test_options_under_credential_names(template: str, option: str) -> None:
    _hidden_and_rest_kept(template.format(option=option))


@pytest.mark.parametrize("name", ["myapp.auth_token", "app.api_key", "svc.Credentials",
                                  "app.private_key", "app.token"])
@pytest.mark.parametrize("template", [
    "select set_config('{name}', 'Kx1', false)",
    "select json_build_object('{name}', 'Kx1')",
    "select jsonb_build_object('id', 1, '{name}', 'Kx1')",
    "select '{{\"{name}\": \"Kx1\"}}'::jsonb",
])
def test_values_named_by_a_credential_string(template: str, name: str) -> None:
    _hidden_and_rest_kept(template.format(name=name))


@pytest.mark.parametrize("name", [
    "api_key", "apiKey", "auth_token", "pw", "user_pwd", "db.pass", "access_token",
    "secret_key", "sslkey", "client_secret", "aws_access_key_id", "credentials",
    "private_key_pem", "x-api-key", "authorization", "session_key", "hmacKey", "ssh-key",
    "storage_account_key", "user_passcode", "jwt_secret", "webhook_keys",
])
def test_credential_names(name: str) -> None:
    assert credential_name(name)


@pytest.mark.parametrize("name", [
    "author", "authors", "authenticated", "max_tokens", "tokenizer", "keyword", "monkey",
    "primary_key", "key", "passenger", "compass", "bypass_rls", "pkey", "email", "id",
])
def test_names_that_hold_no_credential(name: str) -> None:
    assert not credential_name(name)


@pytest.mark.parametrize("sql", [
    "select * from books where author = 'Tolkien'",
    "update usage set max_tokens = 500 where id = 1",
    "SET search_path = 'app'",
    "insert into t (key, value) values ('color', 'red')",
    "select * from t where monkey = 'x'",
])
def test_other_names_keep_their_values(sql: str) -> None:
    assert redact_passwords(sql) == sql


@pytest.mark.parametrize("sql", [
    "update t set api_key = 'Kx1' where id = 1",
    "select * from t where auth_token = 'Kx1'",
    "insert into t (id, api_token) values (1, 'Kx1')",
    "DO $$ DECLARE access_token text := 'Kx1'; BEGIN END $$",
    "COPY t TO PROGRAM 'deploy --api-key Kx1'",
    "select 'token=Kx1 user=x'",
    "select 1 -- api_key: Kx1\n",
])
def test_credential_names_in_every_place(sql: str) -> None:
    assert "Kx1" not in redact_passwords(sql)


# -- 3. set_config with named arguments, casts, parentheses, comments -------------------

@pytest.mark.parametrize("sql", [
    "select set_config(setting_name => 'app.password', new_value => 'Kx1', is_local => false)",
    "select set_config(new_value => 'Kx1', setting_name => 'app.password', is_local => false)",
    "select set_config(setting_name := 'app.api_key', new_value := 'Kx1', is_local := true)",
    "select set_config('app.password'::text, 'Kx1'::text, false)",
    "select set_config( ('app.password') , ( 'Kx1' ), false)",
    "select set_config('app.password' /* the name */ , /* the value */ 'Kx1', false)",
    "select set_config(CAST('app.token' AS text), CAST('Kx1' AS text), false)",
    "select set_config(\n  'app.secret'\n  ,\n  'Kx1'\n  ,\n  false)",
    "select pg_catalog.set_config('app.password', lower('Kx1'), false)",
    "select set_config('app.password', 'Kx' || 'Kx1', false)",
])
def test_set_config_every_argument_form(sql: str) -> None:
    _hidden_and_rest_kept(sql)


@pytest.mark.parametrize(("statement", "hidden"), [
    ("select set_config(setting_name => 'app.password', new_value => $1, is_local => false)",
     {1}),
    ("select set_config('app.token'::text, $2::text, false) where $1", {2}),
    ("insert into u (name, password) select $1, $2", {2}),
    ("update u set (name, api_key) = ($1, $2)", {2}),
])
def test_parameters_in_the_new_places(statement: str, hidden: set[int]) -> None:
    assert password_parameters(statement) == hidden


# -- 5. rows written by INSERT ... SELECT, tuples, ON CONFLICT, COPY --------------------

@pytest.mark.parametrize("sql", [
    "INSERT INTO users (name, password) SELECT 'a', 'Kx1'",
    "insert into users (password, name) select 'Kx1', 'a' where true",
    "INSERT INTO users (name, password) SELECT v.a, v.b FROM (VALUES ('a', 'Kx1'), "
    "('b', 'Kx1')) v(a, b)",
    "INSERT INTO users (name, password) SELECT * FROM (VALUES ('a', 'Kx1')) v",
    "INSERT INTO users (name, password) SELECT 'a', crypt('Kx1', gen_salt('bf')) "
    "UNION ALL SELECT 'b', 'Kx1'",
    "UPDATE users SET (name, password) = ('a', 'Kx1') WHERE id = 1",
    "update users set (name, password) = row('a', 'Kx1')",
    "UPDATE users SET (name, api_key) = (SELECT 'a', 'Kx1')",
    "INSERT INTO users (name, password) VALUES ('a', 'b') ON CONFLICT (name) DO UPDATE "
    "SET password = COALESCE(EXCLUDED.password, 'Kx1')",
    "INSERT INTO users (name, password) VALUES ('a', 'b') ON CONFLICT (name) DO UPDATE "
    "SET (name, password) = (EXCLUDED.name, 'Kx1')",
    "update users set password = 'Kx' || 'Kx1' where id = 1",
    "update users set password = upper('Kx1'), n = 1",
    "MERGE INTO users u USING src s ON u.id = s.id WHEN NOT MATCHED THEN "
    "INSERT (name, password) VALUES ('a', 'Kx1')",
    "WITH v AS (SELECT 'a' AS name, 'Kx1'::text AS api_key) INSERT INTO t SELECT * FROM v",
    "select * from users where 'Kx1' = password",
    "select * from users where api_key IN ('Kx1', 'Kx1') and id = 1",
    "select * from users where auth_token <> 'Kx1'",
    "select jsonb_set(data, '{auth,api_key}', '\"Kx1\"') from t",
    "select 'api_key=>Kx1'::hstore",
    "UPDATE settings SET value = 'Kx1' WHERE name = 'smtp.password'",
    "INSERT INTO settings VALUES ('smtp.password', 'Kx1')",
    "CREATE TABLE t (id int, api_key text DEFAULT 'Kx1')",
    "ALTER TABLE t ALTER COLUMN api_key SET DEFAULT 'Kx1'",
    "CREATE FUNCTION f(p_token text DEFAULT 'Kx1') RETURNS int LANGUAGE sql AS 'select 1'",
    "select * from users where lower(token) = 'Kx1' and id = 1",
])
def test_rows_written_to_a_credential_column(sql: str) -> None:
    _hidden_and_rest_kept(sql)


@pytest.mark.parametrize("sql", [
    "UPDATE users SET password = 'Kx1' WHERE id = 5 AND name = 'keep'",
    "INSERT INTO users (name, password) SELECT 'keep', 'Kx1' FROM t WHERE n = 'keep'",
])
def test_the_rest_of_the_statement_is_kept(sql: str) -> None:
    out = _hidden_and_rest_kept(sql)
    assert out.count("'keep'") == sql.count("'keep'"), out


COPY_LOG = [
    P + "ERROR:  value too long for type character varying(3)",
    P + 'CONTEXT:  COPY users, line 2: "bob\tKx1"',
    P + "STATEMENT:  COPY users (name, password) FROM STDIN;",
    P + 'ERROR:  null value in column "email" of relation "users" violates not-null '
        "constraint",
    P + "DETAIL:  Failing row contains (bob, Kx2, null).",
    P + "STATEMENT:  INSERT INTO users (name, password, email) VALUES ($1, $2, $3)",
    P + "ERROR:  extra data after last expected column",
    P + 'CONTEXT:  COPY users, line 1: "bob,Kx3,x"',
    P + "STATEMENT:  COPY users (name, api_key) FROM STDIN WITH (FORMAT csv);",
    P + 'ERROR:  duplicate key value violates unique constraint "k_api_key_key"',
    P + "DETAIL:  Key (api_key)=(Kx4) already exists.",
    P + "STATEMENT:  INSERT INTO k (name, api_key) VALUES ($1, $2)",
]


@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
def test_copy_data_and_rows_of_a_credential_column(fmt: str) -> None:
    text = _render(COPY_LOG, fmt, "passwords")
    assert "Kx" not in text, text
    assert "value too long" in text


# -- 2. PREPARE / EXECUTE ----------------------------------------------------------------

def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _render(lines: list[str], fmt: str, mode: str | None) -> str:
    out = io.StringIO()
    sink = OutputSink(out, fmt=fmt, redact=mode)
    for event in parse_lines(lines):
        sink.write(event)
    sink.flush()
    return out.getvalue()


PREPARE_LOG = [
    # pgAudit logs the PREPARE and then each EXECUTE with the statement as sent.
    P + "LOG:  AUDIT: SESSION,1,1,MISC,PREPARE,,,"
    + _csv("PREPARE q(text, int) AS UPDATE users SET password = $1 WHERE id = $2")
    + ",<none>",
    Q + "LOG:  AUDIT: SESSION,1,1,MISC,PREPARE,,,"
    + _csv("PREPARE q(text) AS SELECT $1") + ",<none>",
    P + "LOG:  AUDIT: SESSION,2,1,WRITE,UPDATE,,," + _csv("EXECUTE q('Kx1', 7)") + ",<none>",
    P + "LOG:  statement: EXECUTE q('Kx2', 7)",
    P + "DETAIL:  prepare: PREPARE q(text, int) AS UPDATE users SET password = $1 WHERE id = $2",
    P + "LOG:  statement: execute /* again */ q ( E'Kx3' , 8 )",
    P + "ERROR:  role \"nosuch\" does not exist",
    P + "STATEMENT:  PREPARE r AS SELECT set_config('app.api_key', $1, false)",
    P + "LOG:  duration: 0.1 ms  statement: EXECUTE r('Kx4')",
    Q + "LOG:  statement: EXECUTE q('keep')",
    P + "LOG:  statement: DEALLOCATE q",
    P + "LOG:  statement: EXECUTE q('after-deallocate')",
    P + "LOG:  AUDIT: SESSION,3,1,MISC,PREPARE,,,"
    + _csv("PREPARE s AS UPDATE users SET name = $1; EXECUTE s('kept'); "
           "PREPARE t AS UPDATE users SET pw = $1; EXECUTE t('Kx5')") + ",<none>",
]


@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
def test_execute_arguments_that_fill_a_password_place(fmt: str) -> None:
    """An EXECUTE fills the parameters of a statement PREPAREd earlier in the same session:
    an argument that stands where the prepared statement takes a password is hidden."""
    text = _render(PREPARE_LOG, fmt, "passwords")
    assert "Kx" not in text, text
    if fmt == "events":  # (the others leave out log_statement lines or split the string)
        assert "'keep'" in text  # another session's q takes no password
        assert "'kept'" in text and "after-deallocate" in text


def test_execute_in_the_same_string_as_its_prepare() -> None:
    out = redact_passwords("PREPARE t(text) AS SELECT crypt($1, 'x'); EXECUTE t('Kx1')")
    assert "Kx1" not in out and "PREPARE t(text) AS SELECT crypt($1, 'x')" in out


def test_prepared_forms_without_a_password_place_stay() -> None:
    sql = "PREPARE q AS SELECT * FROM t WHERE id = $1; EXECUTE q(5)"
    assert redact_passwords(sql) == sql


# -- 4. RAISE messages that echo a credential ---------------------------------------------

RAISE_LOG = [
    P + "LOG:  statement: DO $$ DECLARE api_token text := 'Kx1'; BEGIN "
        "RAISE NOTICE 'using token %', api_token; END $$",
    P + "NOTICE:  using token Kx1",
    P + "CONTEXT:  PL/pgSQL function inline_code_block line 1 at RAISE",
    P + "LOG:  statement: DO $$ DECLARE s text; BEGIN SELECT pw INTO s FROM u LIMIT 1; "
        "RAISE NOTICE USING MESSAGE = 'pw is ' || s || '!', DETAIL = 'secret: ' || "
        "current_setting('app.password'); END $$",
    P + "NOTICE:  pw is Kx2!",
    P + "DETAIL:  secret: Kx3",
    P + "CONTEXT:  PL/pgSQL function inline_code_block line 1 at RAISE",
    P + "LOG:  statement: DO $$ DECLARE password text := 'Kx4'; BEGIN "
        "RAISE EXCEPTION 'bad password % for %', password, 'bob'; END $$",
    P + "ERROR:  bad password Kx4 for bob",
    P + "CONTEXT:  PL/pgSQL function inline_code_block line 1 at RAISE",
    P + "STATEMENT:  DO $$ DECLARE password text := 'Kx4'; BEGIN "
        "RAISE EXCEPTION 'bad password % for %', password, 'bob'; END $$",
    P + "LOG:  statement: DO $$ BEGIN RAISE WARNING 'user % has api token=%', u, f(u); END $$",
    P + "WARNING:  user bob has api token=Kx5",
    P + "CONTEXT:  PL/pgSQL function inline_code_block line 1 at RAISE",
    P + "LOG:  statement: DO $$ BEGIN RAISE NOTICE 'hello %', 'world'; END $$",
    P + "NOTICE:  hello world",
    P + "CONTEXT:  PL/pgSQL function inline_code_block line 1 at RAISE",
]


@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
def test_raise_messages_that_echo_a_credential(fmt: str) -> None:
    text = _render(RAISE_LOG, fmt, "passwords")
    assert "Kx" not in text, text
    assert "hello world" in text or fmt in ("records", "ocsf")  # (they leave out NOTICEs)


@pytest.mark.parametrize("sql", [
    "DO $$ BEGIN RAISE NOTICE 'user % pw %', 'keep', 'Kx1'; END $$",
    "DO $$ BEGIN RAISE EXCEPTION 'bad passwd % (%)', upper('Kx1'), 'keep'; END $$",
    "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS 'BEGIN RAISE LOG ''token %'', "
    "''Kx1''; END'",
])
def test_raise_arguments_in_the_source(sql: str) -> None:
    """The DO block (or function source) itself: a constant given to a ``%`` that the
    format says is a credential."""
    out = _hidden_and_rest_kept(sql)
    assert "keep" in out or "keep" not in sql


def test_raise_message_forms_are_hidden_in_events() -> None:
    text = _render(RAISE_LOG, "events", "passwords")
    assert "using token <REDACTED>" in text and "bad password <REDACTED> for bob" in text
    assert "pw is <REDACTED>!" in text
    assert "user bob has api token=<REDACTED>" in text


# -- the hunt: more forms of the same kind --------------------------------------------------

@pytest.mark.parametrize("sql", [
    "select 'SCRAM-SHA-256$4096:c2FsdA==$Kx1AAAA=:Kx1BBBB='",
    "update pg_authid set rolpassword = 'md5Kx1aaaaaaaaaaaaaaaaaaaaaaaaaaa'",
    "select dblink_connect('c', 'host=h user=u sslkey=/k token=Kx1')",
    "select dblink_exec('hostaddr=1.2.3.4 dbname=d passfile=x password = Kx1', 'select 1')",
    "CREATE SUBSCRIPTION s CONNECTION 'postgresql://u:Kx1@h:5432/d' PUBLICATION p",
    "select 'postgres://u@h/d?password=Kx1'",
    "ALTER SYSTEM SET primary_conninfo = 'host=h user=rep password=Kx1'",
    "select '{\"apiKey\": \"Kx1\"}'::json",
    "select E'{\"auth_token\":\\t\"Kx1\"}'",
])
def test_hunted_forms(sql: str) -> None:
    assert "Kx1" not in redact_passwords(sql)


def test_a_verifier_parameter_is_hidden() -> None:
    """A SCRAM or md5 verifier is as good as a password to whoever can replay it."""
    values = ["SCRAM-SHA-256$4096:c2FsdA==$Kx1=:Kx1=", "md5" + "0" * 32, "plain"]
    assert redact_parameters(values, "passwords", "select $1, $2, $3") == [
        REDACTED, REDACTED, "plain"]


def test_literals_mode_hides_them_too() -> None:
    for sql in ("SET app.api_key = 'Kx1'", "select set_config(new_value => 'Kx1', "
                "setting_name => 'app.token', is_local => false)"):
        assert "Kx1" not in (redact(sql, "literals") or "")



# -- every form, every output ---------------------------------------------------------------

FORMS = [
    "SET app.api_key = 'Kx01'",
    "ALTER ROLE a SET x.secret_key = 'Kx02'",
    "CREATE SERVER s FOREIGN DATA WRAPPER w OPTIONS (host 'h', token 'Kx03')",
    "select set_config(setting_name => 'myapp.auth_token', new_value => 'Kx04', "
    "is_local => false)",
    "select set_config('app.password'::text, /* c */ 'Kx05'::text, false)",
    "INSERT INTO users (name, password) SELECT 'a', 'Kx06'",
    "UPDATE users SET (name, password) = ('a', 'Kx07')",
    "INSERT INTO users (name, password) VALUES ('a', 'b') ON CONFLICT (name) DO UPDATE "
    "SET password = COALESCE(EXCLUDED.password, 'Kx08')",
    "ALTER ROLE a PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$Kx09=:Kx09='",
    "select dblink_connect('host=h token=Kx10')",
    "CREATE USER MAPPING FOR a SERVER s OPTIONS (user 'u', apikey 'Kx11')",
    "select '{\"accessToken\": \"Kx12\"}'::jsonb",
]


def _form_log() -> list[str]:
    lines: list[str] = []
    for n, sql in enumerate(FORMS, 1):
        lines += [P + f"LOG:  AUDIT: SESSION,{n},1,MISC,SET,,,{_csv(sql)},<none>",
                  P + "LOG:  statement: " + sql,
                  P + "LOG:  duration: 0.5 ms  statement: " + sql,
                  P + 'ERROR:  syntax error at or near "x"',
                  P + "STATEMENT:  " + sql]
    # lines that do not parse: the dead-letter file gets their raw text
    lines += [P + "LOG:  AUDIT: SESSION,99,1,MISC,SET,,,\"" + sql.replace('"', '""')
              for sql in FORMS]
    return lines


@pytest.mark.parametrize("args", [
    [], ["--redact", "none"], ["--format", "events", "--redact", "passwords"],
    ["--format", "events", "--redact", "literals"], ["--format", "ocsf"], ["--format", "ecs"],
])
def test_every_form_in_every_output(tmp_path: Any, args: list[str]) -> None:
    """Each new form, logged as pgAudit, log_statement, a duration and an ERROR's STATEMENT
    write it, and as a line that does not parse (the dead-letter file's raw text)."""
    import subprocess
    import sys

    log = tmp_path / "in.log"
    log.write_text("\n".join(_form_log()) + "\n")
    dead = tmp_path / "dead.jsonl"
    run = subprocess.run([sys.executable, "-m", "pgaudit_parse", *args, "--errors", str(dead),
                          str(log)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout
    text = run.stdout + run.stderr
    assert [f"Kx{n:02d}" for n in range(1, len(FORMS) + 1) if f"Kx{n:02d}" in text] == []
    raw = dead.read_text()
    assert raw.count("\n") == len(FORMS)
    if args != ["--redact", "none"]:  # (records: the dead letters as asked, unredacted)
        assert "Kx" not in raw, raw


def test_values_a_statement_hid_stay_hidden_in_the_session() -> None:
    """A message of the same backend that echoes a value the statement's redaction hid
    (also after the sub-statements pgAudit logs in between); another backend's keeps it."""
    lines = [
        P + "LOG:  statement: DO $$ DECLARE api_token text := 'Kx7-value'; BEGIN "
            "PERFORM f(api_token); END $$",
        P + "LOG:  AUDIT: SESSION,1,2,FUNCTION,EXECUTE,FUNCTION,public.f,"
            + _csv("SELECT f(api_token)") + ",<none>",
        P + "WARNING:  f got Kx7-value",
        Q + "WARNING:  f got Kx7-value",
    ]
    text = _render(lines, "events", "passwords")
    assert text.count("Kx7-value") == 1 and "f got <REDACTED>" in text, text


def test_every_form_in_ocsf_parquet(tmp_path: Any) -> None:
    import subprocess
    import sys

    import pyarrow.parquet as pq  # (the test extra has pyarrow)

    log = tmp_path / "in.log"
    log.write_text("\n".join(_form_log() + PREPARE_LOG + RAISE_LOG) + "\n")
    out = tmp_path / "lake"
    run = subprocess.run([sys.executable, "-m", "pgaudit_parse", "-q", "--format",
                          "ocsf-parquet", "--output", str(out), "--account-id",
                          "123456789012", "--lake-region", "eu-west-1", str(log)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    rows = "\n".join(str(pq.read_table(f).to_pylist()) for f in out.rglob("*.parquet"))
    assert "ALTER ROLE a SET x.secret_key = <REDACTED>" in rows
    assert "Kx" not in rows


def test_the_stage_fast_paths_skip_nothing_the_session_needs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage's skips (no credential cue, no session cue) change no event of these logs:
    the same stage with every pre-check answering "look closer" gives the same events."""
    from pgaudit_parse.sql import stage as stage_module
    from pgaudit_parse.sql.stage import SqlStage

    lines = (_form_log()[:-len(FORMS)] + PREPARE_LOG + RAISE_LOG + COPY_LOG
             + [P + "LOG:  statement: select 1", Q + "LOG:  statement: EXECUTE q('x1')"])
    events = list(parse_lines(lines))
    for mode in ("passwords", "literals"):
        fast_stage = SqlStage(mode)
        fast = [fast_stage.apply(e) for e in events]
        with monkeypatch.context() as m:
            m.setattr(stage_module, "_may_hold_credential", lambda event: True)
            m.setattr(stage_module, "_session_cue", lambda text: True)
            slow_stage = SqlStage(mode)
            slow = [slow_stage.apply(e) for e in events]
        assert fast == slow, mode
