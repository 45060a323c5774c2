"""The forwarder's message format and the checkpoint file, without the emulator."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pgaudit_parse.aws.checkpoint import Checkpoint, CheckpointFile, parse_checkpoint_value
from pgaudit_parse.aws.messages import MessagePacker, decode_body

BASE = 1_795_622_400_000

_EVENT = st.tuples(st.booleans(), st.integers(0, 1500), st.sampled_from(["a", "b"]),
                   st.sampled_from(["x", "é", "\"", "\t", "\r"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_EVENT, max_size=60), st.integers(600, 5000))
def test_packer_keeps_order_size_and_entries(spec: list, limit: int) -> None:
    """Every event once, in order per stream; every body within the limit; a body starts
    a new entry unless the entry before it alone overflowed a body."""
    packer = MessagePacker("/g", limit)
    events = []
    bodies: list[str] = []
    for i, (starts, size, stream, char) in enumerate(spec):
        event = {"eventId": str(i), "timestamp": i, "logStreamName": stream,
                 "message": f"{i}:" + char * size}
        events.append((event, starts))
        bodies += packer.add(event, starts)
    bodies += packer.close()
    decoded = []
    for body in bodies:
        assert len(body.encode()) <= limit
        assert body.isascii()
        group, lines = decode_body(body, "t")
        assert group == "/g"
        ids = []
        for line in lines:
            if not ids or ids[-1] != line.ref:
                ids.append(line.ref)
        decoded.append(ids)
    assert [i for ids in decoded for i in ids] == [e["eventId"] for e, _ in events]
    starts_of = {e["eventId"]: s for e, s in events}
    stream_of = {e["eventId"]: e["logStreamName"] for e, _ in events}
    previous: list[str] = []
    for ids in decoded:
        first = ids[0]
        continues = previous and stream_of[previous[-1]] == stream_of[first]
        if continues and not starts_of[first] and first != "0":
            # Cut inside an entry: allowed only when that entry filled the body before.
            assert not any(starts_of[i] for i in previous[1:]), (previous, ids)
        previous = ids


def test_decode_seed_and_garbage_bodies() -> None:
    """Seed bodies go through the core's reader; garbage becomes a line the parser
    rejects, never nothing."""
    seed = "{'logStreamName': 'db1', 'message': '2026-11-25 16:00:00 UTC::@:[1]:LOG:  x++'}"
    group, lines = decode_body(seed, "q")
    assert group is None
    assert [(line.text, line.stream) for line in lines] == [
        ("2026-11-25 16:00:00 UTC::@:[1]:LOG:  x", "db1")]
    _, lines = decode_body("not a body", "q")
    assert [line.text for line in lines] == ["not a body"]
    _, lines = decode_body('{"v": 1, "events": "nope"}', "q")
    assert [line.text for line in lines] == ['{"v": 1, "events": "nope"}']


def test_checkpoint_file_round_trip_and_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    store = CheckpointFile(path)
    assert store.load() == {}
    saved = {"/a": Checkpoint(BASE + 5, frozenset({"1", "2"}), BASE + 9),
             "/b": Checkpoint(BASE + 7)}
    store.save(saved)
    assert store.load() == saved
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"]  # no temporary left over
    assert json.loads(path.read_text())["v"] == 1
    path.write_text("garbage")
    try:
        store.load()
    except Exception as exc:  # noqa: BLE001
        assert "not a pgaudit-parse checkpoint file" in str(exc)
    else:
        raise AssertionError("a bad checkpoint file must be refused")
    assert parse_checkpoint_value("1795622400").time == 1795622400000
