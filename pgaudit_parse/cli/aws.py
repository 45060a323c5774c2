"""The ``cloudwatch``, ``sqs``, ``forward`` and ``rds-logs`` subcommands (thin shells over
the library).

::

    pgaudit-parse cloudwatch --log-group /aws/rds/instance/db1/postgresql \\
        --checkpoint db1.checkpoint --output db1.jsonl --errors db1.rejects
    pgaudit-parse sqs --queue-url https://sqs.eu-west-1.amazonaws.com/1111/pg --follow
    pgaudit-parse forward --log-group /aws/rds/instance/db1/postgresql \\
        --queue-url https://sqs.eu-west-1.amazonaws.com/1111/pg \\
        --checkpoint-parameter LastExecutionTimestamp

Each function takes the arguments after the subcommand name and returns the exit status:
0 done, 2 usage or setup error (one line on stderr, no traceback), 130 interrupted.

>>> parse_start_time("2026-11-25T16:00:00Z")
1795622400000
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Final

from ..aws.checkpoint import CheckpointFile, ParameterCheckpoint
from ..aws.clients import add_aws_arguments, make_client, settings_from
from ..aws.cloudwatch import CloudWatchReader, now_ms, resolve_log_groups
from ..aws.errors import AwsSetupError, explain, hide_credentials
from ..aws.forwarder import DEFAULT_LAG_MS, MIN_MESSAGE_BYTES, Forwarder
from ..aws.messages import LEGACY_BODY_BYTES, MAX_BODY_BYTES
from ..aws.naming import instance_from_log_group
from ..aws.sqs import DEFAULT_REORDER_SECONDS, SqsConsumer
from ..parser import split_state_bytes
from ..prefix import RDS_PREFIX, LinePrefix
from ..sinks import EventSink
from ..sources import InputError
from .common import (
    PROG,
    Interrupted,
    abandon,
    add_output_arguments,
    check_inputs,
    check_timezone,
    fail,
    interrupted,
    make_parser,
    open_output,
    reader_gone,
    report_state,
    silence_stdout,
)
from .progress import Progress

__all__ = ["cloudwatch_main", "sqs_main", "forward_main", "rds_logs_main", "parse_start_time"]

#: Without a checkpoint, --start-time or --from-beginning, reading starts this far back.
DEFAULT_LOOKBACK_MS = 5 * 60 * 1000


def parse_start_time(text: str) -> int:
    """An ISO 8601 time (UTC when it has no offset) as epoch milliseconds.

    >>> parse_start_time("2026-11-25 17:00:00+01:00")
    1795622400000
    """
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _seconds(option: str) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds, 0 or more (``inf``/``nan`` refused)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not math.isfinite(value) or value < 0 or value > 366 * 86400:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a number of seconds between 0 and a year")
        return value

    parse.__name__ = option  # argparse names the type in its message
    return parse


def _count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (the service's own limits,
    so that a bad value is a usage error, not a request that AWS refuses)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


#: FilterLogEvents' ``limit``; SQS's VisibilityTimeout; DownloadDBLogFilePortion's lines.
_PAGE_SIZE: Final = _count(1, 10_000)
_VISIBILITY: Final = _count(0, 43_200)
_LINES_PER_PAGE: Final = _count(1, 10_000)
#: What an SQS queue URL starts like (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or an
#: emulator's http://HOST:PORT/ACCOUNT/NAME): a queue's name or ARN is not one.
_QUEUE_URL = re.compile(r"https?://[^/\s]+(?:/\S*)?")


def _queue_url(text: str) -> str:
    """An argparse type: a queue URL (a queue name or ARN is not one)."""
    if _QUEUE_URL.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(
            f"not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME): "
            f"{hide_credentials(text)!r}")
    return text


def _add_start_arguments(parser: argparse.ArgumentParser) -> None:
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--start-time", metavar="ISO8601",
                       help="where to start when there is no checkpoint yet "
                            "(default: 5 minutes ago)")
    start.add_argument("--from-beginning", action="store_true",
                       help="start at the oldest event when there is no checkpoint yet")


def _start_ms(args: argparse.Namespace) -> int:
    if args.from_beginning:
        return 0
    if args.start_time:
        return parse_start_time(args.start_time)
    return now_ms() - DEFAULT_LOOKBACK_MS


def _prefix_of(args: argparse.Namespace) -> str | LinePrefix:
    """``--prefix``, read in ``--timezone`` when one is given."""
    zone = getattr(args, "timezone", None)
    return LinePrefix(args.prefix, timezone=zone) if zone else args.prefix


def _check_prefix(prefix: str) -> str | None:
    if prefix == "auto":
        return "--prefix auto is only for files; give the server's log_line_prefix"
    return check_inputs(prefix, ())


class _FollowProgress:
    """Progress of a reading command on a terminal: inputs read, records written, lag."""

    def __init__(self, label: str, args: argparse.Namespace, sink: EventSink) -> None:
        self._progress = Progress.for_follow(label, stream=sys.stderr, enabled=not args.quiet,
                                             data=getattr(sink, "out", None))
        self._sink = sink
        self._written = sink.written

    def __call__(self, count: int, newest: float | None) -> None:
        written, self._written = self._sink.written - self._written, self._sink.written
        self._progress.update(lines=count, records=written, newest=newest)

    def close(self) -> None:
        self(0, None)  # records released at the end (held for their duration lines)
        self._progress.close()



def _report(name: str, args: argparse.Namespace, sink: EventSink, extra: str) -> None:
    if args.quiet:
        return
    where = f" (see {args.errors})" if args.errors and sink.rejected else ""
    print(f"{PROG} {name}: {extra}, {sink.written} written, {sink.rejected} rejected{where}",
          file=sys.stderr)


def _run(name: str, body: Callable[[], int], stop: threading.Event | None = None,
         args: argparse.Namespace | None = None) -> int:
    """Run a command body: setup errors -> one line and exit 2.

    Without ``stop``, SIGTERM and ^C interrupt at once (one line, exit 128 + the signal's
    number: 130 for ^C, 143 for SIGTERM; checkpoints are always consistent). With ``stop``
    (follow modes), they set it: the body finishes the slice or batch in hand, checkpoints
    and returns 0; a second ^C interrupts at once.
    """
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.getsignal(number) for number in signals}

    def terminate(signum: int, frame: object) -> None:
        if stop is None or stop.is_set():
            raise Interrupted(signum)
        stop.set()

    try:
        for number in signals:
            signal.signal(number, terminate)
    except ValueError:  # not the main thread (e.g. called from a test thread)
        previous = {}
    try:
        return body()
    except AwsSetupError as exc:
        return fail(f"{name}: {exc}")
    except InputError as exc:
        return fail(f"{name}: {exc}")
    except KeyboardInterrupt as exc:
        return interrupted(exc)
    except BrokenPipeError:
        return reader_gone()
    except OSError as exc:  # writing the output failed (disk full...): nothing acknowledged
        output = getattr(args, "output", None)
        errors = getattr(args, "errors", None)
        if not output or output == "-":
            silence_stdout()
        targets = [output if output and output != "-" else "standard output"]
        targets += [errors] if errors else []
        return fail(f"{name}: cannot write {' or '.join(targets)}: {exc.strerror or exc} "
                    f"(nothing unwritten was acknowledged)")
    except Exception as exc:  # botocore errors outside the library's own wrappers
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, BotoCoreError | ClientError):
            return fail(f"{name}: {explain(exc, 'talking to AWS')}")
        raise
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def cloudwatch_main(argv: Sequence[str]) -> int:
    """``pgaudit-parse cloudwatch``: read log groups, write records or events."""
    parser = make_parser(f"{PROG} cloudwatch",
                         "Read PostgreSQL logs from CloudWatch Logs (FilterLogEvents) into "
                         "Guardium records or events, with a durable checkpoint.")
    parser.add_argument("--log-group", action="append", default=[], metavar="NAME",
                        help="log group to read (repeatable), e.g. "
                             "/aws/rds/instance/db1/postgresql")
    parser.add_argument("--log-group-prefix", metavar="P",
                        help="also read every log group whose name starts with P")
    _add_start_arguments(parser)
    parser.add_argument("--filter-pattern", metavar="PATTERN",
                        help="CloudWatch filter pattern, e.g. '?delete ?DELETE'")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="file that remembers what was read (resume after restart)")
    parser.add_argument("--follow", action="store_true",
                        help="keep reading new events (stop with ^C or SIGTERM)")
    parser.add_argument("--poll-seconds", type=_seconds("--poll-seconds"), default=10.0,
                        metavar="N",
                        help="with --follow: pause between reads (default: %(default)s)")
    parser.add_argument("--lag", type=_seconds("--lag"), default=0.0, metavar="SECONDS",
                        help="read only up to now minus this (events still being ingested)")
    parser.add_argument("--page-size", type=_PAGE_SIZE, metavar="N",
                        help="events per FilterLogEvents page (default: the service's)")
    add_aws_arguments(parser)
    add_output_arguments(parser)
    args = parser.parse_args(list(argv))
    if not args.log_group and not args.log_group_prefix:
        return fail("cloudwatch: give --log-group NAME or --log-group-prefix P")
    problem = _check_prefix(args.prefix) or check_timezone(args.timezone)
    if problem:
        return fail(f"cloudwatch: {problem}")
    try:
        start = _start_ms(args)
    except ValueError as exc:
        return fail(f"cloudwatch: --start-time: {exc}")

    def body() -> int:
        settings = settings_from(args)
        logs = make_client("logs", settings)
        groups = resolve_log_groups(logs, args.log_group, args.log_group_prefix)
        store = CheckpointFile(args.checkpoint) if args.checkpoint else None
        sink = open_output(args, append=bool(args.checkpoint))
        progress = _FollowProgress(", ".join(groups), args, sink)
        reader = CloudWatchReader(
            logs, groups, sink, prefix=_prefix_of(args), store=store, start_ms=start,
            filter_pattern=args.filter_pattern, page_size=args.page_size,
            instance=args.instance,
            on_slice=lambda group, first, last, count: progress(count, last / 1000),
            max_state_bytes=split_state_bytes(args.state_bytes)[0])
        lag = int(args.lag * 1000)
        try:
            while True:
                reader.poll(now_ms() - lag, stop.is_set)
                if not args.follow or stop.wait(max(0.0, args.poll_seconds)):
                    break
            reader.finish()
        except BaseException:
            abandon(sink)  # (what it holds was not acknowledged: read again next run)
            raise
        finally:
            progress.close()
            sink.close()
        _report("cloudwatch", args, sink, f"{reader.events_read} CloudWatch events read")
        if not args.quiet:
            report_state(reader.evicted_statements, reader.unresolved_statements,
                         sink.released_early)
        return 0

    stop = threading.Event()
    return _run("cloudwatch", body, stop if args.follow else None, args)


def sqs_main(argv: Sequence[str]) -> int:
    """``pgaudit-parse sqs``: consume a queue, write records or events, then delete."""
    parser = make_parser(f"{PROG} sqs",
                         "Consume SQS messages (this project's forwarder or the seed Lambda) "
                         "into Guardium records or events; delete after writing.")
    parser.add_argument("--queue-url", required=True, metavar="URL", type=_queue_url,
                        help="the queue to consume, e.g. "
                             "https://sqs.eu-west-1.amazonaws.com/123456789012/pgaudit")
    parser.add_argument("--follow", action="store_true",
                        help="keep polling (default: stop when a receive returns nothing)")
    parser.add_argument("--wait-seconds", type=int, metavar="N",
                        help="long-poll wait, 0-20 (default: 20 with --follow, else 2)")
    parser.add_argument("--batch-size", type=int, default=10, metavar="N",
                        help="messages per receive, 1-10 (default: %(default)s)")
    parser.add_argument("--visibility-timeout", type=_VISIBILITY, metavar="SECONDS",
                        help="hide received messages this long, extended while processing "
                             "(default: the queue's)")
    parser.add_argument("--reorder-window", type=_seconds("--reorder-window"),
                        default=DEFAULT_REORDER_SECONDS, metavar="SECONDS",
                        help="seed Lambda messages (one CloudWatch event each) wait this long "
                             "for earlier events of their stream (default: %(default)s)")
    add_aws_arguments(parser)
    add_output_arguments(parser)
    args = parser.parse_args(list(argv))
    problem = _check_prefix(args.prefix) or check_timezone(args.timezone)
    if problem:
        return fail(f"sqs: {problem}")
    wait = args.wait_seconds if args.wait_seconds is not None else (20 if args.follow else 2)
    if not 0 <= wait <= 20:
        return fail("sqs: --wait-seconds must be between 0 and 20")
    if not 1 <= args.batch_size <= 10:
        return fail("sqs: --batch-size must be between 1 and 10")

    def body() -> int:
        sqs = make_client("sqs", settings_from(args))
        sink = open_output(args, append=True)
        progress = _FollowProgress(hide_credentials(args.queue_url), args, sink)
        try:
            consumer = SqsConsumer(sqs, args.queue_url, sink, prefix=_prefix_of(args),
                                   wait_seconds=wait, visibility_timeout=args.visibility_timeout,
                                   instance=args.instance, batch_size=args.batch_size,
                                   reorder_seconds=args.reorder_window,
                                   on_batch=lambda count: progress(count, None))
            consumer.run(follow=args.follow, stop=stop)
        except BaseException:
            abandon(sink)  # (what it holds was not acknowledged: read again next run)
            raise
        finally:
            progress.close()
            sink.close()
        _report("sqs", args, sink, f"{consumer.messages} messages")
        if not args.quiet:
            report_state(0, 0, sink.released_early)
        return 0

    stop = threading.Event()
    return _run("sqs", body, stop if args.follow else None, args)


def forward_main(argv: Sequence[str]) -> int:
    """``pgaudit-parse forward``: one run of the CloudWatch -> SQS forwarder."""
    parser = make_parser(f"{PROG} forward",
                         "Forward a CloudWatch log group to SQS as JSON messages (one run of "
                         "the scheduled forwarder), checkpointed in an SSM parameter.")
    parser.add_argument("--log-group", required=True, metavar="NAME",
                        help="log group to forward, e.g. /aws/rds/instance/db1/postgresql")
    parser.add_argument("--queue-url", required=True, metavar="URL", type=_queue_url,
                        help="queue that receives the JSON messages")
    parser.add_argument("--checkpoint-parameter", metavar="NAME",
                        help="SSM parameter holding the checkpoint (e.g. LastExecutionTimestamp)")
    _add_start_arguments(parser)
    parser.add_argument("--lag", type=_seconds("--lag"), default=DEFAULT_LAG_MS / 1000,
                        metavar="SECONDS",
                        help="stop this far behind now, while CloudWatch still ingests "
                             "(default: %(default)s)")
    parser.add_argument("--filter-pattern", metavar="PATTERN",
                        help="CloudWatch filter pattern, e.g. '?delete ?DELETE'")
    parser.add_argument("--prefix", default=RDS_PREFIX, metavar="PREFIX",
                        help="log_line_prefix, to keep each message's lines together "
                             "(default: %(default)s)")
    parser.add_argument("--page-size", type=_PAGE_SIZE, metavar="N",
                        help="events per FilterLogEvents page (default: the service's)")
    parser.add_argument("--max-message-bytes", "--message-bytes", type=int, default=None,
                        metavar="N", dest="message_bytes",
                        help=f"largest SQS message body, {MIN_MESSAGE_BYTES} to "
                             f"{MAX_BODY_BYTES} (default: the queue's MaximumMessageSize, "
                             f"or {LEGACY_BODY_BYTES} when it cannot be read)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    parser.add_argument("--debug", action="store_true", help="log each slice on stderr")
    add_aws_arguments(parser)
    args = parser.parse_args(list(argv))
    problem = _check_prefix(args.prefix)
    if problem:
        return fail(f"forward: {problem}")
    if args.message_bytes is not None and not (
            MIN_MESSAGE_BYTES <= args.message_bytes <= MAX_BODY_BYTES):
        return fail(f"forward: --max-message-bytes must be between {MIN_MESSAGE_BYTES} and "
                    f"{MAX_BODY_BYTES} (SQS's limit)")
    try:
        start = _start_ms(args)
    except ValueError as exc:
        return fail(f"forward: --start-time: {exc}")
    if args.debug:
        _debug_logging("forward")

    def body() -> int:
        settings = settings_from(args)
        logs = make_client("logs", settings)
        sqs = make_client("sqs", settings)
        store = None
        if args.checkpoint_parameter:
            store = ParameterCheckpoint(make_client("ssm", settings), args.checkpoint_parameter)
        elif not args.quiet:
            print(f"{PROG} forward: no --checkpoint-parameter: every run starts at the start "
                  f"time", file=sys.stderr)
        forwarder = Forwarder(logs, sqs, args.log_group, args.queue_url, store,
                              prefix=args.prefix, lag_ms=int(args.lag * 1000), start_ms=start,
                              filter_pattern=args.filter_pattern, page_size=args.page_size,
                              message_bytes=args.message_bytes)
        try:
            result = forwarder.run(now_ms())
        except ValueError as exc:  # an event too large for SQS even compressed
            raise AwsSetupError(str(exc)) from exc
        if not args.quiet:
            instance = instance_from_log_group(args.log_group)
            name = f" ({instance})" if instance else ""
            print(f"{PROG} forward: {result.events} events{name} in {result.messages} "
                  f"messages, window {_iso(result.start)} .. {_iso(result.end)}",
                  file=sys.stderr)
        return 0

    return _run("forward", body, args=args)


def _debug_logging(name: str) -> None:
    """Our own debug lines on stderr (slices, counts, ids), and nothing else: the root
    logger is left alone, so botocore's wire logging (credentials, session token, message
    bodies with SQL) stays off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG} {name}: %(message)s"))
    ours = logging.getLogger("pgaudit_parse")
    ours.addHandler(handler)
    ours.setLevel(logging.DEBUG)
    ours.propagate = False


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(max(ms, 0) / 1000, timezone.utc).isoformat(
        timespec="milliseconds")


def rds_logs_main(argv: Sequence[str]) -> int:
    """``pgaudit-parse rds-logs``: read an instance's log files through the RDS API."""
    parser = make_parser(f"{PROG} rds-logs",
                         "Read an RDS/Aurora instance's PostgreSQL log files through the RDS "
                         "API (DescribeDBLogFiles, DownloadDBLogFilePortion) into records, "
                         "events, OCSF or ECS, with a durable checkpoint; for instances that "
                         "do not export their logs to CloudWatch.")
    parser.add_argument("--db-instance-identifier", "--db-instance", required=True,
                        metavar="ID", dest="db_instance", help="the DB instance to read")
    parser.add_argument("--since", metavar="ISO8601",
                        help="only files written since then (default: every file listed)")
    parser.add_argument("--file-contains", metavar="TEXT",
                        help="only log files whose name contains TEXT (e.g. 2026-11-25)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="file that remembers what was read (resume after restart)")
    parser.add_argument("--follow", action="store_true",
                        help="keep reading new lines (stop with ^C or SIGTERM)")
    parser.add_argument("--poll-seconds", type=_seconds("--poll-seconds"), default=30.0,
                        metavar="N",
                        help="with --follow: pause between passes (default: %(default)s)")
    parser.add_argument("--lines-per-page", type=_LINES_PER_PAGE, default=2000, metavar="N",
                        help="lines per DownloadDBLogFilePortion (default: %(default)s)")
    add_aws_arguments(parser)
    add_output_arguments(parser)
    args = parser.parse_args(list(argv))
    problem = _check_prefix(args.prefix) or check_timezone(args.timezone)
    if problem:
        return fail(f"rds-logs: {problem}")
    try:
        since = parse_start_time(args.since) if args.since else None
    except ValueError as exc:
        return fail(f"rds-logs: --since: {exc}")
    if args.instance is None:
        args.instance = args.db_instance

    def body() -> int:
        from ..aws.rds_logs import DEFAULT_HOLD_MS, RdsCheckpointFile, RdsLogReader

        rds = make_client("rds", settings_from(args))
        store = RdsCheckpointFile(args.checkpoint) if args.checkpoint else None
        sink = open_output(args, append=bool(args.checkpoint))
        progress = _FollowProgress(args.db_instance, args, sink)
        reader = RdsLogReader(rds, args.db_instance, sink, _prefix_of(args), store=store,
                              since_ms=since, name_contains=args.file_contains,
                              lines_per_page=args.lines_per_page,
                              on_page=lambda name, count: progress(count, None),
                              # an open last message waits only for a next poll or run
                              hold_ms=DEFAULT_HOLD_MS if args.follow or store else 0)
        try:
            while True:
                reader.poll(stop.is_set)
                if not args.follow or stop.wait(max(0.0, args.poll_seconds)):
                    break
        except BaseException:
            abandon(sink)  # (what it holds was not acknowledged: read again next run)
            raise
        finally:
            progress.close()
            sink.close()
        _report("rds-logs", args, sink,
                f"{reader.lines_read} lines in {reader.portions} portions read")
        return 0

    stop = threading.Event()
    return _run("rds-logs", body, stop if args.follow else None, args)
