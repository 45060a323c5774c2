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

import os
from dataclasses import dataclass
from typing import Any

from .errors import AwsSetupError

__all__ = ["AwsSettings", "make_client", "retry_config"]

_DEFAULT_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """Where to talk to AWS; ``None`` lets boto3's usual chain decide (env, profile...)."""

    region: str | None = None
    endpoint_url: str | None = None


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


def make_client(service: str, settings: AwsSettings) -> Any:
    """A boto3 client for ``service`` ("logs", "sqs", "ssm"), or :class:`AwsSetupError`.

    >>> make_client("sqs", AwsSettings(region="us-east-1")).meta.region_name
    'us-east-1'
    """
    try:
        import boto3
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise AwsSetupError(
            "boto3 is not installed: install the AWS extra with "
            "`pip install 'pgaudit-parse[aws]'`") from exc
    from botocore.exceptions import NoRegionError

    endpoint = settings.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    session = boto3.session.Session()
    region = settings.region or session.region_name
    if not region:
        raise AwsSetupError("no AWS region: pass --region or set AWS_REGION")
    try:
        return session.client(service, region_name=region, endpoint_url=endpoint,
                              config=retry_config())
    except NoRegionError as exc:  # pragma: no cover - region checked above
        raise AwsSetupError("no AWS region: pass --region or set AWS_REGION") from exc
    except ValueError as exc:
        raise AwsSetupError(f"invalid --endpoint-url {endpoint!r}: {exc}") from exc
