"""OCSF 1.1.0 events (the version Amazon Security Lake takes) from our events.

* pgAudit statements, and the errors of client statements, are **Datastore Activity**
  (``class_uid`` 6005, category 6 Application Activity). ``activity_id`` comes from
  pgAudit's class and command (:func:`datastore_activity`); an error is a ``Failure``
  (``status_id`` 2) with its SQLSTATE in ``status_code`` and its text in
  ``status_detail``.
* Authorized connections, disconnections and failed logins are **Authentication**
  (``class_uid`` 3002, category 3 Identity & Access Management): Logon (success or
  failure) and Logoff.
* Everything else (durations, checkpoints, "connection received") has no OCSF event: None.

``type_uid`` is ``class_uid * 100 + activity_id``. Times are epoch milliseconds. What OCSF
has no attribute for (pgAudit's statement ids, class, rows; the server's severity) is kept
in ``unmapped``, together with ``schema_version`` (the version of this mapping: OCSF
allows no attribute of our own at the top level). OCSF 1.1.0's actor has no ``app_name``
(added in 1.2.0): the client's ``application_name`` goes to ``actor.invoked_by``, the
1.1.0 attribute for "the service or application through which the actor's activity was
initiated".

>>> from pgaudit_parse import parse_lines
>>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
...                    "AUDIT: SESSION,1,1,WRITE,INSERT,TABLE,public.t,insert into t,<none>"])
>>> o = to_ocsf(e)
>>> o["class_uid"], o["activity_id"], o["type_uid"], o["table"]["name"], o["src_endpoint"]["port"]
(6005, 5, 600505, 'public.t', 50012)
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Final

from ..events import AuditEvent, ConnectionEvent, DisconnectionEvent, ErrorEvent, Event
from .guardium import redact_passwords

__all__ = [
    "OCSF_VERSION", "OCSF_SCHEMA_VERSION", "DATASTORE_ACTIVITY", "AUTHENTICATION",
    "to_ocsf", "datastore_activity", "ocsf_class_name",
]

#: The OCSF version the events follow.
OCSF_VERSION: Final = "1.1.0"
#: The version of this mapping (``unmapped.schema_version``; a renamed key is a new major).
OCSF_SCHEMA_VERSION: Final = "1.0.0"

DATASTORE_ACTIVITY: Final = 6005
AUTHENTICATION: Final = 3002

#: Datastore Activity's activity_id captions (OCSF 1.1.0).
_DATASTORE_ACTIVITIES: Final = {
    0: "Unknown", 1: "Read", 2: "Update", 3: "Connect", 4: "Query", 5: "Write", 6: "Create",
    7: "Delete", 99: "Other",
}
_AUTH_ACTIVITIES: Final = {1: "Logon", 2: "Logoff"}
_CLASSES: Final = {
    DATASTORE_ACTIVITY: ("Datastore Activity", 6, "Application Activity"),
    AUTHENTICATION: ("Authentication", 3, "Identity & Access Management"),
}
#: PostgreSQL severity -> OCSF severity_id (0 Unknown, 1 Informational, 2 Low, 3 Medium,
#: 4 High, 5 Critical, 6 Fatal).
_SEVERITIES: Final = {
    "DEBUG": 1, "DEBUG1": 1, "DEBUG2": 1, "DEBUG3": 1, "DEBUG4": 1, "DEBUG5": 1,
    "INFO": 1, "NOTICE": 1, "LOG": 1, "WARNING": 2, "ERROR": 3, "FATAL": 4, "PANIC": 6,
}
_SEVERITY_NAMES: Final = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High",
                          5: "Critical", 6: "Fatal"}
_STATUS_NAMES: Final = {0: "Unknown", 1: "Success", 2: "Failure"}
#: pgAudit object types that are relations (OCSF ``table``).
_RELATIONS: Final = frozenset({"TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE",
                               "PARTITIONED TABLE", "SEQUENCE", "COMPOSITE TYPE", "TOAST TABLE"})
_READ: Final = 1
_UPDATE: Final = 2
_CONNECT: Final = 3
_QUERY: Final = 4
_WRITE: Final = 5
_CREATE: Final = 6
_DELETE: Final = 7
_OTHER: Final = 99
#: The first word(s) of a command -> activity, for commands whose class does not decide.
_VERBS: Final = {
    "SELECT": _QUERY, "WITH": _QUERY, "VALUES": _QUERY, "TABLE": _QUERY, "FETCH": _READ,
    "COPY": _READ, "INSERT": _WRITE, "MERGE": _WRITE, "UPDATE": _UPDATE, "DELETE": _DELETE,
    "TRUNCATE": _DELETE, "TRUNCATE TABLE": _DELETE, "CREATE": _CREATE, "DROP": _DELETE,
    "ALTER": _UPDATE, "GRANT": _UPDATE, "REVOKE": _UPDATE, "COMMENT": _UPDATE,
    "SECURITY": _UPDATE, "REINDEX": _UPDATE, "CLUSTER": _UPDATE, "REFRESH": _WRITE,
    "IMPORT": _CREATE,
}


#: Whole commands whose first word misleads: ``SELECT ... INTO`` (pgAudit's DDL
#: ``SELECT INTO``) creates a table, as ``CREATE TABLE AS`` does.
_COMMANDS: Final = {"SELECT INTO": _CREATE}
#: What a class's other commands are (PREPARE/EXECUTE of a SELECT is READ...).
_CLASS_KINDS: Final = {"READ": _QUERY, "WRITE": _WRITE, "DDL": _UPDATE, "ROLE": _UPDATE}
#: Classes whose statements change the schema or the roles: never a Query or a Read.
_CHANGE_CLASSES: Final = frozenset({"DDL", "ROLE"})


def datastore_activity(audit_class: str | None, command: str | None) -> int:
    """The Datastore Activity ``activity_id`` of a pgAudit class and command.

    READ: SELECT is a Query, COPY (out) and FETCH a Read; WRITE: INSERT and COPY (in)
    Write, UPDATE Update, DELETE and TRUNCATE Delete; DDL and ROLE: CREATE Create, DROP
    Delete, ALTER/GRANT/REVOKE/COMMENT Update; another command of a class takes the
    class's kind (READ: Query, e.g. PREPARE of a SELECT; WRITE: Write; DDL and ROLE:
    Update); FETCH (pgAudit's MISC) reads a cursor's rows: Read; DDL's ``SELECT INTO``
    creates a table: Create; FUNCTION, MISC and anything else: Other.

    >>> datastore_activity("READ", "SELECT"), datastore_activity("WRITE", "COPY")
    (4, 5)
    >>> datastore_activity("DDL", "CREATE TABLE"), datastore_activity("ROLE", "DROP ROLE")
    (6, 7)
    >>> datastore_activity("MISC", "SET"), datastore_activity(None, "SELECT")
    (99, 4)
    >>> datastore_activity("READ", "PREPARE"), datastore_activity("WRITE", "EXECUTE")
    (4, 5)
    >>> datastore_activity("MISC", "FETCH"), datastore_activity("DDL", "SELECT INTO")
    (1, 6)
    """
    words = (command or "").upper().split()
    verb = words[0] if words else ""
    whole = _COMMANDS.get(" ".join(words))
    if whole is not None:
        return whole
    if verb == "FETCH":
        return _READ
    if audit_class == "WRITE" and verb == "COPY":
        return _WRITE
    if audit_class in ("FUNCTION", "MISC", "MISC_SET"):
        return _OTHER
    kind = _CLASS_KINDS.get(audit_class or "", _OTHER)
    activity = _VERBS.get(verb, kind)
    if audit_class in _CHANGE_CLASSES and activity in (_QUERY, _READ):
        return kind  # (a DDL or ROLE line that starts like a query still changes things)
    return activity


def ocsf_class_name(class_uid: int) -> str:
    """``"Datastore Activity"`` or ``"Authentication"``."""
    return _CLASSES[class_uid][0]


def _millis(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int(value.timestamp() * 1000 + (0.5 if value.timestamp() >= 0 else -0.5))


@lru_cache(maxsize=4096)
def ip_text(host: str | None) -> str | None:
    """A client host as an IP address (zone id dropped), or None for a name or nothing.

    >>> ip_text("fe80::1%eth0"), ip_text("[local]")
    ('fe80::1', None)
    """
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


def _endpoint(event: Event) -> dict[str, Any]:
    """``src_endpoint``: ip and port for TCP clients, the host name (log_hostname) or
    ``[local]`` (the unix socket) as ``name``; ``name: "[unknown]"`` when the log names
    no client (a background process)."""
    host = event.client_host
    out: dict[str, Any] = {}
    ip = ip_text(host)
    if ip is not None:
        out["ip"] = ip
    elif host == "[local]":
        out["name"] = host
    elif host:
        out["hostname"] = host
    else:
        out["name"] = "[unknown]"
    if event.client_port is not None:
        out["port"] = event.client_port
    return out


def _session(event: Event) -> dict[str, Any] | None:
    session: dict[str, Any] = {}
    if event.session_id:
        session["uid"] = event.session_id
    started = _millis(event.session_start)
    if started is not None:
        session["created_time"] = started
    if event.client_host is not None:
        session["is_remote"] = event.client_host != "[local]"
    return session or None


def _user(event: Event) -> dict[str, Any]:
    return {"name": event.user if event.user is not None else "[unknown]"}


def _actor(event: Event) -> dict[str, Any]:
    actor: dict[str, Any] = {"user": _user(event)}
    session = _session(event)
    if session is not None:
        actor["session"] = session
    if event.application_name:
        actor["invoked_by"] = event.application_name
    if event.pid is not None:
        actor["process"] = {"pid": event.pid}
    return actor


def _unmapped(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"schema_version": OCSF_SCHEMA_VERSION, "kind": event.kind,
                           "severity": event.severity}
    for key in ("sqlstate", "detail", "hint", "context", "query", "location", "command_tag",
                "backend_type", "virtual_xid", "xid", "leader_pid", "query_id",
                "session_line", "cursor_position"):
        value = getattr(event, key)
        if value is not None:
            out[key] = value
    if isinstance(event, DisconnectionEvent) and event.session_time is not None:
        out["session_time"] = event.session_time
    return out


def _processed_millis() -> int:
    """Now, in epoch milliseconds: OCSF's ``time`` of an event whose log line carries no
    time (a ``log_line_prefix`` without ``%t``/``%m``/``%n``). OCSF requires ``time``;
    0 would file the event under 1970-01-01 (Security Lake's ``eventDay=19700101``,
    outside every time-range query and past every retention), so the event gets the
    time it was processed, said in ``metadata.processed_time`` too (and no
    ``original_time``, ``timezone_offset``)."""
    return int(datetime.now(timezone.utc).timestamp() * 1000)


def _base(event: Event, class_uid: int, activity_id: int, activity_name: str,
          source_name: str | None, instance: str | None) -> dict[str, Any]:
    class_name, category_uid, category_name = _CLASSES[class_uid]
    severity_id = _SEVERITIES.get(event.severity, 0)
    timestamp = event.timestamp
    out: dict[str, Any] = {
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "class_uid": class_uid,
        "class_name": class_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        "severity_id": severity_id,
        "severity": _SEVERITY_NAMES[severity_id],
        "time": _millis(timestamp) if timestamp is not None else _processed_millis(),
        "message": event.message,
    }
    if timestamp is not None and timestamp.utcoffset() is not None:
        offset = timestamp.utcoffset()
        assert offset is not None
        out["timezone_offset"] = int(offset.total_seconds() // 60)
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": {"name": "PostgreSQL", "vendor_name": "PostgreSQL Global Development Group",
                    "lang": "en"},
        "log_name": source_name or event.source,
        "log_provider": instance or "pgaudit-parse",
    }
    if timestamp is not None:
        metadata["original_time"] = timestamp.isoformat()
    else:  # (no time escape in log_line_prefix: the time is when we processed the line)
        metadata["processed_time"] = out["time"]
    out["metadata"] = metadata
    return out


def _status(out: dict[str, Any], status_id: int, event: Event, failed: bool) -> None:
    out["status_id"] = status_id
    out["status"] = _STATUS_NAMES[status_id]
    if event.sqlstate is not None:
        out["status_code"] = event.sqlstate
    if failed:
        out["status_detail"] = event.message


def to_ocsf(event: Event, account_id: str | None = None, instance: str | None = None,
            source_name: str | None = None) -> dict[str, Any] | None:
    """The OCSF 1.1.0 event of one of our events, or None when OCSF has no class for it.

    ``account_id`` and ``instance`` name the AWS account and DB instance (``database.uid``
    is ``ACCOUNT:INSTANCE:DATABASE`` as in Guardium records; ``dst_endpoint.name`` is the
    instance); ``source_name`` is ``metadata.log_name`` (default: the
    event's source file or stream). Query strings have passwords redacted.

    >>> from pgaudit_parse import parse_lines
    >>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.0.0.5(5000):bob@shop:[9]:FATAL:  "
    ...                    'password authentication failed for user "bob"'])
    >>> o = to_ocsf(e)
    >>> o["class_uid"], o["activity_name"], o["status"], o["user"]["name"]
    (3002, 'Logon', 'Failure', 'bob')
    """
    if isinstance(event, AuditEvent):
        return _datastore_audit(event, account_id, instance, source_name)
    if isinstance(event, ErrorEvent):
        if event.kind == "login_failed":
            return _authentication(event, 1, account_id, instance, source_name, failed=True)
        if event.user is None and event.statement is None:
            return None  # a background process's error: no client activity
        return _datastore_error(event, account_id, instance, source_name)
    if isinstance(event, ConnectionEvent):
        if "connection authorized: " not in event.message:
            return None  # "connection received" / "authenticated": the logon is not done
        return _authentication(event, 1, account_id, instance, source_name, failed=False)
    if isinstance(event, DisconnectionEvent):
        return _authentication(event, 2, account_id, instance, source_name, failed=False)
    return None


def _datastore_common(event: Event, activity_id: int, activity_name: str,
                      account_id: str | None, instance: str | None,
                      source_name: str | None) -> dict[str, Any]:
    out = _base(event, DATASTORE_ACTIVITY, activity_id, activity_name, source_name, instance)
    out["actor"] = _actor(event)
    out["src_endpoint"] = _endpoint(event)
    database: dict[str, Any] = {"type_id": 1, "type": "Relational"}
    if event.database is not None:
        database["name"] = event.database
    if account_id and instance and event.database is not None:
        database["uid"] = f"{account_id}:{instance}:{event.database}"
    out["database"] = database
    _place(out, account_id, instance)
    return out


def _place(out: dict[str, Any], account_id: str | None, instance: str | None) -> None:
    if instance:
        out["dst_endpoint"] = {"name": instance, "svc_name": "postgresql"}


def _datastore_audit(event: AuditEvent, account_id: str | None, instance: str | None,
                     source_name: str | None) -> dict[str, Any]:
    audit = event.audit
    activity_id = datastore_activity(audit.class_, audit.command)
    name = _DATASTORE_ACTIVITIES[activity_id] if activity_id != _OTHER else (
        audit.command or "Other")
    out = _datastore_common(event, activity_id, name, account_id, instance, source_name)
    if audit.object_name and (audit.object_type or "").upper() in _RELATIONS:
        out["table"] = {"name": audit.object_name}
    if audit.statement is not None:
        out["query_info"] = {"query_string": redact_passwords(audit.statement)}
    # pgaudit.log_rows writes the line when the statement has finished: it succeeded.
    # Otherwise the line is written before execution and the outcome is not known.
    _status(out, 1 if audit.rows is not None else 0, event, failed=False)
    unmapped = _unmapped(event)
    unmapped["pgaudit"] = {
        "audit_type": audit.audit_type, "statement_id": audit.statement_id,
        "substatement_id": audit.substatement_id, "class": audit.class_,
        "command": audit.command, "object_type": audit.object_type,
        "object_name": audit.object_name, "rows": audit.rows,
        "parameter": None if audit.parameter is None else list(audit.parameter),
    }
    out["unmapped"] = unmapped
    return out


#: FATALs that refuse a client's connection to a database after authentication (the
#: server logged ``connection authorized`` before it): the data store's Connect failed.
_CONNECTION_REFUSED: Final = re.compile(
    r'database ".*" does not exist\Z|permission denied for database |'
    r'database ".*" is not currently accepting connections\Z|'
    r"too many connections for (?:role|database) |sorry, too many clients already\Z|"
    r"remaining connection slots are reserved", re.DOTALL)
#: The ``%i`` command tag of a backend that is still starting (csvlog's command_tag).
_STARTING: Final = frozenset({"startup", "authentication"})


def refused_connection(event: Event) -> bool:
    """Is this error the refusal of a client's connection (not a failed login: the client
    was authenticated; an unknown database, no CONNECT privilege, too many connections)?

    >>> from pgaudit_parse import parse_lines
    >>> [e] = parse_lines(['2026-11-25 16:05:01 UTC:[local]:bob@nodb:[9]:FATAL:  '
    ...                    'database "nodb" does not exist'])
    >>> refused_connection(e)
    True
    """
    if event.severity != "FATAL" or event.statement is not None:
        return False
    return event.command_tag in _STARTING or \
        _CONNECTION_REFUSED.match(event.message) is not None


def _datastore_error(event: ErrorEvent, account_id: str | None, instance: str | None,
                     source_name: str | None) -> dict[str, Any]:
    statement = event.statement
    if refused_connection(event):
        activity_id = _CONNECT
    else:
        activity_id = datastore_activity(None, statement.lstrip("( \n\t") if statement
                                         else None)
    name = _DATASTORE_ACTIVITIES[activity_id] if activity_id != _OTHER else "Other"
    out = _datastore_common(event, activity_id, name, account_id, instance, source_name)
    if statement is not None:
        out["query_info"] = {"query_string": redact_passwords(statement)}
    _status(out, 2, event, failed=True)
    out["unmapped"] = _unmapped(event)
    return out


def _authentication(event: Event, activity_id: int, account_id: str | None,
                    instance: str | None, source_name: str | None,
                    failed: bool) -> dict[str, Any]:
    out = _base(event, AUTHENTICATION, activity_id, _AUTH_ACTIVITIES[activity_id],
                source_name, instance)
    out["user"] = _user(event)
    out["src_endpoint"] = _endpoint(event)
    out["service"] = {"name": "PostgreSQL"}
    if event.client_host is not None:
        out["is_remote"] = event.client_host != "[local]"
    session = _session(event)
    if session is not None:
        out["session"] = session
    actor: dict[str, Any] = {"user": _user(event)}
    if event.application_name:
        actor["invoked_by"] = event.application_name
    if event.pid is not None:
        actor["process"] = {"pid": event.pid}
    out["actor"] = actor
    _place(out, account_id, instance)
    _status(out, 2 if failed else 1, event, failed=failed)
    unmapped = _unmapped(event)
    if event.database is not None:
        unmapped["database"] = event.database
    out["unmapped"] = unmapped
    return out
