"""Log lines as RDS writes them (prefix ``%t:%r:%u@%d:[%p]:``), for the AWS tests.

Each audit line carries a unique statement ``select N from t``; :func:`statements`
reads the N back from ``--format events`` output, so tests count exactly what came out.

>>> audit_line(1_795_622_701_000, 4242, 7)[:45]
'2026-11-25 16:05:01 UTC:10.0.1.25(54242):alic'
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

#: Test events live one to two hours in the past (CloudWatch accepts up to 14 days).
BASE_MS = (int(time.time()) - 2 * 3600) * 1000


def stamp(ms: int) -> str:
    """``%t`` of a time in epoch ms."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def prefix(ms: int, pid: int, user: str = "alice", db: str = "shop") -> str:
    """The RDS prefix of one line."""
    return f"{stamp(ms)}:10.0.1.25(5{pid % 10000:04d}):{user}@{db}:[{pid}]:"


def audit_line(ms: int, pid: int, n: int) -> str:
    """A pgAudit SESSION line whose statement is ``select N from t``."""
    return (f"{prefix(ms, pid)}LOG:  AUDIT: SESSION,{n},1,READ,SELECT,TABLE,public.t,"
            f"select {n} from t,<not logged>")


def error_lines(ms: int, pid: int, n: int) -> list[str]:
    """An ERROR with a two-line STATEMENT, as three physical lines."""
    return [f'{prefix(ms, pid)}ERROR:  relation "nope{n}" does not exist at character 15',
            f"{prefix(ms, pid)}STATEMENT:  select *",
            f"\tfrom nope{n}"]


_SELECT = re.compile(r"^select (\d+) from t$")


def statements(events: list[dict[str, Any]]) -> Counter[int]:
    """How often each ``select N from t`` audit statement appears in events output."""
    found: Counter[int] = Counter()
    for event in events:
        audit = event.get("audit") or {}
        match = _SELECT.match(str(audit.get("statement") or ""))
        if event.get("kind") == "audit" and match:
            found[int(match.group(1))] += 1
    return found


def errors(events: list[dict[str, Any]]) -> dict[str, str | None]:
    """message -> statement of the error events."""
    return {e["message"]: e.get("statement") for e in events if e.get("kind") == "error"}
