"""boto3 sessions and clients for the AWS-facing ops commands.

Every command takes ``--endpoint-url``, ``--region`` and ``--profile`` on top of the usual
boto3 credential chain (environment, shared config/profile, instance or task role). The
clients share :func:`pgaudit_parse.aws.clients.retry_config` with the CloudWatch and SQS
paths; a session is made here because those paths take no ``--profile`` (yet).

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_aws_arguments(parser)
>>> parser.parse_args(["--region", "eu-west-1"]).region
'eu-west-1'
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

from pgaudit_parse.aws.clients import retry_config
from pgaudit_parse.aws.errors import AwsSetupError

__all__ = ["AwsOptions", "add_aws_arguments", "aws_options", "make_session", "client"]


@dataclass(frozen=True, slots=True)
class AwsOptions:
    """Where and as whom to talk to AWS; ``None`` means "let boto3 decide".

    >>> AwsOptions(region="eu-west-1").endpoint_url is None
    True
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


def add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--endpoint-url``, ``--region`` and ``--profile`` to an argparse parser."""
    group = parser.add_argument_group("AWS")
    group.add_argument(
        "--endpoint-url",
        help="AWS endpoint to talk to (e.g. an emulator on http://127.0.0.1:5000)",
    )
    group.add_argument("--region", help="AWS region (default: the boto3 chain's)")
    group.add_argument("--profile", help="named profile from the shared AWS config")


def aws_options(args: argparse.Namespace) -> AwsOptions:
    """The :class:`AwsOptions` from arguments added by :func:`add_aws_arguments`."""
    return AwsOptions(
        region=getattr(args, "region", None),
        profile=getattr(args, "profile", None),
        endpoint_url=getattr(args, "endpoint_url", None),
    )


def make_session(options: AwsOptions) -> Any:
    """A boto3 ``Session`` for the options; raises :class:`AwsSetupError` when boto3 is missing
    or the profile does not exist."""
    try:
        import boto3
        import botocore.exceptions
    except ImportError as exc:  # the [aws] extra is optional
        raise AwsSetupError("boto3 is not installed: pip install 'pgaudit-parse[aws]'") from exc
    try:
        return boto3.session.Session(profile_name=options.profile, region_name=options.region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise AwsSetupError(f"profile {options.profile!r} not found in the AWS config") from exc


def client(session: Any, service: str, options: AwsOptions) -> Any:
    """A boto3 client for ``service``, honouring the endpoint URL (``--endpoint-url``, else
    ``AWS_ENDPOINT_URL``); raises :class:`AwsSetupError` when no region is configured."""
    import botocore.exceptions

    endpoint = options.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    try:
        return session.client(service, endpoint_url=endpoint, config=retry_config())
    except ValueError as exc:
        raise AwsSetupError(f"invalid --endpoint-url {endpoint!r}: {exc}") from exc
    except botocore.exceptions.NoRegionError as exc:
        raise AwsSetupError("no AWS region: pass --region or set AWS_REGION") from exc
