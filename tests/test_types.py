"""The types say what the objects hold (issue 15, item 9).

Event kinds are a ``Literal``; an ``AuditEvent`` cannot exist without its pgAudit fields;
frozen classes hold no mutable dict, list or set (``AuditFields.parameter`` is a tuple,
``LogEntry.fields`` a read-only mapping; the JSON output keeps its lists); the event
builder is a table of recognisers over a ``TypedDict`` of common fields.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import typing
from pathlib import Path

import msgspec
import pytest

import pgaudit_parse as pp
from pgaudit_parse.entries import LogEntry, assemble_entries
from pgaudit_parse.events import (
    RECOGNISERS,
    AuditEvent,
    Event,
    EventFields,
    EventKind,
    event_fields,
)
from pgaudit_parse.parser import resolve_prefix
from pgaudit_parse.sinks import event_to_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
JSON_KINDS = {"audit", "error", "login_failed", "connection", "disconnection", "duration", "log"}


def test_event_kind_is_a_literal_of_the_json_kinds() -> None:
    assert typing.get_origin(EventKind) is typing.Literal
    assert set(typing.get_args(EventKind)) == JSON_KINDS
    for cls in (pp.AuditEvent, pp.ErrorEvent, pp.ConnectionEvent, pp.DisconnectionEvent,
                pp.DurationEvent, pp.LogEvent):
        hint = typing.get_type_hints(cls)["kind"]
        assert typing.get_origin(hint) is typing.Literal, cls
        assert set(typing.get_args(hint)) <= JSON_KINDS
        [field] = [f for f in msgspec.structs.fields(cls) if f.name == "kind"]
        assert field.default in typing.get_args(hint)


def test_an_audit_event_cannot_exist_without_its_audit_fields() -> None:
    with pytest.raises(TypeError):
        AuditEvent(timestamp=None, severity="LOG", message="AUDIT: x")  # type: ignore[call-arg]


def test_event_fields_are_every_event_field_but_kind() -> None:
    names = set(event_fields(Event)) - {"kind"}
    assert set(EventFields.__annotations__) == names


def _frozen_dataclasses() -> list[type]:
    """Frozen dataclasses and frozen ``msgspec.Struct``\\ s (events, pgAudit fields)."""
    found = []
    for info in pkgutil.walk_packages(pp.__path__, "pgaudit_parse."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if not isinstance(obj, type) or obj.__module__ != module.__name__:
                continue
            params = getattr(obj, "__dataclass_params__", None)
            if dataclasses.is_dataclass(obj) and params is not None and params.frozen:
                found.append(obj)
            elif issubclass(obj, msgspec.Struct) and obj.__struct_config__.frozen:
                found.append(obj)
    return found


def _declared_fields(cls: type) -> list[tuple[str, object]]:
    """(name, declared type) of a dataclass's or a Struct's fields."""
    if issubclass(cls, msgspec.Struct):
        hints = typing.get_type_hints(cls)
        return [(name, hints[name]) for name in cls.__struct_fields__]
    return [(f.name, f.type) for f in dataclasses.fields(cls)]


def test_no_frozen_class_declares_a_mutable_container() -> None:
    classes = _frozen_dataclasses()
    assert LogEntry in classes and AuditEvent in classes
    for cls in classes:
        for name, declared_type in _declared_fields(cls):
            declared = str(declared_type)
            for mutable in ("dict[", "list[", "set[", "Dict[", "List[", "Set["):
                assert mutable not in declared.replace("frozenset[", ""), (
                    f"{cls.__qualname__}.{name}: {declared}")


def _mutable_inside(value: object) -> bool:
    if isinstance(value, (dict, list, set, bytearray)):
        return True
    if isinstance(value, tuple):
        return any(_mutable_inside(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(_mutable_inside(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, msgspec.Struct):
        return any(_mutable_inside(getattr(value, name)) for name in event_fields(value))
    return False


@pytest.mark.parametrize("name", ["real-rds.log", "real-rich.log", "rds-postgresql.log"])
def test_parsed_entries_and_events_hold_nothing_mutable(name: str) -> None:
    lines = (FIXTURES / name).read_text().splitlines()
    lines.append("2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  AUDIT: "
                 'SESSION,1,1,WRITE,INSERT,,,"insert $1, $2","1,x"')
    prefix = resolve_prefix("auto", lines[:200])
    entries = list(assemble_entries(lines, prefix))
    events = list(pp.parse_lines(lines, prefix=prefix))
    assert entries and any(isinstance(e, AuditEvent) for e in events)
    for item in [*entries, *events]:
        assert not _mutable_inside(item), item
        if isinstance(item, LogEntry):
            with pytest.raises(TypeError):
                item.fields["u"] = "mallory"  # type: ignore[index]


def test_json_output_keeps_parameter_a_list() -> None:
    [event] = pp.parse_lines(["2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  AUDIT: "
                              'SESSION,1,1,WRITE,INSERT,,,"insert $1, $2","1,x"'])
    assert event_to_json(event)["audit"]["parameter"] == ["1", "x"]


def test_every_kind_has_a_recogniser_and_the_last_takes_anything() -> None:
    assert RECOGNISERS[-1].match("LOG", "anything at all") is True
    p = "2026-11-25 16:05:01 UTC:10.0.0.5(5000):bob@db:[7]:"
    events = list(pp.parse_lines([
        p + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
        p + "ERROR:  boom",
        p + 'FATAL:  password authentication failed for user "bob"',
        p + "LOG:  connection authorized: user=bob database=db",
        p + "LOG:  duration: 1.5 ms  statement: select 1",
        p + "LOG:  duration: not a number",  # a duration: text that is not one: a log
        p + "LOG:  disconnection: session time: 0:00:01.000 user=bob database=db",
        p + "LOG:  checkpoint starting",
    ]))
    assert [e.kind for e in events] == ["audit", "error", "login_failed", "connection",
                                        "duration", "log", "disconnection", "log"]
