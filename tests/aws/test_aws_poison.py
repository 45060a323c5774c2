"""Poison bodies generated with Hypothesis, mixed with good ones, through a real queue:
every good event comes out exactly once, every bad body is exactly one dead letter (its
raw text, or for a compressed one the text it decompresses to; reason and message id), and
the queue ends empty."""

from __future__ import annotations

import base64
import gzip
import io
import json
import random
import zlib

from aws_harness import Aws
from aws_logdata import BASE_MS, audit_line, statements
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgaudit_parse.aws.messages import MessagePacker
from pgaudit_parse.aws.sqs import SqsConsumer
from pgaudit_parse.sinks import OutputSink

GROUP = "/aws/rds/instance/db1/postgresql"


def _forwarder_body(numbers: list[int]) -> str:
    packer = MessagePacker(GROUP)
    for n in numbers:
        packer.add({"eventId": str(n), "timestamp": BASE_MS + n, "logStreamName": "db1",
                    "message": audit_line(BASE_MS + n, 7, n)})
    [body] = packer.close()
    return body


def _seed_body(n: int) -> str:
    return str({"logStreamName": "db2", "timestamp": BASE_MS + n,
                "message": audit_line(BASE_MS + n, 8, n) + "++", "eventId": f"{n:056d}"})


def _compressed(numbers: list[int]) -> bytes:
    events = [{"eventId": str(n), "timestamp": BASE_MS + n, "logStreamName": "db1",
               "message": audit_line(BASE_MS + n, 7, n)} for n in numbers]
    return gzip.compress(json.dumps({"events": events}).encode())


def _envelope(data: str) -> str:
    return json.dumps({"v": 1, "logGroup": GROUP, "encoding": "gzip+base64", "data": data})


@st.composite
def mutated_gzip(draw: st.DrawFn) -> str:
    raw = bytearray(_compressed([900_001]))
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(10, len(raw) - 1))  # past the header: the data or its CRC
        raw[index] ^= draw(st.integers(1, 255))
    try:
        gzip.decompress(bytes(raw))
    except (OSError, EOFError, zlib.error):
        pass
    else:  # the flipped bits were padding after the last deflate block: break the CRC
        raw[-8] ^= 0xFF
    return _envelope(base64.b64encode(bytes(raw)).decode())


@st.composite
def bad_base64(draw: st.DrawFn) -> str:
    data = base64.b64encode(_compressed([900_002])).decode()
    index = draw(st.integers(0, len(data)))
    return _envelope(data[:index] + draw(st.sampled_from(["!", "%", "*", "\u00e9"])) +
                     data[index:])


@st.composite
def bad_json(draw: st.DrawFn) -> str:
    body = _forwarder_body([900_003])
    return body[:draw(st.integers(2, len(body) - 1))]


@st.composite
def wrong_types(draw: st.DrawFn) -> str:
    event = {"eventId": "1", "timestamp": BASE_MS, "logStreamName": "db1",
             "message": audit_line(BASE_MS, 7, 900_004)}
    key = draw(st.sampled_from(["message", "timestamp", "logStreamName", "eventId"]))
    event[key] = draw(st.sampled_from([None, 1.5, [], {"x": 1}, True])) if key != "message" \
        else draw(st.sampled_from([None, 5, [], {"x": 1}]))
    if key in ("eventId", "logStreamName") and event[key] is None:
        event[key] = 3.5
    return json.dumps({"v": 1, "logGroup": GROUP, "events": [event]})


@st.composite
def bad_seed(draw: st.DrawFn) -> str:
    body = _seed_body(900_005)
    if draw(st.booleans()):
        return body[:draw(st.integers(1, len(body) - 2))]
    return str({"logStreamName": "db2", "timestamp": BASE_MS,
                "message": draw(st.sampled_from([None, 42, ["x"], b"bytes"]))})


POISON = st.one_of(mutated_gzip(), bad_base64(), bad_json(), wrong_types(), bad_seed())


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(bad=st.lists(POISON, min_size=1, max_size=6), good=st.integers(3, 12),
       seed_bodies=st.integers(0, 6), order=st.randoms(use_true_random=False))
def test_poison_bodies_mixed_with_good_ones(aws: Aws, bad: list[str], good: int,
                                            seed_bodies: int, order: random.Random) -> None:
    url = aws.queue(aws.unique("hyp"))
    bodies = [(b, False) for b in bad]
    bodies += [(_forwarder_body([3 * k, 3 * k + 1, 3 * k + 2]), True) for k in range(good)]
    bodies += [(_seed_body(1000 + k), True) for k in range(seed_bodies)]
    order.shuffle(bodies)
    ids: dict[str, str] = {}
    for i in range(0, len(bodies), 10):
        chunk = bodies[i:i + 10]
        sent = aws.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "MessageBody": body} for j, (body, _) in enumerate(chunk)])
        assert not sent.get("Failed")
        for ok in sent["Successful"]:
            ids[ok["MessageId"]] = chunk[int(ok["Id"])][0]
    out, dead = io.StringIO(), io.StringIO()
    consumer = SqsConsumer(aws.sqs, url, OutputSink(out, dead, fmt="events"), wait_seconds=0,
                           reorder_seconds=0.5)
    consumer.run()
    found = statements([json.loads(x) for x in out.getvalue().splitlines()])
    expected = {n: 1 for k in range(good) for n in (3 * k, 3 * k + 1, 3 * k + 2)}
    expected.update({1000 + k: 1 for k in range(seed_bodies)})
    assert found == expected
    letters = [json.loads(x) for x in dead.getvalue().splitlines()]
    assert sorted(ids[d["source"].rsplit("#", 1)[1]] for d in letters) == sorted(bad)
    for letter in letters:
        message_id = letter["source"].rsplit("#", 1)[1]
        assert message_id in letter["reason"]
        if "decompress" in letter["reason"]:
            # a compressed body's dead letter holds the text its data decompresses to
            # (as far as it does): readable, and redactable
            assert json.loads(ids[message_id])["encoding"] == "gzip+base64"
            assert letter["raw"]
        else:
            assert ids[message_id] == letter["raw"]
    assert aws.queue_depth(url) == (0, 0)
