"""Who did what: a bounded-memory summary of the events of any number of logs.

:class:`Summary` takes events one at a time (:meth:`Summary.add`) and keeps only counters,
a time histogram whose buckets widen as the covered time grows, and capped lists, so its
memory does not grow with the input.

What is counted (each table and chart says so, :data:`COUNTS`): the audit tables count
statement executions, once each, however many lines pgAudit wrote for one (SESSION and
OBJECT, log_relation's line per relation, grouped as Guardium records are:
:class:`~pgaudit_parse.formats.executions.ExecutionGrouper`); the time chart and the
top-users chart count every message (an audit line, an error, a failed login, any other
line). :meth:`Summary.render_text` prints the tables; the HTML report
(:mod:`pgaudit_parse.ops.html_report`) draws the same data with charts.

>>> import pgaudit_parse as pp
>>> s = Summary()
>>> for e in pp.parse_lines(["2026-11-25 16:33:28 UTC:10.0.0.5(5000):alice@shop:[9]:LOG:  "
...                          "AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,"
...                          "create table t (a int),<none>"]):
...     s.add(e)
>>> s.events, s.by_user.most_common(), s.changes[0].command
(1, [('alice', 1)], 'CREATE TABLE')
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Final

from pgaudit_parse.events import AuditEvent, Event
from pgaudit_parse.formats.executions import ExecutionGrouper
from pgaudit_parse.lines import Reject
from pgaudit_parse.sql import fingerprint, normalize, redact_passwords
from pgaudit_parse.sql.redact import CACHED_LENGTH
from pgaudit_parse.sql.stage import SqlStage

__all__ = [
    "COUNTS",
    "PRIVILEGE_COMMANDS",
    "GroupCounts",
    "Summary",
    "Change",
    "BoundedCounter",
    "TimeHistogram",
    "KIND_GROUPS",
    "format_time",
    "width_text",
    "bucket_time",
]

#: How events are grouped in charts and the time histogram.
KIND_GROUPS: Final = ("audit", "error", "login_failed", "other")
OTHER: Final = "(other)"
#: Bucket widths (seconds) the time histogram moves through as the covered time grows.
_WIDTHS: Final = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400, 365 * 86400)
#: Commands that change who may do what (pgAudit logs them in class ROLE, or DDL for
#: ALTER DEFAULT PRIVILEGES).
PRIVILEGE_COMMANDS: Final = frozenset({
    "GRANT", "REVOKE", "CREATE ROLE", "ALTER ROLE", "DROP ROLE", "CREATE USER", "ALTER USER",
    "DROP USER", "CREATE GROUP", "ALTER GROUP", "DROP GROUP", "ALTER DEFAULT PRIVILEGES",
    "REASSIGN OWNED", "DROP OWNED",
})
#: Columns of the per-client and per-application tables.
GROUP_COLUMNS: Final = ("audit statements", "failed logins", "errors", "all messages")
#: What each table and chart counts (the text, the HTML and ``--json`` say it).
COUNTS: Final = {
    "events": "every message (audit line, error, failed login, other)",
    "histogram": "all messages per time bucket, by kind",
    "top_users": "all messages per user, by kind (audit lines, not executions)",
    "who_did_what": "audit statements: one per execution",
    "by_user": "audit statements: one per execution",
    "by_database": "audit statements: one per execution",
    "by_class": "audit statements: one per execution",
    "by_command": "audit statements: one per execution",
    "objects": "audit statements that touched the object: one per execution",
    "clients": "per client address: " + ", ".join(GROUP_COLUMNS),
    "applications": "per application name: " + ", ".join(GROUP_COLUMNS),
    "failed_logins": "failed login attempts",
    "failed_logins_over_time": "failed login attempts per time bucket",
    "errors": "ERROR, FATAL and PANIC messages (failed logins apart)",
    "ddl_changes": "DDL statements, newest first, one per execution",
    "privilege_changes": "GRANT, REVOKE and role statements, newest first, one per execution",
}


def _is_privilege_change(audit_class: str, command: str) -> bool:
    return audit_class == "ROLE" or command in PRIVILEGE_COMMANDS


def _group(kind: str) -> int:
    return KIND_GROUPS.index(kind) if kind in KIND_GROUPS[:3] else 3


def _one_line(text: str | None, limit: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


#: The longest name a counter keeps (a user, database, object, client or application;
#: PostgreSQL's own names stop at 63 bytes): longer ones are cut, so the counters' memory
#: is ``max_keys`` short keys whatever the lines hold.
MAX_KEY_CHARS: Final = 256


def _clip(key: Any) -> Any:
    """A counter's key with its texts cut to :data:`MAX_KEY_CHARS`.

    >>> _clip("a" * 300)[-3:], _clip(("x", 1))
    ('aa…', ('x', 1))
    """
    if isinstance(key, str):
        return key if len(key) <= MAX_KEY_CHARS else key[: MAX_KEY_CHARS - 1] + "…"
    if isinstance(key, tuple) and any(isinstance(part, str) and len(part) > MAX_KEY_CHARS
                                      for part in key):
        return tuple(_clip(part) for part in key)
    return key


class BoundedCounter:
    """A counter of at most ``max_keys`` keys; later new keys count under ``(other)``.

    >>> c = BoundedCounter(max_keys=2)
    >>> for key in "aabc": c.add(key)
    >>> c.most_common()
    [('a', 2), ('b', 1), ('(other)', 1)]
    """

    __slots__ = ("counts", "max_keys")

    def __init__(self, max_keys: int = 10_000) -> None:
        self.counts: dict[Any, int] = {}
        self.max_keys = max_keys

    def add(self, key: Any, count: int = 1) -> None:
        """Count ``key`` (or ``(other)`` once ``max_keys`` distinct keys are held)."""
        counts = self.counts
        key = _clip(key)
        if key not in counts and len(counts) >= self.max_keys:
            key = OTHER if not isinstance(key, tuple) else (OTHER,) * len(key)
        counts[key] = counts.get(key, 0) + count

    def most_common(self, n: int | None = None) -> list[tuple[Any, int]]:
        """Keys by count, largest first (ties by key text, for stable output)."""
        def order(item: tuple[Any, int]) -> tuple[int, bool, str]:
            key = item[0]
            other = key == OTHER or (isinstance(key, tuple) and key[:1] == (OTHER,))
            return (-item[1], other, str(key))

        ordered = sorted(self.counts.items(), key=order)
        return ordered if n is None else ordered[:n]

    def total(self) -> int:
        """The sum of all counts."""
        return sum(self.counts.values())

    def __len__(self) -> int:
        return len(self.counts)


class GroupCounts:
    """Several counts per key (the :data:`GROUP_COLUMNS`), for at most ``max_keys`` keys;
    later new keys count under ``(other)``.

    >>> g = GroupCounts(max_keys=1)
    >>> g.add("10.0.0.5", 3); g.add("10.0.0.6", 3); g.add("10.0.0.5", 0)
    >>> g.rows()
    [('10.0.0.5', [1, 0, 0, 2]), ('(other)', [0, 0, 0, 1])]
    """

    __slots__ = ("counts", "max_keys")

    def __init__(self, max_keys: int = 10_000) -> None:
        self.counts: dict[str, list[int]] = {}
        self.max_keys = max_keys

    def add(self, key: str, column: int) -> None:
        """Count one in ``column`` (and one in the last column, all messages)."""
        key = _clip(key)
        counts = self.counts.get(key)
        if counts is None:
            if len(self.counts) >= self.max_keys:
                key = OTHER
            counts = self.counts.setdefault(key, [0] * len(GROUP_COLUMNS))
        if column != len(GROUP_COLUMNS) - 1:
            counts[column] += 1
        counts[-1] += 1

    def rows(self, n: int | None = None) -> list[tuple[str, list[int]]]:
        """Keys by audit statements, then all messages, largest first."""
        ordered = sorted(self.counts.items(),
                         key=lambda kv: (kv[0] == OTHER, -kv[1][0], -kv[1][-1], kv[0]))
        return ordered if n is None else ordered[:n]

    def __len__(self) -> int:
        return len(self.counts)


class TimeHistogram:
    """Events per time bucket and kind group; buckets widen (1 min, 5 min, 15 min, 1 h, ...)
    whenever more than ``max_buckets`` would be needed, so memory stays bounded.

    >>> h = TimeHistogram(max_buckets=3)
    >>> for minute in range(10): h.add(minute * 60.0, 0)
    >>> h.width, sum(counts[0] for _, counts in h.buckets())
    (300, 10)
    """

    __slots__ = ("width", "counts", "max_buckets", "_level")

    def __init__(self, max_buckets: int = 720) -> None:
        self._level = 0
        self.width = _WIDTHS[0]
        self.counts: dict[int, list[int]] = {}
        self.max_buckets = max_buckets

    def add(self, epoch: float, group: int) -> None:
        """Count one event of kind group ``group`` at ``epoch`` seconds."""
        key = int(epoch // self.width) * self.width
        bucket = self.counts.get(key)
        if bucket is None:
            if len(self.counts) >= self.max_buckets:
                self._widen()
                key = int(epoch // self.width) * self.width
                bucket = self.counts.get(key)
            if bucket is None:
                bucket = self.counts[key] = [0] * len(KIND_GROUPS)
        bucket[group] += 1

    def _next_width(self) -> int:
        self._level += 1
        return _WIDTHS[self._level] if self._level < len(_WIDTHS) else self.width * 2

    def _widen(self) -> None:
        """Move to wider buckets until there is room for one more."""
        while len(self.counts) >= self.max_buckets:
            self.width = self._next_width()
            self.counts = _regroup(self.counts, self.width)

    def buckets(self) -> list[tuple[int, list[int]]]:
        """``(bucket start epoch, counts per kind group)``, oldest first, gaps filled; at
        most ``max_buckets`` of them (sparse data over a long time is shown wider)."""
        if not self.counts:
            return []
        width, counts = self.width, self.counts
        level = self._level
        while (max(counts) - min(counts)) // width + 1 > self.max_buckets:
            level += 1
            width = _WIDTHS[level] if level < len(_WIDTHS) else width * 2
            counts = _regroup(counts, width)
        first, last = min(counts), max(counts)
        empty = [0] * len(KIND_GROUPS)
        return [(key, list(counts.get(key, empty))) for key in range(first, last + width, width)]

    def bucket_width(self) -> int:
        """The width (seconds) of the buckets :meth:`buckets` returns."""
        buckets = self.buckets()
        return buckets[1][0] - buckets[0][0] if len(buckets) > 1 else self.width


def _regroup(counts: dict[int, list[int]], width: int) -> dict[int, list[int]]:
    merged: dict[int, list[int]] = {}
    for key, values in counts.items():
        target = merged.setdefault(int(key // width) * width, [0] * len(KIND_GROUPS))
        for i, value in enumerate(values):
            target[i] += value
    return merged


@dataclass(frozen=True, slots=True)
class Change:
    """A DDL statement or a privilege change seen in the audit log (statement text, its
    passwords hidden, cut to 500 chars)."""

    timestamp: datetime | None
    user: str | None
    database: str | None
    audit_class: str
    command: str
    object_name: str | None
    statement: str
    source: str
    line: int




class Summary:
    """Streaming who-did-what counters over events.

    ``top`` rows per table in the text; ``max_keys`` distinct keys per counter;
    ``max_changes`` DDL statements and as many privilege changes listed, the newest
    (the older ones counted).

    >>> Summary().render_text().splitlines()[0]
    'Summary: 0 events'
    """

    def __init__(self, *, top: int = 15, max_keys: int = 10_000,
                 max_changes: int = 200) -> None:
        self.top = top
        self.max_changes = max_changes
        self.events = 0
        self.rejects = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.by_kind = BoundedCounter(32)
        self.by_user = BoundedCounter(max_keys)
        self.by_database = BoundedCounter(max_keys)
        self.by_class = BoundedCounter(64)
        self.by_command = BoundedCounter(max_keys)
        self.who_did_what = BoundedCounter(max_keys)
        self.user_kinds: dict[str, list[int]] = {}
        self.max_keys = max_keys
        self.failed_logins = BoundedCounter(max_keys)
        self.errors = BoundedCounter(max_keys)
        # (fingerprint, normalized statement): what ran, constants hidden (docs/sql.md)
        self.by_fingerprint = BoundedCounter(max_keys)
        self._statements = SqlStage("none", fingerprints=False)  # one statement per line
        self._passwords = SqlStage("passwords", fingerprints=False)  # for error messages
        #: The newest DDL statements and privilege changes (older ones are counted).
        self.changes: deque[Change] = deque(maxlen=max_changes)
        self.changes_omitted = 0
        self.privilege_changes: deque[Change] = deque(maxlen=max_changes)
        self.privilege_changes_omitted = 0
        self.histogram = TimeHistogram()
        #: Statement executions pgAudit logged (what the audit tables count).
        self.audit_executions = 0
        # The record builder's grouping, so that one execution counts once.
        self._executions = ExecutionGrouper(max_held=1_000)
        self.objects = BoundedCounter(max_keys)
        self.clients = GroupCounts(max_keys)
        self.applications = GroupCounts(max_keys)
        # Per session: the objects already counted for its current execution.
        self._objects_counted: dict[tuple[str, str, str], set[tuple[str, str]]] = {}

    def add(self, event: Event) -> None:
        """Count one event."""
        self.events += 1
        kind = event.kind
        self.by_kind.add(kind)
        stamp = event.timestamp
        if stamp is not None:
            if self.first is None or stamp < self.first:
                self.first = stamp
            if self.last is None or stamp > self.last:
                self.last = stamp
            self.histogram.add(stamp.timestamp(), _group(kind))
        user = _clip(event.user or "-")
        if event.user is not None:
            kinds = self.user_kinds.get(user)
            if kinds is None:
                if len(self.user_kinds) >= self.max_keys:
                    user = OTHER
                kinds = self.user_kinds.setdefault(user, [0] * len(KIND_GROUPS))
            kinds[_group(kind)] += 1
        column = len(GROUP_COLUMNS) - 1  # all messages only
        self._executions.add(event)  # what it releases was counted when it started
        if isinstance(event, AuditEvent):
            audit = event.audit
            new = not self._executions.joined
            counted = self._count_object(event, new)
            if new or self._executions.part:
                # a new execution, or a part of one of another class and command (the
                # CREATE TABLE AS after its query's SELECT): the class and command tables
                # and the changes count each (class, command) of an execution once
                database = event.database or "-"
                audit_class = audit.class_ or "-"
                command = audit.command or "-"
                if new:
                    column = 0
                    self.audit_executions += 1
                    self.by_user.add(user)
                    self.by_database.add(database)
                    if audit.statement and audit.substatement_id == 1:
                        own = self._statements.apply(event)[0].audit  # type: ignore[attr-defined]
                        self.by_fingerprint.add(_fingerprinted(own.statement or audit.statement))
                if ("", "class " + audit_class) not in counted:
                    counted.add(("", "class " + audit_class))
                    self.by_class.add(audit_class)
                if ("", "command " + command) not in counted:
                    counted.add(("", "command " + command))
                    self.by_command.add(command)
                    self.who_did_what.add((user, database, audit_class, command))
                    if _is_privilege_change(audit_class, command):
                        self._add_change(self.privilege_changes, event, audit)
                    elif audit_class == "DDL":
                        self._add_change(self.changes, event, audit)
        elif kind == "login_failed":
            column = 1
            self.failed_logins.add((event.user or "-", event.client_host or "-"))
        elif kind == "error":
            column = 2
            # (a report: no password, also where the message quotes one of its statement)
            shown = self._passwords.apply(event)[0].message
            self.errors.add((event.sqlstate or "-", event.severity, _one_line(shown, 160)))
        if event.client_host is not None:  # background processes have no client
            self.clients.add(event.client_host, column)
        if event.application_name is not None:
            self.applications.add(event.application_name, column)

    def _count_object(self, event: AuditEvent, new_execution: bool) -> set[tuple[str, str]]:
        """Count the object an audit line names, once per execution (log_relation writes a
        line per relation; SESSION and OBJECT lines name the same one). Returns what the
        session's execution has counted: its objects, and ``("", "class X")`` / ``("",
        "command Y")`` for its classes and commands (an object name is never empty)."""
        audit = event.audit
        session = (event.stream, event.source,
                   str(event.session_id if event.session_id is not None else event.pid))
        counted = self._objects_counted.get(session)
        if counted is None or new_execution:
            if counted is None and len(self._objects_counted) >= self.max_keys:
                self._objects_counted.clear()  # bounded: at worst an object counts twice
            counted = self._objects_counted[session] = set()
        if audit.object_name:
            target = _clip((audit.object_name, audit.object_type or "-"))
            if target not in counted and len(counted) < 1024:
                counted.add(target)
                self.objects.add(target)
        return counted

    def _add_change(self, changes: deque[Change], event: Event, audit: Any) -> None:
        if len(changes) == changes.maxlen:
            if changes is self.changes:
                self.changes_omitted += 1
            else:
                self.privilege_changes_omitted += 1
        changes.append(Change(
            event.timestamp, _clip(event.user), _clip(event.database),
            _clip(audit.class_ or "-"), _clip(audit.command or "-"), _clip(audit.object_name),
            _one_line(redact_passwords(audit.statement or ""), 500),  # a report: no password
            event.source, event.line,
        ))

    @staticmethod
    def newest_first(changes: deque[Change]) -> list[Change]:
        """The listed changes, newest first (later in the log first at the same time;
        those without a time last)."""
        return sorted(reversed(changes), key=lambda c: (c.timestamp is None,
                                                        -(c.timestamp.timestamp()
                                                          if c.timestamp else 0)))

    def failed_logins_over_time(self) -> list[tuple[int, int]]:
        """``(bucket start epoch, failed logins)`` for the buckets that have any."""
        column = KIND_GROUPS.index("login_failed")
        return [(start, counts[column]) for start, counts in self.histogram.buckets()
                if counts[column]]

    def add_reject(self, reject: Reject) -> None:
        """Count a line the parser could not place (usable as ``on_reject``)."""
        self.rejects += 1

    def top_users(self, n: int | None = None) -> list[tuple[str, list[int]]]:
        """Users with the most events, with their counts per kind group."""
        ordered = sorted(self.user_kinds.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        return ordered[: n or self.top]

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data (used by the HTML report and tests)."""
        def table(counter: BoundedCounter) -> list[list[Any]]:
            return [[*(k if isinstance(k, tuple) else (k,)), v]
                    for k, v in counter.most_common(self.top)]

        def changes(listed: deque[Change]) -> list[dict[str, Any]]:
            return [{"timestamp": c.timestamp.isoformat() if c.timestamp else None,
                     "user": c.user, "database": c.database, "class": c.audit_class,
                     "command": c.command, "object": c.object_name, "statement": c.statement}
                    for c in self.newest_first(listed)]

        def groups(counts: GroupCounts) -> list[list[Any]]:
            return [[key, *values] for key, values in counts.rows(self.top)]

        ddl = changes(self.changes)
        return {
            "counts": dict(COUNTS),
            "events": self.events,
            "audit_executions": self.audit_executions,
            "rejects": self.rejects,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "by_kind": table(self.by_kind),
            "by_user": table(self.by_user),
            "by_database": table(self.by_database),
            "by_class": table(self.by_class),
            "by_command": table(self.by_command),
            "who_did_what": table(self.who_did_what),
            "failed_logins": table(self.failed_logins),
            "errors": table(self.errors),
            "by_fingerprint": table(self.by_fingerprint),
            "objects": table(self.objects),
            "group_columns": list(GROUP_COLUMNS),
            "clients": groups(self.clients),
            "applications": groups(self.applications),
            "ddl_changes": ddl,
            "ddl_changes_omitted": self.changes_omitted,
            "changes": ddl,  # the name before privilege changes had their own list
            "changes_omitted": self.changes_omitted,
            "privilege_changes": changes(self.privilege_changes),
            "privilege_changes_omitted": self.privilege_changes_omitted,
            "failed_logins_over_time": [
                [datetime.fromtimestamp(start, timezone.utc).isoformat(), count]
                for start, count in self.failed_logins_over_time()],
            "histogram_width": self.histogram.bucket_width(),
            "histogram": self.histogram.buckets(),
            "top_users": self.top_users(),
        }

    def render_text(self) -> str:
        """The summary as plain-text tables, each titled with what it counts."""
        out: list[str] = []
        span = ""
        if self.first and self.last:
            span = f", {format_time(self.first)} .. {format_time(self.last)}"
        rejected = f", {self.rejects} rejected line(s)" if self.rejects else ""
        out.append(f"Summary: {self.events} events{span}{rejected}")
        if self.events:
            kinds = ", ".join(f"{k} {v}" for k, v in self.by_kind.most_common())
            out.append(f"  by kind (messages): {kinds}")
            out.append(f"  audited statement executions: {self.audit_executions}")
        per_execution = "(statements, one per execution)"

        def counted(title: str, headers: list[str], unit: str, counter: BoundedCounter) -> None:
            if not len(counter):
                return
            rows = [[*(k if isinstance(k, tuple) else (k,)), str(v)]
                    for k, v in counter.most_common(self.top)]
            out.append("")
            out.append(title + _more(len(rows), len(counter)))
            out.extend(_table([*headers, unit], rows, numeric_last=True))

        def grouped(title: str, column: str, groups: GroupCounts) -> None:
            if not len(groups):
                return
            rows = [[key, *map(str, values)] for key, values in groups.rows(self.top)]
            out.append("")
            out.append(f"{title} (audit statements: one per execution; the rest: messages)"
                       + _more(len(rows), len(groups)))
            out.extend(_table([column, "audit", "failed-logins", "errors", "messages"], rows,
                              numeric_columns=4))

        def listed(title: str, changes: deque[Change], omitted: int) -> None:
            if not changes:
                return
            out.append("")
            more = f", {omitted} older not listed" if omitted else ""
            out.append(f"{title} (newest first, one per execution; {len(changes)} "
                       f"listed{more})")
            rows = [[format_time(c.timestamp), c.user or "-", c.database or "-", c.command,
                     c.object_name or "-", _one_line(c.statement, 100)]
                    for c in self.newest_first(changes)]
            out.extend(_table(["time", "user", "database", "command", "object", "statement"],
                              rows))

        # What a security reviewer asks first comes first.
        counted("Failed logins (attempts)", ["user", "client"], "attempts", self.failed_logins)
        over_time = self.failed_logins_over_time()
        if over_time:
            width = self.histogram.bucket_width()
            out.append("")
            out.append(f"Failed logins over time (attempts per {width_text(width)})")
            out.extend(_table(["from", "attempts"],
                              [[bucket_time(start, width), str(count)]
                               for start, count in over_time], numeric_last=True))
        listed("Privilege changes (GRANT, REVOKE, roles)", self.privilege_changes,
               self.privilege_changes_omitted)
        listed("DDL changes", self.changes, self.changes_omitted)
        counted(f"Who did what {per_execution}", ["user", "database", "class", "command"],
                "statements", self.who_did_what)
        counted(f"Objects touched {per_execution}", ["object", "type"], "statements",
                self.objects)
        grouped("Client addresses", "client", self.clients)
        grouped("Application names", "application", self.applications)
        counted("Errors (ERROR, FATAL, PANIC messages)", ["sqlstate", "severity", "message"],
                "messages", self.errors)
        counted(f"Audit events per user {per_execution}", ["user"], "statements", self.by_user)
        counted(f"Audit events per database {per_execution}", ["database"], "statements",
                self.by_database)
        counted(f"Audit events per class {per_execution}", ["class"], "statements",
                self.by_class)
        counted(f"Audit events per command {per_execution}", ["command"], "statements",
                self.by_command)
        counted(f"Statements by fingerprint, constants hidden {per_execution}",
                ["fingerprint", "statement"], "statements", self.by_fingerprint)
        return "\n".join(out) + "\n"


def _fingerprinted(statement: str) -> tuple[str, str]:
    """(fingerprint, one example with its constants hidden), cached: statements repeat.
    Long ones are not cached: the cache keeps its keys, 4096 bulk INSERTs of megabytes
    would be gigabytes (the SQL layer's caches stop at the same length)."""
    if len(statement) <= CACHED_LENGTH:
        return _fingerprinted_cached(statement)
    return fingerprint(statement), _one_line(normalize(statement), 100)


@lru_cache(maxsize=4096)
def _fingerprinted_cached(statement: str) -> tuple[str, str]:
    return fingerprint(statement), _one_line(normalize(statement), 100)


def _more(shown: int, total: int) -> str:
    return f" (top {shown} of {total})" if total > shown else ""


def width_text(seconds: int) -> str:
    """A bucket width in words.

    >>> width_text(60), width_text(900), width_text(86400)
    ('minute', '15 minutes', 'day')
    """
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {name}s" if count != 1 else name
    return f"{seconds} s"


def bucket_time(epoch: int, width: int) -> str:
    """The start of a time bucket, to the minute (or the day, for wide buckets)."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%d UTC" if width >= 86400 else "%Y-%m-%d %H:%M UTC")


def format_time(moment: datetime | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC`` (``-`` for None)."""
    if moment is None:
        return "-"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


#: What a terminal would obey rather than show (C0 and C1 controls, DEL, bidirectional
#: overrides and isolates) and what would break a table row (newline, tab).
_UNSEEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(text: str) -> str:
    r"""``text`` with every control character written as its escape, so that a logged
    text cannot drive the reader's terminal (clear it, retitle it, hide lines).

    >>> _visible("a\x1b[2Jb\nc ünï")
    'a\\x1b[2Jb\\nc ünï'
    """
    if not _UNSEEN.search(text):
        return text
    return _UNSEEN.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _table(headers: list[str], rows: list[list[str]], numeric_last: bool = False,
           numeric_columns: int = 0) -> list[str]:
    """Aligned columns; the last ``numeric_columns`` (or the last, with ``numeric_last``)
    right-aligned."""
    numeric_columns = max(numeric_columns, 1 if numeric_last else 0)
    rows = [[_visible(str(cell)) for cell in row] for row in rows]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            text = str(cell)
            if i >= len(row) - numeric_columns:
                cells.append(text.rjust(widths[i]))
            elif last:
                cells.append(text)
            else:
                cells.append(text.ljust(widths[i]))
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines
