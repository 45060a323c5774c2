"""Security Lake Parquet (``--format ocsf-parquet``) when runs go wrong and when there is
nothing to write; column types against OCSF's.

What a run does when it is interrupted (^C, SIGTERM, an error) and is run again over the
same input: the files of the inputs it had finished are written again under the same
names (a file's name is the digest of its rows), so they are replaced, not duplicated;
the rows of the input it was reading when stopped were never committed (a file is
written under a hidden temporary name and renamed when complete), so they are written
once, by the second run. Nothing a reader of the lake sees is ever a half-written file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from ocsf_schema import FIXTURES as OCSF_FIXTURES

import pgaudit_parse as pp
from pgaudit_parse.formats.ocsf import AUTHENTICATION, DATASTORE_ACTIVITY
from pgaudit_parse.parquet import OcsfParquetSink, arrow_schema

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LAKE = ["--format", "ocsf-parquet", "--account-id", "123456789012", "--lake-region",
        "eu-west-1"]


def _big_log(path: Path, count: int) -> None:
    """``count`` audit lines of 2026-11-27 (the fixture's are of 2026-11-25)."""
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            out.write(f"2026-11-27 10:{i // 60 % 60:02d}:{i % 60:02d} UTC:10.0.0.5({5000 + i % 7})"
                      f":alice@shop:[{40 + i % 5}]:LOG:  AUDIT: SESSION,{i + 1},1,READ,SELECT,"
                      f"TABLE,public.t,select {i},<none>\n")


def _visible(lake: Path) -> list[Path]:
    """The files a lake reader sees (Athena, Glue and Spark skip names starting with
    ``.`` or ``_``)."""
    return sorted(p for p in lake.rglob("*") if p.is_file()
                  and not p.name.startswith((".", "_")))


def _rows(lake: Path) -> Counter[str]:
    rows: Counter[str] = Counter()
    for path in _visible(lake):
        assert path.suffix == ".parquet", path
        for row in pq.read_table(path).to_pylist():  # (an unreadable file raises here)
            row["unmapped"] = sorted(row["unmapped"])
            rows[json.dumps(row, sort_keys=True)] += 1
    return rows


def _run(lake: Path, *paths: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", *LAKE, "--output",
                           str(lake), *map(str, paths)], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()


def test_an_interrupted_run_run_again_neither_duplicates_nor_loses_rows(
        tmp_path: Path) -> None:
    first = FIXTURES / "real-rds.log"
    second = tmp_path / "big.log"
    _big_log(second, 52_000)  # more than a row group: a file is open when stopped
    clean = tmp_path / "clean"
    _run(clean, first, second)
    want = _rows(clean)

    lake = tmp_path / "lake"
    proc = subprocess.Popen([sys.executable, "-m", "pgaudit_parse", *LAKE, "--output",
                             str(lake), str(first), str(second)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    day = "eventDay=20261127"
    deadline = time.monotonic() + 120
    while not any(p.is_file() for p in lake.rglob("*") if day in str(p)):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    stopped = _rows(lake)  # every visible file is whole
    assert not any(day in str(p) for p in _visible(lake)), "a half-read input's rows"
    assert stopped and stopped <= want  # the finished input's files

    _run(lake, first, second)
    assert _rows(lake) == want
    assert not [p for p in lake.rglob(".*") if p.is_file()], "temporary files left"


def test_rows_of_an_aborted_sink_are_not_committed(tmp_path: Path) -> None:
    lines = [f"2026-11-25 16:05:0{i} UTC:10.0.0.5(5000):alice@shop:[42]:LOG:  "
             f"AUDIT: SESSION,{i},1,READ,SELECT,,,select {i},<none>" for i in range(1, 6)]
    sink = OcsfParquetSink(str(tmp_path), "us-east-1", "123456789012", rows_per_group=2)
    for event in pp.parse_lines(lines):
        sink.write(event)
    assert _visible(tmp_path) == []  # row groups written, the file not complete
    sink.abort()
    sink.close()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_temporary_file_left_by_a_killed_run_is_removed_by_the_next(tmp_path: Path) -> None:
    lines = ["2026-11-25 16:05:01 UTC:10.0.0.5(5000):alice@shop:[42]:LOG:  "
             "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>"]
    folder = (tmp_path / "pgaudit_datastore_activity" / "region=us-east-1" /
              "accountId=123456789012" / "eventDay=20261125")
    folder.mkdir(parents=True)
    stale = folder / ".pgaudit-999999999-0-000001.parquet.tmp"
    stale.write_bytes(b"PAR1 half a file")
    sink = OcsfParquetSink(str(tmp_path), "us-east-1", "123456789012")
    for event in pp.parse_lines(lines):
        sink.write(event)
    sink.close()
    assert not stale.exists()
    assert len(_visible(tmp_path)) == 1


def test_empty_input_writes_no_file_and_succeeds(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    lake = tmp_path / "lake"
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", *LAKE, "--output",
                           str(lake), str(empty)], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    assert not lake.exists() or [p for p in lake.rglob("*") if p.is_file()] == []


#: OCSF 1.1.0 dictionary types -> the Arrow type of their column.
_ARROW: dict[str, str] = {"integer_t": "int32", "long_t": "int64", "timestamp_t": "int64",
                          "port_t": "int32", "boolean_t": "bool", "string_t": "string",
                          "ip_t": "string", "hostname_t": "string", "datetime_t": "string",
                          "uuid_t": "string"}


def _dictionary() -> dict[str, Any]:
    return json.loads((OCSF_FIXTURES / "1.1.0" / "dictionary.json").read_text())["attributes"]


@pytest.mark.parametrize("class_uid", [DATASTORE_ACTIVITY, AUTHENTICATION])
def test_parquet_columns_have_the_ocsf_types(class_uid: int) -> None:
    """Each scalar column's Arrow type is its OCSF attribute's (integer_t 32 bits, long_t
    and timestamp_t 64, ...), nested objects included."""
    attributes = _dictionary()
    problems = []

    def check(fields: Any, where: str) -> None:
        for field in fields:
            name, kind = field.name, field.type
            if hasattr(kind, "num_fields") and kind.num_fields and str(kind).startswith("struct"):
                check([kind.field(i) for i in range(kind.num_fields)], f"{where}{name}.")
                continue
            if name == "unmapped":
                continue
            ocsf = attributes.get(name, {}).get("type")
            if ocsf is None:
                problems.append(f"{where}{name}: not an OCSF attribute")
            elif ocsf in _ARROW and str(kind) != _ARROW[ocsf]:
                problems.append(f"{where}{name}: {kind} for OCSF {ocsf}")
    check(list(arrow_schema(class_uid)), "")
    assert not problems, problems


def test_every_key_of_the_ocsf_output_has_a_column() -> None:
    """A key the JSON output writes and the Parquet schema lacks would be dropped without
    a word (pyarrow ignores keys a schema does not name)."""
    lines = (FIXTURES / "real-rich.log").read_text(encoding="utf-8").splitlines()
    prefix = "%m [%p] %q%u@%d %r %e %l %c "
    events = list(pp.parse_lines(lines, prefix=prefix))
    events += list(pp.parse_lines(["[7] alice@shop LOG:  AUDIT: SESSION,1,1,READ,SELECT,"
                                   ",,select 1,<none>"], prefix="[%p] %q%u@%d "))
    from pgaudit_parse.formats.ocsf import to_ocsf

    def keys(obj: dict[str, Any], where: str = "") -> set[str]:
        out = set()
        for key, value in obj.items():
            if isinstance(value, dict) and key != "unmapped":
                out |= keys(value, f"{where}{key}.")
            else:
                out.add(f"{where}{key}")
        return out

    def columns(fields: Any, where: str = "") -> set[str]:
        out = set()
        for field in fields:
            kind = field.type
            if str(kind).startswith("struct"):
                out |= columns([kind.field(i) for i in range(kind.num_fields)],
                               f"{where}{field.name}.")
            else:
                out.add(f"{where}{field.name}")
        return out

    missing = set()
    for event in events:
        obj = to_ocsf(event, "123456789012", "db1")
        if obj is not None:
            missing |= keys(obj) - columns(list(arrow_schema(obj["class_uid"])))
    assert missing == set()


def test_two_runs_into_one_lake_at_once_keep_each_others_files(tmp_path: Path) -> None:
    """Two runs into one lake at the same time (two instances' logs): each commits its own
    files; neither removes the other's temporary files while it writes them."""
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    _big_log(first, 5_000)
    text = first.read_text(encoding="utf-8").replace("alice@shop", "bob@shop")
    second.write_text(text, encoding="utf-8")
    lake = tmp_path / "lake"
    procs = [subprocess.Popen([sys.executable, "-m", "pgaudit_parse", *LAKE, "--output",
                               str(lake), str(path)], stderr=subprocess.PIPE)
             for path in (first, second)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    rows = _rows(lake)
    assert sum(rows.values()) == 10_000
    assert os.listdir(lake)
