"""CPU time of the stages between the parser and the renderers, alone (issue 12, round 2).

Parses a log once into a list of events, then times (best of 3, ``time.process_time``,
caches cleared before each run) the SQL stage in the settings each output uses, and the
execution grouper that records are built from::

    python bench/stages.py [LOG] [rec|ev|reclit|evlit|group ...]

``rec`` is ``--format records`` (``passwords``, no fingerprints), ``ev`` ``--format
events`` (``none``, fingerprints), ``reclit``/``evlit`` the same with ``--redact
literals``. The default log is ``bench/out/rds-20mb.log``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from pgaudit_parse import parse_lines
from pgaudit_parse.events import Event
from pgaudit_parse.formats.executions import ExecutionGrouper
from pgaudit_parse.sql.stage import SqlStage

DEFAULT_LOG = Path(__file__).resolve().parent / "out" / "rds-20mb.log"
RUNS = 3


def _clear_caches() -> None:
    for name in ("pgaudit_parse.sql.redact", "pgaudit_parse.sql.fingerprint"):
        module = sys.modules.get(name)
        for value in vars(module).values() if module else ():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def _stage(events: list[Event], mode: str, **options: Any) -> None:
    apply = SqlStage(mode, **options).apply
    for event in events:
        apply(event)


def _group(events: list[Event]) -> None:
    grouper = ExecutionGrouper()
    add = grouper.add
    for event in events:
        add(event)
    grouper.flush()


def best_of(run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        _clear_caches()
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def main(argv: list[str]) -> None:
    paths = [a for a in argv if a not in CASES]
    log = Path(paths[0]) if paths else DEFAULT_LOG
    with open(log, encoding="utf-8") as f:
        events = list(parse_lines(f, prefix="%t:%r:%u@%d:[%p]:"))
    for name in [a for a in argv if a in CASES] or list(CASES):
        seconds = best_of(partial(CASES[name], events))
        print(f"{name:7s} {seconds:6.3f} s  {seconds / len(events) * 1e6:5.2f} us/event")


CASES: dict[str, Callable[[list[Event]], None]] = {
    "rec": partial(_stage, mode="passwords", fingerprints=False, audit_messages=False),
    "ev": partial(_stage, mode="none"),
    "reclit": partial(_stage, mode="literals", fingerprints=False, audit_messages=False),
    "evlit": partial(_stage, mode="literals"),
    "group": _group,
}

if __name__ == "__main__":
    main(sys.argv[1:])
