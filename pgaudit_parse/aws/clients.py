"""boto3 clients with the endpoint, region and retry settings every AWS path shares.

Throttling and 5xx answers are retried by botocore with exponential backoff (retry mode
``adaptive`` by default, which also slows the client down when AWS throttles it); the
standard variables ``AWS_RETRY_MODE`` and ``AWS_MAX_ATTEMPTS`` override mode and attempts.
``endpoint_url`` (or ``AWS_ENDPOINT_URL``) points every client at an emulator or a VPC
endpoint.

>>> settings = AwsSettings(region="eu-west-1", endpoint_url="http://127.0.0.1:5000")
>>> settings.region
'eu-west-1'
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

from .errors import AwsSetupError

__all__ = ["AwsSettings", "add_aws_arguments", "settings_from", "make_session", "make_client",
           "region_of", "retry_config"]

_DEFAULT_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """Where to talk to AWS; ``None`` lets boto3's usual chain decide (env, profile...)."""

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None


def retry_config() -> Any:
    """The botocore ``Config`` used by every client: retries, timeouts, pool size.

    >>> retry_config().retries["mode"] in ("adaptive", "standard", "legacy")
    True
    """
    from botocore.config import Config

    mode = os.environ.get("AWS_RETRY_MODE", "adaptive")
    try:
        attempts = int(os.environ.get("AWS_MAX_ATTEMPTS", _DEFAULT_ATTEMPTS))
    except ValueError:
        attempts = _DEFAULT_ATTEMPTS
    return Config(
        retries={"mode": mode, "total_max_attempts": max(1, attempts)},
        connect_timeout=10,
        read_timeout=70,  # above SQS's 20 s long poll and CloudWatch's slow filters
        max_pool_connections=16,
    )


def add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    """``--endpoint-url``, ``--region`` and ``--profile``, shared by every AWS command."""
    group = parser.add_argument_group("AWS")
    group.add_argument("--endpoint-url", metavar="URL",
                       help="AWS endpoint (VPC endpoint, emulator); default: AWS_ENDPOINT_URL "
                            "or the public one")
    group.add_argument("--region", metavar="REGION",
                       help="AWS region (default: AWS_REGION/profile)")
    group.add_argument("--profile", metavar="NAME",
                       help="named profile from the shared AWS config (default: boto3's chain)")


def settings_from(args: argparse.Namespace) -> AwsSettings:
    """The :class:`AwsSettings` of arguments added by :func:`add_aws_arguments`."""
    return AwsSettings(region=getattr(args, "region", None),
                       endpoint_url=getattr(args, "endpoint_url", None),
                       profile=getattr(args, "profile", None))


def make_session(settings: AwsSettings) -> Any:
    """A boto3 ``Session`` for the settings (profile, region), or :class:`AwsSetupError`."""
    try:
        import boto3
        import botocore.exceptions
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise AwsSetupError(
            "boto3 is not installed: install the AWS extra with "
            "`pip install 'pgaudit-parse[aws]'`") from exc
    try:
        return boto3.session.Session(profile_name=settings.profile,
                                     region_name=settings.region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise AwsSetupError(_profile_not_found(settings, exc)) from exc


def _profile_not_found(settings: AwsSettings, exc: Exception) -> str:
    """Name the profile that was asked for, and where it came from (--profile or the
    environment), never "None"."""
    if settings.profile:
        return f"profile {settings.profile!r} not found in the AWS config"
    variable = "AWS_PROFILE" if os.environ.get("AWS_PROFILE") else "AWS_DEFAULT_PROFILE"
    name = (getattr(exc, "kwargs", {}) or {}).get("profile") or os.environ.get(variable)
    return (f"profile {name!r} (from {variable}) not found in the AWS config: check "
            f"`aws configure list-profiles`, or unset {variable}")


def region_of(settings: AwsSettings, session: Any) -> str | None:
    """The region every command uses: ``--region``, else the session's (AWS_DEFAULT_REGION
    or the profile), else ``AWS_REGION`` (botocore ignores it; Lambda and many tools set it).

    >>> region_of(AwsSettings(region="eu-west-1"), None)
    'eu-west-1'
    """
    return (settings.region or getattr(session, "region_name", None)
            or os.environ.get("AWS_REGION") or None)


def make_client(service: str, settings: AwsSettings, session: Any = None) -> Any:
    """A boto3 client for ``service`` ("logs", "sqs", "ssm", "rds"...), or
    :class:`AwsSetupError`; pass ``session`` to share one between clients.

    >>> make_client("sqs", AwsSettings(region="us-east-1")).meta.region_name
    'us-east-1'
    """
    from botocore.exceptions import InvalidRegionError, NoRegionError, ProfileNotFound

    session = session if session is not None else make_session(settings)
    endpoint = settings.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    try:
        region = region_of(settings, session)
    except ProfileNotFound as exc:
        raise AwsSetupError(_profile_not_found(settings, exc)) from exc
    if not region:
        raise AwsSetupError("no AWS region: pass --region or set AWS_REGION")
    try:
        return session.client(service, region_name=region, endpoint_url=endpoint,
                              config=retry_config())
    except ProfileNotFound as exc:
        raise AwsSetupError(_profile_not_found(settings, exc)) from exc
    except NoRegionError as exc:  # pragma: no cover - region checked above
        raise AwsSetupError("no AWS region: pass --region or set AWS_REGION") from exc
    except InvalidRegionError as exc:  # (a ValueError, but the endpoint is not at fault)
        where = "--region" if settings.region else "AWS_REGION/AWS_DEFAULT_REGION/profile"
        raise AwsSetupError(f"invalid region {region!r} (from {where}): a region name is "
                            f"like eu-west-1") from exc
    except ValueError as exc:
        raise AwsSetupError(f"invalid --endpoint-url {endpoint!r}: {exc}") from exc
