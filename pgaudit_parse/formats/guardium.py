"""Guardium universal-connector records from events.

Field names are spelled exactly as Guardium's ``Record`` class spells them (including
``time.timstamp``); the values are what IBM's AWS PostgreSQL universal connector writes
(its CloudWatch and SQS ``filter.conf``), except where the connector is wrong:
``docs/guardium.md`` lists every field, the connector's value and ours. The package ships
the record's JSON Schema (``schemas/guardium-record.schema.json``, see
:func:`record_schema`).

:class:`RecordBuilder` makes **one record per statement execution** (the grouping is
:class:`~pgaudit_parse.formats.executions.ExecutionGrouper`'s): pgAudit's SESSION and
OBJECT lines, ``log_relation``'s lines, the duration lines of the parse/bind/execute
phases and ``log_statement``'s line of one execution make one ``data`` record whose
``executionTime`` is the phases' sum in microseconds. ERROR/FATAL/PANIC lines become
``exception`` records (``LOGIN_FAILED`` for failed authentication, else ``SQL_ERROR``).
:func:`to_guardium` renders one event alone (no grouping). SQL never carries a password
literal (:func:`redact_passwords`).

>>> from pgaudit_parse import parse_lines
>>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
...                    "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"])
>>> r = to_guardium(e, account_id="123456789012", instance="db1")
>>> r["dbName"], r["accessor"]["serviceName"], r["data"]["originalSqlCommand"]
('123456789012:db1:shop', '123456789012:db1:shop', 'select 1')
>>> r["time"]["timstamp"], r["sessionId"], r["appUserName"]
(1795622701000, '42', 'AWSService')
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence, Set
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from ..events import AuditEvent, DurationEvent, ErrorEvent, Event, LogEvent
from ..sql import redact_passwords  # the lexer-based one; this name is kept for callers
from ..sql.redact import redact_echo
from .executions import (
    INT_MAX,
    Execution,
    ExecutionGrouper,
    duration_micros,
    logged_statement,
)

__all__ = ["to_guardium", "RecordBuilder", "redact_passwords", "record_schema",
           "duration_micros", "SERVER_TYPE", "LANGUAGE", "RECORD_VALUES", "DEFAULT_HELD_BYTES"]

SERVER_TYPE: Final = "POSTGRESQL"
LANGUAGE: Final = "PGRS"  # Guardium's code for PostgreSQL
#: The connector's constants (its filter.conf): every record of it carries them.
APP_USER_NAME: Final = "AWSService"
COMM_PROTOCOL: Final = "AwsApiCall"
#: What the connector writes for an unknown user, database or statement.
NOT_AVAILABLE: Final = "NA"
NO_IP: Final = "0.0.0.0"
NO_PORT: Final = -1
#: ``connector``: the universal connector's values (the default, a drop-in);
#: ``postgres``: what the log says where the connector writes a constant (application
#: name, ``%c`` session id, quoted identifiers in error descriptions).
RECORD_VALUES: Final = ("connector", "postgres")


def _is_ipv6(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).version == 6
    except ValueError:
        return False


def _is_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _db_name(database: str | None, account_id: str | None, instance: str | None) -> str:
    db = database or NOT_AVAILABLE
    if account_id and instance:
        return f"{account_id}:{instance}:{db}"
    return database or ""


def _server_host(account_id: str | None, instance: str | None) -> str:
    # The connector: "%{account_id}_%{instance}" (an underscore, unlike dbName's colons).
    if account_id and instance:
        return f"{account_id}_{instance}"
    return instance or ""


def records_affected(rows: int | None) -> int:
    """pgAudit's row count as ``recordsAffected``, a Java int: -1 when not logged (or not
    a count), saturated at ``Integer.MAX_VALUE`` (pgAudit writes a 64-bit count).

    >>> records_affected(None), records_affected(3), records_affected(2**40), records_affected(-5)
    (-1, 3, 2147483647, -1)
    """
    if rows is None:
        return -1
    if rows.__class__ is not int:  # a library caller's value of another type: as given
        return rows
    if rows < 0:
        return -1
    return rows if rows <= INT_MAX else INT_MAX


def _check_values(values: str) -> None:
    if values not in RECORD_VALUES:
        raise ValueError(f"unknown record values {values!r} (use one of "
                         f"{', '.join(RECORD_VALUES)})")


def to_guardium(event: Event, account_id: str | None = None,
                instance: str | None = None, values: str = "connector"
                ) -> dict[str, Any] | None:
    """The Guardium record of one event alone, or None for events Guardium does not take.

    Audit events, ``log_statement`` lines and durations with their statement become
    ``data`` records (a duration's own time in ``executionTime``), errors ``exception``
    records. ``dbName`` is ``ACCOUNT:INSTANCE:DATABASE`` when both are known (the
    connector's convention), else the database name; ``serverHostName`` is
    ``ACCOUNT_INSTANCE``. Use :class:`RecordBuilder` for a stream of events: it makes one
    record per execution.
    """
    _check_values(values)
    if isinstance(event, ErrorEvent):
        return _record(event, None, None, None, account_id, instance, values)
    if isinstance(event, AuditEvent):
        return _record(event, event.audit.statement or "", None, event.audit.rows,
                       account_id, instance, values)
    if isinstance(event, DurationEvent) and event.duration_statement is not None:
        return _record(event, event.duration_statement, duration_micros(event.duration_ms),
                       None, account_id, instance, values)
    if isinstance(event, LogEvent):
        sql = logged_statement(event)
        if sql is not None:
            return _record(event, sql, None, None, account_id, instance, values)
    return None


def execution_record(execution: Execution, account_id: str | None = None,
                     instance: str | None = None, values: str = "connector"
                     ) -> dict[str, Any]:
    """The ``data`` record of one statement execution."""
    return _record(execution.event, execution.sql, execution.micros, execution.rows,
                   account_id, instance, values)


def _record(event: Event, sql: str | None, micros: int | None, rows: int | None,
            account_id: str | None, instance: str | None, values: str) -> dict[str, Any]:
    """A record: ``data`` with ``sql`` (redacted here), or ``exception`` when sql is None."""
    connector = values == "connector"
    if sql is None:
        sql_string = redact_passwords(event.statement) if event.statement else NOT_AVAILABLE
        # (a message that quotes a password of its statement does not carry it either)
        description = redact_echo(event.message, event.statement, sql_string)
        if connector:
            description = description.replace('"', "")  # the connector's gsub
        exception: dict[str, Any] | None = {
            "exceptionTypeId": "LOGIN_FAILED" if event.kind == "login_failed" else "SQL_ERROR",
            "description": description,
            "sqlString": sql_string,
        }
        data = None
    else:
        exception = None
        data = {"construct": None, "originalSqlCommand": redact_passwords(sql)}
    host = event.client_host
    client_ip, ipv6 = _client_address(host)
    timestamp = event.timestamp
    millis, offset_minutes = _time_fields(timestamp) if timestamp is not None else (0, 0)
    database = event.database
    application = event.application_name or ""
    db_name = _db_name(database, account_id, instance)
    pid = str(event.pid) if event.pid is not None else None
    session = event.session_id
    session_id = (pid or session) if connector else (session or pid)
    port = event.client_port
    return {
        "sessionId": session_id or "",
        "dbName": db_name,
        "appUserName": APP_USER_NAME if connector else application,
        "time": {"timstamp": millis, "minOffsetFromGMT": offset_minutes, "minDst": 0},
        "sessionLocator": {
            "clientIp": client_ip if client_ip and not ipv6 else NO_IP,
            "clientPort": port if port is not None else NO_PORT,
            "serverIp": NO_IP,
            "serverPort": NO_PORT,
            "isIpv6": ipv6,
            "clientIpv6": client_ip if ipv6 else None,
            "serverIpv6": None,
        },
        "accessor": {
            "dbUser": event.user or NOT_AVAILABLE,
            "serverType": SERVER_TYPE,
            "serverOs": "",
            "clientOs": "",
            "clientHostName": host if host and host != "[local]" and not client_ip else "",
            "serverHostName": _server_host(account_id, instance),
            "commProtocol": COMM_PROTOCOL,
            "dbProtocol": SERVER_TYPE,
            "dbProtocolVersion": "",
            "osUser": "",
            "sourceProgram": "" if connector else application,
            "client_mac": "",
            "serverDescription": "",
            "serviceName": db_name,
            "language": LANGUAGE,
            "dataType": "TEXT",
        },
        "data": data,
        "exception": exception,
        "recordsAffected": records_affected(rows),
        "executionTime": micros,
    }


@lru_cache(maxsize=1024)
def _client_address(host: str | None) -> tuple[str, bool]:
    """(client IP or "", is it IPv6) of a client host; cached: a session repeats its host."""
    if host == "[local]":
        return "", False
    client_ip = host if host and _is_ip(host) else ""
    return client_ip, _is_ipv6(client_ip)


def _time_fields(timestamp: datetime) -> tuple[int, int]:
    """(epoch milliseconds, minutes east of UTC)."""
    # The cache key holds the offset: datetimes of one instant are equal in any zone.
    return _time_fields_of(timestamp, timestamp.utcoffset())


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND: Final = timedelta(milliseconds=1)


@lru_cache(maxsize=1024)
def _time_fields_of(timestamp: datetime, offset: timedelta | None) -> tuple[int, int]:
    """Cached: many lines share a timestamp."""
    if offset is None:  # a naive datetime (a library caller's): local time, as before
        return int(timestamp.timestamp() * 1000), 0
    # exact integer arithmetic: float seconds times 1000 lose a millisecond for some
    # instants (2038-08-12 16:44:16.114 UTC read as ...113)
    return (timestamp - _EPOCH) // _MILLISECOND, int(offset.total_seconds() // 60)


def record_schema() -> dict[str, Any]:
    """The JSON Schema of a record (draft 2020-12), derived from the Java classes of
    Guardium's universal-connector commons (``Record``, ``Time``, ``SessionLocator``,
    ``Accessor``, ``Data``, ``ExceptionRecord``).

    >>> record_schema()["$defs"]["time"]["required"]
    ['timstamp', 'minOffsetFromGMT', 'minDst']
    """
    text = resources.files(__package__).joinpath(
        "schemas", "guardium-record.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


#: Characters of text the executions waiting for their other lines may hold by default (with
#: the ``<previously logged>`` cache, 64 MiB of state in all: see docs/memory.md).
DEFAULT_HELD_BYTES: Final = 16 * 1024 * 1024


class RecordBuilder:
    """Events -> Guardium records, one per statement execution (and one per error).

    ``values`` is ``"connector"`` (the universal connector's values: the default) or
    ``"postgres"`` (what the log says where the connector writes a constant). Records wait
    for the other lines of their execution within the bounds ``max_held`` (executions in
    all), ``max_held_bytes`` (their SQL), ``max_per_session`` and ``max_wait`` (seconds of
    log time); see :mod:`pgaudit_parse.formats.executions`. Executions released early by
    the first three are counted in ``released_early`` (docs/memory.md).

    >>> from pgaudit_parse import parse_lines
    >>> p = "2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  "
    >>> b = RecordBuilder()
    >>> out = [r for e in parse_lines([p + "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
    ...                                p + "duration: 0.250 ms  statement: select 1"])
    ...        for r in b.add(e)] + b.flush()
    >>> len(out), out[0]["executionTime"]
    (1, 250)
    """

    def __init__(self, account_id: str | None = None, instance: str | None = None,
                 max_backends: int = 4096, max_held: int = 10_000, *,
                 values: str = "connector", max_per_session: int = 64,
                 max_wait: float = 300.0,
                 max_held_bytes: int = DEFAULT_HELD_BYTES) -> None:
        _check_values(values)
        self.account_id = account_id
        self.instance = instance
        self.values = values
        # max_backends: kept for callers of the earlier signature; sessions are bounded by
        # max_held (a session holds at least one execution).
        self.max_backends = max_backends
        self._grouper = ExecutionGrouper(max_held=max_held, max_per_session=max_per_session,
                                         max_wait=max_wait, max_held_bytes=max_held_bytes)
        # the instance each pending execution's stream was read with (per-stream override)
        self._instances: dict[str, str | None] = {}

    def add(self, event: Event, instance: str | None = None) -> list[dict[str, Any]]:
        """Records complete after this event (possibly none: executions wait)."""
        if instance is not None:
            self._instances[event.stream] = instance
        return self._render(self._grouper.add(event))

    def flush(self) -> list[dict[str, Any]]:
        """Release every held record (end of input, or before acknowledging a batch)."""
        return self._render(self._grouper.flush())

    def release_held(self, stale: Callable[[str], bool], busy: Set[str] = frozenset()
                     ) -> list[dict[str, Any]]:
        """The records of the sessions holding a line of a ``stale`` source (see
        :meth:`~pgaudit_parse.formats.executions.ExecutionGrouper.release_held`)."""
        return self._render(self._grouper.release_held(stale, busy))

    def forget_held(self) -> None:
        """Drop every held execution unwritten (its lines will be read again)."""
        self._grouper.forget_held()

    def held(self) -> int:
        """How many executions wait for more of their lines."""
        return self._grouper.held()

    def held_sources(self) -> set[str]:
        """The sources of the lines whose records are held (see
        :meth:`~pgaudit_parse.formats.executions.ExecutionGrouper.held_sources`)."""
        return self._grouper.held_sources()

    @property
    def max_held_bytes(self) -> int:
        """The bound of the held executions' texts (characters: SQL, message, DETAIL,
        prefix values)."""
        return self._grouper.max_held_bytes

    @property
    def held_bytes(self) -> int:
        """The held executions' texts now (characters)."""
        return self._grouper.held_bytes

    @property
    def released_early(self) -> int:
        """Executions written before their other lines came, to stay within the bounds."""
        return self._grouper.released_early

    def oldest_held_line(self) -> int | None:
        """The input line of the oldest line whose record is held, or None.

        ``--jobs`` uses it to make the next chunk's worker start early enough to hold the
        same records (so that they are written once, when one process would write them).

        >>> RecordBuilder().oldest_held_line() is None
        True
        """
        return self._grouper.oldest_held_line()

    def _render(self, items: Sequence[Execution | Event]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, Execution):
                event = item.event
                instance = self._instances.get(event.stream) or self.instance
                out.append(execution_record(item, self.account_id, instance, self.values))
            elif isinstance(item, ErrorEvent):
                instance = self._instances.get(item.stream) or self.instance
                out.append(_record(item, None, None, None, self.account_id, instance,
                                   self.values))
        return out
