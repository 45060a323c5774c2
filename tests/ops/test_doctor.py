"""``pgaudit-parse doctor`` against moto over HTTP: ordered checks, fixes, exit status."""

from __future__ import annotations

import json
import re
import time

from ops_moto import Aws

from pgaudit_parse.cli import main

AUDIT_LINE = ("2026-11-25 16:33:28 UTC:10.0.0.5(37930):alice@shop:[2089]:LOG:  AUDIT: "
              "SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>")
OTHER_LINE = "2026-11-25 16:33:29 UTC::@:[512]:LOG:  checkpoint starting: time"


def _rows(out: str) -> dict[str, tuple[str, str]]:
    """check name -> (result, detail) from the printed table."""
    rows = {}
    for line in out.splitlines():
        match = re.match(r"^\s*\d+\s{2}(.+?)\s{2,}(PASS|FAIL|WARN|SKIP)\b\s*(.*)$", line)
        if match:
            rows[match.group(1).strip()] = (match.group(2), match.group(3))
    return rows


def _log_group(aws: Aws, name: str, messages: list[str], age_s: float = 0) -> None:
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="db.0")
    stamp = int((time.time() - age_s) * 1000)
    if messages:
        logs.put_log_events(logGroupName=name, logStreamName="db.0", logEvents=[
            {"timestamp": stamp + i, "message": m} for i, m in enumerate(messages)])


def test_everything_set_up_passes(aws: Aws, capsys) -> None:
    aws.create_instance("db1")
    assert main(["rds", "setup", "--instance", "db1", "--apply", *aws.args()]) == 0
    _log_group(aws, "/aws/rds/instance/db1/postgresql", [OTHER_LINE, AUDIT_LINE])
    queue = aws.client("sqs").create_queue(QueueName="audit")["QueueUrl"]
    capsys.readouterr()

    code = main(["doctor", "--instance", "db1", "--queue-url", queue, *aws.args()])

    out = capsys.readouterr().out
    rows = _rows(out)
    assert code == 0, out
    assert list(rows) == [
        "AWS credentials", "region", "endpoint reachable", "identity (sts:GetCallerIdentity)",
        "DB instance", "log group /aws/rds/instance/db1/postgresql", "recent log events",
        "pgAudit lines in recent events", "postgresql log export",
        "pgaudit in shared_preload_libraries", "pgaudit.log set", "parameters applied",
        "queue exists", "queue readable",
    ]
    assert {result for result, _ in rows.values()} == {"PASS"}
    assert "account 123456789012" in rows["identity (sts:GetCallerIdentity)"][1]
    assert "pgaudit.log=all,-misc" in rows["pgaudit.log set"][1]
    assert f"All {len(rows)} checks passed." in out
    assert "testing" not in out  # never the credentials


def test_failures_are_listed_with_their_fix_and_exit_1(aws: Aws, capsys) -> None:
    aws.create_instance("db2")  # default parameter group, no log export, no log group
    missing_queue = f"{aws.url}/123456789012/nothing-here"

    code = main(["doctor", "--instance", "db2", "--queue-url", missing_queue, *aws.args()])

    out = capsys.readouterr().out
    rows = _rows(out)
    assert code == 1
    assert rows["DB instance"][0] == "PASS"
    assert rows["log group /aws/rds/instance/db2/postgresql"][0] == "FAIL"
    assert rows["recent log events"][0] == "SKIP"
    assert rows["postgresql log export"][0] == "FAIL"
    assert rows["pgaudit in shared_preload_libraries"][0] == "FAIL"
    assert rows["pgaudit.log set"][0] == "FAIL"
    assert rows["queue exists"][0] == "FAIL"
    assert rows["queue readable"][0] == "SKIP"
    fixes = out[out.index("How to fix:"):]
    assert "pgaudit-parse rds setup --instance db2 --apply" in fixes
    assert "create the queue or fix --queue-url" in fixes
    failed = sum(result == "FAIL" for result, _ in rows.values())
    assert f"{failed} of {len(rows)} checks failed." in out


def test_old_events_only_and_no_audit_lines(aws: Aws, capsys) -> None:
    _log_group(aws, "/quiet", [OTHER_LINE], age_s=3 * 3600)
    assert main(["doctor", "--log-group", "/quiet", *aws.args()]) == 1
    rows = _rows(capsys.readouterr().out)
    assert rows["log group /quiet"][0] == "PASS"
    assert rows["recent log events"] == ("FAIL", "none in the last 60 min")

    _log_group(aws, "/noaudit", [OTHER_LINE])
    assert main(["doctor", "--log-group", "/noaudit", *aws.args()]) == 0  # a WARN passes
    out = capsys.readouterr().out
    rows = _rows(out)
    assert rows["recent log events"][0] == "PASS"
    assert rows["pgAudit lines in recent events"][0] == "WARN"
    assert "pgAudit lines in recent events: pgAudit may not be loaded" in out


def test_queue_with_a_redrive_policy_is_not_received_from(aws: Aws, capsys) -> None:
    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="main", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="x")

    assert main(["doctor", "--queue-url", queue, *aws.args()]) == 0

    rows = _rows(capsys.readouterr().out)
    assert rows["queue exists"] == ("PASS", "1 waiting, 0 in flight")
    assert rows["queue readable"][0] == "SKIP"
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "1"  # still there, never received


def test_no_credentials(aws: Aws, monkeypatch, capsys) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    assert main(["doctor", *aws.args()]) == 1

    out = capsys.readouterr().out
    assert list(_rows(out)) == ["AWS credentials"]
    assert "pass --profile, or run where an IAM role is attached" in out


def test_no_region(aws: Aws, monkeypatch, capsys) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(["doctor", "--endpoint-url", aws.url]) == 1
    rows = _rows(capsys.readouterr().out)
    assert rows["region"] == ("FAIL", "no region configured")


def test_unreachable_endpoint(capsys) -> None:
    from pgserver import free_port

    port = free_port()
    code = main(["doctor", "--endpoint-url", f"http://127.0.0.1:{port}", "--region",
                 "eu-west-1"])
    out = capsys.readouterr().out
    rows = _rows(out)
    assert code == 1
    assert rows["endpoint reachable"][0] == "FAIL"
    assert f"127.0.0.1:{port}" in rows["endpoint reachable"][1]
    assert "identity (sts:GetCallerIdentity)" not in rows


def test_doctor_honours_aws_region(aws: Aws, capsys, monkeypatch) -> None:
    """AWS_REGION (what Lambda and many tools set) is a region, as for the other commands."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    code = main(["doctor", "--endpoint-url", aws.url])
    rows = _rows(capsys.readouterr().out)
    assert rows["region"] == ("PASS", "eu-west-3")
    assert code == 0
