"""Whole-file fuzzing through the real entry points.

Generated server logs (``tests/strategies.py``: valid RDS-prefixed messages with TAB
continuations and DETAIL/STATEMENT lines, interleaved backends, torn pgAudit payloads,
bad timestamps, truncated lines, binary junk, invalid UTF-8, NUL, bare CR, empty lines),
stored as every kind of input (plain LF, CRLF, with a byte-order mark, gzip -- some
truncated --, a CloudWatch JSON list, filter-log-events output, forwarder SQS bodies, seed
``str(dict)`` bodies), intact or with faults injected (truncation, flipped bytes, inserted
junk, concatenation), go through :func:`read_input`, :class:`EntryAssembler`,
:class:`Parser` and ``cli.main``.

Properties:

* nothing escapes: ``read_input`` yields lines and rejects or raises ``InputError``
  naming the file; the parser never raises; the CLI returns 0 or 2 with one
  ``pgaudit-parse: ...`` line on stderr for 2;
* accounting at the source: every unit of the input (a physical line; a line of an event
  or a rejected JSON piece) is in exactly one line or one reject (a reject may stand for a
  run of lines), numbered without gaps; for a plain log, one per physical line;
* an intact file of any kind reads back as exactly its lines;
* accounting at the assembler: every input line is in exactly one entry or one reject;
* accounting at the parser: every entry becomes exactly one event or one event-level
  reject whose raw text holds all of the entry's lines, and the parser's line-level
  rejects are the assembler's -- so every line is in one event or one reject;
* the CLI writes what the library produces (events, rejects) as valid JSON lines.

Run: ``python -m pytest tests/test_fuzz_files.py -q``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import tempfile
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

from hypothesis import assume, example, given
from hypothesis import strategies as st
from strategies import LogFile, arbitrary_specs, damaged_files, log_files, scaled

from pgaudit_parse.cli import main
from pgaudit_parse.entries import DEFAULT_WINDOW, EntryAssembler, LogEntry
from pgaudit_parse.events import Event
from pgaudit_parse.lines import Line, Reject
from pgaudit_parse.parser import Parser
from pgaudit_parse.prefix import RDS_PREFIX, LinePrefix
from pgaudit_parse.sources import InputError, input_kind, read_input

PREFIX = LinePrefix(RDS_PREFIX)
#: Assembly windows: tiny ones make entries close while their lines are still coming.
windows = st.sampled_from([1, 2, 3, DEFAULT_WINDOW])


@dataclass
class Outcome:
    """What the library made of one file."""

    lines: list[Line] | None  # None: read_input raised InputError
    entries: list[LogEntry]
    assembler_rejects: list[Reject]
    events: list[Event]
    parser_rejects: list[Reject]


def write_file(file: LogFile, directory: str) -> str:
    suffix = {"gzip": ".log.gz", "cloudwatch": ".json", "filter": ".json",
              "forwarder": ".jsonl", "seed": ".txt", "sqs": ".txt"}.get(file.container, ".log")
    path = os.path.join(directory, "input" + suffix)
    with open(path, "wb") as handle:
        handle.write(file.data)
    return path


@dataclass
class Read:
    """What ``read_input`` made of one input: its lines, the source's rejects, and the
    error that stopped it (None: read to the end)."""

    lines: list[Line]
    rejects: list[Reject]
    error: InputError | None


def read_all(path: str) -> Read:
    lines: list[Line] = []
    rejects: list[Reject] = []
    try:
        for line in read_input(path, rejects.append):
            lines.append(line)
    except InputError as exc:
        return Read(lines, rejects, exc)
    return Read(lines, rejects, None)


def read_stdin(data: bytes) -> Read:
    """``read_input("-")`` with ``data`` as standard input."""
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    try:
        return read_all("-")
    finally:
        sys.stdin = saved


def physical_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def check_source_accounting(path: str, data: bytes, read: Read) -> None:
    """Every unit of the input (a physical line of a plain log; a line of an event, or a
    rejected piece, of JSON) is in exactly one line or one reject, numbered 1..M; for a
    plain log M is its number of physical lines. An input that stopped early (damaged
    gzip) accounts for a prefix of its lines, and is named in the error."""
    units = Counter(line.number for line in read.lines)
    for reject in read.rejects:
        assert reject.lines >= 1 and reject.reason
        units.update(range(reject.line, reject.line + reject.lines))
    assert all(count == 1 for count in units.values()), units.most_common(3)
    assert sorted(units) == list(range(1, len(units) + 1))
    if read.error is not None:
        assert read.error.source == path
        return
    if input_kind(path) == "plain":
        content = data
        if data[:2] == b"\x1f\x8b":
            content = gzip.decompress(data)
        assert len(units) == physical_lines(content)


def run_library(lines: list[Line], window: int) -> Outcome:
    """Assemble and parse the lines; check the accounting on the way."""
    numbers = [line.number for line in lines]
    assert len(set(numbers)) == len(numbers), "sources must number lines uniquely"

    assembler_rejects: list[Reject] = []
    assembler = EntryAssembler(PREFIX, assembler_rejects.append, window)
    entries: list[LogEntry] = []
    for line in lines:
        entries += assembler.feed(line)
    entries += assembler.flush()
    assert assembler.pending_lines() == []

    # Every input line in exactly one entry or one reject.
    placed = Counter(line.number for entry in entries for line in entry.lines)
    placed.update(reject.line for reject in assembler_rejects)
    assert placed == Counter(numbers)
    by_number = {line.number: line for line in lines}
    for entry in entries:
        assert all(by_number[line.number] is line for line in entry.lines)
        assert PREFIX.parse(entry.lines[0].text) is not None
    for reject in assembler_rejects:
        assert reject.raw == by_number[reject.line].text

    parser_rejects: list[Reject] = []
    parser = Parser(PREFIX, on_reject=parser_rejects.append, window=window)
    events: list[Event] = []
    for line in lines:
        events += parser.feed(line)
    events += parser.flush()
    assert parser.pending_lines() == []
    assert parser.reject_count == len(parser_rejects)
    assert parser.entry_count == len(entries)

    # The parser's line-level rejects are the assembler's; the others are entries
    # rejected whole (torn payload, bad timestamp), with all their lines in `raw`.
    line_level = Counter(reject.line for reject in assembler_rejects)
    entry_by_first = {entry.line: entry for entry in entries}
    assert len(entry_by_first) == len(entries)
    entry_level = [r for r in parser_rejects if r.line not in line_level]
    assert Counter(r.line for r in parser_rejects if r.line in line_level) == line_level
    for reject in entry_level:
        entry = entry_by_first[reject.line]
        assert reject.raw == "\n".join(line.text for line in entry.lines)
    made = Counter(event.line for event in events)
    made.update(reject.line for reject in entry_level)
    assert made == Counter(list(entry_by_first))
    return Outcome(lines, entries, assembler_rejects, events, parser_rejects)


def run_cli(argv: list[str]) -> tuple[int, str]:
    stderr, stdout = io.StringIO(), io.StringIO()
    with redirect_stderr(stderr), redirect_stdout(stdout):
        status = main(argv)
    message = stderr.getvalue()
    assert "Traceback" not in message
    assert status in (0, 2), message
    if status == 2:
        assert message.count("\n") == 1 and message.startswith("pgaudit-parse: "), message
    return status, message


def json_lines(path: str) -> list[dict[str, object]]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def check_everything(file: LogFile, window: int, fmt: str, directory: str) -> None:
    path = write_file(file, directory)
    read = read_all(path)
    check_source_accounting(path, file.data, read)
    same = read_stdin(file.data)  # the same bytes on stdin ('-') read the same
    assert [(x.text, x.number, x.stream) for x in same.lines] == [
        (x.text, x.number, x.stream) for x in read.lines]
    assert [(r.line, r.lines, r.reason, r.raw) for r in same.rejects] == [
        (r.line, r.lines, r.reason, r.raw) for r in read.rejects]
    assert (same.error is None) == (read.error is None)

    intact = not file.damage and not file.truncated
    # A generated "log" whose lines happen to parse as JSON documents is JSON (by content).
    # A "plain" file that starts with gzip's magic bytes is read as (broken) gzip.
    sniffed_gzip = file.container != "gzip" and file.data[:2] == b"\x1f\x8b"
    as_stored = not sniffed_gzip and (not file.plain or input_kind(path) == "plain")
    if intact and as_stored and file.container != "sqs":
        assert read.error is None
        assert [line.text for line in read.lines] == file.expected
        # The only source rejects of an intact file are its runs of empty lines.
        assert all(r.raw == "" and "empty line" in r.reason for r in read.rejects)

    outcome = run_library(read.lines, window)

    out, errors = os.path.join(directory, "out.jsonl"), os.path.join(directory, "err.jsonl")
    status, message = run_cli([path, "--format", fmt, "--output", out, "--errors", errors])
    if read.error is not None:
        assert status == 2 and path in message
        return
    expected = 2 if outcome.lines and not outcome.entries else 0
    assert status == expected, message
    if status == 2:
        return
    written = json_lines(out)
    rejected = json_lines(errors)
    assert all(set(r) >= {"source", "line", "reason", "raw", "lines"} for r in rejected)
    if window == DEFAULT_WINDOW:  # the CLI's window: it must write what the library made
        assert Counter(r["line"] for r in rejected) == Counter(
            [r.line for r in outcome.parser_rejects] + [r.line for r in read.rejects])
        if fmt == "events":
            assert [e["line"] for e in written] == [e.line for e in outcome.events]


@scaled(1.0)
@given(log_files(), windows, st.sampled_from(["events", "records"]))
@example(LogFile((b"{[]: 1}",), True, "plain", b"{[]: 1}\n"), DEFAULT_WINDOW, "events")
@example(LogFile((b'{"events": [1]}',), False, "plain", b'{"events": [1]}'), 1, "records")
def test_fuzzed_file_is_read_parsed_and_accounted(file: LogFile, window: int,
                                                  fmt: str) -> None:
    """Every kind of input, intact: read back exactly, every line accounted for."""
    with tempfile.TemporaryDirectory() as directory:
        check_everything(file, window, fmt, directory)


@scaled(1.0)
@given(damaged_files(), st.sampled_from(["events", "records"]))
def test_damaged_file_is_read_and_accounted(file: LogFile, fmt: str) -> None:
    """Fault injection (truncation, flipped bytes, inserted junk, concatenation) over every
    kind of input: every line is in exactly one event or one reject, or its file is named
    in the one-line error; never a traceback."""
    with tempfile.TemporaryDirectory() as directory:
        check_everything(file, DEFAULT_WINDOW, fmt, directory)


@scaled(0.25)
@given(st.one_of(st.just("auto"), arbitrary_specs, st.text(max_size=20)), log_files())
@example("%5q", LogFile((b"x",), False, "plain", b"x"))
def test_any_prefix_on_any_file_exits_cleanly(spec: str, file: LogFile) -> None:
    assume(not spec.startswith("-"))  # would be read as an option
    with tempfile.TemporaryDirectory() as directory:
        path = write_file(file, directory)
        run_cli(["--prefix", spec, path, "--output", os.path.join(directory, "out.jsonl"),
                 "--format", "events"])
