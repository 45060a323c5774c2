"""No password reaches our outputs: every format, every field, the summary and its report.

Each marker ``PwLeakNN`` is a secret the log holds in one of the places PostgreSQL or
pgAudit let one through; a test fails when any output carries one.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pglast.parser
import pytest
from sql_strategies import LITERAL_FORMS, render_literal

from pgaudit_parse import parse_lines
from pgaudit_parse.formats import guardium
from pgaudit_parse.ops.html_report import render_html
from pgaudit_parse.ops.summary import Summary
from pgaudit_parse.sinks import OutputSink
from pgaudit_parse.sql import REDACTED, redact, redact_parameters, redact_passwords
from pgaudit_parse.sql.stage import SqlStage, redact_context

P = "2026-11-25 16:05:05 UTC:10.0.1.25(50012):alice@shop:[4242]:"


def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


LOG = [
    P + "LOG:  AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,," + _csv("ALTER ROLE bob PASSWORD 'PwLeak01'")
    + ",<not logged>",
    P + "LOG:  AUDIT: SESSION,2,1,FUNCTION,EXECUTE,FUNCTION,public.f,"
    + _csv("select f($1, $2)") + ',"bob,host=h password=PwLeak02"',
    P + "LOG:  AUDIT: SESSION,3,1,ROLE,ALTER ROLE,,," + _csv("ALTER ROLE x PASSWORD $1")
    + ",PwLeak03",
    P + "LOG:  AUDIT: SESSION,4,1,ROLE,CREATE ROLE,,,"
    + _csv("CREATE ROLE z LOGIN PASSWORD $$PwLeak04$$") + ",<not logged>",
    P + "LOG:  AUDIT: OBJECT,4,1,ROLE,CREATE ROLE,,,<previously logged>,<previously logged>",
    P + "ERROR:  could not establish connection",
    P + "DETAIL:  connection to server failed: host=h password=PwLeak05",
    P + "CONTEXT:  SQL statement \"ALTER ROLE q PASSWORD 'PwLeak06'\"",
    "\tPL/pgSQL function inline_code_block line 1 at SQL statement",
    P + "STATEMENT:  DO $$BEGIN ALTER ROLE q PASSWORD 'PwLeak06'; END$$",
    P + "LOG:  statement: ALTER ROLE bob PASSWORD 'PwLeak07'",
    P + "LOG:  duration: 1.234 ms  statement: ALTER ROLE bob PASSWORD E'PwLeak08'",
    P + "ERROR:  role \"q\" does not exist",
    P + "QUERY:  ALTER ROLE q PASSWORD 'PwLeak09'",
    P + "CONTEXT:  PL/pgSQL function f() line 3 at EXECUTE",
    P + "STATEMENT:  select f()",
    P + "LOG:  AUDIT: SESSION,5,1,ROLE,GRANT,,," + _csv("GRANT r TO bob") + ",<not logged>",
]
MARKERS = [f"PwLeak{i:02d}" for i in range(1, 10)]


def _leaks(text: str) -> list[str]:
    return [m for m in MARKERS if m in text]


def test_the_log_holds_every_marker() -> None:
    events = list(parse_lines(LOG))
    assert _leaks("\n".join(repr(e) for e in events)) == MARKERS


def _render(fmt: str, redact: str | None) -> str:
    out = io.StringIO()
    sink = OutputSink(out, fmt=fmt, redact=redact)
    for event in parse_lines(LOG):
        sink.write(event)
    sink.flush()
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["ocsf", "ecs"])
@pytest.mark.parametrize("redact", [None, "passwords", "literals"])
def test_ocsf_and_ecs_carry_no_password(fmt: str, redact: str | None) -> None:
    """OCSF and ECS are security outputs like records: no password by default (the raw
    ``message``, pgAudit's parameters, DETAIL, CONTEXT and QUERY included), and
    ``--redact`` reaches every field of theirs."""
    text = _render(fmt, redact)
    assert text
    assert _leaks(text) == []


@pytest.mark.parametrize("fmt", ["ocsf", "ecs"])
def test_ocsf_and_ecs_keep_everything_when_asked(fmt: str) -> None:
    text = _render(fmt, "none")
    assert "PwLeak02" in text  # --redact none: the log as it is, as asked


def test_ocsf_parquet_carries_no_password(tmp_path: Path) -> None:
    import pyarrow.parquet as pq  # (the test extra has pyarrow)

    log = tmp_path / "in.log"
    log.write_text("\n".join(LOG) + "\n")
    out = tmp_path / "lake"
    run = subprocess.run([sys.executable, "-m", "pgaudit_parse", "-q", "--format",
                          "ocsf-parquet", "--output", str(out), "--account-id",
                          "123456789012", "--lake-region", "eu-west-1", str(log)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    rows = [json.dumps(pq.read_table(f).to_pylist(), default=str)
            for f in out.rglob("*.parquet")]
    assert rows
    assert _leaks("\n".join(rows)) == []


@pytest.mark.parametrize("mode", ["passwords", "literals"])
def test_events_redacted_hold_no_password(mode: str) -> None:
    text = _render("events", mode)
    assert _leaks(text) == []


def test_summary_lists_no_password(tmp_path: Path) -> None:
    """The privilege-change table of ``summary`` (text, JSON, HTML) shows statements:
    their passwords are hidden."""
    summary = Summary()
    for event in parse_lines(LOG + TYPO_LOG):
        summary.add(event)
    text = summary.render_text()
    assert "ALTER ROLE bob PASSWORD <REDACTED>" in text
    assert _leaks(text) == []
    assert _leaks(json.dumps(summary.to_dict(), default=str)) == []
    assert _leaks(render_html(summary)) == []


def test_summary_command_prints_no_password(tmp_path: Path) -> None:
    log = tmp_path / "in.log"
    log.write_text("\n".join(LOG + TYPO_LOG) + "\n")
    html = tmp_path / "r.html"
    run = subprocess.run([sys.executable, "-m", "pgaudit_parse", "summary", "--html",
                          str(html), str(log)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert _leaks(run.stdout + run.stderr + html.read_text()) == []


PARAMETER_LOG = [
    P + "LOG:  execute S_1: ALTER ROLE bob PASSWORD $1",
    P + "DETAIL:  parameters: $1 = 'PwLeak01'",
    P + "LOG:  duration: 0.1 ms  bind <unnamed>: ALTER ROLE bob VALID UNTIL $2 PASSWORD $1",
    P + "DETAIL:  parameters: $1 = 'PwLeak02', $2 = 'infinity'",
]


def test_parameters_that_stand_for_a_password_are_hidden() -> None:
    """``execute``/``bind`` messages with ``PASSWORD $k``: DETAIL's ``$k = '...'`` is the
    password (as pgAudit's PARAMETER is for its statement)."""
    stage = SqlStage("passwords")
    events = [stage.apply(e)[0] for e in parse_lines(PARAMETER_LOG)]
    details = [e.detail for e in events]
    assert details == ["parameters: $1 = <REDACTED>",
                       "parameters: $1 = <REDACTED>, $2 = 'infinity'"]


def test_literals_mode_hides_connection_string_passwords_in_detail_and_context() -> None:
    """``literals`` hides every constant, passwords included: also a DETAIL or CONTEXT
    line that echoes a connection string with a password."""
    stage = SqlStage("literals")
    lines = [P + "ERROR:  could not establish connection",
             P + "DETAIL:  connection to server failed: host=h password=PwLeak01",
             P + "CONTEXT:  while connecting to postgresql://u:PwLeak02@h/db",
             P + "STATEMENT:  select dblink_connect($1)"]
    [event] = [stage.apply(e)[0] for e in parse_lines(lines)]
    assert _leaks(repr(event)) == []


@pytest.mark.parametrize("sql", [
    "SET app.password = 'PwLeak01'",
    "set my.db_password to 'PwLeak01'",
    "SET SESSION app.password = E'PwLeak01'",
    "ALTER ROLE a SET app.password = 'PwLeak01'",
    "ALTER DATABASE d SET app.password TO $$PwLeak01$$",
    "select set_config('app.password', 'PwLeak01', false)",
    "update users set password = 'PwLeak01' where id = 1",
    "select * from users where password = 'PwLeak01'",
    "DO $$ DECLARE password text := 'PwLeak01'; BEGIN END $$",
    "select pgp_sym_encrypt('data', 'PwLeak01')",
    "select pgp_sym_encrypt_bytea(d, 'PwLeak01', 'cipher-algo=aes256')",
    "select pgp_sym_decrypt(col, 'PwLeak01') from t",
    "SELECT PGP_SYM_DECRYPT_BYTEA(col, /* k */ 'PwLeak01') from t",
    "select pgp_pub_decrypt(d, dearmor('PwLeak01'), 'PwLeak01')",
    "select crypt('PwLeak01', gen_salt('bf'))",
    "update u set pw = crypt(E'PwLeak01', pw) where n = 'bob'",
    "select encrypt('data', 'PwLeak01', 'aes')",
    "select decrypt_iv(d, 'PwLeak01'::bytea, 'iv', 'aes')",
    "select public.hmac('data', 'PwLeak01', 'sha256')",
    "ALTER ROLE a PASSWORD ( 'PwLeak01' )",
    "ALTER ROLE a PASSWORD '' 'PwLeak01'",
    "ALTER ROLE a PASSWORD 'Pw' 'Leak01'",
    "DO $$BEGIN EXECUTE format('ALTER ROLE a PASSWORD %L', 'PwLeak01'); END$$",
    "select format('alter user %I with password %L', 'a', 'PwLeak01')",
    "DO $$BEGIN EXECUTE 'ALTER ROLE a PASSWORD ' || quote_literal('PwLeak01'); END$$",
    "ALTER SYSTEM SET ssl_passphrase_command = 'echo PwLeak01'",
    "SET app.client_secret TO 'PwLeak01'",
    "select set_config('app.secret', 'PwLeak01', false)",
    "CREATE SERVER s FOREIGN DATA WRAPPER x OPTIONS (aws_secret_access_key 'PwLeak01')",
    "select jsonb_build_object('client_secret', 'PwLeak01')",
    "insert into t values ('{\"secret\": \"PwLeak01\"}')",
    "INSERT INTO users (name, password) VALUES ('bob', 'PwLeak01')",
    "insert into app.users as u (id, \"Password\", note) values (1, E'PwLeak01', 'x'), "
    "(2, 'PwLeak01', 'y') on conflict do nothing",
    "INSERT INTO users (name, pw_password_hash) VALUES ('bob', crypt('PwLeak01', 'x'))",
    "COPY t TO PROGRAM 'mysqldump --password PwLeak01 db'",
    "COPY t TO PROGRAM 'curl -u app:PwLeak01 -T - https://h/up'",
    "copy t from program 'mysql -pPwLeak01 -e \"select 1\"'",
    "COPY t TO PROGRAM E'AWS_SECRET_ACCESS_KEY=PwLeak01 aws s3 cp - s3://b/k'",
    "COPY (select 1) TO PROGRAM 'GITHUB_TOKEN=PwLeak01 ./upload.sh'",
    "COPY t TO PROGRAM 'curl --password=PwLeak01 http://h'",
])
def test_passwords_in_more_places(sql: str) -> None:
    out = redact_passwords(sql)
    assert "PwLeak01" not in out and "Leak01" not in out, out
    # PostgreSQL's own scanner (pglast) is the oracle: the secret is a string constant,
    # and every token that is not a constant is kept as it was.
    tokens = pglast.parser.scan(sql)
    assert any("Leak01" in sql[t.start:t.end + 1] for t in tokens if t.name in _CONSTANTS)
    kept = pglast.parser.scan(out.replace(REDACTED, "''"))
    assert _others(sql, tokens) == _others(out.replace(REDACTED, "''"), kept)


_CONSTANTS = frozenset({"SCONST", "USCONST", "ICONST", "FCONST", "BCONST", "XCONST"})


def _others(sql: str, tokens: list[Any]) -> list[str]:
    """The texts of the tokens that are not constants (a DO body is one constant)."""
    return [sql[t.start:t.end + 1] for t in tokens if t.name not in _CONSTANTS]


@pytest.mark.parametrize("sql", [
    "select 1",
    "create table t (password text, b int default 5)",
    "select password, 'x' from t",
    "SET search_path = 'app'",
    "select crypt_count from t where n = 'x'",
    "select set_config('search_path', 'app', false)",
    "select encrypt_me('x')",
    "COPY t TO PROGRAM 'gzip > /tmp/t.gz'",
    "select * from programs where name = 'x'",
    "INSERT INTO users (name, email) VALUES ('bob', 'a@b'); insert into t values ('x')",
    "insert into t select 'a' from users where name = 'password'",
])
def test_no_password_no_change(sql: str) -> None:
    assert redact_passwords(sql) == sql


TYPO_LOG = [
    P + 'ERROR:  syntax error at or near "PwLeak01" at character 25',
    P + "STATEMENT:  ALTER ROLE bob PASSWORD PwLeak01 VALID UNTIL 'infinity'",
    P + "ERROR:  unterminated quoted string at or near \"'PwLeak02\" at character 25",
    P + "STATEMENT:  alter user bob password 'PwLeak02",
]


@pytest.mark.parametrize("fmt", ["records", "ocsf", "ecs"])
@pytest.mark.parametrize("redact", [None, "passwords", "literals"])
def test_a_password_the_server_echoes_in_its_error_is_hidden(fmt: str,
                                                             redact: str | None) -> None:
    """A password typed without quotes (or with one) is a syntax error: the server quotes
    it in the message and logs the statement; neither may carry it."""
    out = io.StringIO()
    sink = OutputSink(out, fmt=fmt, redact=redact)
    for event in parse_lines(TYPO_LOG):
        sink.write(event)
    sink.flush()
    text = out.getvalue()
    assert text.count("PwLeak") == 0, text
    assert "syntax error at or near" in text and "VALID UNTIL" in text


@pytest.mark.parametrize("values", ["connector", "postgres"])
def test_records_never_carry_an_echoed_password(values: str) -> None:
    """Records hide passwords whatever ``--redact`` says: also in ``description``."""
    out = io.StringIO()
    sink = OutputSink(out, fmt="records", redact="none", values=values)
    for event in parse_lines(TYPO_LOG):
        sink.write(event)
    sink.flush()
    assert _leaks(out.getvalue()) == [] and out.getvalue().count("<REDACTED>") == 4
    records = [guardium.to_guardium(e, values=values) for e in parse_lines(TYPO_LOG)]
    assert _leaks(json.dumps(records)) == []


@pytest.mark.parametrize("sql", [
    "ALTER ROLE bob PASSWORD PwLeak01",
    "create user bob with login password PwLeak01 valid until 'infinity'",
    "select 1; ALTER GROUP g PASSWORD PwLeak01",
])
def test_an_unquoted_password_is_hidden(sql: str) -> None:
    assert "PwLeak01" not in redact_passwords(sql)


@pytest.mark.parametrize("sql", [
    "ALTER ROLE a PASSWORD NULL",
    "create table t (password text, b int)",
    "select password from users",
    "CREATE USER MAPPING FOR a SERVER s OPTIONS (user 'u')",
])
def test_identifiers_after_password_elsewhere_stay(sql: str) -> None:
    assert redact_passwords(sql) == sql


BAD_LINES = [
    P + "LOG:  AUDIT: SESSION,7,1,ROLE,ALTER ROLE,,,\"ALTER ROLE bob PASSWORD 'PwLeak01'",
    "not a log line: ALTER ROLE bob PASSWORD 'PwLeak02'",
]


@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
@pytest.mark.parametrize("redact", [None, "passwords", "literals", "none"])
def test_dead_letters_are_redacted_as_the_output_is(tmp_path: Path, fmt: str,
                                                    redact: str | None) -> None:
    """``--errors`` gets the raw text of a line that did not parse: redacted in the output's
    mode (records, OCSF and ECS: no password by default; ``--redact none`` keeps it)."""
    log = tmp_path / "in.log"
    log.write_text("\n".join(BAD_LINES) + "\n")
    dead = tmp_path / "dead.jsonl"
    args = ["--redact", redact] if redact else []
    run = subprocess.run([sys.executable, "-m", "pgaudit_parse", "-q", "--format", fmt,
                          "--errors", str(dead), *args, str(log)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    rejects = [json.loads(line) for line in dead.read_text().splitlines()]
    assert len(rejects) == 2
    raw = "\n".join(r["raw"] for r in rejects)
    mode = redact or ("none" if fmt == "events" else "passwords")
    assert _leaks(raw) == ([] if mode != "none" else ["PwLeak01", "PwLeak02"])
    assert _leaks(run.stdout + run.stderr) == []


def test_summary_dead_letters_hold_no_password(tmp_path: Path) -> None:
    log = tmp_path / "in.log"
    log.write_text("\n".join(BAD_LINES) + "\n")
    dead = tmp_path / "dead.jsonl"
    run = subprocess.run([sys.executable, "-m", "pgaudit_parse", "summary", "--errors",
                          str(dead), str(log)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "<REDACTED>" in dead.read_text()
    assert _leaks(dead.read_text() + run.stdout + run.stderr) == []


@pytest.mark.parametrize(("statement", "values", "hidden"), [
    ("UPDATE users SET password = $1 WHERE id = $2", ["PwLeak01", "7"], [1]),
    ("INSERT INTO users (name, password) VALUES ($1, $2)", ["bob", "PwLeak01"], [2]),
    ("insert into users (password_hash, name) values (crypt($1, gen_salt('bf')), $2)",
     ["PwLeak01", "bob"], [1]),
    ("select set_config('app.password', $1, false)", ["PwLeak01"], [1]),
    ("select pgp_sym_decrypt(data, $2) from t where id = $1", ["7", "PwLeak01"], [2]),
    ("select * from users where name = $1 and password = $2", ["bob", "PwLeak01"], [2]),
])
def test_parameters_in_every_password_place(statement: str, values: list[str],
                                            hidden: list[int]) -> None:
    """pgAudit's PARAMETER (``pgaudit.log_parameter``) and an execute line's DETAIL carry
    the values of ``$n``: a value that stands where ``passwords`` hides a constant is
    hidden (the password of a user being added, not only of ALTER ROLE)."""
    out = redact_parameters(values, "passwords", statement)
    assert out == [REDACTED if k in hidden else v for k, v in enumerate(values, 1)]
    lines = [P + "LOG:  AUDIT: SESSION,1,1,WRITE,UPDATE,,," + _csv(statement) + ","
             + _csv(",".join(values)),
             P + "LOG:  execute S_1: " + statement,
             P + "DETAIL:  parameters: " + ", ".join(
                 f"${k} = '{v}'" for k, v in enumerate(values, 1))]
    for fmt in ("events", "ocsf", "ecs"):
        out_text = io.StringIO()
        sink = OutputSink(out_text, fmt=fmt, redact="passwords")
        for event in parse_lines(lines):
            sink.write(event)
        sink.flush()
        assert _leaks(out_text.getvalue()) == [], fmt


# Every new place a password goes, in every lexical form of the constant.
PLACES = [
    "SET app.password = {lit}",
    "ALTER DATABASE d SET app.secret TO {lit}",
    "select set_config('app.password', {lit}, false)",
    "update users set password = {lit} where id = 1",
    "select crypt({lit}, gen_salt('bf'))",
    "select pgp_sym_decrypt(d, /* key */ {lit})",
    "select hmac('d', {lit}, 'sha256')",
    "INSERT INTO users (name, password) VALUES ('bob', {lit})",
    "select format('ALTER ROLE %I PASSWORD %L', 'a', {lit})",
    "ALTER ROLE a PASSWORD ( {lit} )",
]


@pytest.mark.parametrize("template", PLACES)
@pytest.mark.parametrize("form", LITERAL_FORMS)
def test_every_place_in_every_literal_form(template: str, form: str) -> None:
    secret = "Pw'Leak\\01$"
    sql = template.format(lit=render_literal(form, secret, tag="pw"))
    for mode in ("passwords", "literals"):
        out = redact(sql, mode) or ""
        assert "Leak" not in out, (mode, out)


@pytest.mark.parametrize("sql", [
    "select * from t where kind = 'password' and n = 5",
    "select 'top secret' || name, 'x' from t",
    "select 'ALTER ROLE a PASSWORD ' || r, 'kept' from t",
    "select 'my password', 'kept'",
])
def test_a_word_is_not_a_password_left_open(sql: str) -> None:
    """Only SQL that ends with PASSWORD and a space (``'... PASSWORD ' || x``) leaves its
    value to what follows, and only within its expression."""
    out = redact_passwords(sql)
    assert ("kept" in out or "kept" not in sql) and ("5" in out or "5" not in sql), out
    assert "'x'" in out or "'x'" not in sql, out


# CONTEXT lines PostgreSQL 15 writes (as a real server logged them): what they quote.
CONTEXTS = [
    ("passwords", 'PL/pgSQL assignment "password := \'PwLeak01\' || 1/0"\n'
                  "PL/pgSQL function inline_code_block line 1 at assignment"),
    ("passwords", "SQL expression \"crypt('PwLeak01', salt) = hash\"\n"
                  "PL/pgSQL function f() line 3 at IF"),
    ("passwords", "SQL statement \"ALTER ROLE a\nPASSWORD 'PwLeak01'\nVALID UNTIL 'x'\"\n"
                  "PL/pgSQL function inline_code_block line 1 at EXECUTE"),
    ("passwords", 'COPY u, line 1, column password: "PwLeak01"'),
    ("passwords", 'COPY u, line 3: "bob\thost=h password=PwLeak01"'),
    ("passwords", 'JSON data, line 1: {"password": "PwLeak01", }'),
    ("literals", 'SQL expression "length(\'PwLeak01\') / 0 > 1"\n'
                 "PL/pgSQL function inline_code_block line 1 at IF"),
    ("literals", 'PL/pgSQL assignment "p := 1/0 + length(\'PwLeak01\')"'),
    ("literals", 'COPY u, line 1, column id: "PwLeak01"'),
    ("literals", 'JSON data, line 1: {"a": "PwLeak01", }'),
]


@pytest.mark.parametrize(("mode", "context"), CONTEXTS)
def test_context_lines_quote_no_secret(mode: str, context: str) -> None:
    out = redact_context(context, mode) or ""
    assert "PwLeak01" not in out, out
    assert out.count("\n") == context.count("\n")  # every line kept
    assert out.split(" ")[0] == context.split(" ")[0]


def test_context_of_a_real_server_run_through_every_format() -> None:
    lines = [P + "ERROR:  division by zero",
             P + "CONTEXT:  " + CONTEXTS[0][1].replace("\n", "\n\t"),
             P + "STATEMENT:  DO $$DECLARE password text; BEGIN password := 'PwLeak01' || 1/0;"
                 " END$$;",
             P + "ERROR:  value too long for type character varying(3)",
             P + "CONTEXT:  " + CONTEXTS[3][1],
             P + "STATEMENT:  COPY u FROM STDIN;"]
    for fmt in ("records", "ocsf", "ecs"):
        out = io.StringIO()
        sink = OutputSink(out, fmt=fmt)
        for event in parse_lines(lines):
            sink.write(event)
        sink.flush()
        assert _leaks(out.getvalue()) == [], fmt


ROW_LOG = [
    P + 'ERROR:  null value in column "email" of relation "users" violates not-null constraint',
    P + "DETAIL:  Failing row contains (bob, PwLeak01, null).",
    P + "STATEMENT:  INSERT INTO users (name, password, email) VALUES ('bob', 'PwLeak01', NULL)",
    P + 'ERROR:  duplicate key value violates unique constraint "users_pw_key"',
    P + "DETAIL:  Key (pw_secret)=(PwLeak02) already exists.",
    P + "STATEMENT:  INSERT INTO users (name, pw_secret) VALUES ('bob', 'PwLeak02')",
    P + 'ERROR:  invalid input syntax for type timestamp: "PwLeak03"',
    P + "STATEMENT:  UPDATE users SET password_changed = 'PwLeak03' WHERE id = 7",
]


@pytest.mark.parametrize("fmt", ["ocsf", "ecs", "records"])
@pytest.mark.parametrize("redact", [None, "passwords", "literals"])
def test_rows_and_values_an_error_echoes_are_hidden(fmt: str, redact: str | None) -> None:
    """An error on a statement that carries a password echoes it: in the row DETAIL shows
    (not-null, check, unique on a credential column) or in a message that quotes a value."""
    out = io.StringIO()
    sink = OutputSink(out, fmt=fmt, redact=redact)
    for event in parse_lines(ROW_LOG):
        sink.write(event)
    sink.flush()
    text = out.getvalue()
    assert text and _leaks(text) == [], text
    assert "violates not-null constraint" in text and "invalid input syntax" in text


@pytest.mark.parametrize("sql", [
    "ALTER ROLE a PASSWORD \u00a0'PwLeak01'",
    "ALTER ROLE a PASSWORD\u00a0PwLeak01 VALID UNTIL 'infinity'",
    "ALTER ROLE a PASSWORD \u2003PwLeak01",
    "SET app.password\u00a0=\u00a0'PwLeak01'",
    "ALTER ROLE a PASSWORD\u3000'PwLeak01'\u3000VALID UNTIL 'x'",
    "select crypt(\u00a0'PwLeak01', 'x')",
])
@pytest.mark.parametrize("mode", ["passwords", "literals"])
def test_non_ascii_spaces(sql: str, mode: str) -> None:
    """PostgreSQL reads a non-ASCII space (U+00A0, U+2003, U+3000) as a letter: it joins
    the words around it into one identifier, or stands as one of its own."""
    out = redact(sql, mode) or ""
    assert "PwLeak01" not in out and "Leak" not in out, out


@pytest.mark.parametrize("sql", [
    "select 1 -- password=PwLeak01\n",
    "/* connect with postgres://u:PwLeak01@h/db */ select 1",
    "select 1 /* {\"password\": \"PwLeak01\"} */, 'a'",
    "update t set a = 5 -- was: psql --password PwLeak01",
    "select 'a' -- password=PwLeak01\n'b', 1 -- note",
])
@pytest.mark.parametrize("mode", ["passwords", "literals"])
def test_comments_that_hold_a_credential(sql: str, mode: str) -> None:
    """Comments are kept in both modes, but not one that holds a credential."""
    out = redact(sql, mode) or ""
    assert "PwLeak01" not in out, out
    if "'b'" not in sql:  # (a comment inside a continued constant goes with it)
        assert ("-- <REDACTED>" in out) != ("/* <REDACTED> */" in out)
    assert redact("select 1 -- a plain note\n", mode) == (
        "select 1 -- a plain note\n" if mode == "passwords" else "select $1 -- a plain note\n")
