"""Build a realistic RDS-style PostgreSQL + pgAudit server log of a given size.

Every byte of the result was written by a real PostgreSQL 15 + pgAudit server
(``tests/pgserver.py``) with the seed guide's RDS parameter group (``tests/workload.py``'s
``RDS_SETTINGS``): nothing is copied, re-timed or rewritten afterwards. Lines are unique
because the traffic is real and varied, not because values are patched in:

* the hard workload of the test suite runs once (DDL, DML with commas, quotes, CR,
  non-ASCII and multi-line text, errors with DETAIL/HINT/STATEMENT, failed logins,
  sessions over 127.0.0.1, ::1 and the unix socket);
* then, until the log reaches the size asked for, rounds of concurrent traffic:
  ``pgbench`` TPC-B-like (simple and prepared protocol, over 127.0.0.1 and ::1, with
  object auditing on ``pgbench_accounts``), ``pgbench -C -S`` (a new connection per
  transaction: connection, authentication and disconnection lines), and psql sessions
  of a varied workload whose every line carries the round and session number (so even
  the continuation lines of multi-line statements never repeat).

Every statement line carries the backend's own statement counter and pid, so no two
lines are equal; the script checks it (``sort | uniq -d``) and says so.

    python bench/make_log.py --size 200 --output bench/out/rds-200mb.log
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:  # the real-server harness and workload live in tests/
    sys.path.insert(0, str(TESTS))

from pgserver import SOCKET, PgServer  # noqa: E402
from workload import ALICE_PASSWORD, AUDIT_ROLE, RDS_SETTINGS, run_workload  # noqa: E402

__all__ = ["make_log", "varied_sql", "DEFAULT_OUT_DIR"]

DEFAULT_OUT_DIR = ROOT / "bench" / "out"
#: Seconds each round of concurrent traffic lasts.
ROUND_SECONDS = 4
#: pgbench scale (100k accounts per unit).
SCALE = 2

SETTINGS: dict[str, str] = {
    **RDS_SETTINGS,
    "max_connections": "40",
    # A busy instance: checkpoints every 30 s put background-process lines in the log.
    "checkpoint_timeout": "30s",
}

BENCH_SETUP = f"""
CREATE TABLE bench_items (id bigint PRIMARY KEY, label text NOT NULL, note text, price numeric);
CREATE TABLE bench_notes (id bigint PRIMARY KEY, body text);
GRANT SELECT, INSERT, UPDATE, DELETE ON bench_items TO {AUDIT_ROLE};
GRANT SELECT, UPDATE ON pgbench_accounts TO {AUDIT_ROLE};
"""


def varied_sql(round_no: int, session: int) -> str:
    """One psql session of the varied workload; every line names its round and session.

    Multi-line statements go to ``bench_notes``, which has no object auditing: pgAudit
    writes an object-audited statement twice (SESSION and OBJECT line), and the second
    copy's continuation lines would repeat the first's.

    >>> "r7s2" in varied_sql(7, 2)
    True
    """
    tag = f"r{round_no}s{session}"
    base = (round_no * 100 + session) * 10
    # Object-audited statements stay on one line (see above).
    rows = (f"""({base + 1}, 'item {tag}, "q"', 'it''s -- {tag}', {round_no}.{session:02d}), """
            f"({base + 2}, 'Zoë {tag}', E'one {tag}\\ntwo {tag}', {session + 1}.50)")
    return f"""
-- {tag}
INSERT INTO bench_items (id, label, note, price) VALUES {rows};
INSERT INTO bench_notes (id, body) VALUES
    ({base + 1}, 'note {tag}, "quoted"'),
    ({base + 2}, E'line one {tag}\\nline two {tag}');
SELECT id, body, -- {tag}
       length(body) /* {tag} */
  FROM bench_notes /* {tag} */
 WHERE id BETWEEN {base} AND {base + 9}
 ORDER BY id /* {tag} */;
UPDATE bench_items SET note = 'a,b,"{tag}"', price = price * 1.{session} WHERE id = {base + 1};
PREPARE pick_{tag}(bigint) AS SELECT label FROM bench_items WHERE id = $1;
EXECUTE pick_{tag}({base + 2});
SELECT {base}/0 AS {tag};
SELECT * FROM missing_{tag};
INSERT INTO bench_items (id, label) VALUES ({base + 1}, 'duplicate {tag}');
SELECT no_such_function_{tag}(1);
DO $$ BEGIN RAISE WARNING E'two lines {tag}\\nsecond {tag}'
    USING DETAIL = 'detail {tag}', HINT = 'a hint, {tag}'; END $$;
BEGIN;
UPDATE pgbench_accounts SET filler = '{tag}' WHERE aid = {base % 100000 + 1};
SELECT abalance FROM pgbench_accounts WHERE aid = {base % 100000 + 1};
COMMIT;
DELETE FROM bench_items WHERE id BETWEEN {base} AND {base + 9};
DELETE FROM bench_notes WHERE id BETWEEN {base} AND {base + 9};
"""


def _pgbench(pg: PgServer, args: list[str], host: str) -> subprocess.Popen[bytes]:
    argv = [str(pg.bin_dir / "pgbench"), "-n", *args, "-h", pg.host_arg(host),
            "-p", str(pg.port), "-U", "alice", "shop"]
    return subprocess.Popen(argv, env=pg.client_env(ALICE_PASSWORD),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _varied_sessions(pg: PgServer, round_no: int, stop: threading.Event) -> None:
    hosts = ("127.0.0.1", "::1", SOCKET)
    session = 0
    while not stop.is_set() and session < 100:
        host = hosts[session % len(hosts)]
        pg.run_sql(varied_sql(round_no, session), user="alice", database="shop", host=host,
                   password=ALICE_PASSWORD, application_name=f"app-{round_no % 7}")
        session += 1


def _round(pg: PgServer, round_no: int, seconds: int) -> None:
    """One round of concurrent traffic, ``seconds`` long."""
    protocol = ("simple", "prepared", "extended")[round_no % 3]
    procs = [
        _pgbench(pg, ["-c", "3", "-j", "1", "-T", str(seconds), "-M", protocol],
                 "127.0.0.1" if round_no % 2 else "::1"),
        _pgbench(pg, ["-C", "-S", "-c", "1", "-j", "1", "-T", str(seconds)], "::1"),
    ]
    stop = threading.Event()
    worker = threading.Thread(target=_varied_sessions, args=(pg, round_no, stop))
    worker.start()
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench failed: {err.decode(errors='replace')[-2000:]}")
    stop.set()
    worker.join()


def count_repeated_lines(path: Path) -> int:
    """How many distinct lines occur more than once (``sort | uniq -d | wc -l``)."""
    env = {**os.environ, "LC_ALL": "C"}
    sort = subprocess.Popen(["sort", "-S", "256M", "-T", str(path.parent), str(path)],
                            stdout=subprocess.PIPE, env=env)
    uniq = subprocess.run(["uniq", "-d"], stdin=sort.stdout, capture_output=True, env=env)
    sort.wait()
    return uniq.stdout.count(b"\n")


def make_log(size_mb: float, output: Path, quiet: bool = False) -> Path:
    """Run real traffic until the server log holds ``size_mb`` MB; copy it to ``output``."""
    target = int(size_mb * 1_000_000)
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with PgServer(settings=SETTINGS) as pg:
        run_workload(pg)
        init = pg.run_client(["pgbench", "-i", "-q", "-s", str(SCALE), "-h", pg.host_arg(None),
                              "-p", str(pg.port), "-U", "alice", "shop"])
        if init.returncode != 0:
            raise RuntimeError(f"pgbench -i failed: {init.stderr[-2000:]}")
        pg.run_sql(BENCH_SETUP, user="alice", database="shop")
        round_no = 0
        while (size := pg.stderr_log_path.stat().st_size) < target:
            round_no += 1
            # About 1.5 MB of log per second of traffic on 2 cores: do not overshoot much.
            seconds = max(1, min(ROUND_SECONDS, round((target - size) / 1.5e6)))
            _round(pg, round_no, seconds)
            if not quiet:
                size = pg.stderr_log_path.stat().st_size
                print(f"round {round_no}: {size / 1e6:.1f} MB "
                      f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
        pg.stop()
        shutil.copyfile(pg.stderr_log_path, output)
    return output


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--size MB --output PATH``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=200.0, help="MB of log (default 200)")
    parser.add_argument("--output", type=Path, help="default: bench/out/rds-<size>mb.log")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the repeated-line check (sort | uniq -d)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    output = args.output or DEFAULT_OUT_DIR / f"rds-{args.size:g}mb.log"
    make_log(args.size, output, args.quiet)
    data = output.stat().st_size
    with open(output, "rb") as f:
        lines = audit = 0
        for block in iter(lambda: f.read(1 << 20), b""):
            lines += block.count(b"\n")
            audit += block.count(b"AUDIT: ")
    print(f"{output}: {data / 1e6:.1f} MB, {lines} lines, {audit} 'AUDIT: ' lines")
    if not args.no_check:
        # The tests' workload makes PostgreSQL itself write a few lines twice (see
        # bench/README.md); everything this script adds is unique.
        repeated = count_repeated_lines(output)
        print(f"{output}: {repeated} distinct line(s) occur more than once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
