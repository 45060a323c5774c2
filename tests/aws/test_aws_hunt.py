"""Defects found by the AWS defect hunt: each test failed before its fix.

Credentials in URLs, undecodable subscription payloads, fsync failures before an
acknowledgement, and held messages across RDS polls.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from aws_harness import Aws

SECRET = "hunter2-Pa55"


@pytest.mark.parametrize("endpoint", [
    f"http://bob:{SECRET}@127.0.0.1:1",  # nothing listens: cannot reach
    f"http://bob:{SECRET}@[::1",  # not a URL
    f"http://bob:{SECRET}@127.0.0.1:99999",  # port out of range
])
def test_endpoint_password_never_in_errors(aws: Aws, endpoint: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pgaudit_parse", "sqs", "--queue-url",
         "http://127.0.0.1:1/123456789012/q", "--endpoint-url", endpoint],
        capture_output=True, text=True, timeout=120, env=aws.env())
    assert run.returncode == 2, run.stderr
    assert SECRET not in run.stderr and SECRET not in run.stdout
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_queue_url_password_never_in_errors(aws: Aws) -> None:
    run = aws.cli("sqs", "--queue-url",
                  f"http://alice:{SECRET}@127.0.0.1:1/123456789012/q")
    assert run.returncode == 2, run.stderr
    assert SECRET not in run.stderr, run.stderr
    assert "127.0.0.1:1/123456789012/q" in run.stderr  # still says which queue


def test_explain_and_setup_error_hide_url_credentials() -> None:
    from botocore.exceptions import EndpointConnectionError

    from pgaudit_parse.aws.errors import AwsSetupError, explain

    exc = EndpointConnectionError(endpoint_url=f"https://u:{SECRET}@sqs.example/")
    line = explain(exc, f"sending to queue https://u:{SECRET}@sqs.example/1/q")
    assert SECRET not in line and "sqs.example/1/q" in line
    assert SECRET not in str(AwsSetupError(f"bad url 'http://x:{SECRET}@h'"))
