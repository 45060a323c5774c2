"""Hypothesis strategies for SQL text: tokens of every lexical form PostgreSQL has.

Each piece is rendered as a client would type it; tests compare what our lexer, redaction
and split make of it with pglast (PostgreSQL's own scanner and parser, test-only).

>>> render_literal("standard", "it's")
"'it''s'"
>>> render_literal("dollar", "a$$b", tag="q")
'$q$a$$b$q$'
"""

from __future__ import annotations

from hypothesis import strategies as st

LITERAL_FORMS = ("standard", "escape", "unicode", "unicode_uescape", "dollar", "continued",
                 "continued_comment")

_plain_chars = st.characters(codec="utf-8", exclude_characters="\x00",
                             exclude_categories=("Cs",))
words = st.sampled_from(["select", "from", "where", "and", "or", "in", "values", "insert",
                         "into", "update", "set", "as", "on", "create", "role", "begin",
                         "end", "case", "when", "then", "else", "uescape", "date",
                         "interval", "password", "e", "b", "x", "u", "n", "t", "a$1",
                         "café", "_x9", "SELECT", "From"])


def render_literal(form: str, value: str, tag: str = "") -> str:
    """``value`` as a constant of one lexical form (its value is ``value`` in each)."""
    if form == "standard":
        return "'" + value.replace("'", "''") + "'"
    if form == "escape":
        return "E'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if form == "unicode":
        return "U&'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    if form == "unicode_uescape":
        return "U&'" + value.replace("!", "!!").replace("'", "''") + "' UESCAPE '!'"
    if form == "dollar":
        return f"${tag}$" + value + f"${tag}$"
    if form == "continued":
        half = len(value) // 2
        return render_literal("standard", value[:half]) + "\n  " + render_literal(
            "standard", value[half:])
    if form == "continued_comment":
        half = len(value) // 2
        return render_literal("standard", value[:half]) + " -- more\n" + render_literal(
            "standard", value[half:])
    raise ValueError(form)


@st.composite
def literals(draw: st.DrawFn, value: st.SearchStrategy[str] | None = None) -> str:
    """A string constant of any form whose value is drawn from ``value``."""
    form = draw(st.sampled_from(LITERAL_FORMS))
    text = draw(value if value is not None else st.text(_plain_chars, max_size=8))
    tag = draw(st.sampled_from(["", "q", "body_1", "é"]))
    if form == "dollar" and f"${tag}$" in text + "$":
        text = text.replace("$", "")
    return render_literal(form, text, tag)


numbers = st.one_of(
    st.integers(0, 10**12).map(str),
    st.sampled_from(["1_000", "0x1F", "0X1f_ff", "0o17", "0b101", "0b1_0", ".5e-3",
                     "1.5", "1.", "12.5E+10", "3e7", "0_1"]),
)
other_constants = st.sampled_from(["B'1010'", "b''", "X'1F'", "x'ab'", "N'nat'",
                                   "DATE '2026-01-01'", "interval '1 day'"])
identifiers = st.one_of(
    words,
    st.from_regex(r"[a-z_][a-z0-9_$]{0,6}", fullmatch=True),
    st.text(st.characters(exclude_characters='"\x00', exclude_categories=("Cs",)),
            min_size=1, max_size=6).map(lambda s: '"' + s + '"'),
    st.sampled_from(['"a""b"', 'U&"d\\0061t"', '"Select"']),
)
comments = st.one_of(
    st.text(st.characters(exclude_characters="\n\r\x00", exclude_categories=("Cs",)),
            max_size=8).map(lambda s: "--" + s + "\n"),
    st.text(st.characters(exclude_characters="*/\x00", exclude_categories=("Cs",)),
            max_size=8).map(lambda s: "/*" + s + "*/"),
    st.just("/* a /* nested */ b */"),
)
operators = st.one_of(
    st.sampled_from(["+", "-", "*", "/", "<", ">", "=", "<=", ">=", "<>", "!=", "::", "..",
                     ":=", "=>", "||", "@-", "a*-1", "+-", "~~*", "->>", "#-", "%"]),
    st.text(st.sampled_from(list("~!@#^&|`?+-*/%<>=")), min_size=1, max_size=4),
)
punctuation = st.sampled_from([",", "(", ")", "[", "]", ".", ";", ":", "$1", "$12", "$",
                               "\\", "{", "<REDACTED>"])
spaces = st.text(st.sampled_from(list(" \t\n\r\f\v")), min_size=1, max_size=3)
garbage = st.sampled_from(["'unterminated", "E'bad\\", "$$open", "/* open", '"open',
                           '""', "1abc", "0x", "1e+", "0b2", "U&'x", "B'01"])

# Types with modifiers (a type, not constants: pg_stat_statements keeps them).
types = st.sampled_from(["numeric(10,2)", "::varchar(3)", "::s.t(5, -2)", "timestamp(3)",
                         "char (1)", "::int", "float(53)", "::bit varying(8)", "f(2)"])

pieces = st.one_of(literals(), numbers, other_constants, identifiers, comments, operators,
                   punctuation, words, types)


@st.composite
def sql_soup(draw: st.DrawFn, with_garbage: bool = True) -> str:
    """Tokens of every kind, sometimes with no space between them (adjacency cases)."""
    parts = draw(st.lists(st.one_of(pieces, garbage) if with_garbage else pieces,
                          max_size=12))
    out = []
    for part in parts:
        out.append(part)
        out.append(draw(st.one_of(spaces, st.just(""), st.just(" "))))
    return "".join(out)


@st.composite
def secret_values(draw: st.DrawFn) -> str:
    """A secret that is easy to search for and has characters that need escaping."""
    core = draw(st.text(st.sampled_from(list("ab'\\$!é;\"-*/ ")), max_size=6))
    return f"S3cr{draw(st.integers(100, 999))}{core}t"
