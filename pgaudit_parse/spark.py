"""Spark for archives: log files (local, or ``s3://`` with the aws extra) -> events or output.

Extra ``pgaudit-parse[spark]`` (PySpark). Each input file is one task, read start to end by
the same parser the CLI uses, so a multi-line message and a ``<previously logged>`` line
never straddle two tasks; files run in parallel across the cluster. A file may be anything
the CLI reads (a server log, ``.gz``, a CloudWatch JSON export or SQS bodies), or a file of
a CloudWatch Logs export to S3 (each event as ``2026-11-25T16:05:01.000Z message``).

* :func:`read_events`: a DataFrame of events; its columns are the ``--format events`` keys
  with the same values (:data:`EVENT_COLUMNS`), plus ``event_time`` as a Spark timestamp.
* :func:`output_lines` / :func:`write_output`: the CLI's output (``records``, ``events``
  or any other ``--format``), one JSON object per line, as text files.

Example (local mode)::

    from pyspark.sql import SparkSession
    from pgaudit_parse.spark import read_events, write_output
    spark = SparkSession.builder.master("local[2]").getOrCreate()
    df = read_events(spark, ["fixtures/rds-postgresql.log"])
    df.groupBy("user").count().show()
    write_output(spark, ["s3://archive/db1/000000.gz"], "out/records", fmt="records")

>>> [name for name, _ in EVENT_COLUMNS][:4]
['kind', 'timestamp', 'severity', 'user']
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any, Final

from .lines import Line, Reject
from .parser import Parser, RejectCounter, open_with_prefix
from .prefix import RDS_PREFIX
from .sinks import OutputSink, add_sql_keys, event_to_json
from .sources import read_input
from .sql.stage import SqlInfo, SqlStage

__all__ = ["EVENT_COLUMNS", "AUDIT_COLUMNS", "event_schema", "event_row", "read_events",
           "output_lines", "write_output", "file_events"]

#: The pgAudit fields of an audit event (``audit`` column), as in ``--format events``.
AUDIT_COLUMNS: Final = (
    ("audit_type", "string"), ("statement_id", "long"), ("substatement_id", "long"),
    ("class", "string"), ("command", "string"), ("object_type", "string"),
    ("object_name", "string"), ("statement", "string"), ("parameter", "array<string>"),
    ("rows", "long"), ("statement_full", "string"), ("split_certain", "boolean"),
)
#: Every key of ``--format events`` and its Spark type (``audit`` is a struct of
#: :data:`AUDIT_COLUMNS`); tests check that no key of the events output is missing.
EVENT_COLUMNS: Final = (
    ("kind", "string"), ("timestamp", "string"), ("severity", "string"), ("user", "string"),
    ("database", "string"), ("client_host", "string"), ("client_port", "long"),
    ("pid", "long"), ("message", "string"), ("detail", "string"), ("hint", "string"),
    ("context", "string"), ("statement", "string"), ("audit", "audit"),
    ("query", "string"), ("location", "string"), ("application_name", "string"),
    ("session_id", "string"), ("session_line", "long"), ("session_start", "string"),
    ("command_tag", "string"), ("sqlstate", "string"), ("backend_type", "string"),
    ("virtual_xid", "string"), ("xid", "long"), ("leader_pid", "long"), ("query_id", "long"),
    ("cursor_position", "long"), ("source", "string"), ("line", "long"),
    ("stream", "string"), ("duration_ms", "double"), ("duration_statement", "string"),
    ("session_time", "string"), ("schema_version", "string"), ("fingerprint", "string"),
)

#: A line of a CloudWatch Logs export to S3: the event's time, a space, its message.
_EXPORT_STAMP: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")


def event_schema() -> Any:
    """The Spark ``StructType`` of :func:`read_events` (needs PySpark).

    >>> event_schema()["audit"].dataType["rows"].dataType.simpleString()  # doctest: +SKIP
    'bigint'
    """
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    simple = {"string": StringType(), "long": LongType(), "double": DoubleType(),
              "array<string>": ArrayType(StringType()), "boolean": BooleanType()}
    audit = StructType([StructField(n, simple[t]) for n, t in AUDIT_COLUMNS])
    fields = [StructField(n, audit if t == "audit" else simple[t]) for n, t in EVENT_COLUMNS]
    return StructType([*fields, StructField("event_time", TimestampType())])


def event_row(event: Any, info: SqlInfo | None = None) -> tuple[Any, ...]:
    """One event as a row of :func:`event_schema`: the ``--format events`` values in column
    order (``info``: what the SQL stage added), then the timestamp as an aware datetime.

    >>> from pgaudit_parse import parse_lines
    >>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
    ...                    "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"])
    >>> row = event_row(e); row[0], row[3], row[13][7]
    ('audit', 'alice', 'select 1')
    """
    data = event_to_json(event)
    if info is not None:
        add_sql_keys(data, info)
    row: list[Any] = []
    for name, kind in EVENT_COLUMNS:
        value = data.get(name)
        if kind == "audit" and value is not None:
            value = tuple(value.get(n) for n, _ in AUDIT_COLUMNS)
        row.append(value)
    stamp: datetime | None = event.timestamp
    row.append(stamp)
    return tuple(row)


@contextmanager
def _local_copy(path: str) -> Iterator[str]:
    """A local path for ``path``; an ``s3://bucket/key`` is streamed to a temporary file
    (boto3's usual credentials; ``AWS_ENDPOINT_URL`` is honoured)."""
    if not path.startswith("s3://"):
        yield path
        return
    import boto3

    bucket, _, key = path[len("s3://"):].partition("/")
    directory = tempfile.mkdtemp(prefix="pgaudit-parse-")
    local = os.path.join(directory, os.path.basename(key) or "object")
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        with open(local, "wb") as handle:
            shutil.copyfileobj(body, handle, 1 << 20)
        yield local
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _export_lines(lines: Iterator[Line]) -> Iterator[Line]:
    """Lines of a CloudWatch S3 export without the time each event starts with; other
    files pass through unchanged (decided on the first line)."""
    first = next(lines, None)
    if first is None:
        return
    if not _EXPORT_STAMP.match(first.text):
        yield first
        yield from lines
        return
    for line in _chain(first, lines):
        match = _EXPORT_STAMP.match(line.text)
        yield Line(line.text[match.end():], line.source, line.number, line.stream,
                   line.ref) if match else line


def _chain(first: Line, rest: Iterator[Line]) -> Iterator[Line]:
    yield first
    yield from rest


def file_events(path: str, prefix: str = RDS_PREFIX,
                timezone: str | None = None) -> Iterator[Any]:
    """The events of one file, as the CLI reads it (rejects are counted, not kept);
    ``timezone`` is the server's log_timezone, as ``--timezone``."""
    counted = RejectCounter()  # the reader's rejects and the parser's, counted together
    with _local_copy(path) as local:
        compiled, lines = open_with_prefix(_export_lines(iter(read_input(local, counted))),
                                           prefix, timezone)
        parser = Parser(compiled, on_reject=counted, timezone=timezone)
        for line in lines:
            yield from parser.feed(_renamed(line, path))
        yield from parser.flush()


def _renamed(line: Line, path: str) -> Line:
    return line if line.source == path else Line(line.text, path, line.number, line.stream,
                                                  line.ref)


def _rows(path: str, prefix: str, timezone: str | None) -> Iterator[tuple[Any, ...]]:
    stage = SqlStage("none")  # as --format events: fingerprints, one statement per line
    for event in file_events(path, prefix, timezone):
        yield event_row(*stage.apply(event))


def read_events(spark: Any, paths: Sequence[str], prefix: str = RDS_PREFIX,
                timezone: str | None = None) -> Any:
    """A DataFrame of the events of every file (one task per file)."""
    ordered = sorted(paths)
    rdd = spark.sparkContext.parallelize(ordered, max(1, len(ordered)))
    rows = rdd.flatMap(partial(_rows, prefix=prefix, timezone=timezone))
    return spark.createDataFrame(rows, event_schema())


def output_lines(path: str, fmt: str = "records", prefix: str = RDS_PREFIX,
                 account_id: str | None = None, instance: str | None = None,
                 on_reject: Callable[[Reject], None] | None = None,
                 timezone: str | None = None) -> Iterator[str]:
    """The CLI's output lines for one file, produced as the file is read (streaming)."""
    buffer = io.StringIO()
    sink = OutputSink(buffer, None, fmt, account_id, instance)

    def drain() -> Iterator[str]:
        text = buffer.getvalue()
        if text:
            buffer.seek(0)
            buffer.truncate()
            yield from text.splitlines()

    rejects = on_reject if on_reject is not None else RejectCounter()
    with _local_copy(path) as local:
        compiled, lines = open_with_prefix(_export_lines(iter(read_input(local, rejects))),
                                           prefix, timezone)
        parser = Parser(compiled, on_reject=rejects, timezone=timezone)
        for line in lines:
            for event in parser.feed(_renamed(line, path)):
                sink.write(event)
            yield from drain()
        for event in parser.flush():
            sink.write(event)
        sink.flush()
        yield from drain()


def _output(path: str, fmt: str, prefix: str, account_id: str | None,
            instance: str | None, timezone: str | None) -> Iterator[tuple[str]]:
    for line in output_lines(path, fmt, prefix, account_id, instance, timezone=timezone):
        yield (line,)


def write_output(spark: Any, paths: Sequence[str], directory: str, fmt: str = "records",
                 prefix: str = RDS_PREFIX, account_id: str | None = None,
                 instance: str | None = None, mode: str = "errorifexists",
                 timezone: str | None = None) -> None:
    """Write the output of every file as JSON lines under ``directory`` (Spark text files,
    one part per input file, in the order of the sorted paths)."""
    ordered = sorted(paths)
    rdd = spark.sparkContext.parallelize(ordered, max(1, len(ordered)))
    lines = rdd.flatMap(partial(_output, fmt=fmt, prefix=prefix, account_id=account_id,
                                instance=instance, timezone=timezone))
    spark.createDataFrame(lines, "value string").write.mode(mode).text(directory)
