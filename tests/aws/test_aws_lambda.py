"""The Lambda handlers, invoked as Python functions against the emulator, and the zip."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from aws_harness import REPO, Aws, drain_bodies
from aws_logdata import BASE_MS, audit_line, error_lines

from pgaudit_parse.aws.cloudwatch import now_ms
from pgaudit_parse.aws.messages import decode_body
from pgaudit_parse.aws_lambda import forward_handler, subscription_handler


class LambdaContext:
    """The part of AWS Lambda's context object the handlers use."""

    def __init__(self, remaining_ms: int = 300_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _subscription_event(group: str, stream: str, events: list[tuple[str, int, str]]) -> dict:
    """What CloudWatch Logs hands a subscription filter's Lambda (documented format)."""
    document = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
                "logStream": stream, "subscriptionFilters": ["pgaudit"],
                "logEvents": [{"id": i, "timestamp": ts, "message": m} for i, ts, m in events]}
    data = base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()
    return {"awslogs": {"data": data}}


def test_forward_handler_is_a_drop_in(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's environment variables; two invocations forward every event once."""
    group = aws.log_group(aws.unique("/aws/rds/instance/lambda") + "/postgresql", ["db"])
    url = aws.queue(aws.unique("lambda"))
    parameter = aws.unique("LastExecutionTimestamp")
    now = now_ms()
    aws.put(group, "db", [(now - 120_000 + n, audit_line(now, 1, n)) for n in range(40)])
    monkeypatch.setenv("GROUP_NAME", group)
    monkeypatch.setenv("QUEUE_NAME", url)
    monkeypatch.setenv("PARAMETER_NAME", parameter)
    monkeypatch.setenv("ENABLE_DEBUG", "True")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("LAG_SECONDS", "0")
    first = forward_handler({}, LambdaContext())
    assert first["events"] == 40 and first["complete"]
    aws.put(group, "db", [(now - 60_000 + n, audit_line(now, 1, 100 + n)) for n in range(5)])
    second = forward_handler({}, LambdaContext())
    assert second["events"] == 5
    events = [line.text for body in drain_bodies(aws, url) for line in decode_body(body, "q")[1]]
    assert sorted(events) == sorted(
        [audit_line(now, 1, n) for n in range(40)] + [audit_line(now, 1, 100 + n)
                                                      for n in range(5)])
    # Out of time: the handler stops before starting a slice and keeps its checkpoint.
    stopped = forward_handler({}, LambdaContext(remaining_ms=1000))
    assert stopped["events"] == 0 and not stopped["complete"]


def test_subscription_handler(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """A subscription payload goes to the queue as forwarder messages and, with
    RECORDS_QUEUE, as Guardium records named after the instance."""
    group = "/aws/rds/instance/subdb/postgresql"
    events_url = aws.queue(aws.unique("sub-events"))
    records_url = aws.queue(aws.unique("sub-records"))
    lines = [audit_line(BASE_MS, 8, 1), *error_lines(BASE_MS, 8, 2), audit_line(BASE_MS, 8, 3)]
    payload = _subscription_event(group, "subdb", [(str(100 + i), BASE_MS, line)
                                                   for i, line in enumerate(lines)])
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("QUEUE_NAME", events_url)
    monkeypatch.setenv("RECORDS_QUEUE", records_url)
    result = subscription_handler(payload, LambdaContext())
    assert result == {"events": 5, "messages": 1, "records": 3, "rejects": 0}
    [body] = drain_bodies(aws, events_url)
    body_group, body_lines = decode_body(body, "q")
    assert body_group == group
    assert [line.text for line in body_lines] == lines
    records = [json.loads(b) for b in drain_bodies(aws, records_url)]
    assert sorted(r["data"]["originalSqlCommand"] if r["data"] else r["exception"]["sqlString"]
                  for r in records) == ["select *\nfrom nope2", "select 1 from t",
                                        "select 3 from t"]
    assert {r["dbName"] for r in records} == {"123456789012:subdb:shop"}
    control = {"awslogs": {"data": base64.b64encode(gzip.compress(
        b'{"messageType": "CONTROL_MESSAGE", "logEvents": []}')).decode()}}
    assert subscription_handler(control, LambdaContext())["messages"] == 0


def test_lambda_zip_is_self_contained(aws: Aws, tmp_path: Path) -> None:
    """The zip built by the script runs the handler with the package and its
    dependencies taken from the zip (boto3 comes from the runtime)."""
    out = tmp_path / "lambda.zip"
    result = subprocess.run(["bash", "scripts/build-lambda-zip.sh", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    names = set(zipfile.ZipFile(out).namelist())
    assert {"pgaudit_parse/aws_lambda.py", "pgaudit_parse/aws/forwarder.py",
            "pyparsing/__init__.py", "dateutil/__init__.py"} <= names
    assert not any(name.startswith(("boto3/", "botocore/")) for name in names)
    url = aws.queue(aws.unique("zip"))
    payload = _subscription_event("/aws/rds/instance/z/postgresql", "z",
                                  [("1", BASE_MS, audit_line(BASE_MS, 3, 1))])
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(out)!r})\n"
        "import pgaudit_parse.aws_lambda as handler, pyparsing\n"
        f"assert handler.__file__.startswith({str(out)!r}), handler.__file__\n"
        f"assert pyparsing.__file__.startswith({str(out)!r}), pyparsing.__file__\n"
        "print(json.dumps(handler.subscription_handler(json.loads(sys.argv[1]), None)))\n")
    result = subprocess.run([sys.executable, "-c", script, json.dumps(payload)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env=aws.env(QUEUE_NAME=url, AWS_ENDPOINT_URL=aws.endpoint,
                                        PYTHONPATH=""))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["messages"] == 1
    assert len(drain_bodies(aws, url)) == 1
