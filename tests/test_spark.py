"""Spark in local mode (``local[2]``) gives the same events and records as the CLI on every
fixture, with one task per file; CloudWatch exports to S3 read like the log they hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from workload import RDS_PREFIX, RICH_PREFIX

from pgaudit_parse.spark import (
    AUDIT_COLUMNS,
    EVENT_COLUMNS,
    output_lines,
    read_events,
    write_output,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
#: Every fixture the CLI reads, with its log_line_prefix.
PREFIXES = {
    "rds-postgresql.log": RDS_PREFIX,
    "rds-postgresql.log.gz": RDS_PREFIX,
    "real-rds.log": RDS_PREFIX,
    "real-rich.log": RICH_PREFIX,
    "postgres-default.log": "%m [%p] ",
    "with-rejects.log": RDS_PREFIX,
    "cloudwatch-export.json": RDS_PREFIX,
    "filter-log-events.json": RDS_PREFIX,
    "seed-sqs-bodies.txt": RDS_PREFIX,
    "real-rds.csv": RDS_PREFIX,
    "real-rich.csv": RICH_PREFIX,
}


@pytest.fixture(scope="module")
def spark() -> Any:
    from pyspark.sql import SparkSession

    # Spark binds to the host's address unless told otherwise: keep it on loopback.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"

    session = (SparkSession.builder.master("local[2]").appName("pgaudit-parse-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _cli(path: Path, prefix: str, fmt: str, *extra: str) -> list[str]:
    zone = ZONES.get(path.name)
    result = subprocess.run([sys.executable, "-m", "pgaudit_parse", str(path), "--prefix",
                             prefix, "--format", fmt, "--quiet", *extra,
                             *(["--timezone", zone] if zone else [])],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _as_event(row: Any) -> dict[str, Any]:
    data = row.asDict(recursive=True)
    data.pop("event_time")
    if data["audit"] is None:
        data.pop("audit")
    return data


def _without_absent(event: dict[str, Any]) -> dict[str, Any]:
    """An events-output object with the keys that only some kinds carry filled in as null,
    like the DataFrame's columns."""
    full = {name: None for name, _ in EVENT_COLUMNS if name != "audit"}
    full.update(event)
    return full


#: The rich server logged in Asia/Kolkata (its ``IST`` is otherwise ambiguous).
ZONES = {"real-rich.log": "Asia/Kolkata", "real-rich.csv": "Asia/Kolkata"}


def test_every_events_key_has_a_column() -> None:
    """A key added to --format events must get a column (and a type) here too."""
    columns = {name for name, _ in EVENT_COLUMNS}
    audit = {name for name, _ in AUDIT_COLUMNS}
    for name, prefix in PREFIXES.items():
        for line in _cli(FIXTURES / name, prefix, "events"):
            event = json.loads(line)
            assert set(event) <= columns, set(event) - columns
            assert set(event.get("audit") or {}) <= audit


def test_events_equal_the_cli_on_every_fixture(spark: Any) -> None:
    for name, prefix in PREFIXES.items():
        frame = read_events(spark, [str(FIXTURES / name)], prefix, ZONES.get(name))
        got = [_as_event(row) for row in frame.collect()]
        want = [_without_absent(json.loads(line)) for line in _cli(FIXTURES / name, prefix,
                                                                   "events")]
        assert got == want, name


def test_several_files_run_one_task_each(spark: Any, tmp_path: Path) -> None:
    """Two copies of a log in one job: each file is read whole by one task (a message is
    never cut between tasks), and the events of each equal the CLI's."""
    names = ["real-rds.log", "rds-postgresql.log"]
    paths = []
    for n, name in enumerate(names):
        copy = tmp_path / f"{n}-{name}"
        copy.write_bytes((FIXTURES / name).read_bytes())
        paths.append(str(copy))
    frame = read_events(spark, paths, RDS_PREFIX)
    assert frame.rdd.getNumPartitions() == len(paths)
    rows = [_as_event(row) for row in frame.collect()]
    for path in paths:
        want = [_without_absent(json.loads(line)) for line in _cli(Path(path), RDS_PREFIX,
                                                                   "events")]
        assert [row for row in rows if row["source"] == path] == want


@pytest.mark.parametrize("fmt", ["records", "events"])
def test_written_output_equals_the_cli(spark: Any, tmp_path: Path, fmt: str) -> None:
    paths = [str(FIXTURES / "real-rich.log")]
    target = tmp_path / "out"
    write_output(spark, paths, str(target), fmt=fmt, prefix=RICH_PREFIX,
                 account_id="123456789012", instance="db1", timezone="Asia/Kolkata")
    written = [line for part in sorted(target.glob("part-*")) for line in
               part.read_text(encoding="utf-8").splitlines()]
    want = _cli(FIXTURES / "real-rich.log", RICH_PREFIX, fmt, "--account-id", "123456789012",
                "--instance", "db1")
    assert written == want and want


@pytest.mark.parametrize("name", ["real-rds.log", "real-rich.log"])
def test_a_cloudwatch_s3_export_reads_like_the_log(tmp_path: Path, name: str) -> None:
    """CloudWatch's export to S3 writes each event as ``TIME message``; the parser sees the
    message only (real-rich.log: multi-line messages and ``<previously logged>``)."""
    log = FIXTURES / name
    export = tmp_path / "000000"
    lines = log.read_bytes().decode("utf-8").split("\n")  # LF only: the log has a bare CR
    export.write_bytes("\n".join(
        f"2026-11-25T16:05:{n % 60:02d}.000Z {line}" if line and not line.startswith("\t")
        else line for n, line in enumerate(lines)).encode("utf-8"))
    got = [json.loads(line) for line in output_lines(str(export), "events", PREFIXES[name],
                                                     timezone=ZONES.get(name))]
    want = [json.loads(line) for line in _cli(log, PREFIXES[name], "events")]
    assert any("<previously logged>" in line for line in lines) == (name == "real-rich.log")
    assert want and [e.pop("source") for e in got] == [str(export)] * len(got)
    for event in want:
        event.pop("source")
    assert got == want
