"""Sessions: who a line belongs to, and what its session remembers, bounded in bytes.

A session is one backend's life, keyed by ``(stream, pid)`` (``%c`` without ``%p``). The
event builder keeps, per session, the pgAudit statements later lines may refer to as
``<previously logged>``, who the session is (from its connection lines, for prefixes
without ``%u``/``%d``), and what those lines *said* (``user=alice@example.com``), which
settles an ambiguous prefix split. A session starts clean at a connection line, a new
``%c`` session id, or a pgAudit statement id lower than the last one of its pid: a reused
pid never inherits another session's SQL or identity.

The whole table holds at most ``max_bytes`` (docs/memory.md): past it, the least recently
used sessions' oldest statements go first, and are counted.

>>> table = SessionTable(max_bytes=10_000)
>>> from pgaudit_parse.payload import parse_audit_payload
>>> first = parse_audit_payload("SESSION,1,1,READ,SELECT,,,select 1,<none>")
>>> again = parse_audit_payload("OBJECT,1,1,READ,SELECT,TABLE,t,<previously logged>,<none>")
>>> key = ("", "42")
>>> table.resolve(key, None, None, first).statement
'select 1'
>>> table.resolve(key, table.get(key), None, again).statement
'select 1'
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from sys import getsizeof
from typing import Final

from .payload import PREVIOUSLY_LOGGED, PREVIOUSLY_LOGGED_PARAMETER, AuditFields
from .prefix import (
    _FREE_TEXT,
    BACKEND_TYPES,
    SESSION_ESCAPES,
    LinePrefix,
    PrefixEscape,
    PrefixLiteral,
)

__all__ = [
    "DEFAULT_STATEMENT_CACHE_BYTES",
    "Known",
    "Session",
    "SessionTable",
    "ambiguous_neighbours",
    "resplit",
]

#: Bytes the ``<previously logged>`` statements and session facts may hold by default
#: (with the Guardium builder's held records, 64 MiB in all: see docs/memory.md).
DEFAULT_STATEMENT_CACHE_BYTES: Final = 48 * 1024 * 1024
#: Statement/sub-statement texts remembered per session for ``<previously logged>``.
STATEMENTS_PER_SESSION: Final = 256
#: Bytes a remembered statement costs besides its strings (key, tuple, dict slot).
_ENTRY_BYTES: Final = 200
#: Bytes a session costs besides its statements (its objects, dicts, short strings).
_SESSION_BYTES: Final = 1200

Key = tuple[str, str]
#: A remembered statement: (statement, parameter, bytes it costs: see _logged_bytes).
_Logged = tuple[str | None, tuple[str, ...] | None, int]


# -- who a line belongs to: ambiguous free-text neighbours -----------------------------------

#: A free-text escape, the literal after it, and the free-text escape after that literal
#: (``%u@%d``): the prefix grammar stops the first value at the literal's first occurrence,
#: so when the second value holds the literal too, the split is a guess.
Neighbours = tuple[str, str, str]


def ambiguous_neighbours(prefix: LinePrefix) -> tuple[Neighbours, ...]:
    """The pairs of free-text values a literal separates, whose split can be ambiguous.

    >>> ambiguous_neighbours(LinePrefix("%t:%r:%u@%d:[%p]:"))
    (('u', '@', 'd'),)
    >>> ambiguous_neighbours(LinePrefix("%m [%p] "))
    ()
    """
    parts = prefix.parts
    found = []
    for left, middle, right in zip(parts, parts[1:], parts[2:], strict=False):
        if (isinstance(left, PrefixEscape) and isinstance(middle, PrefixLiteral)
                and isinstance(right, PrefixEscape) and left.escape in _FREE_TEXT
                and right.escape in _FREE_TEXT and not left.padding and not right.padding
                and middle.text):
            found.append((left.escape, middle.text, right.escape))
    return tuple(found)


def resplit(fields: Mapping[str, str], neighbours: tuple[Neighbours, ...],
            said: Mapping[str, str]) -> Mapping[str, str]:
    """Prefix values with each ambiguous split resolved (``fields`` itself if none is).

    The text of two neighbours (``alice@example.com@shop``) is fixed; only where it splits
    is a guess. In order, what decides it:

    * what the session's own lines ``said`` (``user=alice@example.com database=shop``, by
      escape letter);
    * ``[unknown]``, which PostgreSQL writes for a user, database or application name it
      does not know yet (a backend that is still authenticating);
    * a process that serves no client (PostgreSQL leaves its session values empty: the
      line's other user, database, application or client value is empty) has an empty
      value where the text ends (or starts) with the literal;
    * a backend type PostgreSQL writes (``client backend``, :data:`BACKEND_TYPES`);
    * otherwise the user name takes the ambiguous text: role names hold ``@``, ``:`` or
      ``/`` (e-mail and directory logins) far more often than database or application
      names do.

    >>> resplit({"u": "alice", "d": "example.com@shop"}, (("u", "@", "d"),), {})
    {'u': 'alice@example.com', 'd': 'shop'}
    >>> resplit({"u": "bob", "d": "sales@eu"}, (("u", "@", "d"),), {"d": "sales@eu"})
    {'u': 'bob', 'd': 'sales@eu'}
    >>> resplit({"d": "my", "a": "db [unknown]"}, (("d", " ", "a"),), {})
    {'d': 'my db', 'a': '[unknown]'}
    >>> resplit({"b": "client", "i": "backend SELECT"}, (("b", " ", "i"),), {})
    {'b': 'client backend', 'i': 'SELECT'}
    >>> resplit({"b": "autoprewarm", "u": "leader ", "d": ""}, (("b", " ", "u"),), {})
    {'b': 'autoprewarm leader', 'u': '', 'd': ''}
    """
    out: dict[str, str] | None = None
    if said and len(neighbours) > 1:
        out = _resplit_chains(fields, neighbours, said)
    # A chain of neighbours (``%a:%u@%d``) may need a split moved in one pair before the
    # pair to its left can see its own: passes repeat while a split moves (each pass
    # only moves text leftwards past a literal or settles on what was said; bounded).
    for _ in range(len(neighbours)):
        moved = False
        for left, literal, right in neighbours:
            current = out if out is not None else fields
            first, second = current.get(left), current.get(right)
            if first is None or second is None or literal not in second:
                continue
            text = first + literal + second
            at = _split_at(text, literal, left, right, said, current)
            if at == len(first):
                continue
            if out is None:
                out = dict(fields)
            out[left], out[right] = text[:at], text[at + len(literal):]
            moved = True
        if not moved:
            break
    return fields if out is None else out


def _resplit_chains(fields: Mapping[str, str], neighbours: tuple[Neighbours, ...],
                    said: Mapping[str, str]) -> dict[str, str] | None:
    """The values of each chain of neighbours (``%a:%u@%d:%h``) split again as one text
    so that every value the session's lines said is where it was said, when the split
    the grammar made disagrees with them (a value holding the chain's literals shifts
    every value after it). None when no chain moved.

    >>> _resplit_chains({"a": "x", "u": "y:bob", "d": "shop"},
    ...                 (("a", ":", "u"), ("u", "@", "d")), {"u": "bob"})
    {'a': 'x:y', 'u': 'bob', 'd': 'shop'}
    """
    chains: list[list[Neighbours]] = []
    for pair in neighbours:
        if chains and chains[-1][-1][2] == pair[0]:
            chains[-1].append(pair)
        else:
            chains.append([pair])
    out: dict[str, str] | None = None
    for chain in chains:
        if len(chain) < 2:
            continue  # (a pair alone: resplit's own rule)
        escapes = [chain[0][0]] + [pair[2] for pair in chain]
        literals = [pair[1] for pair in chain]
        values = [fields.get(escape) for escape in escapes]
        if any(value is None for value in values) or all(
                said.get(escape, value) == value
                for escape, value in zip(escapes, values, strict=True)):
            continue
        text = str(values[0]) + "".join(
            literal + str(value) for literal, value in zip(literals, values[1:], strict=True))
        found = _split_chain(text, escapes, literals, said)
        if found is not None:
            out = out if out is not None else dict(fields)
            out.update(zip(escapes, found, strict=True))
    return out


def _split_chain(text: str, escapes: list[str], literals: list[str],
                 said: Mapping[str, str]) -> list[str] | None:
    """Values for ``escapes`` that, joined by ``literals``, give ``text`` and equal what
    was ``said`` of them (values not said end at the first literal that lets the rest
    fit); None if there are none (the search is bounded)."""
    budget = [256]

    def search(i: int, at: int) -> list[str] | None:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        escape = escapes[i]
        if i == len(escapes) - 1:
            last = text[at:]
            return [last] if said.get(escape, last) == last else None
        literal = literals[i]
        if escape in said:
            value = said[escape]
            if not text.startswith(value + literal, at):
                return None
            rest = search(i + 1, at + len(value) + len(literal))
            return [value, *rest] if rest is not None else None
        end = text.find(literal, at)
        while end >= 0:
            rest = search(i + 1, end + len(literal))
            if rest is not None:
                return [text[at:end], *rest]
            end = text.find(literal, end + 1)
        return None

    return search(0, 0)


#: Escapes PostgreSQL writes as ``[unknown]`` while a backend does not know them yet.
_PLACEHOLDER_ESCAPES: Final = frozenset("uda")
_PLACEHOLDER: Final = "[unknown]"
#: Session values that are never empty in a process serving a client (``[unknown]``,
#: ``[local]`` stand in), and always empty in any other process.
_NEVER_EMPTY_IN_SESSION: Final = frozenset("udarh")


def _split_at(text: str, literal: str, left: str, right: str, said: Mapping[str, str],
              fields: Mapping[str, str]) -> int:
    """Where ``literal`` splits ``text``, the values of ``left`` and ``right`` (the index
    of the literal); ``fields`` are the line's other values (see :func:`resplit`)."""
    left_said, right_said = said.get(left), said.get(right)
    if left_said is not None and text.startswith(left_said + literal):
        return len(left_said)
    if right_said is not None and text.endswith(literal + right_said):
        return len(text) - len(right_said) - len(literal)
    if left in _PLACEHOLDER_ESCAPES and text.startswith(_PLACEHOLDER + literal):
        return len(_PLACEHOLDER)
    if right in _PLACEHOLDER_ESCAPES and text.endswith(literal + _PLACEHOLDER):
        return len(text) - len(_PLACEHOLDER) - len(literal)
    others = [fields[escape] for escape in _NEVER_EMPTY_IN_SESSION
              if escape != left and escape != right and escape in fields]
    if not any(others):
        # No other value shows a client. If one is empty, this process serves none and
        # every session value is empty (the command tag too); if none says, an empty
        # value that is never empty in a session still tells the same.
        empty = SESSION_ESCAPES if others else _NEVER_EMPTY_IN_SESSION
        if right in empty and text.endswith(literal):
            return len(text) - len(literal)
        if left in empty and text.startswith(literal):
            return 0
    if left == "b":
        for name in BACKEND_TYPES:
            if text.startswith(name + literal):
                return len(name)
    elif right == "b":
        for name in BACKEND_TYPES:
            if text.endswith(literal + name):
                return len(text) - len(name) - len(literal)
    if left == "u":
        return text.rfind(literal)
    return text.find(literal)  # %u on the right, or neither: the first split gives it all


# -- what a session remembers --------------------------------------------------------------

def _logged_bytes(statement: str | None, parameter: tuple[str, ...] | None) -> int:
    """What remembering one statement costs (its strings, as Python stores them)."""
    size = _ENTRY_BYTES + (getsizeof(statement) if statement is not None else 0)
    if parameter:
        size += sum(map(getsizeof, parameter))
    return size


class Known:
    """Who a session is, from its connection lines (prefix values, else their text)."""

    __slots__ = ("user", "database", "client_host", "client_port")

    def __init__(self) -> None:
        self.user: str | None = None
        self.database: str | None = None
        self.client_host: str | None = None
        self.client_port: int | None = None

    def update(self, user: str | None, database: str | None, client_host: str | None,
               client_port: int | None) -> None:
        """Take every value a line has."""
        if user is not None:
            self.user = user
        if database is not None:
            self.database = database
        if client_host is not None:
            self.client_host = client_host
        if client_port is not None:
            self.client_port = client_port


class Session:
    """What is known of one session (mutable, private to the table and the builder)."""

    __slots__ = ("statements", "known", "said", "session_id", "last_statement_id", "bytes")

    def __init__(self, session_id: str | None) -> None:
        # (statement_id, substatement_id) -> (statement, parameter, bytes), oldest first
        self.statements: OrderedDict[tuple[int, int], _Logged] = OrderedDict()
        self.known = Known()
        # what its connection lines' text says, by prefix escape ("u" -> "alice@x.com")
        self.said: dict[str, str] = {}
        self.session_id = session_id
        self.last_statement_id = 0
        self.bytes = _SESSION_BYTES


class SessionTable:
    """Sessions by key, least recently used first, within ``max_sessions`` and
    ``max_bytes``; ``evicted_statements`` and ``unresolved_statements`` count what the
    bound cost (statements dropped; lines that kept ``<previously logged>``)."""

    def __init__(self, max_bytes: int = DEFAULT_STATEMENT_CACHE_BYTES,
                 max_sessions: int = 10_000) -> None:
        self.max_bytes = max_bytes
        self.max_sessions = max_sessions
        self.bytes = 0
        self.evicted_statements = 0
        self.unresolved_statements = 0
        self._sessions: OrderedDict[Key, Session] = OrderedDict()

    def get(self, key: Key) -> Session | None:
        """The session, if one is kept."""
        return self._sessions.get(key) if self._sessions else None

    def forget(self, key: Key) -> None:
        """Drop a session (it ended, or its pid now belongs to another)."""
        session = self._sessions.pop(key, None)
        if session is not None:
            self.bytes -= session.bytes

    def new_session(self, key: Key, session_id: str | None, keep_known: bool) -> None:
        """A connection line: forget the pid's statements (and who it was, unless kept:
        ``connection received`` starts a backend, ``authorized`` continues it)."""
        session = self.get(key)
        if session is None:
            return
        if not keep_known:
            self.forget(key)
            return
        for logged in session.statements.values():
            self._count(session, -logged[2])
        session.statements.clear()
        session.last_statement_id = 0
        if session_id is not None:
            session.session_id = session_id

    def remember(self, key: Key, session_id: str | None, said: Mapping[str, str],
                 fresh: bool) -> Session:
        """The session of a connection line, to learn who it is (``fresh``: from nothing)."""
        session = self._touch(key, session_id)
        if fresh:
            session.known = Known()
        session.said.update(said)
        self._evict()
        return session

    def resolve(self, key: Key, session: Session | None, session_id: str | None,
                audit: AuditFields) -> AuditFields:
        """Fill ``<previously logged>`` from the session's earlier line, or remember this
        line's statement for later ones (``session`` is ``get(key)``, looked up already)."""
        ids = (audit.statement_id, audit.substatement_id)
        statement, parameter = audit.statement, audit.parameter
        if statement == PREVIOUSLY_LOGGED or parameter == PREVIOUSLY_LOGGED_PARAMETER:
            earlier = None
            if session is not None:
                earlier = session.statements.get(ids)
                if audit.statement_id > session.last_statement_id:
                    session.last_statement_id = audit.statement_id
            if earlier is None:
                # The earlier line is not in this input (or was evicted): keep the marker.
                self.unresolved_statements += 1
                return audit
            if statement == PREVIOUSLY_LOGGED:
                statement = earlier[0]
            if parameter == PREVIOUSLY_LOGGED_PARAMETER:
                parameter = earlier[1]
            return AuditFields(audit.audit_type, audit.statement_id, audit.substatement_id,
                               audit.class_, audit.command, audit.object_type,
                               audit.object_name, statement, parameter, audit.rows)
        if session is None:
            session = self._touch(key, session_id)
        else:
            self._sessions.move_to_end(key)
        if ids[0] > session.last_statement_id:
            session.last_statement_id = ids[0]
        # (_logged_bytes inlined: this runs for every audit line; each remembered
        # statement keeps its size, so forgetting it costs no getsizeof)
        own = _ENTRY_BYTES + getsizeof(statement) if statement is not None else _ENTRY_BYTES
        if parameter:
            own += sum(map(getsizeof, parameter))
        size = own
        known = session.statements
        earlier = known.pop(ids, None)
        if earlier is not None:
            size -= earlier[2]
        known[ids] = (statement, parameter, own)
        if len(known) > STATEMENTS_PER_SESSION:
            size -= known.popitem(last=False)[1][2]
        session.bytes += size
        self.bytes += size
        if self.bytes > self.max_bytes:
            self._evict()
        return audit

    def _touch(self, key: Key, session_id: str | None) -> Session:
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = Session(session_id)
            self.bytes += session.bytes
            while len(self._sessions) > self.max_sessions:
                self.forget(next(iter(self._sessions)))
        else:
            self._sessions.move_to_end(key)
            if session_id is not None:
                session.session_id = session_id
        return session

    def _count(self, session: Session, size: int) -> None:
        session.bytes += size
        self.bytes += size

    def _evict(self) -> None:
        """Free the least recently used sessions' oldest statements until within bounds."""
        sessions = self._sessions
        while self.bytes > self.max_bytes and sessions:
            key, oldest = next(iter(sessions.items()))
            if oldest.statements:
                self._count(oldest, -oldest.statements.popitem(last=False)[1][2])
                self.evicted_statements += 1
            else:
                self.forget(key)
