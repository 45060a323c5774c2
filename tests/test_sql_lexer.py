"""The SQL lexer: fast scanner == pyparsing reference == PostgreSQL's own scanner.

pglast (libpg_query: PostgreSQL's scan.l compiled) is the oracle, in the test extra only.
"""

from __future__ import annotations

import pglast.parser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sql_strategies import sql_soup
from strategies import SETTINGS, scaled

from pgaudit_parse.sql.lexer import Token, tokenize
from pgaudit_parse.sql.reference import tokenize_reference


def _covers(sql: str, tokens: list[Token]) -> bool:
    return "".join(t.text(sql) for t in tokens) == sql and all(
        a.end == b.start for a, b in zip(tokens, tokens[1:], strict=False))


def _pglast_scan(sql: str) -> tuple[list[tuple[int, int]] | None, int | None]:
    """(token spans as (start, end) excluding whitespace, or None; error index or None)."""
    return _pglast_scan_why(sql)[:2]  # type: ignore[return-value]


def _pglast_scan_why(sql: str) -> tuple[list[tuple[int, int]] | None, int | None, str]:
    try:
        return [(t.start, t.end + 1) for t in pglast.parser.scan(sql)], None, ""
    except pglast.parser.ParseError as error:
        return None, error.args[1], error.args[0]


#: PostgreSQL's scanner checks escape values inside E'' strings; ours does not (on
#: purpose: the string's span is what matters, docs/sql.md).
ESCAPE_ERRORS = ("Unicode escape", "Unicode surrogate", "byte sequence")


def _ours(tokens: list[Token]) -> list[tuple[int, int]]:
    return [(t.start, t.end) for t in tokens if t.kind != "space"]


@scaled(0.5)
@given(sql_soup())
def test_fast_scanner_equals_reference_on_sql(sql: str) -> None:
    fast = tokenize(sql)
    assert fast == tokenize_reference(sql)
    assert _covers(sql, fast)


@scaled(0.5)
@given(st.text(st.sampled_from(list("'\"$eEuUbBxX&_1.09-/*+<>= \n\\;()ab")), max_size=20)
       | st.text(max_size=20))
def test_fast_scanner_equals_reference_on_garbage(sql: str) -> None:
    fast = tokenize(sql)  # never raises, whatever the text
    assert fast == tokenize_reference(sql)
    assert _covers(sql, fast)


@SETTINGS
@given(sql_soup())
def test_tokens_are_postgresql_tokens(sql: str) -> None:
    """Same token boundaries as PostgreSQL's scanner; opaque exactly where it fails."""
    spans, error_at, why = _pglast_scan_why(sql)
    tokens = tokenize(sql)
    if spans is not None:
        assert _ours(tokens) == spans
        assert all(t.kind != "opaque" for t in tokens)
    elif any(reason in why for reason in ESCAPE_ERRORS):
        if error_at is None:  # (some of these errors carry no position)
            assert any(t.kind in ("estring", "opaque") for t in tokens)
            return
        [where] = [t for t in tokens if t.start <= error_at < t.end]  # type: ignore[operator]
        assert where.kind in ("estring", "opaque")
        assert _ours(tokens[:tokens.index(where)]) == _pglast_scan(sql[:where.start])[0]
    else:
        assert tokens[-1].kind == "opaque"
        assert tokens[-1].start == error_at
        assert _ours(tokens[:-1]) == _pglast_scan(sql[:error_at])[0]


FORMS = {
    "doubled quote": ("select 'it''s'", "'it''s'", "string"),
    "E string": ("select E'it\\'s\\\\'", "E'it\\'s\\\\'", "estring"),
    "U& string": ("select U&'d!0061t' UESCAPE '!'", "U&'d!0061t'", "ustring"),
    "bit string": ("select B'101'", "B'101'", "bstring"),
    "hex string": ("select X'1F'", "X'1F'", "xstring"),
    "dollar": ("select $$a'b$$", "$$a'b$$", "dollar"),
    "nested tags": ("select $a$ $b$ x $b$ $a$", "$a$ $b$ x $b$ $a$", "dollar"),
    "underscores": ("select 1_000", "1_000", "number"),
    "hex": ("select 0x1F", "0x1F", "number"),
    "octal": ("select 0o17", "0o17", "number"),
    "binary": ("select 0b101", "0b101", "number"),
    "real": ("select .5e-3", ".5e-3", "number"),
    "quoted identifier": ('select "it\'s"', '"it\'s"', "qident"),
    "nested comment": ("select /* a /* b */ c */ 1", "/* a /* b */ c */", "comment"),
    "line comment": ("select 1 -- x\n", "-- x", "comment"),
    "parameter": ("select $1", "$1", "param"),
    "typed literal": ("select DATE '2026-01-01'", "'2026-01-01'", "string"),
    "continuation": ("select 'a'\n'b'", "'a'\n'b'", "string"),
    "continuation with comment": ("select 'a' -- c\n 'b'", "'a' -- c\n 'b'", "string"),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_each_lexical_form(name: str) -> None:
    sql, text, kind = FORMS[name]
    tokens = tokenize(sql)
    assert any(t.text(sql) == text and t.kind == kind for t in tokens), tokens
    assert tokens == tokenize_reference(sql)


@pytest.mark.parametrize("sql, opaque", [
    ("select a from t where b = 'cut sh", "'cut sh"),
    ("select 1abc", "1abc"),
    ("select $x$ open", "$x$ open"),
    ("select /* open /* */", "/* open /* */"),
    ("select \"\" from t", "\"\" from t"),
    ("select 'a'\n'b", "'a'\n'b"),
])
def test_what_does_not_lex_is_one_opaque_token(sql: str, opaque: str) -> None:
    tokens = tokenize(sql)
    assert tokens[-1].kind == "opaque" and tokens[-1].text(sql) == opaque
    assert tokens == tokenize_reference(sql)


def test_pgaudit_redacted_mark_lexes_as_postgresql_lexes_it() -> None:
    sql = "CREATE ROLE a PASSWORD <REDACTED>"
    assert [t.text(sql) for t in tokenize(sql) if t.kind != "space"][-3:] == [
        "<", "REDACTED", ">"]
    assert _ours(tokenize(sql)) == _pglast_scan(sql)[0]


def test_garbage_never_raises_on_long_input() -> None:
    sql = "".join(chr(c) for c in range(0, 0x500)) * 3
    tokens = tokenize(sql)
    assert _covers(sql, tokens)
    assert tokens == tokenize_reference(sql)
