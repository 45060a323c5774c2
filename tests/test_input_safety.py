"""Issue 8: never destroy, skip or misread input (docs/input.md).

Each test here failed before the fix it names: outputs that are inputs, append mode cutting
lines, the input kind taken from the first character, documents after the first ignored,
SQS bodies over 64 KiB, one bad FILE stopping the run, CRLF/BOM, quadratic or AST-sized
memory for big JSON values and seed bodies, a billion empty-line rejects, tracebacks.
Memory cases run in a subprocess under ``resource.setrlimit`` (a regression fails, it does
not take the machine down).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import json
import os
import subprocess
import sys
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from strategies import SETTINGS

from pgaudit_parse.cli import main
from pgaudit_parse.cli.common import open_output
from pgaudit_parse.lines import Reject
from pgaudit_parse.sources import InputError, python_literal, read_input

REPO = Path(__file__).resolve().parent.parent
AUDIT = ("2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:LOG:  AUDIT: "
         "SESSION,{n},1,READ,SELECT,TABLE,public.t,{sql},<not logged>")


def audit(n: int, sql: str = "select 1") -> str:
    return AUDIT.format(n=n, sql=sql)


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO, **kwargs)  # type: ignore[call-overload]


def cli(*args: str) -> tuple[int, str, str]:
    """``main`` in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("pgaudit-parse: "), stderr


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def statements(stdout: str) -> list[str]:
    return [e["audit"]["statement"] for e in events(stdout) if e["kind"] == "audit"]


def dead_letters(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def collect(path: Path | str, **kwargs: object) -> tuple[list[str], list[Reject]]:
    rejects: list[Reject] = []
    texts = [line.text for line in read_input(str(path), rejects.append, **kwargs)]  # type: ignore[arg-type]
    return texts, rejects


# -- 1. never destroy input ---------------------------------------------------------------

@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "in.log"
    path.write_text(audit(1) + "\n" + audit(2) + "\n")
    return path


@pytest.mark.parametrize("how", ["output", "errors", "symlink", "hardlink", "relative"])
def test_an_output_that_is_an_input_is_refused(tmp_path: Path, log: Path, how: str) -> None:
    before = log.read_bytes()
    target = log
    if how == "symlink":
        target = tmp_path / "link.jsonl"
        target.symlink_to(log)
    elif how == "hardlink":
        target = tmp_path / "hard.jsonl"
        os.link(log, target)
    option = "--errors" if how == "errors" else "--output"
    path = str(target) if how != "relative" else os.path.relpath(log, REPO)
    result = run(str(log), option, path)
    assert result.returncode == 2
    one_line_error(result.stderr)
    assert "input" in result.stderr and result.stdout == ""
    assert log.read_bytes() == before


def test_stdin_redirected_from_the_output_is_refused(tmp_path: Path, log: Path) -> None:
    before = log.read_bytes()
    with open(log, "rb") as stdin:
        result = run("-", "--output", str(log), stdin=stdin)
    assert result.returncode == 2
    one_line_error(result.stderr)
    assert log.read_bytes() == before


@pytest.mark.parametrize("exists", [False, True])
def test_output_and_errors_on_one_file_are_refused(tmp_path: Path, log: Path,
                                                   exists: bool) -> None:
    both = tmp_path / "both.jsonl"
    if exists:
        both.write_text("kept\n")
    status, _, err = cli(str(log), "--output", str(both), "--errors",
                         str(tmp_path / "." / "both.jsonl"))
    assert status == 2
    one_line_error(err)
    assert both.exists() == exists and (not exists or both.read_text() == "kept\n")


def test_summary_html_over_its_input_is_refused(log: Path) -> None:
    before = log.read_bytes()
    result = run("summary", str(log), "--html", str(log))
    assert result.returncode == 2
    one_line_error(result.stderr)
    assert log.read_bytes() == before


def test_the_aws_readers_opener_refuses_one_file_for_both(tmp_path: Path) -> None:
    """``cloudwatch``/``sqs`` open their outputs through open_output (append mode)."""
    both = tmp_path / "out.jsonl"
    both.write_text('{"a":1}\n')
    args = argparse.Namespace(output=str(both), errors=str(both), format="events",
                              account_id=None, instance=None)
    with pytest.raises(InputError, match="--errors"):
        open_output(args, append=True)
    assert both.read_text() == '{"a":1}\n'


# -- 2. append mode never removes bytes ---------------------------------------------------

@pytest.mark.parametrize("content", [b"", b'{"a":1}\n', b'{"a":1}\n{"torn', b"no newline at all",
                                     b"x\r\n"])
def test_append_keeps_every_byte_and_ends_the_last_line(tmp_path: Path, content: bytes) -> None:
    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    out.write_bytes(content)
    err.write_bytes(content)
    args = argparse.Namespace(output=str(out), errors=str(err), format="events",
                              account_id=None, instance=None)
    open_output(args, append=True).close()  # nothing received
    expected = content + (b"\n" if content and not content.endswith(b"\n") else b"")
    assert out.read_bytes() == expected and err.read_bytes() == expected


# -- 3, 4, 5. the kind of input is decided by content; every document is read ------------

@pytest.mark.parametrize("prefix,line", [
    ("[%m] [%p] ", "[2026-11-25 16:05:01.123 UTC] [42] LOG:  AUDIT: "
                   "SESSION,1,1,READ,SELECT,,,select 1,<none>"),
    ("{%p} ", "{42} LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>"),
    ("[%a] %m [%p] ", "[] 2026-11-25 16:05:01.123 UTC [42] LOG:  AUDIT: "
                      "SESSION,1,1,READ,SELECT,,,select 1,<none>"),
])
def test_a_log_whose_prefix_starts_like_json_is_a_plain_log(tmp_path: Path, prefix: str,
                                                            line: str) -> None:
    path = tmp_path / "pg.log"
    path.write_text(line + "\n" + line.replace("SESSION,1,", "SESSION,2,") + "\n")
    status, out, err = cli(str(path), "--prefix", prefix, "--format", "events")
    assert status == 0, err
    assert statements(out) == ["select 1", "select 1"]


def test_text_after_a_json_document_is_read_or_rejected(tmp_path: Path) -> None:
    path, errors = tmp_path / "a.json", tmp_path / "err.jsonl"
    path.write_text("[]\n" + audit(1) + "\n")
    status, out, err = cli(str(path), "--format", "events", "--errors", str(errors))
    assert status == 0, err
    [reject] = dead_letters(errors)
    assert reject["raw"] == audit(1) and "not JSON" in reject["reason"]


def _event(n: int, stream: str = "s") -> dict:
    return {"timestamp": 1764086701000 + n, "message": audit(n), "logStreamName": stream,
            "eventId": str(n)}


@pytest.mark.parametrize("joiner", ["", "\n", "\n\n  "])
def test_concatenated_exports_are_all_read(tmp_path: Path, joiner: str) -> None:
    path = tmp_path / "both.json"
    documents = [json.dumps([_event(1), _event(2)]),
                 json.dumps([_event(3)], indent=2),
                 json.dumps({"events": [_event(4)], "searchedLogStreams": []}, indent=4),
                 json.dumps({"events": [_event(5)]})]
    path.write_text(joiner.join(documents) + "\n")
    status, out, err = cli(str(path), "--format", "events")
    assert status == 0, err
    assert [e["audit"]["statement_id"] for e in events(out)] == [1, 2, 3, 4, 5]


def test_every_sqs_body_is_read_or_rejected(tmp_path: Path) -> None:
    """A first body over 64 KiB (forwarder bodies go up to 256 KiB) or malformed."""
    big = "select '" + "x" * 200_000 + "'"
    bodies = [repr({"message": audit(1, big) + "++", "logStreamName": "db"}),
              "{'message': 'torn",
              json.dumps({"message": audit(2), "logStreamName": "db"}),
              "{not a body}",
              repr({"message": audit(3) + "++"}),
              repr({"no": "message"})]
    for first in (0, 1):  # the big body first, then the malformed one first
        order = bodies[first:] + bodies[:first]
        path, errors = tmp_path / "bodies.txt", tmp_path / "err.jsonl"
        path.write_text("\n".join(order) + "\n")
        status, out, err = cli(str(path), "--format", "events", "--errors", str(errors))
        assert status == 0, err
        assert sorted(statements(out), key=len) == ["select 1", "select 1", big]
        rejected = dead_letters(errors)
        assert sorted(r["raw"] for r in rejected) == sorted(
            [bodies[1], bodies[3], bodies[5]])
        assert all(r["reason"] for r in rejected)


# -- 6. several FILEs ----------------------------------------------------------------------

def test_every_readable_file_is_read_and_each_bad_one_named(tmp_path: Path) -> None:
    good1, good2 = tmp_path / "a.log", tmp_path / "z.log"
    good1.write_text(audit(1) + "\n")
    good2.write_text(audit(9) + "\n")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not a log\n" * 3)
    truncated = tmp_path / "cut.log.gz"
    content = "".join(audit(n, f"select {n}") + "\n" for n in range(2, 2000)).encode()
    data = gzip.compress(content)
    truncated.write_bytes(data[: len(data) * 2 // 3])
    directory = tmp_path / "dir"
    directory.mkdir()
    files = [good1, junk, truncated, directory, good2]
    result = run(*map(str, files), "--format", "events")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    for bad in (junk, truncated, directory):
        assert sum(str(bad) in line for line in lines) == 1, lines
    assert not any(str(good) in line for good in (good1, good2) for line in lines)
    got = [e["audit"]["statement_id"] for e in events(result.stdout) if e["kind"] == "audit"]
    assert got[0] == 1 and got[-1] == 9
    from_gz = got[1:-1]
    assert from_gz == list(range(2, 2 + len(from_gz))) and len(from_gz) > 100
    [where] = [line for line in lines if str(truncated) in line]
    assert f"lines 1-{len(from_gz)}" in where or f"lines 1-{len(from_gz) + 1}" in where


# -- 7. line ends and encodings --------------------------------------------------------------

def test_crlf_files_lose_exactly_the_cr_of_each_line_end(tmp_path: Path) -> None:
    path = tmp_path / "windows.log"
    lines = [audit(1, '"select 1\r\nfrom t"'), audit(2, "select 2"),
             audit(3, '"select\rbare"'),  # a bare CR inside SQL is data
             "2026-11-25 16:05:02 UTC:10.0.0.5(50012):alice@shop:[4242]:ERROR:  boom",
             "2026-11-25 16:05:02 UTC:10.0.0.5(50012):alice@shop:[4242]:STATEMENT:  select x"]
    text = "\r\n".join(lines).replace("1\r\nfrom", "1\r\n\tfrom") + "\r\n"
    path.write_bytes(text.encode())
    status, out, err = cli(str(path), "--format", "events")
    assert status == 0, err
    got = events(out)
    assert [e["audit"]["statement"] for e in got if e["kind"] == "audit"] == [
        "select 1\nfrom t", "select 2", "select\rbare"]
    assert all(e["audit"]["parameter"] is None for e in got if e["kind"] == "audit")
    error = next(e for e in got if e["kind"] == "error")
    assert error["message"] == "boom" and error["statement"] == "select x"


def test_a_bare_cr_in_an_lf_file_stays(tmp_path: Path) -> None:
    path = tmp_path / "lf.log"
    path.write_bytes((audit(1, "select 1\r") + "\n" + audit(2) + "\n").encode())
    texts, rejects = collect(path)
    assert texts == [audit(1, "select 1\r"), audit(2)] and not rejects


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path: Path) -> None:
    for crlf in (False, True):
        path = tmp_path / "bom.log"
        end = "\r\n" if crlf else "\n"
        path.write_bytes(b"\xef\xbb\xbf" + (audit(1) + end + audit(2) + end).encode())
        status, out, err = cli(str(path), "--format", "events")
        assert status == 0, err
        assert [e["audit"]["statement_id"] for e in events(out)] == [1, 2]
        assert "rejected" not in err


def test_invalid_utf8_is_kept_as_escapes(tmp_path: Path) -> None:
    path, errors = tmp_path / "bad.log", tmp_path / "err.jsonl"
    path.write_bytes(audit(1, "select '\xff\xfe'").encode("latin-1") + b"\n\xc3\n")
    status, out, err = cli(str(path), "--format", "events", "--errors", str(errors))
    assert status == 0, err
    assert statements(out) == ["select '\\xff\\xfe'"]
    assert [r["raw"] for r in dead_letters(errors)] == ["\\xc3"]


# -- 10. linear time and memory for big values -------------------------------------------

def limited(code: str, megabytes: int) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter whose address space is capped."""
    prelude = (f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({megabytes << 20}, "
               f"{megabytes << 20}))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300, env=env)


def test_a_big_seed_body_is_read_in_memory_linear_in_its_size(tmp_path: Path) -> None:
    """A 2 MB ``str(dict)`` body took 977 MB through ast.literal_eval."""
    path = tmp_path / "seed.txt"
    sql = "select '" + "a\\n'\t\u00e9\u4e2d" * 300_000 + "'"
    body = {"message": audit(1, sql) + "++", "logStreamName": "db", "timestamp": 1}
    path.write_text(repr(body) + "\n")
    expected = tmp_path / "expected.txt"
    expected.write_text(audit(1, sql))
    result = limited(f"""
        from pgaudit_parse.sources import read_input
        [line] = read_input({str(path)!r})
        assert line.text == open({str(expected)!r}).read(), len(line.text)
        print("ok")
    """, 200)
    assert result.stdout == "ok\n", result.stderr[-2000:]


def test_a_big_event_in_a_json_list_is_decoded_once(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A 64 MB event took 42 s: the buffer was decoded again every 64 KiB."""
    path = tmp_path / "big.json"
    sql = "select '" + "y\\" * (4 << 20) + "'"
    path.write_text(json.dumps([_event(1), {"message": audit(2, sql), "eventId": "2"},
                                _event(3)]))
    calls = []
    original = json.JSONDecoder.raw_decode

    def counting(self: json.JSONDecoder, s: str, idx: int = 0) -> tuple[object, int]:
        calls.append(len(s) - idx)
        return original(self, s, idx)

    monkeypatch.setattr(json.JSONDecoder, "raw_decode", counting)
    texts, rejects = collect(path)
    assert texts == [audit(1), audit(2, sql), audit(3)] and not rejects
    # Each decode attempt looks at a chunk or the whole value: a bounded number of them.
    assert len(calls) < 20, len(calls)
    assert sum(calls) < 4 * path.stat().st_size


def test_a_big_event_in_a_json_list_fits_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    sql = "select '" + "z" * (32 << 20) + "'"
    path.write_text(json.dumps([{"message": audit(2, sql), "eventId": "2"}, _event(3)]))
    result = limited(f"""
        from pgaudit_parse.sources import read_input
        sizes = [len(line.text) for line in read_input({str(path)!r})]
        assert sizes == {[len(audit(2, sql)), len(audit(3))]!r}, sizes
        print("ok")
    """, 400)
    assert result.stdout == "ok\n", result.stderr[-2000:]


literal_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4),
    max_leaves=12)


@SETTINGS
@given(st.dictionaries(st.text(max_size=8), literal_values, max_size=5))
# strings that spell punctuation are strings, not the punctuation (found by this test in CI)
@example({"}": None})
@example({"a": [",", "]"], ":": (")", "(")})
@example({"k": {"{": "}"}, "": ""})
def test_python_literal_reads_what_literal_eval_reads(value: dict) -> None:
    text = repr(value)
    assert python_literal(text) == ast.literal_eval(text)


@pytest.mark.parametrize("text", ["{'a': 1", "{'a' 1}", "{'a': 'x\n'}", "{'a': b'x'}",
                                  "{1: 2} {}", "{'a': [1, 2}", "", "{'a': '\\x4'}",
                                  "{'a': f(1)}", "{[1]: 2}"])
def test_python_literal_refuses_what_is_not_a_literal(text: str) -> None:
    assert python_literal(text) is None


# -- 11. runs of empty lines -------------------------------------------------------------------

def test_a_run_of_empty_lines_is_one_reject_with_its_count(tmp_path: Path) -> None:
    path = tmp_path / "gaps.log.gz"
    content = audit(1) + "\n" + "\n" * 3_000_000 + audit(2) + "\n\n" + audit(3) + "\n\n\n"
    path.write_bytes(gzip.compress(content.encode()))
    texts, rejects = collect(path)
    assert texts == [audit(1), audit(2), audit(3)]
    assert [(r.line, r.lines, r.raw) for r in rejects] == [
        (2, 3_000_000, ""), (3_000_003, 1, ""), (3_000_005, 2, "")]
    # Accounting: every physical line is in one line or one reject.
    covered = sorted([3_000_002, 1, 3_000_004] + [n for r in rejects
                                                 for n in range(r.line, r.line + r.lines)])
    assert covered == list(range(1, content.count("\n") + 1))


def test_a_file_of_newlines_makes_one_dead_letter(tmp_path: Path) -> None:
    path, errors = tmp_path / "nl.gz", tmp_path / "err.jsonl"
    path.write_bytes(gzip.compress(b"\n" * (20 << 20)))
    status, _, err = cli(str(path), "--errors", str(errors))
    assert status == 0, err
    assert f"{20 << 20} rejected input line(s)" in err  # lines, not dead letters
    assert dead_letters(errors) == [{"file": str(path), "source": str(path), "line": 1,
                                     "reason": f"{20 << 20} empty lines", "raw": "",
                                     "lines": 20 << 20}]


# -- 17. no traceback, ever ----------------------------------------------------------------------

def test_disk_full_is_one_line(log: Path) -> None:
    result = run(str(log), "--output", "/dev/full")
    assert result.returncode == 2
    one_line_error(result.stderr)
    with open("/dev/full", "w") as full:
        ended = subprocess.run([sys.executable, "-m", "pgaudit_parse", str(log)], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert ended.returncode == 2
    one_line_error(ended.stderr)


def test_closed_stdin_and_stdout_are_one_line(log: Path) -> None:
    result = run("-", stdin=subprocess.DEVNULL, close_fds=True,
                 preexec_fn=lambda: os.close(0))
    assert result.returncode == 2
    one_line_error(result.stderr)
    assert "standard input" in result.stderr
    code = ("import os, subprocess, sys; os.close(1); "
            f"sys.exit(subprocess.call([sys.executable, '-m', 'pgaudit_parse', {str(log)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert result.returncode == 2
    one_line_error(result.stderr)


def test_stdin_twice_is_refused(log: Path) -> None:
    with open(log, "rb") as stdin:
        result = run("-", "-", stdin=stdin)
    assert result.returncode == 2
    one_line_error(result.stderr)


@pytest.mark.parametrize("prefix", ["%1000000000p", "%-1000000000p ", "%99999999999999999999p"])
def test_absurd_padding_is_one_line(log: Path, prefix: str) -> None:
    result = run(str(log), "--prefix", prefix)
    assert result.returncode == 2
    one_line_error(result.stderr)


def test_jobs_on_an_unreadable_input_is_one_line(tmp_path: Path, log: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir()
    result = run("--jobs", "2", str(log), str(directory))
    assert result.returncode == 2
    one_line_error(result.stderr)
    assert str(directory) in result.stderr
    assert len(result.stdout.splitlines()) == 2  # the readable file's two records


def test_jobs_past_the_process_limit_is_one_line_and_leaks_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing.context
    import tempfile

    path = tmp_path / "big.log"
    path.write_text("".join(audit(n) + "\n" for n in range(1, 400)))
    monkeypatch.setenv("PGAUDIT_PARSE_CHUNK_BYTES", "2000")
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*args: object, **kwargs: object) -> str:
        made.append(real_mkdtemp(*args, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    def no_pool(*args: object, **kwargs: object) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr(multiprocessing.context.ForkContext, "Pool", no_pool)
    monkeypatch.setattr("pgaudit_parse.cli.files._cpu_count", lambda: 2)
    status, _, err = cli(str(path), "--jobs", "2")
    assert status == 2
    one_line_error(err)
    assert made and not any(os.path.exists(d) for d in made)


def test_jobs_is_capped_at_the_cpu_count(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def parse_files(*args: object) -> int:
        seen.append(args[5])  # type: ignore[arg-type]
        return 0

    monkeypatch.setattr("pgaudit_parse.cli.files.parse_files", parse_files)
    cli(str(log), "--jobs", "100000")
    assert seen == [len(os.sched_getaffinity(0))]


def test_a_huge_line_through_gzip_is_a_reject_in_bounded_memory(tmp_path: Path) -> None:
    path, errors = tmp_path / "line.gz", tmp_path / "err.jsonl"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(audit(1).encode() + b"\n" + b"2026" + b"a" * (200 << 20) + b"\n")
        f.write(audit(2).encode() + b"\n")
    result = limited(f"""
        import sys
        from pgaudit_parse.cli import main
        sys.exit(main([{str(path)!r}, "--max-line-bytes", "1048576", "--errors",
                       {str(errors)!r}, "--format", "events"]))
    """, 150)
    assert result.returncode == 0, result.stderr[-2000:]
    assert statements(result.stdout) == ["select 1", "select 1"]
    [reject] = dead_letters(errors)
    assert reject["line"] == 2 and reject["raw"] == ("2026" + "a" * 1020)
    assert str(200 << 20 | 4) in reject["reason"] or "longer than 1048576" in reject["reason"]


def test_the_line_cap_default_is_documented_and_bounded() -> None:
    from pgaudit_parse.sources import DEFAULT_MAX_LINE_BYTES

    assert DEFAULT_MAX_LINE_BYTES == 256 << 20
    assert "256 MiB" in (REPO / "docs" / "input.md").read_text()


def test_a_source_reject_without_on_reject_raises(tmp_path: Path) -> None:
    path = tmp_path / "gap.log"
    path.write_text(audit(1) + "\n\n" + audit(2) + "\n")
    with pytest.raises(InputError, match="line 2: empty line"):
        list(read_input(str(path)))


@pytest.mark.parametrize("command", [[], ["summary"]])
def test_full_or_closed_stdout_is_one_line_for_every_reader(log: Path,
                                                            command: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "pgaudit_parse", *command, str(log)]
    with open("/dev/full", "w") as full:
        ended = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True,
                               timeout=60, env=env)
    assert ended.returncode == 2
    one_line_error(ended.stderr)
    code = f"import os, subprocess, sys; os.close(1); sys.exit(subprocess.call({argv!r}))"
    ended = subprocess.run([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                           timeout=60, env=env)
    assert ended.returncode == 2
    one_line_error(ended.stderr)


def test_kind_detection_holds_a_bounded_head(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Detection reads (and holds, to read again) at most _DETECT_BYTES: a first document
    longer than that is told by how it starts, and nothing read is lost."""
    import pgaudit_parse.sources as sources

    monkeypatch.setattr(sources, "_DETECT_BYTES", 1000)
    monkeypatch.setattr(sources, "_CHUNK", 100)
    events = [_event(n) for n in range(1, 40)]
    compact, pretty, log = tmp_path / "c.json", tmp_path / "p.json", tmp_path / "b.log"
    compact.write_text(json.dumps({"events": events}))
    pretty.write_text(json.dumps({"events": events}, indent=2))
    braces = "{42} LOG:  " + "x" * 3000
    log.write_text(braces + "\n" + braces + "\n")
    for path in (compact, pretty):
        texts, rejects = collect(path)
        assert texts == [audit(n) for n in range(1, 40)] and not rejects
    assert collect(log) == ([braces, braces], [])
