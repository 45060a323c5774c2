"""The shape of a statement: its integer constants written ``0``, its strings ``''``.

Logs repeat statements that differ only in their constants (pgbench, an application that
does not bind parameters: ``... where aid = 98942``, ``... values (7, 'duplicate r1')``).
What the SQL layer computes from such a statement does not depend on those constants: a
fingerprint makes every constant ``?``, ``literals`` redaction makes it ``$n``. So the
caches of both key on the shape, and each shape is lexed once, not each statement.

Only a whole integer token is rewritten: a run of digits with no identifier character
(letters, digits, ``_``, ``$``, anything non-ASCII) or ``.`` on either side, so digits of
an identifier, a parameter ``$1``, a decimal ``1.5``, ``1e5`` or ``0x1F`` stay as they are,
and every token keeps its kind (a run of digits stays one). Digits inside a string or a
comment may be rewritten too: that changes neither a fingerprint (constants and comments
are not in it) nor the constants' places. A string's body is emptied only where every
quote is a string's: no comment, dollar quote, quoted identifier, backslash escape or
``U&`` string (its UESCAPE clause is a string that counts) is in the text; ``'it''s'``
becomes four quotes, still one string. Two kinds of text have no shape (None), as their
digits can matter: a quoted identifier (``"t1"`` is kept as written), type modifiers
(``numeric(10,2)`` is a type) and, for ``literals``, a comment (kept byte for byte).

Property tests prove ``f(shape(sql)) == f(sql)`` for the fingerprint and for ``literals``
redaction on generated SQL of every lexical form (tests/test_sql_shape.py).

>>> fingerprint_shape("update t set a = a + 4532 where aid = 98942;")
'update t set a = a + 0 where aid = 0;'
>>> fingerprint_shape("select t1.x2, 1.5, $1, 0x1F from t1 where y = -12")
'select t1.x2, 1.5, $1, 0x1F from t1 where y = -0'
>>> print(fingerprint_shape("insert into t values (7, 'it''s 42', E'x')"))
insert into t values (0, '''', E'')
>>> literals_shape("select 1 -- 2"), fingerprint_shape('select "a 1"')
(None, None)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

from .constants import may_hold_type_modifiers
from .lexer import IDENT_CONT

__all__ = ["fingerprint_shape", "literals_shape", "ShapeCaches", "cached_by_shape"]

# A digit with no identifier character or '.' before it, the digits after it, and then
# no identifier character or '.' (the first digit leads, so the engine scans for digits
# and tries the look-behind only there; possessive: a shorter run ends before a digit).
_INTEGER_TOKEN = re.compile(
    rf"[0-9](?<!{IDENT_CONT}[0-9])(?<!\.[0-9])[0-9]*+(?!{IDENT_CONT}|\.)")
# A quoted string, in text where nothing else can hold a quote (see _QUOTE_CONTEXTS).
_STRING = re.compile(r"'[^']*'")
# Text holding any of these may have a quote that is no string's: its strings stay.
_QUOTE_CONTEXTS: Final = ("$", "\\", "&", "--", "/*")


def _shape(sql: str) -> str:
    if "'" in sql and not any(context in sql for context in _QUOTE_CONTEXTS):
        sql = _STRING.sub("''", sql)
    return _INTEGER_TOKEN.sub("0", sql)


def fingerprint_shape(sql: str) -> str | None:
    """``sql`` with its integers ``0`` and strings emptied; None when it holds a quoted
    identifier or may hold type modifiers (``numeric(10,2)``: a type, not constants)."""
    if '"' in sql or may_hold_type_modifiers(sql):
        return None
    return _shape(sql)


def literals_shape(sql: str) -> str | None:
    """As :func:`fingerprint_shape`, and None when ``sql`` may hold a comment."""
    if '"' in sql or "--" in sql or "/*" in sql or may_hold_type_modifiers(sql):
        return None
    return _shape(sql)


class ShapeCaches:
    """A function of a statement made fast for logs that repeat their statements: results
    are remembered per statement text (``texts`` of them), and a statement not seen lately
    takes the result of its shape (``shapes`` of them), when it has one.

    >>> upper = cached_by_shape(str.upper, lambda sql: None)
    >>> upper("select 1"), upper.texts.cache_info().currsize
    ('SELECT 1', 1)
    """

    def __init__(self, compute: Callable[[str], str], shape_of: Callable[[str], str | None],
                 texts: int, shapes: int) -> None:
        self._compute = compute
        self._shape_of = shape_of
        self.shapes: Any = lru_cache(maxsize=shapes)(compute)
        self.texts: Any = lru_cache(maxsize=texts)(self._by_shape)

    def _by_shape(self, sql: str) -> str:
        shape = self._shape_of(sql)
        if shape is None:
            return self._compute(sql)
        return str(self.shapes(shape))

    def __call__(self, sql: str) -> str:
        return str(self.texts(sql))

    def cache_clear(self) -> None:
        """Forget every remembered result."""
        self.texts.cache_clear()
        self.shapes.cache_clear()


def cached_by_shape(compute: Callable[[str], str], shape_of: Callable[[str], str | None],
                    texts: int = 4096, shapes: int = 1024) -> ShapeCaches:
    """``compute`` with the caches of :class:`ShapeCaches` (at most ``texts`` statements
    and ``shapes`` shapes: a log has few shapes, but one may be 4 KB with its result)."""
    return ShapeCaches(compute, shape_of, texts, shapes)

