"""AWS tests: one moto server (real HTTP on 127.0.0.1) for the session, dummy credentials.

Every test talks to the emulator through boto3 and the real CLI, never to a fake client.
Names are unique per test (``aws.unique("q")``), so tests share the server without
resetting it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_harness import AWS_ENV, REGION, Aws
from moto.server import ThreadedMotoServer


@pytest.fixture(autouse=True)
def aws_test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test (and the library code it calls in-process) sees only dummy credentials."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto server started for this test session."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def aws(moto_endpoint: str) -> Aws:
    """Clients for the session's emulator."""
    def client(service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION).client(service, endpoint_url=moto_endpoint)

    return Aws(moto_endpoint, client("logs"), client("sqs"), client("ssm"))
