"""Fingerprints: one stable id for all executions of "the same" statement.

The fingerprint is the first 16 hex digits of BLAKE2b over the normalized token stream:
whitespace and comments dropped, constants and parameters made ``?`` (a signed number is
one constant), unquoted identifiers and keywords lower-cased as PostgreSQL folds them
(ASCII letters only), ``U&"..."`` identifiers decoded,
a quoted identifier that needs no quotes (not a keyword that would mean something else
unquoted: ``"user"`` stays quoted) written without them, pgAudit's ``<REDACTED>``
taken as the constant it hides, a list of constants after ``IN`` collapsed to one, and
a final ``;`` dropped.
Statements that differ only in constants, whitespace, comments, keyword case or the
length of an ``IN`` list share a fingerprint.

>>> fingerprint("SELECT * FROM t WHERE id IN (1, 2, 3) -- hi") == fingerprint(
...     "select *   from T where id in ($1)")
True
>>> normalize("select a from \\"t\\" where b = -5 and c = 'x'")
'select a from t where b = ? and c = ?'
"""

from __future__ import annotations

import hashlib
import re
import string
from typing import Final

from .constants import find_constants, uescape_of, unicode_unescape
from .keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS
from .lexer import IDENT_CONT, IDENT_START, TRIVIA_KINDS, Token, tokenize
from .redact import CACHED_LENGTH
from .shape import cached_by_shape, fingerprint_shape

__all__ = ["fingerprint", "normalize", "normalized_tokens"]

_NAME = re.compile(rf"{IDENT_START}{IDENT_CONT}*")  # what may be written unquoted
# PostgreSQL folds the ASCII letters of a name only (in a UTF-8 database): É is not é.
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
PLACEHOLDER: Final = "?"


def normalized_tokens(sql: str) -> list[str]:
    """The tokens a fingerprint is made of (see the module docstring).

    >>> normalized_tokens("x IN (1, -2, $3)")
    ['x', 'in', '(', '...', ')']
    """
    tokens = tokenize(sql)
    constant_starts = {c.start: c.end for c in find_constants(sql, tokens)}
    out: list[str] = []
    i = 0
    n = len(tokens)
    while i < n:
        token = tokens[i]
        kind = token.kind
        if token.start in constant_starts:
            end = constant_starts[token.start]
            out.append(PLACEHOLDER)  # (a U&'' string's UESCAPE clause is in it)
            while i < n and tokens[i].end <= end:
                i += 1
            continue
        i += 1
        if kind in TRIVIA_KINDS:
            continue
        text = token.text(sql)
        if kind == "ident":
            out.append(text.lower() if text.isascii() else text.translate(_ASCII_LOWER))
        elif kind == "param" or kind == "opaque":
            out.append(PLACEHOLDER)
        elif kind == "qident":
            inner = text[text.index('"') + 1:-1].replace('""', '"')
            if text[0] != '"':  # U&"d\0061t" [UESCAPE '!']: the name it spells
                escape, last = uescape_of(sql, tokens, i - 1)
                inner = unicode_unescape(inner, escape)
                i = max(i, last + 1)
            out.append(inner if _needs_no_quotes(inner, sql, tokens, i)
                       else '"' + inner.replace('"', '""') + '"')
        elif text == ">" and out[-2:] == ["<", "redacted"]:
            out[-2:] = [PLACEHOLDER]  # pgAudit's <REDACTED>, not a comparison
        else:
            out.append(text)
    while out and out[-1] == ";":
        out.pop()  # "select 1;" is "select 1"
    return _collapse_in_lists(out)


def _needs_no_quotes(name: str, sql: str, tokens: list[Token], after: int) -> bool:
    """Does the quoted identifier ``name`` mean what it would unquoted? (``"t"`` is ``t``;
    ``"user"`` is a column, ``user`` the current role; ``"coalesce"(a)`` a function of
    the user's, ``coalesce(a)`` the construct; ``"like"`` a column, ``like`` an operator.)
    ``after``: index of the token after it."""
    if (_NAME.fullmatch(name) is None or name.translate(_ASCII_LOWER) != name
            or name in RESERVED_KEYWORDS):
        return False
    if name in COL_NAME_KEYWORDS or name in TYPE_FUNC_NAME_KEYWORDS:
        while after < len(tokens) and tokens[after].kind in TRIVIA_KINDS:
            after += 1
        call = after < len(tokens) and tokens[after].text(sql) == "("
        return call if name in TYPE_FUNC_NAME_KEYWORDS else not call
    return True


def _collapse_in_lists(out: list[str]) -> list[str]:
    """``in ( ? , ? , ? )`` -> ``in ( ... )``."""
    result: list[str] = []
    i = 0
    while i < len(out):
        if out[i] == "in" and out[i + 1:i + 3] == ["(", PLACEHOLDER]:
            j = i + 3
            while out[j:j + 2] == [",", PLACEHOLDER]:
                j += 2
            if out[j:j + 1] == [")"]:
                result.extend(["in", "(", "...", ")"])
                i = j + 1
                continue
        result.append(out[i])
        i += 1
    return result


def normalize(sql: str) -> str:
    """The normalized statement as text (tokens joined by spaces, no space before , ) ;).

    >>> normalize("SELECT  1 /* x */")
    'select ?'
    """
    text = " ".join(normalized_tokens(sql))
    return re.sub(r" (?=[,);\]])|(?<=[(\[]) ", "", text)


def fingerprint(sql: str) -> str:
    """16 hex digits identifying the statement up to constants, spacing, comments, case.

    >>> fingerprint("select 1") == fingerprint("SELECT 42 -- answer")
    True
    >>> len(fingerprint("select 1"))
    16
    """
    if len(sql) <= CACHED_LENGTH:
        return _fingerprint_cached(sql)
    return _fingerprint(sql)


def _fingerprint(sql: str) -> str:
    data = "\x1f".join(normalized_tokens(sql)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


# Logs repeat their statements: statements that differ only in integer constants share a
# shape (see :mod:`.shape`), and each shape is fingerprinted once.
_FINGERPRINTS = cached_by_shape(_fingerprint, fingerprint_shape)
_fingerprint_cached = _FINGERPRINTS.texts  # (the C cache itself: a hit costs no Python call)
