"""Time pgaudit-parse against wc, grep, pgBadger and the one-regex floor on one log file.

In one run, on the same file: ``wc -l``, ``grep -c 'AUDIT: '``, pgBadger (``-f stderr
--prefix '%t:%r:%u@%d:[%p]:' -j 1``), ``pgaudit-parse --format events`` (with
fingerprints), ``pgaudit-parse --format records`` (``--redact passwords``, the default;
also ``--redact none`` and ``--redact literals``: the SQL stage's cost), ``--jobs N`` and
``bench/regex_floor.py``. Each command runs under
``/usr/bin/time`` for its peak RSS; wall time is measured here. Then ``--format records``
runs once more on the first ``--small`` MB of the same log, to show that peak RSS does not
grow with the input. Last, untimed, ``--format records`` runs once with and once without
``--jobs N`` into files, and their SHA-256 digests are compared (same bytes out). The table
ends with the issue's targets, each met or not, from the same run's figures.

    python bench/run.py                      # builds bench/out/rds-200mb.log if missing
    python bench/run.py --size 50            # a smaller log while iterating
    python bench/run.py --log my.log         # any RDS-prefixed server log

Prints a Markdown table (and writes it with the raw numbers to ``bench/out/``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pgaudit_parse.prefix import PRIMARY_SEVERITIES, RDS_PREFIX, LinePrefix  # noqa: E402

__all__ = ["Timing", "cut_log", "time_command", "run_all", "render_table"]

OUT_DIR = BENCH / "out"
TIME = "/usr/bin/time"


@dataclass(frozen=True, slots=True)
class Timing:
    """One command's wall time and CPU time (user + system, all its processes; seconds)
    and peak resident set size (kB, the largest process)."""

    name: str
    seconds: float
    cpu_seconds: float
    max_rss_kb: int
    returncode: int


def cut_log(source: Path, size_mb: float, target: Path, prefix: str = RDS_PREFIX) -> Path:
    """Copy the head of a log, about ``size_mb`` MB, ending where a new message starts.

    The copy ends at an entry boundary, so it is what the server would have written had
    it been rotated there (no torn message). Returns ``target``.
    """
    compiled = LinePrefix(prefix)
    limit = int(size_mb * 1_000_000)
    primary = frozenset(PRIMARY_SEVERITIES)
    written = 0
    with open(source, "rb") as src, open(target, "wb") as dst:
        for raw in src:
            if written >= limit and raw[:1] != b"\t":
                parsed = compiled.parse(raw.decode("utf-8", "backslashreplace").rstrip("\n"))
                if parsed is not None and parsed.severity in primary:
                    break
            dst.write(raw)
            written += len(raw)
    return target


def time_command(name: str, argv: list[str], cwd: Path = ROOT) -> Timing:
    """Run ``argv`` under ``/usr/bin/time``; stdout is read and dropped.

    Not sent to /dev/null: GNU grep notices that and stops at the first match.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        started = time.perf_counter()
        proc = subprocess.run([TIME, "-f", "%U %S %M", "-o", report.name, *argv], cwd=cwd,
                              capture_output=True)
        seconds = time.perf_counter() - started
        text = Path(report.name).read_text()
    if proc.returncode != 0:
        print(f"{name}: exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}",
              file=sys.stderr)
    found = re.findall(r"^([\d.]+) ([\d.]+) (\d+)$", text, re.MULTILINE)
    user, system, rss = found[-1] if found else ("0", "0", "0")
    return Timing(name, seconds, float(user) + float(system), int(rss), proc.returncode)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def _parse_cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "pgaudit_parse", *args, "--quiet", "--output", os.devnull]


def _supports_jobs() -> bool:
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--help"], cwd=ROOT,
                          capture_output=True, text=True)
    return "--jobs" in proc.stdout


def commands(log: Path, jobs: int, workdir: Path, skip: set[str]) -> list[tuple[str, list[str]]]:
    """The commands timed, in order: (name, argv)."""
    path = str(log)
    planned = [
        ("wc -l", ["wc", "-l", path]),
        ("grep -c 'AUDIT: '", ["grep", "-c", "AUDIT: ", path]),
        ("pgBadger -j 1", ["pgbadger", "-q", "-f", "stderr", "--prefix", RDS_PREFIX, "-j", "1",
                           "-o", str(workdir / "pgbadger.html"), path]),
        ("regex floor (Python)", [sys.executable, str(BENCH / "regex_floor.py"), path]),
        ("pgaudit-parse --format events", _parse_cli([path, "--format", "events"])),
        ("pgaudit-parse --format records", _parse_cli([path, "--format", "records"])),
        # the SQL stage's cost: records default to --redact passwords (above); none skips
        # the lexer, literals lexes every statement (docs/sql.md)
        ("pgaudit-parse --format records --redact none",
         _parse_cli([path, "--format", "records", "--redact", "none"])),
        ("pgaudit-parse --format records --redact literals",
         _parse_cli([path, "--format", "records", "--redact", "literals"])),
    ]
    if jobs > 1 and _supports_jobs():
        planned.append((f"pgaudit-parse --format records --jobs {jobs}",
                        _parse_cli([path, "--format", "records", "--jobs", str(jobs)])))
    return [(name, argv) for name, argv in planned
            if not any(word in name for word in skip)]


def run_all(log: Path, small: Path | None, jobs: int, skip: set[str]) -> dict[str, object]:
    """Time every command on ``log`` (and records on ``small``); return the raw results."""
    size = log.stat().st_size
    lines = _count_lines(log)
    with tempfile.TemporaryDirectory(prefix="pgaudit-bench-") as tmp:
        timings = [time_command(name, argv) for name, argv in commands(log, jobs, Path(tmp),
                                                                       skip)]
    flat: list[dict[str, object]] = []
    records = next((t for t in timings if t.name == "pgaudit-parse --format records"), None)
    if small is not None and records is not None:
        on_small = time_command("records (small)", _parse_cli([str(small), "--format",
                                                               "records"]))
        for path, timing in ((small, on_small), (log, records)):
            flat.append({"file": str(path), "mb": path.stat().st_size / 1e6,
                         "max_rss_mb": timing.max_rss_kb / 1024})
    identical = None
    if jobs > 1 and _supports_jobs() and not any("jobs" in word for word in skip):
        identical = same_output_with_jobs(log, jobs)
    return {
        "log": str(log), "bytes": size, "lines": lines,
        "timings": [asdict(t) for t in timings], "rss_flatness": flat,
        "jobs": jobs, "jobs_identical": identical,
        "machine": machine(),
    }


def _digest_of_output(args: list[str], workdir: Path) -> str:
    out = workdir / "out.jsonl"
    subprocess.run([sys.executable, "-m", "pgaudit_parse", *args, "--quiet", "--output",
                    str(out)], cwd=ROOT, check=True)
    digest = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    out.unlink()
    return digest.hexdigest()


def same_output_with_jobs(log: Path, jobs: int) -> bool:
    """Whether ``--format records`` writes the same bytes with ``--jobs`` as without (run
    untimed, after the timings, into files compared by SHA-256)."""
    with tempfile.TemporaryDirectory(prefix="pgaudit-bench-") as tmp:
        one = _digest_of_output([str(log), "--format", "records"], Path(tmp))
        many = _digest_of_output([str(log), "--format", "records", "--jobs", str(jobs)],
                                 Path(tmp))
    return one == many


def targets(results: dict[str, object]) -> list[str]:
    """Issue 12's targets, each with the figure of this run and whether it is met."""
    lines = int(results["lines"])  # type: ignore[call-overload]
    by_name = {t["name"]: Timing(**t) for t in results["timings"]}  # type: ignore[attr-defined]
    badger = by_name.get("pgBadger -j 1")
    floor = by_name.get("regex floor (Python)")
    out: list[str] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    for fmt in ("records", "events"):
        t = by_name.get(f"pgaudit-parse --format {fmt}")
        if t is None or not t.seconds:
            continue
        if badger is not None and badger.seconds:
            ratio = badger.seconds / t.seconds
            out.append(f"- {fmt}, one process: {lines / t.seconds:,.0f} lines/s, {ratio:.2f}x "
                       f"pgBadger's (target 3x): {verdict(ratio >= 3)}")
        if floor is not None and floor.seconds:
            ratio = t.seconds / floor.seconds
            out.append(f"- {fmt}, one process: {ratio:.1f}x the regex floor's time "
                       f"(target within 5x): {verdict(ratio <= 5)}")
    one = by_name.get("pgaudit-parse --format records")
    jobs = results.get("jobs")
    many = by_name.get(f"pgaudit-parse --format records --jobs {jobs}")
    if one is not None and many is not None and many.seconds:
        speedup = one.seconds / many.seconds
        identical = results.get("jobs_identical")
        same = {True: "same bytes out", False: "OUTPUT DIFFERS", None: "bytes not compared"}[
            identical]  # type: ignore[index]
        out.append(f"- `--jobs {jobs}`: {speedup:.2f}x one process (target 1.8x), {same}: "
                   f"{verdict(speedup >= 1.8 and identical is True)}")
    peaks = [t.max_rss_kb / 1024 for t in by_name.values() if t.name.startswith("pgaudit")]
    flat = cast("list[dict[str, float]]", results.get("rss_flatness") or [])
    if peaks:
        sizes = ", ".join(f"{f['mb']:.0f} MB -> {f['max_rss_mb']:.0f} MB" for f in flat)
        by_size = f"; by input size {sizes}" if sizes else ""
        out.append(f"- peak RSS: at most {max(peaks):.0f} MB (target under 100 MB){by_size}: "
                   f"{verdict(max(peaks) < 100)}")
    return out


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    model = ""
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    badger = subprocess.run(["pgbadger", "--version"], capture_output=True, text=True)
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "pgbadger": badger.stdout.strip().replace("pgBadger version ", ""),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def render_table(results: dict[str, object]) -> str:
    """The Markdown table of :func:`run_all`'s results."""
    size = int(results["bytes"])  # type: ignore[call-overload]
    lines = int(results["lines"])  # type: ignore[call-overload]
    timings = [Timing(**t) for t in results["timings"]]  # type: ignore[attr-defined]
    by_name = {t.name: t for t in timings}
    grep = by_name.get("grep -c 'AUDIT: '")
    badger = by_name.get("pgBadger -j 1")
    floor = by_name.get("regex floor (Python)")
    info = results["machine"]
    rows = [
        f"Log: {size / 1e6:.1f} MB, {lines:,} lines. Machine: {info['cpu']}, "  # type: ignore[index]
        f"{info['cores']} cores, Python {info['python']}, pgBadger {info['pgbadger']}, "  # type: ignore[index]
        f"{info['date']}.",  # type: ignore[index]
        "",
        "| command | wall s | CPU s | MB/s | lines/s | x grep -c time | lines/s vs pgBadger "
        "| x regex floor time | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in timings:
        rate = lines / t.seconds if t.seconds else 0.0
        cells = [
            f"`{t.name}`",
            f"{t.seconds:.2f}",
            f"{t.cpu_seconds:.2f}",
            f"{size / 1e6 / t.seconds:.1f}" if t.seconds else "-",
            f"{rate:,.0f}",
            f"{t.seconds / grep.seconds:.1f}" if grep and grep.seconds else "-",
            f"{badger.seconds / t.seconds:.2f}" if badger and t.seconds else "-",
            f"{t.seconds / floor.seconds:.2f}" if floor and floor.seconds else "-",
            f"{t.max_rss_kb / 1024:.0f}",
        ]
        if t.returncode != 0:
            cells[0] += f" (exit {t.returncode})"
        rows.append("| " + " | ".join(cells) + " |")
    flat = results.get("rss_flatness") or []
    if flat:
        rows += ["", "Peak RSS of `--format records` by input size: " + ", ".join(
            f"{f['mb']:.1f} MB -> {f['max_rss_mb']:.0f} MB" for f in flat) + "."]  # type: ignore[index]
    goals = targets(results)
    if goals:
        rows += ["", "Targets (issue 12), from this run:", *goals]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=200.0,
                        help="MB of log to build with make_log.py if --log is not given")
    parser.add_argument("--log", type=Path, help="time this log instead")
    parser.add_argument("--small", type=float, default=10.0,
                        help="MB of the log's head for the RSS comparison (0: skip)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs N to time (1: skip)")
    parser.add_argument("--out", type=Path, default=OUT_DIR,
                        help="where logs and results go (default: bench/out)")
    parser.add_argument("--skip", action="append", default=[],
                        help="skip commands whose name contains this (e.g. pgBadger)")
    args = parser.parse_args(argv)
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    log = args.log
    if log is None:
        log = out_dir / f"rds-{args.size:g}mb.log"
        if not log.exists():
            from make_log import make_log  # bench/ is on sys.path when run as a script

            make_log(args.size, log)
    small = None
    if args.small and log.stat().st_size > args.small * 1_000_000 * 1.5:
        small = cut_log(log, args.small, out_dir / f"{log.stem}-head{args.small:g}mb.log")
    results = run_all(log, small, args.jobs, set(args.skip))
    table = render_table(results)
    print(table)
    stem = out_dir / f"results-{log.stem}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
