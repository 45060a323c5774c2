"""Guardium records as JSON text, written from a template instead of nested dicts.

A record has ~40 values, of which most are the same for every record of one setting
(account, instance, ``values``): those parts are joined into text once, when the
:class:`RecordTemplate` is made, and each record fills in only its variable fields. Each
value is rendered by the function the stdlib JSON encoder uses for it
(:mod:`pgaudit_parse.jsonenc`), so a line is byte for byte
``json.dumps(_record(...), ensure_ascii=False, separators=(",", ":"))``: the reference
(:func:`pgaudit_parse.formats.guardium._record`, which library callers still get as a dict)
is what the property test compares it with.

>>> from pgaudit_parse import parse_lines
>>> from pgaudit_parse.formats.guardium import _record
>>> from pgaudit_parse.jsonenc import dumps
>>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
...                    "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"])
>>> t = RecordTemplate("123456789012", "db1", "connector")
>>> t.line(e, "select 1", None, 1) == dumps(_record(e, "select 1", None, 1, "123456789012",
...                                                  "db1", "connector")) + "\\n"
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from datetime import datetime
from functools import lru_cache
from typing import Final

from ..events import ErrorEvent, Event
from ..jsonenc import dumps, integer, last_text, string
from ..sql import redact_passwords
from ..sql.redact import redact_echo
from .executions import Execution
from .guardium import (
    APP_USER_NAME,
    COMM_PROTOCOL,
    DEFAULT_HELD_BYTES,
    LANGUAGE,
    NO_IP,
    NO_PORT,
    NOT_AVAILABLE,
    SERVER_TYPE,
    RecordBuilder,
    _check_values,
    _client_address,
    _db_name,
    _record,
    _server_host,
    _time_fields,
    records_affected,
)

__all__ = ["RecordTemplate", "RecordWriter"]

#: Entries kept per cache (database names, client addresses, templates).
_CACHE_SIZE: Final = 4096
#: The accessor's constants between ``dbUser`` and ``clientHostName``.
_AFTER_USER: Final = (f',"serverType":{string(SERVER_TYPE)},"serverOs":"","clientOs":""'
                      ',"clientHostName":')


def _as_given(sql: str) -> str:
    return sql


def _time_text(timestamp: datetime | None) -> str:
    """The ``time`` object's text of a timestamp."""
    millis, offset_minutes = _time_fields(timestamp) if timestamp is not None else (0, 0)
    return (f'{{"timstamp":{integer(millis)},"minOffsetFromGMT":{integer(offset_minutes)}'
            ',"minDst":0}')


def _locator_texts(host: str | None, port: int | None) -> tuple[str, str]:
    """(``sessionLocator`` object text, ``clientHostName`` value text) of a client."""
    client_ip, ipv6 = _client_address(host)
    locator = (
        f'{{"clientIp":{string(client_ip if client_ip and not ipv6 else NO_IP)}'
        f',"clientPort":{dumps(port if port is not None else NO_PORT)}'
        f',"serverIp":{string(NO_IP)},"serverPort":{integer(NO_PORT)}'
        f',"isIpv6":{"true" if ipv6 else "false"}'
        f',"clientIpv6":{string(client_ip) if ipv6 else "null"}'
        ',"serverIpv6":null}')
    return locator, string(host if host and host != "[local]" and not client_ip else "")


class RecordTemplate:
    """The records of one (account, instance, values) setting as JSON lines.

    :meth:`line` takes what :func:`~pgaudit_parse.formats.guardium._record` takes (``sql``
    None for an ``exception`` record) and returns its JSON text and a newline. Small caches
    (per template, bounded) keep the text of what repeats from line to line: a database's
    ``dbName``, a client's ``sessionLocator``, the last timestamp's ``time``.
    """

    __slots__ = ("account_id", "instance", "values", "_connector", "_db_name", "_locator",
                 "_time", "_accessor_mid", "_accessor_tail", "_app_user", "_hide")

    def __init__(self, account_id: str | None, instance: str | None,
                 values: str = "connector", *, redacted: bool = False) -> None:
        _check_values(values)
        #: how a statement's passwords are hidden: not again when an SQL stage in
        #: ``passwords`` or ``literals`` mode already did (``redacted``; hiding is
        #: idempotent, tests/test_stage_fast_paths.py)
        self._hide: Callable[[str], str] = _as_given if redacted else redact_passwords
        self.account_id = account_id
        self.instance = instance
        self.values = values
        self._connector = values == "connector"
        self._app_user = string(APP_USER_NAME)
        # accessor: dbUser | clientHostName | serverHostName..sourceProgram | the rest
        self._accessor_mid = (
            f',"serverHostName":{string(_server_host(account_id, instance))}'
            f',"commProtocol":{string(COMM_PROTOCOL)},"dbProtocol":{string(SERVER_TYPE)}'
            ',"dbProtocolVersion":"","osUser":"","sourceProgram":')
        self._accessor_tail = (f',"language":{string(LANGUAGE)},"dataType":"TEXT"}},'
                               '"data":')
        #: a database's ``dbName`` text
        self._db_name: Callable[[str | None], str] = lru_cache(maxsize=_CACHE_SIZE)(
            lambda database: string(_db_name(database, account_id, instance)))
        #: (``sessionLocator`` object text, ``clientHostName`` value text) of a client;
        #: typed: a port of another type may equal an int one (True == 1.0 == 1)
        self._locator: Callable[[str | None, int | None], tuple[str, str]] = lru_cache(
            maxsize=_CACHE_SIZE, typed=True)(_locator_texts)
        #: the ``time`` object's text (a log's lines come in time order and share their
        #: timestamp objects: the last one's text is usually this one's)
        self._time: Callable[[datetime | None], str] = last_text(_time_text)

    def line(self, event: Event, sql: str | None, micros: int | None,
             rows: int | None) -> str:
        """The record's JSON text and a newline (see the class)."""
        try:
            return self._line(event, sql, micros, rows)
        except (TypeError, AttributeError):
            # a value of another type than declared (a library caller's event): the dict
            # and the stdlib write it (or raise what they raised before)
            return dumps(_record(event, sql, micros, rows, self.account_id, self.instance,
                                 self.values)) + "\n"

    def _line(self, event: Event, sql: str | None, micros: int | None,
              rows: int | None) -> str:
        connector = self._connector
        if sql is None:
            statement = event.statement
            sql_string = self._hide(statement) if statement else NOT_AVAILABLE
            # (a message that quotes a password of its statement does not carry it either)
            description = redact_echo(event.message, statement, sql_string)
            if connector:
                description = description.replace('"', "")  # the connector's gsub
            body = (
                'null,"exception":{"exceptionTypeId":'
                + ('"LOGIN_FAILED"' if event.kind == "login_failed" else '"SQL_ERROR"')
                + ',"description":' + string(description)
                + ',"sqlString":' + string(sql_string) + "}")
        else:
            body = ('{"construct":null,"originalSqlCommand":' + string(self._hide(sql))
                    + '},"exception":null')
        pid = event.pid
        session = event.session_id
        if connector:
            session_id = (str(pid) if pid is not None else None) or session
            application = self._app_user
            source_program = '""'
        else:
            session_id = session or (str(pid) if pid is not None else None)
            application = source_program = string(event.application_name or "")
        locator, host_name = self._locator(event.client_host, event.client_port)
        db_name = self._db_name(event.database)
        user = event.user
        # (ints by int.__repr__; a bool or another type where an int goes, by the stdlib)
        rows_text = ("-1" if rows is None else integer(records_affected(rows))
                     if rows.__class__ is int else dumps(rows))
        micros_text = ("null" if micros is None else integer(micros)
                       if micros.__class__ is int else dumps(micros))
        return (
            f'{{"sessionId":{string(session_id or "")},"dbName":{db_name}'
            f',"appUserName":{application},"time":{self._time(event.timestamp)}'
            f',"sessionLocator":{locator},"accessor":{{"dbUser":'
            f'{string(user or NOT_AVAILABLE)}{_AFTER_USER}{host_name}{self._accessor_mid}'
            f'{source_program},"client_mac":"","serverDescription":"","serviceName":'
            f'{db_name}{self._accessor_tail}{body},"recordsAffected":'
            f'{rows_text},"executionTime":{micros_text}}}\n')


class RecordWriter(RecordBuilder):
    """A :class:`~pgaudit_parse.formats.guardium.RecordBuilder` that also gives its records
    as JSON lines (:meth:`add_lines`, :meth:`flush_lines`), written by
    :class:`RecordTemplate` without making their dicts: what the output sinks use.
    ``redacted``: the events come from an SQL stage in ``passwords`` or ``literals`` mode
    (as in the output sinks), so their statements' passwords are hidden already and are
    not looked for again.

    >>> from pgaudit_parse import parse_lines
    >>> p = "2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  "
    >>> w = RecordWriter()
    >>> out = [r for e in parse_lines([p + "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
    ...                                p + "duration: 0.250 ms  statement: select 1"])
    ...        for r in w.add_lines(e)] + w.flush_lines()
    >>> len(out), out[0].endswith(',"executionTime":250}\\n')
    (1, True)
    """

    def __init__(self, account_id: str | None = None, instance: str | None = None,
                 max_backends: int = 4096, max_held: int = 10_000, *,
                 values: str = "connector", max_per_session: int = 64,
                 max_wait: float = 300.0,
                 max_held_bytes: int = DEFAULT_HELD_BYTES, redacted: bool = False) -> None:
        super().__init__(account_id, instance, max_backends, max_held, values=values,
                         max_per_session=max_per_session, max_wait=max_wait,
                         max_held_bytes=max_held_bytes)
        account, values = self.account_id, self.values
        #: the template of each instance name
        self._template_of: Callable[[str | None], RecordTemplate] = lru_cache(
            maxsize=_CACHE_SIZE)(lambda name: RecordTemplate(account, name, values,
                                                             redacted=redacted))

    def add_lines(self, event: Event, instance: str | None = None) -> list[str]:
        """:meth:`add`'s records as JSON lines (each ends with a newline)."""
        if instance is not None:
            self._instances[event.stream] = instance
        return self._lines(self._grouper.add(event))

    def flush_lines(self) -> list[str]:
        """:meth:`flush`'s records as JSON lines."""
        return self._lines(self._grouper.flush())

    def release_held_lines(self, stale: Callable[[str], bool],
                           busy: Set[str] = frozenset()) -> list[str]:
        """:meth:`release_held`'s records as JSON lines."""
        return self._lines(self._grouper.release_held(stale, busy))

    def _template(self, stream: str) -> RecordTemplate:
        return self._template_of(self._instances.get(stream) or self.instance)

    def _lines(self, items: Sequence[Execution | Event]) -> list[str]:
        out: list[str] = []
        for item in items:
            if isinstance(item, Execution):
                event = item.event
                out.append(self._template(event.stream).line(event, item.sql, item.micros,
                                                             item.rows))
            elif isinstance(item, ErrorEvent):
                out.append(self._template(item.stream).line(item, None, None, None))
        return out
