"""Whole multi-session logs through the CLI, in one process and with ``--jobs 2``.

The logs are ``strategies.session_logs``: interleaved client sessions with connection and
disconnection lines, reused pids, pgAudit lines with sub-statements and ``<previously
logged>``, multi-line statements, ``duration:`` lines, ERRORs with DETAIL/STATEMENT lines,
background processes and junk (invalid UTF-8, NUL, binary lines, a torn last line), LF or
CRLF, with either of the prefixes ``--jobs`` cuts. Each is run through ``cli.main`` the
way a user runs it: every output format, ``--errors``, with or without ``--timezone``,
read from the file, from a ``.gz`` of it and from standard input (``-``), with ``--jobs
1`` and ``--jobs 2`` (cut into chunks of a few hundred bytes).

Properties:

* nothing escapes: exit 0, or 2 with one ``pgaudit-parse: ...`` line; no traceback;
* accounting, in the library (``read_input`` -> ``Parser``, as the CLI runs it): every
  physical line of the file is in exactly one entry or one reject, and every entry is
  exactly one event or one reject holding all of its lines;
* the CLI writes that: its events are the library's events, its dead letters the
  library's rejects (by line), and each line is claimed at most once;
* ``--jobs 2``, ``.gz`` and ``-`` write the bytes one process writes from the file (the
  input's name aside).

Run: ``python -m pytest tests/test_fuzz_sessions.py -q``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import tempfile
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

from hypothesis import example, given
from hypothesis import strategies as st
from strategies import LogFile, SessionLog, damaged_files, log_files, scaled, session_logs

from pgaudit_parse.cli import main
from pgaudit_parse.entries import EntryAssembler, LogEntry
from pgaudit_parse.events import Event
from pgaudit_parse.lines import Line, Reject
from pgaudit_parse.parallel import plan_chunks
from pgaudit_parse.parser import Parser
from pgaudit_parse.prefix import LinePrefix
from pgaudit_parse.sources import input_kind, read_input

FORMATS = ("records", "events", "ocsf", "ecs")
#: Zones for ``--timezone``: UTC, one behind it, one ahead, one with a half hour.
ZONES = (None, "UTC", "America/Chicago", "Asia/Shanghai", "Asia/Kolkata")
#: Chunks of this many bytes: a generated log is cut into several.
CHUNK_ENV = {"PGAUDIT_PARSE_CHUNK_BYTES": "300"}
PREFIX_RDS = "%t:%r:%u@%d:[%p]:"


def run_cli(argv: list[str], stdin: bytes | None = None,
            env: dict[str, str] | None = None) -> tuple[int, str]:
    """``cli.main(argv)`` in this process: (status, stderr), checking how it ended."""
    stderr, stdout = io.StringIO(), io.StringIO()
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with redirect_stderr(stderr), redirect_stdout(stdout), \
                mock.patch.dict(os.environ, env or {}):
            status = main(argv)
    finally:
        sys.stdin = saved
    message = stderr.getvalue()
    assert "Traceback" not in message
    assert status in (0, 2), message
    if status == 2:
        errors = [line for line in message.splitlines() if not line.startswith(
            ("pgaudit-parse: using", "pgaudit-parse: warning"))]
        assert errors and errors[-1].startswith("pgaudit-parse: "), message
    return status, message


def physical_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def library(path: str, prefix: LinePrefix) -> tuple[list[Event], list[Reject]]:
    """Read and parse ``path`` as the CLI does, checking that every line is in exactly one
    entry or one reject and every entry in one event or one reject."""
    source_rejects: list[Reject] = []
    lines: list[Line] = list(read_input(path, source_rejects.append))
    assembler_rejects: list[Reject] = []
    assembler = EntryAssembler(prefix, assembler_rejects.append)
    entries: list[LogEntry] = []
    for line in lines:
        entries += assembler.feed(line)
    entries += assembler.flush()
    placed = Counter(line.number for entry in entries for line in entry.lines)
    placed.update(reject.line for reject in assembler_rejects)
    for reject in source_rejects:
        placed.update(range(reject.line, reject.line + reject.lines))
    with open(path, "rb") as handle:
        data = handle.read()
    assert placed == Counter(range(1, physical_lines(data) + 1)), "a line lost or doubled"

    parser_rejects: list[Reject] = []
    parser = Parser(prefix, on_reject=parser_rejects.append)
    events: list[Event] = []
    for line in lines:
        events += parser.feed(line)
    events += parser.flush()
    line_level = {reject.line for reject in assembler_rejects}
    firsts = {entry.line: entry for entry in entries}
    made = Counter(event.line for event in events)
    made.update(r.line for r in parser_rejects if r.line not in line_level)
    assert made == Counter(list(firsts)), "an entry lost or doubled"
    for reject in parser_rejects:
        if reject.line not in line_level:
            assert reject.raw == "\n".join(line.text for line in firsts[reject.line].lines)
    return events, source_rejects + parser_rejects


def outputs(directory: Path, name: str) -> tuple[bytes, bytes]:
    out, err = directory / f"{name}.out", directory / f"{name}.err"
    return (out.read_bytes() if out.exists() else b"",
            err.read_bytes() if err.exists() else b"")


def check_session_log(log: SessionLog, fmt: str, zone: str | None, directory: Path,
                      auto: bool = False) -> None:
    path = directory / "postgresql.log"
    path.write_bytes(log.data)
    gz = directory / "postgresql.log.gz"
    gz.write_bytes(gzip.compress(log.data))

    def run(name: str, source: str, *extra: str, stdin: bytes | None = None,
            env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
        argv = [source, "--prefix", "auto" if auto else log.prefix, "--format", fmt,
                "--account-id",
                "123456789012", "--instance", "db1", "--output", str(directory / f"{name}.out"),
                "--errors", str(directory / f"{name}.err"), *extra]
        if zone is not None:
            argv += ["--timezone", zone]
        status, _ = run_cli(argv, stdin, env)
        return (status, *outputs(directory, name))

    if len(log.data) > 1000 and not log.crlf:  # (a CRLF file is read by one process)
        cut = plan_chunks(str(path), LinePrefix(log.prefix), 2,
                          chunk_bytes=int(CHUNK_ENV["PGAUDIT_PARSE_CHUNK_BYTES"]))
        assert len(cut) > 1 or input_kind(str(path)) != "plain"
    one = run("one", str(path))
    two = run("two", str(path), "--jobs", "2", env=CHUNK_ENV)
    assert two == one, "--jobs 2 wrote other bytes than one process"
    name = json.dumps(str(path))[1:-1].encode()

    def renamed(result: tuple[int, bytes, bytes], old: str) -> tuple[int, bytes, bytes]:
        was = json.dumps(old)[1:-1].encode()
        return result[0], result[1].replace(was, name), result[2].replace(was, name)

    if log.data[:2] != b"\x1f\x8b":  # (a "log" starting with gzip's magic is a bad .gz;
        # its .gz is un-gzipped once and read as the plain log it holds)
        assert renamed(run("gz", str(gz), "--jobs", "2", env=CHUNK_ENV), str(gz)) == one
    assert renamed(run("stdin", "-", stdin=log.data), "<stdin>") == one

    if one[0] == 2 or auto or input_kind(str(path)) != "plain":
        return  # (no line matches the prefix; junk first that reads as JSON)
    events, rejects = library(str(path), LinePrefix(log.prefix, timezone=zone))
    dead = [json.loads(line) for line in one[2].split(b"\n") if line]
    assert Counter(r["line"] for r in dead) == Counter(r.line for r in rejects)
    claimed = Counter(r["line"] + i for r in dead for i in range(r["lines"]))
    if fmt == "events":
        written = [json.loads(line) for line in one[1].split(b"\n") if line]
        assert [e["line"] for e in written] == [e.line for e in events]
        claimed.update(e["line"] for e in written)
    assert all(count == 1 for count in claimed.values()), claimed.most_common(2)


@scaled(0.2)
@given(log=session_logs(crlf=None), fmt=st.sampled_from(FORMATS), zone=st.sampled_from(ZONES),
       auto=st.sampled_from([False, False, True]))
@example(log=SessionLog(PREFIX_RDS, (
    b"{'message': 'x', 'logStreamName': []}",  # (read as JSON: no prefix fits its lines)
    b"2026-11-25 16:00:00 UTC::@:[77]:LOG:  checkpoint starting: time", b""), False),
    fmt="events", zone=None, auto=True)
def test_session_log_every_mode_every_line_once(log: SessionLog, fmt: str,
                                                zone: str | None, auto: bool) -> None:
    """``auto``: ``--prefix auto`` (each mode must choose the same prefix). The example:
    one process wrote dead letters for the lines of a file ``auto`` then refused (no
    prefix fits), ``--jobs`` none."""
    with tempfile.TemporaryDirectory() as directory:
        check_session_log(log, fmt, zone, Path(directory), auto)


def test_library_accounting_can_fail(tmp_path: Path) -> None:
    """The accounting above is not vacuous: a reader that drops a line fails it."""
    path = tmp_path / "postgresql.log"
    line = "2026-11-25 16:00:00 UTC::@:[77]:LOG:  checkpoint starting: time"
    path.write_text(f"{line}\n{line}\n")
    real = read_input

    def dropping(*args: object, **kwargs: object) -> object:
        return list(real(*args, **kwargs))[1:]  # type: ignore[arg-type]

    with mock.patch(f"{__name__}.read_input", dropping):
        try:
            library(str(path), LinePrefix("%t:%r:%u@%d:[%p]:"))
        except AssertionError:
            return
    raise AssertionError("a dropped line went unnoticed")



@scaled(0.05)
@given(log=session_logs(crlf=None), jobs=st.sampled_from(["1", "2"]))
def test_session_log_to_parquet_has_the_rows_of_ocsf(log: SessionLog, jobs: str) -> None:
    """``--format ocsf-parquet`` (``--jobs`` ignored): no crash, and as many rows as
    ``--format ocsf`` writes lines, with the same dead letters."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        path = directory / "postgresql.log"
        path.write_bytes(log.data)
        common = [str(path), "--prefix", log.prefix, "--account-id", "123456789012",
                  "--instance", "db1"]
        lake = directory / "lake"
        status, _ = run_cli([*common, "--format", "ocsf-parquet", "--lake-region",
                             "us-east-1", "--output", str(lake), "--errors",
                             str(directory / "lake.err"), "--jobs", jobs])
        ocsf_status, _ = run_cli([*common, "--format", "ocsf", "--output",
                                  str(directory / "ocsf.out"), "--errors",
                                  str(directory / "ocsf.err")])
        assert status == ocsf_status
        rows = sum(pq.ParquetFile(file).metadata.num_rows for file in lake.rglob("*.parquet"))
        lines, dead = outputs(directory, "ocsf")
        assert rows == lines.count(b"\n")
        # (the same objects; the Parquet sink's dead letters are spaced differently)
        assert [json.loads(x) for x in outputs(directory, "lake")[1].split(b"\n") if x] == [
            json.loads(x) for x in dead.split(b"\n") if x]


TRUNCATED_GZ = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xe32202\xd354\xd651U\xb0\xb4\xb4\x02#"
                b"\x85\xd0\x10g\xab\xe8\x9c\xfc\xe4\xc4\x9cX\xab\xc4\x9c\xcc\xe4T\x87\xe2\x8c\xfc"
                b"\x02\xabh\xc3X+\x17W\xa7PwS+\x05\x85\xe4\x8c\xd4\xe4\xec\x82\xfc\xcc\xbc\x12\x85"
                b"\xe2\x92\xc4\xa2\x92\xcc\xbct+\x85\x92\xcc\xdcT\xae")


@scaled(0.2)
@given(file=st.one_of(log_files(), damaged_files()), fmt=st.sampled_from(FORMATS),
       auto=st.booleans())
@example(file=LogFile((), False, "gzip", TRUNCATED_GZ, True), fmt="records", auto=False)
def test_any_input_jobs_2_writes_what_one_process_writes(file: LogFile, fmt: str,
                                                         auto: bool) -> None:
    """Every kind of input (plain, CRLF, BOM, gzip -- some truncated --, CloudWatch,
    forwarder and seed JSON), intact or damaged, with ``--jobs 2``: what one process
    writes, the same exit status, no traceback. The example: a ``.gz`` cut short inside
    a message, whose entry ``--jobs`` (its one-process path) never flushed: lost."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        path = directory / "input.log"
        path.write_bytes(file.data)
        results = []
        for jobs in ("1", "2"):
            status, _ = run_cli([str(path), "--prefix", "auto" if auto else PREFIX_RDS,
                                 "--format", fmt, "--jobs", jobs, "--output",
                                 str(directory / f"{jobs}.out"), "--errors",
                                 str(directory / f"{jobs}.err")], env=CHUNK_ENV)
            results.append((status, *outputs(directory, jobs)))
        assert results[1] == results[0]
