"""Every line is attributed to the right person and session (issue 8, items 12 and 13).

* A user name may hold the literal that follows ``%u`` in the prefix (``alice@example.com``
  under ``%u@%d``): the session's ``connection authorized`` line says which split is true;
  without it, the user name takes the ambiguous text (role names hold ``@`` far more often
  than database names).
* ``<previously logged>`` never resolves across sessions: a reused pid with a connection
  line, a new ``%c``, or a statement id going back starts clean.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import SETTINGS

import pgaudit_parse as pp
from pgaudit_parse.formats.guardium import to_guardium

T = "2026-11-25 16:05:01 UTC"


def rds(user_at_db: str, pid: int, message: str, remote: str = "10.0.0.5(5000)") -> str:
    return f"{T}:{remote}:{user_at_db}:[{pid}]:LOG:  {message}"


def audit(statement_id: int, statement: str, sub: int = 1, kind: str = "SESSION") -> str:
    return f"AUDIT: {kind},{statement_id},{sub},READ,SELECT,TABLE,public.t,{statement},<none>"


AGAIN = "<previously logged>"


def users(events: list[pp.Event]) -> list[tuple[str | None, str | None]]:
    return [(e.user, e.database) for e in events]


# -- item 12: a user name with the literal that follows %u ------------------------------

def test_connection_line_names_the_user_and_database_of_the_session() -> None:
    events = list(pp.parse_lines([
        rds("[unknown]@[unknown]", 42, "connection received: host=10.0.0.5 port=5000"),
        rds("alice@example.com@shop", 42,
            "connection authorized: user=alice@example.com database=shop "
            "application_name=psql"),
        rds("alice@example.com@shop", 42, audit(1, "select 1")),
    ]))
    assert users(events)[1:] == [("alice@example.com", "shop")] * 2
    record = to_guardium(events[2])
    assert record is not None
    assert (record["accessor"]["dbUser"], record["dbName"]) == ("alice@example.com", "shop")


def test_connection_line_wins_when_the_database_holds_the_literal() -> None:
    events = list(pp.parse_lines([
        rds("bob@sales@eu", 43, "connection authorized: user=bob database=sales@eu"),
        rds("bob@sales@eu", 43, audit(1, "select 1")),
    ]))
    assert users(events) == [("bob", "sales@eu")] * 2


def test_without_a_connection_line_the_user_takes_the_ambiguous_text() -> None:
    [event] = pp.parse_lines([rds("alice@example.com@shop", 42, audit(1, "select 1"))])
    assert (event.user, event.database) == ("alice@example.com", "shop")


def test_what_the_session_said_holds_for_its_later_lines_only() -> None:
    events = list(pp.parse_lines([
        rds("bob@sales@eu", 43, "connection authorized: user=bob database=sales@eu"),
        rds("bob@sales@eu", 43, audit(1, "select 1")),
        rds("bob@sales@eu", 43, "disconnection: session time: 0:00:01.000 user=bob "
            "database=sales@eu host=10.0.0.5 port=5000"),
        # pid 43 again, a new session without connection lines: the default split
        rds("carol@x@eu", 43, audit(1, "select 2")),
    ]))
    assert users(events) == [("bob", "sales@eu")] * 3 + [("carol@x", "eu")]


def test_unambiguous_values_are_kept_as_the_prefix_split_them() -> None:
    events = list(pp.parse_lines([
        rds("alice@shop", 42, "connection authorized: user=alice database=shop"),
        rds("alice@shop", 42, audit(1, "select 1")),
        rds("[unknown]@[unknown]", 44, "connection received: host=10.0.0.5 port=5001"),
    ]))
    assert users(events) == [("alice", "shop"), ("alice", "shop"), (None, None)]


@pytest.mark.parametrize("prefix, line, expected", [
    # any literal after %u that a role name may hold, not only '@'
    ("%m [%p] %q%u:%d ", "2026-11-25 16:05:01.000 UTC [7] corp:alice:shop LOG:  hi",
     ("corp:alice", "shop")),
    ("%m [%p] %q%u/%d ", "2026-11-25 16:05:01.000 UTC [7] a/b/c LOG:  hi", ("a/b", "c")),
    ("%t [%p]: user=%u,db=%d,app=%a ",
     "2026-11-25 16:05:01 UTC [7]: user=x,db=y,db=z,app=psql LOG:  hi", ("x,db=y", "z")),
    # %d before %u: the user still takes the ambiguous text
    ("%m [%p] %q%d@%u ", "2026-11-25 16:05:01.000 UTC [7] shop@alice@example.com LOG:  hi",
     ("alice@example.com", "shop")),
])
def test_the_rule_holds_for_any_prefix(prefix: str, line: str,
                                       expected: tuple[str, str]) -> None:
    [event] = pp.parse_lines([line], prefix=prefix)
    assert (event.user, event.database) == expected


def test_connection_line_resolves_other_prefixes_too() -> None:
    prefix = "%m [%p] %q%u:%d "
    events = list(pp.parse_lines([
        "2026-11-25 16:05:01.000 UTC [7] corp:alice:shop LOG:  "
        "connection authorized: user=corp database=alice:shop",
        "2026-11-25 16:05:01.001 UTC [7] corp:alice:shop LOG:  hi",
    ], prefix=prefix))
    assert users(events) == [("corp", "alice:shop")] * 2


# -- item 13: <previously logged> never crosses sessions --------------------------------

def test_reused_pid_with_a_connection_line_starts_clean() -> None:
    events = list(pp.parse_lines([
        rds("alice@shop", 42, audit(1, "select secret from alice_only")),
        # pid 42 exits without a disconnection line; bob's backend gets the same pid
        rds("[unknown]@[unknown]", 42, "connection received: host=10.0.0.6 port=6000"),
        rds("bob@shop", 42, "connection authorized: user=bob database=shop"),
        rds("bob@shop", 42, audit(1, AGAIN + "," + AGAIN).replace(",<none>", "", 1)),
    ]))
    assert events[-1].user == "bob"
    assert events[-1].audit.statement == AGAIN


@pytest.mark.parametrize("message", [
    "connection authorized: user=bob database=shop",
    "connection authenticated: identity=\"bob\" method=md5 (pg_hba.conf:1)",
])
def test_any_connection_line_starts_a_new_session(message: str) -> None:
    events = list(pp.parse_lines([
        rds("alice@shop", 42, audit(1, "select secret")),
        rds("bob@shop", 42, message),
        rds("bob@shop", 42, audit(1, AGAIN + "," + AGAIN).replace(",<none>", "", 1)),
    ]))
    assert events[-1].audit.statement == AGAIN


def test_statement_id_going_back_starts_clean() -> None:
    events = list(pp.parse_lines([
        rds("alice@shop", 42, audit(7, "select secret")),
        rds("alice@shop", 42, audit(8, "select 8")),
        # no connection line at all (log_connections off): bob's ids start again
        rds("bob@shop", 42, audit(1, "select 1")),
        rds("bob@shop", 42, audit(7, AGAIN + "," + AGAIN).replace(",<none>", "", 1)),
    ]))
    assert events[-1].audit.statement == AGAIN


def test_same_session_still_resolves_including_sub_statements_logged_first() -> None:
    events = list(pp.parse_lines([
        rds("alice@shop", 42, audit(3, "delete from child", sub=2)),
        rds("alice@shop", 42, audit(3, "delete from parent", sub=1)),
        rds("alice@shop", 42, audit(3, AGAIN + "," + AGAIN, sub=2, kind="OBJECT")
            .replace(",<none>", "", 1)),
        rds("alice@shop", 42, audit(3, AGAIN + "," + AGAIN, sub=1, kind="OBJECT")
            .replace(",<none>", "", 1)),
    ]))
    assert [e.audit.statement for e in events[2:]] == ["delete from child",
                                                       "delete from parent"]
    assert events[2].audit.parameter == ()


def test_new_session_id_starts_clean() -> None:
    prefix = "%m [%p] %c %q%u@%d "
    events = list(pp.parse_lines([
        "2026-11-25 16:05:01.000 UTC [42] 6b070dd7.2a alice@shop LOG:  "
        + audit(1, "select secret"),
        "2026-11-25 16:06:01.000 UTC [42] 6b070e11.2a bob@shop LOG:  "
        + audit(1, AGAIN + "," + AGAIN).replace(",<none>", "", 1),
    ], prefix=prefix))
    assert events[-1].audit.statement == AGAIN


def test_a_failed_login_names_its_user_in_the_message() -> None:
    [event] = pp.parse_lines([
        f"{T}:10.0.0.5(5000):alice@example.com@shop@eu:[50]:FATAL:  "
        'password authentication failed for user "alice@example.com"'])
    assert (event.kind, event.user, event.database) == ("login_failed", "alice@example.com",
                                                        "shop@eu")


_NAME = st.text(alphabet="abc.@-", min_size=1, max_size=12).filter(
    lambda s: s not in ("[unknown]",))


@SETTINGS
@given(user=_NAME, database=_NAME)
def test_what_the_connection_line_says_always_wins(user: str, database: str) -> None:
    both = f"{user}@{database}"
    events = list(pp.parse_lines([
        rds(both, 77, f"connection authorized: user={user} database={database}"),
        rds(both, 77, audit(1, "select 1")),
    ]))
    assert users(events) == [(user, database)] * 2


@SETTINGS
@given(user=_NAME, database=_NAME.filter(lambda s: "@" not in s))
def test_without_a_connection_line_a_database_without_the_literal_is_exact(
        user: str, database: str) -> None:
    [event] = pp.parse_lines([rds(f"{user}@{database}", 77, audit(1, "select 1"))])
    assert (event.user, event.database) == (user, database)


@pytest.mark.parametrize("message", [audit(1, "select 1"), "statement: select 1",
                                     "disconnection: session time: 0:00:01.234 user=bob "
                                     "database=shop host=[local]",
                                     "ERROR:  boom"])
def test_a_line_that_names_its_client_keeps_it(message: str) -> None:
    """A ``[local]`` line has no port: it never takes one from what an earlier session
    on the same pid said (here its connection lines, no disconnection line between)."""
    lines = [rds("[unknown]@[unknown]", 100, "connection received: host=10.0.0.5 port=5001",
                 "10.0.0.5(5001)"),
             rds("alice@shop", 100, "connection authorized: user=alice database=shop",
                 "10.0.0.5(5001)"),
             rds("bob@shop", 100, message.removeprefix("ERROR:  "), "[local]")]
    if message.startswith("ERROR"):
        lines[-1] = lines[-1].replace(":LOG:", ":ERROR:")
    last = list(pp.parse_lines(lines))[-1]
    assert (last.client_host, last.client_port) == ("[local]", None)
    record = to_guardium(last)
    assert record is None or record["sessionLocator"]["clientPort"] == -1


# -- names with spaces, and lines that name no backend (hunt-formats) --------------------

#: Names as PostgreSQL allows them (spaces, '=', non-ASCII), without the words the
#: connection lines put between their values.
_SPACED = st.text(alphabet="aZö =.-", min_size=1, max_size=10).map(str.strip).filter(
    lambda s: s != "" and s != "[unknown]")
NO_USER_PREFIX = "%m [%p] "


def _bare(pid: int, message: str, severity: str = "LOG") -> str:
    return f"2026-11-25 16:05:01.000 UTC [{pid}] {severity}:  {message}"


@SETTINGS
@given(user=_SPACED, database=_SPACED, app=_SPACED, ssl=st.booleans())
def test_connection_lines_name_users_and_databases_with_spaces(
        user: str, database: str, app: str, ssl: bool) -> None:
    """``connection authorized: user=U database=D application_name=A`` writes each value
    as it is: a value ends where the next key of that message begins, not at a space.
    Without %u/%d in the prefix the session's lines take them from there."""
    tls = " SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)" \
        if ssl else ""
    events = list(pp.parse_lines([
        _bare(51, "connection received: host=10.0.0.5 port=5000"),
        _bare(51, f"connection authorized: user={user} database={database} "
                  f"application_name={app}{tls}"),
        _bare(51, audit(1, "select 1")),
        _bare(51, f"disconnection: session time: 0:00:01.000 user={user} "
                  f"database={database} host=10.0.0.5 port=5000"),
    ], prefix=NO_USER_PREFIX))
    assert users(events)[1:] == [(user, database)] * 3
    assert [(e.client_host, e.client_port) for e in events] == [("10.0.0.5", 5000)] * 4


@pytest.mark.parametrize("prefix", ["%m ", "%m %r ", "%t %h %a "])
def test_lines_that_name_no_backend_take_no_session_values(prefix: str) -> None:
    """Without %p and %c nothing says which backend wrote a line: a checkpoint, an
    autovacuum line or another session's line must not take the user, database and
    client of whichever session connected last (the fields stay null)."""
    stamp = "2026-11-25 16:05:01.000 UTC " if prefix.startswith("%m") else \
        "2026-11-25 16:05:01 UTC "
    client = {"%m ": "", "%m %r ": "10.0.0.5(5000) ", "%t %h %a ": "10.0.0.5 psql "}[prefix]
    background = {"%m ": "", "%m %r ": " ", "%t %h %a ": "  "}[prefix]
    lines = [
        stamp + client + "LOG:  connection received: host=10.0.0.5 port=5000",
        stamp + client + "LOG:  connection authorized: user=alice database=shop "
                         "application_name=psql",
        stamp + background + "LOG:  checkpoint starting: immediate force wait",
        stamp + background + 'LOG:  automatic vacuum of table "shop.public.t": index scans: 0',
        stamp + background + "LOG:  " + audit(1, "select 1"),  # (the audit fast path)
    ]
    events = list(pp.parse_lines(lines, prefix=prefix))
    assert [e.kind for e in events] == ["connection", "connection", "log", "log", "audit"]
    for event in events[2:]:
        assert (event.user, event.database, event.client_host, event.client_port) == (
            None, None, None, None), event
