"""Redaction: no secret or constant survives its mode; everything else stays byte-exact."""

from __future__ import annotations

import re

import pglast
import pglast.parser
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sql_strategies import LITERAL_FORMS, literals, render_literal, secret_values, sql_soup
from strategies import SETTINGS, scaled

from pgaudit_parse.formats import guardium
from pgaudit_parse.sql import (
    REDACTED,
    redact,
    redact_detail,
    redact_literals,
    redact_parameters,
    redact_passwords,
)
from pgaudit_parse.sql.constants import find_constants
from pgaudit_parse.sql.lexer import tokenize
from pgaudit_parse.sql.redact import _fast_redact_literals, _redact_literals_by_tokens

SECRET = "S3cr3t'pw\\$x"


def _forms(secret: str) -> dict[str, str]:
    return {form: render_literal(form, secret, tag="pw") for form in LITERAL_FORMS}


PASSWORD_STATEMENTS = [
    "CREATE ROLE alice LOGIN PASSWORD {lit}",
    "create user alice with encrypted password {lit} valid until 'infinity'",
    "ALTER ROLE alice PASSWORD /* rotated */ {lit}",
    "alter user alice with password -- new one\n {lit} ",
    "ALTER USER \"Alice\" ENCRYPTED PASSWORD/**/{lit}",
    "create group g password {lit}",
    "CREATE USER MAPPING FOR alice SERVER s OPTIONS (user 'remote', password {lit})",
    "ALTER USER MAPPING FOR alice SERVER s OPTIONS (SET password {lit})",
    "create server s foreign data wrapper postgres_fdw options (host 'h', sslpassword {lit})",
]
CONNINFO_STATEMENTS = [
    "CREATE SUBSCRIPTION sub CONNECTION {lit} PUBLICATION pub",
    "alter subscription sub connection {lit}",
    "select dblink_connect('c1', {lit})",
    "SELECT * FROM dblink({lit}, 'select 1') AS t(a int)",
    "select dblink_exec({lit}, 'delete from t')",
    "CREATE SERVER s FOREIGN DATA WRAPPER dblink_fdw OPTIONS (conn {lit})",
]
CONNINFOS = ["host=db.example.com password={s} dbname=app",
             "postgresql://app:{s}@db.example.com:5432/app",
             "dbname=app password = '{s}'",
             "host=h port=5432 user=u password={s}"]


@pytest.mark.parametrize("template", PASSWORD_STATEMENTS)
@pytest.mark.parametrize("form", LITERAL_FORMS)
def test_password_forms(template: str, form: str) -> None:
    lit = _forms(SECRET)[form]
    sql = template.format(lit=lit)
    out = redact_passwords(sql)
    assert "S3cr3t" not in out
    head = lit.split(" UESCAPE")[0] if form == "unicode_uescape" else lit
    assert out == sql.replace(head, REDACTED, 1)  # byte-exact elsewhere
    assert guardium.redact_passwords(sql) == out  # the old name is the same function


@pytest.mark.parametrize("template", CONNINFO_STATEMENTS)
@pytest.mark.parametrize("conninfo", CONNINFOS)
@pytest.mark.parametrize("form", ["standard", "escape", "dollar", "unicode"])
def test_connection_strings(template: str, conninfo: str, form: str) -> None:
    lit = render_literal(form, conninfo.format(s="Pw0rd9"), tag="c")
    sql = template.format(lit=lit)
    out = redact_passwords(sql)
    assert "Pw0rd9" not in out
    assert out == sql.replace(lit, REDACTED, 1)


def test_password_right_after_the_keyword() -> None:
    assert redact_passwords("alter role a password'Pw0rd9'") == "alter role a password<REDACTED>"
    # a typo the server rejects still reaches the log (ERROR ... STATEMENT:)
    assert redact_passwords("alter role a passwordE'Pw0rd9'") == "alter role a passwordE<REDACTED>"


def test_escapes_cannot_hide_a_connection_string() -> None:
    sql = "select dblink_connect(E'host=h pass\\x77ord=Pw0rd9')"
    assert "Pw0rd9" not in redact_passwords(sql)
    sql = "select dblink_connect(U&'host=h pa!0073sword=Pw0rd9' UESCAPE '!')"
    assert "Pw0rd9" not in redact_passwords(sql)


def test_a_number_after_password_is_hidden_too() -> None:
    # not valid SQL, but an ERROR's STATEMENT line logs it all the same
    assert redact_passwords("alter role a password 12345678") == "alter role a password <REDACTED>"


def test_password_inside_a_do_body_or_execute() -> None:
    sql = "DO $do$ BEGIN EXECUTE 'ALTER ROLE a PASSWORD ''Pw0rd9'''; END $do$"
    out = redact_passwords(sql)
    assert "Pw0rd9" not in out and out.startswith("DO $do$ BEGIN EXECUTE ")
    sql = "do $$ begin execute format('alter role %I password %L', 'a', 'x'); end $$"
    # format()'s third argument fills PASSWORD %L: it is the password (hunt-creds)
    assert redact_passwords(sql) == sql.replace("'x'", REDACTED)
    sql = "do $$ begin execute format('alter role %I password %L', r, pw); end $$"
    assert redact_passwords(sql) == sql  # no constant fills it: nothing to hide


def test_statement_cut_short_after_password() -> None:
    assert redact_passwords("ALTER ROLE a PASSWORD 'Pw0rd9") == "ALTER ROLE a PASSWORD <REDACTED>"
    assert "Pw0rd9" not in redact_passwords("select 1abc, 'password=Pw0rd9")


def test_pgaudit_own_redaction_is_kept() -> None:
    sql = "CREATE ROLE a PASSWORD <REDACTED>"
    assert redact_passwords(sql) == sql


def test_statements_without_credentials_are_untouched() -> None:
    for sql in ("select password from users where id = 1",
                "insert into t values ('no secret here')",
                "update users set password_hash = $1 where id = $2"):
        assert redact_passwords(sql) == sql


@SETTINGS
@given(secret=secret_values(), form=st.sampled_from(LITERAL_FORMS),
       template=st.sampled_from(PASSWORD_STATEMENTS),
       case=st.sampled_from([str.lower, str.upper, str.title]))
def test_no_password_survives(secret: str, form: str, template: str, case: object) -> None:
    lit = render_literal(form, secret, tag="pw")
    assume(not (form == "dollar" and "$pw$" in secret + "$"))
    sql = case(template).replace("{LIT}", "{lit}").replace("{Lit}", "{lit}").format(  # type: ignore[operator]
        lit=lit)
    for mode in ("passwords", "literals"):
        out = redact(sql, mode)
        assert out is not None and secret not in out and lit not in out


# -- literals ----------------------------------------------------------------------------

@st.composite
def statements_with_constants(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A SELECT that pglast's normalize takes, with markers inside every constant."""
    markers: list[str] = []

    def marked() -> str:
        marker = f"Mk{draw(st.integers(1000, 9999))}{len(markers)}"
        markers.append(marker)
        return marker

    def constant() -> str:
        choice = draw(st.sampled_from(["lit", "num", "neg", "typed", "bits", "in"]))
        if choice == "lit":
            value = marked() + draw(st.text(st.sampled_from(list("a'\\$! é")), max_size=3))
            return draw(literals(st.just(value)))
        if choice == "num":
            return draw(st.sampled_from(["4200", "1_000", "0x1F", ".5e-3", "3.25"]))
        if choice == "neg":
            return draw(st.sampled_from(["-7", "- 7", "-2.5"]))
        if choice == "typed":
            return draw(st.sampled_from(["DATE ", "interval ", "timestamp "])) + \
                render_literal("standard", "2026-01-0" + str(draw(st.integers(1, 9))))
        if choice == "bits":
            return draw(st.sampled_from(["B'101'", "X'1F'"]))
        return "(" + ", ".join(str(draw(st.integers(0, 99))) for _ in range(3)) + ")"

    def gap() -> str:
        return draw(st.sampled_from([" ", "  ", "\n", " /* c */ ", " -- c\n"]))

    select_list = [constant() if draw(st.booleans()) else "a" for _ in range(draw(
        st.integers(1, 3)))]
    sql = "select" + gap() + ("," + gap()).join(
        c if not c.startswith("(") else "a in " + c for c in select_list)
    sql += gap() + "from t where" + gap() + "b =" + gap() + constant().replace("(", "b in (")
    sql += gap() + "and c = $1"
    if draw(st.booleans()):
        sql += gap() + "limit " + str(draw(st.integers(1, 50)))
    return sql, markers


def _numbered(sql: str) -> str:
    return re.sub(r"\$[0-9]+", "$?", sql)


@scaled(0.5)
@given(statements_with_constants())
def test_literals_are_where_postgresql_finds_them(case: tuple[str, list[str]]) -> None:
    sql, markers = case
    try:
        expected = pglast.parser.normalize(sql)
    except pglast.parser.ParseError:
        assume(False)
    out = redact_literals(sql)
    # (pg_stat_statements leaves a U&'' string's UESCAPE clause after its $n, which does
    # not parse; here the clause is part of the constant)
    expected = re.sub(r"(\$[0-9]+)\s*(?:--[^\n]*\n|/\*.*?\*/|\s)*UESCAPE\s+'[^']*'", r"\1",
                      expected, flags=re.IGNORECASE)
    assert _numbered(out) == _numbered(expected)
    assert not any(m in out for m in markers)
    numbers = [int(n) for n in re.findall(r"\$([0-9]+)", out)]
    assert numbers.count(1) == 1  # $1 was there; new ones continue after it
    assert sorted(numbers) == list(range(1, len(numbers) + 1))


@SETTINGS
@given(st.lists(literals(secret_values()), min_size=1, max_size=4))
def test_no_literal_survives(lits: list[str]) -> None:
    sql = "insert into t (a) values (" + "), (".join(lits) + ")"
    out = redact_literals(sql)
    assert not any(lit in out for lit in lits)
    assert not re.search(r"S3cr[0-9]{3}", out)


def test_literal_forms_each_become_a_placeholder() -> None:
    sql = ("select 'a''b', E'\\x41', U&'\\0041' UESCAPE '\\', B'1', X'f', $$d$$, $t$e$t$, "
           "1_000, 0x1F, 0o17, 0b101, .5e-3, -3, 'a'\n'b', DATE '2026-01-01', \"Col\", $1")
    assert redact_literals(sql) == (
        "select $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
        "DATE $16, \"Col\", $1")


def test_cut_short_statement_hides_the_rest() -> None:
    assert redact_literals("insert into t values ('Mk1 cut sh") == "insert into t values ($1"


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown redaction mode"):
        redact("select 1", "everything")


# -- parameters and DETAIL ---------------------------------------------------------------

def test_parameters() -> None:
    assert redact_parameters(["42", "bob@example.com", ""], "literals") == ["$1", "$2", "$3"]
    assert redact_parameters(None, "literals") is None
    assert redact_parameters(["x"], "none") == ["x"]
    assert redact_parameters(["u", "host=h password=Pw0rd9"], "passwords") == [
        "u", REDACTED]
    assert redact_parameters(["Pw0rd9"], "passwords",
                             statement="select set_pw($1) where x password $1") == [REDACTED]


@pytest.mark.parametrize("detail, expected", [
    ("Key (email)=(a@b.com) already exists.", "Key (email)=($1) already exists."),
    ("Key (a, b)=(1, x, y) already exists.", "Key (a, b)=($1) already exists."),
    ('Key (cust_id)=(77) is not present in table "customers".',
     'Key (cust_id)=($1) is not present in table "customers".'),
    ('Key (id)=(3) is still referenced from table "orders".',
     'Key (id)=($1) is still referenced from table "orders".'),
    ("Key (r)=([1,5)) conflicts with existing key (r)=([2,6)).",
     "Key (r)=($1) conflicts with existing key (r)=($2)."),
    ("Failing row contains (7, bob, null, (a,b)).", "Failing row contains ($1)."),
    ("Partition key of the failing row contains (region) = (eu-west).",
     "Partition key of the failing row contains (region) = ($1)."),
    ("Key (x)=(1) is duplicated.", "Key (x)=($1) is duplicated."),
    ("Process 12 waits for ShareLock on transaction 5.",
     "Process 12 waits for ShareLock on transaction 5."),
])
def test_detail_lines(detail: str, expected: str) -> None:
    assert redact_detail(detail, "literals") == expected
    assert redact_detail(detail, "none") == detail


# -- the fast path of literals mode ------------------------------------------------------

@SETTINGS
@given(st.one_of(sql_soup(), statements_with_constants().map(lambda case: case[0]),
                 st.text(st.sampled_from(list("'\"-+*/<>=.,;()$1209eExX_ab \n\t")),
                         max_size=30)))
def test_fast_literals_equal_the_lexer(sql: str) -> None:
    fast = _fast_redact_literals(sql)
    if fast is not None:
        assert fast == _redact_literals_by_tokens(sql)


@pytest.mark.parametrize("sql", ["E.0", "x.0", "select a.5 from t", "select t.1, u.2",
                                 "where x=y.25"])
def test_fast_literals_keep_a_number_after_a_name_apart(sql: str) -> None:
    """``x.0`` is the name x and the number .0: glued, ``x$1`` would be one name."""
    fast = _fast_redact_literals(sql)
    assert fast is not None
    assert fast == _redact_literals_by_tokens(sql)
    assert len([t for t in tokenize(fast) if t.kind != "space"]) == \
        len([t for t in tokenize(sql) if t.kind != "space"])


def test_fast_literals_take_plain_statements() -> None:
    plain = ["select a, b from t where x = 'it''s' and y in (1, 2.5, .5) -- 'c'\n",
             "INSERT INTO pgbench_history (tid, aid, delta) VALUES (6, 131954, 4240);",
             'update "T" set a = a + 1 where b <> \'x\'']
    assert all(_fast_redact_literals(sql) is not None for sql in plain)
    plain += ["select E'it\\'s' /* c */, 1 -- x\n"]
    assert all(_fast_redact_literals(sql) is not None for sql in plain)
    hard = ["select $1, 'a'", "select U&'a'", "select 'a'\n'b'", "select -1", "select 1e5",
            "select /* a /* b */ */ 1", "select 'cut", "select 1 - /* c */ 2"]
    assert all(_fast_redact_literals(sql) is None for sql in hard)


# -- literals: the output is the input's tokens with $n for the constants (hunt-sql) -------

def _significant(sql: str) -> list[tuple[str, str]]:
    """(kind, text) of each token but whitespace; a comment's text is not compared (one
    that holds a credential is hidden in literals mode too)."""
    return [(t.kind, "" if t.kind == "comment" else t.text(sql))
            for t in tokenize(sql) if t.kind != "space"]


def _expected_tokens(sql: str) -> list[tuple[str, str]]:
    """The input's tokens, each constant (sign and UESCAPE clause included) and the
    opaque rest one parameter ``$?``."""
    tokens = tokenize(sql)
    starts = {c.start: c.end for c in find_constants(sql, tokens)}
    out: list[tuple[str, str]] = []
    inside = -1  # end of the constant being skipped
    for token in tokens:
        if token.start < inside:
            continue
        if token.start in starts or token.kind == "opaque":
            out.append(("param", "$?"))
            inside = starts.get(token.start, token.end)
        elif token.kind != "space":
            out.append((token.kind, "" if token.kind == "comment" else token.text(sql)))
    return out


@SETTINGS
@given(sql_soup(with_garbage=False))
def test_literals_keep_every_token_but_the_constants(sql: str) -> None:
    """No $n glues itself to the text before it (``int4'5'`` is not ``int4$1``, an
    identifier): the output lexes as the input's tokens with a parameter per constant."""
    assume("pass" not in sql.lower())  # (an unquoted password is a constant too)
    params_in = {text for kind, text in _significant(sql) if kind == "param"}
    got = [(kind, "$?" if kind == "param" and text not in params_in else text)
           for kind, text in _significant(redact_literals(sql))]
    assert got == _expected_tokens(sql)


@pytest.mark.parametrize("sql, expected", [
    ("select int4'5', N'abc', date'2026-01-01'", "select int4 $1, N $2, date $3"),
    ("select x from t where a=b'01'and c=text'x'", "select x from t where a=$1and c=text $2"),
    ("select U&'d!0061ta' UESCAPE '!', 1", "select $1, $2"),
    ("select U&'d\\0061ta' uescape/* c */'\\'", "select $1"),
    ("select $'a'", "select $ $1"),
])
def test_literals_never_glue_a_parameter_to_a_word(sql: str, expected: str) -> None:
    assert redact_literals(sql) == expected
    assert _redact_literals_by_tokens(sql) == expected


@scaled(0.5)
@given(statements_with_constants(), st.sampled_from(["", " "]))
def test_literals_output_parses_where_the_input_did(case: tuple[str, list[str]],
                                                    gap: str) -> None:
    """What pglast parses still parses once its constants are $n (typed literals written
    without a space too: ``DATE'2026-01-01'``; a U&'' string's UESCAPE clause goes with it)."""
    sql = case[0].replace("DATE '", "DATE" + gap + "'").replace("interval '", "int4" + gap
                                                                  + "'")
    try:
        pglast.parse_sql(sql)
    except pglast.parser.ParseError:
        assume(False)
    pglast.parse_sql(redact_literals(sql))


@pytest.mark.parametrize("sql, expected", [
    ("select 1.5::numeric(10,2), 'a'::varchar(10), x::timestamp(3) from t",
     "select $1::numeric(10,2), $2::varchar(10), x::timestamp(3) from t"),
    ("select cast(x as character varying(20)), x::bit varying(8), x::pg_catalog.numeric(5, -2)"
     " from t", "select cast(x as character varying(20)), x::bit varying(8), "
     "x::pg_catalog.numeric(5, -2) from t"),
    ("select x::mytype(3), round(x, 2), f(4) from t",
     "select x::mytype(3), round(x, $1), f($2) from t"),
    ("select cast(x as mytype(3)), cast(x as int[3]), cast(x as s.t(2)[4]) from f(5) as g(a)",
     "select cast(x as mytype(3)), cast(x as int[3]), cast(x as s.t(2)[4]) from f($1) as g(a)"),
    ("select cast(x as /* c */ t(3)), x as y, f(6) as z", "select cast(x as /* c */ t(3)), "
     "x as y, f($1) as z"),
    ("create table t (a char(84), b numeric(10,2) default 0, c float(53), d time(0))",
     "create table t (a char(84), b numeric(10,2) default $1, c float(53), d time(0))"),
    ("select x::int[3], 5::numeric(10,2)[2][4], x[1], (x::int[])[2] from t",
     "select x::int[3], $1::numeric(10,2)[2][4], x[$2], (x::int[])[$3] from t"),
    ("select interval(3) '1 s', timestamp(0) with time zone '2026-01-01'",
     "select interval(3) $1, timestamp(0) with time zone $2"),
])
def test_type_modifiers_are_part_of_the_type(sql: str, expected: str) -> None:
    """``numeric(10,2)`` is a type, not two constants (pg_stat_statements keeps it); the
    output still parses."""
    assert redact_literals(sql) == expected
    pglast.parse_sql(redact_literals(sql))
    expected_pg = pglast.parser.normalize(sql)
    if expected_pg != sql:  # (pg_stat_statements leaves utility statements as they are)
        assert _numbered(redact_literals(sql)) == _numbered(expected_pg)


# -- a call of a function whose name names a credential ---------------------------------

@pytest.mark.parametrize(("sql", "secrets"), [
    ("select set_password('bob', 'hunter2')", ["hunter2"]),
    ("SELECT app.change_password(42, 'S3cret!x')", ["S3cret!x", "42"]),
    ("select rotate_token('svc', E'zq\\'ux', 3600)", ["zq", "3600"]),
    ("select * from users where verify_passwd(id, 'pa ss') and id = 5", ["pa ss"]),
    ("select get_pw_hash(lower('MiXeD'))", ["MiXeD"]),
])
def test_every_argument_of_a_call_named_for_a_credential_is_hidden(
        sql: str, secrets: list[str]) -> None:
    """Which argument of ``set_password(user, pw)`` is the secret is the function's
    business: every constant passed to it is hidden (before, only the first was)."""
    out = redact_passwords(sql)
    assert not any(secret in out for secret in secrets), out
    assert "id = 5" in out or "id = 5" not in sql  # (what follows the call stays)
