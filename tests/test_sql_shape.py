"""Statement shapes (integer constants written 0) key the fingerprint and ``literals``
caches: each property below is the fast path against the plain code it stands for."""

from __future__ import annotations

import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sql_strategies import garbage, literals, pieces, sql_soup
from strategies import SETTINGS

from pgaudit_parse.sql import fingerprint, redact_literals
from pgaudit_parse.sql.fingerprint import _fingerprint
from pgaudit_parse.sql.redact import _redact_literals_by_tokens
from pgaudit_parse.sql.shape import fingerprint_shape, literals_shape

fingerprint_module = sys.modules["pgaudit_parse.sql.fingerprint"]
redact_module = sys.modules["pgaudit_parse.sql.redact"]

# Digits next to everything that could make them part of another token.
_digits_soup = st.text(st.sampled_from(list("0123456789_.$eExXbBoO'\"-+ a\n/*é")),
                       max_size=24)
_strings = st.one_of(literals(), st.text(st.sampled_from(list("a1' ")), max_size=6).map(
    lambda body: "'" + body.replace("'", "''") + "'"))
_integers = st.one_of(st.integers(0, 10**12).map(str), st.sampled_from(["0", "00", "007"]))


@st.composite
def same_shape_pair(draw: st.DrawFn) -> tuple[str, str]:
    """Two statements of tokens of every kind that differ only in their integers."""
    parts = draw(st.lists(st.one_of(pieces, garbage, st.just(None)), max_size=12))
    one, two = [], []
    for part in parts:
        seps = draw(st.sampled_from(["", " ", "\n", ", "]))
        if part is None:  # an integer or a string slot
            constants = _integers if draw(st.booleans()) else _strings
            one.append(draw(constants))
            two.append(draw(constants))
        else:
            one.append(part)
            two.append(part)
        one.append(seps)
        two.append(seps)
    return "".join(one), "".join(two)


# Quotes next to everything else that can hold one (comments, dollar quotes, escapes...).
_quotes_soup = st.lists(st.sampled_from(
    ["'", "''", "'a'", "'1'", "--", "/*", "*/", "$$", "$q$", "$1", "\\", "&", "U&", "E", "e",
     "B", '"', " uescape ", "\n", " ", "x", "7", "-", ","]), max_size=12).map("".join)
_any_sql = st.one_of(sql_soup(), _digits_soup, _quotes_soup,
                     same_shape_pair().map(lambda p: p[0]))


# A quote in each context that is not a string's own (each one a counterexample once).
_QUOTE_CASES = ["select 'a' -- it's\n, 'b'", "select /* it's */ 'a', 'b'", "select E'\\'', 1",
                "select $$it's$$, 'a'", "select U&'a' UESCAPE '!', 'b'", 'select "it\'s", 1']


@SETTINGS
@given(_any_sql)
@example(_QUOTE_CASES[0])
@example(_QUOTE_CASES[1])
@example(_QUOTE_CASES[2])
@example(_QUOTE_CASES[3])
@example(_QUOTE_CASES[4])
@example(_QUOTE_CASES[5])
def test_a_shape_has_the_fingerprint_of_its_statement(sql: str) -> None:
    shape = fingerprint_shape(sql)
    if shape is not None:
        assert _fingerprint(shape) == _fingerprint(sql)


@SETTINGS
@given(_any_sql)
@example(_QUOTE_CASES[0])
@example(_QUOTE_CASES[1])
@example(_QUOTE_CASES[2])
@example(_QUOTE_CASES[3])
@example(_QUOTE_CASES[4])
@example(_QUOTE_CASES[5])
def test_a_shape_has_the_literals_of_its_statement(sql: str) -> None:
    shape = literals_shape(sql)
    if shape is not None:
        assert _redact_literals_by_tokens(shape) == _redact_literals_by_tokens(sql)


@SETTINGS
@given(same_shape_pair())
def test_the_caches_give_each_statement_its_own_result(pair: tuple[str, str]) -> None:
    # Through the public functions and their caches, one statement after another of the
    # same shape: each gets what the plain code gives it.
    for caches in (fingerprint_module._FINGERPRINTS, redact_module._LITERALS):
        caches.cache_clear()
    for sql in pair:
        assert fingerprint(sql) == _fingerprint(sql)
        assert redact_literals(sql) == _redact_literals_by_tokens(sql)


@pytest.mark.parametrize("sql, shape", [
    ("update t set a = a + 4532 where aid = 98942;", "update t set a = a + 0 where aid = 0;"),
    ("select 1.5, .5, 1e5, 0x1F, 1_000, $12, t1, a$1, é1", None),
    ("values (-7), (8)", "values (-0), (0)"),
    ("select '123', 5'x'", "select '', 0''"),
    ("select '1', $1", "select '0', $1"),
    ("select 'it''s', x'1F', e'a', 'a'\n'b'", "select '''', x'', e'', ''\n''"),
    ("select U&'a' UESCAPE '!', 7", "select U&'a' UESCAPE '!', 0"),
])
def test_only_whole_constant_tokens_change(sql: str, shape: str | None) -> None:
    assert fingerprint_shape(sql) == (sql if shape is None else shape)


def test_quoted_identifiers_and_comments_have_no_shape() -> None:
    assert fingerprint_shape('select "a 1" from t') is None
    assert literals_shape('select "a 1" from t') is None
    assert literals_shape("select 1 -- 2") is None
    assert literals_shape("select 1 /* 2 */") is None
    assert fingerprint_shape("select 1 -- 2") == "select 0 -- 0"
