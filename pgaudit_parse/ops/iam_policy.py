"""Least-privilege IAM policies for the roles that run pgaudit-parse's AWS paths.

The seed guide attaches ``AmazonSQSFullAccess``, ``CloudWatchLogsFullAccess`` and
``CloudWatchEventsFullAccess``. Each role here gets only the actions our code calls, on
the named resources. Region and account become placeholders (``REGION``,
``ACCOUNT_ID``) when not given; :func:`placeholders_in` lists what is left to fill in.

- ``forwarder`` (CloudWatch -> SQS, CLI or Lambda): ``logs:FilterLogEvents`` and
  ``logs:DescribeLogStreams`` (where a first run starts) on the log group;
  ``ssm:GetParameter``/``ssm:PutParameter`` on the checkpoint parameter; ``sqs:SendMessage``
  (also authorizes SendMessageBatch) and ``sqs:GetQueueAttributes`` (the queue's
  MaximumMessageSize, the size of the messages) on the queue. The queue is given by URL, so no
  ``sqs:GetQueueUrl``.
- ``consumer`` (SQS -> records): ``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` (also
  DeleteMessageBatch), ``sqs:ChangeMessageVisibility`` (also its batch form),
  ``sqs:GetQueueAttributes`` on the queue.
- ``cloudwatch-reader`` (CloudWatch source): ``logs:FilterLogEvents`` and
  ``logs:DescribeLogStreams`` on the log group, and ``logs:DescribeLogGroups`` (for
  ``--group-prefix`` and ``doctor``; a list call, so its resource is every log group of the
  account and region, while the action list stays exact).
- ``subscriber`` (``pgaudit-parse subscribe``): ``logs:DescribeLogGroups`` (list call),
  ``logs:DescribeSubscriptionFilters`` and ``logs:PutSubscriptionFilter`` on the RDS log
  groups; for a Lambda destination ``lambda:GetPolicy`` and ``lambda:AddPermission`` on
  the function; for a Firehose destination ``iam:PassRole`` on the role CloudWatch Logs
  assumes.
- ``logs-to-firehose`` (that role: CloudWatch Logs puts subscription data into Firehose):
  ``firehose:PutRecord`` and ``firehose:PutRecordBatch`` on the delivery stream. Its trust
  policy names ``logs.amazonaws.com`` (:func:`trust_policy`).
- ``firehose-transform`` (the ``firehose_handler`` Lambda): ``firehose:PutRecordBatch`` on
  its delivery stream, to put back output over the response limit.
- ``subscription-handler`` (the ``subscription_handler`` Lambda): ``sqs:SendMessage`` and
  ``sqs:GetQueueAttributes`` on its queue (``QUEUE_NAME``) and records queue
  (``RECORDS_QUEUE``, ``--records-queue-arn``).
- ``rds-log-reader`` (``pgaudit-parse rds-logs``): ``rds:DescribeDBLogFiles`` and
  ``rds:DownloadDBLogFilePortion`` on the DB instance.
- ``rds-setup`` (``pgaudit-parse rds setup``): the RDS describe calls (read-only, on every
  instance, cluster and group: an Aurora cluster's members and the current group are read);
  creating and modifying the parameter group (``--parameter-group``, else any: the command
  picks the instance's own group), or copying the custom group it replaces;
  ``rds:ModifyDBInstance`` on the instance and ``rds:ModifyDBCluster`` (Aurora) to attach
  the group and export the log.
- ``doctor``: the read-only calls of its checks (log group, RDS, queue; a receive with a
  visibility timeout of 0). ``sts:GetCallerIdentity`` needs no permission.

Region and account come from ``--region``/``--account-id`` or the queue; the partition
(``aws``, ``aws-cn``, ``aws-us-gov``...) follows the region unless ``--partition`` is given.

>>> policy = build_policy("consumer", queue_arn="arn:aws:sqs:eu-west-1:123456789012:audit")
>>> policy["Statement"][0]["Action"]
['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage']
"""

from __future__ import annotations

import json
import re
from typing import Any

from pgaudit_parse.aws.naming import RDS_LOG_GROUP_PREFIX, log_group_name

__all__ = [
    "PARTITIONS",
    "check_arn",
    "filled_by",
    "lambda_name",
    "log_group_of",
    "partition_of",
    "region_and_account",
    "ROLES",
    "DEFAULT_LOG_GROUP",
    "DEFAULT_PARAMETER_NAME",
    "build_policy",
    "log_group_arns",
    "parameter_arn",
    "queue_arn_from_url",
    "placeholders_in",
    "render_policy",
    "trust_policy",
]

ROLES = ("forwarder", "consumer", "cloudwatch-reader", "subscriber", "logs-to-firehose",
         "firehose-transform", "subscription-handler", "rds-log-reader", "rds-setup", "doctor")
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f",
              "aws-eusc")
# Region name prefixes of the partitions other than aws (longest first).
_PARTITION_OF_PREFIX = (("us-isob-", "aws-iso-b"), ("us-isof-", "aws-iso-f"),
                        ("eu-isoe-", "aws-iso-e"), ("us-iso-", "aws-iso"),
                        ("us-gov-", "aws-us-gov"), ("cn-", "aws-cn"), ("eusc-", "aws-eusc"))
REGION_PLACEHOLDER = "REGION"
ACCOUNT_PLACEHOLDER = "ACCOUNT_ID"
DEFAULT_LOG_GROUP = log_group_name("INSTANCE_NAME")
DEFAULT_QUEUE_NAME = "QUEUE_NAME"
# The seed Lambda's checkpoint parameter, kept by our drop-in forwarder (PARAMETER_NAME).
DEFAULT_PARAMETER_NAME = "LastExecutionTimestamp"
_PLACEHOLDERS = (REGION_PLACEHOLDER, ACCOUNT_PLACEHOLDER, "INSTANCE_NAME", DEFAULT_QUEUE_NAME,
                 "FUNCTION_NAME", "STREAM_NAME", "ROLE_NAME")
_PARTITION = "|".join(re.escape(p) for p in PARTITIONS)
#: What each ARN option must look like (IAM refuses a policy naming anything else).
_ARN_FORMS = {
    "sqs": re.compile(rf"arn:(?:{_PARTITION}):sqs:[a-z0-9-]+:\d{{12}}:[A-Za-z0-9_-]{{1,80}}"
                      rf"(?:\.fifo)?"),
    "destination": re.compile(rf"arn:(?:{_PARTITION}):(?:lambda:[a-z0-9-]+:\d{{12}}:function:"
                              rf"[A-Za-z0-9_-]{{1,64}}(?::[A-Za-z0-9$_-]+)?|firehose:[a-z0-9-]+:"
                              rf"\d{{12}}:deliverystream/[A-Za-z0-9_.-]{{1,64}})"),
    "role": re.compile(rf"arn:(?:{_PARTITION}):iam::\d{{12}}:role/[\w+=,.@/-]{{1,512}}"),
}
_LOG_GROUP_ARN = re.compile(r"arn:[a-z-]+:logs:[a-z0-9-]*:\d{12}:log-group:(.+?)(?::\*)?")
_LOG_GROUP_NAME = re.compile(r"[.\-_/#A-Za-z0-9*]{1,512}")
_LAMBDA_ARN = re.compile(r"arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:([^:]+)(?::[^:]+)?")
_LAMBDA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RDS_IDENTIFIER = re.compile(r"[a-z](?:-?[a-z0-9])*|\*")


def partition_of(region: str | None) -> str:
    """The ARN partition of a region (``aws`` for a placeholder or an unknown region).

    >>> partition_of("cn-north-1"), partition_of("us-gov-west-1"), partition_of("eu-west-1")
    ('aws-cn', 'aws-us-gov', 'aws')
    """
    for prefix, partition in _PARTITION_OF_PREFIX:
        if region and region.startswith(prefix):
            return partition
    return "aws"


def check_arn(kind: str, arn: str, option: str) -> str:
    """``arn`` when it is a well-formed ARN of ``kind`` (``sqs``, ``destination`` (a Lambda
    function or Firehose stream), ``role``), else ValueError naming ``option``.

    >>> check_arn("sqs", "arn:aws:sqs:eu-west-1:123456789012:audit", "--queue-arn")
    'arn:aws:sqs:eu-west-1:123456789012:audit'
    """
    if not _ARN_FORMS[kind].fullmatch(arn):
        example = {"sqs": "arn:aws:sqs:REGION:ACCOUNT:QUEUE",
                   "destination": "arn:aws:lambda:REGION:ACCOUNT:function:NAME or "
                                  "arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME",
                   "role": "arn:aws:iam::ACCOUNT:role/NAME"}[kind]
        raise ValueError(f"{option}: not a well-formed ARN: {arn!r} (expected {example})")
    return arn


def log_group_of(text: str) -> str:
    """A log group name, given as its name or its ARN (ValueError when neither).

    >>> log_group_of("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/rds/x/postgresql:*")
    '/aws/rds/x/postgresql'
    """
    found = _LOG_GROUP_ARN.fullmatch(text)
    name = found.group(1) if found else text
    if not _LOG_GROUP_NAME.fullmatch(name):
        raise ValueError(f"--log-group: not a log group name: {text!r} (letters, digits and "
                         f"_ - / . #, e.g. /aws/rds/instance/db1/postgresql)")
    return name


def lambda_name(text: str) -> str:
    """A Lambda function name, given as its name or its ARN (ValueError when neither).

    >>> lambda_name("arn:aws:lambda:eu-west-1:123456789012:function:export-rds:live")
    'export-rds'
    """
    found = _LAMBDA_ARN.fullmatch(text)
    name = found.group(1) if found else text
    if not _LAMBDA_NAME.fullmatch(name):
        raise ValueError(f"--lambda-function: not a function name or ARN: {text!r}")
    return name


def _rds_identifier(text: str, option: str) -> str:
    lowered = text.strip().lower()  # RDS stores identifiers in lower case
    if len(lowered) > 255 or not _RDS_IDENTIFIER.fullmatch(lowered):
        raise ValueError(f"{option}: not an RDS identifier: {text!r} (letters, digits and "
                         f"single hyphens, starting with a letter)")
    return lowered


def log_group_arns(name: str, region: str, account: str, partition: str = "aws") -> list[str]:
    """The two ARN forms IAM matches a log group by (bare and with the ``:*`` suffix).

    >>> log_group_arns("/aws/rds/instance/db1/postgresql", "eu-west-1", "123456789012")[1]
    'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/rds/instance/db1/postgresql:*'
    """
    base = f"arn:{partition}:logs:{region}:{account}:log-group:{name}"
    return [base, base + ":*"]


def parameter_arn(name: str, region: str, account: str, partition: str = "aws") -> str:
    """The SSM parameter ARN (a name starting with ``/`` is a path and keeps its slash).

    >>> parameter_arn("/pgaudit/checkpoint", "eu-west-1", "123456789012")
    'arn:aws:ssm:eu-west-1:123456789012:parameter/pgaudit/checkpoint'
    """
    return f"arn:{partition}:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def queue_arn_from_url(url: str, region: str | None = None, partition: str | None = None,
                       ) -> str:
    """Turn an SQS queue URL into its ARN (the region comes from the host when it names one).

    >>> queue_arn_from_url("https://sqs.eu-west-1.amazonaws.com/123456789012/audit")
    'arn:aws:sqs:eu-west-1:123456789012:audit'
    """
    match = re.match(r"^https?://([^/]+)/(\d{12})/([^/?#]+)/?$", url)
    if not match:
        raise ValueError(f"not an SQS queue URL (https://HOST/ACCOUNT/NAME): {url}")
    host, account, name = match.groups()
    named = re.match(r"^(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d)\.", host)
    region = named.group(1) if named else (region or REGION_PLACEHOLDER)
    partition = partition or partition_of(region)
    return check_arn("sqs", f"arn:{partition}:sqs:{region}:{account}:{name}", "--queue-url")


def region_and_account(arn: str) -> tuple[str | None, str | None]:
    """The region and account an ARN names (None for a placeholder or a missing part).

    >>> region_and_account("arn:aws:sqs:eu-west-1:123456789012:audit")
    ('eu-west-1', '123456789012')
    >>> region_and_account("arn:aws:sqs:REGION:123456789012:audit")
    (None, '123456789012')
    """
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None, None
    region, account = parts[3], parts[4]
    return (region if region and region != REGION_PLACEHOLDER else None,
            account if account and account != ACCOUNT_PLACEHOLDER else None)


def _statement(sid: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}


def build_policy(
    role: str,
    *,
    log_group: str | None = None,
    queue_arn: str | None = None,
    parameter_name: str = DEFAULT_PARAMETER_NAME,
    lambda_function: str | None = None,
    destination_arn: str | None = None,
    role_arn: str | None = None,
    region: str | None = None,
    account_id: str | None = None,
    partition: str | None = None,
    instance: str | None = None,
    records_queue_arn: str | None = None,
    parameter_group: str | None = None,
) -> dict[str, Any]:
    """The IAM policy document for ``role`` (one of :data:`ROLES`), or ValueError naming
    the option whose value would make a malformed policy.

    ``lambda_function`` adds what a Lambda needs to write its own logs
    (``logs:CreateLogGroup``, ``logs:CreateLogStream``, ``logs:PutLogEvents`` on
    ``/aws/lambda/NAME``). ``partition`` defaults to the region's.

    >>> build_policy("cloudwatch-reader", log_group="/g", region="us-east-1",
    ...              account_id="123456789012")["Statement"][1]["Resource"]
    ['arn:aws:logs:us-east-1:123456789012:log-group:*']
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    partition = partition or partition_of(region)
    if partition not in PARTITIONS:
        raise ValueError(f"--partition: unknown partition {partition!r}; expected one of "
                         f"{', '.join(PARTITIONS)}")
    region = region or REGION_PLACEHOLDER
    account = account_id or ACCOUNT_PLACEHOLDER
    db = _rds_identifier(instance, "--instance") if instance else "INSTANCE_NAME"
    group = log_group_of(log_group) if log_group else (
        log_group_name(db) if instance else DEFAULT_LOG_GROUP)
    queue = (check_arn("sqs", queue_arn, "--queue-arn") if queue_arn
             else f"arn:{partition}:sqs:{region}:{account}:{DEFAULT_QUEUE_NAME}")
    if records_queue_arn:
        check_arn("sqs", records_queue_arn, "--records-queue-arn")
    if destination_arn:
        check_arn("destination", destination_arn, "--destination-arn")
    if role_arn:
        check_arn("role", role_arn, "--role-arn")
    if lambda_function:
        lambda_function = lambda_name(lambda_function)
    pg = _rds_identifier(parameter_group, "--parameter-group") if parameter_group else "*"
    rds = f"arn:{partition}:rds:{region}:{account}"
    statements: list[dict[str, Any]]
    if role == "forwarder":
        statements = [
            _statement("ReadRdsLogGroup", ["logs:FilterLogEvents", "logs:DescribeLogStreams"],
                       log_group_arns(group, region, account, partition)),
            _statement("KeepCheckpoint", ["ssm:GetParameter", "ssm:PutParameter"],
                       [parameter_arn(parameter_name, region, account, partition)]),
            _statement("SendToQueue", ["sqs:SendMessage", "sqs:GetQueueAttributes"], [queue]),
        ]
    elif role == "consumer":
        statements = [
            _statement(
                "ConsumeQueue",
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                 "sqs:GetQueueAttributes"],
                [queue],
            ),
        ]
    elif role == "subscriber":
        rds_groups = log_group_arns(f"{RDS_LOG_GROUP_PREFIX}*", region, account, partition)
        destination = destination_arn or (
            f"arn:{partition}:lambda:{region}:{account}:function:FUNCTION_NAME")
        statements = [
            _statement("FindLogGroups", ["logs:DescribeLogGroups"],
                       [f"arn:{partition}:logs:{region}:{account}:log-group:*"]),
            _statement("SubscribeRdsLogGroups",
                       ["logs:DescribeSubscriptionFilters", "logs:PutSubscriptionFilter"],
                       rds_groups),
        ]
        if ":firehose:" in destination:
            statements.append(_statement(
                "PassRoleToCloudWatchLogs", ["iam:PassRole"],
                [role_arn or f"arn:{partition}:iam::{account}:role/ROLE_NAME"]))
        else:
            statements.append(_statement("LetCloudWatchLogsInvoke",
                                         ["lambda:GetPolicy", "lambda:AddPermission"],
                                         [destination]))
    elif role in ("logs-to-firehose", "firehose-transform"):
        stream = destination_arn or (
            f"arn:{partition}:firehose:{region}:{account}:deliverystream/STREAM_NAME")
        actions = ["firehose:PutRecord", "firehose:PutRecordBatch"] \
            if role == "logs-to-firehose" else ["firehose:PutRecordBatch"]
        statements = [_statement("PutIntoDeliveryStream", actions, [stream])]
    elif role == "subscription-handler":
        statements = [_statement("SendToQueues", ["sqs:SendMessage", "sqs:GetQueueAttributes"],
                                 [queue] + ([records_queue_arn] if records_queue_arn else []))]
    elif role == "rds-log-reader":
        statements = [_statement("ReadRdsLogFiles",
                                 ["rds:DescribeDBLogFiles", "rds:DownloadDBLogFilePortion"],
                                 [f"{rds}:db:{db}"])]
    elif role == "rds-setup":
        statements = [
            # Read-only: the instance, its cluster's members, the current and new groups.
            _statement("ReadRdsSetup", [*_RDS_DESCRIBE, "rds:DescribeDBParameterGroups",
                                        "rds:DescribeDBClusterParameterGroups"],
                       [f"{rds}:db:*", f"{rds}:cluster:*", f"{rds}:pg:*", f"{rds}:cluster-pg:*"]),
            _statement("WriteParameterGroup",
                       ["rds:CreateDBParameterGroup", "rds:ModifyDBParameterGroup",
                        "rds:CreateDBClusterParameterGroup", "rds:ModifyDBClusterParameterGroup"],
                       [f"{rds}:pg:{pg}", f"{rds}:cluster-pg:{pg}"]),
            # A new group replacing a custom one is its copy (both groups are resources).
            _statement("CopyCustomGroup",
                       ["rds:CopyDBParameterGroup", "rds:CopyDBClusterParameterGroup"],
                       [f"{rds}:pg:*", f"{rds}:cluster-pg:*"]),
            # Attach the group and export the log (the group is a resource of the call too).
            _statement("AttachGroupAndExportLog", ["rds:ModifyDBInstance"],
                       [f"{rds}:db:{db}", f"{rds}:pg:{pg}"]),
            _statement("AttachClusterGroupAndExportLog", ["rds:ModifyDBCluster"],
                       [f"{rds}:cluster:*", f"{rds}:cluster-pg:{pg}"]),
        ]
    elif role == "doctor":
        statements = [
            _statement("FindLogGroups", ["logs:DescribeLogGroups"],
                       [f"arn:{partition}:logs:{region}:{account}:log-group:*"]),
            _statement("ReadLogGroup",
                       ["logs:FilterLogEvents", "logs:DescribeSubscriptionFilters"],
                       log_group_arns(group, region, account, partition)),
            _statement("ReadRdsSettings", list(_RDS_DESCRIBE),
                       [f"{rds}:db:*", f"{rds}:cluster:*", f"{rds}:pg:*", f"{rds}:cluster-pg:*"]),
            _statement("ReadQueue", ["sqs:GetQueueAttributes", "sqs:ReceiveMessage"], [queue]),
        ]
    else:
        statements = [
            _statement("ReadRdsLogGroup", ["logs:FilterLogEvents", "logs:DescribeLogStreams"],
                       log_group_arns(group, region, account, partition)),
            # DescribeLogGroups is a list call: IAM authorizes it on the account's groups.
            _statement("FindLogGroups", ["logs:DescribeLogGroups"],
                       [f"arn:{partition}:logs:{region}:{account}:log-group:*"]),
        ]
    if lambda_function:
        statements.append(_statement(
            "WriteOwnLambdaLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            log_group_arns(f"/aws/lambda/{lambda_function}", region, account, partition),
        ))
    return {"Version": "2012-10-17", "Statement": statements}


_RDS_DESCRIBE = ("rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:DescribeDBParameters",
                 "rds:DescribeDBClusterParameters")


def placeholders_in(policy: dict[str, Any]) -> list[str]:
    """The placeholders left in a policy's resources, in a stable order.

    >>> placeholders_in(build_policy("consumer"))
    ['REGION', 'ACCOUNT_ID', 'QUEUE_NAME']
    """
    text = json.dumps(policy)
    return [p for p in _PLACEHOLDERS if re.search(rf"\b{p}\b", text)]


#: The option that fills each placeholder (INSTANCE_NAME: --instance for the RDS roles).
_FILLED_BY = {REGION_PLACEHOLDER: "--region", ACCOUNT_PLACEHOLDER: "--account-id",
              "INSTANCE_NAME": "--log-group", DEFAULT_QUEUE_NAME: "--queue-arn",
              "FUNCTION_NAME": "--destination-arn", "STREAM_NAME": "--destination-arn",
              "ROLE_NAME": "--role-arn"}


def filled_by(role: str, placeholders: list[str]) -> list[str]:
    """The options that replace ``placeholders`` in the policy of ``role``, in order.

    >>> filled_by("rds-setup", ["REGION", "INSTANCE_NAME"])
    ['--region', '--instance']
    """
    options = []
    for placeholder in placeholders:
        option = _FILLED_BY[placeholder]
        if placeholder == "INSTANCE_NAME" and role in ("rds-log-reader", "rds-setup", "doctor"):
            option = "--instance"
        if option not in options:
            options.append(option)
    return options


def trust_policy(service: str = "logs.amazonaws.com", account_id: str | None = None,
                 ) -> dict[str, Any]:
    """The trust policy of a role a service assumes (``logs-to-firehose``: CloudWatch Logs),
    limited to the account's own resources when ``account_id`` is given.

    >>> trust_policy()["Statement"][0]["Principal"]
    {'Service': 'logs.amazonaws.com'}
    """
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service},
                                 "Action": "sts:AssumeRole"}
    if account_id:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def render_policy(policy: dict[str, Any]) -> str:
    """The policy as indented JSON, ready for ``aws iam create-policy --policy-document``."""
    return json.dumps(policy, indent=2) + "\n"
