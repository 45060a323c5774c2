"""Live input: a pipe, a FIFO or a socket that stays open (``tail -F log | pgaudit-parse -``).

Each event must be on standard output once the line that completes it has arrived and the
input has gone quiet, long before the input ends (docs/live.md). Each test runs the real
CLI in a subprocess, writes lines into its input one at a time and reads its output with a
generous timeout: the only claim is "it arrives before the input is closed".
"""

from __future__ import annotations

import gzip
import json
import os
import pty
import queue
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: How long a test waits for a line of output (generous: a loaded machine).
PATIENCE = 10.0

P = "2026-11-25 16:05:0{} UTC:10.0.0.5(5001):alice@shop:[42]:"
AUDIT = P + "LOG:  AUDIT: SESSION,{},1,READ,SELECT,TABLE,public.t,select {},<none>"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Output:
    """The lines a subprocess writes to a stream, read by a thread (so a test can wait
    for one with a timeout)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.lines.put(line)
        self.lines.put(None)

    def next(self, what: str) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=PATIENCE)
        except queue.Empty:
            raise AssertionError(f"no output within {PATIENCE} s while the input is still "
                                 f"open: {what}") from None
        assert line is not None, f"output ended early: {what}"
        return dict(json.loads(line))

    def rest(self) -> list[dict[str, Any]]:
        out = []
        while True:
            line = self.lines.get(timeout=60)
            if line is None:
                return out
            out.append(json.loads(line))


@contextmanager
def cli(*args: str, stdin: Any = subprocess.PIPE) -> Iterator[tuple[subprocess.Popen[bytes],
                                                                    Output]]:
    proc = subprocess.Popen([sys.executable, "-m", "pgaudit_parse", "-q", *args],
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(), cwd=ROOT)
    assert proc.stdout is not None
    try:
        yield proc, Output(proc.stdout)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)


def send(stream: IO[bytes], text: str) -> None:
    stream.write(text.encode())
    stream.flush()


def finish(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    return proc.stderr.read().decode()


@pytest.mark.parametrize("fmt", ["events", "ocsf", "ecs"])
def test_each_event_arrives_while_stdin_stays_open(fmt: str) -> None:
    with cli("--format", fmt, "-") as (proc, out):
        assert proc.stdin is not None
        for n in (1, 2, 3):
            send(proc.stdin, AUDIT.format(n, n, n) + "\n")
            event = out.next(f"event {n}")
            assert f"select {n}" in json.dumps(event)
        finish(proc)
        assert out.rest() == []


def test_message_with_continuation_and_statement_arrives_whole() -> None:
    """An ERROR, its continuation line and its STATEMENT line are one event; written in
    one piece and followed by silence, it is complete."""
    error = (P.format(1) + "ERROR:  relation \"nope\" does not exist at character 15\n"
             + P.format(1) + "STATEMENT:  select * from\n\tnope\n")
    with cli("--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        send(proc.stdin, error)
        event = out.next("the error")
        assert event["kind"] == "error"
        assert event["statement"] == "select * from\nnope"
        send(proc.stdin, AUDIT.format(2, 2, 2) + "\n")
        assert out.next("the audit line")["kind"] == "audit"
        finish(proc)
        assert out.rest() == []


def test_a_line_without_its_lf_waits_for_it() -> None:
    """Half a line is not a line: it is read whole once its LF comes."""
    line = AUDIT.format(1, 1, 1)
    with cli("--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        send(proc.stdin, line[:40])
        send(proc.stdin, line[40:] + "\n")
        assert out.next("the line")["audit"]["statement"] == "select 1"
        finish(proc)
        assert out.rest() == []


def test_record_arrives_once_its_execution_is_complete() -> None:
    """Records: statement 1's record is complete when statement 2 begins (executions.py),
    and is written then; statement 2's waits for its end, here the end of input."""
    with cli("--format", "records", "-") as (proc, out):
        assert proc.stdin is not None
        send(proc.stdin, AUDIT.format(1, 1, 1) + "\n")
        send(proc.stdin, AUDIT.format(2, 2, 2) + "\n")
        record = out.next("statement 1's record")
        assert record["data"]["originalSqlCommand"] == "select 1"
        finish(proc)
        assert [r["data"]["originalSqlCommand"] for r in out.rest()] == ["select 2"]


def test_crlf_is_decided_with_the_lines_that_came() -> None:
    """A CRLF stream read one line at a time: the CR of each line end goes."""
    with cli("--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        for n in (1, 2):
            send(proc.stdin, AUDIT.format(n, n, n) + "\r\n")
            assert out.next(f"line {n}")["audit"]["statement"] == f"select {n}"
        finish(proc)


def test_fifo_is_read_live(tmp_path: Path) -> None:
    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    with cli("--format", "events", str(fifo), stdin=subprocess.DEVNULL) as (proc, out):
        with open(fifo, "wb") as writer:  # (blocks until the CLI opens it)
            for n in (1, 2):
                send(writer, AUDIT.format(n, n, n) + "\n")
                assert out.next(f"line {n}")["audit"]["statement"] == f"select {n}"
        assert proc.wait(timeout=60) == 0
        assert out.rest() == []


def test_socket_on_stdin_is_read_live() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs, cli("--format", "events", "-", stdin=theirs.fileno()) as (proc, out):
        theirs.close()
        for n in (1, 2):
            ours.sendall((AUDIT.format(n, n, n) + "\n").encode())
            assert out.next(f"line {n}")["audit"]["statement"] == f"select {n}"
        ours.shutdown(socket.SHUT_WR)
        assert proc.wait(timeout=60) == 0
        assert out.rest() == []


CSV = ('2026-11-25 16:05:0{n}.120 UTC,"alice","shop",42,"10.0.0.5:50012",6565f1a2.2a,{n},'
       '"SELECT",2026-11-25 16:05:00 UTC,3/7,0,LOG,00000,"AUDIT: SESSION,{n},1,READ,SELECT,'
       ',,select {n},<none>",,,,,,,,,"psql","client backend",,0\n')
JSONLOG = ('{{"timestamp":"2026-11-25 16:05:0{n}.120 UTC","user":"alice","dbname":"shop",'
           '"pid":42,"error_severity":"LOG","message":"AUDIT: SESSION,{n},1,READ,SELECT,,,'
           'select {n},<none>"}}\n')
CLOUDWATCH = '{{"message": "' + AUDIT.replace('"', '\\"') + '", "eventId": "{n}"}}\n'


@pytest.mark.parametrize("template", [CSV, JSONLOG], ids=["csvlog", "jsonlog"])
def test_structured_logs_on_stdin_are_read_live(template: str) -> None:
    with cli("--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        for n in (1, 2):
            send(proc.stdin, template.format(n=n))
            assert out.next(f"record {n}")["audit"]["statement"] == f"select {n}"
        finish(proc)
        assert out.rest() == []


def test_cloudwatch_json_lines_on_stdin_are_read_live() -> None:
    with cli("--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        for n in (1, 2):
            send(proc.stdin, CLOUDWATCH.replace("{n}", str(n)).format(n, n, n))
            assert out.next(f"event {n}")["audit"]["statement"] == f"select {n}"
        finish(proc)
        assert out.rest() == []


def test_prefix_auto_decides_with_the_lines_that_came() -> None:
    """``--prefix auto`` reads a sample of the first lines; on a live input it decides
    with the lines that have come when the input goes quiet (a session line among them),
    instead of waiting for a sample of hundreds of lines."""
    with cli("--prefix", "auto", "--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        for n in (1, 2, 3):
            send(proc.stdin, AUDIT.format(n, n, n) + "\n")
            assert out.next(f"line {n}")["audit"]["statement"] == f"select {n}"
        finish(proc)
        assert out.rest() == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_jobs_read_stdin_live_in_one_process(jobs: str) -> None:
    with cli("--jobs", jobs, "--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        for n in (1, 2):
            send(proc.stdin, AUDIT.format(n, n, n) + "\n")
            assert out.next(f"line {n}")["audit"]["statement"] == f"select {n}"
        finish(proc)
        assert out.rest() == []


def test_a_continuation_line_begun_before_a_pause_stays_with_its_message() -> None:
    """The input goes quiet in the middle of a line: that line may continue the message
    before it (a TAB line), so the message is not complete until the line has ended."""
    with cli("--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        send(proc.stdin, P.format(1) + "ERROR:  syntax error\n" + P.format(1)
             + "STATEMENT:  select 1,\n\t2")
        time.sleep(1.0)  # (quiet well past the pause that completes a message)
        send(proc.stdin, ", 3\n")
        event = out.next("the error")
        assert event["statement"] == "select 1,\n2, 3"
        finish(proc)
        assert out.rest() == []


def test_gzip_on_stdin_is_read_live() -> None:
    with cli("--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        packed = gzip.GzipFile(fileobj=proc.stdin, mode="wb")
        for n in (1, 2):
            packed.write((AUDIT.format(n, n, n) + "\n").encode())
            packed.flush()  # (a sync flush: the bytes so far can be unpacked)
            proc.stdin.flush()
            assert out.next(f"line {n}")["audit"]["statement"] == f"select {n}"
        packed.close()
        finish(proc)
        assert out.rest() == []


def test_long_lines_in_small_pieces(tmp_path: Path) -> None:
    """A line over --max-line-bytes arriving a KiB at a time is one reject with its first
    KiB; a long line under it is read whole; the lines after both are read."""
    dead = tmp_path / "dead.jsonl"
    long_sql = "select '" + "x" * 30_000 + "'"
    with cli("--format", "events", "--max-line-bytes", "20000", "--errors", str(dead),
             "-") as (proc, out):
        assert proc.stdin is not None
        over = AUDIT.format(1, 1, 1).replace("select 1", long_sql) + "\n"
        for start in range(0, len(over), 1024):
            send(proc.stdin, over[start:start + 1024])
        under = AUDIT.format(2, 2, 2).replace("select 2", "select '" + "y" * 15_000 + "'")
        for start in range(0, len(under), 1024):
            send(proc.stdin, under[start:start + 1024])
        send(proc.stdin, "\n" + AUDIT.format(3, 3, 3) + "\n")
        assert len(out.next("the long line under the limit")["audit"]["statement"]) > 15_000
        assert out.next("the line after")["audit"]["statement"] == "select 3"
        finish(proc)
        assert out.rest() == []
    [reject] = [json.loads(line) for line in dead.read_text().splitlines()]
    assert reject["line"] == 1 and "longer than 20000 bytes" in reject["reason"]


def test_partial_last_line_when_the_writer_dies(tmp_path: Path) -> None:
    """The writer is killed in the middle of a line: the lines before it are events, and
    the cut line is read as what it is (here a pgAudit line cut short: a dead letter with
    its text): nothing is dropped, and the run ends normally. (A line begun may be a
    STATEMENT line of the message before it: that message waits for the line's end, or
    the input's.)"""
    writer = subprocess.Popen(
        [sys.executable, "-c", "import os, signal, sys\n"
         "for line in sys.stdin.buffer:\n"
         "    os.write(1, line.rstrip(b'!\\n').replace(b'|', b'\\n'))\n"
         "    if line.endswith(b'!\\n'):\n"
         "        os.kill(os.getpid(), signal.SIGKILL)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert writer.stdin is not None and writer.stdout is not None
    dead = tmp_path / "dead.jsonl"
    with cli("--format", "events", "--errors", str(dead), "-", stdin=writer.stdout) as (
            proc, out):
        writer.stdout.close()
        send(writer.stdin, AUDIT.format(1, 1, 1) + "|\n")
        assert out.next("line 1")["audit"]["statement"] == "select 1"
        send(writer.stdin, AUDIT.format(2, 2, 2)[:-12] + "!\n")  # (written, then killed)
        assert writer.wait(timeout=60) == -9
        assert proc.wait(timeout=60) == 0
        assert out.rest() == []
    [reject] = [json.loads(line) for line in dead.read_text().splitlines()]
    assert reject["line"] == 2 and reject["raw"] == AUDIT.format(2, 2, 2)[:-12]


def test_terminal_on_stdin_is_read_live() -> None:
    """``pgaudit-parse -`` typed into (or pasted on) a terminal: each line's event comes
    once the line is entered; Ctrl-D ends the input."""
    leader, follower = pty.openpty()
    try:
        with cli("--format", "events", "-", stdin=follower) as (proc, out):
            os.close(follower)
            follower = -1
            for n in (1, 2):
                os.write(leader, (AUDIT.format(n, n, n) + "\n").encode())
                assert out.next(f"line {n}")["audit"]["statement"] == f"select {n}"
            os.write(leader, b"\x04")  # Ctrl-D: the end of the input
            assert proc.wait(timeout=60) == 0
            assert out.rest() == []
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)


def test_records_held_on_a_quiet_input_are_written_after_idle_release() -> None:
    """A session's last statement waits for its execution's other lines (a duration
    line); once the input has been quiet for --idle-release seconds, it is written."""
    with cli("--format", "records", "--idle-release", "1", "-") as (proc, out):
        assert proc.stdin is not None
        send(proc.stdin, AUDIT.format(1, 1, 1) + "\n")
        record = out.next("the record held for its duration line")
        assert record["data"]["originalSqlCommand"] == "select 1"
        finish(proc)
        assert out.rest() == []


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "x"])
def test_idle_release_must_be_a_positive_number(value: str) -> None:
    with cli("--idle-release", value, "-", stdin=subprocess.DEVNULL) as (proc, out):
        assert proc.wait(timeout=60) == 2
        assert out.rest() == []
        assert proc.stderr is not None
        [line] = proc.stderr.read().decode().splitlines()[-1:]
        assert "--idle-release" in line and "Traceback" not in line


@pytest.mark.parametrize("again", ["/dev/stdin", "/dev/fd/0", "same file"])
def test_standard_input_given_twice_is_refused(again: str, tmp_path: Path) -> None:
    """``-`` and a path that opens standard input too: the input would be read twice (a
    file's events twice over), as ``- -`` would; refused before anything is read."""
    log = tmp_path / "in.log"
    log.write_text(AUDIT.format(1, 1, 1) + "\n")
    path = str(log) if again == "same file" else again
    with open(log, "rb") as stdin, cli("--format", "events", "-", path,
                                       stdin=stdin) as (proc, out):
        assert proc.wait(timeout=60) == 2
        assert out.rest() == []
        assert proc.stderr is not None
        assert proc.stderr.read().decode() == (
            f"pgaudit-parse: {path}: is standard input, given as '-' too (read it once)\n")


def test_output_that_fails_while_the_input_is_quiet_is_one_line() -> None:
    with cli("--format", "events", "--output", "/dev/full", "-") as (proc, out):
        assert proc.stdin is not None and proc.stderr is not None
        send(proc.stdin, AUDIT.format(1, 1, 1) + "\n")
        assert proc.wait(timeout=60) == 2  # (written when the input went quiet: it ends)
        assert proc.stderr.read().decode() == (
            "pgaudit-parse: cannot write /dev/full: No space left on device\n")


@pytest.mark.parametrize("template", [CSV, JSONLOG], ids=["csvlog", "jsonlog"])
@pytest.mark.parametrize("cut", [12, 30])
def test_structured_log_whose_first_line_comes_in_pieces(template: str, cut: int) -> None:
    """The kind of a live input is told from whole lines: a csvlog or jsonlog whose first
    line comes in two pieces, a pause between them, is still a csvlog or jsonlog."""
    first = template.format(n=1)
    with cli("--format", "events", "-") as (proc, out):
        assert proc.stdin is not None
        send(proc.stdin, first[:cut])
        time.sleep(1.0)  # (quiet: the first bytes are all there is for a while)
        send(proc.stdin, first[cut:])
        assert out.next("record 1")["audit"]["statement"] == "select 1"
        send(proc.stdin, template.format(n=2))
        assert out.next("record 2")["audit"]["statement"] == "select 2"
        finish(proc)
        assert out.rest() == []


@pytest.mark.parametrize("auto", [False, True])
def test_fifo_no_line_of_which_matches_is_named_without_opening_it_again(
        auto: bool, tmp_path: Path) -> None:
    """The one line for an input no line of which the prefix reads looks at a file's
    first bytes again (UTF-16? binary?); a FIFO is not opened again: that waited for
    another writer, for ever."""
    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    args = ["--prefix", "auto"] if auto else []
    with cli(*args, "--format", "events", str(fifo), stdin=subprocess.DEVNULL) as (proc, out):
        with open(fifo, "wb") as writer:
            send(writer, "2026-11-25 16:05:01 not a log line of any prefix\n")
        assert proc.wait(timeout=60) == 2
        assert out.rest() == []
        assert proc.stderr is not None
        [line] = proc.stderr.read().decode().splitlines()
        assert line.startswith(f"pgaudit-parse: {fifo}: ")


def test_non_blocking_stdin_is_waited_for_not_taken_for_its_end() -> None:
    """A pipe someone made non-blocking (O_NONBLOCK is shared by every process that has
    it): a read with nothing there fails with EAGAIN; that is a wait, not the end of the
    input, nor an error."""
    reader, writer = os.pipe()
    os.set_blocking(reader, False)
    try:
        with cli("--format", "events", "-", stdin=reader) as (proc, out):
            os.close(reader)
            reader = -1
            for n in (1, 2):
                time.sleep(0.5)  # (the CLI finds the pipe empty first)
                os.write(writer, (AUDIT.format(n, n, n) + "\n").encode())
                assert out.next(f"line {n}")["audit"]["statement"] == f"select {n}"
            os.close(writer)
            writer = -1
            assert proc.wait(timeout=60) == 0
            assert out.rest() == []
    finally:
        for fd in (reader, writer):
            if fd >= 0:
                os.close(fd)


def test_unix_socket_given_as_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "pg.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        with cli(str(path), stdin=subprocess.DEVNULL) as (proc, out):
            assert proc.wait(timeout=60) == 2
            assert out.rest() == []
            assert proc.stderr is not None
            assert proc.stderr.read().decode() == (
                f"pgaudit-parse: {path}: is a socket, not a file (connect to it and pipe "
                "what it sends: socat -u UNIX-CONNECT:PATH - | pgaudit-parse -)\n")


def test_live_input_on_a_descriptor_past_1024_takes_its_pauses() -> None:
    """select() cannot watch a descriptor numbered 1024 or more (a process with many
    files open): the pauses are still taken, before a read that would wait."""
    import resource

    from pgaudit_parse.sources import LiveInput

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    high = 1500
    if soft <= high:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    reader, writer = os.pipe()
    os.dup2(reader, high)
    os.close(reader)
    taken: list[bool] = []
    try:
        live = LiveInput(high, [(0.0, taken.append)])
        os.write(writer, b"a\n")
        assert live.read1(100) == b"a\n" and taken == []
        threading.Timer(0.5, os.write, (writer, b"b")).start()
        assert live.read1(100) == b"b"  # (waited: nothing was there)
        assert taken == [True]  # (the pause, told the input stopped at a line end)
        os.close(writer)
        writer = -1
        assert live.read1(100) == b"" and taken == [True]  # (the end: no wait)
    finally:
        os.close(high)
        if writer >= 0:
            os.close(writer)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_dead_letters_are_written_while_the_input_stays_open(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    with cli("--format", "events", "--errors", str(dead), "-") as (proc, out):
        assert proc.stdin is not None
        send(proc.stdin, "not a log line\n" + AUDIT.format(1, 1, 1) + "\n")
        assert out.next("the good line")["audit"]["statement"] == "select 1"
        deadline = time.monotonic() + PATIENCE
        while not dead.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        [reject] = [json.loads(line) for line in dead.read_text().splitlines()]
        assert reject["line"] == 1 and reject["raw"] == "not a log line"
        finish(proc)
        assert out.rest() == []


def test_a_run_of_empty_lines_is_written_when_the_input_goes_quiet(tmp_path: Path) -> None:
    """Empty lines are one dead letter per run; on a live input, a run ends where the
    input goes quiet (the dead letter is not held until the next line comes)."""
    dead = tmp_path / "dead.jsonl"
    with cli("--format", "events", "--errors", str(dead), "-") as (proc, out):
        assert proc.stdin is not None
        send(proc.stdin, AUDIT.format(1, 1, 1) + "\n\n\n")
        assert out.next("the line")["audit"]["statement"] == "select 1"
        deadline = time.monotonic() + PATIENCE
        while not dead.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [json.loads(line)["lines"] for line in dead.read_text().splitlines()] == [2]
        send(proc.stdin, "\n" + AUDIT.format(2, 2, 2) + "\n")
        assert out.next("the next line")["audit"]["statement"] == "select 2"
        finish(proc)
        assert out.rest() == []
    rejects = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(r["line"], r["lines"]) for r in rejects] == [(2, 2), (4, 1)]


FIXTURES = ROOT / "fixtures"


@pytest.mark.parametrize("name", ["real-rds.log", "real-rich.log", "with-rejects.log",
                                  "real-rds.csv", "cloudwatch-export.json",
                                  "seed-sqs-bodies.txt", "rds-postgresql.log.gz"])
@pytest.mark.parametrize("fmt", ["records", "events"])
def test_a_pipe_in_pieces_gives_what_the_file_gives(name: str, fmt: str,
                                                     tmp_path: Path) -> None:
    """Every input kind, written into a pipe in pieces of random sizes with quiet spells
    inside lines (where nothing can be complete): the same output and dead letters as
    the file, but for the input's name."""
    data = (FIXTURES / name).read_bytes()
    rng = random.Random(name)
    pieces, start = [], 0
    while start < len(data):
        end = min(len(data), start + rng.choice([1, 7, 64, 500, 4096]))
        pieces.append(data[start:end])
        start = end
    quiet = set(rng.sample(range(len(pieces)), min(3, len(pieces))))
    dead_file, dead_pipe = tmp_path / "file.jsonl", tmp_path / "pipe.jsonl"
    args = ["--format", fmt, "--prefix", "auto"]
    from_file = subprocess.run(
        [sys.executable, "-m", "pgaudit_parse", "-q", *args, "--errors", str(dead_file),
         str(FIXTURES / name)], capture_output=True, env=_env(), cwd=ROOT, timeout=120)
    with cli(*args, "--errors", str(dead_pipe), "-") as (proc, out):
        assert proc.stdin is not None
        for index, piece in enumerate(pieces):
            proc.stdin.write(piece)
            proc.stdin.flush()
            if index in quiet and not piece.endswith(b"\n") and not name.endswith(".gz"):
                time.sleep(0.6)  # (quiet inside a line)
        finish(proc)
        from_pipe = out.rest()

    def unnamed(text: str) -> list[Any]:
        return [json.loads(line.replace(json.dumps(str(FIXTURES / name))[1:-1], "<stdin>"))
                for line in text.splitlines()]

    assert from_file.returncode == 0
    assert from_pipe == unnamed(from_file.stdout.decode())
    assert unnamed(dead_pipe.read_text()) == unnamed(dead_file.read_text())


def test_fifo_given_twice_is_refused(tmp_path: Path) -> None:
    """A FIFO gives its bytes once: named twice, the second reading waited for another
    writer, for ever. Refused before anything is read, as '- -' is."""
    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.fifo"
    link.symlink_to(fifo)
    with cli(str(fifo), str(link), stdin=subprocess.DEVNULL) as (proc, out):
        assert proc.wait(timeout=60) == 2
        assert out.rest() == []
        assert proc.stderr is not None
        assert proc.stderr.read().decode() == (
            f"pgaudit-parse: {link}: a FIFO given more than once (what it gives is read "
            "once; reading it again would wait for another writer)\n")


@pytest.mark.parametrize("path", ["/dev/stdin", "/dev/fd/0"])
def test_dev_stdin_with_standard_input_closed_says_so(path: str) -> None:
    proc = subprocess.run(f"exec {sys.executable} -m pgaudit_parse {path} <&-", shell=True,
                          capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"pgaudit-parse: {path}: standard input is closed\n"
