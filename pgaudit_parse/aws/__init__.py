"""The AWS paths (extra ``pgaudit-parse[aws]``, needs boto3): CloudWatch Logs, SQS, forwarder.

* :mod:`~pgaudit_parse.aws.cloudwatch`: read log groups with FilterLogEvents, checkpointed.
* :mod:`~pgaudit_parse.aws.sqs`: consume queues (competing consumers, delete after write).
* :mod:`~pgaudit_parse.aws.forwarder`: CloudWatch -> SQS, checkpointed in an SSM parameter.
* :mod:`~pgaudit_parse.aws.messages`: the forwarder's JSON message format and the seed's.
* :mod:`pgaudit_parse.cli.aws`: the ``cloudwatch``, ``sqs`` and ``forward`` command shells.
* :mod:`pgaudit_parse.aws_lambda`: the Lambda handlers.
* :mod:`~pgaudit_parse.aws.naming`: RDS log group names (no boto3 needed).

Names are imported when first used, so ``pgaudit_parse.aws.naming`` works without boto3.

>>> from pgaudit_parse.aws import instance_from_log_group
>>> instance_from_log_group("/aws/rds/instance/db1/postgresql")
'db1'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and the import-graph test
    from .checkpoint import Checkpoint, CheckpointFile, ParameterCheckpoint
    from .clients import AwsSettings, make_client
    from .cloudwatch import CloudWatchReader
    from .errors import AwsSetupError, explain
    from .forwarder import Forwarder, ForwardResult
    from .messages import MessagePacker, decode_body
    from .naming import instance_for_stream, instance_from_log_group, log_group_name
    from .sqs import SqsConsumer, SqsSource

#: Public name -> the module that defines it. Imported on first use, so that the
#: boto3-free modules (naming) load without the aws extra.
_EXPORTS = {
    "AwsSettings": "clients",
    "AwsSetupError": "errors",
    "Checkpoint": "checkpoint",
    "CheckpointFile": "checkpoint",
    "CloudWatchReader": "cloudwatch",
    "ForwardResult": "forwarder",
    "Forwarder": "forwarder",
    "MessagePacker": "messages",
    "ParameterCheckpoint": "checkpoint",
    "SqsConsumer": "sqs",
    "SqsSource": "sqs",
    "decode_body": "messages",
    "explain": "errors",
    "instance_for_stream": "naming",
    "instance_from_log_group": "naming",
    "log_group_name": "naming",
    "make_client": "clients",
}

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
    "SqsSource",
    "decode_body",
    "explain",
    "instance_for_stream",
    "instance_from_log_group",
    "log_group_name",
    "make_client",
]
assert sorted(__all__) == sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
