"""``--jobs N``: parse one plain log file in N processes, with the output of one.

The file is cut into chunks at entry boundaries: a chunk starts at a line that begins a
PostgreSQL message (a prefixed line with a primary severity, not a TAB continuation and
not a DETAIL/HINT/STATEMENT... line). Each worker parses its chunk into a temporary file;
the parent copies the files to the sink's streams in chunk order, so the output is the
output of one process.

State crosses chunk edges (an entry still open, ``<previously logged>`` statements, audit
records waiting for their ``duration:`` line), so a worker first *warms up*: it parses
``warmup_bytes``/``warmup_lines`` of the file before its chunk, discarding what that
produces, and then writes exactly what one process writes while reading the lines of its
chunk. A worker stops at its chunk's last line without flushing; what is still held then
is released by the next worker, whose warm-up holds the same state. Each worker reports
the first line of the oldest entry or record it still holds at its end, or of what its SQL
stage remembers to redact later lines (a statement PREPAREd with a credential parameter, a
RAISE format that prints one, a value a redaction hid), if that is older; when the next
chunk's warm-up did not reach back that far (an idle session, a huge message), that chunk
is parsed again from there, or, if that is more than two chunks back, the rest of the file
is parsed by one process. Nothing is lost or written twice; the one possible difference
is a ``<previously logged>`` line further than the warm-up from its statement's first
line, which keeps the marker.

One kind of state lasts a whole session: who a backend is, read from its connection lines
when the prefix does not say it. So only prefixes that carry user, database and client
(``%u``, ``%d`` and ``%r``, as RDS's does) are cut; others, and inputs that cannot be cut
(stdin, ``.gz``, CloudWatch/SQS JSON, small files), are parsed by one process.

>>> import io, tempfile, os
>>> from pgaudit_parse.prefix import RDS_PREFIX
>>> from pgaudit_parse.sinks import OutputSink
>>> with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
...     _ = f.write("2026-11-25 16:05:01 UTC::@:[77]:LOG:  checkpoint starting\\n")
>>> out = io.StringIO()
>>> result = parse_file_parallel(f.name, RDS_PREFIX, 2, OutputSink(out, fmt="events"))
>>> result.lines, result.jobs, out.getvalue().count("\\n")
(1, 1, 1)
>>> os.unlink(f.name)
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import os
import shutil
import signal
import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import IO, Final, cast

from .entries import PREFIX_CHANGE_MARK, starts_message
from .jsonenc import TEXT_ERRORS
from .lines import Line, Reject
from .parser import (
    DEFAULT_STATE_BYTES,
    Parser,
    read_sample,
    resolve_prefix,
    split_state_bytes,
)
from .prefix import LinePrefix, PrefixChoice
from .pump import OneBatch, ParserStage, Pump
from .sinks import OutputSink
from .sources import (
    DEFAULT_MAX_LINE_BYTES,
    InputError,
    Watched,
    _Damaged,
    input_is_plain_lf,
    plain_file_lines,
    read_input,
)
from .structured import CSVLOG_START
from .timestamps import AmbiguousZoneWarning

__all__ = [
    "ParallelResult",
    "Chunk",
    "can_split",
    "plan_chunks",
    "parse_file_parallel",
    "DEFAULT_WARMUP_BYTES",
    "DEFAULT_WARMUP_LINES",
    "MIN_CHUNK_BYTES",
    "MAX_CHUNK_BYTES",
]

#: Bytes of log a worker parses before its chunk to rebuild the state at the chunk edge.
DEFAULT_WARMUP_BYTES: Final = int(os.environ.get("PGAUDIT_PARSE_WARMUP_BYTES", 1 << 20))
#: ...and at least this many lines (more than the entry assembler's window: an entry is
#: emitted up to that many lines after its last line).
DEFAULT_WARMUP_LINES: Final = int(os.environ.get("PGAUDIT_PARSE_WARMUP_LINES", 2000))
#: Chunks are at least this big (smaller files are parsed by one process)...
MIN_CHUNK_BYTES: Final = int(os.environ.get("PGAUDIT_PARSE_MIN_CHUNK_BYTES", 4 << 20))
#: ...and at most this big (bounds the temporary output held per chunk).
MAX_CHUNK_BYTES: Final = 64 << 20
_BLOCK = 1 << 20
#: Bytes read at a time while looking for the end of a line in chunk planning...
_SCAN = 1 << 16
#: ...and the longest line it looks at to tell whether it starts an entry (a longer one is
#: passed over as a cut point).
_HEAD = 1 << 20
#: Escapes a prefix needs for its lines not to depend on the session's connection lines.
_SESSION_ESCAPES: Final = frozenset("udr")


@dataclass(frozen=True, slots=True)
class ParallelResult:
    """What :func:`parse_file_parallel` did: lines read, entries assembled, the sink's
    counts it added, the prefix used (``auto`` resolved) and the processes it used."""

    lines: int
    entries: int
    written: int
    skipped: int
    rejected: int
    prefix: str
    jobs: int
    #: State bounds at work (docs/memory.md): statements evicted from the
    #: ``<previously logged>`` cache, audit lines that kept the marker, records released
    #: before their duration line.
    evicted_statements: int = 0
    unresolved_statements: int = 0
    released_early: int = 0
    #: The prefix in force at the end of the file, and the one before it (a reload the
    #: file logged): what the next file of the same log starts with.
    last_prefix: LinePrefix | None = None
    last_previous: LinePrefix | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A byte range ``[start, end)`` of the file and where its worker starts warming up.

    ``warmup_line`` and ``start_line`` count the lines before ``warmup`` and ``start``;
    ``end`` is None for the last chunk (read to the end of the file).
    """

    warmup: int
    start: int
    end: int | None
    warmup_line: int
    start_line: int
    end_line: int | None


def can_split(path: str) -> bool:
    """True for a plain log (uncompressed, not JSON, LF line ends, no byte-order mark) in a
    regular file: one that can be cut.

    >>> can_split("-")
    False
    """
    if path == "-" or not os.path.isfile(path):
        return False
    return input_is_plain_lf(path)


def _needs_one_process(path: str, block: int = 1 << 20) -> bool:
    """Does the file hold a reload's new ``log_line_prefix``, or csvlog records? Chunks
    are cut, and their workers start, with one prefix, at lines that start a message; the
    parser follows a change of prefix, and reads a csvlog record over several lines, only
    reading in order.

    The file is read in blocks of ``block`` bytes, each searched with the end of the one
    before (:data:`_OVERLAP` bytes, longer than anything searched for with a real time
    zone), so memory stays the same whatever the file's size.
    """
    mark = PREFIX_CHANGE_MARK.encode("utf-8")
    try:
        with open(path, "rb") as f:
            data = b"\n"  # (a csvlog record on the first line)
            while more := f.read(block):
                data = data[-_OVERLAP:] + more
                if data.find(mark) >= 0 or CSVLOG_START.search(data) is not None:
                    return True
    except (OSError, ValueError):
        return False
    return False


#: Bytes of a block searched again with the next one by :func:`_needs_one_process`.
_OVERLAP: Final = 4096


def _is_entry_start(raw: bytes, prefix: LinePrefix) -> bool:
    if not raw or raw[:1] == b"\t":
        return False
    text = raw.decode("utf-8", "backslashreplace")
    return starts_message(text[:-1] if text.endswith("\n") else text, prefix)


def _line_head(f: IO[bytes]) -> tuple[bytes | None, int]:
    """Read one line from the current position through its LF, in blocks: (the line
    with its LF, or None when it is longer than :data:`_HEAD`; its length in bytes, 0 at
    the end of the file). Only the head is held, never the line: planning costs the
    same memory however long a line at a cut point is (``--max-line-bytes`` aside)."""
    pieces: list[bytes] = []
    size = 0
    step = 1 << 12  # (most lines are short: small reads first)
    while True:
        block = f.read(step)
        step = min(step * 2, _SCAN)
        if not block:
            return (b"".join(pieces) if size <= _HEAD else None), size
        newline = block.find(b"\n")
        if newline >= 0:
            f.seek(newline + 1 - len(block), os.SEEK_CUR)  # give back what follows the LF
            block = block[:newline + 1]
        size += len(block)
        if size <= _HEAD + 1:  # (+1: the LF)
            pieces.append(block)
        else:
            pieces = []
        if newline >= 0:
            return (b"".join(pieces) if size <= _HEAD + 1 else None), size


def _next_entry_start(f: IO[bytes], offset: int, prefix: LinePrefix) -> int | None:
    """Offset of the first line at or after ``offset`` (a line start) that begins an
    entry. A line over :data:`_HEAD` bytes is not taken for one (it is read through, not
    held): any entry start is a correct cut, so passing one over costs nothing but an
    even cut."""
    f.seek(offset)
    position = offset
    while True:
        head, size = _line_head(f)
        if not size:
            return None
        if head is not None and _is_entry_start(head, prefix):
            return position
        position += size


def _line_start_after(f: IO[bytes], offset: int) -> int:
    """The first line start at or after ``offset`` (the line it falls in is scanned in
    blocks, not read whole)."""
    if offset <= 0:
        return 0
    f.seek(offset - 1)
    if f.read(1) == b"\n":
        return offset
    position = offset
    while True:
        block = f.read(_SCAN)
        if not block:
            return position
        newline = block.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(block)


def _lines_back(f: IO[bytes], offset: int, count: int) -> int:
    """The start of the line ``count`` lines before the line starting at ``offset``."""
    position = offset  # scan the bytes before this position, backwards
    seen = 0
    while position > 0:
        step = min(_BLOCK, position)
        f.seek(position - step)
        block = f.read(step)
        end = len(block)
        while True:
            found = block.rfind(b"\n", 0, end)
            if found < 0:
                break
            seen += 1
            if seen > count:
                return position - step + found + 1
            end = found
        position -= step
    return 0


def _offset_of_line(path: str, number: int) -> int:
    """Byte offset where line ``number`` (1-based) starts."""
    if number <= 1:
        return 0
    wanted = number - 1  # LF bytes before it
    seen = 0
    position = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK)
            if not block:
                return position
            count = block.count(b"\n")
            if seen + count < wanted:
                seen += count
                position += len(block)
                continue
            index = -1
            for _ in range(wanted - seen):
                index = block.index(b"\n", index + 1)
            return position + index + 1


def _count_lines_before(path: str, offsets: list[int]) -> dict[int, int]:
    """Number of LF bytes before each offset (one pass over the file)."""
    wanted = sorted(set(offsets))
    counts: dict[int, int] = {}
    seen = 0
    position = 0
    index = 0
    with open(path, "rb") as f:
        while index < len(wanted):
            block = f.read(_BLOCK)
            if not block:
                break
            block_end = position + len(block)
            while index < len(wanted) and wanted[index] <= block_end:
                counts[wanted[index]] = seen + block.count(b"\n", 0, wanted[index] - position)
                index += 1
            seen += block.count(b"\n")
            position = block_end
    for offset in wanted[index:]:
        counts[offset] = seen
    return counts


def plan_chunks(path: str, prefix: LinePrefix, jobs: int, chunk_bytes: int | None = None,
                warmup_bytes: int = DEFAULT_WARMUP_BYTES,
                warmup_lines: int = DEFAULT_WARMUP_LINES) -> list[Chunk]:
    """Cut a file into chunks at entry starts; one chunk when it is too small to cut.

    Without ``chunk_bytes``, the number of chunks is a multiple of ``jobs`` (so the
    workers get equal shares) with chunks between :data:`MIN_CHUNK_BYTES` and
    :data:`MAX_CHUNK_BYTES`.
    """
    size = os.path.getsize(path)
    if chunk_bytes is None:
        forced = os.environ.get("PGAUDIT_PARSE_CHUNK_BYTES")
        chunk_bytes = int(forced) if forced else None
    if chunk_bytes is None:
        rounds = max(1, -(-size // (jobs * MAX_CHUNK_BYTES)))
        chunk_bytes = max(MIN_CHUNK_BYTES, -(-size // (jobs * rounds)))
    chunk_bytes = max(1, chunk_bytes)
    starts = [0]
    with open(path, "rb") as f:
        target = chunk_bytes
        while target < size:
            found = _next_entry_start(f, _line_start_after(f, target), prefix)
            if found is None:
                break
            if found > starts[-1]:
                starts.append(found)
            target = max(found, target) + chunk_bytes
        warmups = [0]
        for start in starts[1:]:
            back = min(_line_start_after(f, max(0, start - warmup_bytes)),
                       _lines_back(f, start, warmup_lines))
            found = _next_entry_start(f, back, prefix) if back else 0
            warmups.append(min(found or 0, start))
    counts = _count_lines_before(path, starts + warmups)
    chunks = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else None
        chunks.append(Chunk(warmups[i], start, end, counts[warmups[i]], counts[start],
                            counts[end] if end is not None else None))
    return chunks


class _Gate(io.TextIOBase):
    """A text stream that drops writes until opened (the warm-up's output)."""

    def __init__(self, target: IO[str]) -> None:
        self.target = target
        self.open = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.open:
            return self.target.write(text)
        return len(text)

    def flush(self) -> None:
        self.target.flush()


@dataclass(frozen=True, slots=True)
class _Task:
    path: str
    prefix: str
    fmt: str
    account_id: str | None
    instance: str | None
    errors: bool
    chunk: Chunk
    out_path: str
    err_path: str
    timezone: str | None = None
    values: str = "connector"
    state_bytes: int = DEFAULT_STATE_BYTES
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    redact: str | None = None
    #: (st_dev, st_ino, st_size) of the file before the chunks were planned.
    identity: tuple[int, int, int] | None = None


@dataclass(frozen=True, slots=True)
class _Done:
    lines: int
    entries: int
    written: int
    skipped: int
    rejected: int
    error: str | None = None  # why the input could not be read (InputError's cause)
    #: The first line of the oldest entry or held record still pending at the chunk's
    #: end, or of what the SQL stage still remembers: the next chunk's worker must start
    #: its warm-up there at the latest.
    held_from: int | None = None
    #: Warnings about ambiguous zone abbreviations (the parent tells each once).
    zone_warnings: tuple[str, ...] = ()
    evicted_statements: int = 0
    unresolved_statements: int = 0
    released_early: int = 0


def _chunk_lines(task: _Task, on_reject: Callable[[Reject], None]) -> Iterator[Line]:
    """The lines from the warm-up start to the chunk end, numbered as in the whole file
    (read as :func:`~pgaudit_parse.sources.read_input` reads them)."""
    chunk = task.chunk
    with open(task.path, "rb") as opened:
        if task.identity is not None:
            info = os.fstat(opened.fileno())
            if (info.st_dev, info.st_ino) != task.identity[:2]:
                raise _Changed("the file was replaced (renamed over) while it was read")
        opened.seek(chunk.warmup)
        # (a file cut short of its planned size since: an error, never lines unread)
        raw = Watched(opened, task.identity[2] if task.identity is not None else None)
        last = chunk.end_line
        for line in plain_file_lines(cast(IO[bytes], raw), task.path, on_reject,
                                     chunk.warmup_line, task.max_line_bytes):
            if last is not None and line.number > last:
                return
            yield line


#: The signals that stop a run (the parent holds them while it starts its workers).
_STOP_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM})


def _worker_signals(mask: set[signal.Signals]) -> None:
    """A worker leaves stopping to the parent: ^C (sent to the whole process group) is
    ignored, and SIGTERM (what the parent's ``Pool.terminate`` sends) ends it at once; a
    handler inherited from the parent would make each worker print a traceback. Then the
    signal mask the parent had before it held the stop signals."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _parse_chunk(task: _Task) -> _Done:
    """Worker: parse one chunk; an unreadable input comes back as ``error``."""
    try:
        return _parse_chunk_to_files(task)
    except OSError as exc:  # e.g. the file was removed meanwhile
        return _Done(0, 0, 0, 0, 0, exc.strerror or str(exc))
    except (_Damaged, _Changed) as exc:  # cut short or replaced meanwhile; a read error
        return _Done(0, 0, 0, 0, 0, str(exc))


class _Changed(Exception):
    """The file is no longer the one the chunks were planned on."""


def _parse_chunk_to_files(task: _Task) -> _Done:
    """Warm up, then parse one chunk into ``task.out_path`` / ``task.err_path``."""
    chunk = task.chunk
    with open(task.out_path, "w", encoding="utf-8", errors=TEXT_ERRORS) as out_file, \
            open(task.err_path, "w", encoding="utf-8", errors=TEXT_ERRORS) as err_file:
        out = _Gate(out_file)
        errors = _Gate(err_file)
        cache_bytes, held_bytes = split_state_bytes(task.state_bytes)
        # (a _Gate is a text stream; TextIOBase is not IO[str] to the type checker)
        sink = OutputSink(cast(IO[str], out), cast(IO[str], errors) if task.errors else None,
                          task.fmt, task.account_id, task.instance, values=task.values,
                          held_bytes=held_bytes, redact=task.redact)
        zone_warnings: list[str] = []
        parser = Parser(LinePrefix(task.prefix, timezone=task.timezone), on_reject=sink.reject,
                        on_ambiguous_zone=zone_warnings.append, max_state_bytes=cache_bytes)
        feed = parser.feed
        write = sink.write
        # The reader's own rejects (a run of empty lines, a line over the limit) are made
        # while the line after them is read: in another chunk's time. Whose they are goes
        # by their line, then: this worker writes those of its chunk's lines, whenever made
        # (the file's leading empty lines, before any line opened the output), and no
        # other (a line over the limit that starts the next chunk, read past the end).
        last = chunk.end_line
        early = [0]  # such rejects written while the output was still shut

        def read_reject(reject: Reject) -> None:
            if reject.line <= chunk.start_line or (last is not None and reject.line > last):
                return
            if errors.open:
                parser._reject(reject)
                return
            errors.open = True
            try:
                parser._reject(reject)
            finally:
                errors.open = False
            early[0] += reject.lines

        lines = iter(_chunk_lines(task, read_reject))
        # Warm up by line number, not by count: the reader yields no line for an empty
        # one (a run of them is one reject, made when the next line is read: for a run
        # just before the chunk, while the gate is still closed -- the previous chunk's
        # worker wrote it).
        first = None
        for line in lines:
            if line.number > chunk.start_line:
                first = line
                break
            for event in feed(line):
                write(event)
        out.open = errors.open = True
        base = (sink.written, sink.skipped, sink.rejected, parser.entry_count,
                parser.evicted_statements, parser.unresolved_statements, sink.released_early)
        count = 0
        for line in itertools.chain((first,) if first is not None else (), lines):
            count += 1
            for event in feed(line):
                write(event)
        held_from = None
        if chunk.end is None:
            for event in parser.flush():
                write(event)
            sink.flush()
        else:
            pending = [line.number for line in parser.pending_lines()]
            held = sink.oldest_held_line()
            if held is not None:
                pending.append(held)
            # (what the SQL stage remembers: the next chunk hides what it hides only if
            # its worker reads the lines it learned that from)
            remembered = sink.memory_from()
            if remembered is not None:
                pending.append(remembered)
            held_from = min(pending, default=None)
        out_file.flush()
        err_file.flush()
        return _Done(count, parser.entry_count - base[3], sink.written - base[0],
                     sink.skipped - base[1], sink.rejected - base[2] + early[0],
                     held_from=held_from,
                     zone_warnings=tuple(zone_warnings),
                     evicted_statements=parser.evicted_statements - base[4],
                     unresolved_statements=parser.unresolved_statements - base[5],
                     released_early=sink.released_early - base[6])


def _resolve(path: str, prefix: str | LinePrefix, timezone: str | None = None,
             on_choice: Callable[[PrefixChoice], None] | None = None) -> LinePrefix:
    if prefix != "auto":
        return resolve_prefix(prefix, [], timezone)
    # Only a sample: its rejects are reported when the file is parsed.
    head = [line.text for line in read_sample(iter(read_input(path, _ignore)), _text_of)]
    return resolve_prefix("auto", head, timezone, on_choice)


def _text_of(line: Line) -> str:
    return line.text


def _ignore(reject: Reject) -> None:
    pass


def _warm_from(task: _Task, line: int) -> _Task:
    """The same task, warming up from the start of input line ``line``."""
    chunk = replace(task.chunk, warmup=_offset_of_line(task.path, line), warmup_line=line - 1)
    return replace(task, chunk=chunk)


def _parse_serial(path: str, compiled: LinePrefix, sink: OutputSink,
                  on_ambiguous_zone: Callable[[str], None] | None = None,
                  state_bytes: int = DEFAULT_STATE_BYTES,
                  max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                  previous: LinePrefix | None = None) -> ParallelResult:
    before = (sink.written, sink.skipped, sink.rejected, sink.released_early)
    parser = Parser(compiled, on_reject=sink.reject, on_ambiguous_zone=on_ambiguous_zone,
                    max_state_bytes=split_state_bytes(state_bytes)[0], previous=previous)
    pump: Pump[Line] = Pump(sink, lambda partition: ParserStage(parser))
    broken: list[InputError] = []
    # An input that breaks mid-way ends its stream there: what was read before is parsed
    # and written (the entry held at the damage too), then the error is raised.
    count = pump.run(OneBatch(_until_error(read_input(path, parser._reject, max_line_bytes),
                                           broken)))
    if broken:
        sink.flush()
        raise broken[0]
    return ParallelResult(count, parser.entry_count, sink.written - before[0],
                          sink.skipped - before[1], sink.rejected - before[2],
                          compiled.spec, 1, parser.evicted_statements,
                          parser.unresolved_statements, sink.released_early - before[3],
                          parser.prefix, parser.previous_prefix)


def _until_error(lines: Iterator[Line], broken: list[InputError]) -> Iterator[Line]:
    try:
        yield from lines
    except InputError as exc:
        broken.append(exc)


def parse_file_parallel(path: str, prefix: str | LinePrefix, jobs: int, sink: OutputSink,
                        *, chunk_bytes: int | None = None,
                        warmup_bytes: int = DEFAULT_WARMUP_BYTES,
                        warmup_lines: int = DEFAULT_WARMUP_LINES,
                        timezone: str | None = None,
                        on_choice: Callable[[PrefixChoice], None] | None = None,
                        on_ambiguous_zone: Callable[[str], None] | None = None,
                        state_bytes: int = DEFAULT_STATE_BYTES,
                        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                        previous: LinePrefix | None = None) -> ParallelResult:
    """Parse one input with up to ``jobs`` processes into ``sink`` (output order kept).

    The workers render with the sink's format, account id and instance; their output and
    dead-letter lines go to the sink (:meth:`~pgaudit_parse.sinks.OutputSink.write_rendered`)
    in input order. The counts of what they rendered are returned (``written``,
    ``skipped``, ``rejected``), never added to the sink behind its back: the caller owns
    its tallies.
    Inputs that cannot be cut (see :func:`can_split`) are parsed here in one process.
    ``state_bytes`` bounds each process's per-session state (docs/memory.md).
    Raises :class:`~pgaudit_parse.sources.InputError` for unreadable input and
    :class:`~pgaudit_parse.prefix.PrefixError` when ``"auto"`` finds no prefix (and tells
    ``on_choice`` what it found). ``timezone``: the log's zone (see ``LinePrefix``);
    ``on_ambiguous_zone`` hears once of each ambiguous zone abbreviation (default: a
    warning), whichever process read it. ``previous``: the prefix before a change an
    earlier file of the same log announced (such a file is read in one process, as one
    that announces a change itself).
    """
    compiled = _resolve(path, prefix, timezone, on_choice)
    told: set[str] = set()

    def tell(message: str) -> None:
        if message not in told:
            told.add(message)
            if on_ambiguous_zone is not None:
                on_ambiguous_zone(message)
            else:
                warnings.warn(message, AmbiguousZoneWarning, stacklevel=2)

    if jobs <= 1 or not _SESSION_ESCAPES <= set(compiled.escapes) or not can_split(path) \
            or previous is not None or _needs_one_process(path):
        return _parse_serial(path, compiled, sink, tell, state_bytes, max_line_bytes,
                             previous)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputError(path, exc.strerror or str(exc)) from None
    identity = (info.st_dev, info.st_ino, info.st_size)
    chunks = plan_chunks(path, compiled, jobs, chunk_bytes, warmup_bytes, warmup_lines)
    if len(chunks) == 1:
        return _parse_serial(path, compiled, sink, tell, state_bytes, max_line_bytes)
    # Records held from an earlier file are written first: the workers start afresh.
    sink.flush()
    # A stop signal (^C, SIGTERM) waits while the directory and the workers are made: it is
    # raised below, where the finally clause stops the workers and removes the directory.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        workdir = tempfile.mkdtemp(prefix="pgaudit-parse-jobs-")
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise InputError(path, f"--jobs: cannot make a temporary directory: "
                               f"{exc.strerror or exc}") from None
    tasks = [
        _Task(path, compiled.spec, sink.fmt, sink.account_id, sink.instance,
              sink.errors is not None, chunk, os.path.join(workdir, f"{i}.out"),
              os.path.join(workdir, f"{i}.err"), compiled.timezone, sink.values, state_bytes,
              max_line_bytes, sink.redact, identity)
        for i, chunk in enumerate(chunks)
    ]
    totals = [0, 0, 0, 0, 0, 0, 0, 0]
    context = multiprocessing.get_context("fork")
    try:
        pool = context.Pool(min(jobs, len(tasks)), initializer=_worker_signals,
                            initargs=(held,))
    except OSError as exc:  # e.g. past the process limit (RLIMIT_NPROC)
        shutil.rmtree(workdir, ignore_errors=True)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise InputError(path, f"--jobs {jobs}: cannot start worker processes: "
                               f"{exc.strerror or exc}") from None
    finished = False
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        pending: deque[tuple[_Task, multiprocessing.pool.AsyncResult[_Done]]] = deque()
        queued = iter(tasks)
        for task in queued:
            pending.append((task, pool.apply_async(_parse_chunk, (task,))))
            if len(pending) > jobs:
                break
        held_from: int | None = None
        while pending:
            task, result = pending.popleft()
            done = result.get()
            if done.error is None and held_from is not None \
                    and held_from <= task.chunk.warmup_line:
                # The previous chunk ended with an entry or record still pending that
                # began before this chunk's warm-up (an idle session, a very long
                # message): parse this chunk again, warming up from there; or, if that is
                # further back than two chunks, parse the rest of the file in this
                # process (so the extra work stays bounded by one pass).
                task = _warm_from(task, held_from)
                if task.chunk.start - task.chunk.warmup <= 2 * chunks[1].start:
                    done = pool.apply(_parse_chunk, (task,))
                else:
                    # (The pool is not terminated here: Pool.terminate() can hang for good
                    # while workers are busy, CPython gh-96995 / gh-78178. What they are
                    # parsing is let finish and never read.)
                    task = replace(task, chunk=replace(task.chunk, end=None, end_line=None))
                    done = _parse_chunk(task)
                    pending.clear()
                    queued = iter(())
            if done.error is not None:
                raise InputError(path, done.error)
            held_from = done.held_from
            for message in done.zone_warnings:
                tell(message)
            sink.write_rendered(task.out_path, task.err_path)
            os.unlink(task.out_path)
            os.unlink(task.err_path)
            for i, value in enumerate((done.lines, done.entries, done.written, done.skipped,
                                       done.rejected, done.evicted_statements,
                                       done.unresolved_statements, done.released_early)):
                totals[i] += value
            following = next(queued, None)
            if following is not None:
                pending.append((following, pool.apply_async(_parse_chunk, (following,))))
        pool.close()
        pool.join()
        finished = True
    finally:
        if not finished:  # an error or an interrupt: stop the workers now
            pool.terminate()
            pool.join()
        shutil.rmtree(workdir, ignore_errors=True)
    return ParallelResult(totals[0], totals[1], totals[2], totals[3], totals[4],
                          compiled.spec, min(jobs, len(tasks)), totals[5], totals[6],
                          totals[7], compiled)
