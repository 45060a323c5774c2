"""Fingerprints and statement splits (pglast's split is the oracle for the latter)."""

from __future__ import annotations

import pglast
import pglast.parser
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sql_strategies import literals
from strategies import SETTINGS, scaled

from pgaudit_parse import parse_lines
from pgaudit_parse.ops.summary import Summary
from pgaudit_parse.sql import (
    Split,
    StatementMatcher,
    fingerprint,
    normalize,
    redact_literals,
    split_statements,
)

# -- fingerprints ------------------------------------------------------------------------

TEMPLATE = ["select", "a", ",", "b", "from", "t", "where", "c", "=", "{0}", "and", "d",
            "in", "(", "{1}", ")", "and", "e", ">", "{2}"]


@st.composite
def variants(draw: st.DrawFn) -> str:
    """The TEMPLATE statement with other constants, spacing, comments and keyword case."""
    out = []
    for piece in TEMPLATE:
        if piece == "{0}":
            piece = draw(literals())
        elif piece == "{1}":
            piece = ", ".join(str(draw(st.integers(-5, 10**6)))
                              for _ in range(draw(st.integers(1, 5))))
        elif piece == "{2}":
            piece = draw(st.sampled_from(["-1", "- 2.5", "0x1F", "$3", "1_000"]))
        elif piece.isalpha():
            piece = draw(st.sampled_from([piece, piece.upper(), piece.title()]))
        out.append(piece)
        out.append(draw(st.sampled_from([" ", "\n\t", " /* note */ ", " -- c\n", "  "])))
    return "".join(out)


@SETTINGS
@given(variants(), variants())
def test_same_statement_same_fingerprint(a: str, b: str) -> None:
    assert fingerprint(a) == fingerprint(b)
    assert normalize(a) == "select a, b from t where c = ? and d in (...) and e > ?"


@pytest.mark.parametrize("a, b", [
    ("select a from t", "select b from t"),
    ("select a from t", 'select "A" from t'),
    ("select a from t where x = 1", "select a from t where x > 1"),
    ("select a from t", "select a from t; select 1"),
])
def test_different_statements_differ(a: str, b: str) -> None:
    assert fingerprint(a) != fingerprint(b)


def test_fingerprint_is_stable() -> None:
    # a fixed value: fingerprints are stored and compared across runs and versions
    assert fingerprint("SELECT * FROM t WHERE id = 42") == fingerprint(
        "select * from t where id = $1")
    assert fingerprint("select 1") == "1b07627944521a5f"


def test_final_semicolon_does_not_count() -> None:
    assert fingerprint("select 1;") == fingerprint("select 2 ; -- end")


def test_summary_counts_statements_by_fingerprint() -> None:
    p = "2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  AUDIT: SESSION,"
    whole = '"insert into t values (1); update t set a = 2"'
    summary = Summary()
    for event in parse_lines([p + "1,1,WRITE,INSERT,,," + whole + ",<none>",
                              p + "2,1,WRITE,UPDATE,,," + whole + ",<none>",
                              p + "3,1,WRITE,INSERT,,,insert into t values (7);,<none>"]):
        summary.add(event)
    rows = summary.to_dict()["by_fingerprint"]
    assert rows == [[fingerprint("insert into t values (1)"), "insert into t values (?)", 2],
                    [fingerprint("update t set a = 2"), "update t set a = ?", 1]]
    assert "Statements by fingerprint" in summary.render_text()


def test_pgaudit_redacted_mark_is_a_constant() -> None:
    assert fingerprint("ALTER ROLE a PASSWORD <REDACTED>") == fingerprint(
        "alter role a password 'x'")


#: Places where PostgreSQL's grammar reads "- 5" as the constant -5 (gram.y's doNegate),
#: after a keyword: the sign goes with the constant, as pg_stat_statements takes it.
SIGNED_PLACES = [
    "select x from t where y between symmetric {n} and {n}",
    "select x from t where y not between asymmetric {n} and 2",
    "select now() at time zone {n}",
    "select x from t fetch first {n} rows only",
    "select substring(x from {n} for {n}) from t",
    "select trim(both {n} from x), trim(leading {n} from x), trim(trailing {n} from x)",
    "select overlay(x placing {n} from {n} for {n}) from t",
    "create table t (a int default {n})",
    "create sequence s minvalue {n} maxvalue {n} increment {n} restart {n}",
    "select x from t where y in (select {n}) and z = any (select {n} union select {n})",
    "select f(variadic array[{n}])",
]


def test_a_sign_before_a_cast_is_an_operator() -> None:
    assert fingerprint("select -5::bigint") != fingerprint("select 5::bigint")
    assert fingerprint("select -5") == fingerprint("select 5")


@pytest.mark.parametrize("template", SIGNED_PLACES)
def test_a_sign_after_a_keyword_belongs_to_the_constant(template: str) -> None:
    positive, negative = template.format(n="5"), template.format(n="-5")
    assert fingerprint(negative) == fingerprint(positive)
    assert redact_literals(negative) == redact_literals(positive)
    expected = pglast.parser.normalize(negative)
    if expected != negative:  # (pg_stat_statements leaves utility statements as they are)
        assert redact_literals(negative) == expected


@pytest.mark.parametrize("sql, expected", [
    ("select x - 5 from t", "select x - $1 from t"),
    ("select current_date - 5, null - 5, (a) - 5, a[1] - 5, count(*) - 5",
     "select current_date - $1, null - $2, (a) - $3, a[$4] - $5, count(*) - $6"),
    ('select "default" - 5, t.zone - 5, "x" -5', 'select "default" - $1, t.zone - $2, "x" -$3'),
    ("select first - 1, zone - 1 from t", "select first - $1, zone - $2 from t"),
    # a cast binds tighter than a sign: -5::bigint is -(5::bigint), no constant -5
    ("select x from t where z = -5::bigint and w = - 2.5 :: numeric(3,1) and v = -7 ^ 2",
     "select x from t where z = -$1::bigint and w = - $2 :: numeric(3,1) and v = $3 ^ $4"),
])
def test_a_minus_after_an_operand_is_a_subtraction(sql: str, expected: str) -> None:
    assert redact_literals(sql) == expected
    if "null" not in sql:  # (NULL stays a keyword here)
        assert redact_literals(sql) == pglast.parser.normalize(sql)


def test_keyword_lists_are_postgresqls() -> None:
    from pglast import keywords as theirs

    from pgaudit_parse.sql import keywords as ours
    assert ours.RESERVED_KEYWORDS == set(theirs.RESERVED_KEYWORDS)
    assert ours.COL_NAME_KEYWORDS == set(theirs.COL_NAME_KEYWORDS)
    assert ours.TYPE_FUNC_NAME_KEYWORDS == set(theirs.TYPE_FUNC_NAME_KEYWORDS)


def _pglast_fingerprint(sql: str) -> str | None:
    try:
        return str(pglast.fingerprint(sql))
    except pglast.parser.ParseError:
        return None


def _keywords() -> list[str]:
    from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS
    return sorted(set(RESERVED_KEYWORDS) | set(COL_NAME_KEYWORDS) | set(TYPE_FUNC_NAME_KEYWORDS))


@pytest.mark.parametrize("template", ["select {} from t", "select a from t where b = {}",
                                      "select {}(a) from t", "select x from {} t"])
def test_a_quoted_keyword_is_not_the_keyword(template: str) -> None:
    """``"user"`` is a column, ``user`` the current role: the quotes stay in the fingerprint
    where PostgreSQL reads the two differently (pglast's fingerprint is the oracle)."""
    checked = 0
    apart: list[str] = []  # keywords whose quotes we keep where pglast's are the same
    for word in _keywords():
        quoted, bare = template.format(f'"{word}"'), template.format(word)
        theirs_quoted, theirs_bare = _pglast_fingerprint(quoted), _pglast_fingerprint(bare)
        if theirs_quoted is None or theirs_bare is None:
            continue
        checked += 1
        if theirs_quoted != theirs_bare:
            assert fingerprint(quoted) != fingerprint(bare), (quoted, bare)
        elif fingerprint(quoted) != fingerprint(bare):
            apart.append(word)
    assert checked > 20
    # (the other way round, only where a construct with one argument is a plain function
    # call: overlay(a), substring(a); a fingerprint split in two, no statements merged)
    assert set(apart) <= {"overlay", "substring"}, apart


@pytest.mark.parametrize("a, b", [
    ("select É from t", "select é from t"),          # PostgreSQL folds ASCII letters only
    ("select Straße from t", "select STRASSE from t"),
    ('select "é" from t', "select é from t"),
    ('select "É" from t', "select É from t"),
    ('select "x$1" from t', "select x$1 from t"),
    ('select U&"d\\0061t" from t', "select dat from t"),
    ("select U&\"d!0061t\" UESCAPE '!' from t", "select dat from t"),
    ("select U&\"d!0061t\" UESCAPE '!' from t", "select U&\"d#0061t\" UESCAPE '#' from t"),
    ('select U&"D\\0061t" from t', "select dat from t"),
    ('select "ab" from t', 'select U&"a\\0062" from t'),
])
def test_identifiers_as_postgresql_reads_them(a: str, b: str) -> None:
    """Same identifier, same fingerprint; another identifier, another (pglast's oracle)."""
    same = pglast.fingerprint(a) == pglast.fingerprint(b)
    assert (fingerprint(a) == fingerprint(b)) == same, (a, b, same)


def test_uescape_of_an_identifier_is_no_constant() -> None:
    sql = "select U&\"d!0061t\" UESCAPE '!' from t where a = 'x'"
    assert redact_literals(sql) == "select U&\"d!0061t\" UESCAPE '!' from t where a = $1"
    pglast.parse_sql(redact_literals(sql))


# -- splitting ---------------------------------------------------------------------------

@st.composite
def scripts(draw: st.DrawFn) -> str:
    """Statements joined by ';' with semicolons hidden in every place they may hide."""
    statements = draw(st.lists(st.one_of(
        literals(st.text(st.sampled_from(list("a;' $")), max_size=4)).map(
            lambda lit: f"select {lit}"),
        st.just("select 1 -- ; not a split\n"),
        st.just("select /* ; */ 2"),
        st.just('select 3 as ";"'),
        st.just("insert into t values (1), (2)"),
        st.just("update t set a = 2 where b = 'x;y'"),
        st.just("create function f() returns int language sql begin atomic "
                "select 1; select case when true then 2 end; end"),
        st.just("create or replace procedure p() language sql begin atomic "
                "insert into t values (1); end"),
        st.just("do $$ begin perform 1; end $$"),
    ), min_size=1, max_size=5))
    seps = [draw(st.sampled_from([";", "; ", ";\n", " ;; ", "; /* c */ "]))
            for _ in statements]
    text = "".join(s + sep for s, sep in zip(statements, seps, strict=True))
    return text if draw(st.booleans()) else text.rstrip("; \n")


@scaled(0.5)
@given(scripts())
def test_split_agrees_with_postgresql(sql: str) -> None:
    try:
        expected = list(pglast.split(sql))
    except pglast.parser.ParseError:
        assume(False)
    assert split_statements(sql) == expected


def test_split_examples() -> None:
    sql = ("select 'a;b'; select $x$;$x$; -- one;\nselect \"c;d\" from t /* ; */;"
           "create function f() returns int begin atomic select 1; end; select 2")
    assert split_statements(sql) == [
        "select 'a;b'", "select $x$;$x$", 'select "c;d" from t /* ; */',
        "create function f() returns int begin atomic select 1; end", "select 2"]
    assert split_statements("") == [] and split_statements(" ; -- x") == []


@pytest.mark.parametrize("sql", [
    "create function f() returns int language sql begin atomic select 1 as begin; end; "
    "select 2",
    "create function f() returns table (a int) language sql begin atomic select begin "
    "from t; end; select 2",
    "create function begin() returns int language sql begin atomic select 1; end; select 2",
])
def test_only_begin_atomic_opens_a_body(sql: str) -> None:
    """``begin`` is also a name (a column, a function): the server splits after END."""
    assert split_statements(sql) == list(pglast.split(sql))


# -- which statement an audit line is about ----------------------------------------------

MIXED = "select 1; insert into t values (1); update t set a = 2"


def test_each_line_gets_its_statement() -> None:
    m = StatementMatcher()
    key = ("log", 42)
    assert m.match(key, 1, "SELECT", MIXED) == Split("select 1", True)
    assert m.match(key, 2, "INSERT", MIXED) == Split("insert into t values (1)", True)
    assert m.match(key, 2, "INSERT", MIXED) == Split("insert into t values (1)", True)
    assert m.match(key, 3, "UPDATE", MIXED) == Split("update t set a = 2", True)
    assert m.match(key, 4, "SELECT", "select 1") is None  # one statement: no split


def test_unlogged_statement_is_skipped_by_command() -> None:
    m = StatementMatcher()
    sql = "set x = 1; delete from t; show x"
    assert m.match(1, 1, "DELETE", sql) == Split("delete from t", True)


def test_ambiguous_match_keeps_the_whole_string() -> None:
    m = StatementMatcher()
    sql = "select * from pg_class; select * from t"
    first = m.match(1, 1, "SELECT", sql)
    assert first == Split(sql, False)  # log_catalog=off may have skipped the first
    assert m.match(1, 2, "SELECT", sql) == Split("select * from t", True)


def test_same_command_twice_in_session_logging() -> None:
    m = StatementMatcher()
    sql = "select 1; select * from t"
    assert m.match(1, 1, "SELECT", sql) == Split("select 1", True)
    assert m.match(1, 2, "SELECT", sql) == Split("select * from t", True)
    # object auditing logs only some relations: a skipped statement is possible
    assert m.match(2, 1, "SELECT", sql, audit_type="OBJECT") == Split(sql, False)
    # after an uncertain line, the next one cannot lean on the order any more
    sql3 = "select * from pg_class; select 1; select 2"
    assert m.match(3, 1, "SELECT", sql3) == Split(sql3, False)
    assert m.match(3, 2, "SELECT", sql3) == Split(sql3, False)


def test_a_function_call_line_gets_the_statement_that_calls_it() -> None:
    # pgAudit logs a function call as FUNCTION,EXECUTE with the calling string's text; with
    # pgaudit.log_rows it comes before the calling SELECT's own line (logged at executor
    # end), as a real server wrote it. Any statement may call a function.
    m = StatementMatcher()
    sql = "select 3 ; select f(6); update t set a = f(7)"
    assert m.match(1, 6, "SELECT", sql) == Split("select 3", True)
    assert m.match(1, 7, "EXECUTE", sql) == Split("select f(6)", True)
    assert m.match(1, 7, "SELECT", sql) == Split("select f(6)", True)
    assert m.match(1, 8, "EXECUTE", sql) == Split("update t set a = f(7)", True)
    assert m.match(1, 8, "UPDATE", sql) == Split("update t set a = f(7)", True)


def test_backends_are_separate() -> None:
    m = StatementMatcher()
    assert m.match("a", 1, "SELECT", MIXED) == Split("select 1", True)
    assert m.match("b", 1, "SELECT", MIXED) == Split("select 1", True)
    assert m.match("a", 2, "UPDATE", MIXED) == Split("update t set a = 2", True)


def test_memory_is_bounded() -> None:
    m = StatementMatcher(max_backends=3)
    for pid in range(100):
        m.match(pid, 1, "SELECT", MIXED)
    assert len(m._backends) == 3


# What a real PostgreSQL 15 + pgAudit wrote for these strings (pgaudit.log 'all,-misc',
# log_catalog off; hunt-sql): a statement that runs a query logs it as a SELECT first
# (substatement 1), then its own command (substatement 2).

@pytest.mark.parametrize("sql, own", [
    ("create temp table tt as select 'Mk8' as x; select * from tt", "CREATE TABLE AS"),
    ("create materialized view mv as select 2 as x from t; select 3 from t",
     "CREATE MATERIALIZED VIEW"),
    ("refresh materialized view mv; select 3 from t", "REFRESH MATERIALIZED VIEW"),
    ("copy (select 4 from t) to stdout; select 5 from t", "COPY"),
    ("begin; declare c cursor for select 7 from t; fetch 1 from c; commit", "DECLARE CURSOR"),
])
def test_a_statement_that_runs_a_query_logs_a_select_first(sql: str, own: str) -> None:
    m = StatementMatcher()
    first, last = split_statements(sql)[0 if own != "DECLARE CURSOR" else 1], \
        split_statements(sql)[-1]
    assert m.match(1, 1, "SELECT", sql) == Split(first, True)
    assert m.match(1, 1, own, sql) == Split(first, True)
    if not last.startswith(("commit", "fetch")):
        assert m.match(1, 2, "SELECT", sql) == Split(last, True)


@pytest.mark.parametrize("sql", [
    "create view v as select 1 from t; select 2 from t",
    "create table t2 (a int); select 2 from t",
    "create table t4 as execute pp; select 2 from t",
    "copy t to stdout; select 2 from t",
])
def test_a_statement_that_runs_no_query_logs_no_select(sql: str) -> None:
    m = StatementMatcher()  # (its class not logged: the SELECT line is the second one's)
    assert m.match(1, 1, "SELECT", sql) == Split(split_statements(sql)[1], True)


def test_prepare_logs_its_own_command() -> None:
    sql = "prepare p as select 3 from t; execute p; select 4 from t; deallocate p"
    m = StatementMatcher()
    assert m.match(1, 1, "PREPARE", sql) == Split("prepare p as select 3 from t", True)
    assert m.match(1, 2, "SELECT", sql) == Split("execute p", True)
    assert m.match(1, 3, "SELECT", sql) == Split("select 4 from t", True)
    m = StatementMatcher()  # (PREPARE not logged: the first SELECT line is EXECUTE's)
    assert m.match(1, 1, "SELECT", sql) == Split("execute p", True)


def test_a_function_call_line_is_not_a_settings_statement() -> None:
    # log_rows: the EXECUTE line comes before the calling SELECT's; SET (class MISC) has
    # no line and calls no function
    m = StatementMatcher()
    sql = "set work_mem = '4MB'; select f(6)"
    assert m.match(1, 1, "EXECUTE", sql) == Split("select f(6)", True)
    assert m.match(1, 1, "SELECT", sql) == Split("select f(6)", True)
    # (deferred triggers run at SET CONSTRAINTS ... IMMEDIATE: a function call may be it)
    sql = "set constraints all immediate; select f(6)"
    assert m.match(2, 1, "EXECUTE", sql) != Split("select f(6)", True)


def test_a_string_run_again_does_not_match_what_the_last_run_skipped() -> None:
    # psql -c S -c S on one connection: the catalog read has no line (log_catalog off), so
    # the second run's line is its first statement's, not the catalog read's
    sql = "select 'Mk1' from t; select count(*) from pg_class"
    m = StatementMatcher()
    assert m.match(1, 1, "SELECT", sql) == Split("select 'Mk1' from t", True)
    second = m.match(1, 2, "SELECT", sql)
    assert second is not None and second.statement != "select count(*) from pg_class"
    assert second == Split(sql, False)  # (log_catalog on would make it the catalog read)
    # a statement that cannot have been skipped is still certain
    sql = "select 'Mk1' from t; insert into t values (1)"
    assert m.match(2, 1, "SELECT", sql) == Split("select 'Mk1' from t", True)
    assert m.match(2, 2, "INSERT", sql) == Split("insert into t values (1)", True)


def test_a_function_body_of_several_statements_has_its_own_matching() -> None:
    # A real server (hunt-sql): f2() is LANGUAGE sql AS 'insert into t values (1); select 1';
    # pgAudit logs each statement of its body with the body's text (substatements 3, 4)
    # between the lines of the calling string, which goes on afterwards.
    sql = "select f2(); select 'Mk21' from t; select f2(); insert into t values (22)"
    body = "insert into t values (1); select 1"
    m = StatementMatcher()
    lines = [(1, 1, "SELECT", sql, "select f2()"),
             (1, 2, "EXECUTE", sql, "select f2()"),
             (1, 3, "INSERT", body, "insert into t values (1)"),
             (1, 4, "SELECT", body, "select 1"),
             (2, 1, "SELECT", sql, "select 'Mk21' from t"),
             (3, 1, "SELECT", sql, "select f2()"),
             (3, 2, "EXECUTE", sql, "select f2()"),
             (3, 3, "INSERT", body, "insert into t values (1)"),
             (3, 4, "SELECT", body, "select 1"),
             (4, 1, "INSERT", sql, "insert into t values (22)")]
    for statement_id, substatement_id, command, text, expected in lines:
        assert m.match(1, statement_id, command, text, substatement_id=substatement_id) == \
            Split(expected, True), (statement_id, substatement_id)


def test_a_string_first_seen_at_substatement_2_is_the_top_level_one() -> None:
    # pgaudit.log = 'ddl': only CREATE TABLE AS lines (substatement 2) of each statement
    sql = "create table t2 as select 1; create table t3 as select 2"
    m = StatementMatcher()
    assert m.match(1, 1, "CREATE TABLE AS", sql, substatement_id=2) == Split(
        "create table t2 as select 1", True)
    assert m.match(1, 2, "CREATE TABLE AS", sql, substatement_id=2) == Split(
        "create table t3 as select 2", True)


def test_lines_of_one_statement_share_its_split() -> None:
    # CTAS: its query's SELECT (substatement 1), then CREATE TABLE AS (2); log_rows: a
    # function call's EXECUTE (2) before the calling SELECT (1); OBJECT lines (same ids)
    sql = "create table t2 as select 1; select f(2) from t"
    m = StatementMatcher()
    assert m.match(1, 1, "SELECT", sql, substatement_id=1) == Split(
        "create table t2 as select 1", True)
    assert m.match(1, 1, "CREATE TABLE AS", sql, substatement_id=2) == Split(
        "create table t2 as select 1", True)
    assert m.match(1, 2, "EXECUTE", sql, substatement_id=2) == Split(
        "select f(2) from t", True)
    assert m.match(1, 2, "SELECT", sql, substatement_id=1) == Split("select f(2) from t", True)
    assert m.match(1, 2, "SELECT", sql, "OBJECT", substatement_id=1) == Split(
        "select f(2) from t", True)
