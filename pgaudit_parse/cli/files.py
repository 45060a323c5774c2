"""File mode, the default command: ``pgaudit-parse FILE [FILE...]``.

DESIGN.md's contract::

    pgaudit-parse FILE [FILE...] [--prefix P|auto] [--format records|events]
                  [--output PATH] [--errors PATH] [--account-id ID] [--instance NAME]
                  [--timezone ZONE]

Exit status: 0 when all input was read (rejects go to ``--errors``), 2 for usage errors or
unreadable input, with one line on stderr naming the file and the cause.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from ..lines import Line, Reject
from ..ops.summary import Summary
from ..parser import Parser, open_with_prefix
from ..prefix import PrefixChoice, PrefixError
from ..sinks import OutputSink
from ..sources import InputError, read_input
from .common import (
    PROG,
    ZoneWarnings,
    add_output_arguments,
    check_inputs,
    check_timezone,
    fail,
    make_parser,
    open_output,
    positive_int,
)
from .progress import Progress

__all__ = ["files_main", "parse_files"]

#: Lines between progress updates (keeps the hot loop cheap).
_PROGRESS_EVERY: Final = 4096


def parse_files(paths: Sequence[str], prefix: str, sink: OutputSink, quiet: bool = False,
                summary: Summary | None = None, jobs: int = 1,
                timezone: str | None = None) -> int:
    """Parse each input into the sink (and the summary, if any); returns the exit status.

    Progress goes to stderr when it is a terminal and ``quiet`` is off. With ``jobs`` > 1
    each plain file is parsed by that many processes (same output, same order).
    ``timezone`` is the log's zone; without it, an ambiguous zone abbreviation is warned
    about once, on one line.
    """
    zone_warnings = ZoneWarnings()
    if jobs > 1 and summary is None:
        return _parse_files_parallel(paths, prefix, sink, quiet, jobs, timezone, zone_warnings)
    if jobs > 1 and not quiet:
        print(f"{PROG}: --summary counts events in one process; --jobs ignored",
              file=sys.stderr)
    progress = Progress.for_files(paths, stream=sys.stderr, enabled=not quiet)
    on_reject = sink.reject
    if summary is not None:
        def on_reject(reject: Reject) -> None:
            sink.reject(reject)
            summary.add_reject(reject)
    try:
        for path in paths:
            name = "<stdin>" if path == "-" else path
            try:
                compiled, lines = open_with_prefix(read_input(path), prefix, timezone,
                                                   _tell_choice(name, quiet))
            except PrefixError as exc:
                return fail(f"{name}: {exc}")
            parser = Parser(compiled, on_reject=on_reject, on_ambiguous_zone=zone_warnings)
            count = _run(parser, lines, sink, progress, summary)
            if count and parser.entry_count == 0:
                return fail(f"{name}: no line matches log_line_prefix {compiled.spec!r} "
                            "(check --prefix, or try --prefix auto)")
    finally:
        progress.close()
    return 0


def _tell_choice(name: str, quiet: bool) -> Callable[[PrefixChoice], None] | None:
    """Says which prefix ``--prefix auto`` chose for an input, and how well it fits."""
    if quiet:
        return None

    def tell(choice: PrefixChoice) -> None:
        print(f"{PROG}: {name}: using {choice.describe()}", file=sys.stderr)

    return tell


def _parse_files_parallel(paths: Sequence[str], prefix: str, sink: OutputSink, quiet: bool,
                          jobs: int, timezone: str | None, zone_warnings: ZoneWarnings) -> int:
    from ..parallel import parse_file_parallel  # multiprocessing only when asked for

    for path in paths:
        name = "<stdin>" if path == "-" else path
        try:
            result = parse_file_parallel(path, prefix, jobs, sink, timezone=timezone,
                                         on_choice=_tell_choice(name, quiet),
                                         on_ambiguous_zone=zone_warnings)
        except PrefixError as exc:
            return fail(f"{name}: {exc}")
        if result.lines and result.entries == 0:
            return fail(f"{name}: no line matches log_line_prefix {result.prefix!r} "
                        "(check --prefix, or try --prefix auto)")
    return 0


def _run(parser: Parser, lines: Iterator[Line], sink: OutputSink, progress: Progress,
         summary: Summary | None) -> int:
    """The hot loop: feed lines, write events; returns the number of lines read."""
    write = sink.write
    feed = parser.feed
    count = 0
    size = 0
    written = sink.written
    tick = _PROGRESS_EVERY
    for line in lines:
        count += 1
        size += len(line.text) + 1
        for event in feed(line):
            write(event)
            if summary is not None:
                summary.add(event)
        if count == tick:
            progress.update(bytes_read=size, lines=_PROGRESS_EVERY,
                            records=sink.written - written)
            size = 0
            written = sink.written
            tick += _PROGRESS_EVERY
    for event in parser.flush():
        write(event)
        if summary is not None:
            summary.add(event)
    progress.update(bytes_read=size, lines=count % _PROGRESS_EVERY,
                    records=sink.written - written)
    return count


def _report(sink: OutputSink, errors_path: str | None) -> None:
    if sink.rejected:
        where = f" (see {errors_path})" if errors_path else " (use --errors PATH to keep them)"
        print(f"{PROG}: {sink.rejected} rejected input line(s){where}", file=sys.stderr)


def files_main(args_list: list[str]) -> int:
    """File mode: parse FILEs into records or events; returns the exit status."""
    parser = make_parser(PROG, "Parse PostgreSQL + pgAudit logs (RDS/Aurora) into Guardium "
                               "records or typed events, one JSON object per line.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="server log, .gz, CloudWatch export or SQS bodies; '-' = stdin")
    add_output_arguments(parser)
    parser.add_argument("--summary", action="store_true",
                        help="print a who-did-what summary to stderr at the end")
    parser.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                        help="parse each plain file with N processes (output order kept)")
    args = parser.parse_args(args_list)
    problem = check_inputs(args.prefix, args.files) or check_timezone(args.timezone)
    if problem is not None:
        return fail(problem)
    try:
        sink = open_output(args)
    except InputError as exc:
        return fail(str(exc))
    try:
        summary = Summary() if args.summary else None
        status = parse_files(args.files, args.prefix, sink, args.quiet, summary, args.jobs,
                             args.timezone)
        sink.flush()
        if summary is not None and status == 0:
            print(summary.render_text(), file=sys.stderr)
    except InputError as exc:
        sink.flush()
        return fail(str(exc))
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        try:
            sink.close()
        except (OSError, ValueError):
            pass
    if status == 0 and not args.quiet:
        _report(sink, args.errors)
    return status
