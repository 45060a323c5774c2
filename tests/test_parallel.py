"""``--jobs 2`` writes byte for byte what ``--jobs 1`` writes (records, events, dead letters).

The inputs are the fixture logs and the logs of the real-server workload (``server_run``:
the ``rds``, ``rich`` and ``verbose`` configurations, with multi-line statements, errors
with DETAIL/STATEMENT lines, ``<previously logged>`` sub-statements and ``duration:``
lines joined to their audit records). The files are small, so the chunk size is forced
down through ``PGAUDIT_PARSE_CHUNK_BYTES`` to cut them into many chunks; each test checks
that the cut really happened, so it cannot pass by parsing in one process.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from workload import RICH_PREFIX, ServerRun

from pgaudit_parse.parallel import can_split, parse_file_parallel, plan_chunks
from pgaudit_parse.prefix import PRIMARY_SEVERITIES, RDS_PREFIX, LinePrefix
from pgaudit_parse.sinks import OutputSink

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: Fixture logs that can be cut, with their log_line_prefix.
PLAIN_FIXTURES = {
    "rds-postgresql.log": RDS_PREFIX,
    "real-rds.log": RDS_PREFIX,
    "real-rich.log": RICH_PREFIX,
    "postgres-default.log": "%m [%p] ",
    "with-rejects.log": RDS_PREFIX,
}
#: Inputs that cannot be cut: --jobs 2 falls back to one process.
UNSPLITTABLE = ("rds-postgresql.log.gz", "cloudwatch-export.json", "filter-log-events.json",
                "seed-sqs-bodies.txt")
#: Cut small files into many chunks, each warmed up by little more than the assembler's
#: window of lines (so the warm-up, not a whole-file re-read, carries the state).
SMALL_CHUNKS = {"PGAUDIT_PARSE_CHUNK_BYTES": "300", "PGAUDIT_PARSE_WARMUP_BYTES": "100",
                "PGAUDIT_PARSE_WARMUP_LINES": "100"}


def run_cli(path: Path, prefix: str, fmt: str, jobs: int, work: Path,
            env: dict[str, str] | None = None) -> tuple[int, bytes, bytes, str]:
    """Run the real CLI; return (exit status, output bytes, dead-letter bytes, stderr)."""
    out = work / f"out-{jobs}.jsonl"
    err = work / f"err-{jobs}.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pgaudit_parse", str(path), "--prefix", prefix, "--format", fmt,
         "--output", str(out), "--errors", str(err), "--jobs", str(jobs), "--quiet"],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )
    return (proc.returncode, out.read_bytes() if out.exists() else b"",
            err.read_bytes() if err.exists() else b"", proc.stderr)


def assert_same_output(path: Path, prefix: str, fmt: str, work: Path,
                       env: dict[str, str] = SMALL_CHUNKS) -> None:
    one = run_cli(path, prefix, fmt, 1, work)
    two = run_cli(path, prefix, fmt, 2, work, env)
    assert one[0] == 0, one[3]
    assert two[0] == one[0], two[3]
    assert two[1] == one[1], f"--jobs 2 output differs for {path.name} ({fmt})"
    assert two[2] == one[2], f"--jobs 2 dead letters differ for {path.name} ({fmt})"
    assert one[1], "nothing was written: the comparison would prove nothing"


def chunk_count(path: Path, prefix: str) -> int:
    return len(plan_chunks(str(path), LinePrefix(prefix), 2, chunk_bytes=300, warmup_bytes=2000))


@pytest.mark.parametrize("fmt", ["records", "events"])
@pytest.mark.parametrize("name", sorted(PLAIN_FIXTURES))
def test_fixture_logs_jobs_2_equals_jobs_1(name: str, fmt: str, tmp_path: Path) -> None:
    path = FIXTURES / name
    assert chunk_count(path, PLAIN_FIXTURES[name]) > 1
    assert_same_output(path, PLAIN_FIXTURES[name], fmt, tmp_path)


@pytest.mark.parametrize("fmt", ["records", "events"])
def test_real_server_logs_jobs_2_equals_jobs_1(server_run: ServerRun, fmt: str,
                                               tmp_path: Path) -> None:
    assert chunk_count(server_run.stderr_log, server_run.prefix) > 10
    assert_same_output(server_run.stderr_log, server_run.prefix, fmt, tmp_path)


@pytest.mark.parametrize("name", UNSPLITTABLE)
def test_unsplittable_inputs_fall_back_to_one_process(name: str, tmp_path: Path) -> None:
    path = FIXTURES / name
    assert not can_split(str(path))
    one = run_cli(path, "auto", "events", 1, tmp_path)
    two = run_cli(path, "auto", "events", 2, tmp_path, SMALL_CHUNKS)
    assert one[0] == 0 and one[1], one[3]
    assert two[:3] == one[:3], two[3]


def test_chunks_start_at_messages_and_cover_the_file(server_run: ServerRun) -> None:
    path = server_run.stderr_log
    prefix = LinePrefix(server_run.prefix)
    chunks = plan_chunks(str(path), prefix, 2, chunk_bytes=500, warmup_bytes=3000)
    data = path.read_bytes()
    assert chunks[0].start == 0 and chunks[-1].end is None
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.end == after.start
        assert before.end_line == after.start_line == data[: after.start].count(b"\n")
    for chunk in chunks[1:]:
        line = data[chunk.start: data.index(b"\n", chunk.start)].decode("utf-8", "replace")
        parsed = prefix.parse(line)
        assert parsed is not None and parsed.severity in PRIMARY_SEVERITIES
        assert data[chunk.start - 1: chunk.start] == b"\n"
        assert chunk.warmup <= chunk.start
        assert chunk.warmup_line == data[: chunk.warmup].count(b"\n")


def test_library_counts_match_the_sink(server_run: ServerRun) -> None:
    out_one, out_two = io.StringIO(), io.StringIO()
    one = OutputSink(out_one, fmt="records")
    two = OutputSink(out_two, fmt="records")
    serial = parse_file_parallel(str(server_run.stderr_log), server_run.prefix, 1, one)
    one.flush()
    split = parse_file_parallel(str(server_run.stderr_log), server_run.prefix, 2, two,
                                chunk_bytes=700, warmup_bytes=100, warmup_lines=100)
    two.flush()
    assert serial.jobs == 1
    # Prefixes without user, database and client are parsed by one process (see parallel.py).
    cut = {"u", "d", "r"} <= set(LinePrefix(server_run.prefix).escapes)
    assert split.jobs == (2 if cut else 1)
    assert out_two.getvalue() == out_one.getvalue()
    assert (split.lines, split.entries, split.rejected) == (
        serial.lines, serial.entries, serial.rejected)
    assert (split.written, split.skipped) == (serial.written, serial.skipped)
    assert (serial.written, serial.skipped) == (one.written, one.skipped)
    if split.jobs > 1:  # the workers' counts are returned, not added to the sink
        assert two.written == 0
    assert split.lines == server_run.stderr_log.read_bytes().count(b"\n")


def _rds(second: int, pid: int, port: int, message: str) -> str:
    stamp = f"2026-11-25 16:{second // 60:02d}:{second % 60:02d} UTC"
    return f"{stamp}:10.0.0.5({port}):alice@shop:[{pid}]:LOG:  {message}"


#: Chunks of 30 kB: the state to carry lies within two chunks, so the chunk after it is
#: parsed again with a longer warm-up (with SMALL_CHUNKS, the rest of the file is parsed
#: by one process instead).
MID_CHUNKS = {**SMALL_CHUNKS, "PGAUDIT_PARSE_CHUNK_BYTES": "30000"}


@pytest.mark.parametrize(("env", "min_chunks"), [(SMALL_CHUNKS, 20), (MID_CHUNKS, 2)],
                         ids=["rest-in-one-process", "chunk-parsed-again"])
def test_state_older_than_the_warm_up_is_carried(env: dict[str, str], min_chunks: int,
                                                 tmp_path: Path) -> None:
    """An idle session's audit record waits for its duration line hundreds of lines later,
    and a message runs over hundreds of continuation lines: more than a worker warms up.
    Nothing may be lost or written twice, and the output is still that of one process."""
    lines = [_rds(0, 100, 5000, "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>")]
    lines += [_rds(1 + i // 50, 200, 5001,
                   f"AUDIT: SESSION,{i + 1},1,READ,SELECT,,,select {i},<not logged>")
              for i in range(400)]
    lines.append(_rds(10, 300, 5002, 'AUDIT: SESSION,1,1,READ,SELECT,,,"select'))
    lines += [f"\t{i}," for i in range(300)]
    lines.append('\t0",<not logged>')
    lines.append(_rds(11, 100, 5000, "duration: 5.000 ms  statement: select 1"))
    lines += [_rds(12, 200, 5001, f"AUDIT: SESSION,{i + 401},1,READ,SELECT,,,select {i},"
                   "<not logged>") for i in range(100)]
    path = tmp_path / "idle.log"
    path.write_text("\n".join(lines) + "\n")
    chunks = plan_chunks(str(path), LinePrefix(RDS_PREFIX), 2,
                         chunk_bytes=int(env["PGAUDIT_PARSE_CHUNK_BYTES"]), warmup_bytes=100,
                         warmup_lines=100)
    assert len(chunks) > min_chunks
    for fmt in ("records", "events"):
        assert_same_output(path, RDS_PREFIX, fmt, tmp_path, env)
    out = run_cli(path, RDS_PREFIX, "records", 2, tmp_path, env)[1].decode()
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 1 + 400 + 1 + 100
    idle = [r for r in records if r["data"]["originalSqlCommand"] == "select 1"
            and r["sessionLocator"]["clientPort"] == 5000]
    assert len(idle) == 1 and idle[0]["executionTime"] == 5000  # Integer microseconds
    long = [r for r in records if r["data"]["originalSqlCommand"].startswith("select\n")]
    assert len(long) == 1 and long[0]["data"]["originalSqlCommand"].count("\n") == 301


@pytest.mark.parametrize("fmt", ["records", "events"])
def test_empty_lines_jobs_2_equals_jobs_1(fmt: str, tmp_path: Path) -> None:
    """The reader makes one reject of a run of empty lines and yields no line for them:
    chunk edges and warm-ups count input lines by number, so nothing is lost or doubled."""
    text = (FIXTURES / "real-rds.log").read_text().splitlines()
    lines = []
    for n, line in enumerate(text):
        lines.append(line)
        if n % 3 == 0:
            lines += [""] * (n % 5 + 1)
    path = tmp_path / "gaps.log"
    path.write_text("\n".join(lines) + "\n\n")
    assert chunk_count(path, RDS_PREFIX) > 5
    assert_same_output(path, RDS_PREFIX, fmt, tmp_path)
    dead = [json.loads(x) for x in (tmp_path / "err-2.jsonl").read_text().splitlines()]
    assert sum(r["lines"] for r in dead if "empty line" in r["reason"]) == lines.count("") + 1


#: A line this long at a chunk edge: what planning the chunks may cost must not follow it.
HUGE_LINE_BYTES = 16 << 20
#: What planning may hold at once (its reads are 1 MiB blocks).
PLAN_MEMORY_BYTES = 6 << 20


@pytest.mark.parametrize("where", ["at", "inside"])
@pytest.mark.parametrize("huge", ["entry", "junk", "continuation"])
def test_planning_chunks_does_not_hold_a_huge_line(where: str, huge: str,
                                                   tmp_path: Path) -> None:
    """Chunk planning read a whole line where it looked for a cut (the rest of the line a
    cut point fell in, then each line until one starts an entry): a 16 MiB line at a cut
    point cost its length in memory (and its decoded copy), whatever ``--max-line-bytes``
    says. Planning must scan for line ends in blocks, holding only a line's head."""
    short = _rds(1, 77, 0, "checkpoint starting: time")
    body = {"entry": _rds(2, 100, 5000, "statement: select '"),
            "junk": "x", "continuation": "\tselect '"}[huge]
    head = (short + "\n") * 200
    path = tmp_path / "huge.log"
    with open(path, "wb") as handle:
        handle.write(head.encode())
        handle.write(body.encode() + b"y" * (HUGE_LINE_BYTES - len(body)) + b"'\n")
        handle.write(((short + "\n") * 200).encode())
    cut = len(head) + (0 if where == "at" else 1000)
    tracemalloc.start()
    try:
        chunks = plan_chunks(str(path), LinePrefix(RDS_PREFIX), 2, chunk_bytes=cut,
                             warmup_bytes=HUGE_LINE_BYTES * 2, warmup_lines=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PLAN_MEMORY_BYTES, f"planning held {peak} bytes"
    assert len(chunks) > 1
    data = path.read_bytes()
    for chunk in chunks[1:]:  # each chunk starts at a line that starts an entry
        assert data[chunk.start - 1:chunk.start] == b"\n"
        line = data[chunk.start:data.index(b"\n", chunk.start)]
        assert line.startswith(b"2026-") and b"LOG:  " in line[:200]
        assert chunk.start_line == data.count(b"\n", 0, chunk.start)


SCAN_FILE_BYTES = 96 << 20
SCAN_MEMORY_BYTES = 32 << 20


def test_the_one_process_check_does_not_hold_the_file(tmp_path: Path) -> None:
    """Before planning, ``--jobs`` looks through the whole file for a reload's new prefix
    and for csvlog records. It mapped the file into memory to do so: the parent's resident
    memory grew with the file (223 MB for a 200 MB log). It must read in blocks."""
    path = tmp_path / "big.log"
    line = (_rds(1, 77, 0, "checkpoint starting: time") + "\n").encode()
    with open(path, "wb") as handle:
        block = line * ((1 << 20) // len(line))
        while handle.tell() < SCAN_FILE_BYTES:
            handle.write(block)
    probe = ("import resource, sys\n"
             "from pgaudit_parse.parallel import _needs_one_process\n"
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "found = _needs_one_process(sys.argv[1])\n"
             "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "print(found, (after - before) * 1024)\n")
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True,
                          text=True, timeout=300, check=True)
    found, grew = done.stdout.split()
    assert found == "False"
    assert int(grew) < SCAN_MEMORY_BYTES, f"the check's resident memory grew {grew} bytes"


@pytest.mark.parametrize("what", ["prefix change", "csvlog record"])
@pytest.mark.parametrize("offset", range(-40, 41, 7))
def test_the_one_process_check_sees_what_straddles_a_block(what: str, offset: int,
                                                           tmp_path: Path) -> None:
    """What the check looks for is found wherever a block boundary falls in it."""
    from pgaudit_parse import parallel

    found = {"prefix change": _rds(1, 77, 0, 'parameter "log_line_prefix" changed to "%m "'),
             "csvlog record": '2026-11-25 16:05:01.123 UTC,"alice","shop",42,'}[what]
    line = (_rds(1, 77, 0, "checkpoint starting: time") + "\n").encode()
    head = line * 40
    block = 1024
    boundary = (len(head) // block + 2) * block  # what is found starts at boundary + offset
    filler = b"x" * (boundary - len(head) + offset - 1) + b"\n"
    path = tmp_path / "straddle.log"
    path.write_bytes(head + filler + found.encode() + b"\n" + line)
    assert parallel._needs_one_process(str(path), block=block)
    path.write_bytes(head + filler + line)
    assert not parallel._needs_one_process(str(path), block=block)
