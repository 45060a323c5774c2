"""Guardium universal-connector records from events.

Field names are spelled exactly as Guardium's ``Record`` class spells them (including
``time.timstamp``). Audit events become ``data`` records, ERROR/FATAL/PANIC become
``exception`` records (``LOGIN_FAILED`` for failed authentication, else ``SQL_ERROR``),
``duration:`` lines fill ``executionTime`` (:class:`RecordBuilder` joins them to the audit
records of the statement they time). Connections, disconnections and other log lines
have no record (None).

>>> from pgaudit_parse import parse_lines
>>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
...                    "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"])
>>> r = to_guardium(e, account_id="123456789012", instance="db1")
>>> r["dbName"], r["data"]["originalSqlCommand"], r["time"]["timstamp"]
('123456789012:db1:shop', 'select 1', 1795622701000)
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from ..events import AuditEvent, DurationEvent, ErrorEvent, Event
from ..sql import redact_passwords  # the lexer-based one; this name is kept for callers

__all__ = ["to_guardium", "RecordBuilder", "redact_passwords", "SERVER_TYPE", "LANGUAGE"]

SERVER_TYPE: Final = "POSTGRESQL"
LANGUAGE: Final = "PGRS"  # Guardium's code for PostgreSQL


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
    db = database or ""
    if account_id and instance:
        return f"{account_id}:{instance}:{db}"
    return db


def _server_host(account_id: str | None, instance: str | None) -> str:
    if account_id and instance:
        return f"{account_id}:{instance}"
    return instance or ""


def to_guardium(event: Event, account_id: str | None = None,
                instance: str | None = None) -> dict[str, Any] | None:
    """The Guardium record for an event, or None for events Guardium does not take.

    ``dbName`` is ``ACCOUNT:INSTANCE:DATABASE`` when both are known (the connector's
    convention), else the database name; ``serverHostName`` is ``ACCOUNT:INSTANCE``.
    """
    if isinstance(event, AuditEvent):
        data: dict[str, Any] | None = {
            "construct": None,
            "originalSqlCommand": event.audit.statement or "",
        }
        exception = None
        rows = event.audit.rows
    elif isinstance(event, ErrorEvent):
        data = None
        exception = {
            "exceptionTypeId": "LOGIN_FAILED" if event.kind == "login_failed" else "SQL_ERROR",
            "description": event.message,
            "sqlString": event.statement or "",
        }
        rows = None
    elif isinstance(event, DurationEvent) and event.duration_statement:
        data = {"construct": None, "originalSqlCommand": event.duration_statement}
        exception = None
        rows = None
    else:
        return None

    host = event.client_host
    client_ip, ipv6 = _client_address(host)
    timestamp = event.timestamp
    millis, offset_minutes = _time_fields(timestamp) if timestamp is not None else (0, 0)
    database = event.database
    application = event.application_name or ""
    record: dict[str, Any] = {
        "sessionId": event.session_id or (str(event.pid) if event.pid is not None else ""),
        "dbName": _db_name(database, account_id, instance),
        "appUserName": application,
        "time": {"timstamp": millis, "minOffsetFromGMT": offset_minutes, "minDst": 0},
        "sessionLocator": {
            "clientIp": "" if ipv6 else (client_ip or "0.0.0.0"),
            "clientPort": event.client_port if event.client_port is not None else -1,
            "serverIp": "0.0.0.0",
            "serverPort": -1,
            "isIpv6": ipv6,
            "clientIpv6": client_ip if ipv6 else "",
            "serverIpv6": "",
        },
        "accessor": {
            "dbUser": event.user or "",
            "serverType": SERVER_TYPE,
            "serverOs": "",
            "clientOs": "",
            "clientHostName": host if host and host != "[local]" and not client_ip else "",
            "serverHostName": _server_host(account_id, instance),
            "commProtocol": "",
            "dbProtocol": SERVER_TYPE,
            "dbProtocolVersion": "",
            "osUser": "",
            "sourceProgram": application,
            "client_mac": "",
            "serverDescription": "",
            "serviceName": database or "",
            "language": LANGUAGE,
            "dataType": "TEXT",
        },
        "data": data,
        "exception": exception,
        "recordsAffected": rows if rows is not None else -1,
        "executionTime": event.duration_ms if isinstance(event, DurationEvent) else 0,
    }
    return record


@lru_cache(maxsize=1024)
def _client_address(host: str | None) -> tuple[str, bool]:
    """(client IP or "", is it IPv6) of a client host; cached: a session repeats its host."""
    if host == "[local]":
        return "", False
    client_ip = host if host and _is_ip(host) else ""
    return client_ip, _is_ipv6(client_ip)


@lru_cache(maxsize=1024)
def _time_fields(timestamp: datetime) -> tuple[int, int]:
    """(epoch milliseconds, minutes east of UTC); cached: many lines share a timestamp."""
    offset = timestamp.utcoffset()
    return (int(timestamp.timestamp() * 1000),
            int(offset.total_seconds() // 60) if offset else 0)


_REDACTED = "<REDACTED>"


def _times(sql: str | None, records: list[dict[str, Any]]) -> bool:
    """Does a ``duration:`` line with this SQL time the statement of these audit records?

    pgAudit logs the same query text, except that it cuts a role's password (and what
    follows it) to ``<REDACTED>``. A duration without text cannot be checked: it is taken.
    """
    if sql is None:
        return True
    for record in records:
        logged = record["data"]["originalSqlCommand"]
        if logged == sql:
            return True
        if logged.endswith(_REDACTED) and sql.startswith(logged[: -len(_REDACTED)]):
            return True
    return False


class RecordBuilder:
    """Events -> Guardium records, joining ``duration:`` lines to the statement they time.

    With both pgAudit and ``log_min_duration_statement``, PostgreSQL writes the AUDIT
    line(s) of a statement, then its ``duration:`` line. The audit records of a backend are
    held until the next event of that backend: a duration fills their ``executionTime``
    (one record per statement, not two); anything else releases them unchanged. A
    duration with no audit record before it becomes a record of its own (with password
    literals redacted, as pgAudit would). Memory is bounded by ``max_backends``.

    >>> from pgaudit_parse import parse_lines
    >>> p = "2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  "
    >>> b = RecordBuilder()
    >>> out = [r for e in parse_lines([p + "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
    ...                                p + "duration: 0.250 ms  statement: select 1"])
    ...        for r in b.add(e)] + b.flush()
    >>> len(out), out[0]["executionTime"]
    (1, 0.25)
    """

    def __init__(self, account_id: str | None = None, instance: str | None = None,
                 max_backends: int = 4096, max_held: int = 1024) -> None:
        self.account_id = account_id
        self.instance = instance
        self.max_backends = max_backends
        self.max_held = max_held
        # (stream, pid) -> (statement id, its records, line of the first one's event)
        self._held: OrderedDict[tuple[str, int | None], tuple[int, list[dict[str, Any]], int]]
        self._held = OrderedDict()

    def add(self, event: Event, instance: str | None = None) -> list[dict[str, Any]]:
        """Records ready after this event (possibly none: audit records wait)."""
        key = (event.stream, event.pid)
        held = self._held.pop(key, None)
        if isinstance(event, DurationEvent):
            if held is not None and _times(event.duration_statement, held[1]):
                for record in held[1]:
                    record["executionTime"] = event.duration_ms
                return held[1]
            released = held[1] if held is not None else []
            record = to_guardium(event, self.account_id, instance or self.instance)
            if record is None:
                return released
            record["data"]["originalSqlCommand"] = redact_passwords(
                record["data"]["originalSqlCommand"])
            return [*released, record]
        out: list[dict[str, Any]] = []
        record = to_guardium(event, self.account_id, instance or self.instance)
        if isinstance(event, AuditEvent) and record is not None:
            statement_id = event.audit.statement_id
            if held is not None and held[0] == statement_id and len(held[1]) < self.max_held:
                held[1].append(record)
                self._held[key] = held
            else:
                if held is not None:
                    out.extend(held[1])
                self._held[key] = (statement_id, [record], event.line)
            while len(self._held) > self.max_backends:
                out.extend(self._held.popitem(last=False)[1][1])
            return out
        if held is not None:
            out.extend(held[1])
        if record is not None:
            out.append(record)
        return out

    def flush(self) -> list[dict[str, Any]]:
        """Release every held record (end of input, or before acknowledging a batch)."""
        out = [record for _, records, _ in self._held.values() for record in records]
        self._held.clear()
        return out

    def oldest_held_line(self) -> int | None:
        """The input line of the oldest event whose record is held, or None.

        ``--jobs`` uses it to make the next chunk's worker start early enough to hold the
        same records (so that they are written once, when one process would write them).

        >>> RecordBuilder().oldest_held_line() is None
        True
        """
        return min((held[2] for held in self._held.values()), default=None)
