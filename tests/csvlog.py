"""PostgreSQL 15 csvlog rows: the independent answer key for the stderr log.

The csvlog holds the same messages as the stderr log, one CSV record each, with every
field in its own column. It is read here with nothing but Python's :mod:`csv` module so
that it owes nothing to the parser under test; so is the pgAudit payload of an ``AUDIT:``
message (:func:`audit_fields`).

>>> row = CsvLogRow.from_record(["2026-11-25 16:05:01.123 UTC", "alice", "shop", "42",
...     "127.0.0.1:5000", "6565f1a2.2a", "3", "SELECT", "2026-11-25 16:05:00 UTC", "3/7",
...     "0", "LOG", "00000", "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>",
...     "", "", "", "", "", "", "", "", "psql", "client backend", "", "0"])
>>> row.client_host, row.client_port, audit_fields(row.message)[7]
('127.0.0.1', 5000, 'select 1')
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["CSV_COLUMNS", "CsvLogRow", "read_csvlog", "audit_fields", "parse_csv_time",
           "other_parts", "execution_of"]

# A csvlog field holds a whole statement or parameter list: more than csv's default 128 KiB
# limit when a test logs a big one.
csv.field_size_limit(2**31 - 1)

#: The csvlog columns of PostgreSQL 15, in order.
CSV_COLUMNS: tuple[str, ...] = (
    "log_time", "user_name", "database_name", "process_id", "connection_from",
    "session_id", "session_line_num", "command_tag", "session_start_time",
    "virtual_transaction_id", "transaction_id", "error_severity", "sql_state_code",
    "message", "detail", "hint", "internal_query", "internal_query_pos", "context",
    "query", "query_pos", "location", "application_name", "backend_type", "leader_pid",
    "query_id",
)


def _none_if_empty(text: str) -> str | None:
    return text if text != "" else None


def _int_or_none(text: str) -> int | None:
    return int(text) if text != "" else None


@dataclass(frozen=True, slots=True)
class CsvLogRow:
    """One csvlog record; empty columns are ``None``, numbers are ``int``.

    ``log_time`` stays text (:func:`parse_csv_time` turns it into a datetime given the
    server's ``log_timezone``); ``number`` is the record's 1-based position in the file.
    """

    number: int
    log_time: str
    user_name: str | None
    database_name: str | None
    process_id: int
    connection_from: str | None
    session_id: str
    session_line_num: int
    command_tag: str | None
    session_start_time: str
    virtual_transaction_id: str | None
    transaction_id: int | None
    error_severity: str
    sql_state_code: str
    message: str
    detail: str | None
    hint: str | None
    internal_query: str | None
    internal_query_pos: int | None
    context: str | None
    query: str | None
    query_pos: int | None
    location: str | None
    application_name: str | None
    backend_type: str
    leader_pid: int | None
    query_id: int | None

    @classmethod
    def from_record(cls, record: list[str], number: int = 0) -> CsvLogRow:
        """Build a row from the 26 fields of one csv record."""
        if len(record) != len(CSV_COLUMNS):
            raise ValueError(f"csvlog record {number} has {len(record)} fields, "
                             f"expected {len(CSV_COLUMNS)}")
        f = dict(zip(CSV_COLUMNS, record, strict=True))
        return cls(
            number=number,
            log_time=f["log_time"],
            user_name=_none_if_empty(f["user_name"]),
            database_name=_none_if_empty(f["database_name"]),
            process_id=int(f["process_id"]),
            connection_from=_none_if_empty(f["connection_from"]),
            session_id=f["session_id"],
            session_line_num=int(f["session_line_num"]),
            command_tag=_none_if_empty(f["command_tag"]),
            session_start_time=f["session_start_time"],
            virtual_transaction_id=_none_if_empty(f["virtual_transaction_id"]),
            transaction_id=_int_or_none(f["transaction_id"]),
            error_severity=f["error_severity"],
            sql_state_code=f["sql_state_code"],
            message=f["message"],
            detail=_none_if_empty(f["detail"]),
            hint=_none_if_empty(f["hint"]),
            internal_query=_none_if_empty(f["internal_query"]),
            internal_query_pos=_int_or_none(f["internal_query_pos"]),
            context=_none_if_empty(f["context"]),
            query=_none_if_empty(f["query"]),
            query_pos=_int_or_none(f["query_pos"]),
            location=_none_if_empty(f["location"]),
            application_name=_none_if_empty(f["application_name"]),
            backend_type=f["backend_type"],
            leader_pid=_int_or_none(f["leader_pid"]),
            query_id=_int_or_none(f["query_id"]),
        )

    @property
    def client_host(self) -> str | None:
        """Host part of ``connection_from`` (``host:port``, ``[local]`` or empty)."""
        if self.connection_from is None:
            return None
        if self.connection_from == "[local]":
            return "[local]"
        host, _, _port = self.connection_from.rpartition(":")
        return host

    @property
    def client_port(self) -> int | None:
        """Port part of ``connection_from``; ``None`` for ``[local]`` and background."""
        if self.connection_from is None or self.connection_from == "[local]":
            return None
        return int(self.connection_from.rpartition(":")[2])

    @property
    def is_audit(self) -> bool:
        """A pgAudit message (``AUDIT: `` payload at LOG level)."""
        return self.message.startswith("AUDIT: ")


def read_csvlog(path: str | Path) -> Iterator[CsvLogRow]:
    """Yield the records of a csvlog file in file order (CR and LF inside quoted fields
    are kept as they are).

    >>> import os, tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write('2026-11-25 16:05:01.123 UTC,,,7,,6565f1a2.7,1,,2026-11-25 16:05:00 UTC,'
    ...                 ',0,LOG,00000,"two\\nlines",,,,,,,,,,postmaster,,0\\n')
    >>> [(row.process_id, row.message) for row in read_csvlog(f.name)]
    [(7, 'two\\nlines')]
    >>> os.unlink(f.name)
    """
    with open(path, encoding="utf-8", newline="") as handle:
        for number, record in enumerate(csv.reader(handle, strict=True), start=1):
            yield CsvLogRow.from_record(record, number)


def audit_fields(message: str) -> list[str]:
    """The fields of a pgAudit ``AUDIT: `` message, split with the :mod:`csv` module.

    >>> audit_fields('AUDIT: SESSION,1,1,READ,SELECT,,,"select 1, 2",<not logged>')
    ['SESSION', '1', '1', 'READ', 'SELECT', '', '', 'select 1, 2', '<not logged>']
    """
    if not message.startswith("AUDIT: "):
        raise ValueError("not a pgAudit message")
    payload = message[len("AUDIT: "):]
    records = list(csv.reader([payload], strict=True))
    if len(records) != 1:
        raise ValueError(f"pgAudit payload is {len(records)} csv records")
    return records[0]


def other_parts(rows: list[CsvLogRow]) -> set[tuple[str, str, str]]:
    """The (session, statement id, substatement id) of pgAudit's lines that log another
    part of an execution an earlier substatement id of the same statement id logged
    (see :func:`execution_of`).

    >>> def row(payload: str) -> CsvLogRow:
    ...     return CsvLogRow.from_record(["", "", "", "7", "", "s1", "1", "", "", "", "",
    ...         "LOG", "00000", "AUDIT: " + payload] + [""] * 8 + ["", "client backend",
    ...         "", ""])
    >>> sorted(other_parts([row("SESSION,1,1,READ,SELECT,,,create table a as select 1,"),
    ...                     row("SESSION,1,2,DDL,CREATE TABLE AS,,,create table a as select 1,"),
    ...                     row("SESSION,2,1,FUNCTION,DO,,,do $$ ... $$,"),
    ...                     row("SESSION,2,2,WRITE,INSERT,,,insert into t values (i),"),
    ...                     row("SESSION,2,3,WRITE,INSERT,,,insert into t values (i),")]))
    [('s1', '1', '2')]
    """
    return {key for key, first in execution_of(rows).items() if key != first}


def execution_of(rows: list[CsvLogRow]) -> dict[tuple[str, str, str], tuple[str, str, str]]:
    """(session, statement id, substatement id) of each pgAudit line -> that of the first
    line of the execution it logs.

    One statement's execution has several parts in pgAudit's log, each with a
    substatement id of its own and the statement's own text: ``CREATE TABLE AS`` and its
    query's ``SELECT`` (so do ``SELECT INTO``, ``CREATE``/``REFRESH MATERIALIZED VIEW``,
    ``COPY (query)``, ``DECLARE CURSOR``), and a ``FUNCTION,EXECUTE`` line per function it
    calls. A line of a (class, command) the execution has already is the next execution
    of the same text (a loop in a function body); a function call is always a part. An
    SQL-level ``EXECUTE name``: its prepared query's line shows the ``PREPARE name`` text,
    its own line (class MISC) the EXECUTE: one execution.
    """
    groups: dict[tuple[str, str], list[tuple[str, set[tuple[str, str]], tuple[str, str, str]]]]
    groups = {}
    out: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    for row in rows:
        if row.error_severity != "LOG" or not row.is_audit:
            continue
        fields = audit_fields(row.message)
        key = (row.session_id, fields[1], fields[2])
        if key in out:
            continue
        if fields[7] == "<previously logged>":
            out[key] = key
            continue
        part = (fields[3], fields[4])
        found = groups.setdefault((row.session_id, fields[1]), [])
        for text, parts, first in reversed(found):
            if part == ("MISC", "EXECUTE") and _prepared_name(text) is not None \
                    and _prepared_name(text) == _executed_name(fields[7]) and part not in parts:
                parts.add(part)
                out[key] = first
                break
            if text == fields[7] and (part == ("FUNCTION", "EXECUTE") or part not in parts):
                parts.add(part)
                out[key] = first
                break
        else:
            found.append((fields[7], {part}, key))
            out[key] = key
    return out


def _prepared_name(sql: str) -> str | None:
    words = sql.split(None, 2)
    if len(words) < 2 or words[0].upper() != "PREPARE":
        return None
    return words[1].split("(")[0].lower()


def _executed_name(sql: str) -> str | None:
    words = sql.split(None, 2)
    if len(words) < 2 or words[0].upper() != "EXECUTE":
        return None
    return words[1].split("(")[0].rstrip(";").lower()


def parse_csv_time(text: str, zone: str) -> datetime:
    """A csvlog ``log_time`` (``YYYY-MM-DD HH:MM:SS.mmm ABBR``) as an aware datetime.

    ``zone`` is the server's ``log_timezone``; the abbreviation PostgreSQL printed must
    be the one that zone uses at that instant (a check on the answer key itself).

    >>> parse_csv_time("2026-11-25 21:35:01.250 IST", "Asia/Kolkata").isoformat()
    '2026-11-25T21:35:01.250000+05:30'
    """
    stamp, _, abbreviation = text.rpartition(" ")
    naive = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
    aware = naive.replace(tzinfo=ZoneInfo(zone))
    if aware.tzname() != abbreviation:
        raise ValueError(f"csvlog time {text!r}: {zone} is {aware.tzname()} then")
    return aware
