"""``pgaudit-parse subscribe`` against moto over HTTP: a plan first, --apply subscribes every
RDS/Aurora PostgreSQL log group, applying again changes nothing, and doctor checks it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from ops_moto import REGION, Aws

from pgaudit_parse.cli import main
from pgaudit_parse.ops.iam_policy import build_policy

ACCOUNT = "123456789012"
RDS_GROUPS = ["/aws/rds/instance/db1/postgresql", "/aws/rds/instance/db2/postgresql",
              "/aws/rds/cluster/shop/postgresql"]
OTHER_GROUPS = ["/aws/rds/instance/db1/error", "/aws/lambda/something", "/my/own/group"]


def _groups(aws: Aws) -> None:
    logs = aws.client("logs")
    for name in RDS_GROUPS + OTHER_GROUPS:
        logs.create_log_group(logGroupName=name)


def _function(aws: Aws) -> str:
    iam = aws.client("iam")
    role = iam.create_role(RoleName="pgaudit-lambda", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return aws.client("lambda").create_function(
        FunctionName="pgaudit-subscription", Runtime="python3.11", Role=role,
        Handler="handler.handler", Code={"ZipFile": code.getvalue()})["FunctionArn"]


def _stream(aws: Aws) -> tuple[str, str]:
    aws.client("s3").create_bucket(Bucket="pgaudit-out", CreateBucketConfiguration={
        "LocationConstraint": REGION})
    role = f"arn:aws:iam::{ACCOUNT}:role/logs-to-firehose"
    arn = aws.client("firehose").create_delivery_stream(
        DeliveryStreamName="pgaudit", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"RoleARN": role,
                                            "BucketARN": "arn:aws:s3:::pgaudit-out"},
    )["DeliveryStreamARN"]
    return arn, role


def _other_stream(aws: Aws, role: str) -> str:
    """A second delivery stream: someone else's destination."""
    return aws.client("firehose").create_delivery_stream(
        DeliveryStreamName="elsewhere", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"RoleARN": role,
                                            "BucketARN": "arn:aws:s3:::pgaudit-out"},
    )["DeliveryStreamARN"]


def _filters(aws: Aws) -> dict[str, list[tuple[str, str]]]:
    logs = aws.client("logs")
    return {g: [(f["filterName"], f["destinationArn"]) for f in logs.describe_subscription_filters(
        logGroupName=g)["subscriptionFilters"]] for g in RDS_GROUPS + OTHER_GROUPS}


def test_plan_then_apply_then_apply_again_changes_nothing(aws: Aws, capsys) -> None:
    _groups(aws)
    function = _function(aws)
    assert main(["subscribe", "--destination-arn", function, *aws.args()]) == 0
    plan = capsys.readouterr().out
    assert "Dry run: nothing was changed" in plan
    assert all(f"create  {g}" in plan for g in RDS_GROUPS)
    assert not any(g in plan for g in OTHER_GROUPS)
    assert all(not v for v in _filters(aws).values())  # the plan changed nothing

    assert main(["subscribe", "--destination-arn", function, "--apply", *aws.args()]) == 0
    applied = capsys.readouterr().out
    assert "allowed CloudWatch Logs to invoke" in applied
    filters = _filters(aws)
    assert all(filters[g] == [("pgaudit-parse", function)] for g in RDS_GROUPS)
    assert all(not filters[g] for g in OTHER_GROUPS)
    policy = json.loads(aws.client("lambda").get_policy(FunctionName=function)["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "logs.amazonaws.com"}

    assert main(["subscribe", "--destination-arn", function, "--apply", *aws.args()]) == 0
    again = capsys.readouterr().out
    assert "Nothing to change." in again and "3 keep" in again
    assert _filters(aws) == filters
    assert len(json.loads(aws.client("lambda").get_policy(
        FunctionName=function)["Policy"])["Statement"]) == 1


def test_firehose_destination_needs_a_role_and_updates_a_changed_filter(aws: Aws,
                                                                         capsys) -> None:
    _groups(aws)
    stream, role = _stream(aws)
    assert main(["subscribe", "--destination-arn", stream, *aws.args()]) == 2
    assert "needs --role-arn" in capsys.readouterr().err
    args = ["subscribe", "--destination-arn", stream, "--role-arn", role,
            "--log-group", RDS_GROUPS[0], *aws.args()]
    assert main([*args, "--apply"]) == 0
    capsys.readouterr()
    assert _filters(aws)[RDS_GROUPS[0]] == [("pgaudit-parse", stream)]
    assert _filters(aws)[RDS_GROUPS[1]] == []
    assert main([*args, "--filter-pattern", "AUDIT"]) == 0
    assert "update  /aws/rds/instance/db1/postgresql (pattern)" in capsys.readouterr().out


def test_a_group_with_two_foreign_filters_is_reported_not_touched(aws: Aws, capsys) -> None:
    _groups(aws)
    stream, role = _stream(aws)
    logs = aws.client("logs")
    other = _other_stream(aws, role)  # (theirs send elsewhere: ours would be a third)
    for name in ("theirs-1", "theirs-2"):
        logs.put_subscription_filter(logGroupName=RDS_GROUPS[2], filterName=name,
                                     filterPattern="", destinationArn=other, roleArn=role)
    assert main(["subscribe", "--destination-arn", stream, "--role-arn", role, "--apply",
                 *aws.args()]) == 0
    out = capsys.readouterr().out
    assert "blocked  /aws/rds/cluster/shop/postgresql (already has 2 filters" in out
    assert "1 log group(s) already have 2 subscription filters" in out
    assert [n for n, _ in _filters(aws)[RDS_GROUPS[2]]] == ["theirs-1", "theirs-2"]


def test_doctor_checks_the_subscriptions(aws: Aws, capsys) -> None:
    _groups(aws)
    function = _function(aws)
    assert main(["doctor", "--destination-arn", function, *aws.args()]) == 1
    out = capsys.readouterr().out
    assert "3 of 3 log group(s) do not send to the destination" in out
    assert f"pgaudit-parse subscribe --destination-arn {function} --apply" in out
    assert main(["subscribe", "--destination-arn", function, "--apply", *aws.args()]) == 0
    capsys.readouterr()
    assert main(["doctor", "--destination-arn", function, *aws.args()]) == 0
    assert "3 log group(s) send to the destination" in capsys.readouterr().out


@pytest.mark.parametrize("destination", [
    "arn:aws:lambda:eu-west-1:123456789012:function:f",
    "arn:aws:firehose:eu-west-1:123456789012:deliverystream/s"])
def test_iam_policy_of_the_subscriber(destination: str) -> None:
    policy = build_policy("subscriber", destination_arn=destination, region=REGION,
                          account_id=ACCOUNT, role_arn=f"arn:aws:iam::{ACCOUNT}:role/r")
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    expected = {"logs:DescribeLogGroups", "logs:DescribeSubscriptionFilters",
                "logs:PutSubscriptionFilter"}
    expected |= {"iam:PassRole"} if ":firehose:" in destination else {
        "lambda:GetPolicy", "lambda:AddPermission"}
    assert actions == expected


def test_a_bad_destination_is_one_line(aws: Aws, capsys) -> None:
    assert main(["subscribe", "--destination-arn", "arn:aws:sqs:eu-west-1:1:q",
                 *aws.args()]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Lambda function or Firehose" in err


def test_a_group_already_sending_to_the_destination_gets_no_second_filter(
        aws: Aws, capsys) -> None:
    """A group whose filter of another name already sends to the destination got a
    second filter (CloudWatch allows two): every event was then delivered twice. It is
    kept as it is now, and saying so; a filter of another name to another destination
    still leaves room for ours."""
    _groups(aws)
    stream, role = _stream(aws)
    logs = aws.client("logs")
    logs.put_subscription_filter(logGroupName=RDS_GROUPS[0], filterName="mine",
                                 filterPattern="", destinationArn=stream, roleArn=role)
    other = _other_stream(aws, role)
    logs.put_subscription_filter(logGroupName=RDS_GROUPS[1], filterName="theirs",
                                 filterPattern="", destinationArn=other, roleArn=role)
    args = ["subscribe", "--destination-arn", stream, "--role-arn", role, *aws.args()]
    assert main([*args, "--apply"]) == 0
    out = capsys.readouterr().out
    assert f"keep    {RDS_GROUPS[0]} (sent there by filter 'mine')" in out
    filters = _filters(aws)
    assert filters[RDS_GROUPS[0]] == [("mine", stream)]
    assert sorted(filters[RDS_GROUPS[1]]) == [("pgaudit-parse", stream), ("theirs", other)]
    assert main([*args, "--apply"]) == 0
    assert "Nothing to change." in capsys.readouterr().out
    assert _filters(aws) == filters


def test_subscribe_pages_through_many_log_groups(aws: Aws, capsys) -> None:
    """More RDS log groups than one DescribeLogGroups page (50): every one is planned,
    applied once, and the second run keeps them all."""
    logs = aws.client("logs")
    names = [f"/aws/rds/instance/db{n:03d}/postgresql" for n in range(120)]
    for name in [*names, "/aws/rds/instance/db001/error", "/aws/rds/instance/db002/upgrade"]:
        logs.create_log_group(logGroupName=name)
    assert len(logs.describe_log_groups(logGroupNamePrefix="/aws/rds/")["logGroups"]) < 120
    function = _function(aws)
    assert main(["subscribe", "--destination-arn", function, "--apply", *aws.args()]) == 0
    assert "120 create, 0 update, 0 keep, 0 blocked" in capsys.readouterr().out
    assert main(["subscribe", "--destination-arn", function, "--apply", *aws.args()]) == 0
    assert "0 create, 0 update, 120 keep, 0 blocked" in capsys.readouterr().out
    assert not logs.describe_subscription_filters(
        logGroupName="/aws/rds/instance/db001/error")["subscriptionFilters"]


def test_doctor_warns_of_a_group_sent_twice_to_the_destination(aws: Aws, capsys) -> None:
    """Two filters of one group to the destination passed doctor; every event arrived
    twice. It is a warning now, naming the group and the filter to delete."""
    _groups(aws)
    stream, role = _stream(aws)
    assert main(["subscribe", "--destination-arn", stream, "--role-arn", role, "--apply",
                 *aws.args()]) == 0
    aws.client("logs").put_subscription_filter(
        logGroupName=RDS_GROUPS[1], filterName="mine", filterPattern="",
        destinationArn=stream, roleArn=role)
    capsys.readouterr()
    assert main(["doctor", "--destination-arn", stream, *aws.args()]) == 0
    out = capsys.readouterr().out
    assert "WARN" in out and "1 log group(s) send to the destination through two filters" \
        in out and RDS_GROUPS[1] in out
