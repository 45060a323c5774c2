"""Guardium universal-connector records from events.

Field names are spelled exactly as Guardium's ``Record`` class spells them (including
``time.timstamp``). Audit events become ``data`` records, ERROR/FATAL/PANIC become
``exception`` records (``LOGIN_FAILED`` for failed authentication, else ``SQL_ERROR``),
duration lines with their statement become ``data`` records with ``executionTime``.
Connections, disconnections and other log lines have no record (None).

>>> from pgaudit_parse import parse_lines
>>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
...                    "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"])
>>> r = to_guardium(e, account_id="123456789012", instance="db1")
>>> r["dbName"], r["data"]["originalSqlCommand"], r["time"]["timstamp"]
('123456789012:db1:shop', 'select 1', 1795622701000)
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from .events import AuditEvent, DurationEvent, ErrorEvent, Event

__all__ = ["to_guardium", "SERVER_TYPE", "LANGUAGE"]

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

    host = event.client_host if event.client_host != "[local]" else None
    client_ip = host if _is_ip(host) else ""
    ipv6 = _is_ipv6(client_ip)
    offset = event.timestamp.utcoffset() if event.timestamp else None
    record: dict[str, Any] = {
        "sessionId": event.session_id or (str(event.pid) if event.pid is not None else ""),
        "dbName": _db_name(event.database, account_id, instance),
        "appUserName": event.application_name or "",
        "time": {
            "timstamp": int(event.timestamp.timestamp() * 1000) if event.timestamp else 0,
            "minOffsetFromGMT": int(offset.total_seconds() // 60) if offset else 0,
            "minDst": 0,
        },
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
            "clientHostName": host if host and not client_ip else "",
            "serverHostName": _server_host(account_id, instance),
            "commProtocol": "",
            "dbProtocol": SERVER_TYPE,
            "dbProtocolVersion": "",
            "osUser": "",
            "sourceProgram": event.application_name or "",
            "client_mac": "",
            "serverDescription": "",
            "serviceName": event.database or "",
            "language": LANGUAGE,
            "dataType": "TEXT",
        },
        "data": data,
        "exception": exception,
        "recordsAffected": rows if rows is not None else -1,
        "executionTime": event.duration_ms if isinstance(event, DurationEvent) else 0,
    }
    return record
