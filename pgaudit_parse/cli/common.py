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
import signal
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Final, TypeVar

from ..formats.guardium import RECORD_VALUES
from ..jsonenc import TEXT_ERRORS
from ..parser import DEFAULT_STATE_BYTES, split_state_bytes
from ..prefix import RDS_PREFIX, LinePrefix, PrefixError
from ..sinks import FORMATS, EventSink, OutputSink
from ..sources import InputError, text_problem
from ..sql import REDACT_MODES
from ..timestamps import TimestampError, TimestampParser

__all__ = [
    "PROG", "COMMANDS", "PARQUET_FORMAT", "fail", "make_parser", "add_output_arguments",
    "open_output", "check_inputs", "positive_int", "BROKEN_PIPE_STATUS", "reader_gone",
    "check_timezone", "ZoneWarnings", "byte_size", "report_state",
    "check_overwrites", "silence_stdout", "until_error", "Interrupted", "stop_on_sigterm",
    "interrupted", "account_id", "region_name", "unwritable", "writes_stdout",
    "no_line_matches", "no_prefix_fits",
]

PROG: Final = "pgaudit-parse"
_T = TypeVar("_T")
#: ``--format`` value of the Parquet sink (a directory, not a stream).
PARQUET_FORMAT: Final = "ocsf-parquet"
#: Widest padding accepted in ``--prefix`` (``%-20u`` pads to 20; PostgreSQL accepts any
#: width, but beyond this it is a typo, and the grammar grows with it).
MAX_PADDING: Final = 10_000

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


class Interrupted(KeyboardInterrupt):
    """A stop signal other than ^C (SIGTERM: a service manager, ``timeout``, ``kill``),
    raised where ^C raises :class:`KeyboardInterrupt`, so that both take the same clean
    path: output flushed (it ends with a whole line), worker processes and temporary files
    removed, one line on stderr."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def stop_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise :class:`Interrupted` in this (main) thread; returns what puts
    the previous handler back. Outside the main thread, nothing changes."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:  # not the main thread (a library caller's thread, a test)
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def interrupted(exc: KeyboardInterrupt) -> int:
    """Say in one line that a signal stopped the run; the status a shell gives a process
    that signal ended (128 + its number: 130 for ^C, 143 for SIGTERM)."""
    signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    name = signal.Signals(signum).name
    print(f"{PROG}: interrupted by {name}: the input was not read to its end "
          "(what was written ends with a whole line)", file=sys.stderr)
    return 128 + signum


def no_line_matches(name: str, spec: str, given: str, path: str | None = None) -> str:
    """The one line for an input none of whose lines the prefix reads; ``given`` is what
    ``--prefix`` said (``auto`` found no line to choose from: only continuation lines,
    empty lines or rejects, so suggesting it again would not help). When the file at
    ``path`` is not UTF-8 text (UTF-16, binary), that is the cause the line gives.

    >>> no_line_matches("a.log", "%m [%p] ", "%m [%p] ")
    "a.log: no line matches log_line_prefix '%m [%p] ' (check --prefix, or try --prefix auto)"
    >>> no_line_matches("a.log", "%m [%p] ", "auto").split("(")[1][:30]
    '--prefix auto found no line th'
    """
    problem = text_problem(path) if path is not None else None
    if problem is not None:
        return f"{name}: {problem}: no line matches log_line_prefix {spec!r}"
    if given == "auto":
        return (f"{name}: no line matches log_line_prefix {spec!r} (--prefix auto found no "
                "line that starts a message to choose from: only continuation or empty "
                "lines; pass --prefix)")
    return (f"{name}: no line matches log_line_prefix {spec!r} "
            "(check --prefix, or try --prefix auto)")


def no_prefix_fits(name: str, exc: Exception, path: str) -> str:
    """The one line for an input ``--prefix auto`` found no prefix for (``exc`` says so);
    when the file is not UTF-8 text (UTF-16, binary), the line says that first."""
    problem = text_problem(path)
    return f"{name}: {problem}: {exc}" if problem is not None else f"{name}: {exc}"


def fail(message: str) -> int:
    """Print ``pgaudit-parse: message`` on stderr; return exit status 2."""
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def until_error(lines: Iterator[_T], broken: list[InputError]) -> Iterator[_T]:
    """The lines (or entries) of one input up to where it cannot be read further; the
    reason is kept in ``broken`` (so what came before is still parsed and written)."""
    try:
        yield from lines
    except InputError as exc:
        broken.append(exc)


def silence_stdout() -> None:
    """Point stdout at /dev/null after a write to it failed (disk full, reader gone), so
    that the interpreter's own final flush cannot fail again with a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


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
    parser.add_argument("--lake-region", metavar="REGION", type=region_name,
                        help="ocsf-parquet: the region= partition (default: AWS_REGION)")
    parser.add_argument("--redact", choices=REDACT_MODES, default=None,
                        help="hide passwords or every constant in SQL and data (default: "
                             "passwords for records, ocsf and ecs, none for events; see "
                             "docs/sql.md)")
    parser.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    parser.add_argument("--errors", metavar="PATH",
                        help="dead-letter JSON lines for input that cannot be parsed")
    parser.add_argument("--account-id", metavar="ID", type=account_id,
                        help="AWS account id (12 digits) for dbName")
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
            _end_with_newline(path)
        # Never truncate (or replace) a device or pipe such as /dev/stdout.
        device = os.path.exists(path) and not os.path.isfile(path)
        # Input text has its lone surrogates escaped already (docs/input.md); one that
        # still reaches a line (inside a JSON string) is written as its JSON escape, the
        # same value, never a traceback.
        return open(path, "a" if append or device else "w", encoding="utf-8",
                    errors=TEXT_ERRORS)
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None


def _end_with_newline(path: str) -> None:
    """Before appending, end an existing file's last line with a LF if it has none.

    Bytes already in the file are never removed: a user's own last line without a newline
    stays as it was, and a record torn by a killed run stays as one torn line (it was never
    acknowledged, so its record is written again on the next line).
    """
    if not os.path.isfile(path):
        return
    try:
        with open(path, "rb+") as handle:
            size = handle.seek(0, 2)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                handle.seek(0, 2)
                handle.write(b"\n")
    except FileNotFoundError:
        return


class _Refused(InputError):
    """An output refused before opening (its message names the option and path)."""

    def __init__(self, message: str) -> None:
        super().__init__("", message)

    def __str__(self) -> str:
        return self.cause


def _identity(path: str) -> tuple[str, object]:
    """What a path is: ("file", (st_dev, st_ino)) for an existing regular file (links and
    symlinks resolved), ("new", real path) for one that does not exist yet, ("other", path)
    for devices, pipes and directories (never compared)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "new", os.path.realpath(path)
    except OSError:
        return "other", path
    if stat.S_ISREG(info.st_mode):
        return "file", (info.st_dev, info.st_ino)
    return "other", path


_DESCRIPTOR_PATH: Final = re.compile(r"/(?:proc/(?:self|\d+)|dev)/fd/(\d+)")


def _closed_descriptor(path: str) -> str | None:
    """Why a path that names a descriptor (``/dev/stdin``, ``/dev/fd/N``,
    ``/proc/self/fd/N``) is missing: the descriptor is closed (``<&-``); else None."""
    match = _DESCRIPTOR_PATH.fullmatch(os.path.realpath(path))
    if match is None:
        return None
    number = int(match.group(1))
    return ("standard input is closed" if number == 0
            else f"file descriptor {number} is not open")


def _missing(path: str) -> bool:
    """True when ``path`` does not exist (not: cannot be looked up for another cause)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return False


def _fd_identity(fd: int) -> tuple[str, object] | None:
    """The :func:`_identity` of an open descriptor when it is a regular file, else None."""
    try:
        info = os.fstat(fd)
    except OSError:
        return None
    return ("file", (info.st_dev, info.st_ino)) if stat.S_ISREG(info.st_mode) else None


def check_overwrites(inputs: Sequence[str], outputs: Sequence[tuple[str, str | None]],
                     stdout: bool = False) -> str | None:
    """Refuse an output that is an input or another output, before anything is opened.

    ``outputs`` are (option, path) pairs such as ("--output", "x.jsonl"); None and "-" are
    skipped. Files are compared by device and inode (so a hard link or symlink to an input
    is caught), paths that do not exist yet by their resolved name; standard input counts
    as the file it is redirected from, and with ``stdout`` (it is written to) standard
    output as the file it is redirected to (``pgaudit-parse f.log >> f.log``).

    >>> check_overwrites([], [("--output", "a.jsonl"), ("--errors", "./a.jsonl")])
    '--errors ./a.jsonl is also --output: refusing to write both to one file'
    """
    seen: dict[tuple[str, object], str] = {}
    for path in inputs:
        if path == "-":
            redirected = _fd_identity(0)
            if redirected is not None:
                seen[redirected] = "input <stdin>"
            continue
        kind = _identity(path)
        if kind[0] == "file":
            seen.setdefault(kind, f"input {path}")
    redirected = _fd_identity(1) if stdout else None
    if redirected is not None:
        if redirected in seen:
            return (f"standard output is {seen[redirected]}: refusing to overwrite an input "
                    "(redirect it elsewhere, or use --output PATH)")
        seen[redirected] = "standard output"
    for option, target in outputs:
        if not target or target == "-":
            continue
        path = target
        kind = _identity(path)
        if kind[0] == "other":
            continue
        if kind in seen:
            what = seen[kind]
            if what.startswith("input "):
                return (f"{option} {path} is {what}: refusing to overwrite an input "
                        "(choose another path)")
            return f"{option} {path} is also {what}: refusing to write both to one file"
        seen[kind] = option
    return None


def unwritable(sink: EventSink, args: argparse.Namespace) -> str:
    """After a write failed (a full disk...): the output that fails, named as the user gave
    it, found by flushing each stream again; both names when neither fails now."""
    output = args.output if args.output and args.output != "-" else "standard output"
    errors = "standard output" if args.errors == "-" else args.errors
    for stream, name in ((getattr(sink, "out", None), output),
                         (getattr(sink, "errors", None), errors)):
        if stream is None or name is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            return name
    return " or ".join(name for name in (output, errors) if name)


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


def abandon(sink: object) -> None:
    """A run stops before its input was read (^C, SIGTERM, an error): a sink that commits
    output in whole files (the Parquet sink) drops what it holds for input not read to
    the end, so that a run again over the input writes it once (docs/formats.md). Others
    have nothing to drop (their lines are written as they come)."""
    abort = getattr(sink, "abort", None)
    if abort is not None:
        try:
            abort()
        except OSError:
            pass


def open_output(args: argparse.Namespace, append: bool = False) -> EventSink:
    """The sink for ``--format/--output/--errors/--account-id/--instance``.

    With ``append``, files are continued rather than truncated (a consumer restarted after
    acknowledging what it wrote must keep it); a last line left without its LF (by a user,
    or torn by a killed run) gets one: nothing is removed. An output that is an input or
    the other output is refused before anything is opened. Raises
    :class:`~pgaudit_parse.sources.InputError` when a path cannot be opened.
    """
    problem = check_overwrites(getattr(args, "files", None) or (),
                               [("--output", args.output), ("--errors", args.errors)],
                               stdout=writes_stdout(args))
    if problem is not None:
        raise _Refused(problem)
    if args.format == PARQUET_FORMAT:
        return _open_parquet(args, append)
    owned: list[IO[str]] = []
    try:
        if args.output and args.output != "-":
            out = _open_write(args.output, append)
            owned.append(out)
        elif sys.stdout is None:  # started with stdout closed (`>&-`)
            raise InputError("standard output", "closed (give --output PATH)")
        else:
            out = sys.stdout
        errors = _open_errors(args, append)
    except InputError:
        for stream in owned:
            stream.close()
        raise
    if errors is not None and errors is not sys.stdout:
        owned.append(errors)
    held_bytes = split_state_bytes(getattr(args, "state_bytes", DEFAULT_STATE_BYTES))[1]
    return OutputSink(out, errors, args.format, args.account_id, args.instance, tuple(owned),
                      values=getattr(args, "values", "connector"), held_bytes=held_bytes,
                      redact=getattr(args, "redact", None))


def _open_errors(args: argparse.Namespace, append: bool) -> IO[str] | None:
    """The dead-letter stream of ``--errors``: a file, or standard output for ``-`` (as
    for ``--output``) when the records do not go there too."""
    if not args.errors:
        return None
    if args.errors != "-":
        return _open_write(args.errors, append)
    if args.format != PARQUET_FORMAT and (not args.output or args.output == "-"):
        raise _Refused("--errors - is also --output (standard output): refusing to write "
                       "both to one stream (give --errors or --output a PATH)")
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        raise InputError("standard output", "closed (give --errors PATH)")
    return sys.stdout


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
    if _REGION.fullmatch(region) is None:  # from the environment (--lake-region is checked)
        raise InputError("AWS_REGION", f"not an AWS region for the region= partition: "
                                       f"{region!r} (pass --lake-region)")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise InputError(args.output, "not a directory")
    errors = _open_errors(args, append)
    try:
        return OcsfParquetSink(args.output, region, args.account_id, args.instance, errors,
                               owned=(errors,) if errors not in (None, sys.stdout) else (),
                               redact=getattr(args, "redact", None))
    except ParquetUnavailable as exc:
        if errors is not None and errors is not sys.stdout:
            errors.close()
        raise InputError("--format ocsf-parquet", str(exc)) from None


_ACCOUNT_ID = re.compile(r"\d{12}")
#: An AWS region name: us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1...
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")


def account_id(text: str) -> str:
    """An AWS account id, 12 digits (it becomes part of dbName and a Security Lake path).

    >>> account_id("123456789012")
    '123456789012'
    """
    if _ACCOUNT_ID.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(f"not an AWS account id: {text!r} (12 digits)")
    return text


def region_name(text: str) -> str:
    """An AWS region name such as eu-west-1 (it becomes part of ARNs and a Security Lake
    path).

    >>> region_name("us-gov-west-1")
    'us-gov-west-1'
    """
    if _REGION.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(f"not an AWS region: {text!r} (e.g. eu-west-1)")
    return text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def writes_stdout(args: argparse.Namespace) -> bool:
    """Whether the records of ``--output``/``--format`` go to standard output."""
    return args.format != PARQUET_FORMAT and (not args.output or args.output == "-")


def check_inputs(prefix: str, paths: Sequence[str],
                 outputs: Sequence[tuple[str, str | None]] = (),
                 stdout: bool = False) -> str | None:
    """What is wrong with ``--prefix``, the input paths and the output paths (one that is
    an input or another output, standard output included with ``stdout``:
    :func:`check_overwrites`) before reading, or None."""
    if prefix != "auto":
        widths = [int(width) for width in re.findall(r"%-?(\d+)", prefix.replace("%%", ""))]
        if widths and max(widths) > MAX_PADDING:
            # A padded escape costs the grammar memory in proportion to its width.
            return (f"--prefix: padding width {max(widths)} is too large "
                    f"(at most {MAX_PADDING})")
        try:
            LinePrefix(prefix)
        except PrefixError as exc:
            return f"--prefix: {exc}"
        except (OverflowError, ValueError, MemoryError, RecursionError) as exc:
            # e.g. a padding width past what a regular expression can repeat
            return f"--prefix: cannot be compiled: {exc}"
    for path in paths:
        # Only a path that is not there stops the run here; one that cannot be reached
        # (a directory that cannot be searched, a symlink loop) is named by its reader,
        # with its cause, and the other inputs are read.
        if path != "-" and not os.path.exists(path) and _missing(path):
            closed = _closed_descriptor(path)
            if closed is not None:
                return f"{path}: {closed}"
            return f"{path}: no such file"
    if paths.count("-") > 1:
        return "'-' (standard input) given more than once"
    if "-" in paths:
        again = _standard_input_again(paths)
        if again is not None:
            return f"{again}: is standard input, given as '-' too (read it once)"
    again = _fifo_again(paths)
    if again is not None:
        return (f"{again}: a FIFO given more than once (what it gives is read once; "
                "reading it again would wait for another writer)")
    return check_overwrites(paths, outputs, stdout)


def _stats(paths: Sequence[str]) -> Iterator[tuple[str, os.stat_result]]:
    """Each path but ``-`` with what ``os.stat`` says of it (those it cannot stat are left
    out: opening them gives the error)."""
    for path in paths:
        if path == "-":
            continue
        try:
            yield path, os.stat(path)
        except (OSError, ValueError):
            continue


def _fifo_again(paths: Sequence[str]) -> str | None:
    """The first path naming a FIFO named before (maybe by another path)."""
    seen: set[tuple[int, int]] = set()
    for path, info in _stats(paths):
        if not stat.S_ISFIFO(info.st_mode):
            continue
        if (info.st_dev, info.st_ino) in seen:
            return path
        seen.add((info.st_dev, info.st_ino))
    return None


def _standard_input_again(paths: Sequence[str]) -> str | None:
    """The first path that opens standard input (``/dev/stdin``, ``/dev/fd/0``...): with
    ``-`` it would be read twice (a pipe gives nothing the second time; a file, all of it
    again)."""
    try:
        stdin = os.fstat(0)
    except OSError:
        return None
    for path, info in _stats(paths):
        if (info.st_dev, info.st_ino) == (stdin.st_dev, stdin.st_ino):
            return path
    return None
