"""Put a PostgreSQL log into CloudWatch Logs and make an SQS queue, as RDS and the seed
guide's console steps would, on the endpoint in ``AWS_ENDPOINT_URL`` (the demo's moto).

    python3 scripts/demo-aws-load.py fixtures/real-rds.log
    python3 scripts/demo-aws-load.py --db-instance database-1

One CloudWatch event per PostgreSQL message (its TAB continuation lines included), in the
log group ``/aws/rds/instance/database-1/postgresql``, stream ``database-1``, stamped
over the last minutes (CloudWatch keeps 14 days), in the order of the file. Prints the
queue URL last. With ``--db-instance NAME``: creates a PostgreSQL 15.4 DB instance instead
(with the RDS default parameter group and no log export, as a new instance has).
"""

from __future__ import annotations

import os
import sys
import time

import boto3

from pgaudit_parse.aws.naming import log_group_name

INSTANCE = "database-1"
QUEUE = "PostgresQueue"


def messages(path: str) -> list[str]:
    """The file's PostgreSQL messages: a prefixed line and its TAB continuation lines."""
    found: list[str] = []
    with open(path, encoding="utf-8", newline="") as handle:  # a bare CR is data
        for line in handle.read().split("\n"):
            if line.startswith("\t") and found:
                found[-1] += "\n" + line
            elif line:
                found.append(line)
    return found


def main(argv: list[str]) -> int:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if len(argv) == 2 and argv[0] == "--db-instance":
        rds = boto3.client("rds", endpoint_url=endpoint)
        rds.create_db_instance(DBInstanceIdentifier=argv[1], Engine="postgres",
                               EngineVersion="15.4", DBInstanceClass="db.t3.micro",
                               AllocatedStorage=20, MasterUsername="postgres",
                               MasterUserPassword="demo-password-1")
        print(f"DB instance {argv[1]}: postgres 15.4")
        return 0
    if len(argv) != 1:
        print("usage: demo-aws-load.py LOGFILE | --db-instance NAME", file=sys.stderr)
        return 2
    logs = boto3.client("logs", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    group = log_group_name(INSTANCE)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=INSTANCE)
    found = messages(argv[0])
    start = (int(time.time()) - 600) * 1000
    logs.put_log_events(logGroupName=group, logStreamName=INSTANCE, logEvents=[
        {"timestamp": start + i * 10, "message": text} for i, text in enumerate(found)])
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    print(f"log group {group}: {len(found)} events in stream {INSTANCE}; queue {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
