"""``pgaudit-parse summary FILE...``: the who-did-what tables (and ``--html``) of any logs.

The model (:class:`~pgaudit_parse.ops.summary.Summary`) and the HTML report live in
:mod:`pgaudit_parse.ops`; this is the shell that reads files into them.

>>> summary_main(["fixtures/no-such.log"])  # "pgaudit-parse: fixtures/no-such.log: no such file"
2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import IO, Any, TypeVar, cast

from ..entries import LogEntry
from ..events import Event
from ..jsonenc import TEXT_ERRORS
from ..lines import Line, Reject
from ..ops.html_report import write_html
from ..ops.summary import Summary
from ..parser import Parser, open_with_prefix
from ..prefix import RDS_PREFIX, PrefixError
from ..pump import EntryStage, OneBatch, ParserStage, Pump
from ..sinks import ListSink, reject_to_json
from ..sources import InputError
from ..structured import read_structured
from .common import (
    PROG,
    check_inputs,
    check_timezone,
    fail,
    make_parser,
    no_line_matches,
    no_prefix_fits,
    positive_int,
    reader_gone,
    silence_stdout,
    until_error,
)
from .progress import Progress

__all__ = ["summary_main"]

T = TypeVar("T", Line, LogEntry)
S = TypeVar("S", ParserStage, EntryStage)



def _parser() -> argparse.ArgumentParser:
    parser = make_parser(f"{PROG} summary",
                         "Who did what: audited statements (one per execution) per user, "
                         "database, class, command and object; client addresses, application "
                         "names, failed logins (and over time), DDL and privilege changes "
                         "(newest first), errors.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="server log, csvlog, jsonlog, .gz, CloudWatch export or SQS bodies; "
                             "'-' = stdin")
    parser.add_argument("--prefix", default=RDS_PREFIX, metavar="PREFIX",
                        help="log_line_prefix of the server ('auto' detects; "
                        "default: %(default)s)")
    parser.add_argument("--html", metavar="PATH", help="also write a self-contained HTML report")
    parser.add_argument("--json", action="store_true",
                        help="print the tables as one JSON object instead of text (each "
                             "table's meaning under \"counts\")")
    parser.add_argument("--top", type=positive_int, default=15, metavar="N",
                        help="rows per table (default %(default)s)")
    parser.add_argument("--errors", metavar="PATH",
                        help="dead-letter JSON lines for input that cannot be parsed")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--timezone", metavar="ZONE",
                        help="the server's log_timezone as an IANA name, for ambiguous zone "
                             "abbreviations (CST, IST)")
    return parser


def _counted(lines: Iterator[T], progress: Any, counter: list[int],
             every: int = 1024) -> Iterator[T]:
    """Pass lines (or whole csvlog/jsonlog messages) through, counting them and their
    bytes for the progress line (in batches, so the per-line cost stays an addition)."""
    size = 0
    count = 0
    for line in lines:
        count += 1
        text = line.text if isinstance(line, Line) else line.lines[0].text
        size += len(text.encode("utf-8", "surrogatepass")) + 1
        if count % every == 0:
            progress.update(bytes_read=size, lines=every)
            size = 0
        yield line
    progress.update(bytes_read=size, lines=count % every)
    counter[0] += count


def _same(stage: S, partition: str) -> S:
    """The one stage of a one-file pump, whatever the partition."""
    return stage


def _adding(summary: Summary, progress: Any, every: int = 1024) -> Callable[[Event], None]:
    """Count each event in the summary; tell the progress line every ``every`` events."""
    seen = [0]
    add = summary.add

    def on_write(event: Event) -> None:
        add(event)
        seen[0] += 1
        if seen[0] % every == 0:
            progress.update(records=every)

    return on_write


def _summarize(args: argparse.Namespace, summary: Summary,
               on_reject: Callable[[Reject], None], progress: Any,
               failures: list[str]) -> None:
    """Count every input's events into ``summary``; each input that cannot be read (or
    that no line of the prefix matches) is added to ``failures``, and the next is read."""
    for path in args.files:
        counter = [0]
        name = "<stdin>" if path == "-" else path
        broken: list[InputError] = []
        try:
            # Told by content, as in file mode: a csvlog or jsonlog holds whole
            # messages (no prefix); anything else is lines.
            kind, items = read_structured(path, on_reject)
            sink = ListSink(on_write=_adding(summary, progress), on_reject=on_reject)
            if kind is not None:
                parser = Parser(on_reject=sink.reject, timezone=args.timezone)
                entries = _counted(until_error(cast(Iterator[LogEntry], items), broken),
                                   progress, counter)
                Pump(sink, partial(_same, EntryStage(parser))).run(OneBatch(entries))
                progress.update(records=sink.written % 1024)
                if broken:
                    failures.append(str(broken[0]))
                continue
            compiled, lines = open_with_prefix(
                _counted(until_error(cast(Iterator[Line], items), broken), progress,
                         counter), args.prefix, args.timezone)
            # The same reading as file mode: a line that matches the prefix is an
            # entry, even when its payload is torn (a reject, not an event).
            parser = Parser(compiled, on_reject=sink.reject, timezone=args.timezone)
            Pump(sink, partial(_same, ParserStage(parser))).run(OneBatch(lines))
            progress.update(records=sink.written % 1024)
        except (InputError, PrefixError) as exc:
            failures.append(str(broken[0]) if broken else
                            str(exc) if isinstance(exc, InputError)
                            else no_prefix_fits(name, exc, path))
            continue
        if broken:
            failures.append(str(broken[0]))
        elif counter[0] and parser.entry_count == 0:
            failures.append(no_line_matches(name, compiled.spec, args.prefix, path))


def summary_main(argv: list[str]) -> int:
    """``pgaudit-parse summary FILE... [--prefix P] [--html PATH]``: exit 0, or 2 when an
    input cannot be read or matches no line of the prefix."""
    try:
        args = _parser().parse_intermixed_args(argv)  # FILEs anywhere among the options
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if sys.stdout is None:
        return fail("standard output: closed (the summary is written there)")
    problem = check_inputs(args.prefix, args.files,
                           [("--errors", args.errors), ("--html", args.html)],
                           stdout=True) or check_timezone(args.timezone)
    if problem is not None:
        return fail(problem)
    for option, target in (("--errors", args.errors), ("--html", args.html)):
        if target == "-":  # standard output holds the summary itself
            return fail(f"{option} -: standard output holds the summary; give {option} a PATH")
    dead: IO[str] | None = None
    if args.errors:
        try:
            dead = open(args.errors, "w", encoding="utf-8", errors=TEXT_ERRORS)
        except OSError as exc:
            return fail(f"{args.errors}: cannot write: {exc.strerror or exc}")
    summary = Summary(top=args.top)
    shown = [0]

    def on_reject(reject: Reject) -> None:
        summary.add_reject(reject)
        if dead is not None:
            dead.write(json.dumps(reject_to_json(reject, "passwords"), ensure_ascii=False) + "\n")
        elif shown[0] < 10 and not args.quiet:
            shown[0] += 1
            print(f"pgaudit-parse: {reject.source}:{reject.line}: {reject.reason}",
                  file=sys.stderr)

    progress = Progress.for_files(args.files, stream=sys.stderr, enabled=not args.quiet)
    failures: list[str] = []  # every file that can be read is read; these are named after
    try:
        _summarize(args, summary, on_reject, progress, failures)
        if dead is not None:
            dead.flush()
    except OSError as exc:  # writing the dead letters failed (reading errors are InputError)
        if dead is None:
            raise
        return fail(f"{args.errors}: cannot write: {exc.strerror or exc}")
    finally:
        progress.close()
        if dead is not None:
            try:
                dead.close()
            except OSError:  # (reported above)
                pass
    if failures and summary.events == 0:
        for failure in failures:
            fail(failure)
        return 2
    if summary.rejects > shown[0] and dead is None and not args.quiet:
        print(f"pgaudit-parse: {summary.rejects} rejected input line(s) in all "
              "(use --errors PATH to keep them)", file=sys.stderr)
    try:
        if args.json:
            sys.stdout.write(json.dumps(summary.to_dict(), ensure_ascii=False, indent=1) + "\n")
        else:
            sys.stdout.write(summary.render_text())
        sys.stdout.flush()
    except BrokenPipeError:
        return reader_gone()
    except OSError as exc:  # disk full
        silence_stdout()
        return fail(f"cannot write standard output: {exc.strerror or exc}")
    if args.html:
        try:
            write_html(summary, args.html, title="pgAudit summary: " + ", ".join(
                os.path.basename(p) for p in args.files))
        except OSError as exc:
            return fail(f"{args.html}: cannot write: {exc.strerror or exc}")
        if not args.quiet:
            print(f"pgaudit-parse: wrote {args.html}", file=sys.stderr)
    for failure in failures:
        fail(failure)
    return 2 if failures else 0
