"""Memory bounded by the input: huge pgAudit statements parse in memory proportional to them.

Each case runs in a subprocess under ``RLIMIT_AS`` (address space), so a regression fails
with a MemoryError instead of taking the machine down. The limit is the child's own size
after imports plus a small multiple of the statement; timings for big cases live in
``bench/PROFILE.md``, never here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")

#: Bytes of memory a statement of N bytes may cost, as a multiple of N (a small constant).
#: A statement on one line costs ~4x (the message, the split field, the event's copy); one
#: spread over short lines (27 bytes here) costs ~13x: each physical line is a ``Line`` and
#: a string (~150 bytes) until the message is complete. See bench/PROFILE.md.
FACTOR = {"split": 6, "one_line": 8, "lines": 20}
STATEMENT_BYTES = 20 * 1024 * 1024

_CHILD = textwrap.dedent('''
    import json, resource, sys
    import pgaudit_parse as pp
    from pgaudit_parse.payload import split_csv

    def vm_bytes():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
        raise SystemExit("no VmSize")

    size, factor, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    newline = "\\n" if mode == "lines" else " "
    # The text is built before the limit is set: it is the input, not the parser's cost.
    row = "(1, 'a,b', 'say " + '"hi"' + "')," + newline  # commas, quotes: quoted
    statement = "insert into t values " + row * (size // len(row))
    quoted = '"' + statement.replace('"', '""') + '"'
    payload = "SESSION,1,1,WRITE,INSERT,TABLE,public.t," + quoted + ",<not logged>"
    # PostgreSQL writes a TAB after every newline inside a message.
    log = ("2026-11-25 16:05:01 UTC:10.0.0.5(5000):alice@shop:[42]:LOG:  AUDIT: "
           + payload.replace("\\n", "\\n\\t"))
    limit = vm_bytes() + factor * len(statement)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if mode == "split":
        fields = split_csv(payload)
        ok = fields[7] == statement
    else:
        [event] = pp.parse_lines([log])
        ok = event.audit.statement == statement and event.audit.parameter is None
    print(json.dumps({"ok": ok, "chars": len(statement)}))
''')


def _run_child(mode: str, size: int = STATEMENT_BYTES) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", _CHILD, str(size), str(FACTOR[mode]), mode],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_huge_quoted_field_splits_in_memory_proportional_to_it() -> None:
    # A quoted field over the csv module's 128 KiB field limit (a bulk INSERT) used to go
    # to the pyparsing grammar: ~125 bytes per character, MemoryError at 51 MB.
    outcome = _run_child("split")
    assert outcome["ok"] is True
    assert outcome["chars"] > 19 * 1024 * 1024


@pytest.mark.parametrize("mode", ["one_line", "lines"])
def test_huge_statement_parses_end_to_end_under_a_memory_limit(mode: str) -> None:
    outcome = _run_child(mode)
    assert outcome["ok"] is True
