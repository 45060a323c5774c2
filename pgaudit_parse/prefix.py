"""The ``log_line_prefix`` grammar: one builder serves every prefix.

A prefix such as RDS's ``%t:%r:%u@%d:[%p]:`` is data. :func:`tokenize_prefix` reads it into
literal and escape parts; :class:`LinePrefix` turns those parts into

* a pyparsing grammar (the source of truth, :attr:`LinePrefix.grammar`), and
* a regular expression compiled from the same parts (the fast path,
  :attr:`LinePrefix.pattern`).

Both follow the same rule, so they agree by construction (and property tests check it):
each part matches on its own, left to right, and never gives back what it matched. A
free-text part (user, database, application name...) runs up to the first place where the
literal that follows it in the prefix appears. The regex gets that rule from atomic groups.

After the prefix, PostgreSQL writes ``SEVERITY:  message``.

>>> p = LinePrefix("%t:%r:%u@%d:[%p]:")
>>> parsed = p.parse("2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:LOG:  hi")
>>> parsed.fields["u"], parsed.fields["p"], parsed.severity, parsed.message
('alice', '4242', 'LOG', 'hi')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import pyparsing as pp

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
]

#: The RDS and Aurora for PostgreSQL default (not changeable on RDS).
RDS_PREFIX: Final = "%t:%r:%u@%d:[%p]:"
#: PostgreSQL's own default since version 10.
POSTGRES_DEFAULT_PREFIX: Final = "%m [%p] "
#: Prefixes ``--prefix auto`` tries, most common first.
KNOWN_PREFIXES: Final = (
    RDS_PREFIX,
    POSTGRES_DEFAULT_PREFIX,
    "%m:%r:%u@%d:[%p]:",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%m [%p] %q%u@%d ",
    "%m [%p] %q[user=%u,db=%d,app=%a] ",
    "%t [%p-%l] %q%u@%d ",
    "< %m > ",
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

_ZONE = r"(?:[A-Za-z][A-Za-z0-9]{0,5}|[+-]\d{2}(?::?\d{2})?)"
_STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"

#: The zone forms of a timestamp, each with its length (for padded timestamps).
_ZONE_FORMS: Final = (
    (r"[+-]\d{2}:\d{2}", 6), (r"[+-]\d{4}", 5), (r"[+-]\d{2}(?!\d)", 3),
    *((f"[A-Za-z][A-Za-z0-9]{{{n - 1}}}(?![A-Za-z0-9])", n) for n in range(6, 0, -1)),
)

#: What each structured escape's value looks like. Escapes not listed are free text.
_VALUE_PATTERNS: Final[dict[str, str]] = {
    "t": _STAMP + " " + _ZONE,
    "m": _STAMP + r"\.\d{3} " + _ZONE,
    "s": _STAMP + " " + _ZONE,
    "n": r"\d+\.\d{3}",
    "p": r"\d+",
    "P": r"\d*",
    "l": r"\d+",
    "x": r"\d+",
    "e": r"[0-9A-Z]{5}",
    "c": r"[0-9a-f]+\.[0-9a-f]+",
    "v": r"(?:-?\d+/\d+)?",
    "Q": r"-?\d+",
    # host(port) for TCP clients, [local] for Unix sockets, empty for background processes
    "r": r"(?:\[local\]|[^\s()]+\(\d+\))?",
}
#: Timestamps ending in a zone (which may be numeric with a colon).
_ZONED: Final = frozenset("tms")
#: Free-text escapes: application name, user, database, remote host, backend type, tag.
_FREE_TEXT: Final = frozenset("audhbi")
_ESCAPES: Final = frozenset(_VALUE_PATTERNS) | _FREE_TEXT | {"q"}

_SEVERITY_RE = "(?P<severity>" + "|".join(SEVERITIES) + "):  "
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

    Unknown escapes are written literally by PostgreSQL, so they become literals here too.

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
            width = None  # %q writes nothing itself, so a width means nothing
        if literal:
            parts.append(PrefixLiteral("".join(literal)))
            literal = []
        parts.append(PrefixEscape(escape, int(width) if width else 0))
    if literal:
        parts.append(PrefixLiteral("".join(literal)))
    return tuple(parts)


def _following_text(parts: tuple[PrefixPart, ...], index: int) -> str | None:
    """The regex that must follow the value at ``index``, or None if nothing fixed does.

    It spans the literals and structured values after it up to the next free-text value
    or ``%q``; when it reaches the end of the prefix, the severity is included. A free-text
    value thus stops at the first place where the rest of the prefix can follow.
    """
    tail: list[str] = []
    for part in parts[index + 1:]:
        if isinstance(part, PrefixLiteral):
            tail.append(re.escape(part.text))
        elif part.escape in _FREE_TEXT or part.escape == "q":
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
            pad = " " * max(0, width - base - length)
            branches.append(f"{pad}{stamp} {zone}" if part.padding > 0
                            else f"{stamp} {zone}{pad}")
        return "(?:" + "|".join(branches) + ")"
    if part.padding > 0:
        return f" {{0,{width}}}(?:{value})"
    branches = [f"(?=[^ ]{{{k}}} )(?:{value}) {{{width - k}}}" for k in range(width)]
    branches.append(f"(?=[^ ]{{{width}}})(?:{value})")
    return "(?:" + "|".join(branches) + ")"


def _value_regex(parts: tuple[PrefixPart, ...], index: int) -> str:
    """The regex for the value of the escape at ``index`` (without group or atomic wrap)."""
    part = parts[index]
    assert isinstance(part, PrefixEscape)
    following = _following_text(parts, index)
    lookahead = f"(?={following})" if following is not None else ""
    if part.escape in _FREE_TEXT:
        if not part.padding:
            return f".*?{lookahead}"
        # PostgreSQL pads to |width| bytes. An ASCII value (TABs and other controls
        # included) so fills at least |width| characters; any other value holds a
        # non-ASCII character and is shorter, so it is the shortest run with one that the
        # rest of the prefix follows. Spaces are stripped after the match.
        width = abs(part.padding)
        return (f"(?:[\\x00-\\x7f]{{{width},}}?{lookahead}"
                f"|.*?[^\\x00-\\x7f].*? *{lookahead})")
    value = _VALUE_PATTERNS[part.escape]
    if part.padding:
        return _padded(part) + lookahead
    if part.escape in _ZONED:
        # A numeric zone (-03, +05:30) may run into a following ':'; the lookahead lets
        # the value give back ':10' of '-03:10.0.0.5(5000)' inside its atomic group.
        return f"(?:{value}){lookahead}"
    return value


class LinePrefix:
    """A compiled ``log_line_prefix``: pyparsing grammar plus an equivalent fast regex.

    >>> dict(LinePrefix("%m [%p] ").parse("2026-11-25 16:05:01.120 UTC [7] ERROR:  boom").fields)
    {'m': '2026-11-25 16:05:01.120 UTC', 'p': '7'}
    >>> LinePrefix("%m [%p] ").parse("no prefix here") is None
    True
    """

    __slots__ = ("spec", "parts", "escapes", "grammar", "pattern", "_names", "_groups",
                 "_padded_escapes", "_plain", "_severity", "_message")

    def __init__(self, spec: str = RDS_PREFIX) -> None:
        if not isinstance(spec, str):
            raise PrefixError("log_line_prefix must be a string")
        self.spec = spec
        self.parts = tokenize_prefix(spec)
        seen = [p.escape for p in self.parts if isinstance(p, PrefixEscape) and p.escape != "q"]
        if len(set(seen)) != len(seen):
            # The same escape twice would make two capture groups of one name.
            raise PrefixError(f"log_line_prefix {spec!r} repeats an escape")
        self.escapes: tuple[str, ...] = tuple(seen)
        self._names = {e: _group_name(e) for e in seen}
        self.grammar = self._build_grammar()
        self.pattern = re.compile(self._build_regex(), re.DOTALL)
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
        return f"LinePrefix({self.spec!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinePrefix) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    # -- construction -----------------------------------------------------------------

    def _split_at_q(self) -> tuple[range, range | None]:
        """Index ranges of the parts before ``%q`` and after it (None without ``%q``)."""
        for i, part in enumerate(self.parts):
            if part == PrefixEscape("q"):
                return range(0, i), range(i + 1, len(self.parts))
        return range(0, len(self.parts)), None

    def _build_regex(self) -> str:
        def piece(i: int) -> str:
            part = self.parts[i]
            if isinstance(part, PrefixLiteral):
                return re.escape(part.text)
            return f"(?>(?P<{self._names[part.escape]}>{_value_regex(self.parts, i)}))"

        before, after = self._split_at_q()
        regex = "".join(piece(i) for i in before)
        if after is not None:
            regex += "(?>(?:" + "".join(piece(i) for i in after) + ")?)"
        return regex + _SEVERITY_RE + "(?P<message>.*)\\Z"

    def _build_grammar(self) -> pp.ParserElement:
        def element(i: int) -> pp.ParserElement:
            part = self.parts[i]
            if isinstance(part, PrefixLiteral):
                return pp.Literal(part.text).leave_whitespace()
            name = self._names[part.escape]
            return pp.Regex(_value_regex(self.parts, i), flags=re.DOTALL)(name).set_name(
                _ESCAPE_NAMES.get(part.escape, part.escape)
            ).leave_whitespace()

        before, after = self._split_at_q()
        sequence: list[pp.ParserElement] = [element(i) for i in before]
        if after is not None and len(after):
            sequence.append(pp.Opt(pp.And([element(i) for i in after]).leave_whitespace()))
        severity = pp.one_of(list(SEVERITIES), as_keyword=False)("severity").leave_whitespace()
        message = pp.Regex(r".*\Z", flags=re.DOTALL)("message").leave_whitespace()
        sequence += [severity, pp.Literal(":  ").leave_whitespace(), message]
        # parse_with_tabs: pyparsing would otherwise expand TABs before matching.
        grammar = pp.And(sequence).leave_whitespace().parse_with_tabs()
        grammar.set_name(f"log line with prefix {self.spec!r}")
        return grammar

    # -- parsing ------------------------------------------------------------------------

    def parse(self, text: str) -> ParsedLine | None:
        """Split a line with the fast regex; None when the line does not fit the prefix."""
        match = self.pattern.match(text)
        if match is None:
            return None
        values = match.groups()
        if self._plain:
            fields = {escape: values[i] for escape, i in self._groups}
        else:
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


_ESCAPE_NAMES: Final = {
    "a": "application_name", "u": "user_name", "d": "database_name",
    "r": "remote_host_and_port", "h": "remote_host", "b": "backend_type",
    "p": "process_id", "P": "parallel_leader_pid", "t": "timestamp", "m": "timestamp_ms",
    "n": "epoch_timestamp", "i": "command_tag", "e": "sqlstate", "c": "session_id",
    "l": "session_line_number", "s": "session_start", "v": "virtual_xid", "x": "xid",
    "Q": "query_id",
}


def _group_name(escape: str) -> str:
    # Regex group names are case-sensitive but must be identifiers: %p and %P differ.
    return ("upper_" if escape.isupper() else "esc_") + escape.lower()


def detect_prefix(lines: list[str], candidates: tuple[str, ...] = KNOWN_PREFIXES) -> str | None:
    """Pick the candidate prefix that fits most of the given (first) lines.

    Continuation lines (starting with TAB) are ignored. Returns None when no candidate
    fits any line. Ties go to the earlier candidate, so the RDS default wins.

    >>> detect_prefix(["2026-11-25 16:05:01.120 UTC [7] LOG:  hi"])
    '%m [%p] '
    """
    scored: list[tuple[int, int]] = []
    sample = [line for line in lines if line and not line.startswith("\t")]
    for order, spec in enumerate(candidates):
        prefix = LinePrefix(spec)
        hits = sum(1 for line in sample if prefix.parse(line) is not None)
        scored.append((hits, -order))
    best = max(scored) if scored else None
    if best is None or best[0] == 0:
        return None
    return candidates[-best[1]]
