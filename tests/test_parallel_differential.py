"""``--jobs N`` against one process, on generated multi-session logs: the same bytes.

The logs (``strategies.session_logs``) interleave client sessions the way PostgreSQL
writes them: connection and disconnection lines, pids reused by later sessions, pgAudit
SESSION/OBJECT lines with sub-statements and ``<previously logged>``, multi-line
statements (TAB continuations), ``duration:`` lines after their audit lines, ERRORs with
DETAIL/STATEMENT lines, background processes, invalid UTF-8, NUL bytes, binary junk, a
torn last line, with or without a final newline. Chunks are forced down to a few bytes so
that chunk edges fall everywhere (inside multi-line messages, between an ERROR and its
STATEMENT, between an audit line and its duration line), and warm-ups are short, so the
state that crosses an edge must be carried by the mechanism, not by a long warm-up.

Each example is rendered in every output format and option that changes what the workers
write (``--redact literals``, ``--values postgres``, ``--errors``), comparing the output
and the dead letters of ``parse_file_parallel`` with those of ``parse_files`` in one
process (what ``--jobs 1`` runs).

Run: ``python -m pytest tests/test_parallel_differential.py -q``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import SessionLog, scaled, session_logs

from pgaudit_parse.cli.files import parse_files
from pgaudit_parse.parallel import parse_file_parallel, plan_chunks
from pgaudit_parse.prefix import RDS_PREFIX, LinePrefix
from pgaudit_parse.sinks import OutputSink
from pgaudit_parse.sources import DEFAULT_MAX_LINE_BYTES, InputError, input_kind

CHECKPOINT = b"2026-11-25 16:00:00 UTC::@:[77]:LOG:  checkpoint starting: time"
#: (format, redact, values): every way the workers' rendering can differ.
RENDERINGS = [("records", None, "connector"), ("records", "literals", "postgres"),
              ("events", None, "connector"), ("events", "literals", "connector"),
              ("ocsf", None, "connector"), ("ecs", "passwords", "connector")]


def render(path: str, prefix: str, fmt: str, redact: str | None, values: str,
           jobs: int, chunk_bytes: int, warmup_bytes: int, warmup_lines: int,
           max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> tuple[str, str, int]:
    """(output, dead letters, the number of processes used)."""
    out, errors = io.StringIO(), io.StringIO()
    sink = OutputSink(out, errors, fmt, "123456789012", "db1", values=values, redact=redact)
    if jobs == 1:
        told = io.StringIO()
        with redirect_stderr(told):
            status = parse_files([path], prefix, sink, quiet=True,
                                 max_line_bytes=max_line_bytes)
        sink.flush()
        if status:  # (the same file can only fail the same way: say which way)
            how = "<no match>" if "no line matches" in told.getvalue() else "<unreadable>"
            return out.getvalue(), errors.getvalue() + how, 1
        used = 1
    else:
        try:
            result = parse_file_parallel(path, prefix, jobs, sink, chunk_bytes=chunk_bytes,
                                         warmup_bytes=warmup_bytes,
                                         warmup_lines=warmup_lines,
                                         max_line_bytes=max_line_bytes)
        except InputError:
            sink.flush()
            return out.getvalue(), errors.getvalue() + "<unreadable>", 1
        used = result.jobs
        if result.lines and result.entries == 0:  # (what the CLI then says)
            sink.flush()
            return out.getvalue(), errors.getvalue() + "<no match>", used
    sink.flush()
    return out.getvalue(), errors.getvalue(), used


def check_same_bytes(log: SessionLog, chunk_bytes: int, warmup_bytes: int,
                     warmup_lines: int, renderings: list[tuple[str, str | None, str]],
                     max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "postgresql.log")
        with open(path, "wb") as handle:
            handle.write(log.data)
        for fmt, redact, values in renderings:
            one = render(path, log.prefix, fmt, redact, values, 1, 0, 0, 0, max_line_bytes)
            two = render(path, log.prefix, fmt, redact, values, 2, chunk_bytes,
                         warmup_bytes, warmup_lines, max_line_bytes)
            assert two[0] == one[0], f"--jobs 2 output differs ({fmt}, {redact}, {values})"
            assert two[1] == one[1], f"--jobs 2 dead letters differ ({fmt})"


_renderings = st.lists(st.sampled_from(RENDERINGS), min_size=1, max_size=2, unique=True)


@scaled(0.2)
@given(log=session_logs(previously_logged=False), chunk_bytes=st.sampled_from([1, 60, 200, 700]),
       warmup_bytes=st.sampled_from([0, 100, 400]), warmup_lines=st.sampled_from([0, 2, 5]),
       renderings=_renderings, max_line_bytes=st.sampled_from([DEFAULT_MAX_LINE_BYTES, 90]))
def test_jobs_2_writes_the_bytes_of_one_process(log: SessionLog, chunk_bytes: int,
                                                warmup_bytes: int, warmup_lines: int,
                                                renderings: list[tuple[str, str | None, str]],
                                                max_line_bytes: int) -> None:
    """Short warm-ups: what is still pending at a chunk's end (an entry, a record waiting
    for its duration line) is carried by the re-parse mechanism, not by the warm-up. A
    small ``--max-line-bytes`` makes over-long lines (rejects) of many of them."""
    check_same_bytes(log, chunk_bytes, warmup_bytes, warmup_lines, renderings,
                     max_line_bytes)


@scaled(0.2)
@given(log=session_logs(crlf=None), chunk_bytes=st.sampled_from([1, 60, 200, 700]),
       renderings=_renderings)
def test_jobs_2_resolves_previously_logged_like_one_process(
        log: SessionLog, chunk_bytes: int, renderings: list[tuple[str, str | None, str]]
) -> None:
    """``<previously logged>`` within the warm-up (parallel.py: the documented limit is a
    marker further back than the warm-up), CRLF files (parsed by one process) too."""
    check_same_bytes(log, chunk_bytes, 1 << 20, 2000, renderings)


@pytest.mark.parametrize("head", [b"\n", b"\n\n\n"])
def test_empty_lines_first_in_the_file_are_one_reject_with_jobs(head: bytes,
                                                                 tmp_path: Path) -> None:
    """The first chunk's worker made the reject of the file's leading empty lines while
    its output was still shut for a warm-up it did not have: the reject was lost."""
    log = SessionLog(RDS_PREFIX, (*head.split(b"\n")[:-1], CHECKPOINT, CHECKPOINT, b""), False)
    path = tmp_path / "postgresql.log"
    path.write_bytes(log.data)
    assert len(plan_chunks(str(path), LinePrefix(RDS_PREFIX), 2, chunk_bytes=1)) > 1
    check_same_bytes(log, 1, 0, 0, [("records", None, "connector")])


@pytest.mark.parametrize(("warmup_bytes", "warmup_lines"), [(0, 0), (1000, 10)])
def test_over_long_line_at_a_chunk_start_is_one_reject_with_jobs(
        warmup_bytes: int, warmup_lines: int, tmp_path: Path) -> None:
    """A line over ``--max-line-bytes`` that begins a message can begin a chunk: its
    reject is made while the line after it is read, by whichever worker reads it."""
    long = CHECKPOINT + b" " + b"x" * 200
    log = SessionLog(RDS_PREFIX, (long, CHECKPOINT, long, long, CHECKPOINT, long, b""),
                     False)
    path = tmp_path / "postgresql.log"
    path.write_bytes(log.data)
    assert len(plan_chunks(str(path), LinePrefix(RDS_PREFIX), 2, chunk_bytes=1)) > 3
    check_same_bytes(log, 1, warmup_bytes, warmup_lines, [("events", None, "connector")], 100)


@pytest.mark.parametrize("limit", [90, 150])
def test_every_line_over_max_line_bytes_is_a_reject(limit: int, tmp_path: Path) -> None:
    """A line over ``--max-line-bytes`` was rejected only when it spanned two reads of the
    file; one read whole in a block (a limit under the block size) was parsed: which
    lines were rejected hung on where the reads fell, so ``--jobs`` (whose workers read
    from their chunk) differed too."""
    short = CHECKPOINT
    long = CHECKPOINT + b" " + b"y" * 100
    path = tmp_path / "postgresql.log"
    path.write_bytes(b"\n".join([short, long, short, long + b"\r", b"", long]) + b"\n")
    one = render(str(path), RDS_PREFIX, "events", None, "connector", 1, 0, 0, 0, limit)
    rejects = [json.loads(line) for line in one[1].splitlines()]
    over = [r["line"] for r in rejects if r["reason"].startswith("line longer than")]
    lengths = {n: len(x) for n, x in enumerate(path.read_bytes().split(b"\n"), 1)}
    assert over == [n for n, size in lengths.items() if size > limit]
    assert len(one[0].splitlines()) == sum(
        1 for n, size in lengths.items() if 0 < size <= limit)
    log = SessionLog(RDS_PREFIX, (short, long, short, long, short), True)
    check_same_bytes(log, 1, 0, 0, [("events", None, "connector")], limit)


def test_an_over_long_line_keeps_its_first_characters_wherever_the_reads_fall(
        tmp_path: Path) -> None:
    """The reject of a line over the limit kept the bytes of the reads before the one
    that ended the line: cut at a read boundary, so the same line kept more or less text
    (one process against a ``--jobs`` worker that read it from elsewhere)."""
    long = CHECKPOINT + b" " + b"z" * 5000 + b" end"
    path = tmp_path / "postgresql.log"
    for before in (0, 1, 50, 4000, 65530, 131070):
        head = (b"x" * 499 + b"\n") * (before // 500) + b"y" * (before % 500) + b"\n"
        path.write_bytes(head + long + b"\n" + CHECKPOINT + b"\n")
        number = head.count(b"\n") + 1
        rejects = [json.loads(line) for line in render(
            str(path), RDS_PREFIX, "events", None, "connector", 1, 0, 0, 0, 1000)[1].splitlines()]
        kept = [r["raw"] for r in rejects if r["line"] == number]
        assert kept == [long[:1024].decode()], before


#: Bytes that are not UTF-8 (alone, or a sequence cut short), and one that is (two bytes).
_BAD_BYTES = st.sampled_from([b"\xff", b"\xe0", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
                              b"\xed\xa0\x80", b"\xc3\xa9"])


@st.composite
def _logs_with_bad_bytes_near_a_limit(draw: st.DrawFn) -> tuple[SessionLog, int]:
    """A session log with invalid UTF-8 put into some lines, and a ``--max-line-bytes``
    within a few bytes of the length of one of those lines (so each bad byte counted as
    more, or less, than one byte moves that line across the limit)."""
    log = draw(session_logs(previously_logged=False))
    lines = list(log.lines)  # (never empty: the checkpoint lines)
    touched = draw(st.lists(st.integers(0, len(lines) - 1), min_size=1, max_size=4))
    for index in touched:
        line = lines[index]
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(line)))
            line = line[:at] + draw(_BAD_BYTES) + line[at:]
        lines[index] = line
    log = SessionLog(log.prefix, tuple(lines), log.final_newline, log.crlf)
    size = len(lines[draw(st.sampled_from(touched))]) + (2 if log.crlf else 1) - 1
    return log, max(1, size + draw(st.integers(-4, 3)))


@scaled(0.2)
@given(case=_logs_with_bad_bytes_near_a_limit(), chunk_bytes=st.sampled_from([1, 60, 700]))
def test_max_line_bytes_counts_input_bytes_in_one_process_and_with_jobs(
        case: tuple[SessionLog, int], chunk_bytes: int) -> None:
    """``--max-line-bytes`` is a limit in bytes of input. One process read a plain log
    through a text stream and measured each line after escaping its invalid UTF-8 (an
    invalid byte counted as the four of its ``\\xNN`` escape); ``--jobs`` workers counted
    one: the same line near the limit was a reject in one and an event in the other. Both
    must reject exactly the lines of more than the limit's bytes (CR included)."""
    log, limit = case
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "postgresql.log")
        with open(path, "wb") as handle:
            handle.write(log.data)
        one = render(path, log.prefix, "events", None, "connector", 1, 0, 0, 0, limit)
        two = render(path, log.prefix, "events", None, "connector", 2, chunk_bytes, 0, 0,
                     limit)
        try:
            kind = input_kind(path)
        except InputError:
            kind = "unreadable"
    assert two[:2] == one[:2]
    if kind != "plain" or one[1].endswith("<unreadable>"):
        return  # (junk first: '{"events": [1]}' is read as JSON, '\x1f\x8b' as gzip)
    rejects = [json.loads(line) for line in one[1].split("\n") if line.startswith("{")]
    over = [r["line"] for r in rejects if r["reason"].startswith("line longer than")]
    pieces = log.data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    assert over == [n for n, piece in enumerate(pieces, 1) if len(piece) > limit]


# -- what the SQL stage remembers of a session, across chunk edges ----------------------
# The stage remembers statements PREPAREd with a credential parameter (to hide the
# argument of a later EXECUTE), RAISE formats that print one (to hide the message), and
# the values a statement's redaction hid (an error may echo them). A chunk's worker that
# starts after such a line, beyond its warm-up, must still hide what one process hides.

_P = "2026-11-25 16:05:05 UTC:10.0.1.25(50012):alice@shop:[4242]:"
_Q = "2026-11-25 16:05:06 UTC:10.0.1.26(50013):bob@shop:[4343]:"


def _filler(count: int) -> list[str]:
    return [_Q + f"LOG:  AUDIT: SESSION,{n},1,READ,SELECT,,,select {n},<none>"
            for n in range(1, count + 1)]


_PREPARE = "PREPARE q(text, int) AS UPDATE users SET password = $1 WHERE id = $2"
_CREATE = ("CREATE FUNCTION tell(api_token text) RETURNS void LANGUAGE plpgsql AS "
           "$$BEGIN RAISE NOTICE 'using token %', api_token; END$$")
# (each statement completed by its duration line: no record waits at a chunk's end, which
# would make the next chunk's worker read from it again anyway)
MEMORY_LOGS = {
    "prepare": [_P + f"LOG:  AUDIT: SESSION,1,1,MISC,PREPARE,,,{_PREPARE},<none>",
                _P + f"LOG:  duration: 0.100 ms  statement: {_PREPARE}",
                *_filler(200),
                _P + "LOG:  AUDIT: SESSION,2,1,WRITE,UPDATE,,,\"EXECUTE q('Kx1', 7)\",<none>",
                _P + "LOG:  duration: 0.100 ms  statement: EXECUTE q('Kx1', 7)",
                _P + "LOG:  statement: EXECUTE q('Kx2', 7)"],
    "raise": [_P + f"LOG:  statement: {_CREATE}",
              _P + f"LOG:  duration: 0.100 ms  statement: {_CREATE}",
              *_filler(200),
              _Q + "NOTICE:  using token Kx3",
              _Q + "CONTEXT:  PL/pgSQL function tell(text) line 1 at RAISE"],
}


@pytest.mark.parametrize("name", sorted(MEMORY_LOGS))
def test_what_the_sql_stage_remembers_crosses_chunk_edges(name: str, tmp_path: Path) -> None:
    log = SessionLog(RDS_PREFIX, tuple(line.encode() for line in MEMORY_LOGS[name]), True)
    path = tmp_path / "postgresql.log"
    path.write_bytes(log.data)
    assert len(plan_chunks(str(path), LinePrefix(RDS_PREFIX), 2, chunk_bytes=8000)) > 2
    renderings = [("records", None, "connector"), ("events", "passwords", "connector"),
                  ("ecs", "passwords", "connector")]
    check_same_bytes(log, 8000, 100, 2, renderings)
    for fmt, redact, values in renderings:
        out, _, used = render(str(path), RDS_PREFIX, fmt, redact, values, 2, 8000, 100, 2)
        assert used == 2 and "Kx" not in out, (fmt, out)
