"""Run the three scale-out architectures of docs/scale.md end to end, without an AWS account.

    python scripts/demo_scale.py [--log fixtures/real-rds.log] [--keep DIR]

It starts moto's server mode on 127.0.0.1 (the test extra installs it), puts the log into
an emulated CloudWatch Logs group as RDS does (one event per message), and then:

1. ``subscribe`` points the group at a Lambda; CloudWatch Logs' delivery is played by
   calling ``subscription_handler`` with the subscription payloads, and the Guardium records
   it sends to the records queue are read back;
2. ``subscribe`` points the group at a Firehose delivery stream; ``firehose_handler`` gets
   the payloads as Firehose hands them over, and its ``Ok`` output is decoded;
3. Spark in local mode (``local[2]``) writes the records of the log file.

Each path's records are compared with ``pgaudit-parse LOG`` on the same log; the script
exits 1 when one differs. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
INSTANCE = "demo"
GROUP = f"/aws/rds/instance/{INSTANCE}/postgresql"
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) ?(UTC)?")


def _messages(log: Path) -> list[tuple[int, str]]:
    """(epoch ms, message) per PostgreSQL message, as RDS publishes them to CloudWatch,
    moved to the last hour (CloudWatch takes events of the last 14 days only)."""
    out: list[tuple[float, list[str]]] = []
    for line in log.read_bytes().decode("utf-8").split("\n"):  # LF only: keep bare CRs
        match = _STAMP.match(line)
        if match:
            stamp = datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone.utc)
            out.append((stamp.timestamp(), [line]))
        elif out and line:
            out[-1][1].append(line)
    last = out[-1][0]
    now = datetime.now(timezone.utc).timestamp() - 600
    return [(int((now - (last - ts)) * 1000), "\n".join(lines)) for ts, lines in out]


def _cli(*args: str, env: dict[str, str]) -> str:
    print(f"$ pgaudit-parse {' '.join(args)}")
    result = subprocess.run([sys.executable, "-m", "pgaudit_parse", *args], env=env,
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    shown = result.stdout.splitlines()
    sys.stdout.write("".join(f"  {line[:150]}\n" for line in shown[:8]))
    if len(shown) > 8:
        sys.stdout.write(f"  ... ({len(shown)} lines)\n")
    if result.returncode != 0:
        raise SystemExit(f"pgaudit-parse {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def _payloads(logs: Any) -> list[dict[str, Any]]:
    """What CloudWatch Logs hands a subscription destination: per stream, batches of events
    as DATA_MESSAGE documents (read back from the emulated group)."""
    documents = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=GROUP):
        events = page.get("events", [])
        by_stream: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            by_stream.setdefault(event["logStreamName"], []).append(
                {"id": event["eventId"], "timestamp": event["timestamp"],
                 "message": event["message"]})
        for stream, items in by_stream.items():
            for start in range(0, len(items), 25):
                documents.append({"messageType": "DATA_MESSAGE", "owner": ACCOUNT,
                                  "logGroup": GROUP, "logStream": stream,
                                  "subscriptionFilters": ["pgaudit-parse"],
                                  "logEvents": items[start:start + 25]})
    return documents


def _encoded(document: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()


def _lambda_path(clients: dict[str, Any], env: dict[str, str],
                 documents: list[dict[str, Any]]) -> list[str]:
    import io
    import zipfile

    from pgaudit_parse import aws_lambda

    role = clients["iam"].create_role(RoleName="pgaudit-demo", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("placeholder.py", "")
    function = clients["lambda"].create_function(
        FunctionName="pgaudit-subscription", Runtime="python3.11", Role=role,
        Handler="pgaudit_parse.aws_lambda.subscription_handler",
        Code={"ZipFile": code.getvalue()})["FunctionArn"]
    _cli("subscribe", "--destination-arn", function, "--apply", "--endpoint-url",
         env["AWS_ENDPOINT_URL"], env=env)
    queue = clients["sqs"].create_queue(QueueName="pgaudit-records")["QueueUrl"]
    os.environ.update({"RECORDS_QUEUE": queue, "INSTANCE": INSTANCE, "ACCOUNT_ID": ACCOUNT})
    for document in documents:  # CloudWatch Logs invoking the function, one payload each
        aws_lambda.subscription_handler({"awslogs": {"data": _encoded(document)}}, None)
    records: list[str] = []
    while True:
        got = clients["sqs"].receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                             WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return records
        for message in got:
            records += _record_lines(message["Body"])
        clients["sqs"].delete_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])


def _record_lines(body: str) -> list[str]:
    """The records in one records-queue message (one JSON record, or JSON lines)."""
    return [json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False)
            for line in body.splitlines() if line.strip()]


def _firehose_path(clients: dict[str, Any], env: dict[str, str],
                   documents: list[dict[str, Any]]) -> list[str]:
    from pgaudit_parse import aws_lambda

    clients["s3"].create_bucket(Bucket="pgaudit-demo")
    role = f"arn:aws:iam::{ACCOUNT}:role/logs-to-firehose"
    stream = clients["firehose"].create_delivery_stream(
        DeliveryStreamName="pgaudit-demo", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"RoleARN": role,
                                            "BucketARN": "arn:aws:s3:::pgaudit-demo"},
    )["DeliveryStreamARN"]
    _cli("subscribe", "--destination-arn", stream, "--role-arn", role, "--filter-name",
         "pgaudit-firehose", "--apply", "--endpoint-url", env["AWS_ENDPOINT_URL"], env=env)
    os.environ.update({"OUTPUT_FORMAT": "records", "INSTANCE": INSTANCE,
                       "ACCOUNT_ID": ACCOUNT})
    records = [{"recordId": str(n), "data": _encoded(d)} for n, d in enumerate(documents)]
    answers = aws_lambda.firehose_handler(
        {"invocationId": "demo", "deliveryStreamArn": stream, "region": REGION,
         "records": records}, None)["records"]
    lines: list[str] = []
    for answer in answers:
        if answer["result"] == "Ok":
            lines += base64.b64decode(answer["data"]).decode("utf-8").splitlines()
    # (each Firehose line starts with its dedupId, which file mode does not write)
    return [_DEDUP_ID.sub("{", line, count=1) for line in lines]


_DEDUP_ID = re.compile(r'\A\{"dedupId":"[0-9a-f]{32}",')


def _spark_path(log: Path, work: Path) -> list[str]:
    from pyspark.sql import SparkSession

    # Spark binds to the host's address unless told otherwise: keep it on loopback.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"

    from pgaudit_parse.spark import write_output

    print(f"$ spark-submit ... write_output(spark, [{str(log)!r}], 'spark-out', "
          "fmt='records')")
    spark = (SparkSession.builder.master("local[2]").appName("pgaudit-parse demo")
             .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        write_output(spark, [str(log)], str(work / "spark-out"), fmt="records",
                     account_id=ACCOUNT, instance=INSTANCE)
    finally:
        spark.stop()
    return [line for part in sorted((work / "spark-out").glob("part-*"))
            for line in part.read_text(encoding="utf-8").splitlines()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=ROOT / "fixtures" / "real-rds.log",
                        help="an RDS-prefixed server log (default: %(default)s)")
    parser.add_argument("--keep", type=Path, help="write each path's records here")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark path")
    args = parser.parse_args(argv)
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:  # the handlers' own INFO lines stay quiet
        handler.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    dummy = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
             "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
             "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": endpoint,
             "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(dummy)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    work = Path(tempfile.mkdtemp(prefix="pgaudit-demo-"))
    try:
        clients = {name: boto3.client(name, endpoint_url=endpoint, region_name=REGION)
                   for name in ("logs", "sqs", "lambda", "iam", "firehose", "s3")}
        clients["logs"].create_log_group(logGroupName=GROUP)
        clients["logs"].create_log_stream(logGroupName=GROUP, logStreamName=INSTANCE)
        events = _messages(args.log)
        for start in range(0, len(events), 5000):
            clients["logs"].put_log_events(logGroupName=GROUP, logStreamName=INSTANCE,
                                           logEvents=[{"timestamp": t, "message": m}
                                                      for t, m in events[start:start + 5000]])
        print(f"{len(events)} messages of {args.log.name} put into {GROUP} "
              f"(moto on {host}:{port})")
        expected = _cli(str(args.log), "--account-id", ACCOUNT, "--instance", INSTANCE,
                        env=env).splitlines()
        documents = _payloads(clients["logs"])
        paths = {"subscription -> Lambda -> SQS": _lambda_path(clients, env, documents),
                 "subscription -> Firehose": _firehose_path(clients, env, documents)}
        if not args.no_spark:
            paths["archive -> Spark"] = _spark_path(args.log, work)
        failed = 0
        print()
        for name, got in paths.items():
            same = sorted(got) == sorted(expected)
            failed += not same
            print(f"{name}: {len(got)} records, "
                  + ("the same as the file" if same else f"DIFFERENT from the file's "
                     f"{len(expected)}"))
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                slug = re.sub(r"\W+", "-", name).strip("-").lower()
                (args.keep / f"{slug}.jsonl").write_text("".join(f"{line}\n" for line in got),
                                                         encoding="utf-8")
        return 1 if failed else 0
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
