"""Zone abbreviations are ambiguous (issue 8, item 14): ``--timezone`` / ``timezone=``.

``CST`` is US Central (-06:00) and China (+08:00, Asia/Shanghai prints ``CST``); ``IST``
is India, Israel or Ireland; ``BST`` British Summer Time or Bangladesh. With a zone given,
an abbreviation is read in that zone (DST-aware, including the repeated hour); without
it, an ambiguous abbreviation takes its documented default and is warned about once.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from dateutil.tz import gettz
from hypothesis import given
from hypothesis import strategies as st
from strategies import SETTINGS

import pgaudit_parse as pp
from pgaudit_parse.timestamps import (
    AMBIGUOUS_ZONES,
    ZONE_ABBREVIATIONS,
    AmbiguousZoneWarning,
    TimestampError,
    TimestampParser,
    parse_timestamp,
)

CHINA_LINE = "2026-11-25 16:05:01 CST::@:[77]:LOG:  checkpoint starting"


@pytest.mark.parametrize("zone, text, offset", [
    ("Asia/Shanghai", "2026-11-25 16:05:01 CST", timedelta(hours=8)),
    ("America/Chicago", "2026-11-25 16:05:01 CST", timedelta(hours=-6)),
    ("America/Chicago", "2026-07-01 16:05:01 CDT", timedelta(hours=-5)),
    ("Asia/Kolkata", "2026-11-25 16:05:01 IST", timedelta(hours=5, minutes=30)),
    ("Asia/Jerusalem", "2026-11-25 16:05:01 IST", timedelta(hours=2)),
    ("Europe/Dublin", "2026-07-01 16:05:01 IST", timedelta(hours=1)),
    ("Europe/Dublin", "2026-11-25 16:05:01 GMT", timedelta(0)),
    ("Europe/London", "2026-07-01 16:05:01 BST", timedelta(hours=1)),
    ("Asia/Dhaka", "2026-07-01 16:05:01 +06", timedelta(hours=6)),
    ("Asia/Shanghai", "2026-11-25 16:05:01 UTC", timedelta(0)),
])
def test_abbreviation_is_read_in_the_given_zone(zone: str, text: str, offset: timedelta) -> None:
    assert TimestampParser(zone)(text).utcoffset() == offset


def test_repeated_hour_is_told_apart_by_its_abbreviation() -> None:
    # 2026-11-01 01:30 happens twice in Chicago: first CDT (-05), then CST (-06).
    parse = TimestampParser("America/Chicago")
    assert parse("2026-11-01 01:30:00 CDT").utcoffset() == timedelta(hours=-5)
    assert parse("2026-11-01 01:30:00 CST").utcoffset() == timedelta(hours=-6)


def test_unknown_zone_name_is_an_error() -> None:
    with pytest.raises(TimestampError, match="Mars/Olympus"):
        TimestampParser("Mars/Olympus")


def test_library_parse_lines_takes_a_timezone() -> None:
    events = list(pp.parse_lines([CHINA_LINE], timezone="Asia/Shanghai"))
    assert events[0].timestamp.isoformat() == "2026-11-25T16:05:01+08:00"
    events = list(pp.parse_lines([CHINA_LINE], prefix=pp.LinePrefix(pp.RDS_PREFIX,
                                                                     timezone="Asia/Shanghai")))
    assert events[0].timestamp.utcoffset() == timedelta(hours=8)


def test_ambiguous_abbreviation_is_warned_about_once_without_a_zone() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = list(pp.parse_lines([CHINA_LINE] * 3))
    assert events[0].timestamp.utcoffset() == timedelta(hours=-6)  # the documented default
    ambiguous = [w for w in caught if issubclass(w.category, AmbiguousZoneWarning)]
    assert len(ambiguous) == 1
    assert "CST" in str(ambiguous[0].message) and "--timezone" in str(ambiguous[0].message)


def test_unambiguous_abbreviation_is_not_warned_about() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(pp.parse_lines(["2026-11-25 16:05:01 UTC::@:[77]:LOG:  x"]))
    assert not [w for w in caught if issubclass(w.category, AmbiguousZoneWarning)]


def test_parse_timestamp_keeps_its_default() -> None:
    assert parse_timestamp("2026-11-25 16:05:01 CST").utcoffset() == timedelta(hours=-6)


def _cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_cli_timezone_option() -> None:
    result = _cli("--format", "events", "--timezone", "Asia/Shanghai", "-",
                  stdin=CHINA_LINE + "\n")
    assert result.returncode == 0, result.stderr
    assert '"2026-11-25T16:05:01+08:00"' in result.stdout
    assert "ambiguous" not in result.stderr


def test_cli_warns_once_without_timezone() -> None:
    result = _cli("--format", "events", "-", stdin=(CHINA_LINE + "\n") * 5)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "CST" in line]
    assert len(lines) == 1 and "--timezone" in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "warnings.warn" not in result.stderr


def test_cli_unknown_timezone_is_one_line_and_exit_2() -> None:
    result = _cli("--timezone", "Mars/Olympus", "-", stdin=CHINA_LINE + "\n")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Mars/Olympus" in result.stderr


@pytest.mark.parametrize("command", [
    ["summary", "-"], ["cloudwatch", "--log-group", "g"],
    ["sqs", "--queue-url", "http://127.0.0.1:1/q"],
])
def test_every_reading_command_checks_its_timezone(command: list[str]) -> None:
    result = _cli(*command, "--timezone", "Mars/Olympus", stdin="")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Mars/Olympus" in result.stderr


def test_summary_reads_in_the_timezone() -> None:
    result = _cli("summary", "-", "--timezone", "Asia/Shanghai", stdin=CHINA_LINE + "\n")
    assert result.returncode == 0, result.stderr
    assert "2026-11-25 08:05:01 UTC" in result.stdout and "ambiguous" not in result.stderr


#: Zones whose abbreviations PostgreSQL prints (tzdata's, some numeric), DST of 30 and 60
#: minutes, negative DST (Dublin), the hemispheres.
IANA_ZONES = ("America/Chicago", "Asia/Shanghai", "Europe/Dublin", "Asia/Kolkata",
              "Europe/London", "America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kathmandu",
              "America/St_Johns", "Pacific/Chatham", "Asia/Jerusalem", "America/Havana")


@SETTINGS
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31),
                    timezones=st.just(timezone.utc)),
       st.sampled_from(IANA_ZONES))
def test_any_moment_printed_in_a_zone_reads_back(moment: datetime, zone: str) -> None:
    # As PostgreSQL prints %t in log_timezone: local time and the zone's abbreviation
    # (the repeated autumn hour included: its two halves have different abbreviations).
    local = moment.replace(microsecond=0).astimezone(gettz(zone))
    text = local.strftime("%Y-%m-%d %H:%M:%S ") + str(local.tzname())
    parsed = TimestampParser(zone)(text)
    assert parsed == local and parsed.utcoffset() == local.utcoffset()


def _tzdata_abbreviations(since: int) -> dict[str, set[tuple[str, int]]]:
    """Every abbreviation tzdata gives a zone (what PostgreSQL prints for %t/%m with that
    log_timezone) from ``since`` to 2030, with (zone, offset seconds) where it is used."""
    import re
    import zoneinfo

    seen: dict[str, set[tuple[str, int]]] = {}
    for name in sorted(zoneinfo.available_timezones()):
        zone = zoneinfo.ZoneInfo(name)
        for year in range(since, 2031):
            for month in (1, 4, 7, 10):
                local = datetime(year, month, 15, 12, tzinfo=zone)
                abbreviation = local.tzname() or ""
                offset = local.utcoffset()
                if offset is None or re.fullmatch(r"[+-]\d+", abbreviation):
                    continue  # numeric forms are read as they are
                seen.setdefault(abbreviation, set()).add((name, int(offset.total_seconds())))
    return seen


def test_every_abbreviation_postgresql_prints_is_known() -> None:
    """Without --timezone, every abbreviation tzdata has used since 2001 reads (an
    Israeli server's summer IDT, Adak's HDT were 'unknown time zone' rejects, every line),
    at one of its offsets (ambiguous ones at their default, with a warning)."""
    unknown = {abbreviation: sorted(uses)[:2]
               for abbreviation, uses in _tzdata_abbreviations(2001).items()
               if abbreviation not in ZONE_ABBREVIATIONS}
    assert unknown == {}
    # one meaning each today (MSK was +04 until 2014, Pyongyang's KST +08:30 until 2018)
    for abbreviation, uses in _tzdata_abbreviations(2020).items():
        if abbreviation not in AMBIGUOUS_ZONES:
            assert {offset for _, offset in uses} == {ZONE_ABBREVIATIONS[abbreviation]}, \
                abbreviation
