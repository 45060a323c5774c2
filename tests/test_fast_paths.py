"""The speed-ups keep behaviour: each fast path equals the plain code it replaces.

* the sink's JSON writer equals ``json.dumps(obj, ensure_ascii=False, separators=(",",
  ":"))`` on arbitrary JSON values (and raises the same errors);
* Guardium records and events from the real-server logs equal what the unoptimized rules
  give (client address classification, epoch milliseconds, offsets) for every line;
* the prefix's fast regex split equals the pyparsing grammar on every line of the
  real-server logs (the generated-prefix property tests live in test_prefix_properties).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from workload import ServerRun

import pgaudit_parse as pp
from pgaudit_parse.sinks import _dumps

JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.text()
                | st.floats(allow_nan=True, allow_infinity=True))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=30,
)


def reference_dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_json_writer_equals_json_dumps(value: Any) -> None:
    assert _dumps(value) == reference_dumps(value)


def test_json_writer_errors_like_json_dumps() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for bad, error in (([object()], TypeError), (cyclic, ValueError),
                       ({"a": {1j: 2}}, TypeError)):
        for dumps in (_dumps, reference_dumps):
            try:
                dumps(bad)
            except error:
                pass
            else:
                raise AssertionError(f"{dumps} accepted {bad!r}")
    # An error must not leave state behind (the circular-reference markers).
    shared = {"k": 1}
    assert _dumps([shared, shared]) == reference_dumps([shared, shared])


def _reference_address(host: str | None) -> tuple[str, bool]:
    """Guardium's client IP and IPv6 flag, computed the slow way."""
    if not host or host == "[local]":
        return "", False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return "", False
    return host, address.version == 6


def test_records_of_real_logs_follow_the_plain_rules(server_run: ServerRun) -> None:
    checked = 0
    for event in pp.parse_file(str(server_run.stderr_log), prefix=server_run.prefix):
        record = pp.to_guardium(event, account_id="123456789012", instance="db1")
        if record is None:
            continue
        checked += 1
        client_ip, ipv6 = _reference_address(event.client_host)
        locator = record["sessionLocator"]
        assert locator["isIpv6"] is ipv6
        # The connector's values (issue 10): null IPv6 fields, 0.0.0.0 for no IPv4 address.
        assert locator["clientIpv6"] == (client_ip if ipv6 else None)
        assert locator["clientIp"] == ("0.0.0.0" if ipv6 else (client_ip or "0.0.0.0"))
        host = event.client_host if event.client_host != "[local]" else None
        assert record["accessor"]["clientHostName"] == (host if host and not client_ip
                                                        else "")
        stamp = event.timestamp
        assert stamp is not None
        assert record["time"]["timstamp"] == int(stamp.timestamp() * 1000)
        offset = stamp.utcoffset()
        assert record["time"]["minOffsetFromGMT"] == (
            int(offset.total_seconds() // 60) if offset else 0)
        assert _dumps(record) == reference_dumps(record)
    assert checked > 50


def test_fast_prefix_split_equals_grammar_on_real_lines(server_run: ServerRun) -> None:
    prefix = pp.LinePrefix(server_run.prefix)
    compared = 0
    for line in server_run.stderr_log.read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("\t"):
            continue
        compared += 1
        assert prefix.parse(line) == prefix.parse_with_grammar(line), line
    assert compared > 100


EVENT_CLASSES = (pp.AuditEvent, pp.ErrorEvent, pp.ConnectionEvent, pp.DisconnectionEvent,
                 pp.DurationEvent, pp.LogEvent)


def test_event_constructors_keep_the_dataclass_contract() -> None:
    """Events became msgspec Structs: same keyword-only signature, defaults, equality,
    hashing, repr and immutability as the frozen dataclasses they were."""
    import inspect

    import msgspec

    for cls in EVENT_CLASSES:
        fields = msgspec.structs.fields(cls)
        assert tuple(f.name for f in fields) == pp.events.event_fields(cls)
        signature = inspect.signature(cls)
        assert list(signature.parameters) == [f.name for f in fields]
        for f in fields:
            parameter = signature.parameters[f.name]
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
            expected = (inspect.Parameter.empty if f.required else f.default)
            assert parameter.default == expected, (cls, f.name)
        values = {f.name: f"v-{f.name}" for f in fields}
        event = cls(**values)
        assert {f.name: getattr(event, f.name) for f in fields} == values
        assert event == cls(**values) and hash(event) == hash(cls(**values))
        assert event != cls(**{**values, "user": "other"})
        assert pp.events.replace(event, user="other") == cls(**{**values, "user": "other"})
        assert repr(event).startswith(f"{cls.__name__}(kind=")
        try:
            event.user = "x"  # type: ignore[misc]
        except AttributeError:
            pass
        else:
            raise AssertionError(f"{cls.__name__} is not frozen")
        try:
            cls(severity="LOG", message="x")  # type: ignore[call-arg]
        except TypeError as exc:
            assert "timestamp" in str(exc)
        else:
            raise AssertionError("a required field was not required")
