"""Throughput of the scale-out paths on the benchmark log: one process, one Firehose
transformation invocation, and Spark in local mode.

    python bench/scale.py                    # builds bench/out/rds-20mb.log if missing
    python bench/scale.py --log my.log --buffer-mb 1 --buffer-mb 3 --spark-files 4

* ``cli``: ``pgaudit-parse --format records`` in one process (one core).
* ``firehose``: :func:`pgaudit_parse.aws.firehose.transform_records` on invocations the size
  of a Firehose processing buffer (``--buffer-mb``, uncompressed log text; Firehose's default
  is 1 MB, at most 3 MB), built as CloudWatch Logs subscription payloads (gzip + base64, one
  event per message, up to 500 events a payload): time per invocation and MB/s.
* ``spark``: :func:`pgaudit_parse.spark.write_output` in ``local[N]`` over the log cut into
  ``--spark-files`` files (one task each), JVM start excluded (measured on a warm session).

Prints a Markdown table and writes it to ``bench/out/scale.md``.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import cut_log  # noqa: E402
from pgaudit_parse.aws.firehose import transform_records  # noqa: E402
from pgaudit_parse.prefix import PRIMARY_SEVERITIES, RDS_PREFIX, LinePrefix  # noqa: E402

OUT_DIR = BENCH / "out"


def _messages(log: Path) -> list[str]:
    """One CloudWatch event per PostgreSQL message, as RDS publishes them."""
    prefix = LinePrefix(RDS_PREFIX)
    messages: list[list[str]] = []
    with log.open(encoding="utf-8", newline="\n") as handle:
        for raw in handle:
            line = raw[:-1] if raw.endswith("\n") else raw
            parsed = prefix.parse(line)
            if (parsed is not None and parsed.severity in PRIMARY_SEVERITIES) or not messages:
                messages.append([line])
            else:
                messages[-1].append(line)
    return ["\n".join(m) for m in messages]


def _invocations(messages: list[str], buffer_bytes: int) -> list[list[dict[str, str]]]:
    """Firehose invocations of about ``buffer_bytes`` of log text each."""
    invocations: list[list[dict[str, str]]] = []
    records: list[dict[str, str]] = []
    events: list[dict[str, object]] = []
    size = 0

    def payload() -> None:
        document = {"messageType": "DATA_MESSAGE", "owner": "123456789012",
                    "logGroup": "/aws/rds/instance/db1/postgresql", "logStream": "db1",
                    "subscriptionFilters": ["pgaudit"], "logEvents": list(events)}
        data = base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()
        records.append({"recordId": str(len(records)), "data": data})
        events.clear()

    for n, message in enumerate(messages):
        events.append({"id": str(n), "timestamp": n, "message": message})
        size += len(message) + 1
        if len(events) == 500:
            payload()
        if size >= buffer_bytes:
            if events:
                payload()
            invocations.append(records)
            records, size = [], 0
    if events:
        payload()
    if records:
        invocations.append(records)
    return invocations


def bench_cli(log: Path) -> dict[str, float]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pgaudit_parse", str(log), "--format", "records",
                    "--output", os.devnull, "--quiet"], check=True, cwd=ROOT)
    return {"seconds": time.perf_counter() - started}


def bench_firehose(messages: list[str], buffer_mb: float) -> dict[str, float]:
    invocations = _invocations(messages, int(buffer_mb * 1024 * 1024))
    full = [inv for inv in invocations[:-1]] or invocations  # whole buffers only
    put_back: list[bytes] = []
    answered = 0
    started = time.perf_counter()
    for records in full:
        answers = transform_records(records, account_id="123456789012", instance="db1",
                                    reingest=put_back.extend)
        answered += sum(len(a["data"]) for a in answers)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "invocations": len(full),
            "ms_per_invocation": 1000 * seconds / len(full),
            "mb": len(full) * buffer_mb,
            "response_mb": answered / len(full) / 1024 / 1024,
            "reingested": len(put_back) / len(full)}


def bench_spark(log: Path, files: int, cores: int) -> dict[str, float]:
    from pyspark.sql import SparkSession

    # Spark binds to the host's address unless told otherwise: keep it on loopback.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"

    from pgaudit_parse.spark import write_output

    work = Path(tempfile.mkdtemp(prefix="pgaudit-scale-"))
    try:
        total = log.stat().st_size / 1024 / 1024
        parts: list[str] = []
        # Cut the log into consecutive pieces at message boundaries.
        text = log.read_bytes()
        step = len(text) // files
        start = 0
        for n in range(files):
            end = len(text) if n == files - 1 else text.find(b"\n20", start + step) + 1
            piece = work / f"part-{n:03d}.log"
            piece.write_bytes(text[start:end])
            parts.append(str(piece))
            start = end
        spark = (SparkSession.builder.master(f"local[{cores}]").appName("bench")
                 .config("spark.ui.enabled", "false")
                 .config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        write_output(spark, parts[:1], str(work / "warm"))  # start the Python workers
        started = time.perf_counter()
        write_output(spark, parts, str(work / "out"))
        seconds = time.perf_counter() - started
        spark.stop()
        return {"seconds": seconds, "mb": total}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="an RDS-prefixed log (default: build one)")
    parser.add_argument("--size", type=float, default=20, help="MB of log to build or cut")
    parser.add_argument("--buffer-mb", type=float, action="append",
                        help="Firehose buffer sizes to try (default 1 and 3)")
    parser.add_argument("--spark-files", type=int, default=4)
    parser.add_argument("--spark-cores", type=int, default=2)
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log = args.log
    if log is None:
        source = OUT_DIR / "rds-200mb.log"
        log = OUT_DIR / f"rds-{args.size:g}mb.log"
        if not log.exists():
            if source.exists():
                cut_log(source, args.size, log)
            else:
                subprocess.run([sys.executable, str(BENCH / "make_log.py"), "--size",
                                f"{args.size:g}", "--output", str(log)], check=True)
    mb = log.stat().st_size / 1024 / 1024
    lines = sum(1 for _ in log.open("rb"))
    rows = []
    cli = bench_cli(log)
    rows.append(("cli --format records, 1 process", f"{cli['seconds']:.1f} s",
                 f"{mb / cli['seconds']:.1f} MB/s", f"{lines / cli['seconds']:,.0f} lines/s"))
    messages = _messages(log)
    for buffer_mb in args.buffer_mb or [1.0, 3.0]:
        hose = bench_firehose(messages, buffer_mb)
        rows.append((f"firehose_handler, {buffer_mb:g} MB buffer ({hose['invocations']} inv.)",
                     f"{hose['ms_per_invocation']:.0f} ms / invocation",
                     f"{hose['mb'] / hose['seconds']:.1f} MB/s",
                     f"{hose['response_mb']:.1f} MB answered, {hose['reingested']:.1f} "
                     "records re-ingested per invocation"))
    if not args.no_spark:
        spark = bench_spark(log, args.spark_files, args.spark_cores)
        rows.append((f"spark local[{args.spark_cores}], {args.spark_files} files",
                     f"{spark['seconds']:.1f} s", f"{spark['mb'] / spark['seconds']:.1f} MB/s",
                     f"{lines / spark['seconds']:,.0f} lines/s"))
    table = [f"Log: {log.name}, {mb:.1f} MB, {lines:,} lines; {platform.processor() or ''} "
             f"{os.cpu_count()} cores, Python {platform.python_version()}", "",
             "| path | time | throughput | lines |", "| --- | --- | --- | --- |"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = "\n".join(table) + "\n"
    (OUT_DIR / "scale.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
