"""``iam-policy``: every AWS call our code makes is in the policy of the role that runs it
(and nothing else is), ARNs are well-formed for the partition, region and account given,
and every document is one IAM (moto's CreatePolicy) accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ops_moto import Aws

from pgaudit_parse.cli import main
from pgaudit_parse.ops.iam_policy import ROLES, build_policy

ACCOUNT = "123456789012"
PACKAGE = Path(__file__).resolve().parents[2] / "pgaudit_parse"

#: Which roles run each module's AWS calls: all of them (None) or only those named. A
#: module with calls and no entry fails the scan below: a new AWS path needs a role, or a
#: stated reason it has none.
_RDS_READS = frozenset({"rds:DescribeDBInstances", "rds:DescribeDBClusters",
                        "rds:DescribeDBParameters", "rds:DescribeDBClusterParameters"})
RUN_BY: dict[str, dict[str, frozenset[str] | None]] = {
    "aws/cloudwatch.py": {"cloudwatch-reader": None,
                          "forwarder": frozenset({"logs:FilterLogEvents",
                                                  "logs:DescribeLogStreams"})},
    "aws/checkpoint.py": {"forwarder": None},
    "aws/forwarder.py": {"forwarder": None, "subscription-handler": None},
    "aws/sqs.py": {"consumer": None},
    "aws/rds_logs.py": {"rds-log-reader": None},
    "aws_lambda.py": {"firehose-transform": None},
    "ops/subscribe.py": {"subscriber": None,
                         "doctor": frozenset({"logs:DescribeLogGroups"})},
    "ops/rds_setup.py": {"rds-setup": None, "doctor": _RDS_READS},
    "ops/doctor.py": {"doctor": None},
}
#: Modules whose AWS calls no pgaudit-parse role runs, and why.
NO_ROLE = {"spark.py": "the Spark job reads S3 with the cluster's own role"}
#: Roles that AWS itself assumes: their calls are not in our code.
ASSUMED_BY_AWS = {"logs-to-firehose": "CloudWatch Logs puts subscription data into Firehose"}
#: Calls IAM never refuses (no permission exists for them).
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}
#: Batch forms authorized by the single action.
AUTHORIZED_BY = {"sqs:SendMessageBatch": "sqs:SendMessage",
                 "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
                 "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}
SERVICES = ("logs", "sqs", "ssm", "firehose", "lambda", "rds", "sts", "s3", "iam")


def _operations() -> dict[str, set[str]]:
    """boto3 method name -> the IAM actions it may be (one per service that has it)."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        prefix = model.signing_name or model.endpoint_prefix
        for operation in model.operation_names:
            action = f"{prefix}:{operation}"
            found.setdefault(xform_name(operation), set()).add(AUTHORIZED_BY.get(action, action))
    return found


_CALL = re.compile(r"\.get_paginator\(\s*[\"'](\w+)[\"']|\.(\w+)\(|[\"'](\w+)[\"']")


def _calls_by_module() -> dict[str, dict[str, set[str]]]:
    operations = _operations()
    modules: dict[str, dict[str, set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in _CALL.finditer(text):
            name = match.group(1) or match.group(2) or match.group(3)
            if name in operations:
                module = path.relative_to(PACKAGE).as_posix()
                modules.setdefault(module, {})[name] = operations[name]
    return modules


def _actions(role: str) -> set[str]:
    policy = build_policy(role, region="eu-west-1", account_id=ACCOUNT,
                          destination_arn=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f")
    return {a for s in policy["Statement"] for a in s["Action"]}


def test_the_client_services_are_the_ones_scanned() -> None:
    used = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"(?:make_client|client)\(\s*(?:session,\s*)?[\"'](\w+)[\"']",
                               text))
        used |= set(re.findall(r"services = \[\"(\w+)\"\]", text))
    assert used and used <= set(SERVICES), used


def _role_calls(calls: dict[str, dict[str, set[str]]], module: str, role: str,
                ) -> list[tuple[str, set[str]]]:
    """(method, the actions it may be) for each call of ``module`` that ``role`` makes."""
    only = RUN_BY[module][role]
    found = []
    for name, candidates in calls.get(module, {}).items():
        relevant = set(candidates) if only is None else candidates & only
        if relevant:
            found.append((name, relevant))
    return found


def test_every_aws_call_is_in_the_policy_of_the_role_that_makes_it() -> None:
    """Adding a boto3 call in any module fails here until the role's policy allows it."""
    calls = _calls_by_module()
    assert "aws/sqs.py" in calls and "ops/rds_setup.py" in calls  # the scan sees calls
    missing = []
    for module, names in calls.items():
        if module in NO_ROLE:
            continue
        assert module in RUN_BY, f"{module} calls AWS ({sorted(names)}) but no role runs it"
        for role, only in RUN_BY[module].items():
            called = {a for c in names.values() for a in c}
            assert only is None or only <= called, (module, role, sorted(only - called))
            for name, relevant in _role_calls(calls, module, role):
                if not relevant & (_actions(role) | ALWAYS_ALLOWED):
                    missing.append(f"{module}: {name} ({' or '.join(sorted(relevant))}) "
                                   f"is not in the {role} policy")
    assert not missing, "\n".join(missing)


def test_no_role_allows_what_its_code_never_calls() -> None:
    calls = _calls_by_module()
    assert set(ROLES) - set(ASSUMED_BY_AWS) == {role for roles in RUN_BY.values()
                                                for role in roles}
    for role in set(ROLES) - set(ASSUMED_BY_AWS):
        called = {a for module, roles in RUN_BY.items() if role in roles
                  for _, relevant in _role_calls(calls, module, role) for a in relevant}
        granted = _actions(role) - {"iam:PassRole"}  # what passing --role-arn needs
        assert granted <= called, (role, sorted(granted - called))


def _policy(capsys, *argv: str) -> dict:
    code = main(["iam-policy", *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _resources(policy: dict) -> list[str]:
    return [r for s in policy["Statement"] for r in s["Resource"]]


_ARN = re.compile(r"arn:(aws|aws-cn|aws-us-gov):([a-z0-9-]+):([a-z0-9-]*):(\d{12}|):(.+)")


@pytest.mark.parametrize("region, partition", [("cn-north-1", "aws-cn"),
                                               ("us-gov-west-1", "aws-us-gov"),
                                               ("eu-west-1", "aws")])
@pytest.mark.parametrize("role", ROLES)
def test_arns_name_the_partition_of_the_region(capsys, role: str, region: str,
                                               partition: str) -> None:
    policy = _policy(capsys, role, "--region", region, "--account-id", ACCOUNT,
                     "--log-group", "/aws/rds/instance/db1/postgresql",
                     "--instance", "db1")
    for arn in _resources(policy):
        match = _ARN.fullmatch(arn)
        assert match, arn
        assert match.group(1) == partition, arn
        assert match.group(3) in (region, ""), arn  # IAM ARNs name no region
        assert match.group(4) == ACCOUNT, arn


def test_a_china_queue_url_gives_china_arns(capsys) -> None:
    policy = _policy(capsys, "consumer", "--queue-url",
                     f"https://sqs.cn-north-1.amazonaws.com.cn/{ACCOUNT}/audit")
    assert _resources(policy) == [f"arn:aws-cn:sqs:cn-north-1:{ACCOUNT}:audit"]


@pytest.mark.parametrize("argv, cause", [
    (["consumer", "--queue-arn", "audit"], "--queue-arn"),
    (["consumer", "--queue-arn", f"arn:aws:sns:eu-west-1:{ACCOUNT}:audit"], "--queue-arn"),
    (["consumer", "--queue-arn", "arn:aws:sqs:eu-west-1:12345:audit"], "--queue-arn"),
    (["forwarder", "--partition", "foo"], "--partition"),
    (["forwarder", "--log-group", "no spaces allowed"], "--log-group"),
    (["subscriber", "--destination-arn", "my-function"], "--destination-arn"),
    (["subscriber", "--role-arn", "role/x", "--destination-arn",
      f"arn:aws:firehose:eu-west-1:{ACCOUNT}:deliverystream/s"], "--role-arn"),
])
def test_what_would_make_a_malformed_policy_is_a_usage_error(capsys, argv: list[str],
                                                             cause: str) -> None:
    code = main(["iam-policy", *argv])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and cause in captured.err, captured.err


def test_arns_where_names_are_expected_are_read_as_names(capsys) -> None:
    """A log group or Lambda given by its ARN names the same resource, not a new one."""
    group = "/aws/rds/instance/db1/postgresql"
    by_arn = _policy(capsys, "forwarder", "--region", "eu-west-1", "--account-id", ACCOUNT,
                     "--log-group", f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{group}:*",
                     "--lambda-function",
                     f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:export-rds")
    by_name = _policy(capsys, "forwarder", "--region", "eu-west-1", "--account-id", ACCOUNT,
                      "--log-group", group, "--lambda-function", "export-rds")
    assert by_arn == by_name


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("filled", [True, False])
def test_iam_accepts_every_roles_document(aws: Aws, role: str, filled: bool) -> None:
    kwargs = dict(region="eu-west-1", account_id=ACCOUNT,
                  queue_arn=f"arn:aws:sqs:eu-west-1:{ACCOUNT}:audit",
                  log_group="/aws/rds/instance/db1/postgresql") if filled else {}
    document = build_policy(role, **kwargs)
    iam = aws.client("iam")
    iam.create_policy(PolicyName=f"pgaudit-{role}-{filled}", PolicyDocument=json.dumps(document))


def _set_auth(url: str, count: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{url}/moto-api/reset-auth", data=count.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"


@pytest.fixture
def enforced(aws: Aws):
    try:
        yield aws
    finally:
        _set_auth(aws.url, "inf")


def _keys(aws: Aws, role: str, **kwargs: str) -> tuple[str, str]:
    iam = aws.client("iam")
    iam.create_user(UserName=role)
    document = build_policy(role, region="eu-west-1", account_id=ACCOUNT, **kwargs)
    arn = iam.create_policy(PolicyName=role, PolicyDocument=json.dumps(document))[
        "Policy"]["Arn"]
    iam.attach_user_policy(UserName=role, PolicyArn=arn)
    key = iam.create_access_key(UserName=role)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_the_new_roles_do_their_sqs_work_with_their_policies_alone(
        enforced: Aws, capsys, monkeypatch) -> None:
    """moto checks SQS requests against the policy's resources (its RDS and CloudWatch
    Logs checks match only "*" resources, so those are covered by the scan above): the
    subscription_handler's role sends to its two queues and no other, and doctor's queue
    checks pass with the doctor policy."""
    import boto3
    from botocore.exceptions import ClientError

    aws = enforced
    sqs = aws.client("sqs")
    urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"]
            for name in ("events", "records", "other")}
    arns = {name: f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{name}" for name in urls}
    handler = _keys(aws, "subscription-handler", queue_arn=arns["events"],
                    records_queue_arn=arns["records"])
    doctor = _keys(aws, "doctor", queue_arn=arns["events"])
    _set_auth(aws.url, "0")

    client = boto3.session.Session(aws_access_key_id=handler[0],
                                   aws_secret_access_key=handler[1],
                                   region_name="eu-west-1").client("sqs", endpoint_url=aws.url)
    for name in ("events", "records"):
        client.get_queue_attributes(QueueUrl=urls[name], AttributeNames=["MaximumMessageSize"])
        # (SendMessageBatch is authorized by sqs:SendMessage in AWS; moto wants its own name)
        client.send_message(QueueUrl=urls[name], MessageBody="{}")
    with pytest.raises(ClientError):
        client.send_message(QueueUrl=urls["other"], MessageBody="{}")
    with pytest.raises(ClientError):
        client.receive_message(QueueUrl=urls["events"], WaitTimeSeconds=0)

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", doctor[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", doctor[1])
    assert main(["doctor", "--queue-url", urls["events"], *aws.args()]) == 0
    out = capsys.readouterr().out
    assert "sqs:ReceiveMessage allowed" in out, out
    assert main(["doctor", "--queue-url", urls["other"], *aws.args()]) == 1
    assert "grant sqs:GetQueueAttributes" in capsys.readouterr().out


_VALUES = {"--region": "eu-west-1", "--account-id": ACCOUNT,
           "--log-group": "/aws/rds/instance/db1/postgresql", "--instance": "db1",
           "--queue-arn": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:audit",
           "--role-arn": f"arn:aws:iam::{ACCOUNT}:role/logs-to-firehose"}
_DESTINATIONS = {"subscriber": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f",
                 "logs-to-firehose": f"arn:aws:firehose:eu-west-1:{ACCOUNT}:deliverystream/s",
                 "firehose-transform": f"arn:aws:firehose:eu-west-1:{ACCOUNT}:deliverystream/s"}


@pytest.mark.parametrize("role", ROLES)
def test_the_placeholder_hint_names_the_options_that_fill_them(capsys, role: str) -> None:
    assert main(["iam-policy", role]) == 0
    err = capsys.readouterr().err
    hinted = re.findall(r"--[a-z-]+", err.split("(or pass", 1)[1])
    argv = [role]
    for option in hinted:
        value = _DESTINATIONS[role] if option == "--destination-arn" else _VALUES[option]
        argv += [option, value]
    assert main(["iam-policy", *argv]) == 0
    assert capsys.readouterr().err == "", (role, hinted)
