"""Throttling and 5xx answers are retried with backoff.

A small HTTP relay on 127.0.0.1 sits between the CLI and the emulator and answers one
request in three itself, with AWS's throttling error or a 503, as AWS does under load;
the rest it relays to moto. The command (default retry mode: adaptive) must still deliver
every event.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aws_harness import REPO, Aws, read_jsonl
from aws_logdata import BASE_MS, audit_line, statements

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class _Relay(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _RelayHandler)
        self.target = target
        self.counter = itertools.count()
        self.refused = {"throttled": 0, "unavailable": 0}
        self.lock = threading.Lock()


class _RelayHandler(BaseHTTPRequestHandler):
    server: _Relay

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            n = next(self.server.counter)
        if n % 6 == 1:
            self._answer(400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}',
                         "throttled")
            return
        if n % 6 == 4:
            self._answer(503, b"Service Unavailable", "unavailable")
            return
        request = urllib.request.Request(self.server.target + self.path, data=body,
                                         method="POST")
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, error.headers, error.read()
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _answer(self, status: int, payload: bytes, kind: str) -> None:
        with self.server.lock:
            self.server.refused[kind] += 1
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def relay(aws: Aws) -> Iterator[_Relay]:
    server = _Relay(aws.endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_cloudwatch_survives_throttling_and_503(aws: Aws, relay: _Relay,
                                                tmp_path: Path) -> None:
    group = aws.log_group(aws.unique("/aws/rds/instance/throttle") + "/postgresql", ["s"])
    aws.put(group, "s", [(BASE_MS + n * 100, audit_line(BASE_MS, 4, n))
                         for n in range(120)])
    out = tmp_path / "out.jsonl"
    host, port = relay.server_address[:2]
    argv = aws.argv("cloudwatch", "--log-group", group, "--from-beginning", "--page-size",
                    "40", "--format", "events", "--output", str(out))
    argv[-1] = f"http://{host}:{port}"  # --endpoint-url: the relay, not moto itself
    result = subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=REPO,
                            env=aws.env(AWS_MAX_ATTEMPTS="6"))
    assert result.returncode == 0, result.stderr
    assert statements(read_jsonl(out)) == {n: 1 for n in range(120)}
    assert relay.refused["throttled"] > 0 and relay.refused["unavailable"] > 0
