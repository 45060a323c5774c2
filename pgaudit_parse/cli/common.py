"""Helpers every command shell shares: the program name, one-line failures, argument
parsers with one-line usage errors, the output options and the output opener.

>>> parser = make_parser("pgaudit-parse demo", "A demo.")
>>> add_output_arguments(parser)
>>> parser.parse_args(["--format", "events"]).format
'events'
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import IO, Final

from ..formats.guardium import RECORD_VALUES
from ..parser import DEFAULT_STATE_BYTES, split_state_bytes
from ..prefix import RDS_PREFIX, LinePrefix, PrefixError
from ..sinks import FORMATS, EventSink, OutputSink
from ..sources import InputError
from ..sql import REDACT_MODES
from ..timestamps import TimestampError, TimestampParser

__all__ = [
    "PROG", "COMMANDS", "PARQUET_FORMAT", "fail", "make_parser", "add_output_arguments",
    "open_output", "check_inputs", "positive_int", "BROKEN_PIPE_STATUS", "reader_gone",
    "check_timezone", "ZoneWarnings", "byte_size", "report_state",
]

PROG: Final = "pgaudit-parse"
#: ``--format`` value of the Parquet sink (a directory, not a stream).
PARQUET_FORMAT: Final = "ocsf-parquet"

#: Every subcommand with its one line for ``pgaudit-parse --help`` (the dispatch table in
#: :mod:`pgaudit_parse.cli` has the same names).
COMMANDS: Final[dict[str, str]] = {
    "summary": "who did what: users, objects, clients, privilege changes, failed logins",
    "cloudwatch": "read RDS logs from CloudWatch Logs into records or events (checkpointed)",
    "sqs": "consume SQS messages (forwarder or seed Lambda) into records or events",
    "forward": "forward a CloudWatch log group to SQS (one run of the scheduled forwarder)",
    "rds": "rds setup: parameter group and log export for pgAudit (plan, then --apply)",
    "iam-policy": "print a least-privilege IAM policy for the forwarder, consumer or reader",
    "doctor": "check credentials, log group, pgAudit settings and queue; say how to fix",
    "subscribe": "put a subscription filter (Lambda or Firehose) on every RDS log group",
    "rds-logs": "read an instance's log files through the RDS API (no CloudWatch needed)",
}

#: Exit status when the reader of stdout went away (``| head``): 128 + SIGPIPE, what a
#: shell reports for ``cat`` or ``grep`` in the same place. Nothing is printed.
BROKEN_PIPE_STATUS: Final = 141


def reader_gone() -> int:
    """Handle a closed stdout (``| head`` has exited): point stdout at /dev/null so that
    nothing more fails at exit, and return :data:`BROKEN_PIPE_STATUS`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout replaced by something without a descriptor
        pass
    return BROKEN_PIPE_STATUS


def fail(message: str) -> int:
    """Print ``pgaudit-parse: message`` on stderr; return exit status 2."""
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line and exits 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def make_parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with this tool's one-line usage errors (``epilog`` is printed
    as written, after the options)."""
    return _ArgumentParser(prog=prog, description=description, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The output options every reading mode shares."""
    parser.add_argument("--prefix", default=RDS_PREFIX, metavar="PREFIX",
                        help="log_line_prefix of the server ('auto' detects; default: %(default)s)")
    parser.add_argument("-f", "--format", choices=(*FORMATS, PARQUET_FORMAT), default="records",
                        help="records: Guardium JSON (default); events: typed events; "
                             "ocsf: OCSF 1.1.0 (Security Lake); ecs: Elastic Common Schema; "
                             "ocsf-parquet: OCSF Parquet in Security Lake's layout under "
                             "--output DIR (needs --account-id, --lake-region)")
    parser.add_argument("--lake-region", metavar="REGION",
                        help="ocsf-parquet: the region= partition (default: AWS_REGION)")
    parser.add_argument("--redact", choices=REDACT_MODES, default=None,
                        help="hide passwords or every constant in SQL and data (default: "
                             "passwords for records, none for events; see docs/sql.md)")
    parser.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    parser.add_argument("--errors", metavar="PATH",
                        help="dead-letter JSON lines for input that cannot be parsed")
    parser.add_argument("--account-id", metavar="ID", help="AWS account id for dbName")
    parser.add_argument("--instance", metavar="NAME", help="DB instance name for dbName")
    parser.add_argument("--values", choices=RECORD_VALUES, default="connector",
                        help="record values: connector (the Guardium universal connector's, "
                        "a drop-in; default) or postgres (application name, %%c session id "
                        "and quoted names as the log has them); see docs/guardium.md")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress or counts on stderr")
    parser.add_argument("--timezone", metavar="ZONE",
                        help="the server's log_timezone as an IANA name (e.g. Asia/Shanghai), "
                             "to read zone abbreviations that name several zones (CST, IST)")
    parser.add_argument("--state-bytes", type=byte_size, default=DEFAULT_STATE_BYTES,
                        metavar="N",
                        help="memory for per-session state: <previously logged> statements "
                             "and records waiting for their duration (K/M/G suffixes; "
                             "default 64M; see docs/memory.md)")


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


def check_timezone(zone: str | None) -> str | None:
    """What is wrong with ``--timezone``, or None."""
    if zone is None:
        return None
    try:
        TimestampParser(zone)
    except TimestampError as exc:
        return f"--timezone: {exc}"
    return None


class ZoneWarnings:
    """Prints each warning about an ambiguous zone abbreviation once, on one line (also
    with --quiet: it is about the data, not progress)."""

    def __init__(self) -> None:
        self._told: set[str] = set()

    def __call__(self, message: str) -> None:
        if message not in self._told:
            self._told.add(message)
            print(f"{PROG}: warning: {message}", file=sys.stderr)


def open_output(args: argparse.Namespace, append: bool = False) -> EventSink:
    """The sink for ``--format/--output/--errors/--account-id/--instance``.

    With ``append``, files are continued rather than truncated (a consumer restarted after
    acknowledging what it wrote must keep it), after cutting a last line that a killed run
    left unfinished. Raises :class:`~pgaudit_parse.sources.InputError` when a path cannot
    be opened.
    """
    if args.format == PARQUET_FORMAT:
        return _open_parquet(args, append)
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
    held_bytes = split_state_bytes(getattr(args, "state_bytes", DEFAULT_STATE_BYTES))[1]
    return OutputSink(out, errors, args.format, args.account_id, args.instance, tuple(owned),
                      values=getattr(args, "values", "connector"), held_bytes=held_bytes,
                      redact=getattr(args, "redact", None))


_BYTE_SIZE = re.compile(r"(\d+)\s*(?:([KMG])(?:i?B)?|B)?", re.IGNORECASE)
_UNITS: Final = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}


def byte_size(text: str) -> int:
    """A number of bytes, with an optional K, M or G (powers of 1024).

    >>> byte_size("64M"), byte_size("512k"), byte_size("1000")
    (67108864, 524288, 1000)
    """
    match = _BYTE_SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size in bytes: {text!r} (e.g. 64M)")
    return int(match.group(1)) * _UNITS[(match.group(2) or "").upper()]


def report_state(evicted: int, unresolved: int, released: int) -> None:
    """Say on stderr when the state bounds were reached (docs/memory.md), else nothing."""
    if evicted or released:
        print(f"{PROG}: warning: --state-bytes reached: {evicted} statement(s) evicted from "
              f"the <previously logged> cache, {released} record(s) written before their "
              "duration line (see docs/memory.md)", file=sys.stderr)
    if unresolved:
        print(f"{PROG}: {unresolved} audit line(s) kept <previously logged> (the earlier "
              "line of their statement was not in the input"
              + (" or was evicted" if evicted else "") + ")", file=sys.stderr)


def _open_parquet(args: argparse.Namespace, append: bool) -> EventSink:
    from ..parquet import OcsfParquetSink, ParquetUnavailable  # pyarrow only when asked for

    region = args.lake_region or os.environ.get("AWS_REGION") \
        or os.environ.get("AWS_DEFAULT_REGION")
    if not args.output or args.output == "-":
        raise InputError("--output", "ocsf-parquet writes a directory: pass --output DIR")
    if not args.account_id:
        raise InputError("--account-id", "ocsf-parquet needs the accountId= partition")
    if not region:
        raise InputError("--lake-region", "ocsf-parquet needs the region= partition "
                                          "(or set AWS_REGION)")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise InputError(args.output, "not a directory")
    errors = _open_write(args.errors, append) if args.errors else None
    try:
        return OcsfParquetSink(args.output, region, args.account_id, args.instance, errors,
                               owned=(errors,) if errors is not None else ())
    except ParquetUnavailable as exc:
        if errors is not None:
            errors.close()
        raise InputError("--format ocsf-parquet", str(exc)) from None


def positive_int(text: str) -> int:
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
