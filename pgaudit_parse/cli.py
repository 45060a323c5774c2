"""``pgaudit-parse``: a thin shell over the library.

File mode (DESIGN.md's contract)::

    pgaudit-parse FILE [FILE...] [--prefix P|auto] [--format records|events]
                  [--output PATH] [--errors PATH] [--account-id ID] [--instance NAME]

Other modes are subcommands named by the first argument (``cloudwatch``, ``sqs``,
``forward``, ``rds``, ``iam-policy``, ``doctor``, ``summary``); a file that happens to have
such a name is read as ``./NAME``.

Exit status: 0 when all input was read (rejects go to ``--errors``), 2 for usage errors or
unreadable input, with one line on stderr naming the file and the cause.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Final

from .lines import Line, Reject
from .ops.progress import Progress
from .ops.summary import Summary
from .parser import Parser, open_with_prefix
from .prefix import RDS_PREFIX, LinePrefix, PrefixError
from .sinks import FORMATS, OutputSink
from .sources import InputError, read_input

__all__ = [
    "main", "console", "SUBCOMMANDS", "PROG", "add_output_arguments", "open_output", "fail",
    "make_parser", "parse_files", "check_inputs",
]

PROG: Final = "pgaudit-parse"
#: Lines between progress updates (keeps the hot loop cheap).
_PROGRESS_EVERY: Final = 4096

#: Subcommand name -> "module:function"; each function takes argv and returns an exit code.
SUBCOMMANDS: Final[dict[str, str]] = {
    "cloudwatch": "pgaudit_parse.aws.commands:cloudwatch_main",
    "sqs": "pgaudit_parse.aws.commands:sqs_main",
    "forward": "pgaudit_parse.aws.commands:forward_main",
    "rds": "pgaudit_parse.ops.commands:rds_main",
    "iam-policy": "pgaudit_parse.ops.commands:iam_policy_main",
    "doctor": "pgaudit_parse.ops.commands:doctor_main",
    "summary": "pgaudit_parse.ops.commands:summary_main",
}


def fail(message: str) -> int:
    """Print ``pgaudit-parse: message`` on stderr; return exit status 2."""
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line and exits 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with this tool's one-line usage errors."""
    return _ArgumentParser(prog=prog, description=description)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The output options every reading mode shares."""
    parser.add_argument("--prefix", default=RDS_PREFIX,
                        help="log_line_prefix of the server ('auto' detects; default: %(default)s)")
    parser.add_argument("--format", choices=FORMATS, default="records",
                        help="records: Guardium JSON (default); events: typed events")
    parser.add_argument("--output", metavar="PATH", help="write here instead of stdout")
    parser.add_argument("--errors", metavar="PATH",
                        help="dead-letter JSON lines for input that cannot be parsed")
    parser.add_argument("--account-id", metavar="ID", help="AWS account id for dbName")
    parser.add_argument("--instance", metavar="NAME", help="DB instance name for dbName")
    parser.add_argument("--quiet", action="store_true", help="no progress or counts on stderr")


def _open_write(path: str, append: bool = False) -> IO[str]:
    try:
        if append:
            _drop_partial_line(path)
        # Never truncate (or replace) a device or pipe such as /dev/stdout.
        device = os.path.exists(path) and not os.path.isfile(path)
        return open(path, "a" if append or device else "w", encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None


def _drop_partial_line(path: str) -> None:
    """Cut a last line left unfinished by a killed run (it was never acknowledged, so its
    record is written again), so that appending continues on a line boundary."""
    if not os.path.isfile(path):
        return
    try:
        with open(path, "rb+") as handle:
            size = handle.seek(0, 2)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            position = size
            while position > 0:
                step = min(65536, position)
                handle.seek(position - step)
                chunk = handle.read(step)
                index = chunk.rfind(b"\n")
                if index >= 0:
                    handle.truncate(position - step + index + 1)
                    return
                position -= step
            handle.truncate(0)
    except FileNotFoundError:
        return


def open_output(args: argparse.Namespace, append: bool = False) -> OutputSink:
    """The sink for ``--format/--output/--errors/--account-id/--instance``.

    With ``append``, files are continued rather than truncated (a consumer restarted after
    acknowledging what it wrote must keep it), after cutting a last line that a killed run
    left unfinished. Raises :class:`~pgaudit_parse.sources.InputError` when a path cannot
    be opened.
    """
    owned: list[IO[str]] = []
    try:
        out: IO[str] = sys.stdout
        if args.output and args.output != "-":
            out = _open_write(args.output, append)
            owned.append(out)
        errors = _open_write(args.errors, append) if args.errors else None
    except InputError:
        for stream in owned:
            stream.close()
        raise
    if errors is not None:
        owned.append(errors)
    return OutputSink(out, errors, args.format, args.account_id, args.instance, tuple(owned))


def _run_subcommand(name: str, argv: list[str]) -> int:
    module_name, _, function = SUBCOMMANDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if missing and missing.split(".")[0] in ("boto3", "botocore"):
            return fail(f"'{name}' needs the aws extra: pip install 'pgaudit-parse[aws]'")
        return fail(f"'{name}' is not available: {exc}")
    return int(getattr(module, function)(argv))


def parse_files(paths: Sequence[str], prefix: str, sink: OutputSink, quiet: bool = False,
                summary: Summary | None = None, jobs: int = 1) -> int:
    """Parse each input into the sink (and the summary, if any); returns the exit status.

    Progress goes to stderr when it is a terminal and ``quiet`` is off. With ``jobs`` > 1
    each plain file is parsed by that many processes (same output, same order).
    """
    if jobs > 1 and summary is None:
        return _parse_files_parallel(paths, prefix, sink, quiet, jobs)
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
                compiled, lines = open_with_prefix(read_input(path), prefix)
            except PrefixError as exc:
                return fail(f"{name}: {exc}")
            if prefix == "auto" and not quiet:
                print(f"{PROG}: {name}: using log_line_prefix {compiled.spec!r}",
                      file=sys.stderr)
            parser = Parser(compiled, on_reject=on_reject)
            count = _run(parser, lines, sink, progress, summary)
            if count and parser.entry_count == 0:
                return fail(f"{name}: no line matches log_line_prefix {compiled.spec!r} "
                            "(check --prefix, or try --prefix auto)")
    finally:
        progress.close()
    return 0


def _parse_files_parallel(paths: Sequence[str], prefix: str, sink: OutputSink, quiet: bool,
                          jobs: int) -> int:
    from .parallel import parse_file_parallel  # multiprocessing only when asked for

    for path in paths:
        name = "<stdin>" if path == "-" else path
        try:
            result = parse_file_parallel(path, prefix, jobs, sink)
        except PrefixError as exc:
            return fail(f"{name}: {exc}")
        if prefix == "auto" and not quiet:
            print(f"{PROG}: {name}: using log_line_prefix {result.prefix!r}", file=sys.stderr)
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


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def check_inputs(prefix: str, paths: Sequence[str]) -> str | None:
    """What is wrong with ``--prefix`` and the input paths before reading, or None."""
    if prefix != "auto":
        try:
            LinePrefix(prefix)
        except PrefixError as exc:
            return f"--prefix: {exc}"
    for path in paths:
        if path != "-" and not os.path.exists(path):
            return f"{path}: no such file"
    return None


def _report(sink: OutputSink, errors_path: str | None) -> None:
    if sink.rejected:
        where = f" (see {errors_path})" if errors_path else " (use --errors PATH to keep them)"
        print(f"{PROG}: {sink.rejected} rejected input line(s){where}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in SUBCOMMANDS:
        try:
            return _run_subcommand(args_list[0], args_list[1:])
        except KeyboardInterrupt:
            return 130
    parser = make_parser(PROG, "Parse PostgreSQL + pgAudit logs (RDS/Aurora) into Guardium "
                               "records or typed events, one JSON object per line.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="server log, .gz, CloudWatch export or SQS bodies; '-' = stdin")
    add_output_arguments(parser)
    parser.add_argument("--summary", action="store_true",
                        help="print a who-did-what summary to stderr at the end")
    parser.add_argument("--jobs", type=_positive, default=1, metavar="N",
                        help="parse each plain file with N processes (output order kept)")
    args = parser.parse_args(args_list)
    problem = check_inputs(args.prefix, args.files)
    if problem is not None:
        return fail(problem)
    try:
        sink = open_output(args)
    except InputError as exc:
        return fail(str(exc))
    try:
        summary = Summary() if args.summary else None
        status = parse_files(args.files, args.prefix, sink, args.quiet, summary, args.jobs)
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


def _utf8_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.encoding.lower() != "utf-8":
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")


def console() -> None:  # pragma: no cover - thin wrapper
    """Console-script wrapper: UTF-8 stdio, then :func:`main`."""
    _utf8_stdio()
    raise SystemExit(main())


