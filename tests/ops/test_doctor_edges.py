"""``doctor``'s failure paths against moto over HTTP: each prints its fix in the table and
exits 1, with no traceback and no credential in the output."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from ops_moto import REGION, Aws
from test_doctor import _rows

from pgaudit_parse.cli import main

SECRET = "wJalrXUtnFEMI-not-a-real-secret"


def _doctor(capsys, *argv: str) -> tuple[int, str, dict[str, tuple[str, str]]]:
    code = main(["doctor", *argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, _rows(captured.out)


@pytest.mark.parametrize("region", ["eu west 1", "eu-west-1/", "-eu"])
def test_a_malformed_region_is_a_failed_check_with_its_fix(aws: Aws, capsys, monkeypatch,
                                                           region: str) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)

    code, out, rows = _doctor(capsys, "--endpoint-url", aws.url, "--log-group", "/g")

    assert code == 1, out
    assert rows["region"][0] == "FAIL" and repr(region) in rows["region"][1], out
    assert "How to fix:" in out and "--region" in out.split("How to fix:")[1]
    assert "endpoint-url" not in rows["region"][1]


@pytest.mark.parametrize("command", [["rds", "setup", "--instance", "db1"],
                                     ["cloudwatch", "--log-group", "/g"]])
def test_a_malformed_region_is_named_as_the_region(aws: Aws, capsys, command) -> None:
    """Not "invalid --endpoint-url None": the region is what is wrong."""
    code = main([*command, "--endpoint-url", aws.url, "--region", "eu west 1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "region 'eu west 1'" in err and "--endpoint-url" not in err, err


def test_a_queue_of_another_region_says_which_region(aws: Aws, capsys) -> None:
    sqs = aws.client("sqs")
    sqs.create_queue(QueueName="audit")
    url = "https://sqs.us-east-2.amazonaws.com/123456789012/audit"

    code, out, rows = _doctor(capsys, "--queue-url", url, *aws.args())

    assert code == 1
    assert rows["queue exists"][0] == "FAIL"
    assert "us-east-2" in rows["queue exists"][1] and REGION in rows["queue exists"][1]
    assert "--region us-east-2" in out.split("How to fix:")[1]
    assert rows["queue readable"][0] == "SKIP"


def _set_auth(url: str, count: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset-auth", data=count.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"


@pytest.fixture
def enforced(aws: Aws) -> Iterator[Aws]:
    try:
        yield aws
    finally:
        _set_auth(aws.url, "inf")


def _user_keys(aws: Aws, name: str, actions: list[str]) -> dict[str, str]:
    iam = aws.client("iam")
    iam.create_user(UserName=name)
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))[
        "Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    return iam.create_access_key(UserName=name)["AccessKey"]


def test_a_queue_without_receive_permission(enforced: Aws, capsys, monkeypatch) -> None:
    aws = enforced
    url = aws.client("sqs").create_queue(QueueName="audit")["QueueUrl"]
    key = _user_keys(aws, "doctor", ["sts:GetCallerIdentity", "sqs:GetQueueAttributes"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    _set_auth(aws.url, "0")

    code, out, rows = _doctor(capsys, "--queue-url", url, *aws.args())

    assert code == 1, out
    assert rows["queue exists"][0] == "PASS"
    assert rows["queue readable"][0] == "FAIL"
    assert "grant sqs:ReceiveMessage" in out.split("How to fix:")[1]
    assert key["SecretAccessKey"] not in out


def test_rejected_credentials_are_a_failed_identity_without_the_secret(
        enforced: Aws, capsys, monkeypatch) -> None:
    aws = enforced
    key = _user_keys(aws, "doctor", ["sts:GetCallerIdentity"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    _set_auth(aws.url, "0")

    code, out, rows = _doctor(capsys, "--log-group", "/g", *aws.args())

    assert code == 1, out
    assert rows["identity (sts:GetCallerIdentity)"][0] == "FAIL"
    assert "renew them" in out
    assert SECRET not in out


def test_aurora_instance_group_without_pgaudit_fails(aws: Aws, capsys) -> None:
    """The cluster group loads pgAudit, but the instance's own group sets
    shared_preload_libraries, which overrides it: that instance runs without pgAudit."""
    rds = aws.client("rds")
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="aur-audit", DBParameterGroupFamily="aurora-postgresql15",
        Description="cluster group")
    rds.create_db_parameter_group(DBParameterGroupName="aur-inst", DBParameterGroupFamily=
                                  "aurora-postgresql15", Description="instance group")
    rds.modify_db_parameter_group(DBParameterGroupName="aur-inst", Parameters=[
        {"ParameterName": "shared_preload_libraries", "ParameterValue": "pg_stat_statements",
         "ApplyMethod": "pending-reboot"}])
    rds.create_db_cluster(DBClusterIdentifier="aur", Engine="aurora-postgresql",
                          EngineVersion="15.4", MasterUsername="master",
                          MasterUserPassword="not-a-real-password",
                          DBClusterParameterGroupName="aur-audit")
    rds.create_db_instance(DBInstanceIdentifier="aur-a", DBClusterIdentifier="aur",
                           Engine="aurora-postgresql", DBInstanceClass="db.r6g.large",
                           DBParameterGroupName="aur-inst")
    rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName="aur-audit", Parameters=[
        {"ParameterName": "shared_preload_libraries", "ParameterValue": "pgaudit",
         "ApplyMethod": "pending-reboot"},
        {"ParameterName": "pgaudit.log", "ParameterValue": "all,-misc",
         "ApplyMethod": "immediate"}])

    code, out, rows = _doctor(capsys, "--instance", "aur-a", *aws.args())

    assert code == 1
    assert rows["pgaudit in shared_preload_libraries"][0] == "FAIL", out
    assert "aur-inst" in rows["pgaudit in shared_preload_libraries"][1]
    assert rows["pgaudit.log set"][0] == "PASS"


@pytest.mark.parametrize("minutes", ["0", "-5", "soon"])
def test_recent_minutes_must_be_a_positive_number(capsys, minutes: str) -> None:
    """A start time in the future would report 'none in the last -5 min' as a failure."""
    assert main(["doctor", "--log-group", "/g", "--recent-minutes", minutes]) == 2
    err = capsys.readouterr().err
    assert "--recent-minutes" in err and "Traceback" not in err
