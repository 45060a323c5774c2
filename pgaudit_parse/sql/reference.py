"""The reference lexer: scan.l's rules as pyparsing combinators, one named piece per rule.

Slow and plain on purpose. :func:`tokenize_reference` tries every rule at each position
and keeps the longest match (``Or``; of equal lengths, the rule written first, as flex
does), so each piece below only has to say what one kind of token is. A rule that makes
PostgreSQL's scanner fail (``error`` below) turns the rest of the text into one
``opaque`` token. :func:`pgaudit_parse.sql.lexer.tokenize` is the fast scanner used at
run time; property tests prove that the two agree on any text.

>>> sql = "select $a$ $b$ $a$, 1..2"
>>> [(t.kind, t.text(sql)) for t in tokenize_reference(sql) if t.kind != "space"]
[('ident', 'select'), ('dollar', '$a$ $b$ $a$'), ('punct', ','), ('number', '1'), \
('operator', '..'), ('number', '2')]
"""

from __future__ import annotations

from typing import Any, Final

import pyparsing as pp

from .lexer import (
    HORIZ_SPACE_CHARS,
    INT_MAX,
    NEWLINE_CHARS,
    OP_CHARS,
    OP_KEEPS_SIGN_CHARS,
    SPACE_CHARS,
    Token,
    TokenKind,
)

__all__ = ["tokenize_reference", "TOKEN"]

_ASCII_LETTERS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGITS: Final = "0123456789"


class _HighChar(pp.Token):
    """Any one character outside ASCII (scan.l's bytes \\200-\\377)."""

    def parseImpl(self, instring: str, loc: int, do_actions: bool = True) -> Any:
        if loc < len(instring) and instring[loc] >= "\x80":
            return loc + 1, instring[loc]
        raise pp.ParseException(instring, loc, "expected a non-ASCII character", self)


class _AnyChar(pp.Token):
    """Any one character."""

    def parseImpl(self, instring: str, loc: int, do_actions: bool = True) -> Any:
        if loc < len(instring):
            return loc + 1, instring[loc]
        raise pp.ParseException(instring, loc, "expected a character", self)


class _Operator(pp.Token):
    """scan.l's ``{operator}`` rule with its action, as the C code reads.

    Take the longest run of operator characters; cut it before ``/*`` or ``--`` (a
    comment starts there); then, unless it holds one of ``~!@#^&|`?%``, drop trailing
    ``+`` and ``-`` (keeping one character), so that ``a*-1`` is ``a * -1``.
    """

    def parseImpl(self, instring: str, loc: int, do_actions: bool = True) -> Any:
        nchars = 0
        while loc + nchars < len(instring) and instring[loc + nchars] in OP_CHARS:
            nchars += 1
        text = instring[loc:loc + nchars]
        for i in range(nchars - 1):
            if text[i:i + 2] in ("/*", "--"):
                nchars = i
                break
        if nchars > 1 and text[nchars - 1] in "+-":
            if not any(text[i] in OP_KEEPS_SIGN_CHARS for i in range(nchars - 1)):
                nchars -= 1
                while nchars > 1 and text[nchars - 1] in "+-":
                    nchars -= 1
        if nchars == 0:
            raise pp.ParseException(instring, loc, "expected an operator", self)
        return loc + nchars, text[:nchars]


def _chars(chars: str) -> pp.ParserElement:
    return pp.Char(chars)


def _build() -> pp.ParserElement:
    any_char = _AnyChar()
    rest = pp.ZeroOrMore(any_char)  # what a failing rule swallows: everything
    letter = _chars(_ASCII_LETTERS) | _HighChar()
    digit = _chars(_DIGITS)
    ident_start = letter | "_"
    ident_cont = ident_start | digit | "$"
    identifier = ident_start + pp.ZeroOrMore(ident_cont)

    # whitespace and comments
    space = pp.OneOrMore(_chars(SPACE_CHARS))
    line_comment = pp.Literal("--") + pp.ZeroOrMore(~_chars(NEWLINE_CHARS) + any_char)
    block_comment = pp.Forward()
    block_comment <<= ("/*" + pp.ZeroOrMore(block_comment | ~pp.Literal("*/") + any_char)
                       + "*/")

    # quoted constants; 'a'<newline>'b' continues one constant ({quotecontinue})
    quote = pp.Literal("'")
    newline = _chars(NEWLINE_CHARS)
    quote_continue = (pp.ZeroOrMore(_chars(HORIZ_SPACE_CHARS) | line_comment) + newline
                      + pp.ZeroOrMore(_chars(SPACE_CHARS) | line_comment + newline) + quote)

    def quoted(opener: str, inside: pp.ParserElement) -> tuple[pp.ParserElement, ...]:
        """A constant opened by ``opener``, and its error rule (unterminated)."""
        body = pp.ZeroOrMore(inside) + quote
        constant = (pp.CaselessLiteral(opener) + body + pp.ZeroOrMore(quote_continue + body)
                    + ~quote_continue)
        return constant, ~constant + pp.CaselessLiteral(opener) + rest

    not_quote = ~quote + any_char
    doubled_quote = pp.Literal("''")
    standard = quoted("'", doubled_quote | not_quote)
    escaped = quoted("E'", doubled_quote | "\\" + any_char | not_quote)
    unicode = quoted("U&'", doubled_quote | not_quote)
    bits = quoted("B'", not_quote)
    hexes = quoted("X'", not_quote)

    # $tag$ ... $tag$; the tag may not start with a digit ($1 is a parameter)
    dolq_start = letter | "_"
    dolq_cont = dolq_start | digit
    delimiter = pp.Combine("$" + pp.Opt(dolq_start + pp.ZeroOrMore(dolq_cont)) + "$")
    closing = pp.match_previous_literal(delimiter)
    dollar = delimiter + pp.SkipTo(closing) + closing
    dollar_unterminated = ~dollar + delimiter + rest

    # "..." identifiers (never empty)
    dquote = pp.Literal('"')
    qident_inside = pp.Literal('""') | ~dquote + any_char
    qident = dquote + pp.OneOrMore(qident_inside) + dquote
    uident = pp.CaselessLiteral('U&"') + pp.OneOrMore(qident_inside) + dquote
    qident_bad = ~qident + dquote + rest
    uident_bad = ~uident + pp.CaselessLiteral('U&"') + rest

    # numbers, in scan.l's order
    def digits_of(chars: str) -> pp.ParserElement:
        return pp.OneOrMore(pp.Opt("_") + _chars(chars))

    decinteger = digit + pp.ZeroOrMore(pp.Opt("_") + digit)
    hexinteger = "0" + _chars("xX") + digits_of("0123456789ABCDEFabcdef")
    octinteger = "0" + _chars("oO") + digits_of("01234567")
    bininteger = "0" + _chars("bB") + digits_of("01")
    hexfail = "0" + _chars("xX") + pp.Opt("_")
    octfail = "0" + _chars("oO") + pp.Opt("_")
    binfail = "0" + _chars("bB") + pp.Opt("_")
    numeric = decinteger + "." + pp.Opt(decinteger) | "." + decinteger
    numericfail = decinteger + ".."
    mantissa = numeric | decinteger
    real = mantissa + _chars("Ee") + pp.Opt(_chars("+-")) + decinteger
    realfail = mantissa + _chars("Ee") + _chars("+-")
    integer_junk = decinteger + identifier
    numeric_junk = numeric + identifier
    real_junk = real + identifier

    param = pp.Combine("$" + pp.OneOrMore(digit))
    param_ok = param.copy().add_condition(lambda t: int(t[0][1:]) <= INT_MAX)
    param_too_large = param.copy().add_condition(lambda t: int(t[0][1:]) > INT_MAX)
    special = pp.Literal("::") | ".." | ":="
    punct = _chars(",()[].;:")

    def kind(name: str, expr: pp.ParserElement, give_back: int = 0) -> pp.ParserElement:
        """``expr`` yielding ``(name, where it ends)``; ``give_back`` chars are returned."""
        def located(s: str, loc: int, toks: pp.ParseResults) -> list[tuple[str, int]]:
            return [(name, loc - give_back)]
        return pp.Suppress(expr) + pp.Empty().set_parse_action(located)

    rules = [
        # rule order matters only for ties of length, as in flex
        kind("space", space),
        kind("comment", line_comment),
        kind("comment", block_comment),
        kind("error", ~block_comment + "/*" + rest),
        kind("bstring", bits[0]), kind("error", bits[1]),
        kind("xstring", hexes[0]), kind("error", hexes[1]),
        kind("string", standard[0]), kind("error", standard[1]),
        kind("estring", escaped[0]), kind("error", escaped[1]),
        kind("qident", qident), kind("error", qident_bad),
        kind("qident", uident), kind("error", uident_bad),
        kind("ustring", unicode[0]), kind("error", unicode[1]),
        kind("dollar", dollar), kind("error", dollar_unterminated),
        kind("operator", special),
        kind("punct", punct),
        kind("operator", _Operator()),
        kind("number", decinteger), kind("number", hexinteger),
        kind("number", octinteger), kind("number", bininteger),
        kind("error", hexfail), kind("error", octfail), kind("error", binfail),
        kind("number", numeric), kind("number", numericfail, give_back=2),
        kind("number", real), kind("error", realfail),
        kind("error", integer_junk), kind("error", numeric_junk), kind("error", real_junk),
        kind("param", param_ok), kind("error", param_too_large),
        kind("ident", identifier),
        kind("other", any_char),
    ]
    token = pp.Or(rules)
    _leave_whitespace_everywhere(token)
    token.parse_with_tabs()  # a TAB is a character here, not 8 columns
    return token


def _leave_whitespace_everywhere(root: pp.ParserElement) -> None:
    """No element skips whitespace: whitespace is a token here. (In place: no copies,
    which would cut the Forward's loop.)"""
    seen: set[int] = set()
    stack = [root]
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        element.leave_whitespace(recursive=False)
        stack.extend(getattr(element, "exprs", ()))
        inner = getattr(element, "expr", None)
        if isinstance(inner, pp.ParserElement):
            stack.append(inner)
        for attr in ("target", "failOn", "ignoreExpr"):
            extra = getattr(element, attr, None)
            if isinstance(extra, pp.ParserElement):
                stack.append(extra)


TOKEN: Final[pp.ParserElement] = _build()


def tokenize_reference(sql: str) -> list[Token]:
    """Every token of ``sql``, by trying every scan.l rule at each position (slow)."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(sql):
        name, end = TOKEN.parse_string(sql[pos:])[0]
        token_kind: TokenKind = "opaque" if name == "error" else name
        end = len(sql) if name == "error" else pos + end
        tokens.append(Token(token_kind, pos, end))
        pos = end
    return tokens
