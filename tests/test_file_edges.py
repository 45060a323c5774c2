"""File mode at the edges of the file system, in one process and with ``--jobs 2``.

A named pipe (FIFO) as FILE, a symlink loop, an input under a directory that cannot be
searched, a file that shrinks or is replaced while ``--jobs`` reads it, a log with CR-only
line ends. Each runs the real CLI in a subprocess (a FIFO needs a writer; permissions need
permission checks, even for root), with a timeout: a hang fails the test, never the machine.

Properties: every input that can be read is read, and every line of it is in one event or
one reject; an input that cannot be read, or could not be read whole, is named on one line
of stderr and the status is 2; never a traceback, never a hang.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from pgaudit_parse import parallel
from pgaudit_parse.lines import Line
from pgaudit_parse.parallel import parse_file_parallel
from pgaudit_parse.parser import Parser
from pgaudit_parse.prefix import LinePrefix
from pgaudit_parse.sinks import OutputSink
from pgaudit_parse.sources import InputError, read_input

PREFIX = "%t:%r:%u@%d:[%p]:"
AUDIT = ("2026-11-25 16:00:{s:02d} UTC:10.0.0.5(5001):alice@shop:[100]:LOG:  AUDIT: "
         "SESSION,{n},1,READ,SELECT,,,select {n},<not logged>")
#: (exit status, stdout, stderr) of one run.
Run = tuple[int, str, str]
ROOT = Path(__file__).resolve().parent.parent


def log_text(count: int) -> str:
    return "".join(AUDIT.format(s=n % 60, n=n) + "\n" for n in range(1, count + 1))


def run_cli(*args: str, env: dict[str, str] | None = None, bound: bool = False,
            timeout: float = 60) -> Run:
    """The CLI in a subprocess. ``bound``: file permissions apply to it even as root
    (root keeps its uid but loses the capabilities that override them, through
    util-linux's ``setpriv``)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-m", "pgaudit_parse", "--format", "events", "--prefix",
               PREFIX, *args]
    if bound and os.geteuid() == 0:
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--",
                   *command]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env=environment)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def events(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("auto", [False, True])
def test_fifo_as_file_is_read_once(jobs: str, auto: bool, tmp_path: Path) -> None:
    """With ``--jobs`` a FIFO was opened three times (csvlog sniffing, then ``--prefix
    auto``'s sample, then the parse): the first open read the writer's data and threw it
    away, the next waited for a writer that never came (a hang). A FIFO is read once, by
    one process, like standard input."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    text = log_text(50)

    def write() -> None:
        try:
            with open(fifo, "w") as handle:
                handle.write(text)
        except OSError:
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    args = ["--jobs", jobs, str(fifo)] + (["--prefix", "auto"] if auto else [])
    try:
        status, out, err = run_cli(*args, timeout=30)
    finally:
        if writer.is_alive():  # unblock a writer still waiting for a reader
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(5)
    assert status == 0, err
    assert [e["line"] for e in events(out)] == list(range(1, 51))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_symlink_loop_is_named_with_its_cause_and_the_other_files_are_read(
        jobs: str, tmp_path: Path) -> None:
    """A symlink loop was "no such file", and stopped the run before any file was read."""
    (tmp_path / "one").symlink_to(tmp_path / "two")
    (tmp_path / "two").symlink_to(tmp_path / "one")
    good = tmp_path / "good.log"
    good.write_text(log_text(3))
    status, out, err = run_cli("--jobs", jobs, str(tmp_path / "one"), str(good))
    assert status == 2
    assert [e["line"] for e in events(out)] == [1, 2, 3]
    assert err.strip().splitlines() == [
        f"pgaudit-parse: {tmp_path / 'one'}: too many levels of symbolic links"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_permission_denied_mid_directory(jobs: str, tmp_path: Path) -> None:
    """Inputs in a directory, one of them unreadable and one under a directory that cannot
    be searched: the others are read, each failure is named (with its cause), status 2.
    A path under an unsearchable directory was "no such file" and stopped the run."""
    logs = tmp_path / "logs"
    locked = logs / "locked"
    locked.mkdir(parents=True)
    paths = []
    for name in ("a.log", "b.log", "c.log"):
        (logs / name).write_text(log_text(2))
        paths.append(logs / name)
    (locked / "d.log").write_text(log_text(2))
    for directory in (tmp_path, logs):
        directory.chmod(0o755)
    (logs / "b.log").chmod(0o000)
    locked.chmod(0o000)
    try:
        status, out, err = run_cli("--jobs", jobs, str(paths[0]), str(paths[1]),
                                   str(locked / "d.log"), str(paths[2]), bound=True)
    finally:
        locked.chmod(0o755)
        (logs / "b.log").chmod(0o644)
    assert status == 2
    assert [(e["source"], e["line"]) for e in events(out)] == [
        (str(paths[0]), 1), (str(paths[0]), 2), (str(paths[2]), 1), (str(paths[2]), 2)]
    assert err.strip().splitlines() == [
        f"pgaudit-parse: {paths[1]}: permission denied",
        f"pgaudit-parse: {locked / 'd.log'}: permission denied"]


# -- a file that changes while it is read ---------------------------------------------------

def _parse(path: Path, jobs: int) -> tuple[list[int], list[dict[str, object]], str | None]:
    """(event lines, dead letters, the InputError's text or None) of parsing ``path``."""
    out, errors = io.StringIO(), io.StringIO()
    sink = OutputSink(out, errors, "events")
    failure = None
    try:
        if jobs == 1:
            lines = read_input(str(path), sink.reject)
            parser = Parser(LinePrefix(PREFIX), on_reject=sink.reject)
            for line in lines:
                for event in parser.feed(line):
                    sink.write(event)
            for event in parser.flush():
                sink.write(event)
        else:
            parse_file_parallel(str(path), PREFIX, jobs, sink, chunk_bytes=20_000,
                                warmup_bytes=1000, warmup_lines=10)
    except InputError as exc:
        failure = str(exc)
    sink.flush()
    return ([e["line"] for e in events(out.getvalue())],
            [json.loads(x) for x in errors.getvalue().splitlines()], failure)


def _after_planning(change: Callable[[], None]) -> Any:
    """``plan_chunks`` that changes the file once the chunks are planned (the workers,
    started next, read the changed file)."""
    real = parallel.plan_chunks

    def planned(*args: Any, **kwargs: Any) -> list[parallel.Chunk]:
        chunks = real(*args, **kwargs)
        assert len(chunks) > 2
        change()
        return chunks

    return mock.patch.object(parallel, "plan_chunks", planned)


LINES = 2000  # ~250 kB: a dozen chunks of 20 kB


def test_file_growing_while_jobs_read_it_is_read_to_its_new_end(tmp_path: Path) -> None:
    """Lines appended after the chunks were planned (a live log) are read by the last
    chunk, as one process reads them: every line once."""
    path = tmp_path / "postgresql.log"
    path.write_text(log_text(LINES))

    def grow() -> None:
        with open(path, "a") as handle:
            handle.write(log_text(LINES + 50)[len(log_text(LINES)):])

    with _after_planning(grow):
        lines, dead, failure = _parse(path, 2)
    assert failure is None and dead == []
    assert lines == list(range(1, LINES + 51)) == _parse(path, 1)[0]


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("how", ["truncated", "replaced"])
def test_file_shrinking_while_read_is_an_error_naming_the_file(jobs: int, how: str,
                                                               tmp_path: Path) -> None:
    """A log truncated (``copytruncate`` rotation) or replaced (rotation by rename) while
    it was read lost its lines after the cut without a word: one process stopped at the
    new end, and ``--jobs`` workers read their planned chunks from a file that no longer
    had them (or from another file), exit 0. Now the read ends in an error that names the
    file and says how far it got. (One process reads a replaced file through the file it
    opened: nothing is lost there.)"""
    path = tmp_path / "postgresql.log"
    path.write_text(log_text(LINES) * 10 if jobs == 1 else log_text(LINES))
    size = path.stat().st_size

    def change() -> None:
        if how == "truncated":
            os.truncate(path, size // 3)
        else:
            other = tmp_path / "new.log"
            other.write_text(log_text(LINES)[: size // 3] + "\n" * (size - size // 3))
            os.replace(other, path)

    if jobs == 2:
        with _after_planning(change):
            lines, _dead, failure = _parse(path, 2)
    else:
        real = read_input

        def changing(*args: Any, **kwargs: Any) -> Iterator[Line]:
            for number, line in enumerate(real(*args, **kwargs)):
                if number == 0:
                    change()
                yield line

        with mock.patch(f"{__name__}.read_input", changing):
            lines, _dead, failure = _parse(path, 1)
    if how == "replaced" and jobs == 1:  # (read through the file it opened: all there)
        assert failure is None and lines == list(range(1, LINES * 10 + 1))
        return
    assert failure is not None and failure.startswith(f"{path}: "), failure
    assert "while it was read" in failure, failure
    assert len(lines) < LINES * (10 if jobs == 1 else 1)


# -- CR-only line ends ------------------------------------------------------------------------

@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("end", ["", "\r"])
def test_cr_only_line_ends_read_like_lf(jobs: str, end: str, tmp_path: Path) -> None:
    """A log whose lines end in a bare CR (old Mac line ends, a converter gone wrong) was
    one physical line: the first message swallowed every line after it, as text of its
    message (exit 0, the audit lines gone), or the whole file was one reject. Such a file
    is read like its LF twin (a bare CR inside a line of an LF or CRLF file stays data)."""
    text = log_text(40) + ("\tcontinued\n" if end else "") + \
        "2026-11-25 16:01:00 UTC::@:[77]:LOG:  checkpoint starting: time\n"
    lf, cr = tmp_path / "lf.log", tmp_path / "cr.log"
    lf.write_bytes(text.encode())
    cr.write_bytes(text.replace("\n", "\r").encode()[: len(text) - 1 + len(end)])
    want = run_cli(str(lf), "--errors", str(tmp_path / "lf.err"))
    got = run_cli("--jobs", jobs, str(cr), "--errors", str(tmp_path / "cr.err"),
                  env={"PGAUDIT_PARSE_CHUNK_BYTES": "300"})
    assert got[0] == want[0] == 0, got[2]
    assert got[1].replace(str(cr), str(lf)) == want[1]
    assert len(events(got[1])) == 41
    assert (tmp_path / "cr.err").read_text() == ""


@pytest.mark.parametrize("auto", [False, True])
def test_stdin_with_jobs_is_read_once(auto: bool) -> None:
    """``--jobs 2 --prefix auto -`` read its sample of standard input to choose the
    prefix, then parsed what was left: nothing, exit 0 (the lines lost without a word)."""
    text = log_text(30)
    command = [sys.executable, "-m", "pgaudit_parse", "--format", "events", "--jobs", "2",
               "-"] + (["--prefix", "auto"] if auto else [])
    proc = subprocess.run(command, input=text, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert [e["line"] for e in events(proc.stdout)] == list(range(1, 31))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_prefix_auto_writes_what_the_given_prefix_writes(jobs: str, tmp_path: Path) -> None:
    """One process with ``--prefix auto`` wrote the reader's rejects (a run of empty lines,
    a line over the limit) made while it read its sample before the rejects of the lines
    before them (the parser's, made when it parsed the sample afterwards): the dead
    letters came out of order, unlike the same run with the prefix given, or ``--jobs``.
    Found by tests/test_fuzz_sessions.py."""
    lines = log_text(6).splitlines()
    text = "\n".join(lines[:3] + ["junk \udcfc"[:5], "", "", lines[3], "x" * 300, ""]
                     + lines[4:]) + "\n"
    path = tmp_path / "postgresql.log"
    path.write_text(text)
    results = []
    for prefix in (PREFIX, "auto"):
        errors = tmp_path / f"{len(results)}.err"
        status, out, err = run_cli("--jobs", jobs, str(path), "--prefix", prefix,
                                   "--errors", str(errors), "--max-line-bytes", "200",
                                   env={"PGAUDIT_PARSE_CHUNK_BYTES": "300"})
        results.append((status, out, errors.read_text()))
    assert results[1] == results[0]
    dead = [json.loads(line) for line in results[0][2].splitlines()]
    assert [r["line"] for r in dead] == [4, 5, 8, 9]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_damaged_gzip_csvlog_reads_like_one_process_and_the_next_file_too(
        jobs: str, tmp_path: Path) -> None:
    """A csvlog in a ``.gz`` cut short: one process read none of it ("not a valid gzip
    file" met while sniffing its kind); ``--jobs`` sniffed nothing, so read it as a plain
    log (every line a "does not match" reject). Now both read its records up to the damage,
    name it, and read the file after it."""
    data = gzip.compress((ROOT / "fixtures" / "real-rds.csv").read_bytes())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    good = tmp_path / "good.log"
    good.write_text(log_text(4))
    errors = tmp_path / "dead.jsonl"
    status, out, err = run_cli("--jobs", jobs, str(cut), str(good), "--errors", str(errors))
    assert status == 2
    written = events(out)
    assert [e["line"] for e in written if e["source"] == str(good)] == [1, 2, 3, 4]
    from_csv = [e for e in written if e["source"] == str(cut)]
    assert len(from_csv) > 10 and all(e["user"] or e["kind"] != "audit" for e in from_csv)
    assert errors.read_text() == ""
    assert err.strip().splitlines()[-1].startswith(f"pgaudit-parse: {cut}: not a valid gzip")


def test_library_parse_file_parallel_flushes_what_it_read_before_damage(
        tmp_path: Path) -> None:
    """``parse_file_parallel`` on an input it parses in one process (``.gz``, a prefix
    without ``%u %d %r``) that breaks mid-way raised its ``InputError`` with the entry it
    held at the damage (and records waiting for their duration line) never written: the
    lines before the damage were not all in an event or a reject."""
    text = "".join(f"2026-11-25 16:00:0{n} UTC [{n}] LOG:  statement: select\n\t{n}\n"
                   for n in range(1, 6))
    data = gzip.compress(text.encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[:-12])  # the stream ends early (its trailer cut)
    out, errors = io.StringIO(), io.StringIO()
    sink = OutputSink(out, errors, "events")
    with pytest.raises(InputError, match="lines 1-8 were read; line 9 was cut short"):
        parse_file_parallel(str(path), "%t [%p] ", 2, sink)
    sink.flush()
    assert [e["line"] for e in events(out.getvalue())] == [1, 3, 5, 7]  # (and 2, 4, 6, 8)
    assert [json.loads(x)["line"] for x in errors.getvalue().splitlines()] == [9]


# -- the kept start of an over-long line does not depend on how the reads fell ----------

class _Trickle(io.BytesIO):
    """A file that hands out at most ``step`` bytes a read (as a pipe or gzip may)."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def read1(self, size: int = -1) -> bytes:
        return super().read1(min(self.step, size if size > 0 else self.step))


@pytest.mark.parametrize("what", ["line", "value"])
def test_an_over_long_json_input_keeps_the_same_start_whatever_the_reads(what: str) -> None:
    """In a JSON input (a CloudWatch export), a junk line or a value over the limit is a
    dead letter with its first RAW_KEEP characters. It kept the text up to the end of the
    read in which the limit was passed: a pipe's small reads, or --jobs's other reader,
    gave another dead letter for the same line."""
    from pgaudit_parse.sources import RAW_KEEP, _ByteChunks, _JsonStream

    long = "x" * (RAW_KEEP + 500)
    data = (f"{long}\n" if what == "line" else f'{{"message": "{long}"}}\n').encode()
    kept = []
    for step in (7, 100, 1 << 16):
        stream = _JsonStream(_ByteChunks(_Trickle(data, step)), 90)
        if what == "line":
            text, size = stream.take_line()
        else:
            assert stream.peek() == "{"
            whole, complete, size, text = stream.take_value()
            assert whole is None and complete
        kept.append(text)
    assert kept == [data.decode()[:RAW_KEEP]] * 3, [len(k) for k in kept]
