"""Messages a program writes itself that echo a credential: PL/pgSQL ``RAISE``.

``RAISE NOTICE 'using token %', api_token`` makes the server log ``NOTICE:  using token
s3cret`` (with ``CONTEXT:  PL/pgSQL function ... at RAISE``): the statement's redaction
hides nothing there, the message has no cue. So the source of every ``RAISE`` the log
shows (a ``DO`` block, a ``CREATE FUNCTION`` body) gives a *pattern* of the messages it
writes: its format (``%`` is an argument) or its ``USING MESSAGE|DETAIL|HINT = a || b``
pieces, and which arguments carry a credential: an expression that names one (the name
rule of :func:`~.redact.credential_name`: ``api_token``, ``current_setting('app.password')``)
or a variable that was given one (``pw := password``, ``SELECT pw INTO s``). A message
that fits a pattern has those arguments hidden.

>>> [p] = raise_patterns("DO $$ BEGIN RAISE NOTICE 'key % for %', api_key, 'bob'; END $$")
>>> hide_by_patterns("key s3cret for bob", [p], "message")
'key <REDACTED> for bob'
>>> hide_by_patterns("other text", [p], "message")
'other text'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from .constants import constant_value
from .lexer import STRING_KINDS, TRIVIA_KINDS, Token, tokenize
from .redact import REDACTED, credential_name, format_secret_arguments, may_name_credential

__all__ = ["EchoPattern", "raise_patterns", "hide_by_patterns", "hide_values"]

Field = Literal["message", "detail", "hint"]
_LEVELS: Final = frozenset({"debug", "log", "info", "notice", "warning", "exception"})
_OPTIONS: Final[dict[str, Field]] = {"message": "message", "detail": "detail", "hint": "hint"}
_NAME_LIKE = re.compile(r"[\w.$-]+")
_MAX_DEPTH: Final = 3


@dataclass(frozen=True, slots=True)
class EchoPattern:
    """The messages one RAISE writes into ``field``: ``regex`` (a full match), and the
    groups (1-based) that carry a credential."""

    field: Field
    regex: re.Pattern[str]
    secret: frozenset[int]


def _significant(tokens: Sequence[Token]) -> list[Token]:
    return [t for t in tokens if t.kind not in TRIVIA_KINDS]


def _mentions(sql: str, tokens: Sequence[Token], tainted: set[str]) -> bool:
    """Do these tokens name a credential (an identifier or a name-like string the name
    rule accepts) or use a variable that holds one?"""
    for t in tokens:
        if t.kind in ("ident", "qident"):
            text = t.text(sql)
            if credential_name(text) or text.lower() in tainted:
                return True
        elif t.kind in STRING_KINDS:
            value = constant_value(sql, t)
            if _NAME_LIKE.fullmatch(value) and credential_name(value):
                return True
    return False


def _statements(tokens: Sequence[Token], sql: str) -> list[list[Token]]:
    """The significant tokens of each ``;``-ended PL/pgSQL statement (roughly: no parsing
    of blocks, which do not matter here)."""
    out: list[list[Token]] = [[]]
    level = 0
    for t in _significant(tokens):
        text = t.text(sql)
        level += (text == "(") - (text == ")")
        if text == ";" and level <= 0:
            out.append([])
            level = 0
        else:
            out[-1].append(t)
    return [s for s in out if s]


def _split_top(sql: str, tokens: Sequence[Token], separator: str) -> list[list[Token]]:
    """``tokens`` cut at ``separator`` outside parentheses."""
    out: list[list[Token]] = [[]]
    level = 0
    for t in tokens:
        text = t.text(sql)
        if text == separator and level == 0:
            out.append([])
            continue
        level += (text == "(") - (text == ")")
        out[-1].append(t)
    return out


def _taint(sql: str, statements: Sequence[list[Token]]) -> set[str]:
    """Variables given a credential: ``v := <names one>``, ``SELECT <names one> INTO v``,
    and a declaration whose name says it (``api_token text := ...``) counts by its name."""
    tainted: set[str] = set()
    for _ in range(2):  # (one more round: a variable given another tainted one)
        for statement in statements:
            texts = [t.text(sql).lower() for t in statement]
            if ":=" in texts:
                k = texts.index(":=")
                names = [w for w, t in zip(texts[:k], statement[:k], strict=True)
                         if t.kind in ("ident", "qident") and w not in ("declare", "begin")]
                if names and _mentions(sql, statement[k + 1:], tainted):
                    tainted.add(names[0])
            if "into" in texts and "select" in texts \
                    and texts.index("select") < texts.index("into"):
                k = texts.index("into")
                if _mentions(sql, statement[texts.index("select") + 1:k], tainted):
                    for t in statement[k + 1:]:
                        word = t.text(sql).lower()
                        if word in ("from", "where", "strict"):
                            break
                        if t.kind in ("ident", "qident"):
                            tainted.add(word)
    return tainted


def _format_pattern(fmt: str) -> tuple[str, int]:
    """A RAISE format as a regex (each ``%`` a group; ``%%`` a percent sign), and how many
    groups it has."""
    out: list[str] = []
    groups = 0
    for piece in re.split(r"(%%|%)", fmt):
        if piece == "%%":
            out.append("%")
        elif piece == "%":
            out.append("(.*?)")
            groups += 1
        else:
            out.append(re.escape(piece))
    return "".join(out), groups


def _concat_pattern(sql: str, tokens: Sequence[Token],
                    tainted: set[str]) -> tuple[str, frozenset[int]]:
    """``'a: ' || expr || '!'`` as a regex: constants as they are, expressions as groups
    (secret when they name a credential)."""
    out: list[str] = []
    secret: set[int] = set()
    groups = 0
    for piece in _split_top(sql, tokens, "||"):
        if len(piece) == 1 and piece[0].kind in STRING_KINDS:
            out.append(re.escape(constant_value(sql, piece[0])))
            continue
        groups += 1
        out.append("(.*?)")
        if _mentions(sql, piece, tainted):
            secret.add(groups)
    return "".join(out), frozenset(secret)


def _raise_patterns(sql: str, depth: int) -> list[EchoPattern]:
    tokens = tokenize(sql)
    found: list[EchoPattern] = []
    if depth < _MAX_DEPTH:
        for t in tokens:  # RAISE inside a string: a DO body, a function's source
            if t.kind in STRING_KINDS:
                value = constant_value(sql, t)
                if "raise" in value.lower():
                    found.extend(_raise_patterns(value, depth + 1))
    statements = _statements(tokens, sql)
    tainted: set[str] | None = None
    for statement in statements:
        k = next((j for j, t in enumerate(statement)
                  if t.kind == "ident" and t.text(sql).lower() == "raise"), -1)
        if k < 0:
            continue
        if tainted is None:
            tainted = _taint(sql, statements)
        rest = statement[k + 1:]
        if rest and rest[0].kind == "ident" and rest[0].text(sql).lower() in _LEVELS:
            rest = rest[1:]
        texts = [t.text(sql).lower() for t in rest]
        using = texts.index("using") if "using" in texts else len(rest)
        if rest and rest[0].kind in STRING_KINDS:
            fmt = constant_value(sql, rest[0])
            regex, groups = _format_pattern(fmt)
            arguments = _split_top(sql, rest[1:using], ",")[1:]
            secret = frozenset(j for j, a in enumerate(arguments[:groups], 1)
                               if _mentions(sql, a, tainted)) | format_secret_arguments(fmt)
            if secret:
                found.append(EchoPattern("message", re.compile(regex, re.DOTALL), secret))
        for option in _split_top(sql, rest[using + 1:], ","):
            if len(option) < 3 or option[1].text(sql) not in ("=", ":="):
                continue
            field = _OPTIONS.get(option[0].text(sql).lower())
            if field is None:
                continue
            regex, secret = _concat_pattern(sql, option[2:], tainted)
            if secret:
                found.append(EchoPattern(field, re.compile(regex, re.DOTALL), secret))
    return found


def raise_patterns(sql: str) -> tuple[EchoPattern, ...]:
    """The patterns of the messages the RAISE statements in ``sql`` (or in the strings it
    holds: DO bodies, function sources) write with a credential in them; () for none.

    >>> [p.field for p in raise_patterns("DO $$ BEGIN RAISE NOTICE USING DETAIL = "
    ...                                  "'pw ' || current_setting('app.pw'); END $$")]
    ['detail']
    """
    if "raise" not in sql.lower() or not may_name_credential(sql):
        return ()  # (a pattern needs a name that says credential)
    return _cached_raise_patterns(sql)


@lru_cache(maxsize=256)  # (a log repeats its statements)
def _cached_raise_patterns(sql: str) -> tuple[EchoPattern, ...]:
    return tuple(_raise_patterns(sql, 0))


def hide_by_patterns(text: str, patterns: Iterable[EchoPattern], field: Field) -> str:
    """``text`` with the credential arguments of the first pattern it fits hidden."""
    for pattern in patterns:
        if pattern.field != field:
            continue
        m = pattern.regex.fullmatch(text)
        if m is None:
            continue
        spans = sorted((m.start(g), m.end(g)) for g in pattern.secret if m.start(g) >= 0)
        out: list[str] = []
        pos = 0
        for start, end in spans:
            out.append(text[pos:start])
            out.append(REDACTED)
            pos = end
        out.append(text[pos:])
        return "".join(out)
    return text


def hide_values(text: str, values: Iterable[str]) -> str:
    """``text`` with every occurrence of a value the statement's redaction hid hidden too
    (the longest first)."""
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text
