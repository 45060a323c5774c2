"""The tested way into Guardium (issue 10, item 7): records on the records queue, read as
the universal connector's ``sqs`` input reads them and passed through the shipped filter,
are valid Guardium ``Record``s by the schema derived from Guardium's Java classes."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_harness import REPO, Aws
from aws_logdata import BASE_MS, audit_line, error_lines

from pgaudit_parse.aws_lambda import subscription_handler
from pgaudit_parse.formats.guardium import record_schema

jsonschema = pytest.importorskip("jsonschema")

CONFIGS = sorted((REPO / "guardium").glob("*.conf"))
#: Plug-ins every Guardium universal connector has (no upload needed).
STOCK_PLUGINS = {"sqs", "beats", "json", "mutate", "drop"}


class LambdaContext:
    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def _section(text: str, name: str) -> str:
    start = re.search(rf"^{name}\s*\{{", text, re.MULTILINE)
    assert start, f"no {name} section"
    depth, index = 0, start.end() - 1
    for index in range(start.end() - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            break
    return text[start.end(): index]


def pass_through(config: str, message: str) -> dict[str, Any] | None:
    """What the shipped filter does to an event whose ``message`` is ``message``: the
    Python statement of its three steps, each checked to be in the file."""
    body = _section(config, "filter")
    assert re.search(r'json\s*\{\s*source => "message"\s*target => "\[@metadata\]\[record\]"',
                     body)
    assert "![@metadata][record][accessor]" in body and "drop { }" in body
    assert 'rename => { "message" => "GuardRecord" }' in body
    try:
        parsed = json.loads(message)
    except ValueError:
        return None  # tagged _pgaudit_parse_not_a_record: dropped
    if not isinstance(parsed, dict) or not parsed.get("accessor"):
        return None
    return {"GuardRecord": message}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configuration_uses_stock_plugins_and_one_type(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    plugins = {m.group(1) for section in ("input", "filter")
               for m in re.finditer(r"^\s*(\w+)\s*\{", _section(code, section), re.MULTILINE)}
    assert plugins <= STOCK_PLUGINS, plugins - STOCK_PLUGINS
    types = set(re.findall(r'type\s*(?:=>|==)\s*"([^"]+)"', code))
    assert types == {"pgaudit_parse_records"}
    assert pass_through(text, "not json") is None
    assert pass_through(text, '{"some": "other json"}') is None


def test_records_queue_to_guardium_record(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    group = "/aws/rds/instance/guarddb/postgresql"
    records_url = aws.queue(aws.unique("guardium-records"))
    lines = [audit_line(BASE_MS, 8, 1), *error_lines(BASE_MS, 8, 2), audit_line(BASE_MS, 8, 3)]
    document = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group,
                "logStream": "guarddb", "subscriptionFilters": ["pgaudit"],
                "logEvents": [{"id": str(i), "timestamp": BASE_MS, "message": line}
                              for i, line in enumerate(lines)]}
    payload = {"awslogs": {"data": base64.b64encode(gzip.compress(
        json.dumps(document).encode())).decode()}}
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("QUEUE_NAME", aws.queue(aws.unique("guardium-events")))
    monkeypatch.setenv("RECORDS_QUEUE", records_url)
    assert subscription_handler(payload, LambdaContext())["records"] == 3

    bodies: list[str] = []
    while got := aws.sqs.receive_message(QueueUrl=records_url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=0).get("Messages", []):
        bodies += [m["Body"] for m in got]  # codec => plain: the body is the message
        aws.sqs.delete_message_batch(QueueUrl=records_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    validator = jsonschema.Draft202012Validator(record_schema())
    config = (REPO / "guardium" / "pgaudit-parse-sqs.conf").read_text(encoding="utf-8")
    guard_records = []
    for body in bodies:
        event = pass_through(config, body)
        assert event is not None and event["GuardRecord"] == body
        record = json.loads(event["GuardRecord"])
        validator.validate(record)
        guard_records.append(record)
    assert len(guard_records) == 3
    assert {r["dbName"] for r in guard_records} == {"123456789012:guarddb:shop"}
    assert {r["accessor"]["serviceName"] for r in guard_records} == {"123456789012:guarddb:shop"}
    assert sum(1 for r in guard_records if r["exception"]) == 1
