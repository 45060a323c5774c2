"""Elastic Common Schema (ECS 8.11) documents from our events.

Every event becomes one document. ECS fields carry what ECS has a name for
(``@timestamp``, ``event.*``, ``user.name``, ``source.ip``/``port``, ``process.pid``,
``error.code``/``message``, ``log.level``); everything PostgreSQL-specific goes under
one namespace, ``postgresql``: ``postgresql.log.*`` with the names Elastic's own
PostgreSQL integration uses for the server's log fields (``database``, ``session_id``,
``sql_state_code``, ``query``...), and ``postgresql.audit.*`` for pgAudit's fields.
``schema_version`` is the version of this mapping (a renamed key is a new major).

``event.category`` is ``database`` for statements, errors and other server messages,
``authentication`` for logins (authorized or failed), ``session`` for connections and
disconnections; ``event.type`` is one of the values ECS allows for that category
(``access`` for reads, ``change`` for writes, DDL and roles, ``info``, ``error``,
``start``, ``end``); ``event.outcome`` is ``success``, ``failure`` or ``unknown`` (a
pgAudit line is written before its statement runs unless ``pgaudit.log_rows`` is on).

>>> from pgaudit_parse import parse_lines
>>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
...                    "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"])
>>> d = to_ecs(e)
>>> d["event"]["category"], d["event"]["action"], d["source"], d["postgresql"]["log"]["database"]
(['database'], 'select', {'ip': '10.0.0.5', 'port': 50012, 'address': '10.0.0.5'}, 'shop')
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Final

from ..events import (
    AuditEvent,
    ConnectionEvent,
    DisconnectionEvent,
    DurationEvent,
    ErrorEvent,
    Event,
)
from .guardium import redact_passwords
from .ocsf import ip_text as _ip

__all__ = ["ECS_VERSION", "ECS_SCHEMA_VERSION", "to_ecs"]

#: The ECS version the documents follow (``ecs.version``).
ECS_VERSION: Final = "8.11.0"
#: The version of this mapping (``schema_version``).
ECS_SCHEMA_VERSION: Final = "1.0.0"

_CHANGE_CLASSES: Final = frozenset({"WRITE", "DDL", "ROLE"})
_WORD = re.compile(r"[a-z0-9_]+")


def _action(text: str | None) -> str:
    """``CREATE TABLE`` -> ``create-table`` (pgAudit's ``???`` -> ``unknown``).

    >>> _action("CREATE TABLE"), _action("???"), _action(None)
    ('create-table', 'unknown', 'unknown')
    """
    return "-".join(_WORD.findall((text or "").lower())) or "unknown"


def _classify(event: Event) -> tuple[list[str], list[str], str, str]:
    """(event.category, event.type, event.action, event.outcome)."""
    if isinstance(event, AuditEvent):
        audit_class = event.audit.class_
        kind = ("access" if audit_class == "READ" else
                "change" if audit_class in _CHANGE_CLASSES else "info")
        outcome = "success" if event.audit.rows is not None else "unknown"
        return ["database"], [kind], _action(event.audit.command), outcome
    if isinstance(event, ErrorEvent):
        if event.kind == "login_failed":
            return ["authentication"], ["start"], "login-failed", "failure"
        return ["database"], ["error"], "statement-error" if event.statement else "error", \
            "failure"
    if isinstance(event, ConnectionEvent):
        if "connection authorized: " in event.message:
            return ["authentication", "session"], ["start"], "connection-authorized", "success"
        action = ("connection-authenticated" if "authenticated" in event.message
                  else "connection-received")
        return ["session"], ["info"], action, "success"
    if isinstance(event, DisconnectionEvent):
        return ["session"], ["end"], "disconnection", "success"
    if isinstance(event, DurationEvent):
        return ["database"], ["info"], "duration", "success"
    return ["database"], ["info"], "log", "unknown"


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(
        timespec="microseconds").replace("+00:00", "Z")


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


#: The largest value of an Elasticsearch ``long`` (ECS's ``event.duration``).
_MAX_LONG: Final = 2**63 - 1


def to_ecs(event: Event, account_id: str | None = None,
           instance: str | None = None) -> dict[str, Any]:
    """The ECS document of an event (query texts have passwords redacted).

    ``account_id`` and ``instance`` fill ``cloud.account.id`` and ``service.name``.

    >>> from pgaudit_parse import parse_lines
    >>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:[local]:bob@shop:[9]:ERROR:  boom",
    ...                    "2026-11-25 16:05:01 UTC:[local]:bob@shop:[9]:STATEMENT:  selec 1"])
    >>> d = to_ecs(e)
    >>> d["event"]["outcome"], d["error"]["message"], d["source"], d["process"]["pid"]
    ('failure', 'boom', {'address': '[local]'}, 9)
    """
    category, types, action, outcome = _classify(event)
    event_obj: dict[str, Any] = {
        "kind": "event", "category": category, "type": types, "action": action,
        "outcome": outcome, "module": "postgresql", "dataset": "postgresql.log",
    }
    if event.sqlstate is not None:
        event_obj["code"] = event.sqlstate
    if isinstance(event, DurationEvent):
        nanos = event.duration_ms * 1_000_000
        if -_MAX_LONG <= nanos <= _MAX_LONG:  # ECS's event.duration is a long (no inf)
            event_obj["duration"] = int(round(nanos))
    if event.timestamp is not None and event.timestamp.utcoffset() is not None:
        event_obj["timezone"] = event.timestamp.strftime("%z")[:3] + ":" + \
            event.timestamp.strftime("%z")[3:]
    if event.timestamp is not None:
        stamp = _iso_utc(event.timestamp)
    else:
        # ECS requires @timestamp (a data stream refuses a document without it): a line
        # with no time of its own (no %t/%m/%n in log_line_prefix) gets the time it was
        # read, as ECS says for such sources, and says so in event.created.
        stamp = event_obj["created"] = _iso_utc(datetime.now(timezone.utc))
    doc: dict[str, Any] = {
        "@timestamp": stamp,
        "schema_version": ECS_SCHEMA_VERSION,
        "ecs": {"version": ECS_VERSION},
        "message": event.message,
        "event": event_obj,
        "log": _drop_none({"level": event.severity.lower(),
                           "file": {"path": event.source} if event.source else None}),
        "service": _drop_none({"type": "postgresql", "name": instance}),
    }
    if event.user is not None:
        doc["user"] = {"name": event.user}
    host = event.client_host
    if host is not None or event.client_port is not None:
        ip = _ip(host)
        source: dict[str, Any] = {}
        if ip is not None:
            source["ip"] = ip
        if event.client_port is not None:
            source["port"] = event.client_port
        if host is not None:
            source["address"] = host
            if ip is None and host != "[local]":
                source["domain"] = host
        doc["source"] = source
    process = _drop_none({"pid": event.pid,
                          "name": event.backend_type})
    if process:
        doc["process"] = process
    if isinstance(event, ErrorEvent):
        doc["error"] = _drop_none({"code": event.sqlstate, "message": event.message})
    if account_id:
        doc["cloud"] = {"provider": "aws", "account": {"id": account_id}}
    doc["postgresql"] = _postgresql(event)
    return doc


def _postgresql(event: Event) -> dict[str, Any]:
    statement = event.statement
    log = _drop_none({
        "database": event.database,
        "error_severity": event.severity,
        "sql_state_code": event.sqlstate,
        "session_id": event.session_id,
        "session_line_num": event.session_line,
        "session_start_time": event.session_start.isoformat()
        if event.session_start is not None else None,
        "command_tag": event.command_tag,
        "virtual_transaction_id": event.virtual_xid,
        "transaction_id": event.xid,
        "detail": event.detail,
        "hint": event.hint,
        "context": event.context,
        "internal_query": event.query,
        "query": redact_passwords(statement) if statement is not None else None,
        "query_pos": event.cursor_position,
        "location": event.location,
        "application_name": event.application_name,
        "backend_type": event.backend_type,
        "leader_pid": event.leader_pid,
        "query_id": event.query_id,
        "kind": event.kind,
        "source_line": event.line or None,
    })
    out: dict[str, Any] = {"log": log}
    if isinstance(event, DurationEvent):
        log["duration_ms"] = event.duration_ms
        if event.duration_statement is not None:
            log["query"] = redact_passwords(event.duration_statement)
    if isinstance(event, DisconnectionEvent) and event.session_time is not None:
        log["session_time"] = event.session_time
    if isinstance(event, AuditEvent):
        audit = event.audit
        out["audit"] = _drop_none({
            "audit_type": audit.audit_type,
            "statement_id": audit.statement_id,
            "substatement_id": audit.substatement_id,
            "class": audit.class_,
            "command": audit.command,
            "object_type": audit.object_type,
            "object_name": audit.object_name,
            "statement": redact_passwords(audit.statement)
            if audit.statement is not None else None,
            "parameter": None if audit.parameter is None else list(audit.parameter),
            "rows": audit.rows,
        })
    return out
