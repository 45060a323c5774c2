"""The output side's fast paths against their references (issue 12).

* :class:`~pgaudit_parse.formats.record_template.RecordTemplate` (records written from a
  template) == the stdlib's text of :func:`~pgaudit_parse.formats.guardium._record`'s dict;
  :class:`~pgaudit_parse.formats.record_template.RecordWriter` == ``RecordBuilder`` + the
  stdlib, over streams of events (grouping, instances per stream);
* the events template (:func:`pgaudit_parse.sinks.event_line`) == the stdlib's text of
  ``add_sql_keys(event_to_json(event), info)``;
* :func:`pgaudit_parse.jsonenc.fast_dumps` (orjson) == ``json.dumps`` on the objects it is
  given, and ``json.loads`` of it gives the object back; the OCSF and ECS lines written
  through it == the stdlib's text of ``to_ocsf``/``to_ecs``.

Events are generated field by field with the values PostgreSQL and the sources can put in
them: None and empty fields, unicode, quotes, control characters, newlines, lone
surrogates (``backslashreplace``/``unicode_escape`` decoding), IPv4/IPv6 (with a zone),
``[local]`` and host names, ints beyond 64 bits, zone offsets and naive timestamps.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import tz as dateutil_tz
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import SETTINGS, scaled

from pgaudit_parse.events import (
    AuditEvent,
    ConnectionEvent,
    DisconnectionEvent,
    DurationEvent,
    ErrorEvent,
    Event,
    LogEvent,
)
from pgaudit_parse.events import replace as replace_event
from pgaudit_parse.formats.ecs import to_ecs
from pgaudit_parse.formats.guardium import RecordBuilder, _record
from pgaudit_parse.formats.ocsf import to_ocsf
from pgaudit_parse.formats.record_template import RecordTemplate, RecordWriter
from pgaudit_parse.jsonenc import (
    TEXT_ERRORS,
    dumps,
    fast_dumps,
    orjson_safe_float,
    stdlib_dumps,
)
from pgaudit_parse.payload import AuditFields
from pgaudit_parse.sinks import (
    add_sql_keys,
    ecs_line,
    event_line,
    event_to_json,
    last_isoformat,
    ocsf_line,
)
from pgaudit_parse.sql.stage import NO_INFO, SqlInfo

# -- values -------------------------------------------------------------------------------

def _texts(surrogates: bool) -> st.SearchStrategy[str]:
    """Any text: quotes, backslashes, control characters, newlines, unicode, and with
    ``surrogates`` lone surrogates (which orjson refuses: the whole object then goes to the
    stdlib, so the orjson tests also draw objects without them)."""
    specials = '"\\\n\r\t\x00\x1f\x7f\u2028é😀,\' :()[]%' + ("\ud800\udcff" if surrogates else "")
    chars = st.characters(codec=None) if surrogates else st.characters(
        blacklist_categories=("Cs",))
    return st.one_of(
        st.text(st.one_of(st.sampled_from(list(specials)), chars), max_size=12),
        st.text(st.sampled_from('"\\\n\x01aé'), min_size=1, max_size=4),
        st.sampled_from(["", '"', "\\", "\n", "\r\n", "\x00", "\x7f", "\u2028", "é", "😀",
                         "a,b", "''", "NA", "[local]"] + (["\ud800"] if surrogates else [])),
    )


texts = _texts(surrogates=True)
opt_texts = st.one_of(st.none(), texts)
big_ints = st.one_of(st.integers(-2, 70_000), st.integers(-(2 ** 70), 2 ** 70),
                     st.sampled_from([2 ** 63, 2 ** 64, -(2 ** 63) - 1]))
opt_ints = st.one_of(st.none(), big_ints)
zones = st.one_of(st.none(), st.integers(-14 * 60, 14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))), st.just(timezone.utc))
timestamps = st.one_of(
    st.none(),
    st.builds(lambda d, z: d.replace(tzinfo=z),
              st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2099, 12, 31)),
              zones))
floats = st.one_of(st.floats(), st.sampled_from([0.0, -0.0, 1e-5, 1e16, 1e-4, 0.25, 1e300]),
                   st.floats(1e-7, 1e-4), st.floats(1e15, 1e17))


def _events(surrogates: bool) -> tuple[st.SearchStrategy[Event], st.SearchStrategy[Event]]:
    """(events of every class, duration events); without ``surrogates``, also without
    ints beyond 64 bits (orjson refuses both: see _texts)."""
    text = _texts(surrogates)
    big_ints = globals()["big_ints"] if surrogates else st.one_of(
        st.integers(-2, 70_000), st.integers(-(2 ** 63), 2 ** 64 - 1))
    opt_ints = st.one_of(st.none(), big_ints)
    opt_text = st.one_of(st.none(), text)
    hosts = st.one_of(
        st.none(), st.just(""), st.just("[local]"),
        st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str),
        st.sampled_from(["::1", "fe80::1%eth0", "2001:db8::5", "10.0.0.5", "::ffff:10.0.0.1"]),
        st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,8}){0,2}", fullmatch=True),
        text,
    )
    audits = st.builds(
        AuditFields, st.sampled_from(["SESSION", "OBJECT"]), big_ints, big_ints, opt_text,
        opt_text, opt_text, opt_text, opt_text,
        st.one_of(st.none(), st.lists(text, max_size=3).map(tuple)), opt_ints)
    common: dict[str, Any] = {
        "timestamp": timestamps, "severity": st.sampled_from(["LOG", "ERROR", "FATAL", "é"]),
        "message": text, "user": opt_text, "database": opt_text, "client_host": hosts,
        "client_port": opt_ints, "pid": opt_ints, "detail": opt_text, "hint": opt_text,
        "context": opt_text, "statement": opt_text, "query": opt_text,
        "location": opt_text, "application_name": opt_text, "session_id": opt_text,
        "session_line": opt_ints, "session_start": timestamps, "command_tag": opt_text,
        "sqlstate": opt_text, "backend_type": opt_text, "virtual_xid": opt_text,
        "xid": opt_ints, "leader_pid": opt_ints, "query_id": opt_ints,
        "cursor_position": opt_ints, "source": text, "line": big_ints,
        "stream": st.one_of(st.just(""), st.sampled_from(["a", "b"]), text),
    }
    durations = st.builds(DurationEvent, duration_ms=floats, duration_statement=opt_text,
                          **common)
    every = st.one_of(
        st.builds(AuditEvent, audit=audits, **common),
        st.builds(ErrorEvent, kind=st.sampled_from(["error", "login_failed"]), **common),
        durations,
        st.builds(LogEvent, **common),
        st.builds(ConnectionEvent, **common),
        st.builds(DisconnectionEvent, session_time=opt_text, **common),
    )
    return every, durations


events, _ = _events(surrogates=True)
#: Without lone surrogates: what orjson writes itself (see _texts).
plain_events, plain_durations = _events(surrogates=False)
settings_ = st.tuples(opt_texts, opt_texts, st.sampled_from(["connector", "postgres"]))


# -- records ------------------------------------------------------------------------------

@SETTINGS
@given(events, texts, opt_ints, opt_ints, settings_)
def test_record_template_is_the_record_dicts_text(event: Event, sql: str,
                                                  micros: int | None, rows: int | None,
                                                  setting: tuple[str | None, str | None, str]
                                                  ) -> None:
    """``data`` records (the statement in ``sql``)."""
    _check_template(event, sql, micros, rows, setting)


@SETTINGS
@given(events, settings_)
def test_record_template_is_the_exception_dicts_text(
        event: Event, setting: tuple[str | None, str | None, str]) -> None:
    """``exception`` records (``sql`` None; any event, as a library caller may pass)."""
    _check_template(event, None, None, None, setting)


def _check_template(event: Event, sql: str | None, micros: int | None, rows: int | None,
                    setting: tuple[str | None, str | None, str]) -> None:
    account_id, instance, values = setting
    template = RecordTemplate(account_id, instance, values)
    expected = stdlib_dumps(_record(event, sql, micros, rows, account_id, instance, values))
    assert template.line(event, sql, micros, rows) == expected + "\n"
    # twice: the second comes through the template's caches
    assert template.line(event, sql, micros, rows) == expected + "\n"


@scaled(0.4)
@given(st.lists(st.tuples(events, st.one_of(st.none(), st.sampled_from(["i1", "i2"]))),
                max_size=12), settings_)
def test_record_writer_writes_the_record_builders_records(
        stream: list[tuple[Event, str | None]],
        setting: tuple[str | None, str | None, str]) -> None:
    account_id, instance, values = setting
    builder = RecordBuilder(account_id, instance, values=values, max_per_session=3)
    writer = RecordWriter(account_id, instance, values=values, max_per_session=3)
    for event, override in stream:
        assert writer.add_lines(event, override) == [
            dumps(r) + "\n" for r in builder.add(event, override)]
    assert writer.flush_lines() == [dumps(r) + "\n" for r in builder.flush()]


def test_record_template_time_cache_follows_the_object_not_its_instant() -> None:
    # Equal datetimes in two zones are one instant; the offset differs, so the text must.
    utc = datetime(2026, 11, 25, 16, 5, 1, tzinfo=timezone.utc)
    cet = utc.astimezone(timezone(timedelta(hours=1)))
    template = RecordTemplate(None, None)
    for stamp in (utc, cet, utc):
        event = LogEvent(timestamp=stamp, severity="ERROR", message="m")
        assert template.line(event, None, None, None) == stdlib_dumps(
            _record(event, None, None, None, None, None, "connector")) + "\n"


# -- the JSON encoder ---------------------------------------------------------------------

#: Floats orjson writes as the stdlib does (the callers of fast_dumps check theirs).
safe_floats = st.one_of(st.floats(-1e15, 1e15).filter(orjson_safe_float),
                        st.sampled_from([0.0, -0.0, 1e-4, 9999999999999998.0, 0.1]))
json_leaves = st.one_of(st.none(), st.booleans(), big_ints, texts, _texts(surrogates=False),
                        safe_floats)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(texts, inner, max_size=4)),
    max_leaves=20)


def _floats_in(obj: Any) -> list[float]:
    if isinstance(obj, float):
        return [obj]
    if isinstance(obj, dict):
        return [f for v in obj.values() for f in _floats_in(v)]
    if isinstance(obj, list):
        return [f for v in obj for f in _floats_in(v)]
    return []


@SETTINGS
@given(json_values)
def test_fast_dumps_is_json_dumps(obj: Any) -> None:
    text = fast_dumps(obj)
    assert text == stdlib_dumps(obj)
    assert json.loads(text) == obj


@SETTINGS
@given(st.dictionaries(st.one_of(big_ints, st.booleans(), st.none(), floats),
                       json_leaves, min_size=1, max_size=3))
def test_fast_dumps_gives_non_str_keys_to_the_stdlib(obj: dict[Any, Any]) -> None:
    # (the stdlib writes float keys by repr even where orjson would not: NaN, 1e+16)
    assert fast_dumps(obj) == stdlib_dumps(obj)


@SETTINGS
@given(floats)
def test_orjson_safe_floats_are_written_alike(value: float) -> None:
    """Where orjson_safe_float says yes, orjson writes the float as the stdlib does (and
    where it says no, the stdlib's text has an exponent or is not a number)."""
    if orjson_safe_float(value):
        assert fast_dumps([value]) == stdlib_dumps([value])
    else:
        assert any(c in stdlib_dumps(value) for c in "eNI")


# -- events -------------------------------------------------------------------------------

infos = st.builds(SqlInfo, opt_texts, opt_texts, st.one_of(st.none(), st.booleans()))


@SETTINGS
@given(events, infos)
def test_event_template_is_the_event_dicts_text(event: Event, info: SqlInfo) -> None:
    expected = stdlib_dumps(add_sql_keys(event_to_json(event), info)) + "\n"
    assert event_line(event, info) == expected
    assert json.loads(expected) == json.loads(event_line(event, info))


@scaled(0.5)
@given(st.lists(st.tuples(events, infos), min_size=1, max_size=6), st.randoms())
def test_event_lines_with_the_sinks_isoformat_caches(stream: list[tuple[Event, SqlInfo]],
                                                     rnd: Any) -> None:
    """As the sink writes them: the last timestamp's and session start's text kept, and
    events that share (or swap) their datetime objects."""
    stamps = [e.timestamp for e, _ in stream] + [e.session_start for e, _ in stream]
    shuffled = [(replace_event(e, timestamp=rnd.choice(stamps),
                               session_start=rnd.choice(stamps)), i) for e, i in stream]
    timestamp_iso, session_start_iso = last_isoformat(), last_isoformat()
    for event, info in stream + shuffled + stream:
        assert event_line(event, info, timestamp_iso, session_start_iso) == stdlib_dumps(
            add_sql_keys(event_to_json(event), info)) + "\n"


class _Port(int):
    """An int subclass (as an IntEnum would be): the stdlib writes int.__repr__."""


@SETTINGS
@given(events, infos, st.sampled_from([True, 2.5, _Port(5432), "5432", [1]]))
def test_event_template_gives_values_of_other_types_to_the_stdlib(
        event: Event, info: SqlInfo, odd: object) -> None:
    """A library caller's event with a value of another type than declared (a bool or a
    float where an int goes, a str subclass...) is written as json.dumps writes it."""
    event = replace_event(event, client_port=odd, line=odd)  # type: ignore[arg-type]
    info = replace(info, split_certain=odd)  # type: ignore[arg-type]
    expected = stdlib_dumps(add_sql_keys(event_to_json(event), info)) + "\n"
    assert event_line(event, info) == expected


def test_event_template_of_an_unknown_event_class_is_the_dicts() -> None:
    class Mine(LogEvent, frozen=True, kw_only=True):
        extra: str = "x"

    event = Mine(timestamp=None, severity="LOG", message="m")
    assert event_line(event) == stdlib_dumps(add_sql_keys(event_to_json(event), NO_INFO)) + "\n"


# -- OCSF and ECS through orjson ----------------------------------------------------------

@SETTINGS
@given(st.one_of(events, plain_events), opt_texts, opt_texts)
def test_ocsf_and_ecs_lines_are_the_stdlibs(event: Event, account_id: str | None,
                                            instance: str | None) -> None:
    ocsf = to_ocsf(event, account_id, instance)
    if ocsf is not None:
        assert ocsf_line(ocsf) == stdlib_dumps(ocsf) + "\n"
    ecs = to_ecs(event, account_id, instance)
    assert ecs_line(event, ecs) == stdlib_dumps(ecs) + "\n"


@SETTINGS
@given(plain_durations)
def test_ecs_lines_of_durations_are_the_stdlibs(event: DurationEvent) -> None:
    """The ECS document's one float (the duration) in every range orjson writes otherwise
    (``1e-05``, ``1e+16``, ``NaN``)."""
    ecs = to_ecs(event)
    assert ecs_line(event, ecs) == stdlib_dumps(ecs) + "\n"


def test_ecs_leaves_out_a_duration_below_a_long() -> None:
    """A negative duration whose nanoseconds overflow to -inf (the property test above
    found -1.797693134862316e+302 ms): int(round(-inf)) raised OverflowError. A duration
    outside a long, on either side, is left out as one above it already was."""
    from pgaudit_parse import parse_lines

    [event] = parse_lines(["2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  "
                           "duration: 0.250 ms"])
    for ms in (-1.797693134862316e+302, -1e300, float("-inf"), -2.0 ** 63 / 1e6 * 2):
        huge = replace_event(event, duration_ms=ms)
        ecs = to_ecs(huge)
        assert "duration" not in ecs["event"]
        assert ecs_line(huge, ecs) == stdlib_dumps(ecs) + "\n"
    assert to_ecs(replace_event(event, duration_ms=-0.25))["event"]["duration"] == -250_000


@SETTINGS
@given(events, st.one_of(st.none(), texts), settings_,
       st.sampled_from([True, False, 2.5, 1.0, _Port(5432), [1]]), st.booleans())
def test_record_template_gives_values_of_other_types_to_the_stdlib(
        event: Event, sql: str | None, setting: tuple[str | None, str | None, str],
        odd: object, odd_port: bool) -> None:
    """A library caller's event or execution with a value of another type than declared
    (a bool or a float where an int goes) is written as json.dumps writes its dict, and
    an int port after an equal port of another type (True == 1.0 == 1) is not taken
    for it."""
    account_id, instance, values = setting
    template = RecordTemplate(account_id, instance, values)
    if odd_port:
        event = replace_event(event, client_port=odd)  # type: ignore[arg-type]
    for e, micros, rows in ((event, odd, odd), (replace_event(event, client_port=1), 1, 1)):
        expected = stdlib_dumps(_record(e, sql, micros, rows,  # type: ignore[arg-type]
                                        account_id, instance, values))
        assert template.line(e, sql, micros, rows) == expected + "\n"  # type: ignore[arg-type]


# -- what a line loads back to (hunt-formats) ---------------------------------------------
# The tests above compare text with text. These read each line back, as a consumer does,
# and compare with the dict path's object itself, on inputs the strategies above do not
# make: datetimes in real zones (DST, folds, quarter-hour offsets; dateutil's and
# zoneinfo's tzinfo, as the parser and library callers use), offsets to the second, years
# 1 to 9999; and the bytes as the sinks' UTF-8 streams write them (TEXT_ERRORS).

_REAL_ZONES = [ZoneInfo(name) for name in ("America/Sao_Paulo", "Europe/Dublin",
                                           "Australia/Lord_Howe", "Asia/Kathmandu",
                                           "Africa/Monrovia", "Pacific/Chatham")]
wide_zones = st.one_of(
    st.sampled_from([*_REAL_ZONES, dateutil_tz.gettz("Europe/Berlin"),
                     dateutil_tz.tzoffset("IST", 19800), dateutil_tz.tzutc()]),
    st.integers(-86399, 86399).map(lambda s: timezone(timedelta(seconds=s))))
wide_timestamps = st.one_of(st.none(), st.builds(
    lambda d, z, fold: d.replace(tzinfo=z, fold=fold),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    wide_zones, st.integers(0, 1)))


def _loaded_equal(got: Any, want: Any) -> bool:
    """JSON's view of equality: a tuple is a list, NaN is NaN, and a bool is not an int."""
    if isinstance(want, tuple):
        want = list(want)
    if type(got) is not type(want):
        return False
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(_loaded_equal(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return len(got) == len(want) and all(map(_loaded_equal, got, want))
    if isinstance(want, float) and want != want:
        return got != got
    return bool(got == want)


def _through_stream(line: str) -> Any:
    """``line`` as a sink writes it (UTF-8, TEXT_ERRORS) and a consumer reads it back."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors=TEXT_ERRORS, newline="\n")
    stream.write(line)
    stream.flush()
    return json.loads(raw.getvalue().decode("utf-8"))


@SETTINGS
@given(events, wide_timestamps, wide_timestamps, infos, settings_)
def test_every_line_loads_to_the_dict_paths_object(
        event: Event, stamp: datetime | None, started: datetime | None, info: SqlInfo,
        setting: tuple[str | None, str | None, str]) -> None:
    event = replace_event(event, timestamp=stamp, session_start=started)
    want = add_sql_keys(event_to_json(event), info)
    assert _loaded_equal(json.loads(event_line(event, info)), want)
    account_id, instance, values = setting
    record = RecordTemplate(account_id, instance, values).line(event, None, None, None)
    assert _loaded_equal(json.loads(record),
                         _record(event, None, None, None, account_id, instance, values))
    ocsf = to_ocsf(event, account_id, instance)
    if ocsf is not None:
        assert _loaded_equal(json.loads(ocsf_line(ocsf)), ocsf)
    ecs = to_ecs(event, account_id, instance)
    assert _loaded_equal(json.loads(ecs_line(event, ecs)), ecs)


def _no_surrogate_pair(text: str) -> bool:
    """No high surrogate right before a low one: JSON reads the two escapes as one
    character, so no JSON text holds such a pair (the sources escape every lone
    surrogate of their input: docs/input.md)."""
    return not any("\ud800" <= a <= "\udbff" and "\udc00" <= b <= "\udfff"
                   for a, b in zip(text, text[1:], strict=False))


@SETTINGS
@given(events, wide_timestamps, infos)
def test_lines_read_back_from_the_sinks_bytes_are_the_dict_paths_objects(
        event: Event, stamp: datetime | None, info: SqlInfo) -> None:
    event = replace_event(event, timestamp=stamp)
    want = add_sql_keys(event_to_json(event), info)
    assume(_no_surrogate_pair(json.dumps(want, ensure_ascii=False)))
    assert _loaded_equal(_through_stream(event_line(event, info)), want)
    ecs = to_ecs(event)
    assert _loaded_equal(_through_stream(ecs_line(event, ecs)), ecs)
