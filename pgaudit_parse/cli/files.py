"""File mode, the default command: ``pgaudit-parse FILE [FILE...]``.

DESIGN.md's contract::

    pgaudit-parse FILE [FILE...] [--prefix P|auto] [--format records|events]
                  [--output PATH] [--errors PATH] [--account-id ID] [--instance NAME]
                  [--timezone ZONE]

Exit status: 0 when all input was read (rejects go to ``--errors``), 2 for usage errors or
unreadable input, with one line on stderr naming the file and the cause.

>>> files_main(["fixtures/no-such.log"])  # "pgaudit-parse: fixtures/no-such.log: no such file"
2
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Final, TypeVar

from .. import __version__
from ..entries import LogEntry
from ..events import Event
from ..lines import Line, Reject
from ..ops.summary import Summary
from ..parser import (
    DEFAULT_STATE_BYTES,
    Parser,
    open_with_prefix,
    resolve_prefix,
    split_state_bytes,
)
from ..prefix import LinePrefix, PrefixChoice, PrefixError, has_session_line
from ..pump import EntryStage, OneBatch, ParserStage, Pump
from ..sinks import EventSink, OutputSink, Sink
from ..sources import DEFAULT_MAX_LINE_BYTES, InputError, Pauses
from ..structured import StderrLineNumbers, read_structured, structured_kind
from .common import (
    COMMANDS,
    PROG,
    ZoneWarnings,
    abandon,
    add_output_arguments,
    check_inputs,
    check_timezone,
    fail,
    interrupted,
    make_parser,
    no_line_matches,
    no_prefix_fits,
    open_output,
    positive_int,
    reader_gone,
    report_state,
    silence_stdout,
    until_error,
    unwritable,
    writes_stdout,
)
from .progress import Progress

__all__ = ["files_main", "parse_files"]

T = TypeVar("T")

#: Lines between progress updates (keeps the hot loop cheap).
_PROGRESS_EVERY: Final = 4096
#: Seconds a live input must stay quiet after a line for the message it ends to be
#: complete (its continuation and DETAIL/STATEMENT lines come with it: docs/live.md).
LIVE_GRACE: Final = 0.25
#: Seconds a live input must stay quiet for the records still waiting for their
#: executions' other lines to be written: the records' own wait (``max_wait``, in log
#: time), which any later line of a live log would end too.
IDLE_RELEASE: Final = 300.0


def parse_files(paths: Sequence[str], prefix: str, sink: EventSink, quiet: bool = False,
                summary: Summary | None = None, jobs: int = 1,
                timezone: str | None = None,
                state_bytes: int = DEFAULT_STATE_BYTES,
                max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                idle_release: float = IDLE_RELEASE) -> int:
    """Parse each input into the sink (and the summary, if any); returns the exit status.

    Every input that can be read is read: one that cannot (or that only partly can, such
    as a truncated ``.gz``, whose lines before the damage are parsed) is named on stderr,
    one line each, and the status is 2. Progress goes to stderr when it is a terminal and
    ``quiet`` is off. With ``jobs`` > 1 each plain file is parsed by that many processes
    (same output, same order). ``timezone`` is the log's zone; without it, an ambiguous
    zone abbreviation is warned about once, on one line. ``state_bytes`` bounds
    per-session state (docs/memory.md); reaching it is reported. ``max_line_bytes``: the
    longest line read whole (docs/input.md). ``idle_release``: seconds a live input (a
    pipe) stays quiet before the records still held are written (docs/live.md).
    """
    zone_warnings = ZoneWarnings()
    carried = CarriedPrefix(prefix)
    if jobs > 1 and summary is None and isinstance(sink, OutputSink):
        return _parse_files_parallel(paths, prefix, sink, quiet, jobs, timezone, zone_warnings,
                                     state_bytes, max_line_bytes, idle_release, carried)
    if jobs > 1 and not quiet:
        print(f"{PROG}: --summary counts events in one process; --jobs ignored",
              file=sys.stderr)
    return _failed(_parse_files_serial(paths, prefix, sink, quiet, summary, timezone,
                                       state_bytes, max_line_bytes, zone_warnings,
                                       idle_release, carried))


class CarriedPrefix:
    """The ``log_line_prefix`` a multi-file run is in: the files are one log, so a reload
    logged in one file (``parameter "log_line_prefix" changed to``) holds for the files
    after it. Each plain file starts with the prefix the one before it ended with, and
    reads a line that prefix does not read with the one before the change (a backend
    that had not reloaded yet), as within one file. Not with ``--prefix auto``, which
    chooses each file's prefix from its own lines.

    >>> carried = CarriedPrefix("%m [%p] ")
    >>> carried.given, carried.previous
    ('%m [%p] ', None)
    """

    def __init__(self, given: str) -> None:
        self.given: str | LinePrefix = given
        self.previous: LinePrefix | None = None
        self._follow = given != "auto"

    def ended(self, prefix: LinePrefix, previous: LinePrefix | None) -> None:
        """A plain file was read to its end in ``prefix`` (``previous`` before it)."""
        if self._follow:
            self.given, self.previous = prefix, previous


def _parse_files_serial(paths: Sequence[str], prefix: str, sink: EventSink, quiet: bool,
                        summary: Summary | None, timezone: str | None, state_bytes: int,
                        max_line_bytes: int, zone_warnings: ZoneWarnings,
                        idle_release: float = IDLE_RELEASE,
                        carried: CarriedPrefix | None = None,
                        numbers: StderrLineNumbers | None = None) -> list[str]:
    """:func:`parse_files` in one process; returns what could not be read, one line each
    (not printed yet). ``carried``: the prefix the run is in (see :class:`CarriedPrefix`).
    ``numbers``: the session line numbering of csvlog/jsonlog files read before (rotated
    files given together), shared by every file of the run."""
    if carried is None:
        carried = CarriedPrefix(prefix)
    progress = Progress.for_files(paths, stream=sys.stderr, enabled=not quiet,
                                  data=getattr(sink, "out", None))
    on_reject = sink.reject
    if summary is not None:
        def on_reject(reject: Reject) -> None:
            sink.reject(reject)
            summary.add_reject(reject)
    failures: list[str] = []
    evicted = unresolved = 0
    released = sink.released_early
    numbers = numbers if numbers is not None else StderrLineNumbers()
    try:
        for path in paths:
            name = "<stdin>" if path == "-" else path
            broken: list[InputError] = []
            held = _HeldRejects(on_reject)
            live = _Quiet(sink, summary, idle_release)
            try:
                kind, items = read_structured(path, held, max_line_bytes, live.pauses(),
                                              numbers)
            except InputError as exc:
                failures.append(str(exc))
                continue
            if kind is not None:
                if prefix == "auto" and not quiet:
                    print(f"{PROG}: {name}: reading a {kind} (no log_line_prefix needed)",
                          file=sys.stderr)
                entries_parser = Parser(on_reject=on_reject, timezone=timezone,
                                        on_ambiguous_zone=zone_warnings)
                live.parser = entries_parser
                _run_entries(entries_parser, until_error(items, broken),  # type: ignore[arg-type]
                             live.target, sink, progress)
                if broken:
                    failures.append(str(broken[0]))
                continue
            # The reader's rejects made while --prefix auto reads its sample are held and
            # written where they fall among the sampled lines: where they are written
            # when the prefix is given (and by --jobs).
            held.holding = prefix == "auto"
            tell = _unless(broken, _tell_choice(name, quiet))
            sample: list[Line] = []
            make_parser = _parser_maker(on_reject, zone_warnings, state_bytes)
            if prefix == "auto":
                live.sampling(sample, timezone, tell, held, make_parser)
            try:
                compiled, lines = open_with_prefix(
                    until_error(items, broken), carried.given,  # type: ignore[arg-type]
                    timezone, tell, sample, live.chosen)
            except PrefixError as exc:
                # (no line of it is read: the file is named as failed; the rejects of its
                # sample are not written, as with --jobs)
                held.pending.clear()
                failures.append(str(broken[0]) if broken else no_prefix_fits(name, exc, path))
                continue
            finally:
                held.holding = False
            if live.parser is not None:  # (chosen when the live input went quiet: the
                parser = live.parser     # lines it had given are parsed)
                lines = itertools.islice(lines, live.fed, None)
            else:
                parser = make_parser(compiled, carried.previous)
                live.parser = parser
            if held.pending:
                lines = held.along(lines)
            count = _run(parser, lines, live.target, sink, progress) + live.fed
            carried.ended(parser.prefix, parser.previous_prefix)
            evicted += parser.evicted_statements
            unresolved += parser.unresolved_statements
            if broken:
                failures.append(str(broken[0]))
            elif count and parser.entry_count == 0:
                failures.append(no_line_matches(name, compiled.spec, prefix, path))
    finally:
        progress.close()
    if not quiet and not failures:  # (a failed run says only what failed: one line each)
        report_state(evicted, unresolved, sink.released_early - released)
    return failures


class _Quiet:
    """What file mode does when a live input (a pipe, a FIFO, a socket) goes quiet
    (docs/live.md): at once, it flushes what was written; after :data:`LIVE_GRACE`, the
    message the last line belongs to is complete, and its event is written; after
    ``idle_release`` (:data:`IDLE_RELEASE`), records waiting for their executions' other
    lines are written. A regular file never goes quiet: its output is the same as ever."""

    def __init__(self, sink: EventSink, summary: Summary | None,
                 idle_release: float = IDLE_RELEASE) -> None:
        self.sink = sink
        self.idle_release = idle_release
        self.target: Sink = _WithSummary(sink, summary) if summary is not None else sink
        self.parser: Parser | None = None  # (made once the prefix is known)
        #: ``--prefix auto``: the sample being read, and what to choose with
        self._sample: list[Line] | None = None
        self._choose: Callable[[], None] | None = None
        #: the sample's lines parsed when the prefix was chosen at a pause
        self.fed = 0

    def sampling(self, sample: list[Line], timezone: str | None,
                 tell: Callable[[PrefixChoice], None] | None, held: _HeldRejects,
                 make_parser: Callable[[LinePrefix], Parser]) -> None:
        """``--prefix auto`` reads its sample into ``sample``: at a pause with a client's
        session line among the lines come so far, the prefix is chosen with them (what
        the sample would choose if the input ended there) and they are parsed; if no
        prefix fits them yet, the sample goes on as for a file."""
        self._sample = sample

        def choose() -> None:
            texts = [line.text for line in sample]
            if not has_session_line(texts):
                return  # (background lines cannot tell prefixes apart: wait for more)
            try:
                compiled = resolve_prefix("auto", texts, timezone, tell)
            except PrefixError:
                return
            parser = make_parser(compiled)
            write = self.target.write
            for line in sample:
                held.release(line.number)
                for event in parser.feed(line):
                    write(event)
            held.release()
            self.fed = len(sample)
            self.parser = parser

        self._choose = choose

    def chosen(self) -> LinePrefix | None:
        """The prefix chosen at a pause, if one was."""
        return None if self.parser is None else self.parser.prefix

    def pauses(self) -> Pauses:
        return ((0.0, self.written), (LIVE_GRACE, self.complete),
                (max(LIVE_GRACE, self.idle_release), self.release))

    def written(self, at_line_end: bool = True) -> None:
        push = getattr(self.sink, "push", None)
        if push is not None:
            push()

    def complete(self, at_line_end: bool = True) -> None:
        # (a line begun and not ended may be the continuation of the last message: that
        # message is complete only once the line has ended)
        if at_line_end:
            if self.parser is None and self._choose is not None and self._sample:
                self._choose()
            if self.parser is not None:
                write = self.target.write
                for event in self.parser.flush():
                    write(event)
        self.written()

    def release(self, at_line_end: bool = True) -> None:
        self.complete(at_line_end)
        if at_line_end and getattr(self.sink, "push", None) is not None:
            self.sink.flush()  # (not a Parquet file's row groups)


def _parser_maker(on_reject: Callable[[Reject], None], zone_warnings: ZoneWarnings,
                  state_bytes: int) -> Callable[..., Parser]:
    def make(compiled: LinePrefix, previous: LinePrefix | None = None) -> Parser:
        return Parser(compiled, on_reject=on_reject, on_ambiguous_zone=zone_warnings,
                      max_state_bytes=split_state_bytes(state_bytes)[0], previous=previous)
    return make


class _HeldRejects:
    """A reject handler that holds the rejects it is given while ``holding``; they are
    handed on in input order: before the first line after them (:meth:`along`), or
    before the next reject that is not held."""

    def __init__(self, target: Callable[[Reject], None]) -> None:
        self.target = target
        self.holding = False
        self.pending: list[Reject] = []

    def __call__(self, reject: Reject) -> None:
        if self.holding:
            self.pending.append(reject)
            return
        self.release()
        self.target(reject)

    def release(self, before: int | None = None) -> None:
        """Hand on the held rejects (those of lines before line ``before`` only)."""
        while self.pending and (before is None or self.pending[0].line < before):
            self.target(self.pending.pop(0))

    def along(self, lines: Iterator[Line]) -> Iterator[Line]:
        """``lines``, with the held rejects handed on where they fall among them."""
        for line in lines:
            if self.pending:
                self.release(line.number)
            yield line
        self.release()


def _failed(failures: list[str]) -> int:
    """Name each input that could not be read, one line each; the exit status."""
    for failure in failures:
        print(f"{PROG}: {failure}", file=sys.stderr)
    return 2 if failures else 0


def _unless(broken: list[InputError], tell: Callable[[PrefixChoice], None] | None
            ) -> Callable[[PrefixChoice], None] | None:
    """``tell``, silent for an input that broke within the sample (its one line is the
    error)."""
    if tell is None:
        return None

    def told(choice: PrefixChoice) -> None:
        if not broken:
            tell(choice)

    return told


def _tell_choice(name: str, quiet: bool) -> Callable[[PrefixChoice], None] | None:
    """Says which prefix ``--prefix auto`` chose for an input, and how well it fits."""
    if quiet:
        return None

    def tell(choice: PrefixChoice) -> None:
        print(f"{PROG}: {name}: using {choice.describe()}", file=sys.stderr)

    return tell


def _parse_files_parallel(paths: Sequence[str], prefix: str, sink: OutputSink, quiet: bool,
                          jobs: int, timezone: str | None, zone_warnings: ZoneWarnings,
                          state_bytes: int = DEFAULT_STATE_BYTES,
                          max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                          idle_release: float = IDLE_RELEASE,
                          carried: CarriedPrefix | None = None) -> int:
    from ..parallel import can_split, parse_file_parallel  # multiprocessing when asked for

    if carried is None:
        carried = CarriedPrefix(prefix)

    rejected = 0
    failures: list[str] = []
    counts = [0, 0, 0]
    numbers = StderrLineNumbers()  # (one numbering for the csvlog/jsonlog files of the run)
    for path in paths:
        name = "<stdin>" if path == "-" else path
        # What cannot be cut is read by the code of one process: a pipe (a FIFO, stdin)
        # can be read once only; .gz (a csvlog in it, even a damaged one, is a csvlog),
        # JSON, CRLF; csvlog/jsonlog are whole messages.
        if not can_split(path) or structured_kind(path) is not None:
            failures += _parse_files_serial([path], prefix, sink, quiet, None, timezone,
                                            state_bytes, max_line_bytes, zone_warnings,
                                            idle_release, carried, numbers)
            continue
        try:
            result = parse_file_parallel(path, carried.given, jobs, sink, timezone=timezone,
                                         on_choice=_tell_choice(name, quiet),
                                         on_ambiguous_zone=zone_warnings,
                                         state_bytes=state_bytes,
                                         max_line_bytes=max_line_bytes,
                                         previous=carried.previous)
        except PrefixError as exc:
            failures.append(no_prefix_fits(name, exc, path))
            continue
        except InputError as exc:
            failures.append(str(exc))
            continue
        if result.lines and result.entries == 0:
            failures.append(no_line_matches(name, result.prefix, prefix, path))
        if result.last_prefix is not None:
            carried.ended(result.last_prefix, result.last_previous)
        if result.jobs > 1:  # the workers' rejects (one process counts in the sink)
            rejected += result.rejected
        counts[0] += result.evicted_statements
        counts[1] += result.unresolved_statements
        counts[2] += result.released_early
    if not quiet and not failures:  # (a failed run says only what failed: one line each)
        report_state(*counts)
    if rejected and not quiet and not failures:
        _report_rejected(rejected, getattr(sink.errors, "name", None))
    return _failed(failures)


class _WithSummary:
    """The sink, plus every event counted in the summary (``--summary``)."""

    def __init__(self, sink: EventSink, summary: Summary) -> None:
        self.sink = sink
        self.summary = summary
        self.reject = sink.reject
        self.flush = sink.flush
        self.close = sink.close

    @property
    def written(self) -> int:
        return self.sink.written

    @property
    def rejected(self) -> int:
        return self.sink.rejected

    @property
    def skipped(self) -> int:
        return self.sink.skipped

    def write(self, item: Event, instance: str | None = None) -> None:
        self.sink.write(item, instance)
        self.summary.add(item)


def _progressed(items: Iterator[T], sink: EventSink, progress: Progress, counter: list[int],
                size_of: Callable[[T], int]) -> Iterator[T]:
    """Pass items (lines, or whole csvlog/jsonlog messages) through, updating the progress
    line every few thousand (cheap)."""
    count = 0
    size = 0
    written = sink.written
    tick = _PROGRESS_EVERY
    for item in items:
        count += 1
        size += size_of(item)
        yield item
        if count == tick:
            progress.update(bytes_read=size, lines=_PROGRESS_EVERY,
                            records=sink.written - written)
            size = 0
            written = sink.written
            tick += _PROGRESS_EVERY
    counter[0] = count
    progress.update(bytes_read=size, lines=count % _PROGRESS_EVERY,
                    records=sink.written - written)


def _line_size(line: Line) -> int:
    return len(line.text) + 1


def _entry_size(entry: LogEntry) -> int:
    return len(entry.lines[0].text) + 1


def _run(parser: Parser, lines: Iterator[Line], target: Sink, sink: EventSink,
         progress: Progress) -> int:
    """Pump one input's lines through the parser into the target (the sink, maybe with
    the summary); returns lines read."""
    counter = [0]
    Pump(target, lambda partition: ParserStage(parser)).run(
        OneBatch(_progressed(lines, sink, progress, counter, _line_size)))
    return counter[0]


def _run_entries(parser: Parser, entries: Iterator[LogEntry], target: Sink, sink: EventSink,
                 progress: Progress) -> None:
    """csvlog/jsonlog: whole messages through the same pump, one event per entry."""
    Pump(target, lambda partition: EntryStage(parser)).run(
        OneBatch(_progressed(entries, sink, progress, [0], _entry_size)))


def _report(sink: EventSink, errors_path: str | None) -> None:
    if sink.rejected:
        _report_rejected(sink.rejected, errors_path)


def _report_rejected(count: int, errors_path: str | None) -> None:
    where = (" (on standard output)" if errors_path in ("-", "<stdout>")
             else f" (see {errors_path})" if errors_path
             else " (use --errors PATH to keep them)")
    print(f"{PROG}: {count} rejected input line(s){where}", file=sys.stderr)


def _seconds(text: str) -> float:
    """A number of seconds, more than 0 and finite (``--idle-release``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be more than 0 (and finite)")
    return value


def _cpu_count() -> int:
    """CPUs this process may run on (``--jobs`` is capped there: more only adds memory)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _close_quietly(sink: EventSink) -> None:
    """Close the sink; a write that fails now was reported already (or is reported by
    the caller): never a second message or a traceback."""
    try:
        sink.close()
    except (OSError, ValueError):
        for stream in getattr(sink, "_owned", ()):
            try:
                stream.close()
            except (OSError, ValueError):
                pass


def _epilog() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    return ("commands (pgaudit-parse COMMAND --help for their options):\n"
            + "\n".join(lines)
            + "\n\nexit status: 0 all input read (rejects go to --errors), 2 usage error or "
              "unreadable input,\n130 interrupted (^C), 143 SIGTERM; a closed pipe (| head) "
              "ends quietly.")


def files_main(args_list: list[str]) -> int:
    """File mode: parse FILEs into records or events; returns the exit status."""
    parser = make_parser(PROG, "Parse PostgreSQL + pgAudit logs (RDS/Aurora) into Guardium "
                               "records or typed events,\none JSON object per line; or run "
                               "one of the commands listed below.",
                         epilog=_epilog())
    parser.usage = (f"{PROG} [options] FILE [FILE ...]\n"
                    f"       {PROG} COMMAND [options]     (commands listed below)")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="server log, csvlog, jsonlog, .gz, CloudWatch export or SQS "
                             "bodies; '-' = stdin")
    add_output_arguments(parser)
    parser.add_argument("--summary", action="store_true",
                        help="print a who-did-what summary to stderr at the end")
    parser.add_argument("-j", "--jobs", type=positive_int, default=1, metavar="N",
                        help="parse each plain file with N processes (output order kept; "
                             "at most the number of CPUs)")
    parser.add_argument("--max-line-bytes", type=positive_int, default=DEFAULT_MAX_LINE_BYTES,
                        metavar="N", help="longest line or JSON document read whole; a longer "
                        "one is a reject with its first KiB (default: %(default)s)")
    parser.add_argument("--idle-release", type=_seconds, default=IDLE_RELEASE,
                        metavar="SECONDS", help="live input (a pipe, a FIFO): seconds it stays "
                        "quiet before records still waiting for the other lines of their "
                        "execution are written (default: %(default)s; docs/live.md)")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help="print the version and exit")
    args = parser.parse_intermixed_args(args_list)  # FILEs before, between, after options
    jobs = min(args.jobs, _cpu_count())
    problem = check_inputs(args.prefix, args.files,
                           [("--output", args.output), ("--errors", args.errors)],
                           stdout=writes_stdout(args)) or check_timezone(args.timezone)
    if problem is not None:
        return fail(problem)
    try:
        sink = open_output(args)
    except InputError as exc:
        return fail(str(exc))
    completed = False
    try:
        summary = Summary() if args.summary else None
        status = parse_files(args.files, args.prefix, sink, args.quiet, summary, jobs,
                             args.timezone, args.state_bytes, args.max_line_bytes,
                             args.idle_release)
        sink.flush()
        completed = True
        if summary is not None and status == 0:
            print(summary.render_text(), file=sys.stderr)
    except InputError as exc:
        return fail(str(exc))
    except MemoryError:
        return fail("out of memory (see docs/input.md: Limits)")
    except BrokenPipeError:
        return reader_gone()  # the reader went away (`| head`): stop quietly
    except KeyboardInterrupt as exc:
        return interrupted(exc)
    except OSError as exc:  # writing failed: disk full, output removed...
        target = unwritable(sink, args)
        abandon(sink)
        _close_quietly(sink)
        if not args.output or args.output == "-" or args.errors == "-":
            silence_stdout()
        return fail(f"cannot write {target}: {exc.strerror or exc}")
    finally:
        if not completed:
            abandon(sink)
        _close_quietly(sink)
    if status == 0 and not args.quiet:
        _report(sink, args.errors)
    return status
