"""The ``log_line_prefix`` grammar: one builder serves every prefix.

A prefix such as RDS's ``%t:%r:%u@%d:[%p]:`` is data. :func:`tokenize_prefix` reads it into
literal and escape parts; :class:`LinePrefix` turns those parts into

* a pyparsing grammar (the source of truth, :attr:`LinePrefix.grammar`) made of
  combinators that say what each escape is: a ``%t`` is a date, a time and a zone, ``%r``
  is ``host(port)``, ``[local]`` or nothing, a pid is digits, free text is a ``SkipTo``
  the rest of the prefix (:meth:`LinePrefix.values_with_grammar` gives typed values), and
* a regular expression compiled from the same parts (the fast path,
  :attr:`LinePrefix.pattern`).

Both follow the same rule (property tests check that they agree on lines rendered the way
PostgreSQL renders them): each part matches on its own, left to right, and never gives
back what it matched. A free-text part (user, database, application name...) runs up to
the first place where the rest of the prefix can follow it (the literals and structured
values after it, up to the next free-text part or ``%q``; the severity when the prefix
ends there). The regex gets that rule from atomic groups; every structured value is
bounded, so matching costs time linear in the line, whatever the line.

After the prefix, PostgreSQL writes ``SEVERITY:  message``.

>>> p = LinePrefix("%t:%r:%u@%d:[%p]:")
>>> parsed = p.parse("2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:LOG:  hi")
>>> parsed.fields["u"], parsed.fields["p"], parsed.severity, parsed.message
('alice', '4242', 'LOG', 'hi')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Final

import pyparsing as pp

from .timestamps import TimestampParser, parse_epoch

__all__ = [
    "RDS_PREFIX",
    "POSTGRES_DEFAULT_PREFIX",
    "KNOWN_PREFIXES",
    "SEVERITIES",
    "PrefixError",
    "PrefixLiteral",
    "PrefixEscape",
    "ParsedLine",
    "LinePrefix",
    "tokenize_prefix",
    "detect_prefix",
    "choose_prefix",
    "has_session_line",
    "PrefixChoice",
    "CLOUD_SQL_PREFIX",
    "AZURE_PREFIX",
    "BACKEND_TYPES",
]

#: The RDS and Aurora for PostgreSQL default (not changeable on RDS).
RDS_PREFIX: Final = "%t:%r:%u@%d:[%p]:"
#: PostgreSQL's own default since version 10.
POSTGRES_DEFAULT_PREFIX: Final = "%m [%p] "
#: Google Cloud SQL for PostgreSQL's log_line_prefix (not changeable there).
CLOUD_SQL_PREFIX: Final = "%m [%p]: [%l-1] db=%d,user=%u "
#: Azure Database for PostgreSQL (flexible server)'s default log_line_prefix.
AZURE_PREFIX: Final = "%t-%c-"
#: Prefixes ``--prefix auto`` tries, most common first (ties go to the earlier one).
KNOWN_PREFIXES: Final = (
    RDS_PREFIX,
    POSTGRES_DEFAULT_PREFIX,
    "%m [%p] %q%u@%d ",  # Debian and Ubuntu packages
    "%m:%r:%u@%d:[%p]:",
    CLOUD_SQL_PREFIX,
    AZURE_PREFIX,
    # pgBadger's documented prefixes (stderr and syslog)
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: [%l-1] user=%u,db=%d,host=%h,app=%a ",
    "%t [%p]: [%l-1] user=%u,db=%d ",
    "%t [%p]: db=%d,user=%u,app=%a,client=%h ",
    "%m [%p] user=%u,db=%d ",
    "%m [%p] %q%u@%d/%a ",  # PostgreSQL's documentation's %q example
    "%m [%p] [queryid=%Q] %q%u@%d ",
    "%m [%p] %q[user=%u,db=%d,app=%a] ",
    "%t [%p-%l] %q%u@%d ",
    "%m [%p-%l] %q%u@%d ",
    "< %m > ",
    "%t [%p] ",
    "%t ",
    "%m ",
)

#: Severities (and the labels of a message's secondary lines) PostgreSQL writes in English.
PRIMARY_SEVERITIES: Final = (
    "DEBUG5", "DEBUG4", "DEBUG3", "DEBUG2", "DEBUG1", "DEBUG",
    "LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC",
)
SECONDARY_LABELS: Final = ("DETAIL", "HINT", "QUERY", "CONTEXT", "LOCATION", "STATEMENT")
SEVERITIES: Final = PRIMARY_SEVERITIES + SECONDARY_LABELS

#: Characters of a host name or address in ``%r``: printable ASCII without parentheses.
_HOST_CHARS: Final = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "()")
#: The longest values PostgreSQL writes (bounded values keep every match linear).
_MAX_HOST = 255  # a DNS name (log_hostname) or an address with its zone (fe80::1%eth0)
_MAX_PID = 10  # int
_MAX_INT64 = 20  # int64 / uint64 (%l, %x, %Q, %v's parts)
_MAX_HEX32 = 16  # %c's parts, printed with %lx
_MAX_EPOCH = 12  # %n's seconds

_STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
#: A zone as log_timezone prints it: an abbreviation (CET, UTC, ChST) or tzdata's numeric
#: forms (+05:30, +0545, -03). Backtracking order: the longest abbreviation first.
_ZONE = r"(?:[A-Za-z][A-Za-z0-9]{0,5}|[+-]\d{2}(?::?\d{2})?)"

#: The zone forms of a timestamp, each with its length (for padded timestamps).
_ZONE_FORMS: Final = (
    (r"[+-]\d{2}:\d{2}", 6), (r"[+-]\d{4}", 5), (r"[+-]\d{2}(?!\d)", 3),
    *((f"[A-Za-z][A-Za-z0-9]{{{n - 1}}}(?![A-Za-z0-9])", n) for n in range(6, 0, -1)),
)

#: What each structured escape's value looks like (the fast path's half of the spec; the
#: reference's half is :func:`_value_element`). Escapes not listed are free text. Each is
#: bounded and, but for the zoned timestamps, matched atomically: it never gives back.
_VALUE_PATTERNS: Final[dict[str, str]] = {
    "t": _STAMP + " " + _ZONE,
    "m": _STAMP + r"\.\d{3} " + _ZONE,
    "s": _STAMP + " " + _ZONE,
    "n": rf"(?>\d{{1,{_MAX_EPOCH}}})\.\d{{3}}",
    "p": rf"\d{{1,{_MAX_PID}}}+",
    "P": rf"\d{{0,{_MAX_PID}}}+",
    "l": rf"\d{{1,{_MAX_INT64}}}+",
    "x": rf"\d{{1,{_MAX_INT64}}}+",
    "e": r"[0-9A-Z]{5}",
    "c": rf"(?>[0-9a-f]{{1,{_MAX_HEX32}}})\.[0-9a-f]{{1,{_MAX_HEX32}}}+",
    "v": rf"(?>(?:-?\d{{1,{_MAX_INT64}}}/\d{{1,{_MAX_INT64}}})?)",
    "Q": rf"(?>-?\d{{1,{_MAX_INT64}}})",
    # host(port) for TCP clients, [local] for Unix sockets, empty for background processes;
    # [!-'*-~] is _HOST_CHARS (printable ASCII but parentheses)
    "r": rf"(?>(?:\[local\]|[!-'*-~]{{1,{_MAX_HOST}}}\(\d{{1,5}}\))?)",
}
#: The longest text of each structured value (for left-aligned padding).
_MAX_WIDTH: Final[dict[str, int]] = {
    "t": 26, "m": 30, "s": 26, "n": _MAX_EPOCH + 4, "p": _MAX_PID, "P": _MAX_PID,
    "l": _MAX_INT64, "x": _MAX_INT64, "e": 5, "c": 2 * _MAX_HEX32 + 1,
    "v": 2 * _MAX_INT64 + 2, "Q": _MAX_INT64 + 1, "r": _MAX_HOST + 7,
}
#: Timestamps ending in a zone (which may be numeric with a colon).
_ZONED: Final = frozenset("tms")
#: Free-text escapes: application name, user, database, remote host, backend type, command
#: tag and (PostgreSQL 18) the local address. Hosts are free text, not structured: an IPv6
#: address holds the ':' a prefix may use as a separator.
_FREE_TEXT: Final = frozenset("audhbiL")
_ESCAPES: Final = frozenset(_VALUE_PATTERNS) | _FREE_TEXT | {"q"}
#: ``%b`` values of several words (PostgreSQL 13-18's backend types, and the background
#: workers of core: the type a bgworker registers): free text would end them at their
#: first space when a space follows ``%b`` (``client backend bob@shop`` read as backend
#: ``client``, user ``backend bob``), so these are tried first, each followed by the rest.
BACKEND_TYPES: Final = tuple(sorted((
    "client backend", "not initialized", "autovacuum launcher", "autovacuum worker",
    "background worker", "background writer", "standalone backend", "stats collector",
    "slotsync worker", "dead-end client backend", "io worker", "parallel worker",
    "logical replication launcher", "logical replication worker",
    "logical replication apply worker", "logical replication tablesync worker",
    "logical replication parallel worker", "wal summarizer",
), key=lambda name: (-len(name), name)))
#: PostgreSQL reads a padding width with atoi() into an int.
_MAX_PADDING: Final = 2**31 - 1

_SEVERITIES_ALTERNATION = "|".join(SEVERITIES)
_SEVERITY_LOOKAHEAD = "(?:" + "|".join(SEVERITIES) + "):  "


class PrefixError(ValueError):
    """A ``log_line_prefix`` this tool cannot turn into a grammar."""


@dataclass(frozen=True, slots=True)
class PrefixLiteral:
    """Text the prefix writes as is (``%%`` has become ``%``)."""

    text: str


@dataclass(frozen=True, slots=True)
class PrefixEscape:
    """One ``%`` escape; ``padding`` is the optional width (negative: left-aligned)."""

    escape: str
    padding: int = 0


PrefixPart = PrefixLiteral | PrefixEscape


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """A physical line split into its prefix values, severity and message text.

    ``fields`` maps each escape letter of the prefix to its text (read-only), padding
    stripped; escapes
    after ``%q`` are absent for lines of non-session processes.
    """

    fields: Mapping[str, str]
    severity: str
    message: str


def tokenize_prefix(spec: str) -> tuple[PrefixPart, ...]:
    """Split a ``log_line_prefix`` into literal and escape parts.

    Unknown escapes write nothing in PostgreSQL, so they are dropped here too.
    Only the first ``%q`` counts (a second one writes nothing in any process).

    >>> tokenize_prefix("%t:[%-5p]%%")
    (PrefixEscape(escape='t', padding=0), PrefixLiteral(text=':['), \
PrefixEscape(escape='p', padding=-5), PrefixLiteral(text=']%'))
    """
    parts: list[PrefixPart] = []
    literal: list[str] = []
    i = 0
    while i < len(spec):
        char = spec[i]
        if char != "%" or i + 1 >= len(spec):
            literal.append(char)
            i += 1
            continue
        match = re.match(r"%(-?\d+)?(.)", spec[i:], re.DOTALL)
        assert match is not None  # '%' followed by at least one character
        width, escape = match.group(1), match.group(2)
        i += match.end()
        if escape == "%":
            literal.append("%")
            continue
        if escape not in _ESCAPES:
            # PostgreSQL ignores unknown escapes (writes nothing for them).
            continue
        if escape == "q":
            if PrefixEscape("q") in parts:
                # A backend ignores every %q and a background process stopped at the
                # first: a second one writes nothing.
                continue
            width = None  # %q writes nothing itself, so a width means nothing
        if width and abs(int(width)) > _MAX_PADDING:
            raise PrefixError(f"padding {width} of %{escape} is wider than PostgreSQL "
                              f"reads ({_MAX_PADDING})")
        if literal:
            parts.append(PrefixLiteral("".join(literal)))
            literal = []
        parts.append(PrefixEscape(escape, int(width) if width else 0))
    if literal:
        parts.append(PrefixLiteral("".join(literal)))
    return tuple(parts)


def _following_text(parts: tuple[PrefixPart, ...], index: int) -> str | None:
    """The regex that must follow the value at ``index``, or None if nothing fixed does.

    It spans the literals and structured values after it up to the next free-text value;
    when it reaches the end of the prefix, the severity is included. At ``%q`` it is what
    follows ``%q`` or the severity, since only session processes write the rest. A free-text
    value thus stops at the first place where the rest of the prefix can follow. Every
    piece is bounded, so trying it costs at most a constant number of steps.
    """
    tail: list[str] = []
    for offset, part in enumerate(parts[index + 1:], start=index + 1):
        if isinstance(part, PrefixLiteral):
            tail.append(re.escape(part.text))
        elif part.escape == "q":
            # The line goes on with what follows %q (a session process) or stops there
            # (the severity of any other process): the value must let either follow.
            after_q = _following_text(parts, offset)
            if after_q is None:
                return "".join(tail) or None
            return "".join(tail) + f"(?:{after_q}|{_SEVERITY_LOOKAHEAD})"
        elif part.escape in _FREE_TEXT:
            return "".join(tail) or None
        else:
            tail.append(_padded(part) if part.padding else f"(?:{_VALUE_PATTERNS[part.escape]})")
    return "".join(tail) + _SEVERITY_LOOKAHEAD


def _padded(part: PrefixEscape) -> str:
    """A padded structured value: exactly as many spaces as PostgreSQL's printf adds.

    Right-aligned (``%5p``): up to ``width`` spaces, then the value. Left-aligned
    (``%-5p``): a value of ``k`` characters, then ``width - k`` spaces; the value's length is
    read off the run of non-spaces, as these values hold no space (timestamps do, and take
    any spaces around them instead).
    """
    value = _VALUE_PATTERNS[part.escape]
    width = abs(part.padding)
    if part.escape in _ZONED:
        # One branch per zone form, each of a known length, so the spaces are exact.
        stamp = _STAMP + (r"\.\d{3}" if part.escape == "m" else "")
        base = 24 if part.escape == "m" else 20  # the date, time and the space before the zone
        branches = []
        for zone, length in _ZONE_FORMS:
            pad = _spaces(width - base - length)
            branches.append(f"{pad}{stamp} {zone}" if part.padding > 0
                            else f"{stamp} {zone}{pad}")
        return "(?:" + "|".join(branches) + ")"
    if part.padding > 0:
        return f"(?> {{0,{width}}})(?:{value})"
    # A value no longer than its widest form: one branch per possible length.
    branches = [f"(?=[^ ]{{{k}}} )(?:{value}){_spaces(width - k)}"
                for k in range(min(width, _MAX_WIDTH[part.escape] + 1))]
    branches.append(f"(?=[^ ]{{{width}}})(?:{value})")
    return "(?>" + "|".join(branches) + ")"


def _spaces(count: int) -> str:
    return f" {{{count}}}" if count > 1 else " " * max(0, count)


def _value_regex(parts: tuple[PrefixPart, ...], index: int) -> str:
    """The regex for the value of the escape at ``index`` (without group or atomic wrap)."""
    part = parts[index]
    assert isinstance(part, PrefixEscape)
    following = _following_text(parts, index)
    lookahead = f"(?={following})" if following is not None else ""
    if part.escape in _FREE_TEXT:
        if part.escape == "b" and not part.padding and lookahead:
            known = "|".join(re.escape(name) for name in BACKEND_TYPES)
            return f"(?:(?:{known}){lookahead}|.*?{lookahead})"
        if not part.padding:
            return f".*?{lookahead}"
        # PostgreSQL pads to |width| bytes. An ASCII value (TABs and other controls
        # included) so fills at least |width| characters; any other value holds a
        # non-ASCII character and is shorter, so it is the shortest run with one that the
        # rest of the prefix follows (the run of ASCII before the first non-ASCII
        # character is taken whole, so no two runs trade characters). Spaces are stripped
        # after the match.
        width = abs(part.padding)
        return (f"(?:[\\x00-\\x7f]{{{width},}}?{lookahead}"
                f"|[\\x00-\\x7f]*+[^\\x00-\\x7f].*?{lookahead})")
    value = _VALUE_PATTERNS[part.escape]
    if part.padding:
        return _padded(part) + lookahead
    if part.escape in _ZONED:
        # A numeric zone (-03, +05:30) may run into a following ':'; the lookahead lets
        # the value give back ':10' of '-03:10.0.0.5(5000)' inside its atomic group.
        return f"(?:{value}){lookahead}"
    return value


# -- the reference grammar: what each escape is, in pyparsing combinators -----------------

_ASCII: Final = "".join(chr(c) for c in range(128))
_DIGITS: Final = pp.nums


def _word(chars: str, low: int, high: int) -> pp.ParserElement:
    """``low`` to ``high`` characters of ``chars``, as many as there are (never gives back)."""
    if high == 0:
        return pp.Empty()
    word = pp.Word(chars, min=max(low, 1), max=high)
    return pp.Opt(word) if low == 0 else word


def _digits(low: int, high: int) -> pp.ParserElement:
    return _word(_DIGITS, low, high)


@cache
def _date_time(millis: bool) -> pp.ParserElement:
    """``YYYY-MM-DD HH:MM:SS`` and, for ``%m``, ``.mmm``."""
    date = _digits(4, 4)("year") + "-" + _digits(2, 2)("month") + "-" + _digits(2, 2)("day")
    time = (_digits(2, 2)("hour") + ":" + _digits(2, 2)("minute") + ":"
            + _digits(2, 2)("second"))
    stamp = date + " " + time
    if millis:
        stamp += "." + _digits(3, 3)("millis")
    return stamp


@cache
def _zone_forms() -> tuple[pp.ParserElement, ...]:
    """Each form of a zone, in the order the fast path tries them: an abbreviation of 6
    letters/digits down to 1, then ``+HH:MM``, ``+HHMM``, ``+HH``."""
    sign = pp.one_of("+ -")
    forms: list[pp.ParserElement] = [
        pp.Word(pp.alphas, exact=1) + (pp.Word(pp.alphanums, exact=n - 1) if n > 1 else pp.Empty())
        for n in range(6, 0, -1)
    ]
    forms += [sign + _digits(2, 2) + ":" + _digits(2, 2), sign + _digits(4, 4),
              sign + _digits(2, 2)]
    return tuple(pp.Combine(form)("zone") for form in forms)


@cache
def _padded_zone_forms() -> tuple[tuple[pp.ParserElement, int], ...]:
    """The zone forms of a padded timestamp, each with its length (see ``_ZONE_FORMS``)."""
    sign = pp.one_of("+ -")
    not_alnum = ~pp.Word(pp.alphanums, exact=1)
    forms: list[tuple[pp.ParserElement, int]] = [
        (sign + _digits(2, 2) + ":" + _digits(2, 2), 6), (sign + _digits(4, 4), 5),
        (sign + _digits(2, 2) + ~pp.Word(_DIGITS, exact=1), 3),
    ]
    forms += [(pp.Word(pp.alphas, exact=1)
               + (pp.Word(pp.alphanums, exact=n - 1) if n > 1 else pp.Empty()) + not_alnum, n)
              for n in range(6, 0, -1)]
    return tuple((pp.Combine(form)("zone"), length) for form, length in forms)


@cache
def _alternatives(escape: str, padding: int) -> tuple[pp.ParserElement, ...]:
    """What a structured value is, as alternatives in the order the fast path tries them.

    Only timestamps have more than one: their zone may end early (``-03`` before ``:10``).
    Every other value is one element that takes as much as it can.
    """
    width = abs(padding)
    if escape in _ZONED:
        stamp = _date_time(millis=escape == "m")
        if not padding:
            return tuple(stamp + " " + zone for zone in _zone_forms())
        base = 24 if escape == "m" else 20
        branches = []
        for zone, length in _padded_zone_forms():
            pad = _space_run(width - base - length)
            branches.append(pad + stamp + " " + zone if padding > 0 else stamp + " " + zone + pad)
        return tuple(branches)
    value = _value_element(escape)
    if not padding:
        return (value,)
    if padding > 0:
        return (pp.Opt(pp.White(" ", max=width)) + value,)
    # Left-aligned: a value of k characters (the run of non-spaces) and width - k spaces,
    # or a run at least as wide as the padding and the value at its start.
    branches = [
        (pp.FollowedBy(_non_spaces(k) + " ") + value + _space_run(width - k))
        for k in range(min(width, _MAX_WIDTH[escape] + 1))
    ]
    branches.append(pp.FollowedBy(_non_spaces(width)) + value)
    return (pp.MatchFirst(branches),)


def _space_run(count: int) -> pp.ParserElement:
    return pp.White(" ", exact=count) if count > 0 else pp.Empty()


def _non_spaces(count: int) -> pp.ParserElement:
    return pp.CharsNotIn(" ", exact=count) if count > 0 else pp.Empty()


@cache
def _value_element(escape: str) -> pp.ParserElement:
    """One structured value, said as what it is."""
    if escape == "n":  # Unix epoch seconds with milliseconds
        return _digits(1, _MAX_EPOCH)("seconds") + "." + _digits(3, 3)("millis")
    if escape in "pP":  # a process id (%P: empty unless a parallel worker)
        return _digits(1 if escape == "p" else 0, _MAX_PID)("number")
    if escape in "lx":  # a session line number, a transaction id
        return _digits(1, _MAX_INT64)("number")
    if escape == "Q":  # a query id: a signed 64-bit integer
        return pp.Combine(pp.Opt("-") + _digits(1, _MAX_INT64))("number")
    if escape == "e":  # an SQLSTATE: five digits or upper-case letters
        return pp.Word(_DIGITS + pp.alphas.upper(), exact=5)
    if escape == "c":  # a session id: start time and pid in hex, "%lx.%x"
        hexes = "0123456789abcdef"
        return _word(hexes, 1, _MAX_HEX32)("start") + "." + _word(hexes, 1, _MAX_HEX32)("pid")
    if escape == "v":  # a virtual transaction id, "procNumber/localXID", or nothing
        return pp.Opt(pp.Combine(pp.Opt("-") + _digits(1, _MAX_INT64))("proc") + "/"
                      + _digits(1, _MAX_INT64)("local"))
    if escape == "r":  # host(port) for TCP, [local] for a Unix socket, nothing otherwise
        tcp = (_word(_HOST_CHARS, 1, _MAX_HOST)("host") + "("
               + _digits(1, 5)("port") + ")")
        return pp.Opt(pp.Literal("[local]")("host") | tcp)
    raise AssertionError(f"no value element for %{escape}")  # pragma: no cover


def _severity() -> pp.ParserElement:
    return pp.one_of(list(SEVERITIES))


def _tail_element(parts: tuple[PrefixPart, ...], index: int) -> pp.ParserElement | None:
    """The grammar of what must follow the value at ``index`` (see :func:`_following_text`):
    None if nothing fixed does. Alternatives of a timestamp each carry the rest after them."""
    pieces: list[PrefixPart] = []
    reaches_end = True
    rest: pp.ParserElement | None = None
    for offset, part in enumerate(parts[index + 1:], start=index + 1):
        if isinstance(part, PrefixEscape) and part.escape == "q":
            # What follows %q (a session process), or the severity (any other process).
            after_q = _tail_element(parts, offset)
            if after_q is not None:
                rest = pp.MatchFirst([after_q, _severity() + ":  "])
            reaches_end = False
            break
        if isinstance(part, PrefixEscape) and part.escape in _FREE_TEXT:
            reaches_end = False
            break
        pieces.append(part)
    if rest is None:
        if not pieces and not reaches_end:
            return None
        rest = (_severity() + ":  ") if reaches_end else pp.Empty()
    for part in reversed(pieces):
        if isinstance(part, PrefixLiteral):
            rest = pp.Literal(part.text) + rest
        else:
            rest = pp.MatchFirst([alt + rest for alt in _alternatives(part.escape, part.padding)])
    return rest


def _free_text_element(part: PrefixEscape, tail: pp.ParserElement | None) -> pp.ParserElement:
    """Free text: it ends at the first place where the rest of the prefix can follow (a
    backend type of several words, :data:`BACKEND_TYPES`, is taken whole when the rest
    follows it)."""
    if part.escape == "b" and not part.padding and tail is not None:
        known = [pp.Literal(name) + pp.FollowedBy(tail) for name in BACKEND_TYPES]
        return pp.MatchFirst([*known, pp.SkipTo(tail)])
    if not part.padding:
        return pp.SkipTo(tail) if tail is not None else pp.Empty()
    width = abs(part.padding)
    follows = tail if tail is not None else pp.Empty()
    non_ascii = pp.CharsNotIn(_ASCII, exact=1)
    # ASCII: at least |width| ASCII characters, then more up to where the rest follows.
    ascii_value = (pp.Word(_ASCII, exact=width) + pp.SkipTo(follows | non_ascii)
                   + pp.FollowedBy(follows))
    # Otherwise: the ASCII run, a non-ASCII character, and on to where the rest follows.
    other_value = pp.SkipTo(non_ascii) + non_ascii + pp.SkipTo(follows)
    return ascii_value | other_value


class LinePrefix:
    """A compiled ``log_line_prefix``: pyparsing grammar plus an equivalent fast regex.

    >>> dict(LinePrefix("%m [%p] ").parse("2026-11-25 16:05:01.120 UTC [7] ERROR:  boom").fields)
    {'m': '2026-11-25 16:05:01.120 UTC', 'p': '7'}
    >>> LinePrefix("%m [%p] ").parse("no prefix here") is None
    True
    """

    __slots__ = ("spec", "timezone", "parts", "escapes", "pattern", "_grammar", "_names",
                 "_groups", "_padded_escapes", "_plain", "_severity", "_message", "_timestamps",
                 "_fast", "_fast_severity", "_fast_message")

    def __init__(self, spec: str = RDS_PREFIX, timezone: str | None = None) -> None:
        """``timezone``: the IANA zone the server logs in (``log_timezone``), to read zone
        abbreviations such as ``CST`` or ``IST`` that mean different zones; see
        :class:`~pgaudit_parse.timestamps.TimestampParser`."""
        if not isinstance(spec, str):
            raise PrefixError("log_line_prefix must be a string")
        self.spec = spec
        self.timezone = timezone
        self._timestamps: TimestampParser | None = None
        self._grammar: pp.ParserElement | None = None
        self.parts = tokenize_prefix(spec)
        seen = [p.escape for p in self.parts if isinstance(p, PrefixEscape) and p.escape != "q"]
        if len(set(seen)) != len(seen):
            # The same escape twice would make two capture groups of one name.
            raise PrefixError(f"log_line_prefix {spec!r} repeats an escape")
        self.escapes: tuple[str, ...] = tuple(seen)
        self._names = {e: _group_name(e) for e in seen}
        self.pattern = re.compile(self._build_regex(self._names, "(?P<severity>",
                                                    "(?P<message>"), re.DOTALL)
        # The same regex for split(): escape groups named by their letter (so groupdict()
        # is the fields mapping, made in C), severity and message unnamed groups.
        self._fast = re.compile(self._build_regex({e: e for e in seen}, "(", "("), re.DOTALL)
        self._fast_severity = self._fast.groups - 1
        self._fast_message = self._fast.groups
        # parse() runs once per line: group numbers instead of names, padding known ahead.
        self._padded_escapes = frozenset(
            p.escape for p in self.parts if isinstance(p, PrefixEscape) and p.padding)
        index = self.pattern.groupindex
        self._groups = tuple((e, index[n] - 1) for e, n in self._names.items())
        self._severity = index["severity"] - 1
        self._message = index["message"] - 1
        # Without %q and padding, every group takes part in every match, as it is.
        self._plain = not self._padded_escapes and self._split_at_q()[1] is None

    def __repr__(self) -> str:
        if self.timezone is not None:
            return f"LinePrefix({self.spec!r}, timezone={self.timezone!r})"
        return f"LinePrefix({self.spec!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LinePrefix) and other.spec == self.spec
                and other.timezone == self.timezone)

    def __hash__(self) -> int:
        return hash((self.spec, self.timezone))

    @property
    def grammar(self) -> pp.ParserElement:
        """The reference grammar (pyparsing), built on first use."""
        if self._grammar is None:
            self._grammar = self._build_grammar()
        return self._grammar

    @property
    def timestamps(self) -> TimestampParser:
        """Reads this log's ``%t``/``%m``/``%s`` timestamps (in :attr:`timezone`)."""
        if self._timestamps is None:
            self._timestamps = TimestampParser(self.timezone)
        return self._timestamps

    # -- construction -----------------------------------------------------------------

    def _split_at_q(self) -> tuple[range, range | None]:
        """Index ranges of the parts before ``%q`` and after it (None without ``%q``)."""
        for i, part in enumerate(self.parts):
            if part == PrefixEscape("q"):
                return range(0, i), range(i + 1, len(self.parts))
        return range(0, len(self.parts)), None

    def _build_regex(self, names: Mapping[str, str], severity: str, message: str) -> str:
        """The fast regex, with these group names for the escapes and these openings of
        the severity and message groups (``(?P<severity>`` or a plain ``(``)."""
        def piece(i: int) -> str:
            part = self.parts[i]
            if isinstance(part, PrefixLiteral):
                return re.escape(part.text)
            return f"(?>(?P<{names[part.escape]}>{_value_regex(self.parts, i)}))"

        before, after = self._split_at_q()
        regex = "".join(piece(i) for i in before)
        if after is not None:
            regex += "(?>(?:" + "".join(piece(i) for i in after) + ")?)"
        return regex + severity + _SEVERITIES_ALTERNATION + "):  " + message + ".*)\\Z"

    def _build_grammar(self) -> pp.ParserElement:
        parts = self.parts

        def element(i: int) -> pp.ParserElement:
            part = parts[i]
            if isinstance(part, PrefixLiteral):
                return pp.Literal(part.text)
            tail = _tail_element(parts, i)
            if part.escape in _FREE_TEXT:
                value = _free_text_element(part, tail)
            elif part.escape in _ZONED:
                # A timestamp's zone may end early so that the rest can follow.
                alternatives = _alternatives(part.escape, part.padding)
                value = pp.MatchFirst([alt + pp.FollowedBy(tail) if tail is not None else alt
                                       for alt in alternatives])
            else:
                value = _alternatives(part.escape, part.padding)[0]
                if part.padding and tail is not None:
                    value = value + pp.FollowedBy(tail)
            # The text the value spans; named through a thin wrapper, since naming a
            # sequence would copy all of it (and the rest of the prefix inside it).
            text = pp.TokenConverter(pp.original_text_for(value))
            return text(self._names[part.escape]).set_name(
                _ESCAPE_NAMES.get(part.escape, part.escape))

        before, after = self._split_at_q()
        sequence: list[pp.ParserElement] = [element(i) for i in before]
        if after is not None and len(after):
            sequence.append(pp.Opt(pp.And([element(i) for i in after])))
        sequence += [_severity()("severity"), pp.Literal(":  "),
                     pp.SkipTo(pp.StringEnd())("message")]
        grammar: pp.ParserElement = pp.And(sequence)
        # No whitespace skipping anywhere (spaces are data here), and no TAB expansion.
        _leave_whitespace(grammar)
        grammar = grammar.parse_with_tabs()
        grammar.set_name(f"log line with prefix {self.spec!r}")
        return grammar

    # -- parsing ------------------------------------------------------------------------

    def parse(self, text: str) -> ParsedLine | None:
        """Split a line with the fast regex; None when the line does not fit the prefix."""
        split = self.split(text)
        if split is None:
            return None
        return ParsedLine(*split)

    def split(self, text: str) -> tuple[Mapping[str, str], str, str] | None:
        """:meth:`parse` without the :class:`ParsedLine`: ``(fields, severity, message)``,
        or None when the line does not fit the prefix (the assembler's hot path).

        >>> fields, severity, message = LinePrefix("%m [%p] ").split(
        ...     "2026-11-25 16:05:01.120 UTC [7] ERROR:  boom")
        >>> dict(fields), severity, message
        ({'m': '2026-11-25 16:05:01.120 UTC', 'p': '7'}, 'ERROR', 'boom')
        """
        match = self._fast.match(text)
        if match is None:
            return None
        if self._plain:
            return (MappingProxyType(match.groupdict()), match[self._fast_severity],
                    match[self._fast_message])
        padded = self._padded_escapes
        fields = {}
        for escape, value in match.groupdict().items():
            if value is not None:
                fields[escape] = value.strip(" ") if escape in padded else value
        return (MappingProxyType(fields), match[self._fast_severity],
                match[self._fast_message])

    def parse_by_groups(self, text: str) -> ParsedLine | None:
        """:meth:`parse` the way it was before :meth:`split` (named groups of
        :attr:`pattern` read one by one): the oracle of the property test for the fast
        path."""
        match = self.pattern.match(text)
        if match is None:
            return None
        values = match.groups()
        padded = self._padded_escapes
        fields = {}
        for escape, i in self._groups:
            value = values[i]
            if value is not None:
                fields[escape] = value.strip(" ") if escape in padded else value
        return ParsedLine(MappingProxyType(fields), values[self._severity],
                          values[self._message])

    def parse_with_grammar(self, text: str) -> ParsedLine | None:
        """Split a line with the pyparsing grammar (slower; the reference for :meth:`parse`).

        >>> dict(LinePrefix().parse_with_grammar("2026-11-25 16:05:01 UTC::@:[77]:LOG:  x").fields)
        {'t': '2026-11-25 16:05:01 UTC', 'r': '', 'u': '', 'd': '', 'p': '77'}
        """
        try:
            result = self.grammar.parse_string(text, parse_all=True)
        except pp.ParseException:
            return None
        named = result.as_dict()
        fields = {}
        for escape, name in self._names.items():
            if name in named:
                value = named[name]
                fields[escape] = value.strip(" ") if escape in self._padded_escapes else value
        return ParsedLine(MappingProxyType(fields), named["severity"], named.get("message", ""))

    def values_with_grammar(self, text: str) -> dict[str, object] | None:
        """The prefix values of a line as what they are, read by the grammar: timestamps
        as aware datetimes (zones through python-dateutil, in :attr:`timezone`), numbers
        as ints, ``%c`` and ``%v`` as pairs of ints, ``%r`` as ``(host, port)``; free text
        as text. None when the line does not fit the prefix.

        >>> LinePrefix("%m [%p] ").values_with_grammar("2026-11-25 16:05:01.120 CET [7] LOG:  x")
        {'m': datetime.datetime(2026, 11, 25, 16, 5, 1, 120000, \
tzinfo=datetime.timezone(datetime.timedelta(seconds=3600))), 'p': 7}
        """
        parsed = self.parse_with_grammar(text)
        if parsed is None:
            return None
        return {escape: self._typed(escape, value) for escape, value in parsed.fields.items()}

    def _typed(self, escape: str, text: str) -> object:
        if escape in _FREE_TEXT:
            return text
        element = _typed_element(escape)
        try:
            found = element.parse_string(text, parse_all=True)
        except pp.ParseException:  # pragma: no cover - the grammar matched it already
            raise PrefixError(f"%{escape} value {text!r} does not read back") from None
        if escape in _ZONED:
            micro = int(found.get("millis", "0")) * 1000
            return self.timestamps.from_parts(
                int(found["year"]), int(found["month"]), int(found["day"]), int(found["hour"]),
                int(found["minute"]), int(found["second"]), micro, found["zone"])
        if escape == "n":
            return parse_epoch(text)
        if escape in "pPlxQ":
            return int(text) if text else None
        if escape == "c":
            return (int(found["start"], 16), int(found["pid"], 16))
        if escape == "v":
            return (int(found["proc"]), int(found["local"])) if text else None
        if escape == "r":
            if not text:
                return None
            return (found["host"], int(found["port"]) if "port" in found else None)
        return text


_ESCAPE_NAMES: Final = {
    "a": "application_name", "u": "user_name", "d": "database_name",
    "r": "remote_host_and_port", "h": "remote_host", "b": "backend_type",
    "p": "process_id", "P": "parallel_leader_pid", "t": "timestamp", "m": "timestamp_ms",
    "n": "epoch_timestamp", "i": "command_tag", "e": "sqlstate", "c": "session_id",
    "l": "session_line_number", "s": "session_start", "v": "virtual_xid", "x": "xid",
    "Q": "query_id", "L": "local_address",
}


@cache
def _typed_element(escape: str) -> pp.ParserElement:
    """The grammar of one value on its own (for :meth:`LinePrefix.values_with_grammar`)."""
    if escape in _ZONED:
        element = _date_time(millis=escape == "m") + " " + pp.MatchFirst(list(_zone_forms()))
    else:
        element = _value_element(escape)
    _leave_whitespace(element)
    return element.parse_with_tabs()


def _leave_whitespace(element: pp.ParserElement) -> None:
    """Switch off pyparsing's whitespace skipping in an element and everything in it."""
    seen: set[int] = set()
    stack = [element]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.skipWhitespace = False
        if isinstance(current, pp.White):
            current.whiteChars = set()
        stack.extend(getattr(current, "exprs", []))
        inner = getattr(current, "expr", None)
        if isinstance(inner, pp.ParserElement):
            stack.append(inner)
        for attr in ("failOn", "ignoreExpr"):
            extra = getattr(current, attr, None)
            if isinstance(extra, pp.ParserElement):
                stack.append(extra)


def _group_name(escape: str) -> str:
    # Regex group names are case-sensitive but must be identifiers: %p and %P differ.
    return ("upper_" if escape.isupper() else "esc_") + escape.lower()


#: Escapes only a process serving a client writes (empty or cut by %q for the others).
SESSION_ESCAPES: Final = frozenset("audrhiL")


@dataclass(frozen=True, slots=True)
class PrefixChoice:
    """The prefix ``--prefix auto`` chose, and how many of the lines it looked at fit it.

    >>> PrefixChoice("%m [%p] ", 412, 415).describe()
    "log_line_prefix '%m [%p] ' (fits 412/415 lines)"
    """

    spec: str
    fitted: int
    sampled: int

    def describe(self) -> str:
        return f"log_line_prefix {self.spec!r} (fits {self.fitted}/{self.sampled} lines)"


def _sample(lines: Iterable[str]) -> list[str]:
    """The lines worth reading a prefix off: not empty, not a message's continuation."""
    return [line for line in lines if line and not line.startswith("\t")]


def is_session_line(parsed: ParsedLine | None) -> bool:
    """Whether a parse shows a process serving a client (a session-only value is set)."""
    return parsed is not None and any(parsed.fields.get(e) for e in SESSION_ESCAPES)


def has_session_line(lines: Iterable[str], candidates: tuple[str, ...] = KNOWN_PREFIXES
                     ) -> bool:
    """Whether any candidate reads a client's session off any of these lines (a head of
    background-process lines says nothing about the session part of a prefix)."""
    prefixes = [LinePrefix(spec) for spec in candidates]
    return any(is_session_line(prefix.parse(line))
               for line in _sample(lines) for prefix in prefixes)


def choose_prefix(lines: Iterable[str], candidates: tuple[str, ...] = KNOWN_PREFIXES
                  ) -> PrefixChoice | None:
    """The candidate that reads these lines best, with its fit; None if none reads any.

    What counts, in order: the session lines it reads (lines on which some candidate finds
    a user, database, client...: they tell the prefixes apart, background lines do not);
    how much of those lines' prefixes it explains by structured values and literals rather
    than by free text (``[queryid=5] bob`` is not a user name); the lines it reads in all;
    then the order of ``candidates`` (the RDS default first).

    >>> choose_prefix(["2026-11-25 16:05:01.120 UTC [7] bob@shop LOG:  hi"]).spec
    '%m [%p] %q%u@%d '
    """
    sample = _sample(lines)
    if not sample:
        return None
    parses = [[prefix.parse(line) for line in sample]
              for prefix in (LinePrefix(spec) for spec in candidates)]
    session = [any(is_session_line(row[i]) for row in parses) for i in range(len(sample))]
    best: tuple[int, int, int, int] | None = None
    chosen = 0
    for order, row in enumerate(parses):
        fitted = sum(parsed is not None for parsed in row)
        if not fitted:
            continue
        session_fitted = explained = 0
        for i, parsed in enumerate(row):
            if parsed is not None and session[i]:
                session_fitted += 1
                explained += _explained(sample[i], parsed)
        score = (session_fitted, explained, fitted, -order)
        if best is None or score > best:
            best, chosen = score, fitted
    if best is None:
        return None
    return PrefixChoice(candidates[-best[3]], chosen, len(sample))


def _explained(line: str, parsed: ParsedLine) -> int:
    """Characters of a line's prefix that are not free text (structured values, literals)."""
    prefix_length = len(line) - len(parsed.message) - len(parsed.severity) - 3
    free = sum(len(value) for escape, value in parsed.fields.items() if escape in _FREE_TEXT)
    return prefix_length - free


def detect_prefix(lines: list[str], candidates: tuple[str, ...] = KNOWN_PREFIXES) -> str | None:
    """The spec :func:`choose_prefix` picks for these lines, or None.

    >>> detect_prefix(["2026-11-25 16:05:01.120 UTC [7] LOG:  hi"])
    '%m [%p] '
    """
    choice = choose_prefix(lines, candidates)
    return choice.spec if choice is not None else None
