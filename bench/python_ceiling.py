"""How fast can *any* pure-Python records path be? A lower bound on its time, not a parser.

``bench/regex_floor.py`` matches one regex per line and nothing else. This loop does the
least more that a records path cannot skip, and skips everything else: one regex per line
for the RDS prefix plus a one-line ``AUDIT:`` payload without quotes (other lines are only
counted), the epoch milliseconds of each second (cached), one dict per session that holds
back its pending execution until the next statement id, a JSON-escape check of the
statement, and one f-string per record in Guardium's shape, written in blocks. It keeps no
``<previously logged>`` state, no limits, no SQL stage, no rejects, no other event class.

Its time, as a multiple of the regex floor's on the same file, is what the issue-12 target
"within 5x of the one-regex loop" leaves for everything a real parser adds:

    python bench/python_ceiling.py bench/out/rds-200mb.log     # prints both times and the ratio
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from regex_floor import count_matches  # noqa: E402

__all__ = ["AUDIT_LINE", "records", "main"]

#: The floor's prefix regex, then ``LOG:  AUDIT: `` and nine CSV fields without quotes.
AUDIT_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC:([^:]*|[^(]*\(\d+\)):([^@]*)@([^:]*):"
    r"\[(\d+)\]:LOG:  AUDIT: (?:SESSION|OBJECT),(\d+),(\d+),[A-Z]+,[^,\"]*,[^,\"]*,[^,\"]*,"
    r"([^\"\n]*),<[a-z ]+>\n"
)
_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f-\U0010ffff]*\Z')
_LOCATOR = ('"sessionLocator":{"clientIp":"0.0.0.0","clientPort":-1,"serverIp":"0.0.0.0",'
            '"serverPort":-1,"isIpv6":false,"clientIpv6":null,"serverIpv6":null}')


def records(path: str, out_path: str = "/dev/null") -> tuple[int, int]:
    """(lines read, records written) for one file.

    >>> import tempfile, os
    >>> line = ("2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  AUDIT: SESSION,1,1,READ,"
    ...         "SELECT,,,select 1,<not logged>\\n")
    >>> with tempfile.NamedTemporaryFile("w", delete=False) as f:
    ...     _ = f.write(line + line.replace("SESSION,1,", "SESSION,2,") + "\\tmore\\n")
    >>> records(f.name)
    (3, 2)
    >>> os.unlink(f.name)
    """
    match = AUDIT_LINE.match
    plain = _PLAIN.match
    millis: dict[str, int] = {}
    pending: dict[str, tuple[str, str, str]] = {}
    heads: dict[str, str] = {}
    block: list[str] = []
    write = block.append
    lines = written = 0
    with open(path, encoding="utf-8", errors="backslashreplace", newline="\n") as f, \
            open(out_path, "w", encoding="utf-8") as out:
        for line in f:
            lines += 1
            m = match(line)
            if m is None:
                continue
            stamp, _remote, user, database, pid, statement_id, sub_id, sql = m.groups()
            ms = millis.get(stamp)
            if ms is None:
                ms = millis[stamp] = int(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
                                         .replace(tzinfo=timezone.utc).timestamp() * 1000)
            held = pending.get(pid)
            if held is not None and held[0] == statement_id and held[1] == sub_id:
                continue
            if held is not None:
                write(held[2])
                written += 1
            head = heads.get(pid)
            if head is None:
                head = heads[pid] = (f'{{"sessionId":"{pid}","dbName":"{database}",'
                                     '"appUserName":"AWSService","time":{"timstamp":')
            if plain(sql) is None:
                sql = json.dumps(sql)[1:-1]
            pending[pid] = (statement_id, sub_id, (
                f'{head}{ms},"minOffsetFromGMT":0,"minDst":0}},{_LOCATOR},"accessor":'
                f'{{"dbUser":"{user}","serverType":"POSTGRESQL","serviceName":"{database}",'
                f'"language":"PGRS","dataType":"TEXT"}},"data":{{"construct":null,'
                f'"originalSqlCommand":"{sql}"}},"exception":null,"recordsAffected":-1,'
                f'"executionTime":null}}\n'))
            if len(block) >= 4096:
                out.write("".join(block))
                block.clear()
        for held in pending.values():
            write(held[2])
            written += 1
        out.write("".join(block))
    return lines, written


def main(argv: list[str] | None = None) -> int:
    """Time the regex floor and this loop on one file; print both and the ratio."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python_ceiling.py FILE", file=sys.stderr)
        return 2
    start = time.process_time()
    lines, matched = count_matches(args[0])
    floor = time.process_time() - start
    start = time.process_time()
    _, written = records(args[0])
    ceiling = time.process_time() - start
    print(f"{lines} lines; regex floor {floor:.2f} CPU s ({matched} matched); "
          f"least records loop {ceiling:.2f} CPU s ({written} records) = "
          f"{ceiling / floor:.1f}x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
