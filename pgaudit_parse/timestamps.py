"""Timestamps as PostgreSQL writes them in ``%t``, ``%m``, ``%n`` and ``%s``.

``%t``/``%s`` are ``YYYY-MM-DD HH:MM:SS ZONE``, ``%m`` adds milliseconds and ``%n`` is Unix
epoch seconds with milliseconds. ZONE is ``log_timezone``'s abbreviation (``UTC``, ``CET``,
``EST``...) or, for zones without one, a numeric offset (``+05:30``, ``-03``, ``+0545``).
Parsing is python-dateutil's, with a table for the abbreviations PostgreSQL's tz database
prints.

Some abbreviations name more than one zone (:data:`AMBIGUOUS_ZONES`): ``CST`` is US
Central and China, ``IST`` India, Israel and Ireland. A :class:`TimestampParser` given the
log's IANA zone (``log_timezone``; the CLI's ``--timezone``) reads every abbreviation in
that zone, daylight saving time included (the repeated autumn hour is told apart by its
abbreviation). Without a zone, an ambiguous abbreviation takes its first meaning in
:data:`AMBIGUOUS_ZONES` and the parser warns once per abbreviation
(:class:`AmbiguousZoneWarning`, or the ``on_ambiguous`` callback).

>>> parse_timestamp("2026-11-25 16:05:01.123 CET").isoformat()
'2026-11-25T16:05:01.123000+01:00'
>>> TimestampParser("Asia/Shanghai")("2026-11-25 16:05:01 CST").isoformat()
'2026-11-25T16:05:01+08:00'
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Final

from dateutil import parser as _dateutil_parser
from dateutil import tz as _tz

__all__ = ["parse_timestamp", "parse_epoch", "ZONE_ABBREVIATIONS", "AMBIGUOUS_ZONES",
           "TimestampError", "TimestampParser", "AmbiguousZoneWarning"]


class TimestampError(ValueError):
    """A timestamp PostgreSQL could not have written, or a zone we cannot place."""


class AmbiguousZoneWarning(UserWarning):
    """A zone abbreviation with several meanings was read without a known log zone."""


def _hours(h: float) -> int:
    return int(h * 3600)


#: Offsets (seconds east of UTC) of the zone abbreviations tzdata gives PostgreSQL.
#: Ambiguous ones take their most common meaning (IST = India, CST = US Central).
ZONE_ABBREVIATIONS: dict[str, int] = {
    "UTC": 0, "UCT": 0, "GMT": 0, "Z": 0, "UT": 0, "WET": 0, "WEST": _hours(1),
    "BST": _hours(1), "IST": _hours(5.5), "CET": _hours(1), "CEST": _hours(2),
    "MET": _hours(1), "MEST": _hours(2), "EET": _hours(2), "EEST": _hours(3),
    "MSK": _hours(3), "SAST": _hours(2), "CAT": _hours(2), "EAT": _hours(3),
    "WAT": _hours(1), "PKT": _hours(5), "NPT": _hours(5.75), "HKT": _hours(8),
    "SGT": _hours(8), "WIB": _hours(7), "WITA": _hours(8), "WIT": _hours(9),
    "PHT": _hours(8), "PST": _hours(-8), "PDT": _hours(-7), "MST": _hours(-7),
    "MDT": _hours(-6), "CST": _hours(-6), "CDT": _hours(-5), "EST": _hours(-5),
    "EDT": _hours(-4), "AST": _hours(-4), "ADT": _hours(-3), "NST": _hours(-3.5),
    "NDT": _hours(-2.5), "AKST": _hours(-9), "AKDT": _hours(-8), "HST": _hours(-10),
    "JST": _hours(9), "KST": _hours(9), "AEST": _hours(10), "AEDT": _hours(11),
    "ACST": _hours(9.5), "ACDT": _hours(10.5), "AWST": _hours(8), "NZST": _hours(12),
    "NZDT": _hours(13), "ChST": _hours(10), "SST": _hours(-11),
    # daylight forms of zones above (Israel's IDT beside IST, Adak's HDT beside HST) and
    # those tzdata used since 2001 (Perth 2006-09, Karachi 2008-09, Moscow until 2011)
    "IDT": _hours(3), "HDT": _hours(-9), "AWDT": _hours(9), "PKST": _hours(6),
    "MSD": _hours(4),
}

#: Abbreviations that name several zones: (meaning, offset) pairs, the default first. The
#: defaults are the meanings ``ZONE_ABBREVIATIONS`` gives (and PostgreSQL's own
#: ``timezone_abbreviations = 'Default'`` set, except for IST, which is India here).
AMBIGUOUS_ZONES: Final[dict[str, tuple[tuple[str, int], ...]]] = {
    "CST": (("US Central", _hours(-6)), ("China, Asia/Shanghai", _hours(8)),
            ("Cuba", _hours(-5))),
    "CDT": (("US Central daylight", _hours(-5)), ("Cuba daylight", _hours(-4))),
    "IST": (("India", _hours(5.5)), ("Israel", _hours(2)), ("Irish summer", _hours(1))),
    "BST": (("British summer", _hours(1)), ("Bangladesh", _hours(6))),
    "AST": (("Atlantic", _hours(-4)), ("Arabia", _hours(3))),
    "PST": (("US Pacific", _hours(-8)), ("Philippines", _hours(8))),
    "SST": (("Samoa", _hours(-11)), ("Singapore", _hours(8))),
}

_NUMERIC_ZONE = re.compile(r"^([+-])(\d{2})(?::?(\d{2}))?$")
_FAST = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? (\S+)$")


@lru_cache(maxsize=256)
def zone_for(name: str) -> timezone:
    """The fixed-offset zone for an abbreviation or numeric offset PostgreSQL printed.

    >>> zone_for("+05:30")
    datetime.timezone(datetime.timedelta(seconds=19800))
    """
    numeric = _NUMERIC_ZONE.match(name)
    if numeric:
        sign = -1 if numeric.group(1) == "-" else 1
        minutes = int(numeric.group(2)) * 60 + int(numeric.group(3) or 0)
        return timezone(sign * timedelta(minutes=minutes))
    if name in ZONE_ABBREVIATIONS:
        return timezone(timedelta(seconds=ZONE_ABBREVIATIONS[name]))
    if name.upper() in ZONE_ABBREVIATIONS:
        return timezone(timedelta(seconds=ZONE_ABBREVIATIONS[name.upper()]))
    found = _tz.gettz(name)
    if found is None:
        raise TimestampError(f"unknown time zone {name!r}")
    # A region name: use its offset now; PostgreSQL never prints region names, but
    # users may pass one with --timezone-style overrides.
    offset = datetime.now(found).utcoffset() or timedelta(0)
    return timezone(offset)


#: A quoted abbreviation of a POSIX zone string (``<-03>+3``).
_QUOTED_NAME = re.compile(r"<([^<>]*)>")


def log_zone(name: str) -> tzinfo | None:
    """The zone of a ``log_timezone`` setting, as PostgreSQL reads it: an IANA name, or a
    POSIX zone string, whose offsets count west of Greenwich (``UTC+3`` is three hours
    behind UTC; python-dateutil alone reads ``UTC+3`` and ``GMT+3`` the other way round).
    None for a name neither knows.

    >>> from datetime import datetime
    >>> [datetime(2026, 11, 30, 23, tzinfo=log_zone(name)).isoformat()
    ...  for name in ("UTC+3", "<-03>+3", "Asia/Kolkata")]
    ['2026-11-30T23:00:00-03:00', '2026-11-30T23:00:00-03:00', '2026-11-30T23:00:00+05:30']
    """
    if not name.strip():
        return None
    found = _tz.gettz(name)
    if found is not None and not isinstance(found, _tz.tzstr):
        return found  # a zone of the tz database
    # (a quoted abbreviation: tzstr takes letters only; a numeric one is printed as such,
    # and read without the zone)
    text = _QUOTED_NAME.sub(lambda m: m.group(1) if m.group(1).isalpha() else "ZZZ", name)
    if found is None and text == name:
        return None
    try:
        zone = _tz.tzstr(text, posix_offset=True)
        # An offset of a day or more (UTC+99) is no zone (PostgreSQL refuses it too).
        for month in (1, 7):
            datetime(2000, month, 1, tzinfo=zone).utcoffset()
    except ValueError:
        return None
    return zone


def _instant(moment: datetime) -> datetime:
    """``moment`` if it is an instant every output can write (in UTC too): a time near
    year 1 or 9999 whose offset takes it past datetime's range is not (raises
    :class:`TimestampError`).

    >>> _instant(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-12))))
    Traceback (most recent call last):
    ...
    pgaudit_parse.timestamps.TimestampError: timestamp out of range: 9999-12-31T23:00:00-12:00
    """
    if moment.year == 1 or moment.year == 9999:
        try:
            moment.astimezone(timezone.utc)
        except OverflowError:
            raise TimestampError(f"timestamp out of range: {moment.isoformat()}") from None
    return moment


@lru_cache(maxsize=4096)
def _cached_parse(text: str) -> datetime:
    fast = _FAST.match(text)
    if fast:
        year, month, day, hour, minute, second, fraction, zone = fast.groups()
        micro = int((fraction or "0").ljust(6, "0"))
        try:
            return _instant(datetime(int(year), int(month), int(day), int(hour),
                                     int(minute), int(second), micro, tzinfo=zone_for(zone)))
        except (ValueError, TimestampError) as exc:
            raise TimestampError(f"invalid timestamp {text!r}: {exc}") from None
    try:
        parsed = _dateutil_parser.parse(text, tzinfos=lambda name, offset: (
            zone_for(name) if name else None))
    except (ValueError, OverflowError, TimestampError) as exc:
        raise TimestampError(f"invalid timestamp {text!r}: {exc}") from None
    if parsed.tzinfo is None:
        raise TimestampError(f"timestamp without zone {text!r}")
    try:
        return _instant(parsed)
    except TimestampError as exc:
        raise TimestampError(f"invalid timestamp {text!r}: {exc}") from None


def _warn(message: str) -> None:
    warnings.warn(message, AmbiguousZoneWarning, stacklevel=4)


class TimestampParser:
    """Reads ``%t``/``%m``/``%s`` timestamps of one log, whose zone may be known.

    ``zone`` is an IANA name (``America/Chicago``), resolved with python-dateutil's tz
    database; an unknown name raises :class:`TimestampError`. ``on_ambiguous`` receives
    the one-line warning about an ambiguous abbreviation (once per abbreviation); the
    default issues an :class:`AmbiguousZoneWarning`. Results are aware datetimes with a
    fixed offset (the one the line was written in).

    >>> chicago = TimestampParser("America/Chicago")  # 01:30 happens twice on 2026-11-01
    >>> [chicago(f"2026-11-01 01:30:00 {name}").isoformat() for name in ("CDT", "CST")]
    ['2026-11-01T01:30:00-05:00', '2026-11-01T01:30:00-06:00']
    """

    __slots__ = ("zone", "_tzinfo", "_on_ambiguous", "_warned", "_cached")

    def __init__(self, zone: str | None = None,
                 on_ambiguous: Callable[[str], None] | None = None) -> None:
        self.zone = zone
        self._tzinfo = None
        if zone is not None:
            found = log_zone(zone)
            if found is None:
                raise TimestampError(f"unknown time zone {zone!r} (use an IANA name such "
                                     "as Asia/Shanghai)")
            self._tzinfo = found
        self._on_ambiguous = on_ambiguous if on_ambiguous is not None else _warn
        self._warned: set[str] = set()
        self._cached = lru_cache(maxsize=4096)(self._parse)

    def __call__(self, text: str) -> datetime:
        """Parse one timestamp; raises :class:`TimestampError` if it cannot be read."""
        return self._cached(text)

    def from_epoch(self, text: str) -> datetime:
        """A ``%n`` timestamp, written with the offset the log's zone has at that moment
        (UTC when the zone is not known).

        >>> TimestampParser("Asia/Kathmandu").from_epoch("1764086701.123").isoformat()
        '2025-11-25T21:50:01.123000+05:45'
        """
        moment = parse_epoch(text)
        if self._tzinfo is None:
            return moment
        offset = moment.astimezone(self._tzinfo).utcoffset()
        return moment.astimezone(timezone(offset)) if offset is not None else moment

    def from_parts(self, year: int, month: int, day: int, hour: int, minute: int, second: int,
                   microsecond: int, zone: str) -> datetime:
        """The moment of a timestamp already split into its parts."""
        try:
            naive = datetime(year, month, day, hour, minute, second, microsecond)
        except ValueError as exc:
            raise TimestampError(f"invalid timestamp: {exc}") from None
        return _instant(naive.replace(tzinfo=self.offset_of(zone, naive)))

    def offset_of(self, name: str, naive: datetime) -> timezone:
        """The fixed offset a zone abbreviation (or numeric zone) stands for at ``naive``."""
        if self._tzinfo is not None and not _NUMERIC_ZONE.match(name):
            for fold in (0, 1):
                moment = naive.replace(tzinfo=self._tzinfo, fold=fold)
                if moment.tzname() == name:
                    offset = moment.utcoffset()
                    if offset is not None:
                        return timezone(offset)
        if name in AMBIGUOUS_ZONES and name not in self._warned:
            self._warned.add(name)
            self._on_ambiguous(_ambiguity(name, self.zone))
        return zone_for(name)

    def _parse(self, text: str) -> datetime:
        fast = _FAST.match(text)
        if fast:
            year, month, day, hour, minute, second, fraction, zone = fast.groups()
            micro = int((fraction or "0").ljust(6, "0"))
            try:
                return self.from_parts(int(year), int(month), int(day), int(hour),
                                       int(minute), int(second), micro, zone)
            except TimestampError as exc:
                raise TimestampError(f"invalid timestamp {text!r}: {exc}") from None
        return _cached_parse(text)


def _ambiguity(name: str, zone: str | None) -> str:
    meanings = AMBIGUOUS_ZONES[name]
    default, offset = meanings[0]
    listed = ", ".join(f"{meaning} {_format_offset(seconds)}" for meaning, seconds in meanings)
    where = f" and is not used by {zone}" if zone else ""
    return (f"time zone abbreviation {name!r} is ambiguous ({listed}){where}; "
            f"read as {default} {_format_offset(offset)}: pass --timezone ZONE "
            "(timezone=) with the server's log_timezone")


def _format_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def parse_timestamp(text: str) -> datetime:
    """Parse a ``%t``/``%m``/``%s`` timestamp into an aware ``datetime``.

    Ambiguous abbreviations take their default meaning, silently; use a
    :class:`TimestampParser` to give the log's zone or to be warned.

    >>> parse_timestamp("2026-11-25 16:05:01 UTC").isoformat()
    '2026-11-25T16:05:01+00:00'
    >>> parse_timestamp("2026-11-25 16:05:01 -03").utcoffset()
    datetime.timedelta(days=-1, seconds=75600)
    """
    return _cached_parse(text)


def parse_epoch(text: str) -> datetime:
    """Parse a ``%n`` timestamp (epoch seconds with milliseconds) as UTC.

    >>> parse_epoch("1764086701.123").isoformat()
    '2025-11-25T16:05:01.123000+00:00'
    """
    try:
        seconds, _, fraction = text.partition(".")
        micro = int(fraction.ljust(6, "0")[:6]) if fraction else 0
        base = datetime.fromtimestamp(int(seconds), tz=timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise TimestampError(f"invalid epoch timestamp {text!r}: {exc}") from None
    return base.replace(microsecond=micro)
