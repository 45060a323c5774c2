"""Hypothesis strategies shared by the property and fuzz tests.

Three families, each rendering its data *the way PostgreSQL or pgAudit write it*, so the
tests can compare what the parser reads back with what was generated:

* :func:`prefix_cases` -- a ``log_line_prefix`` built from PostgreSQL's documented escapes
  (with padding and ``%q``), values for every escape, and one rendered log line
  (``elog.c``'s ``log_line_prefix()``: ``%*s`` padding in bytes, ``%q`` stops the prefix
  for processes without a client connection, session values empty for them);
* :func:`audit_records` -- pgAudit records rendered by ``append_valid_csv`` rules;
* :func:`log_files` -- whole server-log files (bytes) mixing valid multi-line messages,
  interleaved backends, truncated lines and binary junk.

Settings profiles live here too (:data:`SETTINGS`): see :func:`profile_name`.

>>> pad("bob", -5) + "|" + pad("7", 3)
'bob  |  7'
"""

from __future__ import annotations

import gzip
import json
import os
import re
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pgaudit_parse.prefix import PRIMARY_SEVERITIES, SECONDARY_LABELS, SEVERITIES

# -- settings profiles --------------------------------------------------------------------

# "pgaudit-ci": enough examples to matter, bounded time, derandomized. CI gates merges, so a
# red run must be reproducible by anyone (`CI=true pytest ...` replays the same examples)
# and never flake on an input nobody changed; exploring new inputs is the job of local
# runs, which use the randomized "pgaudit-dev" profile (and hypothesis' example database
# keeps any failure they find for the next run).
settings.register_profile(
    "pgaudit-ci", max_examples=500, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "pgaudit-dev", max_examples=100, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# "pgaudit-deep": a long randomized hunt, run by hand before a release or after a change to
# the grammar or a fast path:
#   PGAUDIT_HYPOTHESIS_PROFILE=pgaudit-deep pytest tests/test_fuzz_files.py
settings.register_profile(
    "pgaudit-deep", max_examples=5000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def profile_name() -> str:
    """``$PGAUDIT_HYPOTHESIS_PROFILE`` if set, else ``pgaudit-ci`` when ``$CI`` is set,
    else ``pgaudit-dev``.

    The profile is applied per test (``@SETTINGS``), not loaded globally, so other test
    modules keep their own hypothesis settings.
    """
    chosen = os.environ.get("PGAUDIT_HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "pgaudit-ci" if os.environ.get("CI") else "pgaudit-dev"


#: The settings every property test here runs with.
SETTINGS = settings(settings.get_profile(profile_name()))


def scaled(fraction: float) -> settings:
    """The profile with ``max_examples`` scaled (for tests that are costly per example)."""
    return settings(SETTINGS, max_examples=max(10, int(SETTINGS.max_examples * fraction)))


# -- values as PostgreSQL writes them -----------------------------------------------------

#: Zones as ``log_timezone`` prints them: abbreviations, and tzdata's numeric forms, with
#: the offsets (seconds east of UTC) they stand for.
ZONE_OFFSETS: dict[str, int] = {
    "UTC": 0, "CET": 3600, "CEST": 7200, "EST": -18000, "GMT": 0, "+05:30": 19800,
    "-03": -10800, "+0545": 20700, "+03": 10800, "-0330": -12600, "ChST": 36000,
    "NZDT": 46800,
}
ZONES = tuple(ZONE_OFFSETS)

_stamps = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))


def _stamp(moment: datetime, zone: str, millis: bool) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if millis:
        text += f".{moment.microsecond // 1000:03d}"
    return f"{text} {zone}"


def _typed_stamp(moment: datetime, zone: str, millis: bool) -> tuple[str, object]:
    """A timestamp as PostgreSQL prints it, and the moment it stands for."""
    micro = (moment.microsecond // 1000) * 1000 if millis else 0
    offset = timezone(timedelta(seconds=ZONE_OFFSETS[zone]))
    value = moment.replace(microsecond=micro, tzinfo=offset)
    return _stamp(moment, zone, millis), value


def _typed_epoch(seconds: int, millis: int) -> tuple[str, object]:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=millis * 1000)
    return f"{seconds}.{millis:03d}", moment


def _as_text(typed: st.SearchStrategy[tuple[str, object]]) -> st.SearchStrategy[str]:
    return typed.map(lambda pair: pair[0])


def _same(text: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, object]]:
    return text.map(lambda value: (value, value))


def _number(low: int, high: int) -> st.SearchStrategy[tuple[str, object]]:
    return st.integers(low, high).map(lambda n: (str(n), n))


typed_timestamps_t = st.builds(_typed_stamp, _stamps, st.sampled_from(ZONES), st.just(False))
typed_timestamps_m = st.builds(_typed_stamp, _stamps, st.sampled_from(ZONES), st.just(True))
typed_epochs = st.builds(_typed_epoch, st.integers(0, 4_102_444_800), st.integers(0, 999))
timestamps_t = _as_text(typed_timestamps_t)
timestamps_m = _as_text(typed_timestamps_m)
epochs = _as_text(typed_epochs)
pids = st.integers(1, 4_194_304).map(str)

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.one_of(st.just("2001:db8::5"), st.just("::1"), st.ip_addresses(v=6).map(str))
hostnames = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,8}){0,3}", fullmatch=True)
hosts = st.one_of(ipv4, ipv6, hostnames)
ports = st.integers(1, 65535)
#: ``%r`` of a client backend: ``host(port)`` or ``[local]``.
typed_remotes = st.one_of(st.builds(lambda h, p: (f"{h}({p})", (h, p)), hosts, ports),
                          st.just(("[local]", ("[local]", None))))
remotes = _as_text(typed_remotes)

_free_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\x00")
#: Names PostgreSQL lets users pick (role, database, application_name): anything but LF.
free_text = st.one_of(
    st.sampled_from(["alice", "rdsadmin", "app user", "O'Brien", 'we"ird', "a,b", "数据库",
                     "Ünïcödé", "psql", "[unknown]", "pgAdmin 4 - DB:shop", "x@y", "[7]"]),
    st.text(_free_chars, max_size=12),
)
backend_types = st.sampled_from(["client backend", "checkpointer", "autovacuum worker",
                                 "walsender", "background writer", "pg_cron launcher"])
command_tags = st.sampled_from(["SELECT", "INSERT", "idle", "idle in transaction",
                                "authentication", "CREATE TABLE", ""])
sqlstates = st.text(string.digits + string.ascii_uppercase, min_size=5, max_size=5)

#: Text after ``SEVERITY:  `` on one physical line (no LF; CR, TAB, quotes, commas allowed).
messages = st.one_of(
    st.sampled_from([
        "checkpoint starting: time",
        "AUDIT: SESSION,1,1,READ,SELECT,,,\"select 1, 'x'\",<not logged>",
        "connection received: host=10.0.0.5 port=50012",
        'password authentication failed for user "bob"',
        "duration: 0.123 ms  statement: select 1",
        "relation \"public.t\" does not exist at character 15",
        "a LOG:  inside ERROR:  and more",
        "tab\tand\rcr",
        "",
    ]),
    st.text(_free_chars, max_size=40),
)

FREE_TEXT_ESCAPES = "audhbiL"
STRUCTURED_ESCAPES = "tmsnpPlxecvQr"

#: Values of a backend serving a client, per escape: (text PostgreSQL writes, what it is:
#: an aware datetime, an int, a pair of ints, (host, port), or the text itself).
TYPED_VALUES: dict[str, st.SearchStrategy[tuple[str, object]]] = {
    "a": _same(free_text), "u": _same(free_text), "d": _same(free_text),
    "h": _same(st.one_of(hosts, st.just("[local]"))), "b": _same(backend_types),
    "i": _same(command_tags), "L": _same(st.one_of(hosts, st.just("[local]"))),
    "t": typed_timestamps_t, "m": typed_timestamps_m, "s": typed_timestamps_t,
    "n": typed_epochs, "p": _number(1, 4_194_304),
    "P": st.one_of(st.just(("", None)), _number(1, 4_194_304)), "l": _number(1, 10**6),
    "x": _number(0, 2**32 - 1), "e": _same(sqlstates),
    "c": st.builds(lambda a, b: (f"{a:x}.{b:x}", (a, b)), st.integers(0, 2**32 - 1),
                   st.integers(1, 2**22)),
    "v": st.builds(lambda a, b: (f"{a}/{b}", (a, b)), st.integers(1, 200),
                   st.integers(0, 10**7)),
    "Q": _number(-(2**63), 2**63 - 1), "r": typed_remotes,
}
#: The same, text only.
BACKEND_VALUES: dict[str, st.SearchStrategy[str]] = {
    letter: _as_text(typed) for letter, typed in TYPED_VALUES.items()
}
#: What an empty value (a process without a client) stands for.
EMPTY_VALUES: dict[str, object] = {"r": None, "P": None, "v": None}
#: Escapes a process without a client connection (checkpointer...) writes as nothing.
SESSION_ONLY = frozenset("audhirvPL")

# -- prefixes -----------------------------------------------------------------------------

#: First characters of a literal that follows an escape: punctuation no value can swallow.
_SEPARATOR_STARTS = (":", " ", "@", "[", "]", ",", "|", ";", "<", ">", "=", "#", "*", "%")
_SEPARATOR_TAILS = ("", "", " ", ":", "@", "[", "]", "user=", "db=", "app=", "client=",
                    "-1", "pid=", "%", "(", ")")
_LEADS = ("", "", "", "< ", "pg ", "[", "%")


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Escape:
    letter: str
    padding: int = 0


SpecItem = Literal | Escape


def spec_text(items: tuple[SpecItem, ...]) -> str:
    """The ``log_line_prefix`` string of spec items (``%`` in literals doubled)."""
    out = []
    for item in items:
        if isinstance(item, Literal):
            out.append(item.text.replace("%", "%%"))
        else:
            out.append(f"%{item.padding if item.padding else ''}{item.letter}")
    return "".join(out)


@st.composite
def prefix_items(draw: st.DrawFn) -> tuple[SpecItem, ...]:
    """Spec items: escapes in random order, literal separators between them, maybe ``%q``.

    Every two escapes have a non-empty literal between them and every structured escape is
    followed by one (PostgreSQL could not be read back otherwise: ``%p%l`` is ambiguous).
    """
    letters = draw(st.lists(st.sampled_from(FREE_TEXT_ESCAPES + STRUCTURED_ESCAPES),
                            min_size=1, max_size=7, unique=True))
    q_at = draw(st.none() | st.integers(0, len(letters)))
    items: list[SpecItem] = []
    lead = draw(st.sampled_from(_LEADS))
    if lead:
        items.append(Literal(lead))
    for index, letter in enumerate(letters):
        if q_at == index:
            items.append(Escape("q"))
        padding = draw(st.sampled_from([0, 0, 0, -12, -5, 3, 10, 25]))
        items.append(Escape(letter, padding))
        last = index == len(letters) - 1
        needed = (not last or letter in STRUCTURED_ESCAPES or q_at == len(letters)
                  or draw(st.booleans()))
        if needed:
            start = draw(st.sampled_from(_SEPARATOR_STARTS))
            tail = "".join(draw(st.lists(st.sampled_from(_SEPARATOR_TAILS), max_size=2)))
            items.append(Literal(start + tail))
    if q_at == len(letters):
        items.append(Escape("q"))
    return tuple(items)


@dataclass(frozen=True)
class PrefixCase:
    """One generated line: its prefix spec and what the parser must read back."""

    spec: str
    line: str
    rendered_prefix: str
    fields: dict[str, str]
    severity: str
    message: str
    background: bool = False
    items: tuple[SpecItem, ...] = field(default=(), repr=False)
    #: What each value is (see TYPED_VALUES); empty for hand-written cases.
    values: dict[str, object] = field(default_factory=dict, repr=False)


def pad(value: str, width: int) -> str:
    """``%*s`` as PostgreSQL's snprintf does it: width counts bytes, negative = left-aligned."""
    missing = abs(width) - len(value.encode("utf-8"))
    if width == 0 or missing <= 0:
        return value
    return value + " " * missing if width < 0 else " " * missing + value


_SEVERITY_FOLLOWS = re.compile("(?:" + "|".join(SEVERITIES) + "):  ")


def _stops_at_end(rendered: str, following: str | None, severity: str) -> bool:
    """The documented rule for free text: its value ends at the first place where what
    follows it can follow. True when that first place is the value's real end."""
    if following is not None:
        return (rendered + following).find(following) == len(rendered)
    found = _SEVERITY_FOLLOWS.search(rendered + severity + ":  ")
    return found is not None and found.start() == len(rendered)


def _next_literal(items: tuple[SpecItem, ...], index: int) -> str | None:
    """The literal right after item ``index`` (None if the prefix ends there)."""
    if index + 1 < len(items) and isinstance(items[index + 1], Literal):
        return items[index + 1].text  # type: ignore[union-attr]
    return None


@st.composite
def prefix_cases(draw: st.DrawFn) -> PrefixCase:
    """A prefix spec and one line of it, with the values the parser must return."""
    items = draw(prefix_items())
    severity = draw(st.sampled_from(PRIMARY_SEVERITIES + SECONDARY_LABELS))
    message = draw(messages)
    q_index = next((i for i, it in enumerate(items) if it == Escape("q")), None)
    after_literals = [it.text for it in items[q_index + 1:] if isinstance(it, Literal)] \
        if q_index is not None else []
    rest = severity + ":  " + message
    # A process without a client stops at %q; the optional part after %q must then not
    # fit the severity and message instead (it cannot when one of its literals is absent).
    background = draw(st.booleans()) and (
        q_index is None or any(text not in rest for text in after_literals))
    rendered: list[str] = []
    fields: dict[str, str] = {}
    values: dict[str, object] = {}
    for index, item in enumerate(items):
        if isinstance(item, Literal):
            rendered.append(item.text)
            continue
        if item.letter == "q":
            if background:
                break
            continue
        if background and item.letter in SESSION_ONLY:
            value = ""
            values[item.letter] = EMPTY_VALUES.get(item.letter, "")
        elif item.letter in FREE_TEXT_ESCAPES:
            following = _next_literal(items, index)

            def fits(v: str, width: int = item.padding, nxt: str | None = following) -> bool:
                if width and v != v.strip(" "):
                    return False  # padding spaces are stripped: the value must not have any
                # The rule is about the value; its padding is PostgreSQL's, not the user's.
                return _stops_at_end(v, nxt, severity)

            value = draw(BACKEND_VALUES[item.letter].filter(fits))
            values[item.letter] = value
        else:
            value, values[item.letter] = draw(TYPED_VALUES[item.letter])
        fields[item.letter] = value
        rendered.append(pad(value, item.padding))
    prefix_text = "".join(rendered)
    return PrefixCase(spec_text(items), prefix_text + rest, prefix_text, fields, severity,
                      message, background, items, values)


#: Characters that make prefix parsing interesting (escape letters, separators, digits...).
_LINE_ALPHABET = ("0123456789:-. ()[]@,\t\r%/+" + "UTCLOGERRFATDEBUGSTAMENTlocal"
                  + "abcdef" + "é数")
arbitrary_lines = st.text(st.sampled_from(_LINE_ALPHABET), max_size=80)
#: Any ``log_line_prefix``-like text, valid or not (tokenizer and grammar must cope).
arbitrary_specs = st.text(st.sampled_from("%%%tmsnpPlxecvQruadhbiLqz-1234 :[]@()"),
                          max_size=20)


@st.composite
def mutated_lines(draw: st.DrawFn) -> tuple[str, str]:
    """``(spec, line)``: a rendered line with a few characters inserted, deleted, replaced
    or cut off (it may or may not still fit the prefix)."""
    case = draw(prefix_cases())
    text = case.line
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        char = draw(st.sampled_from(_LINE_ALPHABET))
        if action == "insert":
            text = text[:position] + char + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + 1:]
        elif action == "replace":
            text = text[:position] + char + text[position + 1:]
        else:
            text = text[:position]
    return case.spec, text


# -- pgAudit records ----------------------------------------------------------------------

AUDIT_CLASSES = ("READ", "WRITE", "FUNCTION", "ROLE", "DDL", "MISC", "MISC_SET")
_statement_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
statements = st.one_of(
    st.sampled_from([
        "select 1",
        "select 'a,b', \"Col\" from t -- comment, with \"quotes\"",
        "insert into t values (1, 'x')\r\n  returning *",
        "select $1, $2\n-- trailing comment",
        "update t set name = 'Ünïcödé 数据' where id = 1",
        "select E'a\\nb', '\\t'",
        "",
    ]),
    st.text(_statement_chars, max_size=60),
)
parameter_values = st.one_of(
    st.sampled_from(["", "1", "a,b", 'say "hi"', "line1\nline2", "cr\rhere", "<none>",
                     "<not logged>", "<long field suppressed>", "\\N", " spaced "]),
    st.text(_statement_chars, max_size=15),
)


@dataclass(frozen=True)
class AuditRecord:
    """What pgAudit knows when it writes one line (``None`` = a NULL it skips)."""

    audit_type: str
    statement_id: int
    substatement_id: int
    class_: str
    command: str
    object_type: str
    object_name: str
    statement: str | None  # None: pgaudit.log_statement is off
    parameter: list[str | None] | None  # None: log_parameter off; list items None = NULL
    previously_logged: bool
    rows: int | None  # None: pgaudit.log_rows off


def append_valid_csv(value: str) -> str:
    """pgAudit's ``append_valid_csv``: quote only when a , " CR or LF is inside."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def render_audit_record(record: AuditRecord) -> str:
    """The text after ``AUDIT: `` exactly as pgAudit's ``log_audit_event`` builds it."""
    head = (f"{record.audit_type},{record.statement_id},{record.substatement_id},"
            f"{record.class_},")
    body = ",".join(append_valid_csv(v) for v in (record.command, record.object_type,
                                                    record.object_name))
    body += ","
    if record.previously_logged:
        body += "<previously logged>,<previously logged>"
    elif record.statement is None:
        body += "<not logged>,<not logged>"
    else:
        body += append_valid_csv(record.statement) + ","
        if record.parameter is None:
            body += "<not logged>"
        elif not record.parameter:
            body += "<none>"
        else:
            joined = ",".join("" if v is None else append_valid_csv(v) for v in record.parameter)
            body += append_valid_csv(joined)
    if record.rows is not None:
        body += f",{record.rows}"
    return head + body


def _unambiguous(record: AuditRecord) -> bool:
    # pgAudit's format cannot tell these apart from its markers; the parser is not to blame.
    if record.statement in ("<not logged>", "<previously logged>"):
        return False
    params = record.parameter
    return not (params is not None and len(params) == 1
                and params[0] in ("<none>", "<not logged>", "<previously logged>"))


audit_records = st.builds(
    AuditRecord,
    audit_type=st.sampled_from(["SESSION", "OBJECT"]),
    statement_id=st.integers(1, 2**63 - 1),
    substatement_id=st.integers(1, 2**31),
    class_=st.sampled_from(AUDIT_CLASSES),
    command=st.sampled_from(["SELECT", "INSERT", "CREATE TABLE", "DO", "SET", "GRANT", "???"]),
    object_type=st.sampled_from(["", "TABLE", "INDEX", "FUNCTION", "VIEW"]),
    object_name=st.one_of(st.sampled_from(["", "public.t", 'public."we,ird ""t"""',
                                           "数据.表"]), st.text(_statement_chars, max_size=12)),
    statement=st.one_of(st.none(), statements),
    parameter=st.one_of(st.none(), st.lists(st.one_of(st.none(), parameter_values),
                                            max_size=5)),
    previously_logged=st.sampled_from([False, False, False, True]),
    rows=st.one_of(st.none(), st.integers(0, 2**63 - 1)),
).filter(_unambiguous)

#: Text that looks like CSV (quotes, commas, CR, LF, TAB, backslashes) or anything at all.
csv_like_text = st.one_of(
    st.text(st.sampled_from(',"\r\n\t\\ ntab<>'), max_size=30),
    st.text(_statement_chars, max_size=30),
)

# -- whole log files ----------------------------------------------------------------------

RDS_PREFIX_LINE = "{ts}:{remote}:{user}@{db}:[{pid}]:"


@st.composite
def _entry_lines(draw: st.DrawFn, pid: str) -> list[str]:
    """The physical lines of one RDS-prefixed message (continuations, secondary lines)."""
    bad_stamp = draw(st.integers(0, 7)) == 0  # rejected whole by the event builder
    ts = draw(st.sampled_from(["2026-13-45 99:99:99 UTC", "2026-11-25 16:05:01 XYZQ",
                               "0000-00-00 00:00:00 UTC"]) if bad_stamp else timestamps_t)
    remote = draw(st.one_of(remotes, st.just("")))
    user = draw(st.sampled_from(["alice", "bob", "", "a b"]))
    db = draw(st.sampled_from(["shop", "postgres", ""]))
    prefix = RDS_PREFIX_LINE.format(ts=ts, remote=remote, user=user, db=db, pid=pid)
    severity = draw(st.sampled_from(PRIMARY_SEVERITIES))
    if draw(st.booleans()):
        record = draw(audit_records)
        text = "AUDIT: " + render_audit_record(record)
        if draw(st.integers(0, 5)) == 0:  # a torn payload
            text = text[: draw(st.integers(0, len(text)))]
    else:
        text = draw(st.one_of(messages, statements))
    lines = _with_continuations(prefix + severity + ":  " + text)
    for label in draw(st.lists(st.sampled_from(SECONDARY_LABELS), max_size=2)):
        lines += _with_continuations(prefix + label + ":  " + draw(statements))
    return lines


def _with_continuations(text: str) -> list[str]:
    """PostgreSQL's stderr writes each LF inside a message as LF + TAB."""
    first, *more = text.split("\n")
    return [first] + ["\t" + part for part in more]


_junk_line = st.one_of(
    st.binary(max_size=60),
    st.sampled_from([b"", b"\x00\x00", b"\xff\xfe\xfd", b"\r", b"abc\rdef", b"\t",
                     b"\tcontinuation of nothing", b"\xe2\x82", b"[", b"{", b"{[]: 1}",
                     b'{"events": [1]}', b"{'message': 'x', 'logStreamName': []}",
                     b"2026-11-25 16:05:01 UTC::@:[77]:", b"\x1f\x8b"]),
)


@st.composite
def log_lines(draw: st.DrawFn) -> list[bytes]:
    """Physical lines (bytes, no LF) of a server log with all kinds of damage.

    Blocks (one message with its continuation and secondary lines, a truncated message, a
    junk line) are merged in random order, keeping each block's own order: backends
    interleave, and a window may close over a message before its last line arrives.
    """
    pool = draw(st.lists(pids, min_size=1, max_size=4, unique=True))
    blocks: list[list[bytes]] = []
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["entry", "entry", "entry", "truncated", "junk"]))
        if kind == "junk":
            blocks.append([draw(_junk_line)])
            continue
        lines = [line.encode("utf-8", "surrogatepass")
                 for line in draw(_entry_lines(draw(st.sampled_from(pool))))]
        if kind == "truncated":
            cut = draw(st.integers(0, len(lines) - 1))
            lines = lines[:cut] + [lines[cut][: draw(st.integers(0, len(lines[cut])))]]
        blocks.append(lines)
    out: list[bytes] = []
    live = [block for block in blocks if block]
    while live:
        block = live[draw(st.integers(0, len(live) - 1))] if draw(st.booleans()) else live[0]
        out.append(block.pop(0))
        live = [b for b in live if b]
    return out


def join_lines(lines: list[bytes], final_newline: bool) -> bytes:
    """The file content of physical lines (a LF after each, except maybe the last)."""
    data = b"\n".join(lines)
    return data + b"\n" if final_newline and lines else data


#: Every kind of input ``read_input`` reads, as :func:`log_files` stores them.
CONTAINERS = ("plain", "crlf", "bom", "gzip", "cloudwatch", "filter", "forwarder", "seed",
              "sqs")
#: Lines that decide whether a file is CRLF (sources._CRLF_SAMPLE, stated again here).
CRLF_SAMPLE = 8


@dataclass(frozen=True)
class LogFile:
    """A generated input file: its bytes and how they are stored.

    ``container`` is one of :data:`CONTAINERS`: ``"plain"``, ``"crlf"`` (CR LF line ends),
    ``"bom"`` (a UTF-8 byte-order mark first, LF or CRLF), ``"gzip"`` (``truncated``: cut
    short, as a file copied while it was written), ``"cloudwatch"`` (a JSON list of events
    each holding one line or a few lines, over two log streams), ``"filter"``
    (``aws logs filter-log-events`` output), ``"forwarder"`` (this project's SQS bodies,
    one JSON object per line), ``"seed"`` (the seed Lambda's ``str(dict)`` bodies, one per
    line) or ``"sqs"`` (seed bodies with raw text lines among them: damage).
    ``damage`` names what :func:`damaged_files` did to it (empty: intact).
    """

    lines: tuple[bytes, ...]
    final_newline: bool
    container: str
    data: bytes
    truncated: bool = False
    damage: tuple[str, ...] = ()
    #: How many lines each event holds (JSON kinds).
    split: tuple[int, ...] = ()

    @property
    def plain(self) -> bool:
        """Stored as a server log (perhaps compressed), not as JSON."""
        return self.container in ("plain", "crlf", "bom", "gzip")

    @property
    def texts(self) -> list[str]:
        """The physical lines a reader must produce (invalid UTF-8 as backslash escapes)."""
        content = join_lines(list(self.lines), self.final_newline)
        text = content.decode("utf-8", "backslashreplace")
        parts = text.split("\n")
        if parts and parts[-1] == "":
            parts.pop()
        return parts

    @property
    def expected(self) -> list[str]:
        """What ``read_input`` yields for the intact file, in order: the physical lines
        without empty ones (a run of them is one reject) for plain kinds, with exactly the
        CR of a CRLF file's line ends removed; the lines of each event for JSON kinds."""
        if self.plain:
            content = self.data if self.container != "gzip" else gzip.decompress(self.data)
            text = content.decode("utf-8", "backslashreplace").removeprefix("\ufeff")
            parts = text.split("\n")
            complete = parts[:-1]
            sample = [t for t in complete[:CRLF_SAMPLE] if t]
            crlf = bool(sample) and all(t.endswith("\r") for t in sample)
            if crlf:
                parts = [t[:-1] if t.endswith("\r") else t for t in parts]
            return [t for t in parts if t]
        if self.container in ("seed", "sqs"):
            out = []
            for text in self.texts or [""]:
                out += [("\t" + p[1:] if p.startswith(" ") else p) for p in text.split("|||")]
            return out
        out = []
        content = join_lines(list(self.lines), self.final_newline)
        texts = content.decode("utf-8", "backslashreplace").split("\n")
        for message in _event_messages(texts, self.split):
            parts = message.split("\n")
            if parts and parts[-1] == "":
                parts.pop()
            out += parts or [""]
        return out



def _event_messages(texts: list[str], split: tuple[int, ...]) -> list[str]:
    messages, index = [], 0
    for size in split:
        messages.append("\n".join(texts[index:index + size]))
        index += size
    return messages


def _events(texts: list[str], split: tuple[int, ...], streams: list[str]) -> list[dict]:
    messages = _event_messages(texts, split)
    return [{"timestamp": 1764086701000 + i, "eventId": str(i), "logStreamName": stream,
             "message": message}
            for i, (message, stream) in enumerate(zip(messages, streams, strict=True))]


@st.composite
def log_files(draw: st.DrawFn, containers: tuple[str, ...] = CONTAINERS) -> LogFile:
    """Server-log files (see :func:`log_lines`) stored as each kind of input."""
    lines = draw(log_lines())
    final_newline = draw(st.booleans())
    container = draw(st.sampled_from(containers))
    content = join_lines(lines, final_newline)
    if container == "gzip":
        data = gzip.compress(content, mtime=0)
        cut = draw(st.none() | st.integers(0, len(data) - 1))
        if cut is not None:
            return LogFile(tuple(lines), final_newline, container, data[:cut], True)
        return LogFile(tuple(lines), final_newline, container, data)
    if container == "crlf":
        return LogFile(tuple(lines), final_newline, container, content.replace(b"\n", b"\r\n"))
    if container == "bom":
        if draw(st.booleans()):
            content = content.replace(b"\n", b"\r\n")
        return LogFile(tuple(lines), final_newline, container, b"\xef\xbb\xbf" + content)
    texts = content.decode("utf-8", "backslashreplace").split("\n")
    if container in ("seed", "sqs"):
        if texts[-1] == "":
            texts.pop()
        texts = texts or [""]
        # Bodies as the seed Lambda queued them: str(dict), one per line.
        bodies = [repr({"message": text + "++", "logStreamName": "db-a"})
                  if container == "seed" or draw(st.integers(0, 9)) > 0 else text
                  for text in texts]
        return LogFile(tuple(lines), final_newline, container, "\n".join(bodies).encode())
    split: list[int] = []
    total = 0
    while total < len(texts):
        size = min(draw(st.integers(1, 3)), len(texts) - total)
        split.append(size)
        total += size
    streams = [draw(st.sampled_from(["db-a", "db-b"])) for _ in split]
    events = _events(texts, tuple(split), streams)
    if container == "cloudwatch":
        data = json.dumps(events, indent=draw(st.sampled_from([None, 1]))).encode()
    elif container == "filter":
        data = json.dumps({"events": events, "searchedLogStreams": []},
                          indent=draw(st.sampled_from([None, 4]))).encode()
    else:  # forwarder: a few events per body, one body per line
        bodies, index = [], 0
        while index < len(events):
            size = draw(st.integers(1, 3))
            bodies.append(json.dumps({"v": 1, "logGroup": "/aws/rds/instance/db/postgresql",
                                      "events": events[index:index + size]}))
            index += size
        data = "\n".join(bodies).encode() + b"\n"
    return LogFile(tuple(lines), final_newline, container, data, split=tuple(split))


_junk_bytes = st.one_of(st.binary(min_size=1, max_size=40),
                        st.sampled_from([b"\n", b"\r\n", b"\n\n\n", b"[", b"]", b"{", b"}",
                                         b'"', b"\\", b",", b"\x1f\x8b", b"\xef\xbb\xbf",
                                         b"{'message': 'x'}\n", b'{"events": [1]}\n']))


@st.composite
def damaged_files(draw: st.DrawFn) -> LogFile:
    """A file of :func:`log_files` with faults injected: truncation, flipped bytes,
    inserted junk, or another file concatenated (possibly of another kind)."""
    file = draw(log_files())
    data = file.data
    done: list[str] = []
    for fault in draw(st.lists(st.sampled_from(["truncate", "flip", "insert", "concat"]),
                               min_size=1, max_size=3)):
        if fault == "truncate" and data:
            data = data[:draw(st.integers(0, len(data) - 1))]
        elif fault == "flip" and data:
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
        elif fault == "insert":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(_junk_bytes) + data[at:]
        elif fault == "concat":
            data = data + draw(st.sampled_from([b"", b"\n"])) + draw(log_files()).data
        done.append(fault)
    return LogFile(file.lines, file.final_newline, file.container, data, file.truncated,
                   tuple(done))


# -- multi-session server logs (for --jobs) -----------------------------------------------

#: Prefixes whose lines carry user, database and client (``%u``, ``%d``, ``%r``): the
#: ones ``--jobs`` cuts (parallel.py).
SESSION_PREFIXES = ("%t:%r:%u@%d:[%p]:", "%m [%p] %q%u@%d %r %e %l %c ")


@dataclass(frozen=True)
class SessionLog:
    """A server log of several client sessions, as :func:`session_logs` draws it."""

    prefix: str
    lines: tuple[bytes, ...]
    final_newline: bool
    crlf: bool = False

    @property
    def data(self) -> bytes:
        content = join_lines(list(self.lines), self.final_newline)
        return content.replace(b"\n", b"\r\n") if self.crlf else content


_SESSION_STATEMENTS = st.one_of(
    st.sampled_from([
        "select 1", "SELECT id,\n       body\n  FROM notes WHERE body <> 'ab';",
        "insert into t values (1, 'x, \"y\"')", "update t set a = 2\r\n where b = 3",
        "CREATE ROLE bob PASSWORD 'hunter2'",
        "select '\u6570\u636e', 1e400, 123456789012345678901234567890",
        "select E'\\\\x', '\\ud800'", "", "\tselect\t2", "ALTER USER x WITH PASSWORD 'p'",
    ]),
    st.text(_statement_chars, max_size=30),
)


def _render_line(prefix: str, stamp: datetime, pid: int, who: Who, line_no: int,
                 body: str) -> str:
    """One line of ``prefix`` (one of :data:`SESSION_PREFIXES`) as PostgreSQL renders it."""
    user, db, host, port, sid = who
    remote = "" if not user else host if host == "[local]" else f"{host}({port})"
    if prefix.startswith("%t"):
        return f"{stamp:%Y-%m-%d %H:%M:%S} UTC:{remote}:{user}@{db}:[{pid}]:{body}"
    head = f"{stamp:%Y-%m-%d %H:%M:%S}.{stamp.microsecond // 1000:03d} UTC [{pid}] "
    if not user:
        return head + body
    return f"{head}{user}@{db} {remote} 00000 {line_no} {sid} {body}"


def _prefixed(text: str) -> list[tuple[bool, str]]:
    """The physical lines of one prefixed line of text: (prefixed?, text); each LF inside
    becomes a TAB continuation line, as PostgreSQL's stderr writes it."""
    first, *more = text.split("\n")
    return [(True, first)] + [(False, "\t" + part) for part in more]


Message = list[tuple[bool, str]]


@st.composite
def _session_messages(draw: st.DrawFn, once: bool = True) -> list[Message]:
    """The messages of one client session, in order: each a list of physical lines
    (prefixed?, text after the prefix or the continuation line)."""
    out: list[Message] = []
    statement_id = 0
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["audit", "audit", "audit", "error", "duration", "log",
                                     "statement"]))
        if kind == "audit":
            statement_id += draw(st.sampled_from([1, 1, 1, 0, 5]))
            sql = draw(_SESSION_STATEMENTS)
            subs = draw(st.integers(1, 3))
            for sub in range(1, subs + 1):
                for audit_type in draw(st.sampled_from([["SESSION"], ["SESSION", "OBJECT"]])):
                    record = AuditRecord(
                        audit_type, max(statement_id, 1), sub,
                        draw(st.sampled_from(AUDIT_CLASSES)),
                        draw(st.sampled_from(["SELECT", "INSERT", "CREATE ROLE", "DO"])),
                        draw(st.sampled_from(["", "TABLE"])),
                        draw(st.sampled_from(["", "public.t", 'public."a,b"'])),
                        sql, draw(st.sampled_from([None, [], ["1", None, "x,y"]])),
                        once and (sub > 1 or audit_type == "OBJECT") and draw(st.booleans()),
                        draw(st.one_of(st.none(), st.integers(0, 2**63 - 1))))
                    out.append(_prefixed(f"LOG:  AUDIT: {render_audit_record(record)}"))
            if draw(st.booleans()):
                ms = draw(st.floats(0, 1e7, allow_nan=False, allow_infinity=False))
                out.append(_prefixed(f"LOG:  duration: {ms:.3f} ms"))
        elif kind == "error":
            lines = _prefixed(draw(st.sampled_from([
                'ERROR:  relation "missing" does not exist at character 15',
                'ERROR:  duplicate key value violates unique constraint "p"',
                "ERROR:  syntax error at or near \"x\"\nLINE 1: x\n        ^",
                "FATAL:  terminating connection due to administrator command"])))
            if draw(st.booleans()):
                lines += _prefixed("DETAIL:  Key (id)=(1) already exists.")
            if draw(st.booleans()):
                lines += _prefixed("STATEMENT:  " + draw(_SESSION_STATEMENTS))
            out.append(lines)
        elif kind == "duration":
            ms = draw(st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
            sql = draw(_SESSION_STATEMENTS)
            out.append(_prefixed(f"LOG:  duration: {ms:.3f} ms  statement: {sql}"))
        elif kind == "statement":
            out.append(_prefixed("LOG:  statement: " + draw(_SESSION_STATEMENTS)))
        else:
            out.append(_prefixed(draw(st.sampled_from([
                "LOG:  automatic vacuum of table \"shop.public.t\"",
                "WARNING:  there is no transaction in progress",
                "LOG:  temporary file: path \"base/pgsql_tmp/x\", size 8192"]))))
    return out


#: Who writes a line: user, database, host, port, session id (an empty user: a process
#: without a client, which ``%q`` cuts and RDS's prefix leaves empty).
Who = tuple[str, str, str, int, str]
_BACKGROUND: Who = ("", "", "", 0, "")


@st.composite
def session_logs(draw: st.DrawFn, crlf: bool | None = False,
                 previously_logged: bool = True) -> SessionLog:
    """A server log of interleaved client sessions written the way PostgreSQL writes them:
    connection received/authorized and disconnection lines (each may be missing), pgAudit
    SESSION/OBJECT lines with sub-statements and ``<previously logged>``, multi-line
    statements (TAB continuations), ``duration:`` lines, ERRORs with DETAIL and STATEMENT
    lines, background processes, pids reused by later sessions (with and without a
    disconnection line), and junk: invalid UTF-8, NUL bytes, binary lines, a truncated
    last line. Backends interleave message by message, or (``torn``) line by line.
    ``crlf``: None draws it. Without ``previously_logged``, every audit line carries its
    statement (pgaudit.log_statement_once off)."""
    prefix = draw(st.sampled_from(SESSION_PREFIXES))
    start = datetime(2026, 11, 25, 16, 0, 0)
    pid_pool = draw(st.lists(st.integers(100, 110), min_size=1, max_size=3, unique=True))
    streams: list[list[tuple[int, Who, Message] | bytes]] = []
    port = 5000
    for pid in pid_pool:
        stream: list[tuple[int, Who, Message] | bytes] = []
        for number in range(draw(st.integers(1, 3))):  # sessions reusing this pid
            port += 1
            user = draw(st.sampled_from(["alice", "bob", "x@y.com"]))
            db = draw(st.sampled_from(["shop", "postgres"]))
            host = draw(st.sampled_from(["10.0.0.5", "::1", "[local]"]))
            who: Who = (user, db, host, port, f"6b07{pid:x}.{number}")
            if draw(st.booleans()):
                received = f"host={host}" + ("" if host == "[local]" else f" port={port}")
                stream.append((pid, ("[unknown]", "[unknown]", host, port, who[4]),
                               _prefixed(f"LOG:  connection received: {received}")))
                stream.append((pid, who, _prefixed(
                    f"LOG:  connection authorized: user={user} database={db} "
                    "application_name=psql")))
            stream += [(pid, who, m) for m in draw(_session_messages(previously_logged))]
            if draw(st.booleans()):
                client = f"host={host}" + ("" if host == "[local]" else f" port={port}")
                stream.append((pid, who, _prefixed(
                    f"LOG:  disconnection: session time: 0:00:01.234 user={user} "
                    f"database={db} {client}")))
        streams.append(stream)
    streams.append([(77, _BACKGROUND, _prefixed("LOG:  checkpoint starting: time")),
                    (77, _BACKGROUND, _prefixed("LOG:  checkpoint complete: wrote 3"))])
    streams.append(list(draw(st.lists(_junk_line, max_size=3))))
    torn = draw(st.integers(0, 5)) == 0
    out: list[bytes] = []
    second = 0
    line_no = 0
    pending: list[list[bytes]] = []  # torn: lines of messages begun, not yet written
    live = [s for s in streams if s]
    while live or pending:
        if pending and (not live or draw(st.booleans())):
            block = pending[draw(st.integers(0, len(pending) - 1))]
            out.append(block.pop(0))
            pending = [b for b in pending if b]
            continue
        stream = live[draw(st.integers(0, len(live) - 1))]
        item = stream.pop(0)
        live = [s for s in live if s]
        if isinstance(item, bytes):
            out.append(item)
            continue
        pid, who, message = item
        second += draw(st.integers(0, 2))
        stamp = start + timedelta(seconds=second, milliseconds=draw(st.integers(0, 999)))
        block = []
        for prefixed, text in message:
            if prefixed:
                line_no += 1
                text = _render_line(prefix, stamp, pid, who, line_no, text)
            block.append(text.encode("utf-8", "surrogatepass"))
        if torn:
            pending.append(block)
        else:
            out += block
    if out and draw(st.integers(0, 4)) == 0:  # a torn last line (a file still written)
        out[-1] = out[-1][: draw(st.integers(0, len(out[-1])))]
    return SessionLog(prefix, tuple(out), draw(st.booleans()),
                      draw(st.booleans()) if crlf is None else crlf)

__all__ = [
    "SETTINGS", "scaled", "profile_name", "prefix_cases", "PrefixCase", "arbitrary_lines",
    "arbitrary_specs", "mutated_lines", "audit_records", "AuditRecord", "render_audit_record",
    "append_valid_csv", "csv_like_text", "log_files", "LogFile", "log_lines", "join_lines",
    "damaged_files", "CONTAINERS", "session_logs", "SessionLog", "SESSION_PREFIXES",
    "pad", "spec_text", "prefix_items", "Escape", "Literal", "PrefixCase",
]
