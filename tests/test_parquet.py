"""``--format ocsf-parquet``: Security Lake's layout, one class per source, and rows that
say what ``--format ocsf`` says (the same objects, nulls for absent attributes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from ocsf_schema import FIXTURES as OCSF_FIXTURES
from ocsf_schema import OcsfSchema

import pgaudit_parse as pp
from pgaudit_parse.parquet import OcsfParquetSink

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RICH_PREFIX = "%m [%p] %q%u@%d %r %e %l %c "
OCSF = OcsfSchema.load(OCSF_FIXTURES / "1.1.0")


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args], capture_output=True,
                          timeout=120)


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _unmapped_as_map(values: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        if key == "pgaudit":
            out.update({f"pgaudit.{k}": v if isinstance(v, str) else json.dumps(v)
                        for k, v in value.items() if v is not None})
        elif value is not None:
            out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def test_security_lake_layout_and_rows_equal_the_ocsf_output(tmp_path: Path) -> None:
    log = FIXTURES / "real-rich.log"
    lake = tmp_path / "lake"
    proc = _cli(str(log), "--prefix", RICH_PREFIX, "--format", "ocsf-parquet", "--output",
                str(lake), "--account-id", "123456789012", "--lake-region", "eu-west-1")
    assert proc.returncode == 0, proc.stderr
    files = sorted(lake.rglob("*.parquet"))
    folders = {f.parent.relative_to(lake).as_posix() for f in files}
    assert folders == {
        "pgaudit_datastore_activity/region=eu-west-1/accountId=123456789012/eventDay=20261125",
        "pgaudit_authentication/region=eu-west-1/accountId=123456789012/eventDay=20261125",
    }
    rows: list[dict[str, Any]] = []
    for path in files:
        table = pq.read_table(path)
        classes = set(table.column("class_uid").to_pylist())
        assert len(classes) == 1, f"{path} mixes classes {classes}"
        assert ("datastore" in str(path)) == (classes == {6005})
        rows += table.to_pylist()
    proc = _cli(str(log), "--prefix", RICH_PREFIX, "--format", "ocsf", "--account-id",
                "123456789012")
    expected = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(rows) == len(expected)
    by_key = {(o["time"], o["class_uid"], o["message"]): o for o in expected}
    for row in rows:
        row = _strip_nulls(row)
        row["unmapped"] = dict(row["unmapped"])
        want = by_key[(row["time"], row["class_uid"], row["message"])]
        want = dict(want, unmapped=_unmapped_as_map(want["unmapped"]))
        assert row == want
        assert OCSF.validate(dict(row, unmapped={})) == []


def test_event_day_is_the_utc_day_and_files_close_on_flush(tmp_path: Path) -> None:
    lines = [
        "2026-11-25 23:59:59 UTC:10.0.0.5(5000):alice@shop:[42]:LOG:  "
        "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
        "2026-11-26 00:30:00 CET:10.0.0.5(5000):alice@shop:[42]:LOG:  "  # 23:30 UTC
        "AUDIT: SESSION,2,1,READ,SELECT,,,select 2,<none>",
        "2026-11-26 00:00:01 UTC:10.0.0.5(5000):alice@shop:[42]:LOG:  "
        "AUDIT: SESSION,3,1,READ,SELECT,,,select 3,<none>",
        "2026-11-26 00:00:02 UTC::@:[7]:LOG:  checkpoint starting: time",
    ]
    sink = OcsfParquetSink(str(tmp_path), "us-east-1", "1", rows_per_group=1)
    rejects: list[pp.Reject] = []
    for event in pp.parse_lines(lines, prefix="%t:%r:%u@%d:[%p]:", on_reject=rejects.append):
        sink.write(event)
    assert rejects == []
    assert all(Path(f).exists() for f in sink.files)
    sink.flush(durable=True)
    days = {}
    for path in tmp_path.rglob("*.parquet"):
        day = path.parent.name
        meta = pq.ParquetFile(path).metadata
        days[day] = (meta.num_rows, meta.num_row_groups)
    assert days == {"eventDay=20261125": (2, 2), "eventDay=20261126": (1, 1)}
    assert (sink.written, sink.skipped) == (3, 1)
    sink.write(next(iter(pp.parse_lines(lines[:1]))))
    sink.close()
    assert len(list(tmp_path.rglob("*.parquet"))) == 3  # a new file after the flush


@pytest.mark.parametrize(("args", "complaint"), [
    (["--lake-region", "eu-west-1"], "--account-id"),
    (["--account-id", "123456789012"], "--lake-region"),
    (["--account-id", "123456789012", "--lake-region", "eu-west-1", "--output", "-"],
     "--output DIR"),
])
def test_missing_partition_values_are_one_line_errors(tmp_path: Path, args: list[str],
                                                      complaint: str) -> None:
    argv = [str(FIXTURES / "real-rds.log"), "--format", "ocsf-parquet", *args]
    if "--output" not in args:
        argv += ["--output", str(tmp_path / "lake")]
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", *argv], capture_output=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH":
                                           str(Path(__file__).resolve().parent.parent)})
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert complaint in err and err.count("\n") == 1 and "Traceback" not in err


def test_an_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "lake"
    target.write_text("x")
    proc = _cli(str(FIXTURES / "real-rds.log"), "--format", "ocsf-parquet", "--output",
                str(target), "--account-id", "123456789012", "--lake-region", "eu-west-1")
    assert proc.returncode == 2 and b"not a directory" in proc.stderr
