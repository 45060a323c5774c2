"""Redaction of SQL text and of the data PostgreSQL echoes around it.

Modes (``--redact``):

``none``
    the text as logged.
``passwords``
    every place a credential can appear becomes ``<REDACTED>`` (pgAudit's own mark): the
    constant after ``PASSWORD`` (``CREATE/ALTER ROLE|USER ... [ENCRYPTED] PASSWORD``,
    ``OPTIONS (password '...')`` of a user mapping or a server, ``sslpassword``), any
    constant whose value is a connection string with a password (``password=``, or a
    ``postgresql://user:secret@host`` URI: ``CREATE SUBSCRIPTION ... CONNECTION``,
    ``dblink_connect``, ``dblink``), and a string that holds such SQL itself (a ``DO``
    body, an ``EXECUTE '...'``). Also: the typos the server logs (``PASSWORD s3cret``
    unquoted, ``PASSWORD ( '...' )``, ``PASSWORD 'a' 'b'``); a value given to a name
    that holds a password (``SET app.password = '...'``, ``set_config('app.password',
    '...')``, ``password := '...'``, an INSERT's password column); pgcrypto's passwords
    and keys (``crypt``, ``pgp_sym_*``, ``pgp_pub_decrypt``, ``encrypt``/``decrypt``,
    ``hmac``); the argument ``format('... PASSWORD %L', ...)`` fills; a command line or
    JSON with a password. Every literal form counts (``'...'``, ``E'...'``,
    ``U&'...'``, ``$$...$$``, ``$tag$...$tag$``), with comments anywhere between.
    The rest of the statement is kept byte for byte (docs/sql.md lists what is hidden).
``literals``
    every constant becomes ``$1``, ``$2``... as pg_stat_statements shows statements
    (numbering continues after the highest ``$n`` already in the statement); identifiers,
    keywords and comments are kept. What does not lex (a statement cut short) is one
    constant, and so is an unquoted password. Passwords are constants, so this mode
    hides them too.

>>> redact("alter role bob password /* new */ E'it\\\\'s' valid until 'infinity'", "passwords")
"alter role bob password /* new */ <REDACTED> valid until 'infinity'"
>>> redact("select * from t where id = $1 and name = 'bob' and n > -5", "literals")
'select * from t where id = $1 and name = $2 and n > $3'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Final, Literal, get_args

from .constants import (
    constant_value,
    find_constants,
    may_hold_type_modifiers,
    previous_significant,
    uescape_of,
)
from .lexer import (
    IDENT_CONT,
    IDENT_START,
    OP_CHARS,
    SPACE_CHARS,
    STRING_KINDS,
    Token,
    tokenize,
)
from .placeholders import literal_only_constants, may_take_literals_only
from .shape import cached_by_shape, literals_shape
from .split import statement_spans

__all__ = [
    "RedactMode",
    "REDACT_MODES",
    "REDACTED",
    "redact",
    "redact_passwords",
    "redact_literals",
    "redact_parameters",
    "redact_detail",
    "has_credentials",
    "password_parameters",
    "redact_echo",
    "redact_quoted_value",
    "quoted_value_span",
    "string_constants",
    "unquoted_value",
    "names_credential_key",
    "function_parameters",
    "calls_function",
    "FUNCTION_KEY",
    "redact_raw",
    "credential_name",
    "credential_value",
    "prepared_parameters",
    "Prepared",
    "hidden_values",
    "names_credential",
    "may_name_credential",
    "format_secret_arguments",
]

RedactMode = Literal["none", "passwords", "literals"]
#: Prepared statements of a session: name -> the parameters that stand where a
#: credential goes (``PREPARE q(text) AS UPDATE u SET password = $1``: ``{"q": {1}}``).
Prepared = dict[str, frozenset[int]]
REDACT_MODES: Final[tuple[str, ...]] = get_args(RedactMode)
REDACTED: Final = "<REDACTED>"

# A libpq connection string (keyword=value, or a URI's query) or URI holding a password.
_CONNINFO_PASSWORD = re.compile(
    r"password\s*=|[a-z][a-z0-9+.-]*://[^/?#@\s]*:[^/?#@\s]*@", re.IGNORECASE)
# The name rule (docs/sql.md "Names that hold a credential"): a name (column, setting,
# option, JSON key, variable) holds a credential when, lower-cased, it contains
# ``password``, ``passwd``, ``passphrase``, ``secret`` or ``credential``; or when one of
# its word parts (split at anything but a letter or digit, and at a camelCase step) is
# ``pw``, ``pwd``, ``pass``, ``auth`` or ``authorization``, ends with ``token``, or is a
# key of a kind (``apikey``, ``sslkey``...; or ``key``/``keys`` after one of
# ``_KEY_KINDS``: ``api_key``, ``aws_access_key_id``). ``author``, ``max_tokens``,
# ``primary_key`` and ``key`` do not.
_NAME_SUBSTRINGS: Final = ("password", "passwd", "passphrase", "passcode", "secret",
                            "credential")
_NAME_PARTS: Final = frozenset({"pw", "pwd", "pass", "auth", "authorization"})
_KEY_KINDS: Final = frozenset({"api", "access", "private", "secret", "ssl", "auth",
                               "signing", "encryption", "enc", "master", "client",
                               "session", "hmac", "license", "shared", "aes", "jwt",
                               "webhook", "storage", "account", "service", "ssh", "pgp",
                               "gpg", "rsa"})
_KEY_PARTS: Final = frozenset(kind + "key" for kind in _KEY_KINDS) | frozenset(
    kind + "keys" for kind in _KEY_KINDS)
_CAMEL_STEP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PART_SPLIT = re.compile(r"[^a-z0-9]+")
# Text without any of these holds no credential name (a superset of the rule above, for
# the quick checks: every name the rule accepts contains one of them).
_NAME_CUES: Final = ("pass", "secret", "credential", "token", "auth", "pw", "key")
_NAME_CUE = re.compile("|".join(_NAME_CUES), re.IGNORECASE)
# The narrower cues of the pre-check (log messages say "authorized", "authenticated",
# "key", "scram-sha-256" and "md5" all the time): a kind of key, a verifier.
_KEY_CUE_PATTERN: Final = "(?:" + "|".join(sorted(_KEY_KINDS)) + ")[^a-z0-9]*keys?"
_KEY_CUE = re.compile(_KEY_CUE_PATTERN, re.IGNORECASE)
_AUTH_CUE = re.compile(r"auth(?!ori[sz]ed|enticat)")
_MD5_CUE = re.compile(r"md5[0-9a-f]{32}")
# A word in free text (a JSON or YAML key, a command-line option, a libpq keyword).
_NAME_IN_TEXT = re.compile(r"[A-Za-z_][\w.$-]*")
# A string that names a setting or key (``set_config('app.password', 'x', false)``,
# ``json_build_object('api_key', 'x')``): when the name holds a credential, the value
# given with it is one.
_NAME_LIKE = re.compile(r"[\w.$-]+")
# A constant's value that holds a password besides a connection string: a command line
# (``COPY ... PROGRAM 'tool --password x'``, ``--api-key=x``), a JSON/YAML key
# (``{"password": "x"}``) or a libpq keyword (``token=x``) that names a credential, or a
# password verifier (SCRAM-SHA-256 or md5: replayable like the password itself).
_KEYED = re.compile(r"""--([A-Za-z][\w-]*)|([A-Za-z_][\w.$-]*)["']?\s*(?::(?!:)|=(?!=))""")
# A key or a path to one (``jsonb_set(d, '{auth,api_key}', ...)``): its last name.
_KEY_PATH = re.compile(r"\{?(?:[\w.$-]+,)*([\w.$-]+)\}?")
_VERIFIER = re.compile(r"SCRAM-SHA-256\$[0-9]+:[^$\s]*\$|\bmd5[0-9a-f]{32}\b")
# Text without any of these holds no credential (escapes could spell "password" in an
# E'' or U&'' string, so a backslash or a UESCAPE clause means: look closer; "crypt" and
# "hmac" name pgcrypto's functions, whose keys and passwords are arguments; "md5" and
# "scram" start a verifier).
_MAY_HOLD_CREDENTIAL = re.compile(
    r"pass|secret|credential|token|pw|://|\\|uescape|crypt|hmac|program"
    r"|auth(?!ori[sz]ed|enticat)|" + _KEY_CUE_PATTERN + r"|md5[0-9a-f]{32}|scram-sha-256\$",
    re.IGNORECASE)
# A shell command (COPY ... PROGRAM '...') that may hold a credential: a password, token
# or key in its words or environment (PGPASSWORD=, AWS_SECRET_ACCESS_KEY=), curl's -u
# user:pw, a URI with user:pw@, mysql's -pSECRET.
_COMMAND_SECRET = re.compile(
    r"pass|secret|token|api[_-]?key|access[_-]?key|credential|auth"
    r"|(?:^|\s)-u\s*\S+:\S|(?:^|\s)-p\S|[a-z][a-z0-9+.-]*://[^/?#@\s]*:[^/?#@\s]*@",
    re.IGNORECASE)
# pgcrypto functions and the (1-based) arguments that are a password or a secret key.
_SECRET_ARGUMENTS: Final[dict[str, frozenset[int]]] = {
    "crypt": frozenset({1}),
    "pgp_sym_encrypt": frozenset({2}), "pgp_sym_encrypt_bytea": frozenset({2}),
    "pgp_sym_decrypt": frozenset({2}), "pgp_sym_decrypt_bytea": frozenset({2}),
    "pgp_pub_decrypt": frozenset({2, 3}), "pgp_pub_decrypt_bytea": frozenset({2, 3}),
    "encrypt": frozenset({2}), "decrypt": frozenset({2}),
    "encrypt_iv": frozenset({2}), "decrypt_iv": frozenset({2}),
    "hmac": frozenset({2}),
}
# Tokens between a name that holds a password and its value (``SET app.password = 'x'``,
# ``TO``, PL/pgSQL's ``:=``, a named argument's ``=>``, ``WHERE password = 'x'``).
_ASSIGNMENTS: Final = frozenset({"=", ":=", "=>", "to"})
# A format() placeholder (``%L``, ``%2$s``, ``%-10I``); ``%%`` is a percent sign.
_PLACEHOLDER = re.compile(r"%%|%(?:([0-9]+)\$)?-?(?:[0-9]+|\*(?:[0-9]+\$)?)?[sIL]")
# The same test without a case-blind regex (which tries every position: ~1.5 us for a
# pgbench statement against ~0.2): the lower-cased text holds one of the words, or the
# text holds the one character that IGNORECASE equates with a letter of them and that
# str.lower() leaves alone (U+017F LATIN SMALL LETTER LONG S, "s"). A property test proves
# it says True wherever the regex matches.
_LONG_S: Final = "\u017f"


def may_hold_credential(sql: str) -> bool:
    """False only for text in which ``passwords`` mode can find nothing to hide.

    >>> may_hold_credential("select 1"), may_hold_credential("ALTER ROLE a PASSWORD 'x'")
    (False, True)
    """
    low = sql.lower()
    return ("pass" in low or "secret" in low or "token" in low or "credential" in low
            or "pw" in low or "://" in low or "\\" in low or "uescape" in low
            or "crypt" in low or "hmac" in low or "program" in low
            or "scram-sha-256$" in low or _LONG_S in sql
            or "auth" in low and _AUTH_CUE.search(low) is not None
            or "key" in low and _KEY_CUE.search(low) is not None
            or "md5" in low and _MD5_CUE.search(low) is not None)


_MAX_DEPTH: Final = 4
# A string whose value may hold SQL with a credential (a DO body, EXECUTE '...').
_INNER_CUE = re.compile("|".join(_NAME_CUES) + "|crypt|hmac|md5|scram|://", re.IGNORECASE)


@lru_cache(maxsize=4096)
def credential_name(name: str) -> bool:
    """Does a column, setting, option, key or variable name say it holds a credential
    (the name rule: see the comment above ``_NAME_SUBSTRINGS``)?

    >>> credential_name("password_hash"), credential_name("app.apiKey"), credential_name("e")
    (True, True, False)
    >>> credential_name("author"), credential_name("max_tokens"), credential_name("auth_token")
    (False, False, True)
    """
    low = name.lower()
    if not any(cue in low for cue in _NAME_CUES):
        return False
    if any(word in low for word in _NAME_SUBSTRINGS):
        return True
    parts = _PART_SPLIT.split(_CAMEL_STEP.sub("_", name).lower())
    previous = ""
    for part in parts:
        if part in _NAME_PARTS or part.endswith("token") or part in _KEY_PARTS or (
                part in ("key", "keys") and previous in _KEY_KINDS):
            return True
        previous = part
    return False


def credential_value(text: str) -> bool:
    """Does a value (not SQL) hold a credential: a connection string with a password, a
    ``--password``/``--api-key`` option, a ``"token":`` key or ``token=`` keyword, a
    SCRAM or md5 password verifier?

    >>> credential_value("host=h password=x"), credential_value("bob")
    (True, False)
    >>> credential_value('{"apiKey": "x"}'), credential_value("SCRAM-SHA-256$4096:c2E=$a=:b=")
    (True, True)
    """
    if _CONNINFO_PASSWORD.search(text) is not None or _VERIFIER.search(text) is not None:
        return True
    if not _NAME_CUE.search(text):
        return False
    for m in _KEYED.finditer(text):
        if credential_name(m.group(1) or m.group(2)):
            return True
    return False


def may_name_credential(text: str) -> bool:
    """False only for text in which no word can name a credential (the name rule)."""
    return _NAME_CUE.search(text) is not None


def names_credential(sql: str) -> bool:
    """Does a statement name a column, setting or variable that holds a credential (the
    rows it writes, ``COPY users (name, password) FROM STDIN``, carry one)?

    >>> names_credential("COPY u (name, api_key) FROM STDIN"), names_credential("COPY t FROM STDIN")
    (True, False)
    """
    return may_hold_credential(sql) and any(
        t.kind in ("ident", "qident") and credential_name(t.text(sql)) for t in tokenize(sql))


def names_credential_key(sql: str) -> bool:
    """Does a statement name a credential in a string constant: a setting, a JSON path or
    key (``current_setting('app.password')``, ``d->>'api_key'``)?

    >>> names_credential_key("select current_setting('app.password')::int")
    True
    >>> names_credential_key("select current_setting('app.name')")
    False
    """
    return may_hold_credential(sql) and any(
        t.kind in STRING_KINDS and _names_a_key(constant_value(sql, t)) for t in tokenize(sql))


def _names_credential(text: str) -> bool:
    """Does free text (a statement cut short) hold a word that names a credential?"""
    return _NAME_CUE.search(text) is not None and any(
        credential_name(m.group()) for m in _NAME_IN_TEXT.finditer(text))


def _is_password_keyword(sql: str, token: Token) -> bool:
    """``PASSWORD``, ``sslpassword``, ``ssl_passphrase_command``, ``client_secret``... (an
    option, clause or setting naming a credential; also a typo such as
    ``passwordE'...'``, which the server rejects but logs)."""
    if token.kind == "ident" or token.kind == "qident":
        return credential_name(token.text(sql))
    return False


def _placeholder_argument(fmt: str, at: int) -> int | None:
    """The format() argument (1-based, the format string being 1) that fills the
    placeholder at ``fmt[at:]``; None: no placeholder there."""
    m = _PLACEHOLDER.match(fmt, at)
    if m is None or m.group() == "%%":
        return None
    if m.group(1) is not None:
        return int(m.group(1)) + 1
    count = sum(1 for p in _PLACEHOLDER.finditer(fmt, 0, at) if p.group() != "%%")
    return count + 2


def _password_left_open(value: str) -> int | None:
    """Does SQL text (a string to be run or formatted) end with a PASSWORD keyword whose
    value comes from elsewhere? -1: the value follows the string (``'... PASSWORD ' ||
    x``: the keyword and a space end it); n > 0: format()'s argument n (``PASSWORD
    %L``); None: no (also for ``'password'``, a word)."""
    if "password" not in value.lower():
        return None
    tokens = tokenize(value)
    for i, token in enumerate(tokens):
        if token.kind != "ident" or token.text(value).lower() != "password":
            continue
        k = i + 1
        while k < len(tokens) and tokens[k].kind in ("space", "comment"):
            k += 1
        if k == len(tokens):
            return -1 if k > i + 1 else None
        if tokens[k].text(value) == "%" or tokens[k].text(value).startswith("%"):
            argument = _placeholder_argument(value, tokens[k].start)
            if argument is not None:
                return argument
    return None


class _Frame:
    """An open parenthesis: the function it calls, which of its arguments are secret,
    which argument the tokens are in, and (decided when it closes) the constants and
    parameters of each argument, the names of named arguments and the arguments that
    hold a string naming a credential (``set_config('app.token'::text, ...)``)."""

    __slots__ = ("name", "secret", "argument", "constants", "params", "named", "naming")

    def __init__(self, name: str, secret: frozenset[int]) -> None:
        self.name = name
        self.secret = set(secret)
        self.argument = 1
        self.constants: list[tuple[int, int, int]] = []   # (argument, start, end)
        self.params: list[tuple[int, int]] = []           # (argument, $n)
        self.named: dict[int, str] = {}                   # argument -> its name (=>)
        self.naming: set[int] = set()                     # arguments that name a credential

    def valued(self) -> set[int]:
        """The arguments that hold the value of a credential another argument names: the
        next one, or for a named one (``setting_name => 'app.password'``) the argument
        named ``new_value`` or ``value`` when there is one."""
        out: set[int] = set()
        for argument in self.naming:
            if argument in self.named:
                targets = [a for a, n in self.named.items() if n in ("new_value", "value")]
                if targets:
                    out.update(targets)
                    continue
            out.add(argument + 1)
        return out


# In a frame's secret arguments: all of them (a call of a function whose name names a
# credential, ``set_password(user, pw)``, ``rotate_token(...)``: which one holds it is the
# function's business). Arguments count from 1.
_EVERY_ARGUMENT: Final = 0


# Words that end the value expression of ``name = ...`` (``password = 'x' AND id = 5``).
_EXPRESSION_ENDS: Final = frozenset("""
    where from returning and or on when then else end limit offset order group having into
    values select set do as loop using is not in like ilike between union except intersect
    for window fetch
""".split())
# Words that end the target list of a SELECT (INSERT INTO t (a, password) SELECT 'x', 'y').
_SELECT_LIST_ENDS: Final = frozenset("""
    from where group having order limit offset window union except intersect returning on
    into fetch for
""".split())


def _credential_spans(sql: str, tokens: Sequence[Token], depth: int,
                      params: set[int] | None = None,
                      prepared: Prepared | None = None) -> list[tuple[int, int, str]]:
    """(start, end, replacement) of every credential in ``sql``, in order; the numbers of
    the parameters (``$n``) that stand where a credential goes are added to ``params``.
    ``prepared``: the session's prepared statements (the arguments of ``EXECUTE q(...)``
    that fill a credential's place are hidden); those PREPAREd in ``sql`` itself count too."""
    low = sql.lower()
    if "prepare" in low and "execute" in low:
        prepared = {**(prepared or {}), **prepared_parameters(sql)}
    spans: list[tuple[int, int, str]] = []
    at: dict[int, int] = {}  # start -> index in spans (a later rule may hide more)

    def hide(start: int, end: int, replacement: str = REDACTED) -> None:
        k = at.get(start)
        if k is None:
            at[start] = len(spans)
            spans.append((start, end, replacement))
        elif replacement == REDACTED:
            spans[k] = (start, max(end, spans[k][1]), REDACTED)

    frames: list[_Frame] = []
    secret_frames = 0    # frames with a secret argument (none: the common case)
    open_until = -1      # a password keyword at the end of a string, or ``name =``: the
    #                      rest of the expression at this many open frames is its value
    last_secret = -1     # index of the last constant hidden (a run of them is one value)
    unquoted = _unquoted_passwords(sql, tokens)
    # INSERT INTO t (name, password) VALUES ('a', 'x'), ... (also ... SELECT 'a', 'x',
    # ... FROM (VALUES ...), UPDATE ... SET (name, password) = (...)): the columns that
    # hold a password, and where the tokens are in the rows written to them.
    words = 0            # the statement's words so far (at most 2 counted)
    insert = False       # the statement starts INSERT INTO
    columns: set[int] | None = None
    values_depth = -1    # the frame depth of a VALUES list of rows to ``columns``
    select_depth = -1    # the frame depth of a SELECT list of rows to ``columns``
    select_item = 0
    set_columns_end = -1  # the ``)`` of ``SET (a, password)``
    first = ""           # the statement's first word
    execute_at = -1      # the name in ``EXECUTE name (...)``
    # UPDATE settings SET value = 'x' WHERE name = 'smtp.password': a row keyed by a
    # credential's name; its SET values are the credential.
    keyed_update = low.lstrip().startswith("update") and any(
        t.kind in STRING_KINDS and _names_a_key(constant_value(sql, t)) for t in tokens)
    in_set = False
    for i, token in enumerate(tokens):
        kind = token.kind
        depth_now = len(frames)
        if kind == "ident" or kind == "qident":
            word = token.text(sql).lower() if kind == "ident" else ""
            if words == 1 and first == "execute":
                execute_at = i
            if words < 2 and kind == "ident":
                insert = word == "into" and insert if words else word == "insert"
                if not words:
                    first = word
                words += 1
            elif frames and frames[-1].name == "#columns" \
                    and _is_password_keyword(sql, token) and columns is not None:
                columns.add(frames[-1].argument)
            if kind == "ident":
                if word == "insert" and words > 1 and not frames and first == "merge":
                    insert, columns = True, None  # MERGE ... THEN INSERT (a, password)
                if insert and columns:
                    if word == "values":
                        values_depth = depth_now
                    elif depth_now == values_depth:
                        values_depth = -1
                    if word == "select":
                        select_depth, select_item = depth_now, 1
                    elif depth_now == select_depth and word in _SELECT_LIST_ENDS:
                        select_depth = -1
                if keyed_update and not frames:
                    if word == "set":
                        in_set = True
                    elif word in ("where", "from", "returning"):
                        in_set = False
                if open_until == depth_now and word in _EXPRESSION_ENDS:
                    open_until = -1
                if word in _VALUE_WORDS and open_until < 0 and _names_a_value(sql, tokens, i):
                    open_until = depth_now  # (``api_key IN ('a', 'b')``: the list too)
            if unquoted and i in unquoted:
                hide(*unquoted[i])
                last_secret = i
            continue
        if kind == "punct":
            text = token.text(sql)
            if text == "(":
                before = previous_significant(tokens, i)
                name = tokens[before].text(sql).lower() if before >= 0 and tokens[
                    before].kind == "ident" else ""
                frame = _Frame(name, _SECRET_ARGUMENTS.get(name, frozenset()))
                if prepared and before == execute_at and before >= 0:
                    frame.secret = set(prepared.get(_name_of(sql, tokens[before]), ()))
                elif prepared and name and FUNCTION_KEY + name in prepared:
                    frame.secret |= prepared[FUNCTION_KEY + name]
                if name and _is_password_keyword(sql, tokens[before]):
                    frame.secret.add(_EVERY_ARGUMENT)
                if columns and (insert and depth_now == values_depth
                                or _after_set_columns(sql, tokens, before, set_columns_end)):
                    frame.secret = set(columns)
                elif name == "set" or insert and not frames and columns is None \
                        and name != "values":
                    frame.name = "#columns"
                    columns = set()
                frames.append(frame)
                if frame.secret:
                    secret_frames += 1
            elif text == ")" and frames:
                frame = frames.pop()
                if frame.secret:
                    secret_frames -= 1
                if frame.name == "#columns":
                    set_columns_end = i
                if frame.naming:
                    valued = frame.valued()
                    for argument, start, end in frame.constants:
                        if argument in valued:
                            hide(start, end)
                    if params is not None:
                        params.update(n for argument, n in frame.params if argument in valued)
                depth_now -= 1
                if open_until > depth_now:
                    open_until = -1
                if values_depth > depth_now:
                    values_depth = -1
                if select_depth > depth_now:
                    select_depth = -1
            elif text == ",":
                if frames:
                    frames[-1].argument += 1
                if open_until == depth_now:
                    open_until = -1
                if select_depth == depth_now:
                    select_item += 1
            elif text == ";":
                open_until = -1
                words, insert, columns, first, in_set = 0, False, None, "", False
                values_depth = select_depth = set_columns_end = execute_at = -1
            continue
        if kind == "operator":
            text = token.text(sql)
            if text in ("=>", ":=") and frames:
                name_at = previous_significant(tokens, i)
                if name_at >= 0 and tokens[name_at].kind == "ident":
                    frames[-1].named[frames[-1].argument] = tokens[name_at].text(sql).lower()
            if text in _COMPARISONS and open_until < 0 and _names_a_value(sql, tokens, i):
                open_until = depth_now
            continue
        in_select = select_depth >= 0 and columns is not None and select_item in columns \
            or in_set
        if kind == "opaque":
            # Text that does not lex: hide it from a PASSWORD keyword, or all of it.
            text = token.text(sql)
            before = _previous(sql, tokens, i)
            if before >= 0 and _is_password_value(sql, tokens, before, last_secret) or (
                    open_until >= 0 or in_select
                    or _in_secret_argument(frames, secret_frames)):
                hide(token.start, token.end)
            elif _names_credential(text) or credential_value(text):
                hide(token.start, token.end)
            continue
        if kind == "param":
            number = int(token.text(sql)[1:])
            for frame in frames:
                frame.params.append((frame.argument, number))
            if params is not None:
                before = _previous(sql, tokens, i)
                if open_until >= 0 or in_select or _in_secret_argument(
                        frames, secret_frames) or (
                        before >= 0 and _is_password_value(sql, tokens, before, last_secret)):
                    params.add(number)
            continue
        if kind == "comment":
            hidden = _hidden_comment(sql, token)
            if hidden is not None:
                hide(token.start, token.end, hidden)
            continue
        if kind not in STRING_KINDS and kind != "number":
            continue
        for frame in frames:
            frame.constants.append((frame.argument, token.start, token.end))
        before = _previous(sql, tokens, i)
        if before >= 0 and _is_password_value(sql, tokens, before, last_secret) or (
                open_until >= 0 or in_select or _in_secret_argument(frames, secret_frames)):
            hide(token.start, token.end)
            last_secret = i
            continue
        if kind == "number":
            continue
        escape = uescape_of(sql, tokens, i)[0] if kind == "ustring" else "\\"
        value = constant_value(sql, token, escape)
        raw = token.text(sql)
        if frames and _names_a_key(value):
            for frame in frames:
                frame.naming.add(frame.argument)
        if _aliased_as_credential(sql, tokens, i):
            hide(token.start, token.end)  # ``SELECT 'x' AS api_key``, ``'x' = password``
            last_secret = i
            continue
        if credential_value(value) or _CONNINFO_PASSWORD.search(raw) or (
                before >= 0 and tokens[before].kind == "ident"
                and tokens[before].text(sql).lower() == "program"
                and _COMMAND_SECRET.search(value)):
            hide(token.start, token.end)
            last_secret = i
            continue
        left_open = _password_left_open(value)
        if left_open is not None:
            if left_open > 0 and frames and frames[-1].name == "format" \
                    and frames[-1].argument == 1:
                frames[-1].secret.add(left_open)
                secret_frames += frames[-1].secret == {left_open}
            else:
                open_until = len(frames)
        if depth < _MAX_DEPTH and _INNER_CUE.search(value):
            # SQL inside a string (a DO body, EXECUTE '...'): redact it as SQL.
            inner = _redact_passwords(value, depth + 1)
            if inner != value:
                if kind == "dollar":
                    tag = raw[:raw.index("$", 1) + 1]
                    if tag not in inner:
                        hide(token.start, token.end, tag + inner + tag)
                        continue
                hide(token.start, token.end)
    if "raise" in low:
        for start, end in _raise_argument_spans(sql, tokens):
            hide(start, end)
    if "||" in sql:
        for start, end in _labelled_constants(sql, tokens):
            hide(start, end)
    spans.sort()
    return spans


# The text before a value that a message labels as a credential ('password is ',
# 'api_key=', 'token: '): a name, then spaces, ':', '=' or the word "is".
_LABEL = re.compile(r"([A-Za-z_][\w.-]*)(?:\s+is\b|[\s:=])*\s*\Z", re.IGNORECASE)


def _labelled_constants(sql: str, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """String constants joined to a constant that labels them as a credential:
    ``'password is ' || 's3cret'`` (a RAISE ... USING DETAIL, a message built by hand)."""
    found: list[tuple[int, int]] = []
    significant = [t for t in tokens if t.kind not in ("space", "comment")]
    for i in range(2, len(significant)):
        token = significant[i]
        if token.kind not in STRING_KINDS or significant[i - 1].text(sql) != "||":
            continue
        label = significant[i - 2]
        if label.kind not in STRING_KINDS:
            continue
        m = _LABEL.search(constant_value(sql, label))
        if m is not None and credential_name(m.group(1)):
            found.append((token.start, token.end))
    return found


# The word a RAISE format puts right before a ``%`` (``'bad password %'``, ``'token=%'``).
_WORD_BEFORE_PLACEHOLDER = re.compile(r"([A-Za-z_][\w.-]*)[\s:=]*\Z")
_RAISE_LEVELS: Final = frozenset({"debug", "log", "info", "notice", "warning", "exception"})


def format_secret_arguments(fmt: str) -> frozenset[int]:
    """The arguments (1-based) of a RAISE format whose ``%`` follows a word that names a
    credential (``'bad password % for %'``: {1}).

    >>> sorted(format_secret_arguments("user % has token=% (%)"))
    [2]
    """
    found: set[int] = set()
    number = 0
    pieces = re.split(r"(%%|%)", fmt)
    for k, piece in enumerate(pieces):
        if piece != "%":
            continue
        number += 1
        m = _WORD_BEFORE_PLACEHOLDER.search(pieces[k - 1]) if k else None
        if m is not None and credential_name(m.group(1)):
            found.add(number)
    return frozenset(found)


def _raise_argument_spans(sql: str, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """The constants given to RAISE for a ``%`` its format says is a credential
    (``RAISE NOTICE 'password: %', 's3cret'``)."""
    found: list[tuple[int, int]] = []
    significant = [t for t in tokens if t.kind not in ("space", "comment")]
    for i, token in enumerate(significant):
        if token.kind != "ident" or token.text(sql).lower() != "raise":
            continue
        k = i + 1
        if k < len(significant) and significant[k].text(sql).lower() in _RAISE_LEVELS:
            k += 1
        if k >= len(significant) or significant[k].kind not in STRING_KINDS:
            continue
        secret = format_secret_arguments(constant_value(sql, significant[k]))
        if not secret:
            continue
        argument, level = 0, 0
        for t in significant[k + 1:]:
            text = t.text(sql)
            if level == 0 and (text == ";" or text.lower() == "using"):
                break
            if level == 0 and text == ",":
                argument += 1
                continue
            level += (text == "(") - (text == ")")
            if argument in secret and t.kind in STRING_KINDS:
                found.append((t.start, t.end))
    return found


def _name_of(sql: str, token: Token) -> str:
    """The name an identifier token stands for (unquoted: lower-cased)."""
    text = token.text(sql)
    if token.kind == "qident":
        return text[1:-1].replace('""', '"')
    return text.lower()


def prepared_parameters(sql: str) -> Prepared:
    """The statements ``sql`` PREPAREs that take a credential as a parameter, and which.

    >>> prepared_parameters("PREPARE q(text, int) AS UPDATE u SET password = $1 WHERE id = $2")
    {'q': frozenset({1})}
    >>> prepared_parameters("prepare r as select * from t where id = $1")
    {}
    """
    return dict(_prepared_parameters(sql))


@lru_cache(maxsize=1024)  # (pgAudit logs each EXECUTE with its PREPARE's text)
def _prepared_parameters(sql: str) -> tuple[tuple[str, frozenset[int]], ...]:
    found: Prepared = {}
    for start, end in statement_spans(sql):
        head = sql[start:start + 7].lower()
        if head != "prepare":
            continue
        inner = tokenize(sql[start:end])
        significant = [t for t in inner if t.kind not in ("space", "comment")]
        text = sql[start:end]
        if len(significant) < 4 or significant[1].kind not in ("ident", "qident"):
            continue
        k = 2
        if significant[k].text(text) == "(":
            level = 0
            while k < len(significant):
                piece = significant[k].text(text)
                level += (piece == "(") - (piece == ")")
                k += 1
                if level == 0:
                    break
        if k >= len(significant) - 1 or significant[k].text(text).lower() != "as":
            continue
        secret = password_parameters(text[significant[k + 1].start:])
        if secret:
            found[_name_of(text, significant[1])] = frozenset(secret)
    return tuple(found.items())


# Operators and words after a credential's name whose right side is its value.
_COMPARISONS: Final = frozenset({"=", ":=", "<>", "!="})
_VALUE_WORDS: Final = frozenset({"to", "in", "like", "ilike"})


def _names_a_key(value: str) -> bool:
    """Is a string constant the name of a credential (a setting, a key, a JSON path)?"""
    m = _KEY_PATH.fullmatch(value)
    return m is not None and credential_name(m.group(1))


def _aliased_as_credential(sql: str, tokens: Sequence[Token], index: int) -> bool:
    """Is the constant at ``tokens[index]`` (with any ``::type`` casts) named as a
    credential by what follows: ``AS api_key``, ``= password``?"""
    k = index + 1
    n = len(tokens)
    while True:
        while k < n and tokens[k].kind in ("space", "comment"):
            k += 1
        if k < n and tokens[k].text(sql) == "::":
            k += 1
            while k < n and tokens[k].kind in ("space", "comment"):
                k += 1
            if k < n and tokens[k].kind in ("ident", "qident"):
                k += 1
                continue
        break
    if k >= n or tokens[k].text(sql).lower() not in ("as", "="):
        return False  # (not a bare alias: ``VALID UNTIL 'x' PASSWORD 'y'``)
    k += 1
    while k < n and tokens[k].kind in ("space", "comment"):
        k += 1
    return k < n and tokens[k].kind in ("ident", "qident") and credential_name(tokens[k].text(sql))


def _names_a_value(sql: str, tokens: Sequence[Token], index: int) -> bool:
    """Is ``tokens[index]`` (``=``, ``:=``, ``TO``) preceded by a name that holds a
    credential (``SET app.token = ...``, ``password := ...``, ``WHERE api_key = ...``)?"""
    name = _previous(sql, tokens, index)
    if name >= 0 and tokens[name].text(sql) == ")":
        # ``lower(token) = 'x'``: a name inside the call on the left
        level = 0
        named = False
        while name >= 0:
            text = tokens[name].text(sql)
            level += (text == ")") - (text == "(")
            if level == 0:
                function = previous_significant(tokens, name)
                return named and function >= 0 and tokens[function].kind == "ident" \
                    and tokens[function].text(sql).lower() not in ("set", "row", "in")
            named = named or _is_password_keyword(sql, tokens[name])
            name -= 1
        return False
    return name >= 0 and _is_password_keyword(sql, tokens[name])


def _after_set_columns(sql: str, tokens: Sequence[Token], before: int,
                       set_columns_end: int) -> bool:
    """Does the ``(`` after ``tokens[before]`` start the row given to ``SET (a, b)``:
    ``SET (a, b) = (...)`` or ``= ROW(...)``?"""
    if set_columns_end < 0 or before < 0:
        return False
    if tokens[before].kind == "ident" and tokens[before].text(sql).lower() == "row":
        before = previous_significant(tokens, before)
    return before >= 0 and tokens[before].text(sql) == "=" \
        and previous_significant(tokens, before) == set_columns_end


def _declares_password(sql: str, tokens: Sequence[Token], index: int) -> bool:
    """Is ``tokens[index]`` the end of a PL/pgSQL declaration (or column definition) of a
    name that holds a password (``password varchar(20) := 'x'``, ``pw_password text
    DEFAULT 'x'``, ``ALTER COLUMN api_key SET DEFAULT 'x'``)? Looks back a few tokens, to
    the start of the declaration."""
    if index >= 0 and tokens[index].text(sql).lower() == "set":
        column = previous_significant(tokens, index)
        return column >= 0 and _is_password_keyword(sql, tokens[column])
    first = -1
    for _ in range(8):
        if index < 0:
            break
        text = tokens[index].text(sql).lower()
        if text in (";", ",", "declare", "begin") or (text == "(" and first >= 0):
            break  # (a "(" before any name is a type's: varchar(20))
        if tokens[index].kind in ("ident", "qident"):
            first = index
        index = previous_significant(tokens, index)
    return first >= 0 and _is_password_keyword(sql, tokens[first])


def _unquoted_passwords(sql: str, tokens: Sequence[Token]) -> dict[int, tuple[int, int]]:
    """The words that stand as an unquoted password (``ALTER ROLE a PASSWORD s3cret``):
    the server rejects the statement with ``syntax error at or near "s3cret"`` and logs
    it. Only in CREATE/ALTER ROLE|USER|GROUP, and not ``PASSWORD NULL``. Token index ->
    the span to hide (PostgreSQL reads a non-ASCII space as a letter: in
    ``PASSWORD<U+00A0>s3cret``, one word, the part after the space)."""
    found: dict[int, tuple[int, int]] = {}
    if "password" not in sql.lower():
        return found
    head: list[str] = []  # the statement's first words
    for i, token in enumerate(tokens):
        if token.kind == "punct" and token.text(sql) == ";":
            head = []
        elif token.kind == "ident":
            text = token.text(sql)
            word = text.lower()
            if text.isspace():
                continue  # a word of non-ASCII spaces only: space to a reader
            if len(head) < 3:
                head.append(word)
                if len(head) < 3:
                    continue
            role = head[0] in ("create", "alter") and head[1] in ("role", "user", "group") \
                and head[2] != "mapping"
            if not role:
                continue
            inner = _after_password_in_word(word)
            if inner is not None:
                found[i] = (token.start + inner, token.end)
                continue
            before = _previous(sql, tokens, i)
            if before >= 0 and word != "null" and tokens[before].kind == "ident" \
                    and tokens[before].text(sql).lower() == "password":
                found[i] = (token.start, token.end)
    return found


def _after_password_in_word(word: str) -> int | None:
    """Where the password starts in one word that holds ``password``, a non-ASCII space
    and more (``password\u00a0s3cret``); None: it does not."""
    at = word.find("password")
    if at < 0 or word.isascii():
        return None
    rest = at + len("password")
    if rest >= len(word) or not word[rest].isspace():
        return None
    while rest < len(word) and word[rest].isspace():
        rest += 1
    return rest if rest < len(word) else None


def _hidden_comment(sql: str, token: Token) -> str | None:
    """A comment that holds a credential (``-- password=...``, ``/* postgres://u:pw@h
    */``), hidden with its markers kept; None: it holds none."""
    text = token.text(sql)
    if not credential_value(text):
        return None
    return f"/* {REDACTED} */" if text.startswith("/*") else f"-- {REDACTED}"


def _previous(sql: str, tokens: Sequence[Token], index: int) -> int:
    """:func:`previous_significant`, also past words of non-ASCII spaces only (which
    PostgreSQL reads as identifiers, and a reader as space)."""
    j = previous_significant(tokens, index)
    while j >= 0 and tokens[j].kind == "ident" and tokens[j].text(sql).isspace():
        j = previous_significant(tokens, j)
    return j


def _in_secret_argument(frames: Sequence[_Frame], secret_frames: int) -> bool:
    """Are the tokens inside a secret argument of a pgcrypto call (or of a format() that
    fills a password)?"""
    return secret_frames > 0 and any(
        f.argument in f.secret or _EVERY_ARGUMENT in f.secret for f in frames)


def _is_password_value(sql: str, tokens: Sequence[Token], before: int,
                       last_secret: int) -> bool:
    """Is the constant after ``tokens[before]`` a password: right after a password keyword
    (or its ``(``), after a name that holds one and ``=``/``TO``/``:=``/``=>``/``,``, or
    right after a constant that is one (``PASSWORD 'a' 'b'``, which the server rejects
    but logs)?"""
    token = tokens[before]
    if _is_password_keyword(sql, token) or before == last_secret:
        return True
    text = token.text(sql)
    if token.kind == "ident":
        text = text.lower()
    if text in _ASSIGNMENTS or text == "(" or text == "," or text == "default":
        name = _previous(sql, tokens, before)
        if name < 0:
            return False
        if text == "(" or text in _ASSIGNMENTS:
            if _is_password_keyword(sql, tokens[name]):
                return True
        if text == ":=" or text == "default":
            return _declares_password(sql, tokens, name)
        if text != "(" and tokens[name].kind in STRING_KINDS:
            value = constant_value(sql, tokens[name])
            return _NAME_LIKE.fullmatch(value) is not None and credential_name(value)
    return False


def _apply(sql: str, spans: Sequence[tuple[int, int, str]]) -> str:
    if not spans:
        return sql
    out: list[str] = []
    pos = 0
    for start, end, replacement in spans:
        out.append(sql[pos:start])
        out.append(replacement)
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def _redact_passwords(sql: str, depth: int) -> str:
    if not may_hold_credential(sql):
        return sql  # no credential can be here (the common case: no lexing at all)
    if depth == 0 and len(sql) <= CACHED_LENGTH:
        return _redact_passwords_cached(sql)
    return _apply(sql, _credential_spans(sql, tokenize(sql), depth))


@lru_cache(maxsize=4096)
def _redact_passwords_cached(sql: str) -> str:
    return _apply(sql, _credential_spans(sql, tokenize(sql), 0))


def redact_passwords(sql: str, prepared: Prepared | None = None) -> str:
    """``sql`` with every credential replaced by ``<REDACTED>`` (see the module docstring).

    >>> redact_passwords("select dblink_connect('c', $$host=db password=s3cret$$)")
    "select dblink_connect('c', <REDACTED>)"
    >>> redact_passwords("create role a password 'it''s secret' login")
    'create role a password <REDACTED> login'
    >>> redact_passwords("EXECUTE q('s3cret', 7)", {"q": frozenset({1})})
    'EXECUTE q(<REDACTED>, 7)'
    """
    if sql[:1] == "\n" and _QUOTED_PLAN.match(sql):
        return _redact_plan(sql, lambda text: redact_passwords(text, prepared), None)
    if prepared and ("execute" in sql.lower() or calls_function(sql, prepared)):
        return _apply(sql, _credential_spans(sql, tokenize(sql), 0, None, prepared))
    return _redact_passwords(sql, 0)


#: Keys of a :data:`Prepared` map that name a function (not a prepared statement): the
#: arguments of ``f(...)`` that a ``CREATE FUNCTION f(..., password text)`` named.
FUNCTION_KEY: Final = "()"


def calls_function(sql: str, prepared: Prepared) -> bool:
    """Does ``sql`` mention a function of ``prepared`` (:data:`FUNCTION_KEY` entries)?"""
    low = sql.lower()
    return any(key.startswith(FUNCTION_KEY) and key[2:] in low for key in prepared)


def function_parameters(sql: str) -> Prepared:
    """The functions and procedures ``sql`` creates whose parameters are named as a
    credential, and which (1-based, as a call passes them), keyed ``FUNCTION_KEY + name``.

    >>> function_parameters("CREATE OR REPLACE FUNCTION app.set_pw(uid int, new_password "
    ...                     "text DEFAULT NULL) RETURNS void AS $$ $$ LANGUAGE sql")
    {'()set_pw': frozenset({2})}
    >>> function_parameters("create function f(OUT token text, a int) returns text as 'x'")
    {}
    """
    return dict(_function_parameters(sql))


@lru_cache(maxsize=256)
def _function_parameters(sql: str) -> tuple[tuple[str, frozenset[int]], ...]:
    found: Prepared = {}
    low = sql.lower()
    if "create" not in low or "function" not in low and "procedure" not in low:
        return ()
    for start, end in statement_spans(sql):
        text = sql[start:end]
        significant = [t for t in tokenize(text) if t.kind not in ("space", "comment")]
        words = [t.text(text).lower() for t in significant[:5]]
        k = 1
        if words[1:3] == ["or", "replace"]:
            k = 3
        if not words or words[0] != "create" or len(words) <= k or words[k] not in (
                "function", "procedure"):
            continue
        procedure = words[k] == "procedure"
        k += 1
        while k + 1 < len(significant) and significant[k + 1].text(text) == ".":
            k += 2  # (schema.name)
        if k + 1 >= len(significant) or significant[k + 1].text(text) != "(" or \
                significant[k].kind not in ("ident", "qident"):
            continue
        name = _name_of(text, significant[k])
        secret: set[int] = set()
        position, level = 0, 0
        words_of_argument: list[str] = []
        for t in significant[k + 1:]:
            piece = t.text(text)
            if piece in ("(", "["):
                level += 1
                if level == 1:
                    continue
            elif piece in (")", "]"):
                level -= 1
            if level == 0 or level == 1 and piece == ",":
                if words_of_argument:
                    modes = [w for w in words_of_argument[:2] if w in _ARGUMENT_MODES]
                    if not (modes and modes[0] == "out" and not procedure):
                        position += 1
                        rest = words_of_argument[len(modes):]
                        if len(rest) >= 2 and credential_name(rest[0]):
                            secret.add(position)
                words_of_argument = []
                if level == 0:
                    break
                continue
            if level == 1 and t.kind in ("ident", "qident"):
                words_of_argument.append(_name_of(text, t))
            elif level == 1:
                words_of_argument.append(piece)
        if secret:
            found[FUNCTION_KEY + name] = frozenset(secret)
    return tuple(found.items())


_ARGUMENT_MODES: Final = frozenset({"in", "out", "inout", "variadic"})


# auto_explain's plan in JSON or YAML (``plan:`` messages): its SQL (``"Query Text"``,
# ``"Filter": "(password = '...'::text)"``) is inside JSON-escaped strings, where the
# lexer sees quoted identifiers; text and XML plans lex as SQL.
_QUOTED_PLAN = re.compile(r'\n(?:\{\n\s*"Query Text": "|Query Text: "|\[\n\s*\{\n\s*"Query Text)')
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _redact_plan(plan: str, hide: Callable[[str], str],
                 between: Callable[[str], str] | None) -> str:
    """A JSON or YAML plan with each string's SQL redacted by ``hide`` (written again with
    JSON escapes when it changes) and the text between strings by ``between`` (numbers,
    in ``literals`` mode).

    >>> plan = '{"Query Text": "select 1", "Filter": "(pw = 7::text)"}'
    >>> _redact_plan(plan, lambda s: s.replace("7", "<REDACTED>"), None)
    '{"Query Text": "select 1", "Filter": "(pw = <REDACTED>::text)"}'
    """
    out: list[str] = []
    pos = 0
    for m in _JSON_STRING.finditer(plan):
        gap = plan[pos:m.start()]
        out.append(between(gap) if between is not None else gap)
        try:
            value = json.loads(m.group())
        except ValueError:  # (not JSON after all: hide it as SQL, quotes and all)
            out.append(hide(m.group()))
        else:
            new = hide(value) if isinstance(value, str) else value
            out.append(m.group() if new == value else json.dumps(new, ensure_ascii=False))
        pos = m.end()
    rest = plan[pos:]
    out.append(between(rest) if between is not None else rest)
    return "".join(out)


# A quoted name or value in a message (PostgreSQL quotes them with '"', unescaped).
_QUOTED = re.compile(r'"([^"\n]+)"')
# A message that quotes the token where the scanner or the parser stopped.
_AT_OR_NEAR = re.compile(r' at or near "(?P<near>.*)"(?: at character [0-9]+)?\Z', re.DOTALL)


def redact_echo(message: str, statement: str | None, redacted: object) -> str:
    """An error message that quotes its statement (``syntax error at or near "..."``,
    ``invalid input syntax for type integer: "..."``), with what the redaction of the
    statement hid hidden there too.

    >>> redact_echo('syntax error at or near "s3cret" at character 24',
    ...             "alter role a password s3cret", "alter role a password <REDACTED>")
    'syntax error at or near "<REDACTED>" at character 24'
    >>> redact_echo('invalid input syntax for type integer: "a@b.c"',
    ...             "select * from t where id = 'a@b.c'", "select * from t where id = $1")
    'invalid input syntax for type integer: "<REDACTED>"'
    """
    if not statement or not isinstance(redacted, str) or '"' not in message \
            or redacted == statement:
        return message
    spans: list[tuple[int, int, str]] = []
    m = _AT_OR_NEAR.search(message)
    if m is not None:
        near = m.group("near")
        if near and near in statement and near not in redacted:
            spans.append((m.start("near"), m.end("near"), REDACTED))
        message_end = m.start()
    else:
        message_end = len(message)
    low_statement = low_redacted = ""
    for q in _QUOTED.finditer(message, 0, message_end):
        text = q.group(1)
        if text in statement:
            if text not in redacted:
                spans.append((q.start(1), q.end(1), REDACTED))
            continue
        # The server lower-cases a name it reads from a constant ('Abc'::regclass,
        # nextval('Abc'): relation "abc" does not exist).
        if not low_statement:
            low_statement, low_redacted = statement.lower(), redacted.lower()
        low = text.lower()
        if low in low_statement and low not in low_redacted:
            spans.append((q.start(1), q.end(1), REDACTED))
    return _apply(message, sorted(spans)) if spans else message


# Messages and DETAIL lines that quote an input value (a constant of the statement, a
# bind parameter, or data read from a table): the value is hidden in ``literals`` mode,
# and in ``passwords`` mode when the statement holds or names a credential.
_QUOTED_VALUE: Final[tuple[re.Pattern[str], ...]] = tuple(re.compile(
    p + r"(?: at character [0-9]+)?\s*", re.DOTALL) for p in (
    r'invalid input syntax for (?:type )?.*?: "(?P<v>.*)"',
    r'invalid input value for enum .*?: "(?P<v>.*)"',
    r'malformed [a-z ]+ literal: "(?P<v>.*)"',
    r'value "(?P<v>.*)" is out of range for type .*',
    r'invalid value for parameter "[^"]*": "(?P<v>.*)"',
    r'(?:date/time|timestamp|interval) field value out of range: "(?P<v>.*)"',
    r'(?:date/time|timestamp) value "(?P<v>.*)" is no longer supported',
    r'time zone "(?P<v>.*)" not recognized',
    r'invalid hexadecimal digit: "(?P<v>.*)"',
    r'"(?P<v>.*)" is not a valid (?:binary|hexadecimal|octal) digit',
    r'Token "(?P<v>.*)" is invalid\.',
    r'Expected [a-zA-Z ,":]*but found "(?P<v>.*)"\.',
))


def redact_quoted_value(text: str) -> str:
    """A message or DETAIL that quotes an input value, with that value hidden.

    >>> redact_quoted_value('invalid input syntax for type integer: "s3cret"')
    'invalid input syntax for type integer: "<REDACTED>"'
    >>> redact_quoted_value('Token "s3cret" is invalid.')
    'Token "<REDACTED>" is invalid.'
    >>> redact_quoted_value('role "x" does not exist')
    'role "x" does not exist'
    """
    span = quoted_value_span(text)
    return text if span is None else text[:span[0]] + REDACTED + text[span[1]:]


def quoted_value_span(text: str) -> tuple[int, int] | None:
    """Where a message or DETAIL quotes an input value (see :func:`redact_quoted_value`).

    >>> quoted_value_span('value "99999999999" is out of range for type integer')
    (7, 18)
    """
    if '"' not in text:
        return None
    for pattern in _QUOTED_VALUE:
        m = pattern.fullmatch(text)
        if m is not None and m.end("v") > m.start("v"):
            return m.start("v"), m.end("v")
    return None


_PARAM_NUMBER = re.compile(r"\$([0-9]+)")
_IDENT_CHAR = re.compile(IDENT_CONT)  # a character that continues a name (or "$")


def redact_literals(sql: str) -> str:
    """``sql`` with every constant replaced by ``$n`` (after the highest ``$n`` in it).

    >>> redact_literals("insert into t values ($1, 'a', 0x1F, DATE '2026-01-01')")
    'insert into t values ($1, $2, $3, DATE $4)'
    """
    if len(sql) <= CACHED_LENGTH:
        return _redact_literals_cached(sql)
    return _redact_literals(sql)


#: Statements up to this length are remembered (a log repeats its statements: prepared
#: ones with $n are the same text each time); the caches hold at most 4096 of them.
CACHED_LENGTH: Final = 4096


# The fast path of ``literals``: most statements are made of a few plain kinds of token
# only. For them one regex finds the constants without building tokens; anything else
# (a '$', a string prefix B/X/U&/N, a nested comment, a continued string, a number other
# than 12 or 1.5, a sign before a number, text that does not lex) takes the lexer. Every
# piece below only ever matches a whole token (the lookaheads stop a shorter match), so
# the split into tokens is the lexer's; a property test checks both give the same text.
_OPS = re.escape(OP_CHARS)
_OPS_NO_SIGN = re.escape(OP_CHARS.replace("+", "").replace("-", ""))
_FAST_SKIP = (
    rf"[{SPACE_CHARS}]+(?![{SPACE_CHARS}])"
    r"|--[^\n\r]*(?![^\n\r])"
    r"|/\*(?:[^*/]|\*(?!/)|/(?!\*))*\*/"
    rf"|{IDENT_START}{IDENT_CONT}*(?!{IDENT_CONT}|['&])"
    r'|"(?:[^"]|"")+"(?!")'
    # (one way only to match each: ':' and '.' alone never start '::', ':=' or '..', or
    # a statement with many casts and no constant after them backtracks exponentially)
    r"|::|:=|\.\.|\.(?![0-9.])|:(?![:=])|[,()\[\];]"
    rf"|(?:(?!--|/\*)[{_OPS}])*[{_OPS_NO_SIGN}](?![{_OPS}])"
    rf"|[+-](?![{_OPS}])"
)
_NOT_CONTINUED = r"(?!(?:[ \t\f\v]|--[^\n\r]*)*[\n\r](?:[ \t\n\r\f\v]|--[^\n\r]*[\n\r])*')"
_FAST_CONSTANT = (
    r"'(?:[^']|'')*'(?!')" + _NOT_CONTINUED
    + r"|[eE]'(?:[^'\\]|''|\\[\s\S])*'(?!')" + _NOT_CONTINUED
    + rf"|(?P<number>(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?![0-9_.]|{IDENT_START}))"
)
_FAST_STATEMENT = re.compile(rf"(?:{_FAST_SKIP}|{_FAST_CONSTANT})*")
_FAST_STEP = re.compile(rf"(?P<before>(?:{_FAST_SKIP})*)(?P<constant>{_FAST_CONSTANT})")


def _ends_with_minus(text: str) -> bool:
    """Is the last token of ``text`` that is not whitespace or a comment a '-'?"""
    rest = text.rstrip(SPACE_CHARS)
    if not (rest.endswith(("-", "*/")) or "--" in rest[rest.rfind("\n") + 1:]):
        return False  # it ends with a token that is neither a '-' nor a comment
    for token in reversed(tokenize(text)):
        if token.kind not in ("space", "comment"):
            return token.text(text) == "-"
    return False


def _fast_redact_literals(sql: str) -> str | None:
    """``literals`` for a statement of plain tokens only; None: take the lexer (also for
    a statement that says PASSWORD: an unquoted password is a constant too; and for a
    comment that may hold a credential, and for type modifiers: numeric(10,2) stays)."""
    if "$" in sql or _FAST_STATEMENT.fullmatch(sql) is None or "password" in sql.lower() \
            or ("--" in sql or "/*" in sql) and credential_value(sql) \
            or may_hold_type_modifiers(sql) or may_take_literals_only(sql):
        return None
    out: list[str] = []
    pos = 0
    number = 0
    step = _FAST_STEP.match
    while True:
        m = step(sql, pos)
        if m is None:
            break
        before = m.group("before")
        if m.group("number") is not None and "-" in before and _ends_with_minus(before):
            return None  # a sign may belong to the number: the lexer decides
        number += 1
        out.append(before)
        # (as the lexer's path: a parameter right after a name would join it, x.0 is
        # the name x and the number .0, not the name x$1)
        start = m.start("constant")
        glued = before and start > 0 and _IDENT_CHAR.match(sql, start - 1)
        out.append(f" ${number}" if glued else f"${number}")
        pos = m.end()
    out.append(sql[pos:])
    return "".join(out)


def _redact_literals(sql: str) -> str:
    fast = _fast_redact_literals(sql)
    if fast is not None:
        return fast
    return _redact_literals_by_tokens(sql)


def _redact_literals_by_tokens(sql: str) -> str:
    tokens = tokenize(sql)
    highest = 0
    for token in tokens:
        if token.kind == "param":
            highest = max(highest, int(token.text(sql)[1:]))
    # (an unquoted password is a constant too: the server logs ``PASSWORD s3cret``)
    constants = find_constants(sql, tokens)
    places = [(c.start, c.end) for c in constants]
    unquoted = _unquoted_passwords(sql, tokens)
    if unquoted:
        places = sorted(places + list(unquoted.values()))
    if tokens and tokens[-1].kind == "opaque":
        places.append((tokens[-1].start, tokens[-1].end))
    # where the grammar takes a literal only, a literal that holds no data (DO '$1')
    literal_only = literal_only_constants(sql, tokens)
    numbers = {c.start for c in constants if c.kind == "number"}
    spans: list[tuple[int, int, str]] = []
    last_end = -1
    for start, end in places:
        highest += 1
        if start not in literal_only:
            placeholder = f"${highest}"
        else:
            placeholder = "0" if start in numbers else f"'${highest}'"
        # a parameter right after a word would join it (int4'5' is not int4$1, a name)
        glued = start != last_end and start > 0 and _IDENT_CHAR.match(sql, start - 1)
        spans.append((start, end, " " + placeholder if glued else placeholder))
        last_end = end
    # (comments are kept, but not one that holds a credential; one inside a constant
    # continued over lines goes with it)
    if ("--" in sql or "/*" in sql) and credential_value(sql):
        for token in tokens:
            if token.kind == "comment" and not any(
                    start <= token.start < end for start, end, _ in spans):
                hidden = _hidden_comment(sql, token)
                if hidden is not None:
                    spans.append((token.start, token.end, hidden))
        spans.sort()
    return _apply(sql, spans)


# Statements that differ only in integer constants give the same text (see :mod:`.shape`).
_LITERALS = cached_by_shape(_redact_literals, literals_shape)
_redact_literals_cached = _LITERALS.texts  # (the C cache itself: a hit costs no Python call)


def hidden_values(sql: str, prepared: Prepared | None = None, depth: int = 0) -> list[str]:
    """The values ``passwords`` mode hides in ``sql`` (a message the statement makes the
    server write may echo them).

    >>> hidden_values("DO $$ DECLARE api_token text := 'tok-123'; BEGIN END $$")
    ['tok-123']
    """
    if not (prepared or may_hold_credential(sql)):
        return []
    found: list[str] = []
    for start, end, replacement in _credential_spans(sql, tokenize(sql), depth, None,
                                                     prepared):
        raw = sql[start:end]
        inner = tokenize(raw)
        value = constant_value(raw, inner[0]) if len(inner) == 1 and inner[0].kind in (
            STRING_KINDS) else raw
        if replacement == REDACTED:
            found.append(value)
        elif depth < _MAX_DEPTH and inner and inner[0].kind == "dollar":
            found.extend(hidden_values(value, None, depth + 1))
    return found


def redact(sql: str | None, mode: RedactMode | str,
           prepared: Prepared | None = None) -> str | None:
    """``sql`` redacted in ``mode`` (``none``, ``passwords`` or ``literals``); None stays.
    ``prepared``: the session's prepared statements (see :func:`redact_passwords`).

    >>> redact("select 'x'", "none")
    "select 'x'"
    """
    if sql is None or mode == "none":
        return sql
    if mode == "passwords":
        return redact_passwords(sql, prepared)
    if mode == "literals":
        if sql[:1] == "\n" and _QUOTED_PLAN.match(sql):
            return _redact_plan(sql, redact_literals, redact_literals)
        return redact_literals(sql)
    raise ValueError(f"unknown redaction mode {mode!r} (expected one of {REDACT_MODES})")


# A double-quoted run of a line: a JSON string (backslash escapes) or a CSV field (doubled
# quotes), to the end of the line when the line was cut inside it.
_QUOTED_RUN = re.compile(r'"((?:[^"\\]|\\.|"")*)("|\Z)', re.DOTALL)


# A single-quoted Python string with backslash escapes (``str(dict)`` writes a value that
# holds both quote characters so), to the end of the line when cut inside it.
_PYTHON_STRING = re.compile(r"'((?:[^'\\]|\\.)*)('|\Z)", re.DOTALL)
_PYTHON_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_PYTHON_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r"}


def _redact_python_string(m: re.Match[str], mode: RedactMode | str) -> str:
    body = m.group(1)
    if "\\" not in body or mode == "passwords" and not may_hold_credential(body):
        return m.group(0)
    text = _PYTHON_ESCAPE.sub(lambda e: _PYTHON_ESCAPES.get(e.group(1), e.group(1)), body)
    new = redact(text, mode) or ""
    if new == text:
        if not credential_value(text):
            return m.group(0)
        new = REDACTED
    quoted = new.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return "'" + quoted + m.group(2)


def redact_raw(raw: str, mode: RedactMode | str) -> str:
    """A line that did not parse (a dead letter's ``raw``) redacted in ``mode``: as SQL,
    and the text of each double-quoted run as SQL too (a jsonlog or CloudWatch JSON line,
    an SQS body and a csvlog record carry the message and its statement inside a JSON
    string or a CSV field, where the lexer sees a quoted identifier).

    >>> raw = '{"message":"statement: ALTER ROLE a PASSWORD ' + "'x'" + '","pid":7'
    >>> redact_raw(raw, "passwords")
    '{"message":"statement: ALTER ROLE a PASSWORD <REDACTED>","pid":7'
    >>> redact_raw('bob,"select ' + "'abc'" + ', ""q"" ",x', "literals")
    'bob,"select $1, ""q"" ",x'
    """
    if mode == "none":
        return raw
    if "\\'" in raw:  # a Python literal (the seed's SQS body): '...\'...\'...' strings
        raw = _PYTHON_STRING.sub(lambda m: _redact_python_string(m, mode), raw)
    out = redact(raw, mode) or ""
    if '"' not in out:
        return out

    def one(m: re.Match[str]) -> str:
        body = m.group(1)
        if mode == "passwords" and not may_hold_credential(body) or not body:
            return m.group(0)
        json_style = "\\" in body or '""' not in body
        if json_style:
            try:
                text = json.loads('"' + body + '"')
            except ValueError:
                text = body.replace('\\"', '"')
        else:
            text = body.replace('""', '"')
        new = redact(text, mode) or ""
        if new == text:
            if not credential_value(text):  # (a connection string, JSON with a key...)
                return m.group(0)
            new = REDACTED
        quoted = json.dumps(new, ensure_ascii=False)[1:-1] if json_style \
            else new.replace('"', '""')
        return '"' + quoted + m.group(2)
    return _QUOTED_RUN.sub(one, out)


@lru_cache(maxsize=256)  # (an error repeats its statement)
def string_constants(sql: str, min_length: int = 4) -> tuple[str, ...]:
    """The values of the string constants of ``sql`` of at least ``min_length``
    characters, and of those inside a dollar-quoted or string body (a ``DO`` block, a
    function body, ``EXECUTE '...'``), the longest first: what a message of the statement
    may echo (``RAISE EXCEPTION 'x' USING DETAIL = '...'``).

    >>> string_constants("DO $$BEGIN RAISE EXCEPTION 'no such key' USING HINT = 'ab'; END$$")
    ("BEGIN RAISE EXCEPTION 'no such key' USING HINT = 'ab'; END", 'no such key')
    """
    found: list[str] = []

    def walk(text: str, depth: int) -> None:
        for token in tokenize(text):
            if token.kind not in STRING_KINDS or token.kind in ("bstring", "xstring"):
                continue
            value = constant_value(text, token)
            if len(value.strip()) >= min_length:
                found.append(value)
            if depth < _MAX_DEPTH and ("'" in value or "$" in value):
                walk(value, depth + 1)
    walk(sql, 0)
    return tuple(sorted(dict.fromkeys(found), key=len, reverse=True))


_NO_COLUMN = re.compile(r'column "(?P<name>[^"]+)" does not exist(?: at character [0-9]+)?\s*\Z')


def unquoted_value(message: str, statement: str,
                   shown: str | None = None) -> tuple[str, str] | None:
    """An error that says a word of its statement is no column (``column "s3cret" does
    not exist``) where that word stands as a credential's value (``UPDATE u SET password
    = s3cret``: a password left unquoted): the statement as ``shown`` (by default as it
    is; else redacted already) and the message with the word hidden; None otherwise. The
    test: the word as a string constant would be hidden.

    >>> unquoted_value('column "s3cret" does not exist', "update u set password = S3cret")
    ('update u set password = <REDACTED>', 'column "<REDACTED>" does not exist')
    >>> unquoted_value('column "s3cret" does not exist', "update u set name = S3cret") is None
    True
    """
    m = _NO_COLUMN.match(message)
    if m is None or not may_hold_credential(statement):
        return None
    name = m.group("name")
    literal = "'" + name.replace("'", "''") + "'"
    for token in tokenize(statement):
        if token.kind not in ("ident", "qident") or _name_of(statement, token) != name:
            continue
        probe = statement[:token.start] + literal + statement[token.end:]
        end = token.start + len(literal)
        if any(start <= token.start and end <= stop and replacement == REDACTED
               for start, stop, replacement in _credential_spans(probe, tokenize(probe), 0)):
            break
    else:
        return None
    text = statement if shown is None else shown
    spans = [(t.start, t.end, REDACTED) for t in tokenize(text)
             if t.kind in ("ident", "qident") and _name_of(text, t) == name]
    return _apply(text, spans), message[:m.start("name")] + REDACTED + message[m.end("name"):]


def has_credentials(sql: str) -> bool:
    """Does ``sql`` hold a credential that ``passwords`` mode would hide?

    >>> has_credentials("alter user a password $$x$$"), has_credentials("select 1")
    (True, False)
    """
    return redact_passwords(sql) != sql


def password_parameters(statement: str) -> set[int]:
    """Numbers of the parameters that stand where a credential goes (``PASSWORD $2``, and
    every other place ``passwords`` mode hides a constant: ``password = $1``,
    ``crypt($1, ...)``, an INSERT's password column...).

    >>> sorted(password_parameters("alter role a valid until $2 password $1"))
    [1]
    >>> sorted(password_parameters("insert into u (name, password) values ($1, crypt($2, $3))"))
    [2, 3]
    """
    numbers: set[int] = set()
    if "$" in statement and may_hold_credential(statement):
        _credential_spans(statement, tokenize(statement), 0, numbers)
    return numbers


def redact_parameters(values: Sequence[str] | None, mode: RedactMode | str,
                      statement: str | None = None) -> Sequence[str] | None:
    """pgAudit's PARAMETER values redacted: ``literals`` makes value *k* ``$k``;
    ``passwords`` hides a value that is a connection string with a password, or that
    stands where the statement expects a password (``PASSWORD $1``).

    >>> redact_parameters(["bob", "a@b.com"], "literals")
    ['$1', '$2']
    >>> redact_parameters(["db", "host=x password=p"], "passwords")
    ['db', '<REDACTED>']
    """
    if values is None or mode == "none":
        return values
    if mode == "literals":
        return _same_kind(values, [f"${k}" for k in range(1, len(values) + 1)])
    if mode != "passwords":
        raise ValueError(f"unknown redaction mode {mode!r} (expected one of {REDACT_MODES})")
    secret = password_parameters(statement) if statement else set()
    return _same_kind(values, [REDACTED if k in secret or credential_value(v) else v
                               for k, v in enumerate(values, start=1)])


def _same_kind(values: Sequence[str], out: list[str]) -> Sequence[str]:
    """``out`` as a tuple when the values came as one (pgAudit fields are tuples)."""
    return tuple(out) if isinstance(values, tuple) else out


# DETAIL messages in which PostgreSQL echoes row values (unique, foreign-key, exclusion,
# check and partition violations). The value groups (v1, v2) are hidden; the rest stays.
_KEY_VALUE = r"Key \((?P<c1>.*?)\)=\((?P<v1>.*)\)"
_DATA_DETAILS: Final[tuple[re.Pattern[str], ...]] = tuple(re.compile(p, re.DOTALL) for p in (
    _KEY_VALUE + r" conflicts with existing key \((?P<c2>.*?)\)=\((?P<v2>.*)\)\.",
    _KEY_VALUE + r" (?:already exists|is duplicated|is not present in table .*"
                 r"|is still referenced from table .*)\.",
    r"Failing row contains \((?P<v1>.*)\)\.?",
    r"Partition key of the failing row contains \((?P<c1>.*?)\) = \((?P<v1>.*)\)\.?",
    _KEY_VALUE + r".*",
))


# A DETAIL that echoes the value of a key whose column names a credential.
_KEY_COLUMNS = re.compile(r"Key \(([^)]*)\)")


def _key_of_credential(detail: str) -> bool:
    """Does a DETAIL echo the value of a key one of whose columns names a credential?"""
    m = _KEY_COLUMNS.search(detail)
    return m is not None and any(credential_name(c.strip()) for c in m.group(1).split(","))


def redact_detail(detail: str | None, mode: RedactMode | str) -> str | None:
    """A DETAIL line with the row values it echoes hidden (``literals`` mode).

    ``passwords`` hides a DETAIL that holds a connection string with a password (so does
    ``literals``, when the line echoes no row values); ``none`` keeps all.

    >>> redact_detail("Key (email)=(a@b.com) already exists.", "literals")
    'Key (email)=($1) already exists.'
    >>> redact_detail("Failing row contains (7, bob, null).", "literals")
    'Failing row contains ($1).'
    """
    if detail is None or mode == "none":
        return detail
    if mode == "passwords":
        if credential_value(detail):
            return REDACTED
        return redact_detail(detail, "literals") if _key_of_credential(detail) else detail
    if mode != "literals":
        raise ValueError(f"unknown redaction mode {mode!r} (expected one of {REDACT_MODES})")
    for pattern in _DATA_DETAILS:
        m = pattern.fullmatch(detail)
        if m is not None:
            spans = [(m.start(g), m.end(g), f"${n}") for n, g in enumerate(("v1", "v2"), 1)
                     if g in pattern.groupindex and m.start(g) >= 0]
            return _apply(detail, spans)
    # (passwords are constants: a connection string with one goes as in ``passwords``)
    return REDACTED if credential_value(detail) else detail
