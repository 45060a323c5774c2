"""Input lines and rejects: the unit every source produces and every stage accounts for.

A :class:`Line` is one physical line of a server log (split on LF only; a bare CR stays in
the text), together with where it came from. A :class:`Reject` is input the parser could
not place; it carries the raw text so that nothing is ever lost silently.

>>> Line("2026-11-25 16:05:01 UTC::@:[77]:LOG:  checkpoint starting", "pg.log", 1).number
1
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any, TypeVar

__all__ = ["Line", "Reject", "to_lines", "split_message", "slot_filler", "slot_constructor",
           "without_surrogates", "stream_key", "stream_name", "stream_group"]

T = TypeVar("T")


def _slot_function(cls: type, construct: bool) -> Callable[..., Any]:
    names = [f.name for f in fields(cls)]
    namespace: dict[str, Any] = {f"_set_{n}": getattr(cls, n).__set__ for n in names}
    namespace.update(_new=object.__new__, _cls=cls)
    params = ", ".join(names) if construct else ", ".join(["self", *names])
    body = "".join(f"    _set_{n}(self, {n})\n" for n in names)
    if construct:
        body = "    self = _new(_cls)\n" + body + "    return self\n"
    exec(f"def made({params}):\n{body}", namespace)  # noqa: S102 - from field names only
    made: Callable[..., Any] = namespace["made"]
    made.__qualname__ = f"{cls.__qualname__}.{'new' if construct else 'fill'}"
    return made


def slot_filler(cls: type) -> Callable[..., None]:
    """``fill(obj, *values)``: set every field of a frozen slotted dataclass, in order,
    through the slots' own setters: half the cost of the ``object.__setattr__`` call per
    field its generated ``__init__`` makes (for classes made once per line or message)."""
    return _slot_function(cls, construct=False)


def slot_constructor(cls: type[T]) -> Callable[..., T]:
    """``new(*values)``, equal to ``cls(*values)`` for a frozen slotted dataclass (every
    field, in order), filled as :func:`slot_filler` fills, without an ``__init__`` call."""
    return _slot_function(cls, construct=True)


@dataclass(frozen=True, slots=True)
class Line:
    """One physical log line (without its trailing LF).

    ``source`` names the file, stream or queue it came from; ``number`` is 1-based within
    that source; ``stream`` separates interleaved inputs that must be assembled apart
    (CloudWatch log streams); ``ref`` is an opaque source position (a CloudWatch event id,
    an SQS message id) that sources use for acknowledgement.
    """

    text: str
    source: str = "<lines>"
    number: int = 0
    stream: str = ""
    ref: object = None

    def __init__(self, text: str, source: str = "<lines>", number: int = 0, stream: str = "",
                 ref: object = None) -> None:
        # Sources make one Line per physical line: same signature, same frozen object,
        # filled through the slots' setters (see slot_filler).
        _fill_line(self, text, source, number, stream, ref)


_fill_line = slot_filler(Line)


# -- stream keys ---------------------------------------------------------------------------
# Equal log stream names in different log groups are different instances' logs (a central
# queue fed from several accounts or regions, an instance group and a cluster group, two
# groups of one `cloudwatch` run): every per-stream state (assembly, sessions, executions,
# idle clocks, reorder buffers, instance naming, held records) is keyed by ``Line.stream``,
# so a source that knows the log group puts it in the key. Neither a log group name nor a
# log stream name can hold ``:`` (CloudWatch forbids it), so the key is ``GROUP:STREAM``
# (a group from an SQS body that holds ``:`` or ``%`` anyway is %-escaped), and a stream
# name without a group is the key itself (one with ``:`` in it gets a leading ``:``, the
# empty group). Output shows the stream's name (:func:`stream_name`), never the key.

def stream_key(group: str | None, stream: str) -> str:
    """The key of a log stream of a log group (None or "": not known).

    >>> stream_key("/aws/rds/instance/db1/postgresql", "db1")
    '/aws/rds/instance/db1/postgresql:db1'
    >>> stream_key(None, "db1"), stream_key(None, "a:b"), stream_key("g:1%", "s")
    ('db1', ':a:b', 'g%3A1%25:s')
    """
    if group:
        if ":" in group or "%" in group:
            group = group.replace("%", "%25").replace(":", "%3A")
        return f"{group}:{stream}"
    return ":" + stream if ":" in stream else stream


def stream_name(key: str) -> str:
    """The log stream's name in a :func:`stream_key` (the key of a plain stream is its name).

    >>> stream_name("/aws/rds/instance/db1/postgresql:db1"), stream_name(":a:b"), stream_name("s")
    ('db1', 'a:b', 's')
    """
    return key.partition(":")[2] if ":" in key else key


def stream_group(key: str) -> str | None:
    """The log group in a :func:`stream_key`, or None.

    >>> stream_group("g%3A1%25:s"), stream_group("s"), stream_group(":a:b")
    ('g:1%', None, None)
    """
    group = key.partition(":")[0] if ":" in key else ""
    if "%" in group:
        group = group.replace("%3A", ":").replace("%25", "%")
    return group or None


@dataclass(frozen=True, slots=True, repr=False)
class Reject:
    """Input that fits no grammar: where it was, why, and the raw text.

    >>> Reject("pg.log", 3, "line does not match log_line_prefix", "garbage").reason
    'line does not match log_line_prefix'
    """

    source: str
    line: int
    reason: str
    raw: str
    #: Input lines it stands for, from ``line`` on (a run of empty lines is one reject).
    lines: int = 1

    def __repr__(self) -> str:
        # ``lines`` is shown only when the reject stands for more than one line.
        more = f", lines={self.lines}" if self.lines != 1 else ""
        return (f"Reject(source={self.source!r}, line={self.line!r}, reason={self.reason!r}, "
                f"raw={self.raw!r}{more})")

    def as_dict(self) -> dict[str, object]:
        """The dead-letter JSON form: ``{"source", "line", "reason", "raw", "lines"}``."""
        return {"source": self.source, "line": self.line, "reason": self.reason, "raw": self.raw,
                "lines": self.lines}


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """Text with each lone surrogate (a ``\\ud800`` escape in JSON input, a file name's
    undecodable byte as Python hands it over, a library caller's string: no UTF-8 text
    holds one, and no output can write one) as a backslash escape, the way an invalid
    byte of a log file reads: ``\\xff`` for a byte, ``\\ud800`` for a code point.

    >>> without_surrogates("a\\ud800b"), without_surrogates("f\\udcff.log"), without_surrogates("é")
    ('a\\\\ud800b', 'f\\\\xff.log', 'é')
    """
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(_escape_surrogate, text)


def _escape_surrogate(found: re.Match[str]) -> str:
    code = ord(found.group())
    # U+DC80..U+DCFF: an undecodable byte (Python's surrogateescape)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def split_message(text: str) -> list[str]:
    """Split text into lines on LF only (PostgreSQL messages may hold a bare CR); a lone
    surrogate becomes its backslash escape (:func:`without_surrogates`).

    >>> split_message("a\\r\\nb\\n")
    ['a\\r', 'b']
    """
    parts = without_surrogates(text).split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def to_lines(items: Iterable[str | Line], source: str = "<lines>") -> Iterator[Line]:
    """Turn strings into numbered :class:`Line` objects; pass ``Line`` objects through.

    A string holding several LF-separated lines yields one ``Line`` per physical line.

    >>> [(x.text, x.number) for x in to_lines(["a\\n", "b\\nc"])]
    [('a', 1), ('b', 2), ('c', 3)]
    """
    number = 0
    for item in items:
        if isinstance(item, Line):
            yield item
            continue
        for text in split_message(item) if item else [""]:
            number += 1
            yield Line(text, source, number)
