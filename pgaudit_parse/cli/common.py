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
import sys
from collections.abc import Sequence
from typing import IO, Final

from ..formats.guardium import RECORD_VALUES
from ..prefix import RDS_PREFIX, LinePrefix, PrefixError
from ..sinks import FORMATS, OutputSink
from ..sources import InputError
from ..sql import REDACT_MODES
from ..timestamps import TimestampError, TimestampParser

__all__ = [
    "PROG", "fail", "make_parser", "add_output_arguments", "open_output", "check_inputs",
    "positive_int", "check_timezone", "ZoneWarnings",
]

PROG: Final = "pgaudit-parse"

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
    parser.add_argument("--redact", choices=REDACT_MODES, default=None,
                        help="hide passwords or every constant in SQL and data (default: "
                             "passwords for records, none for events; see docs/sql.md)")
    parser.add_argument("--output", metavar="PATH", help="write here instead of stdout")
    parser.add_argument("--errors", metavar="PATH",
                        help="dead-letter JSON lines for input that cannot be parsed")
    parser.add_argument("--account-id", metavar="ID", help="AWS account id for dbName")
    parser.add_argument("--instance", metavar="NAME", help="DB instance name for dbName")
    parser.add_argument("--values", choices=RECORD_VALUES, default="connector",
                        help="record values: connector (the Guardium universal connector's, "
                        "a drop-in; default) or postgres (application name, %%c session id "
                        "and quoted names as the log has them); see docs/guardium.md")
    parser.add_argument("--quiet", action="store_true", help="no progress or counts on stderr")
    parser.add_argument("--timezone", metavar="ZONE",
                        help="the server's log_timezone as an IANA name (e.g. Asia/Shanghai), "
                             "to read zone abbreviations that name several zones (CST, IST)")


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
    return OutputSink(out, errors, args.format, args.account_id, args.instance, tuple(owned),
                      values=getattr(args, "values", "connector"),
                      redact=getattr(args, "redact", None))


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
