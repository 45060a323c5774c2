"""Text no encoder can write: lone surrogates (``\\ud800``) from JSON inputs and argv.

A JSON string may hold a lone UTF-16 surrogate escape (``"\\ud800"``): CloudWatch exports,
``filter-log-events`` output, forwarder and seed SQS bodies and jsonlog lines can all
carry one (a client's bytes, a tool that cut a surrogate pair in two, an attacker). The
decoded text then held a code point UTF-8 cannot encode, and every output format, the
dead letters, ``--jobs``' files and ``summary`` ended in a ``UnicodeEncodeError``
traceback (exit 1) when the line was written. So did a ``--instance`` or ``--account-id``
given as bytes that are not UTF-8 (Python keeps them as ``\\udcXX``). Input text now
keeps a lone surrogate as the text ``\\ud800`` (docs/input.md), and what still holds one
when it is written (inside a JSON string) is written as its JSON escape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PREFIX = "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:"
SQL = "select '\ud800' || 'a\udfffb' || '\ud83d'"
LINE = f"{PREFIX}LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,{SQL},<not logged>"
ERROR = f"{PREFIX}ERROR:  bad \udc80 value\n{PREFIX}STATEMENT:  {SQL}"


def _event(message: str, n: int = 1) -> dict[str, object]:
    return {"timestamp": 1764086701000 + n, "eventId": str(n), "logStreamName": "db-a",
            "message": message}


def _inputs(directory: Path) -> dict[str, Path]:
    """The same two messages (and an event without a message) as each JSON input kind."""
    events = [_event(LINE), _event(ERROR, 2), {"eventId": "3", "junk": "\udfff"}]
    files = {
        "cloudwatch.json": json.dumps(events),
        "filter.json": json.dumps({"events": events, "searchedLogStreams": []}),
        "forwarder.jsonl": json.dumps({"v": 1, "logGroup": "/aws/rds/x", "events": events}),
        "seed.txt": "\n".join(repr({"message": m.replace("\n", "|||") + "++",
                                    "logStreamName": "db-a"}) for m in (LINE, ERROR)),
        "jsonlog.json": json.dumps({"timestamp": "2026-11-25 16:05:01.000 UTC",
                                    "user": "alice", "dbname": "shop", "pid": 4242,
                                    "remote_host": "10.0.0.5", "remote_port": 50012,
                                    "error_severity": "LOG",
                                    "message": f"AUDIT: SESSION,1,1,READ,SELECT,,,{SQL},"
                                               "<not logged>"}),
    }
    paths = {}
    for name, text in files.items():
        path = directory / name
        path.write_text(text + "\n", encoding="utf-8", errors="surrogatepass")
        paths[name] = path
    return paths


def run(args: list[str | bytes]) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args], capture_output=True,
                          timeout=120, env=env, cwd=REPO)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
@pytest.mark.parametrize("to_stdout", [False, True], ids=["file", "stdout"])
def test_lone_surrogates_from_json_inputs_are_written_as_their_json_escape(
        fmt: str, to_stdout: bool, tmp_path: Path) -> None:
    for name, path in _inputs(tmp_path).items():
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        args: list[str | bytes] = [str(path), "--format", fmt, "--errors", str(err), "-q"]
        done = run(args if to_stdout else [*args, "--output", str(out)])
        assert b"Traceback" not in done.stderr, (name, done.stderr.decode()[-600:])
        assert done.returncode == 0, (name, done.stderr.decode())
        text = done.stdout if to_stdout else out.read_bytes()
        text.decode("utf-8")  # valid UTF-8 (no surrogate written raw)
        written = [json.loads(line) for line in text.splitlines()]
        assert written, name
        strings = [s for item in written for s in _strings(item)]
        # the statement comes back whole, each lone surrogate as its text (docs/input.md)
        kept = SQL.encode("utf-8", "backslashreplace").decode("utf-8")
        assert any(kept in s for s in strings), (name, fmt)
        for line in err.read_bytes().splitlines():
            json.loads(line)


def test_instance_given_as_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.log"
    log.write_text(LINE.replace(SQL, "select 1") + "\n")
    done = run([str(log), "--account-id", "123456789012", "--instance", b"db\xff1"])
    assert b"Traceback" not in done.stderr, done.stderr.decode()[-600:]
    assert done.returncode == 0
    record = json.loads(done.stdout)
    assert record["dbName"] == "123456789012:db\udcff1:shop"


@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "html"])
def test_summary_of_lone_surrogates(to_file: bool, tmp_path: Path) -> None:
    """``summary`` counted bytes with ``surrogateescape`` and wrote text and HTML with
    strict UTF-8: a traceback for each."""
    paths = _inputs(tmp_path)
    html = tmp_path / "summary.html"
    extra: list[str | bytes] = ["--html", str(html)] if to_file else []
    done = run(["summary", str(paths["cloudwatch.json"]), str(paths["seed.txt"]),
                "--errors", str(tmp_path / "dead.jsonl"), *extra])
    assert b"Traceback" not in done.stderr, done.stderr.decode()[-600:]
    assert done.returncode == 0, done.stderr.decode()
    (html.read_bytes() if to_file else done.stdout).decode("utf-8")
