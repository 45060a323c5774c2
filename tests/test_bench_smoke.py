"""The benchmark scripts run end to end on a tiny log (no timing is asserted, ever).

``bench/make_log.py`` builds a ~1 MB log on a real PostgreSQL + pgAudit; its own traffic
must never repeat a line, and the parser must take all of it without a reject.
``bench/run.py`` then times every command on it and writes its table.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def bench_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~1 MB log written by a real server under make_log.py's traffic."""
    path = tmp_path_factory.mktemp("bench") / "tiny.log"
    proc = subprocess.run([sys.executable, str(BENCH / "make_log.py"), "--size", "1",
                           "--output", str(path), "--quiet"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "distinct line(s) occur more than once" in proc.stdout
    return path


def test_make_log_writes_the_size_asked_for(bench_log: Path) -> None:
    size = bench_log.stat().st_size
    assert 1_000_000 <= size < 20_000_000
    text = bench_log.read_text(encoding="utf-8")
    assert text.count("AUDIT: SESSION,") > 1000 and "AUDIT: OBJECT," in text
    for needle in ("connection authorized: ", "disconnection: session time: ", ":ERROR:  ",
                   ":STATEMENT:  ", ":DETAIL:  ", ":HINT:  ", "\n\t", "pgbench_accounts",
                   "127.0.0.1(", "::1(", "[local]"):
        assert needle in text, needle


def test_make_log_traffic_never_repeats_a_line(bench_log: Path) -> None:
    lines = bench_log.read_bytes().split(b"\n")
    repeated = [line for line, n in Counter(lines).items() if n > 1 and line]
    # The only repeats PostgreSQL writes come from the tests' fixed workload (run once):
    # a multi-line statement that pgAudit logs twice, identical messages within a second.
    ours = [line for line in repeated if re.search(rb"r\d+s\d+|pgbench_|bench_", line)]
    assert ours == []
    assert len(repeated) < 40


def test_the_parser_takes_the_whole_bench_log(bench_log: Path, tmp_path: Path) -> None:
    errors = tmp_path / "errors.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", str(bench_log), "--format",
                           "events", "--errors", str(errors), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert errors.read_text() == ""
    kinds = Counter(json.loads(line)["kind"]
                    for line in (tmp_path / "out").read_text().splitlines())
    assert kinds["audit"] > 1000
    assert {"error", "login_failed", "connection", "disconnection", "log"} <= set(kinds)


def test_run_py_times_every_command(bench_log: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--log", str(bench_log),
                           "--small", "0.3", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = proc.stdout
    for name in ("wc -l", "grep -c 'AUDIT: '", "pgBadger -j 1", "regex floor (Python)",
                 "pgaudit-parse --format events", "pgaudit-parse --format records",
                 "pgaudit-parse --format records --redact none",
                 "pgaudit-parse --format records --redact literals",
                 "pgaudit-parse --format records --jobs 2"):
        assert f"| `{name}` |" in table, name
    assert "(exit " not in table
    assert "Peak RSS of `--format records` by input size" in table
    results = json.loads((tmp_path / f"results-{bench_log.stem}.json").read_text())
    assert all(t["returncode"] == 0 and t["seconds"] > 0 for t in results["timings"])
    assert len(results["rss_flatness"]) == 2
    # --jobs 2 wrote the same bytes as one process (compared by digest, untimed)
    assert results["jobs_identical"] is True
    assert "Targets (issue 12), from this run:" in table and "peak RSS: at most" in table


def test_try_mypyc_compiles_the_hot_modules_and_writes_the_same_bytes(bench_log: Path) -> None:
    # bench/try_mypyc.py backs the PROFILE.md figure for mypyc; it must keep compiling and
    # keep comparing both copies' output (its PATCH refuses a lines.py it no longer fits).
    proc = subprocess.run([sys.executable, str(BENCH / "try_mypyc.py"), str(bench_log),
                           "--format", "records", "--repeat", "1"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = re.search(r"^\| records \| ([0-9.]+) \| ([0-9.]+) \| [-+0-9]+% \| (\w+) \|$",
                    proc.stdout, re.MULTILINE)
    assert row is not None, proc.stdout
    assert float(row.group(1)) > 0 and float(row.group(2)) > 0
    assert row.group(3) == "yes"


def test_python_ceiling_times_the_least_records_loop_against_the_floor(bench_log: Path) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / "python_ceiling.py"), str(bench_log)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = re.fullmatch(r"(\d+) lines; regex floor [0-9.]+ CPU s \((\d+) matched\); least "
                         r"records loop [0-9.]+ CPU s \((\d+) records\) = [0-9.]+x the floor\n",
                         proc.stdout)
    assert found is not None, proc.stdout
    lines, matched, records = (int(g) for g in found.groups())
    # make_log.py's traffic is mostly one-line pgAudit statements without quotes
    assert lines >= matched > records > 0


@pytest.mark.parametrize("script", ["python_ceiling.py", "try_mypyc.py"])
def test_bench_script_examples(script: str) -> None:
    import doctest
    import importlib.util
    spec = importlib.util.spec_from_file_location(script[:-3], BENCH / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
