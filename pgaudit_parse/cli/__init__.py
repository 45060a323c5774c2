"""``pgaudit-parse``: every command shell, above all pipeline stages.

The first argument names a subcommand (``cloudwatch``, ``sqs``, ``forward``, ``rds``,
``rds-logs``, ``iam-policy``, ``doctor``, ``summary``, ``subscribe``); anything else is
file mode (:mod:`~pgaudit_parse.cli.files`). A file that happens to have a subcommand's
name is read as ``./NAME``. Each command's module is imported only when it runs, so file
mode needs neither boto3 nor the operations code.

Nothing below this package imports it: shells call the library, never the reverse.

>>> sorted(SUBCOMMANDS)  # doctest: +NORMALIZE_WHITESPACE
['cloudwatch', 'doctor', 'forward', 'iam-policy', 'rds', 'rds-logs', 'sqs', 'subscribe',
 'summary']
"""

from __future__ import annotations

import difflib
import fcntl
import io
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Final, TextIO

from .common import PROG, fail, interrupted, reader_gone, silence_stdout, stop_on_sigterm

__all__ = ["main", "console", "SUBCOMMANDS", "PROG"]


def _cloudwatch(argv: list[str]) -> int:
    from .aws import cloudwatch_main
    return cloudwatch_main(argv)


def _sqs(argv: list[str]) -> int:
    from .aws import sqs_main
    return sqs_main(argv)


def _forward(argv: list[str]) -> int:
    from .aws import forward_main
    return forward_main(argv)


def _rds(argv: list[str]) -> int:
    from .ops import rds_main
    return rds_main(argv)


def _rds_logs(argv: list[str]) -> int:
    from .aws import rds_logs_main
    return rds_logs_main(argv)


def _iam_policy(argv: list[str]) -> int:
    from .ops import iam_policy_main
    return iam_policy_main(argv)


def _doctor(argv: list[str]) -> int:
    from .ops import doctor_main
    return doctor_main(argv)


def _subscribe(argv: list[str]) -> int:
    from .ops import subscribe_main
    return subscribe_main(argv)


def _summary(argv: list[str]) -> int:
    from .summary import summary_main
    return summary_main(argv)


#: Subcommand name -> its shell; each takes the arguments after the name, returns a status.
SUBCOMMANDS: Final[dict[str, Callable[[list[str]], int]]] = {
    "cloudwatch": _cloudwatch,
    "sqs": _sqs,
    "forward": _forward,
    "rds": _rds,
    "rds-logs": _rds_logs,
    "iam-policy": _iam_policy,
    "doctor": _doctor,
    "summary": _summary,
    "subscribe": _subscribe,
}


def _run_subcommand(name: str, argv: list[str]) -> int:
    try:
        return int(SUBCOMMANDS[name](argv))
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if missing and missing.split(".")[0] in ("boto3", "botocore"):
            return fail(f"'{name}' needs the aws extra: pip install -e '.[aws]'")
        return fail(f"'{name}' is not available: {exc}")


def suggest_command(word: str) -> str | None:
    """The subcommand ``word`` most likely misspells, if it is close to one.

    >>> suggest_command("summry"), suggest_command("postgresql.log")
    ('summary', None)
    """
    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.6)
    return close[0] if close else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    restore = stop_on_sigterm()  # SIGTERM ends a run the way ^C does
    with warnings.catch_warnings():
        # The library's warnings (an ambiguous zone abbreviation...) as one line each.
        warnings.showwarning = _one_line_warning
        try:
            if args_list and args_list[0] in SUBCOMMANDS:
                return _flushed(_run_subcommand(args_list[0], args_list[1:]))
            if (args_list and not args_list[0].startswith("-")
                    and not os.path.exists(args_list[0])):
                meant = suggest_command(args_list[0])
                if meant is not None:
                    return fail(f"{args_list[0]!r} is neither a file nor a command; "
                                f"did you mean {meant!r}?")
            from .files import files_main
            return _flushed(files_main(args_list))
        except BrokenPipeError:
            return reader_gone()
        except KeyboardInterrupt as exc:
            return interrupted(exc)
        finally:
            restore()


def _flushed(status: int) -> int:
    """Flush stdout: a closed pipe or a full disk shows here, as one line (or quietly, for
    a pipe), not as a traceback at exit; stdout may be closed (None) from the start."""
    if sys.stdout is None:
        return status
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return reader_gone()
    except OSError as exc:  # e.g. `> /dev/full`
        silence_stdout()
        return fail(f"cannot write standard output: {exc.strerror or exc}")
    return status


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    print(f"{PROG}: warning: {message}", file=file if file is not None else sys.stderr)


def _utf8_stdio() -> None:
    """UTF-8 stdio; a lone surrogate that still reaches it (input text has them escaped
    already) is written as ``\\ud800``: inside a JSON string, the same value, and never a
    traceback."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and (
                stream.encoding.lower() != "utf-8" or stream.errors != "backslashreplace"):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")


def _stderr_to_devnull_if_closed() -> None:
    """Started with standard error closed (``2>&-``): messages go to /dev/null. (Python
    sets ``sys.stderr`` to None, and ``print(file=None)`` writes to stdout, into the
    records; descriptor 2 would be handed to the next file opened; and a launcher script
    may have left its own read-only descriptor there, where a message is an error.)"""
    try:
        writable = fcntl.fcntl(2, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
    except OSError:
        writable = False
    if writable and sys.stderr is not None:
        return
    if not writable:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 2:
            os.dup2(fd, 2)
            os.close(fd)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)


def console() -> None:  # pragma: no cover - thin wrapper
    """Console-script wrapper: UTF-8 stdio, then :func:`main`."""
    _stderr_to_devnull_if_closed()
    _utf8_stdio()
    status = _flushed(main())
    raise SystemExit(status)

