"""The input side's fast paths (issue 12, speed round 2) against their references.

Each fast path equals the slow, obviously-right code it replaced (kept in
tests/reference_front.py or in the package) on generated input of the kind PostgreSQL
writes: the prefix split, the entry assembler, the Line and LogEntry constructors.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from types import MappingProxyType

from hypothesis import given
from hypothesis import strategies as st
from reference_front import ReferenceAssembler
from strategies import (
    PRIMARY_SEVERITIES,
    SECONDARY_LABELS,
    SETTINGS,
    PrefixCase,
    log_lines,
    messages,
    mutated_lines,
    prefix_cases,
    scaled,
    timestamps_m,
    timestamps_t,
)

from pgaudit_parse.entries import EntryAssembler, LogEntry
from pgaudit_parse.lines import Line, Reject
from pgaudit_parse.prefix import RDS_PREFIX, LinePrefix
from pgaudit_parse.timestamps import (
    TimestampError,
    TimestampParser,
    _cached_parse,
    parse_timestamp,
)

# -- the prefix split -------------------------------------------------------------------------


@SETTINGS
@given(prefix_cases())
def test_split_equals_reading_the_named_groups_on_rendered_lines(case: PrefixCase) -> None:
    prefix = LinePrefix(case.spec)
    expected = prefix.parse_by_groups(case.line)
    assert prefix.parse(case.line) == expected
    split = prefix.split(case.line)
    assert split is not None and expected is not None
    fields, severity, message = split
    assert isinstance(fields, MappingProxyType)
    assert list(fields.items()) == list(expected.fields.items())  # same keys, same order
    assert (severity, message) == (expected.severity, expected.message)


@SETTINGS
@given(mutated_lines())
def test_split_equals_reading_the_named_groups_on_mutated_lines(
        spec_and_line: tuple[str, str]) -> None:
    spec, line = spec_and_line
    prefix = LinePrefix(spec)
    expected = prefix.parse_by_groups(line)
    split = prefix.split(line)
    if expected is None:
        assert split is None
    else:
        assert split is not None
        assert list(split[0].items()) == list(expected.fields.items())
        assert split[1:] == (expected.severity, expected.message)


# -- the entry assembler ----------------------------------------------------------------------

#: Prefixes keyed by %p, by %c, and by nothing (every message its own backend).
_KEYLESS = "%t "
_BY_SESSION = "%t-%c-"


@st.composite
def _keyed_lines(draw: st.DrawFn, spec: str) -> list[str]:
    """Lines of a prefix without %p: messages, secondary lines, continuations, junk."""
    out: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["primary", "primary", "secondary", "continuation",
                                     "junk"]))
        stamp = "2026-11-25 16:05:01 UTC"
        lead = (f"{stamp} " if spec == _KEYLESS
                else f"{stamp}-{draw(st.sampled_from(['6745a1.b7', '6745a2.c1']))}-")
        if kind == "primary":
            text = f"{lead}{draw(st.sampled_from(PRIMARY_SEVERITIES))}:  {draw(messages)}"
        elif kind == "secondary":
            text = f"{lead}{draw(st.sampled_from(SECONDARY_LABELS))}:  {draw(messages)}"
        elif kind == "continuation":
            text = "\t" + draw(messages)
        else:
            text = draw(st.sampled_from(["", "junk", "\t", "\r", lead]))
        first, *more = text.split("\n")
        out += [first] + ["\t" + part for part in more]
    return out


@st.composite
def _logs(draw: st.DrawFn) -> tuple[str, list[Line], int]:
    """(spec, numbered lines over one to three streams, window)."""
    spec = draw(st.sampled_from([RDS_PREFIX, RDS_PREFIX, _KEYLESS, _BY_SESSION]))
    if spec == RDS_PREFIX:
        texts = [raw.decode("utf-8", "backslashreplace") for raw in draw(log_lines())]
    else:
        texts = draw(_keyed_lines(spec))
    streams = draw(st.lists(st.sampled_from(["", "a", "b"]), min_size=len(texts),
                            max_size=len(texts)))
    lines = [Line(text, "f.log", number, stream)
             for number, (text, stream) in enumerate(zip(texts, streams, strict=True), 1)]
    return spec, lines, draw(st.sampled_from([1, 2, 3, 64]))


def _entry_view(entry: LogEntry) -> tuple[object, ...]:
    return (list(entry.fields.items()), entry.severity, entry.message, entry.secondary,
            [id(line) for line in entry.lines])


@scaled(0.5)
@given(_logs())
def test_assembler_equals_the_reference_assembler(log: tuple[str, list[Line], int]) -> None:
    spec, lines, window = log
    prefix = LinePrefix(spec)
    fast_rejects: list[Reject] = []
    slow_rejects: list[Reject] = []
    fast = EntryAssembler(prefix, fast_rejects.append, window)
    slow = ReferenceAssembler(prefix, slow_rejects.append, window)
    for line in lines:
        # the same entries after every line (not only in the end), the same held lines
        assert [_entry_view(e) for e in fast.feed(line)] == \
            [_entry_view(e) for e in slow.feed(line)]
        assert fast_rejects == slow_rejects
        assert [id(x) for x in fast.pending_lines()] == [id(x) for x in slow.pending_lines()]
    assert [_entry_view(e) for e in fast.flush()] == [_entry_view(e) for e in slow.flush()]
    assert fast.pending_lines() == slow.pending_lines() == []


# -- timestamps: the per-text cache ----------------------------------------------------------


@SETTINGS
@given(st.lists(st.one_of(timestamps_t, timestamps_m,
                          st.sampled_from(["2026-13-45 99:99:99 UTC", "2026-11-25 16:05:01 XYZQ",
                                           "2026-11-25 16:05:01 CST", "garbage"])),
                min_size=1, max_size=8),
       st.sampled_from([None, "America/Chicago", "Asia/Shanghai"]))
def test_cached_timestamps_equal_uncached(texts: list[str], zone: str | None) -> None:
    """A timestamp read through the cache (twice, in any order) is the one read afresh,
    and an unreadable one fails every time, not only the first."""
    cached = TimestampParser(zone, on_ambiguous=lambda message: None)
    fresh = TimestampParser(zone, on_ambiguous=lambda message: None)
    for text in texts + texts:
        outcomes = []
        for read in (cached, fresh._parse, parse_timestamp, _cached_parse.__wrapped__):
            try:
                moment = read(text)
            except TimestampError as exc:
                outcomes.append(("error", str(exc)))
            else:
                outcomes.append(("ok", moment.isoformat()))
        assert outcomes[0] == outcomes[1], text  # a log's reader: cached == uncached
        assert outcomes[2] == outcomes[3], text  # the module's reader: cached == uncached


# -- constructors -----------------------------------------------------------------------------


def test_line_and_entry_constructors_keep_the_dataclass_contract() -> None:
    for cls in (Line, LogEntry):
        fields = dataclasses.fields(cls)
        parameters = list(inspect.signature(cls).parameters.values())
        assert [p.name for p in parameters] == [f.name for f in fields]
        for parameter, field in zip(parameters, fields, strict=True):
            expected = (inspect.Parameter.empty if field.default is dataclasses.MISSING
                        else field.default)
            assert parameter.default == expected, (cls, field.name)
    line = Line("a\rb", "f.log", 3, "s", ref=7)
    assert (line.text, line.source, line.number, line.stream, line.ref) == \
        ("a\rb", "f.log", 3, "s", 7)
    assert Line("x") == Line("x", "<lines>", 0, "", None)
    assert repr(Line("x", "f", 1)) == \
        "Line(text='x', source='f', number=1, stream='', ref=None)"
    assert dataclasses.replace(line, number=4).number == 4
    assert pickle.loads(pickle.dumps(line)) == line and hash(line) == hash(Line(*_values(line)))
    entry = LogEntry(MappingProxyType({"p": "7"}), "LOG", "m", (("DETAIL", "d"),), (line,))
    assert (entry.severity, entry.message, entry.get("DETAIL"), entry.line) == \
        ("LOG", "m", "d", 3)
    assert dataclasses.replace(entry, message="n").message == "n"
    for obj, name in ((line, "text"), (entry, "message")):
        try:
            setattr(obj, name, "changed")
        except dataclasses.FrozenInstanceError:
            pass
        else:
            raise AssertionError(f"{type(obj).__name__} is not frozen")
    assert not hasattr(line, "__dict__") and not hasattr(entry, "__dict__")


def _values(line: Line) -> tuple[object, ...]:
    return tuple(getattr(line, f.name) for f in dataclasses.fields(line))
