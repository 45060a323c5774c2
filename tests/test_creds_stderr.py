"""Our own stderr never carries a credential or (asked for literals) a constant of the input:
not for a bad line of any input kind, not for a file that is no log at all, not in the
``--summary`` table, the ``summary`` command's text, or a failed write. Every message we
print names the file, the line and the cause, never the line's text (the dead-letter file
holds that, redacted)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "StdErrPw-4711"
P = "2026-11-25 16:05:01 UTC:10.0.0.5(5000):bob@shop:[42]:"
STATEMENT = f"ALTER ROLE bob PASSWORD '{SECRET}'"
GOOD = [P + "LOG:  connection authorized: user=bob database=shop application_name=psql",
        P + f"LOG:  statement: {STATEMENT}",
        P + 'ERROR:  invalid input syntax for type integer: "' + SECRET + '"',
        P + "STATEMENT:  SELECT set_config('app.password', '" + SECRET + "', false)::int"]


def _inputs(tmp: Path) -> dict[str, Path]:
    """One file of each input kind, each with good lines and a bad one holding SECRET."""
    files: dict[str, Path] = {}
    plain = tmp / "plain.log"
    plain.write_text("\n".join(GOOD + [f"junk {STATEMENT}", "\t" + STATEMENT]) + "\n")
    files["plain"] = plain
    gz = tmp / "plain.log.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes())[:-12])  # cut short
    files["gz"] = gz
    record = {"timestamp": "2026-11-25 16:05:01.000 UTC", "user": "bob", "dbname": "shop",
              "pid": 42, "error_severity": "LOG", "message": f"statement: {STATEMENT}"}
    jsonlog = tmp / "pg.json"
    jsonlog.write_text(json.dumps(record) + "\n" + json.dumps(record)[:-20] + "\n")
    files["jsonlog"] = jsonlog
    csv = tmp / "pg.csv"
    row = ('2026-11-25 16:05:01.000 UTC,"bob","shop",42,"10.0.0.5:5000",6740a1b5.2a,1,'
           '"idle",2026-11-25 16:05:00 UTC,3/4,0,LOG,00000,"statement: ' + STATEMENT
           .replace('"', '""') + '",,,,,,,,,"psql","client backend",,0')
    csv.write_text(row + "\n" + row[:90] + '"' + row[120:] + "\n")
    files["csvlog"] = csv
    events = [{"timestamp": 1796053501000 + i, "message": line, "logStreamName": "db1",
               "eventId": str(i)} for i, line in enumerate(GOOD)]
    export = tmp / "export.json"
    export.write_text(json.dumps({"events": events}) + "\n"
                      + json.dumps({"events": events})[:-30])
    files["cloudwatch"] = export
    seed = tmp / "bodies.txt"
    seed.write_text("\n".join(str({"id": str(i), "timestamp": 1796053501000 + i,
                                   "message": line, "logStreamName": "db1"})
                              for i, line in enumerate(GOOD))
                    + "\n" + str({"message": STATEMENT + ' "x"'})[:-4] + "\n")
    files["seed"] = seed
    return files


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("kind", ["plain", "gz", "jsonlog", "csvlog", "cloudwatch", "seed"])
@pytest.mark.parametrize("args", [[], ["--format", "events"], ["--format", "ocsf"],
                                  ["--redact", "literals"], ["--summary"]])
def test_bad_lines_of_every_input_kind_leave_stderr_clean(tmp_path: Path, kind: str,
                                                          args: list[str]) -> None:
    path = _inputs(tmp_path)[kind]
    dead = tmp_path / "dead.jsonl"
    run = _run(*args, "--errors", str(dead), str(path))
    assert "Traceback" not in run.stderr
    assert run.stderr  # something was said: rejects, a cut-short file, the summary
    assert SECRET not in run.stderr, run.stderr
    if "--format" not in args or "events" not in args:  # (events: none by default)
        assert SECRET not in dead.read_text() if dead.exists() else True


@pytest.mark.parametrize("args", [[], ["--prefix", "auto"], ["--format", "events"]])
def test_a_file_that_is_no_log_names_the_file_not_its_text(tmp_path: Path,
                                                           args: list[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(f"{STATEMENT}\nCREATE USER MAPPING FOR a SERVER s OPTIONS (password "
                    f"'{SECRET}')\n")
    run = _run(*args, str(path))
    assert run.returncode == 2
    assert str(path) in run.stderr and SECRET not in run.stderr
    assert len(run.stderr.strip().splitlines()) <= 2


def test_the_summary_command_prints_no_secret(tmp_path: Path) -> None:
    path = _inputs(tmp_path)["plain"]
    for args in ([], ["--json"]):
        run = _run("summary", *args, str(path))
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr
        assert SECRET not in run.stdout + run.stderr


def test_a_failed_write_says_which_file_and_nothing_of_the_input(tmp_path: Path) -> None:
    path = _inputs(tmp_path)["plain"]
    run = _run("-o", "/dev/full", str(path))
    assert run.returncode == 2
    assert "/dev/full" in run.stderr and SECRET not in run.stderr
