"""pgaudit-parse: PostgreSQL + pgAudit logs (RDS, Aurora) -> typed events and Guardium records.

>>> import pgaudit_parse as pp
>>> line = ("2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:LOG:  "
...         "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select * from t,<none>")
>>> [event] = pp.parse_lines([line])
>>> event.user, event.audit.command, event.audit.statement
('alice', 'SELECT', 'select * from t')
>>> pp.to_guardium(event)["data"]["originalSqlCommand"]
'select * from t'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from .entries import LogEntry, assemble_entries
from .events import (
    DEFAULT_STATEMENT_CACHE_BYTES,
    AuditEvent,
    ConnectionEvent,
    DisconnectionEvent,
    DurationEvent,
    ErrorEvent,
    Event,
    LogEvent,
    event_fields,
    replace,
)
from .formats.ecs import to_ecs
from .formats.guardium import to_guardium
from .formats.ocsf import to_ocsf
from .lines import Line, Reject
from .parser import Parser, parse_lines, parse_path
from .payload import AuditFields, PayloadError, parse_audit_payload
from .prefix import POSTGRES_DEFAULT_PREFIX, RDS_PREFIX, LinePrefix, PrefixError, detect_prefix
from .sinks import event_to_json
from .sources import InputError, read_input

__version__ = "0.1.0"

__all__ = [
    "RDS_PREFIX",
    "POSTGRES_DEFAULT_PREFIX",
    "LinePrefix",
    "PrefixError",
    "detect_prefix",
    "Line",
    "Reject",
    "LogEntry",
    "assemble_entries",
    "AuditFields",
    "PayloadError",
    "parse_audit_payload",
    "Event",
    "AuditEvent",
    "ErrorEvent",
    "ConnectionEvent",
    "DisconnectionEvent",
    "DurationEvent",
    "LogEvent",
    "event_fields",
    "replace",
    "Parser",
    "parse_lines",
    "parse_file",
    "to_guardium",
    "to_ocsf",
    "to_ecs",
    "event_to_json",
    "InputError",
    "read_input",
    "__version__",
]


def parse_file(path: str | os.PathLike[str], prefix: str | LinePrefix = RDS_PREFIX,
               on_reject: Callable[[Reject], None] | None = None,
               timezone: str | None = None,
               max_state_bytes: int = DEFAULT_STATEMENT_CACHE_BYTES) -> Iterator[Event]:
    """Parse a server log (plain or ``.gz``), a csvlog or jsonlog (recognised by content;
    ``prefix`` does not apply to them), a CloudWatch export or SQS bodies.

    ``prefix`` may be ``"auto"``; ``timezone`` is the server's ``log_timezone`` (IANA name)
    for ambiguous zone abbreviations; ``max_state_bytes`` bounds the per-session state
    (docs/memory.md). ``path`` is a ``str`` or a path object (``pathlib.Path``). Raises
    :class:`InputError` if the file cannot be read.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
    ...     _ = f.write("2026-11-25 16:05:01 UTC::@:[77]:LOG:  checkpoint starting\\n")
    >>> [e.message for e in parse_file(f.name)]
    ['checkpoint starting']
    >>> os.unlink(f.name)
    """
    return parse_path(os.fspath(path), prefix=prefix, on_reject=on_reject,
                      timezone=timezone, max_state_bytes=max_state_bytes)
