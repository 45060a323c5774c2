"""``rds-logs``: an instance's log files through DescribeDBLogFiles and
DownloadDBLogFilePortion, paginated, resumable, and equal to reading the file whole.

DescribeDBLogFiles is checked against moto's server; moto has no DownloadDBLogFilePortion,
so the paging tests use the loopback stub of :mod:`rds_stub` (real HTTP, boto3's own
requests and XML parsing).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_harness import AWS_ENV, REGION, REPO, Aws, read_jsonl
from rds_stub import RdsStub, StubFile, serve

import pgaudit_parse as pp
from pgaudit_parse.aws.rds_logs import (
    RdsCheckpointFile,
    RdsLogReader,
    list_log_files,
)
from pgaudit_parse.sinks import OutputSink, add_sql_keys
from pgaudit_parse.sql.stage import SqlStage

LOG = REPO / "fixtures" / "real-rds.log"
RDS_PREFIX = "%t:%r:%u@%d:[%p]:"
NAME = "error/postgresql.log.2026-11-25-16"


def _client(endpoint: str) -> Any:
    return boto3.session.Session(
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION).client("rds", endpoint_url=endpoint)


@pytest.fixture()
def stub() -> Iterator[RdsStub]:
    state = RdsStub()
    server, _thread = serve(state)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _lines(path: Path) -> list[str]:
    """The file's lines, LF-terminated (a bare CR inside a message is not a line end)."""
    text = path.read_bytes().decode("utf-8")
    return [line + "\n" for line in text.split("\n")[:-1]]


def _expected() -> list[dict[str, Any]]:
    # the events as --format events writes them: through the SQL stage (docs/sql.md)
    stage = SqlStage("none")
    return [_strip(add_sql_keys(pp.event_to_json(e), info))
            for e, info in map(stage.apply, pp.parse_file(str(LOG), prefix=RDS_PREFIX))]


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("source", "line", "stream")}


def _read(stub: RdsStub, out: io.StringIO, store: RdsCheckpointFile | None = None,
          lines: int = 7, stop_after: int | None = None) -> RdsLogReader:
    sink = OutputSink(out, fmt="events")
    pages = [0]

    def on_page(name: str, count: int) -> None:
        pages[0] += 1

    reader = RdsLogReader(_client(stub.endpoint), "db1", sink, RDS_PREFIX, store=store,
                          lines_per_page=lines, on_page=on_page)
    reader.poll(lambda: stop_after is not None and pages[0] >= stop_after)
    sink.close()
    return reader


def _events(out: io.StringIO) -> list[dict[str, Any]]:
    return [_strip(json.loads(line)) for line in out.getvalue().splitlines()]


def test_describe_db_log_files_against_moto(aws: Aws) -> None:
    rds = _client(aws.endpoint)
    instance = aws.unique("db")
    rds.create_db_instance(DBInstanceIdentifier=instance, Engine="postgres",
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername="postgres", MasterUserPassword="not-a-secret-1")
    files = list_log_files(rds, instance)
    assert [f.name.startswith("error/postgresql.log.") for f in files] == [True]


def test_paged_read_equals_the_whole_file(stub: RdsStub) -> None:
    stub.files["db1"] = {NAME: StubFile(_lines(LOG), 1)}
    out = io.StringIO()
    reader = _read(stub, out, lines=7)
    assert _events(out) == _expected()
    downloads = [r for r in stub.requests if r["Action"] == "DownloadDBLogFilePortion"]
    assert len(downloads) == reader.portions > 5
    assert downloads[0]["Marker"] == "0" and downloads[1]["Marker"] == "7:7"


def test_a_stopped_read_resumes_without_loss_or_repeat(stub: RdsStub, tmp_path: Path) -> None:
    stub.files["db1"] = {NAME: StubFile(_lines(LOG), 1)}
    store = RdsCheckpointFile(tmp_path / "cp.json")
    first, second = io.StringIO(), io.StringIO()
    _read(stub, first, store, lines=5, stop_after=3)
    saved = json.loads((tmp_path / "cp.json").read_text())
    assert saved["instance"] == "db1" and saved["files"][NAME]["done"] is False
    assert 0 < len(_events(first)) < len(_expected())
    _read(stub, second, store, lines=5)
    assert _events(first) + _events(second) == _expected()


def test_held_lines_are_read_again_after_a_stop(stub: RdsStub, tmp_path: Path) -> None:
    """A message whose lines straddle a portion is not done until all are read."""
    lines = _lines(LOG)
    index = next(i for i, text in enumerate(lines) if ":STATEMENT:" in text)
    stub.files["db1"] = {NAME: StubFile(lines, 1)}
    store = RdsCheckpointFile(tmp_path / "cp.json")
    first, second = io.StringIO(), io.StringIO()
    _read(stub, first, store, lines=index, stop_after=1)  # the ERROR ends portion one
    position = json.loads((tmp_path / "cp.json").read_text())["files"][NAME]
    assert position["marker"] == "0" and position["skip"] <= index - 1
    _read(stub, second, store, lines=index)
    assert _events(first) + _events(second) == _expected()


def test_rejects_after_a_held_line_are_not_repeated(stub: RdsStub, tmp_path: Path) -> None:
    """Lines rejected after the oldest held line are done: a resume skips them."""
    lines = _lines(LOG)
    lines[6:6] = ["garbage that fits no prefix\n"]
    stub.files["db1"] = {NAME: StubFile(lines, 1)}
    store = RdsCheckpointFile(tmp_path / "cp.json")
    rejects: list[str] = []
    for stop_after in (1, None):
        errors = io.StringIO()
        sink = OutputSink(io.StringIO(), errors, fmt="events")
        pages: list[int] = []
        reader = RdsLogReader(_client(stub.endpoint), "db1", sink, RDS_PREFIX, store=store,
                              lines_per_page=10,
                              on_page=lambda name, count, seen=pages: seen.append(count))
        reader.poll(lambda limit=stop_after, seen=pages: limit is not None
                    and len(seen) >= limit)
        sink.close()
        rejects += [json.loads(r)["raw"] for r in errors.getvalue().splitlines()]
    assert rejects == ["garbage that fits no prefix"]
    assert json.loads((tmp_path / "cp.json").read_text())["files"][NAME]["seen"] == []


def test_cut_portions_are_asked_again_with_fewer_lines(stub: RdsStub) -> None:
    stub.files["db1"] = {NAME: StubFile(_lines(LOG), 1)}
    stub.cut_over = 3
    out = io.StringIO()
    _read(stub, out, lines=8)
    assert _events(out) == _expected()
    asked = [int(r["NumberOfLines"]) for r in stub.requests
             if r["Action"] == "DownloadDBLogFilePortion"]
    assert asked[:3] == [8, 4, 2]


def test_rotated_files_are_done_and_the_newest_grows(stub: RdsStub, tmp_path: Path) -> None:
    lines = _lines(LOG)
    half = len(lines) // 2
    while lines[half].startswith("\t"):
        half += 1
    older = "error/postgresql.log.2026-11-25-15"
    stub.files["db1"] = {older: StubFile(lines[:half], 1), NAME: StubFile(lines[half:], 2)}
    store = RdsCheckpointFile(tmp_path / "cp.json")
    first = io.StringIO()
    _read(stub, first, store, lines=50)
    saved = json.loads((tmp_path / "cp.json").read_text())["files"]
    assert saved[older]["done"] is True and saved[NAME]["done"] is False
    extra = ("2026-11-25 16:59:59 UTC:127.0.0.1(5000):alice@shop:[9]:LOG:  "
             "AUDIT: SESSION,1,1,READ,SELECT,,,select 42,<none>\n")
    stub.files["db1"][NAME].lines.append(extra)
    stub.requests.clear()
    second = io.StringIO()
    _read(stub, second, store, lines=50)
    assert [e["audit"]["statement"] for e in _events(second)] == ["select 42"]
    assert all(r.get("LogFileName") != older for r in stub.requests)


def test_a_line_over_the_portion_limit_is_a_reject(stub: RdsStub) -> None:
    stub.files["db1"] = {NAME: StubFile(_lines(LOG)[:4], 1)}
    stub.cut_over = 0  # even one line is too long: RDS cuts it
    errors = io.StringIO()
    sink = OutputSink(io.StringIO(), errors, fmt="events")
    RdsLogReader(_client(stub.endpoint), "db1", sink, RDS_PREFIX, lines_per_page=2).poll()
    sink.close()
    rejects = [json.loads(line) for line in errors.getvalue().splitlines()]
    assert rejects and all("1 MB" in r["reason"] for r in rejects)


def test_cli_rds_logs(stub: RdsStub, tmp_path: Path, aws: Aws) -> None:
    stub.files["db1"] = {NAME: StubFile(_lines(LOG), 1)}
    out = tmp_path / "out.jsonl"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pgaudit_parse", "rds-logs", *args,
                               "--endpoint-url", stub.endpoint], capture_output=True,
                              text=True, timeout=120, env=aws.env(), cwd=REPO)

    proc = cli("--db-instance-identifier", "db1", "--format", "events", "--output", str(out),
               "--checkpoint", str(tmp_path / "cp.json"), "--lines-per-page", "9")
    assert proc.returncode == 0, proc.stderr
    assert [_strip(o) for o in read_jsonl(out)] == _expected()
    proc = cli("--db-instance-identifier", "nope")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr


def test_newest_file_keeps_an_open_message_for_the_next_poll(stub: RdsStub,
                                                             tmp_path: Path) -> None:
    """The newest file, written moments ago, ends with an ERROR whose STATEMENT is not
    written yet: the next poll (or run, from the checkpoint) reads them together."""
    from aws_logdata import BASE_MS, audit_line, error_lines, errors

    from pgaudit_parse.aws.cloudwatch import now_ms

    error = error_lines(BASE_MS, 8, 1)
    head = [audit_line(BASE_MS, 7, 1) + "\n", error[0] + "\n"]
    stub.files["db1"] = {NAME: StubFile(list(head), now_ms())}
    store = RdsCheckpointFile(tmp_path / "cp.json")
    outputs, rejects = [], []
    for grow in (False, True):
        if grow:  # PostgreSQL writes the rest; the file is quiet since
            stub.files["db1"][NAME].lines += [error[1] + "\n", error[2] + "\n"]
            stub.files["db1"][NAME].last_written = now_ms() - 60_000
        out, dead = io.StringIO(), io.StringIO()
        sink = OutputSink(out, dead, fmt="events")
        RdsLogReader(_client(stub.endpoint), "db1", sink, RDS_PREFIX, store=store,
                     lines_per_page=1).poll()
        sink.close()
        outputs += [json.loads(line) for line in out.getvalue().splitlines()]
        rejects += dead.getvalue().splitlines()
    assert rejects == []
    assert list(errors(outputs).values()) == ["select *\nfrom nope1"]
    assert len(outputs) == 2


def test_a_file_removed_while_read_is_a_reject_and_the_rest_is_read(stub: RdsStub) -> None:
    """RDS removes old log files (retention) on its own schedule: one removed between two
    portions is named in a reject, and the files after it are still read."""
    lines = _lines(LOG)
    older = "error/postgresql.log.2026-11-25-15"
    stub.files["db1"] = {older: StubFile(lines[:20], 1), NAME: StubFile(lines, 2)}
    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead, fmt="events")

    def on_page(name: str, count: int) -> None:
        stub.files["db1"].pop(older, None)  # gone after its first portion

    reader = RdsLogReader(_client(stub.endpoint), "db1", sink, RDS_PREFIX,
                          lines_per_page=5, on_page=on_page)
    reader.poll()
    sink.close()
    rejects = [json.loads(line) for line in dead.getvalue().splitlines()]
    assert len(rejects) == 1 and older in rejects[0]["reason"], rejects
    assert reader.positions[older].done
    got = [_strip(json.loads(line)) for line in out.getvalue().splitlines()]
    assert got[-len(_expected()):] == _expected()


def test_one_shot_run_without_checkpoint_writes_the_open_last_message(
        stub: RdsStub, tmp_path: Path, aws: Aws) -> None:
    """Without --checkpoint or --follow there is no next poll: the newest file's open
    last message is written at the end of the run, even if written moments ago."""
    from aws_logdata import BASE_MS, error_lines

    from pgaudit_parse.aws.cloudwatch import now_ms

    error = error_lines(BASE_MS, 8, 1)
    stub.files["db1"] = {NAME: StubFile([error[0] + "\n"], now_ms())}
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "rds-logs",
                           "--db-instance-identifier", "db1", "--format", "events",
                           "--output", str(out), "--endpoint-url", stub.endpoint],
                          capture_output=True, text=True, timeout=120, env=aws.env(), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    [event] = read_jsonl(out)
    assert event["kind"] == "error" and event["message"].startswith('relation "nope1"')
