"""Secrets and constants in the parts of a message that are not its statement, with inputs
other than the real-server test's (tests/test_creds_echoes_real.py): named portals,
values over several lines or cut short, other messages that quote an input value, names
the server lower-cased, auto_explain plans in every format, a CONTEXT that shows a
password; and what must stay as it is."""

from __future__ import annotations

import pytest

from pgaudit_parse import parse_lines
from pgaudit_parse.events import Event
from pgaudit_parse.sql.redact import redact, redact_echo, redact_quoted_value
from pgaudit_parse.sql.stage import SqlStage, redact_context

P = "2026-11-25 16:05:01 UTC:10.0.0.5(5000):bob@shop:[42]:"


def _apply(mode: str, lines: list[str]) -> list[Event]:
    stage = SqlStage(mode)
    return [stage.apply(e)[0] for e in parse_lines(lines)]


def _text(events: list[Event]) -> str:
    return "\n".join(repr(e) for e in events)


# -- bind parameters in an error's CONTEXT ------------------------------------------------

NAMED_PORTAL = [
    P + 'ERROR:  value too long for type character varying(8)',
    P + "CONTEXT:  portal \"C_7\" with parameters: $1 = 'Ann O''Neil', $2 = 'Tk''9secret'",
    P + "STATEMENT:  UPDATE u SET name = $1, api_key = $2 WHERE id = 3",
]


def test_named_portal_parameters_hide_the_credential_in_passwords_mode() -> None:
    (error,) = _apply("passwords", NAMED_PORTAL)
    assert error.context == ("portal \"C_7\" with parameters: $1 = 'Ann O''Neil', "
                             "$2 = <REDACTED>")


def test_named_portal_parameters_are_all_hidden_in_literals_mode() -> None:
    (error,) = _apply("literals", NAMED_PORTAL)
    assert error.context == 'portal "C_7" with parameters: $1 = <REDACTED>, $2 = <REDACTED>'


def test_a_parameter_over_several_lines_is_hidden_whole() -> None:
    lines = [P + 'ERROR:  invalid input syntax for type integer: "first',
             "\tSecondLine9x"
             '"',
             P + "CONTEXT:  unnamed portal with parameters: $1 = 'first",
             "\tSecondLine9x'",
             P + "STATEMENT:  SELECT set_config('app.auth_token', $1, false)::int"]
    for mode in ("passwords", "literals"):
        (error,) = _apply(mode, lines)
        assert "SecondLine9x" not in _text([error]), mode
        assert error.context == "unnamed portal with parameters: $1 = <REDACTED>"


def test_a_parameter_cut_short_is_hidden_where_the_message_quotes_it_whole() -> None:
    lines = [P + 'ERROR:  invalid input value for enum mood: "Pz7-longer-secret"',
             P + "CONTEXT:  unnamed portal parameter $2 = 'Pz7-long...'",
             P + "STATEMENT:  INSERT INTO m (name, password) VALUES ($1, $2)"]
    (error,) = _apply("passwords", lines)
    assert "Pz7" not in _text([error])


def test_a_parameter_that_is_no_credential_stays_in_passwords_mode() -> None:
    lines = [P + 'ERROR:  invalid input syntax for type integer: "Plain42x"',
             P + "CONTEXT:  unnamed portal parameter $1 = 'Plain42x'",
             P + "STATEMENT:  SELECT * FROM t WHERE id = $1"]
    (error,) = _apply("passwords", lines)
    assert error.message == 'invalid input syntax for type integer: "Plain42x"'
    assert error.context == "unnamed portal parameter $1 = 'Plain42x'"
    (error,) = _apply("literals", lines)
    assert "Plain42x" not in _text([error])


def test_the_parameter_echo_is_remembered_for_the_session() -> None:
    lines = [P + 'ERROR:  invalid input syntax for type integer: "Hush-4455"',
             P + "CONTEXT:  unnamed portal with parameters: $1 = 'Hush-4455'",
             P + "STATEMENT:  SELECT crypt($1, 'xx')::int",
             P + "WARNING:  could not use Hush-4455 here"]
    events = _apply("passwords", lines)
    assert "Hush-4455" not in _text(events)


# -- messages that quote an input value ---------------------------------------------------

@pytest.mark.parametrize("message", [
    'invalid input syntax for type uuid: "Vq1"',
    'invalid input syntax for type timestamp with time zone: "Vq1"',
    'invalid input value for enum "public"."mood": "Vq1"',
    'malformed array literal: "{Vq1"',
    'malformed range literal: "Vq1"',
    'value "Vq1" is out of range for type integer',
    'invalid value for parameter "work_mem": "Vq1"',
    'date/time field value out of range: "Vq1"',
    'time zone "Vq1" not recognized',
    'invalid input syntax for type integer: "Vq1" at character 8',
    'invalid input syntax for type integer: "Vq1\nand more"',
])
def test_a_message_that_quotes_an_input_value_hides_it(message: str) -> None:
    assert "Vq1" not in redact_quoted_value(message)


@pytest.mark.parametrize("message", [
    'role "Vq1" does not exist', 'relation "Vq1" does not exist',
    'column "Vq1" does not exist', 'unrecognized configuration parameter "Vq1"',
    'syntax error at or near "Vq1"',
])
def test_a_message_that_quotes_a_name_keeps_it(message: str) -> None:
    assert redact_quoted_value(message) == message


def test_data_from_a_credential_column_is_hidden_in_passwords_mode() -> None:
    lines = [P + 'ERROR:  invalid input syntax for type bigint: "StoredKey77"',
             P + "STATEMENT:  SELECT api_key::bigint FROM keys"]
    (error,) = _apply("passwords", lines)
    assert error.message == 'invalid input syntax for type bigint: "<REDACTED>"'


def test_data_from_another_column_stays_in_passwords_mode_and_goes_in_literals() -> None:
    lines = [P + 'ERROR:  invalid input syntax for type bigint: "Kept77"',
             P + "STATEMENT:  SELECT name::bigint FROM keys"]
    (error,) = _apply("passwords", lines)
    assert error.message == 'invalid input syntax for type bigint: "Kept77"'
    (error,) = _apply("literals", lines)
    assert error.message == 'invalid input syntax for type bigint: "<REDACTED>"'


def test_a_json_token_is_hidden_when_the_document_holds_a_credential() -> None:
    lines = [P + "ERROR:  invalid input syntax for type json",
             P + 'DETAIL:  Token "Jt0ken55" is invalid.',
             P + 'CONTEXT:  JSON data, line 1: {"client_secret": Jt0ken55...',
             P + 'STATEMENT:  SELECT \'{"client_secret": Jt0ken55}\'::jsonb']
    (error,) = _apply("passwords", lines)
    assert "Jt0ken55" not in _text([error])


def test_a_name_the_server_lower_cased_is_hidden_in_literals_mode() -> None:
    assert redact_echo('relation "myseq_9" does not exist', "SELECT nextval('MySeq_9')",
                       "SELECT nextval($1)") == 'relation "<REDACTED>" does not exist'
    # an identifier the statement keeps is kept
    assert redact_echo('relation "mytab" does not exist', "SELECT 1 FROM MyTab WHERE a = 'x'",
                       "SELECT $1 FROM MyTab WHERE a = $2") == 'relation "mytab" does not exist'


# -- auto_explain plans -------------------------------------------------------------------

YAML_PLAN = ('\nQuery Text: "SELECT * FROM k WHERE api_key = \'Yk3y\'"\nPlan: \n'
             '  Node Type: "Index Scan"\n  Index Cond: "(api_key = \'Yk3y\'::text)"\n'
             '  Plan Rows: 1')
JSON_LIST_PLAN = ('\n[\n  {\n    "Query Text": "SELECT crypt(\'Jk3y\', s) FROM k",\n'
                  '    "Plan": {"Output": ["crypt(\'Jk3y\'::text, s)"], "Plan Rows": 7}\n  }\n]')


@pytest.mark.parametrize("plan,secret", [(YAML_PLAN, "Yk3y"), (JSON_LIST_PLAN, "Jk3y")])
def test_a_plan_in_yaml_or_json_hides_its_credentials(plan: str, secret: str) -> None:
    out = redact(plan, "passwords")
    assert out is not None and secret not in out and out.count("<REDACTED>") == 2
    assert "Plan Rows: 1" in out or '"Plan Rows": 7' in out  # the rest as it was
    lit = redact(plan, "literals")
    assert lit is not None and secret not in lit


def test_a_plan_keeps_its_json_escapes() -> None:
    plan = ('\n{\n  "Query Text": "SELECT \\"Odd\\" FROM t WHERE password = \'Esc9\'\\n'
            '  AND a = E\'\\\\n\'",\n  "Plan": {}\n}')
    out = redact(plan, "passwords")
    assert out == plan.replace("'Esc9'", "<REDACTED>")


def test_a_plan_event_through_the_stage() -> None:
    lines = [P + 'LOG:  duration: 0.011 ms  plan:',
             '\t{',
             '\t  "Query Text": "SELECT 1 FROM u WHERE password = \'Pl4nPw\'",',
             '\t  "Plan": {"Filter": "(password = \'Pl4nPw\'::text)"}',
             '\t}']
    for mode in ("passwords", "literals"):
        events = _apply(mode, lines)
        assert events and "Pl4nPw" not in _text(events), mode


def test_a_text_plan_is_redacted_as_before() -> None:
    plan = ("\nQuery Text: SELECT * FROM t WHERE password = 'Tx9'\nSeq Scan on t  "
            "(cost=0.00..1.01 rows=1 width=4)\n  Filter: (password = 'Tx9'::text)")
    assert redact(plan, "passwords") == plan.replace("'Tx9'", "<REDACTED>")


# -- a CONTEXT that shows what a value is ------------------------------------------------

def test_a_context_that_hides_a_password_hides_it_in_the_statement_and_after() -> None:
    lines = [P + 'ERROR:  server "nosrv" does not exist',
             P + "CONTEXT:  SQL statement \"CREATE USER MAPPING FOR bob SERVER nosrv "
                 "OPTIONS (password 'MapPw-808')\"",
             "\tPL/pgSQL function mkmap(text) line 1 at EXECUTE",
             P + "STATEMENT:  SELECT mkmap('MapPw-808')",
             P + "LOG:  duration: 0.5 ms  statement: SELECT mkmap('MapPw-808')"]
    events = _apply("passwords", lines)
    assert "MapPw-808" not in _text(events)
    assert events[0].statement == "SELECT mkmap('<REDACTED>')"


def test_redact_context_reports_what_it_hid() -> None:
    hidden: list[str] = []
    out = redact_context("unnamed portal with parameters: $1 = 'a', $2 = 'b''c'", "literals",
                         "select $1, $2", hidden)
    assert out == "unnamed portal with parameters: $1 = <REDACTED>, $2 = <REDACTED>"
    assert hidden == ["a", "b'c"]


# -- dead letters: a line that did not parse --------------------------------------------

@pytest.mark.parametrize("raw,secret", [
    ('{"timestamp":"2026-12-01 05:04:20.210 UTC","message":"statement: ALTER USER a '
     "PASSWORD 'DlPw1' VALID", "DlPw1"),
    ('{"message": "statement: SELECT dblink_connect(\'host=h password=DlPw2\')", "x": [}',
     "DlPw2"),
    ('{"detail": "parameters: $1 = \'host=h password=DlPw3\'", "message": "execute', "DlPw3"),
    ('2026-12-01 05:04:20 UTC,"bob","db",7,"statement: SET app.api_key = \'DlPw4\'"',
     "DlPw4"),
    ('{"message":"statement: UPDATE u SET token = E\'DlPw5\\\\n\' WHERE', "DlPw5"),
    # the seed Lambda's str(dict) body: a value with both quotes is '...\'...\'...'
    (str({"msg": "statement: SET app.api_key = 'DlPw6' -- \"q\""}), "DlPw6"),
    (str({"id": "1", "message": "LOG:  statement: ALTER USER b PASSWORD 'DlPw7' \"x"})[:-9],
     "DlPw7"),
])
@pytest.mark.parametrize("mode", ["passwords", "literals"])
def test_a_dead_letter_hides_what_its_quoted_text_holds(raw: str, secret: str,
                                                        mode: str) -> None:
    from pgaudit_parse.sql.redact import redact_raw
    out = redact_raw(raw, mode)
    assert secret not in out
    if mode == "passwords":  # (literals hides the timestamp's numbers too)
        assert out.startswith(raw[:6])


def test_a_dead_letter_without_a_secret_is_kept_in_passwords_mode() -> None:
    from pgaudit_parse.sql.redact import redact_raw
    raw = '{"timestamp":"2026-12-01 05:04:20 UTC","message":"statement: SELECT \'a\'","x'
    assert redact_raw(raw, "passwords") == raw
    assert redact_raw(raw, "none") == raw


# -- what an error's CONTEXT says about the value it quotes ------------------------------

def test_a_value_quoted_by_an_error_about_a_credential_is_hidden_everywhere_in_it() -> None:
    lines = [P + 'ERROR:  invalid input syntax for type integer: "Fn-Pw-31"',
             P + 'CONTEXT:  SQL statement "SELECT client_secret::int"',
             "\tPL/pgSQL function chk(text) line 2 at SQL statement",
             P + "STATEMENT:  SELECT chk('Fn-Pw-31')",
             P + "LOG:  duration: 0.2 ms  statement: SELECT chk('Fn-Pw-31')"]
    events = _apply("passwords", lines)
    assert "Fn-Pw-31" not in _text(events)
    # an error whose CONTEXT names no credential keeps its value
    plain = [line.replace("client_secret", "client_name").replace("Fn-Pw-31", "Fn-Kept")
             for line in lines]
    assert "Fn-Kept" in _apply("passwords", plain)[0].message


def test_literals_mode_hides_the_constants_a_raise_repeats() -> None:
    lines = [P + "ERROR:  order Rz-1001 is late",
             P + "DETAIL:  customer Rz-Carol",
             P + "HINT:  call Rz-555-0100",
             P + "CONTEXT:  PL/pgSQL function inline_code_block line 1 at RAISE",
             P + "STATEMENT:  DO $$BEGIN RAISE EXCEPTION 'order % is late', 'Rz-1001' "
                 "USING DETAIL = 'customer ' || 'Rz-Carol', HINT = 'call Rz-555-0100'; END$$"]
    (error,) = _apply("literals", lines)
    assert "Rz-" not in _text([error])


def test_literals_mode_keeps_the_server_s_words_that_a_constant_repeats() -> None:
    lines = [P + 'ERROR:  duplicate key value violates unique constraint "t_pkey"',
             P + "DETAIL:  Key (id)=(7) already exists.",
             P + "STATEMENT:  INSERT INTO t (id, note) VALUES (7, 'duplicate')"]
    (error,) = _apply("literals", lines)
    assert error.message == 'duplicate key value violates unique constraint "t_pkey"'


@pytest.mark.parametrize("sql,secret", [
    ("DO $$BEGIN RAISE EXCEPTION 'no' USING DETAIL = 'password is ' || 'Lb-1'; END$$", "Lb-1"),
    ("SELECT 'api_key=' || 'Lb-2'", "Lb-2"),
    ("SELECT 'Auth token: ' || E'Lb-3'", "Lb-3"),
])
def test_a_constant_labelled_as_a_credential_is_hidden(sql: str, secret: str) -> None:
    out = redact(sql, "passwords")
    assert out is not None and secret not in out


def test_a_constant_labelled_otherwise_stays() -> None:
    sql = "SELECT 'name is ' || 'bob', 'author: ' || 'ann'"
    assert redact(sql, "passwords") == sql


# -- a password left unquoted outside CREATE/ALTER ROLE ----------------------------------

@pytest.mark.parametrize("statement,word", [
    ("UPDATE users SET password = Uq9Secret WHERE id = 1", "Uq9Secret"),
    ("SELECT set_config('app.api_key', UqKey7, false)", "UqKey7"),
    ("INSERT INTO k (name, api_key) VALUES ('a', UQTOKEN)", "UQTOKEN"),
])
def test_an_unquoted_credential_the_server_takes_for_a_column_is_hidden(
        statement: str, word: str) -> None:
    lines = [P + f'ERROR:  column "{word.lower()}" does not exist at character 29',
             P + f"STATEMENT:  {statement}"]
    (error,) = _apply("passwords", lines)
    assert word.lower() not in _text([error]).lower()
    assert error.statement == statement.replace(word, "<REDACTED>")
    (error,) = _apply("literals", lines)
    assert word.lower() not in _text([error]).lower()


def test_a_missing_column_elsewhere_stays() -> None:
    lines = [P + 'ERROR:  column "nmae" does not exist',
             P + "STATEMENT:  UPDATE users SET password = 'x' WHERE nmae = 'bob'"]
    (error,) = _apply("passwords", lines)
    assert error.message == 'column "nmae" does not exist'
    assert error.statement == "UPDATE users SET password = <REDACTED> WHERE nmae = 'bob'"


# -- run-time names -----------------------------------------------------------------------

def test_an_application_name_that_holds_a_credential_is_hidden_on_every_line() -> None:
    from pgaudit_parse.formats.guardium import to_guardium
    prefix = "%m [%p] %q%u@%d %a "
    head = "2026-11-25 16:05:01.123 UTC [42] bob@shop "
    lines = [head + "[unknown] LOG:  connection authorized: user=bob database=shop "
                    "application_name=etl postgresql://bob:ApPw9@db1/shop SSL enabled "
                    "(protocol=TLSv1.3)",
             head + "etl postgresql://bob:ApPw9@db1/shop LOG:  AUDIT: SESSION,1,1,READ,SELECT,"
                    ",,select 1,<none>"]
    for mode in ("passwords", "literals"):
        stage = SqlStage(mode)
        events = [stage.apply(e)[0] for e in parse_lines(lines, prefix=prefix)]
        assert len(events) == 2
        assert "ApPw9" not in _text(events), mode
        assert events[0].message.endswith("application_name=<REDACTED> SSL enabled "
                                          "(protocol=TLSv1.3)")
        assert "ApPw9" not in repr(to_guardium(events[1]))


def test_an_application_name_without_a_credential_stays() -> None:
    lines = [P + "LOG:  connection authorized: user=bob database=shop application_name=psql"]
    (event,) = _apply("passwords", lines)
    assert event.message.endswith("application_name=psql")


@pytest.mark.parametrize("statement", [
    "SELECT current_setting('app.password')::int",
    "SELECT (settings->>'api_key')::uuid FROM tenants",
])
def test_a_value_read_from_a_credential_key_is_hidden_where_an_error_quotes_it(
        statement: str) -> None:
    lines = [P + 'ERROR:  invalid input syntax for type integer: "KeyRead-77"',
             P + f"STATEMENT:  {statement}"]
    (error,) = _apply("passwords", lines)
    assert "KeyRead-77" not in _text([error])


# -- functions created with a parameter named as a credential ----------------------------

CREATE = ("CREATE OR REPLACE FUNCTION app.rotate(uid int, new_password text) "
          "RETURNS void LANGUAGE sql AS $$ UPDATE u SET pw = crypt($2, 'x') WHERE id = $1 $$")
Q = "2026-11-25 16:05:02 UTC:10.0.0.6(5001):ann@shop:[43]:"


def test_a_call_of_a_function_whose_parameter_names_a_credential_hides_the_argument() -> None:
    lines = [P + "LOG:  AUDIT: SESSION,1,1,DDL,CREATE FUNCTION,FUNCTION,app.rotate,"
                 f'"{CREATE}",<none>',
             Q + "LOG:  statement: SELECT app.rotate(7, 'FnArg-9')",
             Q + "LOG:  AUDIT: SESSION,1,1,FUNCTION,EXECUTE,FUNCTION,app.rotate,"
                 "\"SELECT app.rotate(7, 'FnArg-9')\",<none>",
             Q + "LOG:  duration: 0.3 ms  statement: SELECT rotate(uid => 8, "
                 "new_password => 'FnArg-9')",
             Q + "LOG:  statement: SELECT other(7, 'Kept-1')"]
    stage = SqlStage("passwords")
    events = [stage.apply(e)[0] for e in parse_lines(lines)]
    assert "FnArg-9" not in _text(events)
    assert "SELECT app.rotate(7, <REDACTED>)" in events[1].message
    assert "Kept-1" in events[-1].message
    assert stage.memory_from() == 1  # (--jobs: a chunk reads back to the CREATE)


def test_a_function_without_a_credential_parameter_is_not_remembered() -> None:
    stage = SqlStage("passwords")
    lines = [P + "LOG:  statement: CREATE FUNCTION f(a int, note text) RETURNS int "
                 "LANGUAGE sql AS 'select 1'",
             P + "LOG:  statement: SELECT f(1, 'Kept-2')"]
    events = [stage.apply(e)[0] for e in parse_lines(lines)]
    assert "Kept-2" in events[-1].message
    assert stage.memory_from() is None


def test_the_library_s_error_record_hides_what_the_error_shows() -> None:
    from pgaudit_parse import to_guardium
    lines = [P + 'ERROR:  invalid input syntax for type integer: "LibPw-1"',
             P + "CONTEXT:  unnamed portal with parameters: $1 = 'LibPw-1'",
             P + "STATEMENT:  SELECT set_config('app.password', $1, false)::int"]
    (event,) = parse_lines(lines)
    record = to_guardium(event)
    assert record is not None and "LibPw-1" not in repr(record)
    assert record["exception"]["description"] == "invalid input syntax for type integer: " \
        "<REDACTED>"
