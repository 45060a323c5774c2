"""boto3 sessions and clients for the AWS-facing ops commands.

Every command takes ``--endpoint-url``, ``--region`` and ``--profile`` on top of the usual
boto3 credential chain (environment, shared config/profile, instance or task role). The
clients are made by :mod:`pgaudit_parse.aws.clients`, as for the CloudWatch and SQS
paths; a session is shared between the clients of one command.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_aws_arguments(parser)
>>> parser.parse_args(["--region", "eu-west-1"]).region
'eu-west-1'
"""

from __future__ import annotations

from typing import Any

from pgaudit_parse.aws.clients import AwsSettings, add_aws_arguments, make_client, make_session
from pgaudit_parse.aws.clients import settings_from as aws_options

__all__ = ["AwsOptions", "add_aws_arguments", "aws_options", "make_session", "client"]

#: The operations commands use the AWS commands' settings (endpoint, region, profile).
AwsOptions = AwsSettings


def client(session: Any, service: str, options: AwsSettings) -> Any:
    """A boto3 client for ``service`` from a shared ``session`` (see ``make_client``)."""
    return make_client(service, options, session)
