"""The AWS paths (extra ``pgaudit-parse[aws]``, needs boto3): CloudWatch Logs, SQS, forwarder.

* :mod:`~pgaudit_parse.aws.cloudwatch`: read log groups with FilterLogEvents, checkpointed.
* :mod:`~pgaudit_parse.aws.sqs`: consume queues (competing consumers, delete after write).
* :mod:`~pgaudit_parse.aws.forwarder`: CloudWatch -> SQS, checkpointed in an SSM parameter.
* :mod:`~pgaudit_parse.aws.messages`: the forwarder's JSON message format and the seed's.
* :mod:`pgaudit_parse.cli.aws`: the ``cloudwatch``, ``sqs`` and ``forward`` command shells.
* :mod:`pgaudit_parse.aws_lambda`: the Lambda handlers.

>>> from pgaudit_parse.aws import instance_from_log_group
>>> instance_from_log_group("/aws/rds/instance/db1/postgresql")
'db1'
"""

from __future__ import annotations

from .checkpoint import Checkpoint, CheckpointFile, ParameterCheckpoint
from .clients import AwsSettings, make_client
from .cloudwatch import CloudWatchReader
from .errors import AwsSetupError, explain
from .forwarder import Forwarder, ForwardResult
from .messages import MessagePacker, decode_body
from .naming import instance_for_stream, instance_from_log_group
from .sqs import SqsConsumer

__all__ = [
    "AwsSettings",
    "AwsSetupError",
    "Checkpoint",
    "CheckpointFile",
    "CloudWatchReader",
    "ForwardResult",
    "Forwarder",
    "MessagePacker",
    "ParameterCheckpoint",
    "SqsConsumer",
    "decode_body",
    "explain",
    "instance_for_stream",
    "instance_from_log_group",
    "make_client",
]
