"""A production queue's behaviour: deletes that fail in part, sinks that fail, signals,
and the dead letters of the AWS paths (each test failed before its fix, unless it says it
guards a behaviour that was already right).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from aws_harness import Aws, read_jsonl
from aws_logdata import BASE_MS, audit_line, statements

GROUP = "/aws/rds/instance/db1/postgresql"
SECRET = "hunter2-sekrit"


def _gzip_b64(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode("utf-8"))).decode("ascii")


def _readable_forms(raw: str) -> str:
    """The text of a dead letter's ``raw`` and of anything in it that decodes (base64,
    gzip, even cut short): where a secret could still be read."""
    forms = [raw]
    for word in raw.replace('"', " ").split():
        try:
            data = base64.b64decode(word + "=" * (-len(word) % 4), validate=False)
        except (binascii.Error, ValueError):
            continue
        try:
            forms.append(zlib.decompressobj(wbits=47).decompress(data).decode("utf-8", "replace"))
        except zlib.error:
            pass
    return "\n".join(forms)


def _send(aws: Aws, url: str, bodies: list[str]) -> None:
    for body in bodies:
        aws.sqs.send_message(QueueUrl=url, MessageBody=body)


def _password_event(n: int) -> str:
    line = (f"2026-11-25 16:05:0{n} UTC:10.0.0.1(5000):admin@shop:[77]:LOG:  AUDIT: SESSION,"
            f"{n},1,ROLE,ALTER ROLE,,,alter role bob password '{SECRET}',<not logged>")
    return json.dumps({"eventId": str(n), "timestamp": BASE_MS, "logStreamName": "db1",
                       "message": line})


# -- dead letters: named, raw, redacted ------------------------------------------------------

@pytest.mark.parametrize("damage", ["json", "object", "events", "truncated"])
def test_dead_letter_of_a_compressed_body_is_redacted_like_any_other(
        aws: Aws, tmp_path: Path, damage: str) -> None:
    """A forwarder body whose gzip+base64 ``data`` decompresses but is not a valid list
    of events: its dead letter names the message and the reason, and holds the body's
    text with the password hidden (records' default ``--redact passwords``), not the
    compressed form in which anyone reads the password back."""
    inner = {"json": '{"events": [' + _password_event(1),  # cut short
             "object": "[" + _password_event(1) + "]",
             "events": '{"events": [' + _password_event(1) + ', 7]}'}.get(damage, "")
    data = _gzip_b64(inner)
    if damage == "truncated":  # the gzip data cut short: what precedes the cut decodes
        events = '{"events": [' + ", ".join(_password_event(n) for n in range(1, 4)) + "]}"
        data = base64.b64encode(gzip.compress(events.encode())[:-12]).decode("ascii")
    url = aws.queue(aws.unique("dl"))
    body = json.dumps({"v": 1, "logGroup": GROUP, "encoding": "gzip+base64", "data": data})
    _send(aws, url, [body])
    dead = tmp_path / "dead.jsonl"
    run = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "0", "--output",
                  str(tmp_path / "out.jsonl"), "--errors", str(dead), "-q")
    assert run.returncode == 0, run.stderr
    [letter] = read_jsonl(dead)
    message_id = letter["file"].rpartition("#")[2]
    assert message_id and message_id in letter["reason"]
    assert SECRET not in _readable_forms(letter["raw"])
    assert "alter role bob password" in letter["raw"]
    assert SECRET not in run.stderr
    assert aws.queue_depth(url) == (0, 0)
    # without redaction, the dead letter holds the text itself (nothing of it lost)
    _send(aws, url, [body])
    run = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "0", "--format", "events",
                  "--output", str(tmp_path / "out2.jsonl"), "--errors", str(dead), "-q")
    assert run.returncode == 0, run.stderr
    assert SECRET in read_jsonl(dead)[1]["raw"]


# -- DeleteMessageBatch that fails in part --------------------------------------------------

class _ExpiringReceipts:
    """The emulator's SQS client, except that the first DeleteMessageBatch that names
    ``victims`` of the messages sends their receipts as SQS no longer knows them (a
    receipt whose visibility ran out): SQS answers those entries Failed
    (ReceiptHandleIsInvalid) and deletes the others."""

    def __init__(self, sqs: Any, victims: int) -> None:
        self._sqs = sqs
        self._victims = victims
        self._ids: dict[str, str] = {}
        self.refused: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def receive_message(self, **kwargs: Any) -> Any:
        answer = self._sqs.receive_message(**kwargs)
        for message in answer.get("Messages", []):
            self._ids[message["ReceiptHandle"]] = message["MessageId"]
        return answer

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:  # noqa: N803
        entries = []
        for entry in Entries:
            message_id = self._ids.get(entry["ReceiptHandle"], "")
            if len(self.refused) < self._victims and message_id not in self.refused:
                self.refused.add(message_id)
                entry = {**entry, "ReceiptHandle": "expired" + entry["ReceiptHandle"][-12:]}
            entries.append(entry)
        return self._sqs.delete_message_batch(QueueUrl=QueueUrl, Entries=entries)


def test_messages_whose_delete_failed_are_not_acknowledged_nor_written_twice(
        aws: Aws) -> None:
    """Two entries of a DeleteMessageBatch fail: they are not counted as deleted, and
    when SQS delivers them again the consumer deletes them without writing their
    records a second time; nothing is lost and the queue ends empty."""
    from pgaudit_parse.aws.sqs import SqsSource
    from pgaudit_parse.pump import Pump, parser_stages
    from pgaudit_parse.sinks import OutputSink

    url = aws.queue(aws.unique("partdel"), visibility_timeout=1)
    aws.send_forwarder_messages(url, GROUP, "db1",
                                [(BASE_MS + n, audit_line(BASE_MS + n, 7, n)) for n in range(6)],
                                per_message=1)
    client = _ExpiringReceipts(aws.sqs, victims=2)
    out = io.StringIO()
    sink = OutputSink(out, io.StringIO(), fmt="events")
    source = SqsSource(client, url, visibility_timeout=1, wait_seconds=0)
    pump = Pump(sink, parser_stages("%t:%r:%u@%d:[%p]:", sink))
    pump.run(source)
    assert len(client.refused) == 2
    assert source.messages == 4 and source.undeleted == 2
    assert sum(aws.queue_depth(url)) == 2  # still in the queue: not acknowledged
    time.sleep(1.5)  # their visibility runs out: SQS delivers them again
    pump.run(source)
    sink.close()
    assert statements([json.loads(line) for line in out.getvalue().splitlines()]) == {
        n: 1 for n in range(6)}
    assert source.messages == 6 and source.undeleted == 0
    assert aws.queue_depth(url) == (0, 0)
