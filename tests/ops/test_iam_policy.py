"""``pgaudit-parse iam-policy``: exact actions, scoped resources, and enforced on moto."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from ops_moto import REGION, Aws

from pgaudit_parse.cli import main
from pgaudit_parse.ops.iam_policy import build_policy, queue_arn_from_url

ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:audit"
GROUP = "/aws/rds/instance/db1/postgresql"
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}"

#: What our AWS code calls, per role (SendMessageBatch is authorized by sqs:SendMessage,
#: DeleteMessageBatch by sqs:DeleteMessage, ChangeMessageVisibilityBatch by
#: sqs:ChangeMessageVisibility); test_actions_match_the_calls_in_our_code checks the source.
EXPECTED_ACTIONS = {
    "forwarder": {"logs:FilterLogEvents", "logs:DescribeLogStreams", "ssm:GetParameter",
                  "ssm:PutParameter", "sqs:SendMessage", "sqs:GetQueueAttributes"},
    "consumer": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                 "sqs:GetQueueAttributes"},
    "cloudwatch-reader": {"logs:FilterLogEvents", "logs:DescribeLogStreams",
                          "logs:DescribeLogGroups"},
}


def _policy(capsys, *argv: str) -> tuple[dict, str]:
    assert main(["iam-policy", *argv]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def _actions(policy: dict) -> set[str]:
    return {a for s in policy["Statement"] for a in s["Action"]}


@pytest.mark.parametrize("role", sorted(EXPECTED_ACTIONS))
def test_only_the_actions_the_role_uses(role: str, capsys) -> None:
    policy, err = _policy(capsys, role, "--queue-arn", QUEUE_ARN, "--log-group", GROUP,
                          "--region", REGION, "--account-id", ACCOUNT)
    assert policy["Version"] == "2012-10-17"
    assert _actions(policy) == EXPECTED_ACTIONS[role]
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])
        assert statement["Resource"] and statement["Resource"] != ["*"]
    assert err == ""  # nothing left to fill in


def test_resources_are_scoped(capsys) -> None:
    policy, _ = _policy(capsys, "forwarder", "--queue-arn", QUEUE_ARN, "--log-group", GROUP,
                        "--region", REGION, "--account-id", ACCOUNT,
                        "--parameter-name", "/pgaudit/checkpoint")
    by_sid = {s["Sid"]: s["Resource"] for s in policy["Statement"]}
    assert by_sid["ReadRdsLogGroup"] == [GROUP_ARN, GROUP_ARN + ":*"]
    assert by_sid["KeepCheckpoint"] == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/pgaudit/checkpoint"]
    assert by_sid["SendToQueue"] == [QUEUE_ARN]

    reader, _ = _policy(capsys, "cloudwatch-reader", "--log-group", GROUP, "--region", REGION,
                        "--account-id", ACCOUNT)
    describe = [s for s in reader["Statement"] if s["Action"] == ["logs:DescribeLogGroups"]]
    assert describe[0]["Resource"] == [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"]


def test_placeholders_are_named_on_stderr(capsys) -> None:
    policy, err = _policy(capsys, "forwarder")
    text = json.dumps(policy)
    assert "arn:aws:logs:REGION:ACCOUNT_ID:log-group:/aws/rds/instance/INSTANCE_NAME/" in text
    assert err == ("pgaudit-parse: iam-policy: replace the placeholders REGION, ACCOUNT_ID, "
                   "INSTANCE_NAME, QUEUE_NAME (or pass --region, --account-id, --log-group, "
                   "--queue-arn)\n")


@pytest.mark.parametrize("queue", [f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/audit",
                                   f"arn:aws:sqs:{REGION}:{ACCOUNT}:audit"])
def test_region_and_account_come_from_the_queue(queue: str, capsys) -> None:
    """The queue's URL (or ARN) names region and account: no placeholders are left."""
    option = "--queue-arn" if queue.startswith("arn:") else "--queue-url"
    policy, err = _policy(capsys, "forwarder", option, queue, "--log-group", GROUP,
                          "--lambda-function", "export-rds")
    assert err == ""
    resources = [r for s in policy["Statement"] for r in s["Resource"]]
    assert resources and all(f":{REGION}:{ACCOUNT}:" in r for r in resources), resources
    # An explicit --region/--account-id still wins.
    policy, _ = _policy(capsys, "forwarder", option, queue, "--log-group", GROUP,
                        "--region", "us-east-2", "--account-id", "210987654321")
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadRdsLogGroup"]["Resource"][0].startswith(
        "arn:aws:logs:us-east-2:210987654321:")


def test_queue_url_and_lambda_logs(capsys) -> None:
    policy, _ = _policy(capsys, "forwarder", "--queue-url",
                        f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/audit",
                        "--lambda-function", "export-rds", "--account-id", ACCOUNT,
                        "--region", REGION, "--log-group", GROUP)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["SendToQueue"]["Resource"] == [QUEUE_ARN]
    assert by_sid["WriteOwnLambdaLogs"]["Action"] == [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    lambda_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/export-rds"
    assert by_sid["WriteOwnLambdaLogs"]["Resource"] == [lambda_group, lambda_group + ":*"]
    assert main(["iam-policy", "consumer", "--queue-url", "not a url"]) == 2
    assert "not an SQS queue URL" in capsys.readouterr().err
    assert main(["iam-policy", "admin"]) == 2


@pytest.mark.parametrize("role", sorted(EXPECTED_ACTIONS))
def test_iam_accepts_the_documents(role: str, aws: Aws) -> None:
    document = build_policy(role, queue_arn=QUEUE_ARN, log_group=GROUP, region=REGION,
                            account_id=ACCOUNT)
    iam = aws.client("iam")
    arn = iam.create_policy(PolicyName=f"pgaudit-{role}",
                            PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    stored = version["Document"]
    if isinstance(stored, str):
        stored = json.loads(urllib.request.unquote(stored))
    assert stored == document


def _set_auth(url: str, count: str) -> None:
    # text/plain: Flask keeps a form-encoded body out of request.data.
    request = urllib.request.Request(f"{url}/moto-api/reset-auth", data=count.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"


@pytest.fixture
def enforced(aws: Aws) -> Iterator[Aws]:
    """moto checking signatures and IAM policies for every request, for this test only."""
    try:
        yield aws
    finally:
        _set_auth(aws.url, "inf")


def _principal(aws: Aws, role: str, queue_arn: str) -> boto3.session.Session:
    iam = aws.client("iam")
    iam.create_user(UserName=role)
    document = build_policy(role, queue_arn=queue_arn, log_group=GROUP, region=REGION,
                            account_id=ACCOUNT)
    arn = iam.create_policy(PolicyName=role, PolicyDocument=json.dumps(document))[
        "Policy"]["Arn"]
    iam.attach_user_policy(UserName=role, PolicyArn=arn)
    key = iam.create_access_key(UserName=role)["AccessKey"]
    return boto3.session.Session(aws_access_key_id=key["AccessKeyId"],
                                 aws_secret_access_key=key["SecretAccessKey"],
                                 region_name=REGION)


def test_sqs_enforces_the_consumer_and_forwarder_policies(enforced: Aws) -> None:
    aws = enforced
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="audit")["QueueUrl"]
    other = sqs.create_queue(QueueName="other")["QueueUrl"]
    arn = queue_arn_from_url(url, REGION)
    consumer = _principal(aws, "consumer", arn).client("sqs", endpoint_url=aws.url)
    forwarder = _principal(aws, "forwarder", arn).client("sqs", endpoint_url=aws.url)
    _set_auth(aws.url, "0")  # from here on every request is authenticated and authorized

    forwarder.send_message(QueueUrl=url, MessageBody='{"lines": []}')
    messages = consumer.receive_message(QueueUrl=url, MaxNumberOfMessages=1,
                                        WaitTimeSeconds=0)["Messages"]
    handle = messages[0]["ReceiptHandle"]
    consumer.change_message_visibility(QueueUrl=url, ReceiptHandle=handle,
                                       VisibilityTimeout=30)
    consumer.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    consumer.delete_message(QueueUrl=url, ReceiptHandle=handle)

    denied = [
        lambda: consumer.send_message(QueueUrl=url, MessageBody="x"),
        lambda: forwarder.receive_message(QueueUrl=url, WaitTimeSeconds=0),
        lambda: forwarder.send_message(QueueUrl=other, MessageBody="x"),
        lambda: consumer.receive_message(QueueUrl=other, WaitTimeSeconds=0),
    ]
    for call in denied:
        with pytest.raises(ClientError) as failure:
            call()
        response = failure.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 403, response
        assert "is not authorized to perform" in response["Error"]["Message"], response


_CALL = re.compile(r"\.get_paginator\(\"(\w+)\"|\.(\w+)\(")
#: boto3 method -> the IAM action that authorizes it.
_AUTHORIZED_BY = {
    "filter_log_events": "logs:FilterLogEvents",
    "describe_log_streams": "logs:DescribeLogStreams",
    "describe_log_groups": "logs:DescribeLogGroups",
    "get_parameter": "ssm:GetParameter",
    "put_parameter": "ssm:PutParameter",
    "send_message": "sqs:SendMessage",
    "send_message_batch": "sqs:SendMessage",
    "get_queue_url": "sqs:GetQueueUrl",
    "receive_message": "sqs:ReceiveMessage",
    "delete_message": "sqs:DeleteMessage",
    "delete_message_batch": "sqs:DeleteMessage",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
    "change_message_visibility_batch": "sqs:ChangeMessageVisibility",
    "get_queue_attributes": "sqs:GetQueueAttributes",
    "describe_subscription_filters": "logs:DescribeSubscriptionFilters",
    "put_subscription_filter": "logs:PutSubscriptionFilter",
    "get_policy": "lambda:GetPolicy",
    "add_permission": "lambda:AddPermission",
    "put_record_batch": "firehose:PutRecordBatch",
}


def _calls(*modules: str) -> set[str]:
    root = Path(__file__).resolve().parents[2] / "pgaudit_parse"
    found: set[str] = set()
    for module in modules:
        for match in _CALL.finditer((root / module).read_text(encoding="utf-8")):
            name = match.group(1) or match.group(2)
            if name in _AUTHORIZED_BY:
                found.add(_AUTHORIZED_BY[name])
    return found


def test_actions_match_the_calls_in_our_code() -> None:
    """Every AWS call our paths make is allowed, and nothing else is."""
    logs_and_ssm = _calls("aws/cloudwatch.py", "aws/checkpoint.py")
    assert EXPECTED_ACTIONS["forwarder"] == {
        a for a in logs_and_ssm if a != "logs:DescribeLogGroups"} | (
        _calls("aws/forwarder.py") & {"sqs:SendMessage", "sqs:GetQueueAttributes"})
    assert EXPECTED_ACTIONS["consumer"] == _calls("aws/sqs.py")
    assert EXPECTED_ACTIONS["cloudwatch-reader"] == _calls("aws/cloudwatch.py")


def test_scale_out_roles_match_the_calls_in_our_code() -> None:
    """subscribe's calls are the subscriber's (iam:PassRole is what passing --role-arn to
    PutSubscriptionFilter needs, not a call); the Firehose handler's re-ingest is
    firehose-transform's."""
    lambda_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"
    subscriber = {a for s in build_policy("subscriber", destination_arn=lambda_arn)["Statement"]
                  for a in s["Action"]}
    assert subscriber == _calls("ops/subscribe.py")
    transform = {a for s in build_policy("firehose-transform")["Statement"] for a in s["Action"]}
    assert transform == _calls("aws_lambda.py") & {"firehose:PutRecordBatch"} == \
        {"firehose:PutRecordBatch"}
