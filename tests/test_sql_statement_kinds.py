"""The SQL layer on every kind of PostgreSQL 15 statement (hunt-sql2), pglast the oracle.

Each template holds ``§s`` (a string constant) and ``§n`` (a number), filled with values
that carry a marker. Split, token boundaries and constant places must agree with
PostgreSQL's own scanner and parser (pglast); ``--redact literals`` output must parse
where the input did and hold no marker; fingerprints must be equal across constant-only
differences and differ across statements.
"""

from __future__ import annotations

import itertools
import re

import pglast
import pglast.parser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import SETTINGS

from pgaudit_parse.sql import (
    fingerprint,
    redact,
    redact_literals,
    split_statements,
    statement_spans,
    tokenize,
)
from pgaudit_parse.sql.constants import find_constants
from pgaudit_parse.sql.redact import _fast_redact_literals, _redact_literals_by_tokens

TEMPLATES = [
    # MERGE
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.v > §n THEN UPDATE SET v = §s"
    " WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, §s) WHEN MATCHED THEN DELETE",
    "MERGE INTO t USING (SELECT §n AS id) s ON t.id = s.id WHEN NOT MATCHED THEN DO NOTHING",
    # routines with SQL-standard bodies, procedures, CALL
    "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + §n; "
    "SELECT §s; END",
    "CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE "
    "WHEN a > §n THEN §n ELSE §n END; END",
    "CREATE FUNCTION f(a int DEFAULT §n) RETURNS int LANGUAGE sql RETURN a + §n",
    "CREATE FUNCTION f() RETURNS text LANGUAGE sql IMMUTABLE COST §n AS §s",
    "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql SET search_path = §s AS §s",
    "CREATE PROCEDURE p(x int) LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (x); "
    "INSERT INTO t VALUES (§n, §s); END",
    "CALL p(§n)", "CALL s.p(x => §s, y => §n)",
    # DO, COPY
    "DO $outer$ BEGIN EXECUTE $q$SELECT 'a;b'$q$; RAISE NOTICE $$x$$; END $outer$",
    "DO LANGUAGE plpgsql §s",
    "COPY t (a, b) FROM STDIN WITH (FORMAT csv, DELIMITER §s, NULL §s)",
    "COPY t FROM STDIN DELIMITER §s CSV QUOTE §s",
    "COPY (SELECT §n, §s) TO STDOUT WITH (FORMAT csv, HEADER true, ESCAPE §s)",
    "COPY t TO §s", "COPY t FROM STDIN WHERE a > §n",
    # queries
    "WITH RECURSIVE r(n) AS (SELECT §n UNION ALL SELECT n + §n FROM r WHERE n < §n) "
    "SELECT n FROM r",
    "SELECT sum(x) OVER (PARTITION BY y ORDER BY z ROWS BETWEEN §n PRECEDING AND CURRENT "
    "ROW), rank() OVER w FROM t WINDOW w AS (ORDER BY x RANGE BETWEEN INTERVAL §s "
    "PRECEDING AND CURRENT ROW)",
    "SELECT d->>§s, d#>§s, d @? §s, d ?| array[§s], d ? §s, d ?& §s, d->-§n FROM t",
    "SELECT a[§n:§n], a[:§n], a[§n:], a[1][2] FROM t",
    "SELECT §s::text[], x::int[], CAST(y AS varchar(10)[]), §n::numeric(10,2)",
    "SELECT §n OPERATOR(pg_catalog.+) §n, a OPERATOR(pg_catalog.~~) §s",
    'SELECT "select", "from" FROM "table" WHERE "where" = §n',
    "SELECT a$1, x$$y, x$y FROM t WHERE b = $1 AND c = §s",
    "SELECT $1::int, $2, §s",
    "SELECT 1., 1.e5, .5, .5e1, 1_000.5, 0b101, 0o17, 0x1F, §n FROM t",
    "SELECT i FROM generate_series(§n, §n) AS g(i) WHERE i BETWEEN §n AND §n",
    "SELECT x FROM t FETCH FIRST §n ROWS ONLY",
    "SELECT a AT TIME ZONE §s, interval §s day, DATE §s",
    "INSERT INTO t VALUES (§n, §s) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v || §s",
    "UPDATE t SET (a, b) = (§n, §s) WHERE c LIKE §s ESCAPE §s",
    "DELETE FROM t WHERE a IN (§n, §n) RETURNING a",
    "VALUES (§n, §s), (§n, §s)",
    # settings, prepared statements, cursors
    "SET search_path = §s, b", "SET work_mem TO §n", "ALTER SYSTEM SET work_mem = §s",
    "PREPARE q(int) AS SELECT $1 + §n", "EXECUTE q(§n)",
    "DECLARE c CURSOR FOR SELECT §s", "FETCH §n FROM c", "MOVE FORWARD §n IN c",
    "FETCH BACKWARD §n FROM c",
    # DDL
    "CREATE TABLE t2 (a int DEFAULT §n CHECK (a > §n), b text DEFAULT §s, c int GENERATED "
    "ALWAYS AS IDENTITY (START WITH §n)) WITH (fillfactor = §n)",
    "CREATE TABLE t2 AS SELECT §n AS a WITH NO DATA",
    "CREATE TABLE p1 PARTITION OF t FOR VALUES FROM (§n) TO (§n)",
    "CREATE TABLE p2 PARTITION OF t FOR VALUES WITH (MODULUS §n, REMAINDER §n)",
    "ALTER TABLE t ADD COLUMN c int DEFAULT §n CHECK (c > §n)",
    "ALTER TABLE t ALTER c SET STATISTICS §n, ALTER d SET DEFAULT §s",
    "ALTER TABLE t SET (fillfactor = §n)",
    "ALTER TABLE t ALTER c TYPE int USING c + §n",
    "CREATE INDEX i ON t USING btree (a) WITH (fillfactor = §n) WHERE a > §n",
    "CREATE VIEW v WITH (security_barrier = true) AS SELECT §n AS a, §s AS b",
    "CREATE MATERIALIZED VIEW mv AS SELECT §s WITH NO DATA",
    "CREATE DOMAIN d AS int DEFAULT §n CHECK (VALUE > §n)",
    "CREATE SEQUENCE s START §n INCREMENT -§n MINVALUE -§n",
    "ALTER SEQUENCE s RESTART WITH §n",
    "CREATE TYPE mood AS ENUM (§s, §s)", "ALTER TYPE mood ADD VALUE §s BEFORE §s",
    "COMMENT ON TABLE t IS §s", "SECURITY LABEL FOR dummy ON TABLE t IS §s",
    "CREATE POLICY pol ON t USING (a = §n) WITH CHECK (b = §s)",
    "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW WHEN (new.a > §n) EXECUTE FUNCTION "
    "f(§s, §n)",
    "CREATE EVENT TRIGGER e ON ddl_command_start WHEN TAG IN (§s) EXECUTE FUNCTION f()",
    "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (§n); INSERT INTO u "
    "VALUES (§s))",
    "CREATE ROLE r LOGIN CONNECTION LIMIT §n VALID UNTIL §s",
    "ALTER ROLE r SET statement_timeout = §s",
    "CREATE DATABASE db ENCODING §s CONNECTION LIMIT §n",
    "CREATE TABLESPACE ts LOCATION §s",
    "CREATE EXTENSION e VERSION §s",
    "CREATE SERVER srv FOREIGN DATA WRAPPER w OPTIONS (host §s, port §s)",
    "CREATE USER MAPPING FOR u SERVER srv OPTIONS (user §s)",
    "IMPORT FOREIGN SCHEMA s FROM SERVER srv INTO l OPTIONS (a §s)",
    "CREATE PUBLICATION pub FOR TABLE t WHERE (a > §n) WITH (publish = §s)",
    "CREATE COLLATION c (locale = §s)",
    "CREATE AGGREGATE a(int) (sfunc = f, stype = int, initcond = §s)",
    "CREATE TEXT SEARCH DICTIONARY d (template = simple, stopwords = §s)",
    "CREATE CONVERSION c FOR §s TO §s FROM f",
    "ALTER FUNCTION f() COST §n",
    "ALTER FUNCTION f() SET search_path TO §s",
    "VACUUM (PARALLEL §n) t", "EXPLAIN (FORMAT json) SELECT §s",
    "NOTIFY ch, §s", "LOAD §s", "PREPARE TRANSACTION §s", "COMMIT PREPARED §s",
]

# (kind of value, its rendering) pairs: a number is decimal, float, hex or with
# underscores; a string is any of the literal forms the lexer knows.
_NUMBERS = ["4{m}", "4{m}.25", "4_{m}", "0x4{m}"]
_STRINGS = ["'v{m}'", "E'v{m}\\''", "$$v{m}$$", "$q$v{m}$q$", "U&'v{m}\\0061'",
            "'v' '{m}'".replace(" ", "\n"), "U&'v{m}!0061' UESCAPE '!'"]
MARKER = re.compile(r"[0-9]{5}")


def fill(template: str, numbers: list[str], strings: list[str], seed: int) -> str:
    """``template`` with each §n and §s a constant holding the marker ``seed``+k."""
    counter = itertools.count(seed)
    out = []
    for piece in re.split(r"(§[ns])", template):
        if piece == "§n":
            piece = numbers[next(counter) % len(numbers)].format(m=next(counter))
        elif piece == "§s":
            piece = strings[next(counter) % len(strings)].format(m=next(counter))
        out.append(piece)
    return "".join(out)


def _parses(sql: str) -> bool:
    try:
        pglast.parse_sql(sql)
    except pglast.parser.ParseError:
        return False
    return True


STATEMENTS = [fill(t, _NUMBERS, _STRINGS, 10000 + 100 * i) for i, t in enumerate(TEMPLATES)]


def test_every_template_parses() -> None:
    """The corpus is PostgreSQL: each statement, in each literal form, parses."""
    assert [s for s in STATEMENTS if not _parses(s)] == []


@pytest.mark.parametrize("sql", STATEMENTS)
def test_tokens_and_constants_are_postgresqls(sql: str) -> None:
    """Token boundaries are the scanner's; every constant token of the scanner is one of
    ours (a sign before it, a UESCAPE clause after it may join it)."""
    tokens = tokenize(sql)
    theirs = list(pglast.parser.scan(sql))
    assert [(t.start, t.end) for t in tokens if t.kind != "space"] == [
        (t.start, t.end + 1) for t in theirs]
    ours = find_constants(sql, tokens)
    for token in theirs:
        if token.name in ("SCONST", "USCONST", "BCONST", "XCONST", "ICONST", "FCONST"):
            inside = [c for c in ours if c.start <= token.start and token.end < c.end]
            before = sql[:token.start]
            in_uescape = before.rstrip().upper().endswith("UESCAPE")
            modifier = re.search(r"(?:varchar|numeric)\s*\([0-9,\s]*$", before)
            assert inside or in_uescape or modifier, sql[token.start:token.end + 1]


@pytest.mark.parametrize("sql", STATEMENTS)
def test_literals_output_parses_and_hides_every_constant(sql: str) -> None:
    out = redact_literals(sql)
    assert _parses(out), out
    assert MARKER.search(out) is None, out
    assert _redact_literals_by_tokens(sql) == out
    fast = _fast_redact_literals(sql)
    assert fast is None or fast == out


def test_fingerprints_follow_structure_not_constants() -> None:
    other = [fill(t, _NUMBERS[::-1], _STRINGS[::-1], 50000 + 100 * i)
             for i, t in enumerate(TEMPLATES)]
    assert [fingerprint(a) == fingerprint(b) for a, b in zip(STATEMENTS, other,
                                                             strict=True)] == [True] * len(other)
    prints = [fingerprint(s) for s in STATEMENTS]
    assert len(set(prints)) == len(prints)


@SETTINGS
@given(st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=5),
       st.lists(st.sampled_from([";", "; ", ";\n", " ;; ", "; /* ; */ ", ";-- x\n"]),
                min_size=5, max_size=5))
def test_scripts_split_as_postgresql_splits_them(statements: list[str],
                                                 seps: list[str]) -> None:
    """Multi-statement strings of every kind: split where the server's parser does, and
    their literals output still parses."""
    sql = "".join(s + sep for s, sep in zip(statements, seps, strict=False))
    assert split_statements(sql) == list(pglast.split(sql))
    out = redact_literals(sql)
    assert _parses(out), out
    assert MARKER.search(out) is None


@pytest.mark.parametrize("sql", [
    # END is a bare column label: "select x end" is "select x AS end"; the body closes
    # only at an END right after a ';' (or right after ATOMIC)
    "create function f(x int) returns int language sql begin atomic select x end; end; "
    "select 3",
    "create function f(x int) returns int language sql begin atomic select x end; select "
    "x end; end; select 3",
    "create procedure p() language sql begin atomic select 1 end; end; call p()",
    "create function f() returns int language sql begin atomic end; select 1",
    "create function f() returns int language sql begin atomic select case when true then "
    "1 end end; end; select 2",
])
def test_a_body_ends_where_the_grammar_ends_it(sql: str) -> None:
    assert split_statements(sql) == list(pglast.split(sql))
    assert [sql[a:b] for a, b in statement_spans(sql)] == list(pglast.split(sql))


@pytest.mark.parametrize("sql, expected", [
    ("DO $$ BEGIN PERFORM 1; END $$", "DO '$1'"),
    ("COMMENT ON TABLE t IS 'payroll'", "COMMENT ON TABLE t IS '$1'"),
    ("FETCH 5 FROM c", "FETCH 0 FROM c"),
    ("CREATE SEQUENCE s START 10 INCREMENT -1", "CREATE SEQUENCE s START 0 INCREMENT 0"),
    ("COPY t FROM STDIN WITH (DELIMITER ';') WHERE a > 5",
     "COPY t FROM STDIN WITH (DELIMITER '$1') WHERE a > $2"),
    ("ALTER TABLE t ADD c int DEFAULT 5", "ALTER TABLE t ADD c int DEFAULT $1"),
    ("ALTER ROLE r PASSWORD 'x' VALID UNTIL 'infinity'",
     "ALTER ROLE r PASSWORD $1 VALID UNTIL '$2'"),
    ("select 1; do 'begin null; end'; select 'x'", "select $1; do '$2'; select $3"),
])
def test_a_constant_where_the_grammar_takes_no_parameter(sql: str, expected: str) -> None:
    """``$n`` where PostgreSQL takes an expression; where it takes only a literal (a DO
    body, COMMENT ... IS, an option list, FETCH's count, a sequence's numbers), a literal
    that holds no data: ``'$n'`` for a string, ``0`` for a number."""
    assert redact_literals(sql) == expected
    assert redact(sql, "literals") == expected


# -- text that does not lex: cut short, marked by pgAudit, huge, unbalanced ---------------

@SETTINGS
@given(st.sampled_from(STATEMENTS), st.integers(1, 400),
       st.sampled_from(["", "...", "<not logged>", " <REDACTED>", "'", "$$", '"', "/*"]))
def test_a_statement_cut_short_hides_every_constant_before_and_after_the_cut(
        sql: str, cut: int, tail: str) -> None:
    """log_parameter_max_length, a line cut by the log's size limit, pgAudit's marks: never
    an exception, and no constant (nor the opaque rest after the cut) in ``literals``."""
    text = sql[:cut] + tail
    out = redact_literals(text)
    assert re.search(r"[0-9]{3}", out) is None, out
    redact(text, "passwords")
    fingerprint(text)
    assert all(piece in text for piece in split_statements(text))


#: One-megabyte statements of the shapes that cost most: each must lex in one pass.
_HUGE = 1_000_000
HUGE = {
    "open string": "select 'S3cr" + "a" * _HUGE,
    "open dollar quote": "select $q$S3cr" + "x;" * (_HUGE // 2),
    "open comment": "select 1 /*" + "/*" * (_HUGE // 2),
    "operator run": "select 1 " + "+-" * (_HUGE // 2) + " 'S3cr'",
    "casts": "select x" + "::t" * (_HUGE // 3) + " from t",
    "quoted identifier": 'select "' + "a" * _HUGE,
    "escapes": "select E'S3cr" + "\\'" * (_HUGE // 2),
}


@pytest.mark.parametrize("name", sorted(HUGE))
def test_a_one_megabyte_statement(name: str) -> None:
    sql = HUGE[name]
    out = redact_literals(sql)
    assert "S3cr" not in out and "aaaa" not in out
    assert len(split_statements(sql)) == 1
    fingerprint(sql)
    redact(sql, "passwords")


def test_fast_literals_match_each_token_one_way() -> None:
    """The fast path of ``literals`` reads a statement as a sequence of pieces; a token
    that two pieces could also spell (``::`` as ``:`` and ``:``) makes the regex try every
    split of every such token when a match fails: a statement of 25 casts then takes
    minutes. Each token must match one piece only."""
    from pgaudit_parse.sql.redact import _FAST_SKIP
    twice = re.compile(rf"(?:{_FAST_SKIP})(?:{_FAST_SKIP})+")
    for token in ["::", ":=", "..", "...", ":::", "<=", "->>", "a1", "  ", "/* c */",
                  '"a""b"', "-- c\n", "+-", "@-"]:
        assert twice.fullmatch(token) is None or len(tokenize(token)) > 1, token
    sql = "select " + ", ".join(f"c{i}::text" for i in range(60)) + " from t"
    assert redact_literals(sql) == sql
