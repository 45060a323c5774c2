"""Sources: files (plain, ``.gz``, stdin), CloudWatch Logs exports and SQS bodies -> lines.

:func:`read_input` tells the kinds of input apart by their content (docs/input.md):

* a plain server log (stderr format), possibly gzip-compressed, with LF or CRLF line ends
  and maybe a UTF-8 byte-order mark;
* JSON: CloudWatch Logs exports (a JSON list of events, ``aws logs filter-log-events`` /
  ``get-log-events`` output, JSON lines of events), this project's forwarder messages, and
  the seed Lambda's SQS bodies (a Python ``str(dict)`` per line). A file is JSON only if
  its first document parses as one of these; several documents may follow each other.

Input that cannot be placed (a JSON item that does not parse, an event without a message,
a line over the length cap, a run of empty lines) becomes a :class:`~.lines.Reject` with
its reason, handed to ``on_reject``; an input that cannot be read on (a damaged ``.gz``)
raises :class:`InputError` after every line before the damage.

>>> [l.text for l in lines_from_cloudwatch_events([{"message": "a\\n\\tb", "eventId": "1"}], "x")]
['a', '\\tb']
"""

from __future__ import annotations

import base64
import codecs
import gzip
import io
import json
import os
import re
import select
import stat
import sys
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat
from typing import IO, Any, Final, Protocol, cast

from .lines import Line, Reject, split_message, stream_key, without_surrogates

__all__ = [
    "InputError",
    "read_input",
    "lines_from_cloudwatch_events",
    "lines_from_sqs_body",
    "iter_json_array",
    "python_literal",
    "DEFAULT_MAX_LINE_BYTES",
    "plain_lines",
    "crlf_lines",
    "plain_file_lines",
    "input_is_plain_lf",
    "text_problem",
    "input_kind",
    "RAW_KEEP",
    "Replayed",
    "Watched",
    "read_bytes",
    "Pauses",
    "PauseFailed",
    "LiveInput",
    "would_wait_of",
]

_CHUNK: Final = 1 << 20
#: Characters read at a time from an input already opened as text (see _EncodedText).
_TEXT_READ: Final = 1 << 13
#: Longest physical line (or JSON document) read whole; a longer one becomes a reject
#: holding its first :data:`RAW_KEEP` characters (memory stays bounded).
DEFAULT_MAX_LINE_BYTES: Final = 256 << 20
#: Characters of an over-long line kept in its reject.
RAW_KEEP: Final = 1024
#: Complete lines that decide whether a file is CRLF (all of them must end in CR LF).
_CRLF_SAMPLE: Final = 8
_BOM: Final = "\ufeff"
#: Lines kind detection reads when the first of a file starting with '{' is no object.
_DETECT_LINES: Final = 16
#: Bytes kind detection reads at most (what it reads is held, to be read again); a first
#: document that goes on further is JSON if it starts like one (``{"``, ``[{"``, ``{'``).
_DETECT_BYTES: Final = 16 << 20
_JSON_START: Final = re.compile(r"""\s*(?:\[\s*)?\{\s*["']""")


class InputError(Exception):
    """Input that cannot be read at all (missing file, bad gzip, broken JSON document)."""

    def __init__(self, source: str, cause: str) -> None:
        super().__init__(f"{source}: {cause}")
        self.source = source
        self.cause = cause


def lines_from_cloudwatch_events(events: Iterable[dict[str, Any]], source: str,
                                 start: int = 0, group: str | None = None) -> Iterator[Line]:
    """Lines of CloudWatch log events; an event may hold one line or a whole message.

    Each line carries the event's ``logStreamName`` as its stream (keyed by the events'
    log ``group`` when it is known: :func:`~pgaudit_parse.lines.stream_key`) and
    ``eventId`` as ref.
    """
    number = start
    for event in events:
        message = event.get("message") if isinstance(event, dict) else None
        if not isinstance(message, str):
            number += 1
            yield Line(json.dumps(event, default=str, ensure_ascii=False), source, number,
                       "", _BAD_EVENT)
            continue
        stream = stream_key(group, without_surrogates(str(event.get("logStreamName") or "")))
        ref = event.get("eventId")
        for text in split_message(message) or [""]:
            number += 1
            yield Line(text, source, number, stream, ref)


#: ``ref`` of a line made from an event without a message (it fits no prefix: a reject).
_BAD_EVENT = "<event without message>"


def lines_from_sqs_body(body: str, source: str, start: int = 0) -> Iterator[Line]:
    """Lines from one SQS message body: this project's forwarder JSON, or the seed
    Lambda's ``str(dict)`` (whose ``|||`` joins an ERROR to its STATEMENT, ``++`` ends the
    message, and TAB/CR/LF became spaces).

    >>> [l.text for l in lines_from_sqs_body("{'message': 'a:ERROR:  x|||a:STATEMENT:  y++'}", "q")]
    ['a:ERROR:  x', 'a:STATEMENT:  y']
    """
    text = body.strip()
    parsed: Any
    if text.startswith("{") and '"' in text[:3]:
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("events"), list):
            yield from lines_from_cloudwatch_events(parsed["events"], source, start)
            return
        if isinstance(parsed, dict) and "message" in parsed:
            yield from lines_from_cloudwatch_events([parsed], source, start)
            return
    parsed = python_literal(text)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("message"), str):
        yield Line(body, source, start + 1, "", _BAD_EVENT)
        return
    yield from _seed_lines(parsed, source, start)


def _seed_lines(parsed: dict[str, Any], source: str, start: int) -> Iterator[Line]:
    """The lines of one seed-Lambda body (a dict with a ``message`` string)."""
    message: str = parsed["message"]
    if message.endswith("++"):
        message = message[:-2]
    number = start
    stream = stream_key(None, without_surrogates(str(parsed.get("logStreamName") or "")))
    for part in without_surrogates(message).split("|||"):
        # The seed turned the TAB of continuation lines into a space.
        text_line = "\t" + part[1:] if part.startswith(" ") else part
        number += 1
        yield Line(text_line, source, number, stream, parsed.get("eventId"))


# -- Python literals (the seed's str(dict)), read in linear time and memory ----------------

_LITERAL_TOKEN: Final = re.compile(r"""
    [ \t\r\n\f\v]*
    (?:
      (?P<punct>[{}\[\](),:])
    | (?P<str>[uU]?['"])
    | (?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<name>True|False|None)\b
    )""", re.VERBOSE)
#: A backslash before a non-ASCII character: the one case the fast unescape gets wrong;
# and an escape the C decoder does not know, ``\/`` as JSON writes a slash, makes it warn:
# the slow path keeps it as Python does, silently)
_ODD_ESCAPE: Final = re.compile(r"\\(?:[^\x00-\x7f]|[^\\'\"abfnrtvx0-7NuU\n])")
_ESCAPE: Final = re.compile(
    r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|N\{[^}\n]*\}|.|\n)",
    re.DOTALL)
_SIMPLE_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f",
                          "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\n": ""}
_NAMES: Final = {"True": True, "False": False, "None": None}
_MAX_DEPTH: Final = 100


class _NotALiteral(Exception):
    pass


def _unescape(match: re.Match[str]) -> str:
    body = match.group()[1:]
    head = body[0]
    if head in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[head]
    if head in "xuU" and len(body) > 1:
        code = int(body[1:], 16)
        if code > 0x10FFFF:
            raise _NotALiteral
        return chr(code)
    if head in "01234567":
        return chr(int(body, 8))
    if head == "N" and body.startswith("N{"):
        try:
            return unicodedata.lookup(body[2:-1])
        except KeyError:
            raise _NotALiteral from None
    return "\\" + body  # Python keeps an unknown escape as it is


def _string_value(inner: str) -> str:
    if "\\" not in inner:
        return inner
    if _ODD_ESCAPE.search(inner) is None:
        # C speed: non-Latin-1 characters become \\uXXXX escapes that decode back.
        try:
            return inner.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError:
            raise _NotALiteral from None
    return _ESCAPE.sub(_unescape, inner)


def _string_end(text: str, start: int, quote: str) -> int:
    """Index of the quote closing the string whose body starts at ``start``: the first
    ``quote`` after an even run of backslashes (found with str.find, not char by char)."""
    index = start
    while True:
        found = text.find(quote, index)
        if found < 0:
            raise _NotALiteral
        slashes = 0
        while found - slashes - 1 >= start and text[found - slashes - 1] == "\\":
            slashes += 1
        if slashes % 2 == 0:
            if text.find("\n", start, found) >= 0:
                raise _NotALiteral  # a raw line break inside a one-line string
            return found
        index = found + 1


def python_literal(text: str) -> Any:
    """A Python literal of dicts, lists, tuples, strings, numbers, True/False/None (what
    ``str(dict)`` writes), or None when ``text`` is not one. Unlike ``ast.literal_eval``
    it builds no syntax tree: time and memory grow linearly with the text.

    >>> python_literal("{'message': 'a\\\\tb', 'n': [1, -2.5, None]}")
    {'message': 'a\\tb', 'n': [1, -2.5, None]}
    >>> python_literal("{'a': 1} trailing") is None
    True
    """
    try:
        value, end = _literal_at(text, 0, 0)
    except (_NotALiteral, ValueError, OverflowError):
        return None
    if text[end:].strip():
        return None
    return value


def _token(text: str, pos: int) -> tuple[str, str, int]:
    match = _LITERAL_TOKEN.match(text, pos)
    if match is None:
        raise _NotALiteral
    kind = match.lastgroup or ""
    if kind == "str":
        start = match.end()
        end = _string_end(text, start, text[start - 1])
        return kind, text[start:end], end + 1
    return kind, match.group(kind), match.end()


def _literal_at(text: str, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise _NotALiteral
    kind, token, pos = _token(text, pos)
    if kind == "str":
        return _string_value(token), pos
    if kind == "num":
        number = token.lstrip("+")
        if any(c in number for c in ".eE"):
            return float(number), pos
        return int(number), pos
    if kind == "name":
        return _NAMES[token], pos
    if kind != "punct":
        raise _NotALiteral
    # (a string token's text may spell punctuation: only "punct" tokens are compared below)
    if token == "{":
        result: dict[Any, Any] = {}
        while True:
            kind, token, after = _token(text, pos)
            if kind == "punct" and token == "}":
                return result, after
            key, pos = _literal_at(text, pos, depth + 1)
            kind, token, pos = _token(text, pos)
            if kind != "punct" or token != ":":
                raise _NotALiteral
            value, pos = _literal_at(text, pos, depth + 1)
            try:
                result[key] = value
            except TypeError:  # an unhashable key
                raise _NotALiteral from None
            kind, token, pos = _token(text, pos)
            if kind != "punct":
                raise _NotALiteral
            if token == "}":
                return result, pos
            if token != ",":
                raise _NotALiteral
    if token in "[(":
        close = "]" if token == "[" else ")"
        items: list[Any] = []
        while True:
            kind, token, after = _token(text, pos)
            if kind == "punct" and token == close:
                return (items if close == "]" else tuple(items)), after
            item, pos = _literal_at(text, pos, depth + 1)
            items.append(item)
            kind, token, pos = _token(text, pos)
            if kind != "punct":
                raise _NotALiteral
            if token == close:
                if close == ")" and len(items) == 1:
                    raise _NotALiteral  # `(x)` is x, not a tuple: not what str(dict) writes
                return (items if close == "]" else tuple(items)), pos
            if token != ",":
                raise _NotALiteral
    raise _NotALiteral


# Kept for callers of the old private name.
_python_literal = python_literal


# -- reading bytes ---------------------------------------------------------------------------

class _Damaged(Exception):
    """The byte stream cannot be read further (damaged gzip data, an I/O error)."""


class _ReadsBytes(Protocol):
    """What :class:`_ByteChunks` reads from: a binary file, or :class:`_EncodedText`."""

    def read(self, size: int) -> bytes: ...


class _ByteChunks:
    """Chunks of an input's bytes, with push-back (to replay what kind detection read).

    Damage met while recording (kind detection) looks like the end of the input then, and
    is raised where the reader that follows reaches it."""

    def __init__(self, raw: _ReadsBytes) -> None:
        self.raw = raw
        self._read = getattr(raw, "read1", None) or raw.read
        self.pending: list[bytes] = []
        self.recorded: list[bytes] | None = None
        self.recorded_size = 0
        self.capped = False
        self.damage: _Damaged | None = None

    def read(self) -> bytes:
        if self.recorded is not None and self.recorded_size >= _DETECT_BYTES:
            self.capped = True  # kind detection looks no further (and holds no more)
            return b""
        if self.pending:
            data = self.pending.pop(0)
        elif self.damage is not None:
            if self.recorded is not None:
                return b""
            raise self.damage
        else:
            try:
                # read1: a damaged gzip stream still gives what came before the damage
                # (read() drops what it had gathered when a later block fails).
                data = self._read(_CHUNK)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                self.damage = _Damaged("not a valid gzip file (truncated or damaged"
                                       + (f": {exc})" if str(exc) else ")"))
            except MemoryError:
                self.damage = _Damaged("out of memory while reading")
            except OSError as exc:
                self.damage = _Damaged(f"read error: {exc.strerror or exc}")
            if self.damage is not None:
                if self.recorded is not None:
                    return b""
                raise self.damage
        if self.recorded is not None and data:
            self.recorded.append(data)
            self.recorded_size += len(data)
        return data

    def replay(self) -> None:
        """Stop recording; what was recorded is read again."""
        if self.recorded:
            self.pending[:0] = self.recorded
        self.recorded = None


def plain_file_lines(raw: IO[bytes], name: str, on_reject: Callable[[Reject], None],
                     number: int = 0, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
                     ) -> Iterator[Line]:
    """:func:`plain_lines` of an open LF file from its current position (``--jobs``
    chunks; such files have no byte-order mark and are not CRLF)."""
    return plain_lines(_ByteChunks(raw), name, on_reject, max_line_bytes, number,
                       at_start=False, crlf=False)


def _open_bytes(path: str, pauses: Pauses = ()) -> tuple[IO[bytes], str, bool]:
    """Open a path (or '-') for reading bytes, un-gzipping when the bytes say so. An input
    that is not a regular file (a pipe, a FIFO, a socket, a terminal) is a
    :class:`LiveInput` that takes ``pauses`` when it goes quiet."""
    # (the name goes into outputs: a path's undecodable bytes as backslash escapes)
    name = "<stdin>" if path == "-" else without_surrogates(path)
    if path == "-":
        if sys.stdin is None:
            raise InputError(name, "standard input is closed")
        raw: IO[bytes] = getattr(sys.stdin, "buffer", None) or sys.stdin  # type: ignore[assignment]
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise InputError(name, "no such file") from None
        except IsADirectoryError:
            raise InputError(name, "is a directory") from None
        except PermissionError:
            raise InputError(name, "permission denied") from None
        except OSError as exc:  # e.g. a symlink loop: "too many levels of symbolic links"
            cause = exc.strerror or "cannot open"
            if _is_socket(path):  # (open() says "no such device or address")
                cause = ("is a socket, not a file (connect to it and pipe what it sends: "
                         "socat -u UNIX-CONNECT:PATH - | pgaudit-parse -)")
            raise InputError(name, cause[:1].lower() + cause[1:]) from None
    live = _live(raw, name, path, pauses)
    if live is not None:
        raw = cast(IO[bytes], live)
    try:
        buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(cast(Any, raw))
        magic = buffered.peek(2)[:2]
    except PauseFailed:
        if path != "-":
            raw.close()
        raise
    except OSError as exc:
        if path != "-":
            raw.close()
        raise InputError(name, exc.strerror or "cannot read") from None
    if magic == b"\x1f\x8b":
        if live is not None:
            live.lines_known = False
            live.at_line_end = True  # (unknown: what came is taken for whole lines)
        return cast(IO[bytes], gzip.GzipFile(fileobj=buffered)), name, True
    if path != "-" and isinstance(buffered, io.BufferedReader):
        try:
            return cast(IO[bytes], Watched(buffered)), name, False
        except OSError:
            pass  # (not a file fstat can size: read as it is)
    return cast(IO[bytes], buffered), name, False


def _read_all(read1: Callable[[int], bytes]) -> bytes:
    """What a reader's ``read1`` gives, read by read, until its end."""
    parts: list[bytes] = []
    while True:
        data = read1(_CHUNK)
        if not data:
            return b"".join(parts)
        parts.append(data)


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


#: What a live input does when it goes quiet: ``(seconds, action)`` pairs in order of
#: ``seconds``; each action is taken once the input has been quiet that long since its
#: last bytes, and is told whether those ended a line (False: a line has begun, and its
#: end is still to come; docs/live.md).
Pauses = Sequence[tuple[float, Callable[[bool], None]]]


class PauseFailed(Exception):
    """An action of a pause failed (writing the output: a full disk, a closed pipe); it
    is carried through the readers, which take an OSError for a failure to read, and
    raised again as it was (``error``) by :func:`read_input` and its callers."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def _live(raw: IO[bytes], name: str, path: str, pauses: Pauses) -> LiveInput | None:
    """A :class:`LiveInput` over ``raw`` when it is not a regular file (or block device)."""
    try:
        fd = raw.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return None  # (not a file descriptor: an object a test or a caller handed in)
    if stat.S_ISDIR(mode):
        if path != "-":
            raw.close()
        raise InputError(name, "is a directory")
    if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
        return None
    # (read from the descriptor: nothing has read from the file object before)
    return LiveInput(fd, pauses, owned=raw if path != "-" else None)


class _Readiness:
    """Whether a read of a descriptor would return at once (bytes, or the end of the
    input): poll(), which takes any descriptor number (select() only those under 1024)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._poll: Any = None
        try:
            self._poll = select.poll()
            self._poll.register(fd, select.POLLIN | select.POLLPRI)
        except (AttributeError, OSError, ValueError):
            self._poll = None  # (no poll() on this system: select())

    def __call__(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: as long as it takes) for it."""
        try:
            if self._poll is not None:
                return bool(self._poll.poll(None if timeout is None else timeout * 1000))
            return bool(select.select([self.fd], [], [], timeout)[0])
        except (OSError, ValueError):
            return True  # (a descriptor that cannot be watched: read it, as it comes)


class LiveInput(io.BufferedIOBase):
    """An input that is not a regular file (stdin from a pipe, a FIFO, a socket, a
    terminal), read as its bytes come: each read returns what has arrived (at least one
    byte, or none at its end) instead of waiting for a full buffer; before a read that
    would wait, the ``pauses`` are taken, each once the input has been quiet for its
    seconds (file mode writes what is complete; docs/live.md). The readers above it call
    a read only once they have handed on everything read before, so a pause never comes
    while bytes that arrived are held unread."""

    def __init__(self, fd: int, pauses: Pauses = (), head: bytes = b"",
                 owned: IO[bytes] | None = None) -> None:
        super().__init__()
        self._fd = fd
        self._ready = _Readiness(fd)
        self._pauses = sorted(pauses, key=lambda pause: pause[0])
        self._head = head
        self._owned = owned
        self._ended = False
        #: whether the bytes are lines (not gzip data, whose line ends cannot be seen)
        self.lines_known = True
        #: whether the input stopped at a line end (else a line has begun and its end
        #: is still to come): what the pauses are told
        self.at_line_end = True

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def would_wait(self) -> bool:
        """Whether the next read would wait for the input (nothing has arrived)."""
        return not self._head and not self._ended and not self._ready(0.0)

    def _wait(self) -> None:
        """Take the pauses while the input stays quiet; return once it has bytes (or
        ends)."""
        if self._ready(0.0):
            return
        waited = 0.0
        for seconds, action in self._pauses:
            if seconds > waited:
                if self._ready(seconds - waited):
                    return
                waited = seconds
            try:
                action(self.at_line_end)
            except Exception as exc:  # (carried through the readers, raised again as it was)
                raise PauseFailed(exc) from None

    def _read_fd(self, size: int) -> bytes:
        self._wait()
        while True:
            try:
                data = os.read(self._fd, size)
            except BlockingIOError:  # a descriptor someone made non-blocking
                self._ready(None)
                continue
            if not data:
                self._ended = True
            elif self.lines_known:
                self.at_line_end = data[-1:] == b"\n"
            return data

    def peek(self, size: int = 0) -> bytes:
        if not self._head and not self._ended:
            self._head = self._read_fd(max(size, 1, _CHUNK))
        while len(self._head) < size and not self._ended:
            self._head += self._read_fd(_CHUNK)
        return self._head

    def read1(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = _CHUNK
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        if self._ended or size == 0:
            return b""
        return self._read_fd(size)

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes, as they come (gzip reads with read(), and must not wait
        for a full buffer); all of it when ``size`` is negative."""
        if size is not None and size >= 0:
            return self.read1(size)
        return _read_all(self.read1)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
        super().close()


class Watched(io.BufferedIOBase):
    """A regular file read to its end, that says so when it ends before the size it had
    (``expected``, or its size when this was made): it was truncated or cut while read
    (``copytruncate`` log rotation), and the lines past the cut were never read. A read
    that meets that end raises :class:`OSError`; a file that grew is read to its new end.
    Other files (pipes, devices) are passed through."""

    def __init__(self, raw: io.BufferedReader, expected: int | None = None) -> None:
        super().__init__()
        self._raw = raw
        info = os.fstat(raw.fileno())
        regular = stat.S_ISREG(info.st_mode)
        self._expected = (info.st_size if expected is None else expected) if regular else 0
        self._position = raw.tell() if regular else 0

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def peek(self, size: int = 0) -> bytes:
        return self._raw.peek(size)

    def _seen(self, data: bytes, size: int | None) -> bytes:
        self._position += len(data)
        if not data and size != 0 and self._position < self._expected:
            raise OSError(f"the file shrank while it was read: it ends at byte "
                          f"{self._position} of the {self._expected} it had")
        return data

    def read1(self, size: int | None = -1) -> bytes:
        return self._seen(self._raw.read1(-1 if size is None else size), size)

    def read(self, size: int | None = -1) -> bytes:
        return self._seen(self._raw.read(size), size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._position = self._raw.seek(offset, whence)
        return self._position

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


class Replayed(io.BufferedIOBase):
    """A binary input that first gives back ``head`` (bytes a caller read to sniff the
    input) and then the rest of ``raw``; ``damage``, an error met while ``head`` was read,
    is raised where reading reaches it. Readers that follow count the input's own bytes
    (``--max-line-bytes`` is in bytes of input, not of a decoded and re-encoded text)."""

    def __init__(self, head: bytes, raw: IO[bytes], damage: BaseException | None = None
                 ) -> None:
        super().__init__()
        self._head = head
        self._raw = raw
        self._read_raw = getattr(raw, "read1", None) or raw.read
        self._damage = damage

    def readable(self) -> bool:
        return True

    def would_wait(self) -> bool:
        """Whether the next read would wait for a live input (False for any other)."""
        if self._head or self._damage is not None:
            return False
        check = would_wait_of(self._raw)
        return check is not None and check()

    def read1(self, size: int | None = -1) -> bytes:
        if self._head:
            if size is None or size < 0 or size >= len(self._head):
                data, self._head = self._head, b""
            else:
                data, self._head = self._head[:size], self._head[size:]
            return data
        if self._damage is not None:
            raise self._damage
        return bytes(self._read_raw(_CHUNK if size is None or size < 0 else size))

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return _read_all(self.read1)
        return self.read1(size)

    def close(self) -> None:
        self._head = b""
        super().close()


def would_wait_of(raw: Any) -> Callable[[], bool] | None:
    """``would_wait`` of the live input under ``raw`` (:class:`LiveInput`, maybe under a
    :class:`Replayed` or a ``GzipFile``), or None when there is none (a regular file)."""
    under = raw
    for _ in range(4):  # (a GzipFile's file object is a _PaddedFile over the input)
        check = getattr(under, "would_wait", None)
        if check is not None:
            return cast(Callable[[], bool], check)
        under = getattr(under, "fileobj", None) or getattr(under, "file", None)
        if under is None:
            return None
    return None


def read_bytes(raw: IO[bytes], name: str, on_reject: Callable[[Reject], None] | None = None,
               max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Line]:
    """:func:`read_input` of an input already opened for reading bytes (un-gzipped; maybe
    a :class:`Replayed`); the caller closes it."""
    if on_reject is None:
        on_reject = _strict(name)
    chunks = _ByteChunks(raw)
    try:
        if _detect(chunks, name, max_line_bytes) == "json":
            yield from _json_lines(_JsonStream(chunks, max_line_bytes), name, on_reject)
        else:
            yield from plain_lines(chunks, name, on_reject, max_line_bytes)
    except _Damaged as exc:
        raise InputError(name, str(exc)) from None


def read_input(path: str, on_reject: Callable[[Reject], None] | None = None,
               max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, pauses: Pauses = ()
               ) -> Iterator[Line]:
    """Lines of one input (path, ``.gz``, ``-`` for stdin), whatever its kind.
    ``pauses``: what to do when a live input (a pipe, a FIFO) goes quiet (docs/live.md).

    Input the source itself cannot place (see the module docstring) goes to ``on_reject``
    as a :class:`~.lines.Reject`; without ``on_reject``, the first such input raises
    :class:`InputError` (nothing is dropped silently). An input that cannot be read on
    raises :class:`InputError` after every line before the damage (a truncated ``.gz``).

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("wb", suffix=".log", delete=False) as f:
    ...     _ = f.write(b"\\xef\\xbb\\xbfa\\r\\nb\\rc\\r\\n")
    >>> [line.text for line in read_input(f.name)]
    ['a', 'b\\rc']
    >>> os.unlink(f.name)
    """
    raw, name, gzipped = _open_bytes(path, pauses)
    try:
        yield from read_bytes(raw, name, on_reject, max_line_bytes)
    except PauseFailed as exc:
        raise exc.error from None
    finally:
        if path != "-":
            raw.close()


def input_kind(path: str) -> str:
    """``"json"`` or ``"plain"``: how :func:`read_input` reads ``path`` (after un-gzipping).

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
    ...     _ = f.write("[2026-11-25 16:05:01 UTC] [7] LOG:  starts like JSON, is not\\n")
    >>> input_kind(f.name)
    'plain'
    >>> os.unlink(f.name)
    """
    raw, name, _ = _open_bytes(path)
    try:
        return _detect(_ByteChunks(raw), name, DEFAULT_MAX_LINE_BYTES)
    finally:
        if path != "-":
            raw.close()


#: Bytes read to tell why a file none of whose lines is a log line is not text.
_TEXT_SAMPLE: Final = 1 << 16
_UTF16_32_BOMS: Final = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                         (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def text_problem(path: str) -> str | None:
    r"""Why ``path`` is not a UTF-8 text log, from its first bytes (after un-gzipping): text
    in UTF-16 or UTF-32, binary data (NUL bytes), or bytes mostly not UTF-8; None when it
    looks like text, or cannot be read again (standard input, a FIFO, a socket: what was
    read is gone, and opening a FIFO again waits for another writer).

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("wb", delete=False) as f:
    ...     _ = f.write("LOG:  hello\n".encode("utf-16"))
    >>> text_problem(f.name)
    'UTF-16 text, not UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)'
    >>> os.unlink(f.name)
    """
    if path == "-" or not os.path.isfile(path):
        return None
    try:
        raw, _, _ = _open_bytes(path)
    except InputError:
        return None
    try:
        head = raw.read(_TEXT_SAMPLE)
    except (OSError, EOFError, zlib.error):
        return None
    finally:
        raw.close()
    for bom, encoding in _UTF16_32_BOMS:
        if head.startswith(bom):
            return f"{encoding} text, not UTF-8 (convert it, e.g. iconv -f {encoding} -t UTF-8)"
    if b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if min(even, odd) == 0 and max(even, odd) > len(head) // 4:
            return "UTF-16 text, not UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)"
        return "binary data (NUL bytes), not a text log"
    bad = head.decode("utf-8", "replace").count("\ufffd")
    if bad * 10 > len(head):
        return "not UTF-8 text (most of its first bytes are not UTF-8): binary data?"
    return None


def input_is_plain_lf(path: str) -> bool:
    """True when ``path`` is a plain log, not compressed, with LF line ends and no
    byte-order mark (False too when it cannot be read: its reader will say why)."""
    try:
        raw, name, gzipped = _open_bytes(path)
    except InputError:
        return False
    try:
        if gzipped:
            return False
        chunks = _ByteChunks(raw)
        if _detect(chunks, name, DEFAULT_MAX_LINE_BYTES) != "plain":
            return False
        head = chunks.read()
        if head.startswith(_BOM.encode()) or _cr_only(head):
            return False
        return not crlf_lines(head.split(b"\n")[:-1])
    except _Damaged:
        return False
    finally:
        raw.close()


def crlf_lines(lines: Sequence[str] | Sequence[bytes]) -> bool:
    r"""Do the first complete lines of a file (without their LF) say it is a CRLF file: its
    first :data:`_CRLF_SAMPLE` non-empty lines all end in CR?

    >>> crlf_lines(["a\r", "", "b\r"]), crlf_lines([b"a\r", b"b"]), crlf_lines([])
    (True, False, False)
    """
    sample = [t for t in lines[:_CRLF_SAMPLE] if t]
    return bool(sample) and all(t[-1:] in ("\r", b"\r") for t in sample)


def _strict(name: str) -> Callable[[Reject], None]:
    def refuse(reject: Reject) -> None:
        raise InputError(name, f"line {reject.line}: {reject.reason}")
    return refuse


# -- plain logs --------------------------------------------------------------------------------

def _too_long(size: int, limit: int) -> str:
    return f"line longer than {limit} bytes ({size} bytes; first {RAW_KEEP} characters kept)"


def plain_lines(chunks: _ByteChunks, name: str, on_reject: Callable[[Reject], None],
                max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, number: int = 0,
                at_start: bool = True, crlf: bool | None = None) -> Iterator[Line]:
    """The physical lines of a plain log (split on LF only), numbered after ``number``.

    A file whose first lines all end in CR LF is a CRLF file: exactly that CR is removed
    from every line (a CR elsewhere is data). A UTF-8 byte-order mark at the start is
    removed. A run of empty lines is one reject (``lines`` = its length); a line over
    ``max_line_bytes`` is a reject with its first characters. Invalid UTF-8 is kept as
    backslash escapes (``\\xff``).
    """
    empty_from = 0  # first line of the current run of empty lines (0: none)
    empty_count = 0
    pieces: list[bytes] = []  # the line being read, not yet ended by a LF
    carried = 0  # its length
    cut: bytes | None = None  # the start of an over-long line being skipped
    first = at_start
    cr_only: bool | None = None if at_start and crlf is None else False
    would_wait = would_wait_of(chunks.raw)  # (a live input: a pipe, a FIFO)
    while True:
        if empty_count and would_wait is not None and not pieces and not chunks.pending \
                and would_wait():
            # a live input went quiet after empty lines: their run ends here (it is not
            # held until the next line comes)
            on_reject(_empty_run(name, empty_from, empty_count))
            empty_count = 0
        try:
            data = chunks.read()
            if cr_only is None:
                cr_only = _cr_only(data)
            if cr_only:
                data = data.replace(b"\r", b"\n")
        except _Damaged as exc:
            if empty_count:
                on_reject(_empty_run(name, empty_from, empty_count))
            complete = number
            if pieces or cut is not None:
                number += 1
                start = cut if cut is not None else b"".join(pieces)[:RAW_KEEP * 4]
                on_reject(Reject(name, number, f"line cut short: {exc}",
                                 start.decode("utf-8", "backslashreplace")[:RAW_KEEP]))
            where = (f"lines 1-{complete} were read" if complete > 1 else
                     "line 1 was read" if complete else "no line could be read")
            if number > complete:
                where += f"; line {number} was cut short (a reject)"
            raise _Damaged(f"{exc}: {where}") from None
        if not data:
            break
        end = data.rfind(b"\n")
        if end < 0:
            if cut is None:
                pieces.append(data)
                carried += len(data)
                if carried > max_line_bytes:
                    cut = b"".join(pieces)[:RAW_KEEP * 4]
                    pieces = []
            else:
                carried += len(data)
                if len(cut) < RAW_KEEP * 4:  # (the kept start of the line, wherever the
                    cut += data[:RAW_KEEP * 4 - len(cut)]  # reads fell)
            continue
        if pieces or cut is not None:
            newline = data.find(b"\n")
            carried += newline
            if cut is None and carried <= max_line_bytes:
                pieces.append(data[:newline])
                body = b"".join(pieces)
                pieces = []
                data = body + data[newline:]
                end += len(body) - newline
            else:
                start = cut if cut is not None else b"".join(pieces)[:RAW_KEEP * 4]
                if len(start) < RAW_KEEP * 4:
                    start += data[:min(newline, RAW_KEEP * 4 - len(start))]
                pieces = []
                cut = None
                if empty_count:
                    on_reject(_empty_run(name, empty_from, empty_count))
                    empty_count = 0
                number += 1
                on_reject(Reject(name, number, _too_long(carried, max_line_bytes),
                                 start.decode("utf-8", "backslashreplace")[:RAW_KEEP]))
                data = data[newline + 1:]
                end -= newline + 1
            carried = 0
        rest = data[end + 1:]
        if end >= 0 and data.count(b"\n", 0, end + 1) == end + 1:
            # Nothing but empty lines (the cheap way through a file of newlines).
            if not empty_count:
                empty_from = number + 1
            empty_count += end + 1
            number += end + 1
        elif end >= 0:
            text = data[:end].decode("utf-8", "backslashreplace")
            if first:
                first = False
                if text.startswith(_BOM):
                    text = text[1:]
            lines = text.split("\n")
            if crlf is None:
                crlf = crlf_lines(lines)
            # A line read whole in this block may still be over the limit (a limit under
            # the block size): the same reject as one read in several blocks.
            sizes = [len(piece) for piece in data[:end].split(b"\n")] \
                if end > max_line_bytes else []
            # (sizes only when the block could hold an over-long line: else all 0)
            for size, line in zip(sizes or repeat(0, len(lines)), lines, strict=True):
                number += 1
                if size > max_line_bytes:
                    if empty_count:
                        on_reject(_empty_run(name, empty_from, empty_count))
                        empty_count = 0
                    on_reject(Reject(name, number, _too_long(size, max_line_bytes),
                                     line[:RAW_KEEP]))
                    continue
                if crlf and line.endswith("\r"):
                    line = line[:-1]
                if not line:
                    if not empty_count:
                        empty_from = number
                    empty_count += 1
                    continue
                if empty_count:
                    on_reject(_empty_run(name, empty_from, empty_count))
                    empty_count = 0
                yield Line(line, name, number)
        if rest:
            pieces.append(rest)
            carried = len(rest)
            if carried > max_line_bytes:
                cut = rest[:RAW_KEEP * 4]
                pieces = []
    if empty_count:
        on_reject(_empty_run(name, empty_from, empty_count))
    if pieces or cut is not None:
        number += 1
        if cut is not None:
            on_reject(Reject(name, number, _too_long(carried, max_line_bytes),
                             cut.decode("utf-8", "backslashreplace")[:RAW_KEEP]))
            return
        text = b"".join(pieces).decode("utf-8", "backslashreplace")
        if first and text.startswith(_BOM):
            text = text[1:]
        if crlf and text.endswith("\r"):
            text = text[:-1]
        if text:
            yield Line(text, name, number)
        else:
            on_reject(_empty_run(name, number, 1))


#: CR-separated lines that must begin alike for a file without LF to be a CR-only file.
_CR_SAMPLE: Final = 4


def _cr_only(block: bytes) -> bool:
    """Whether the first block of a plain log is that of a file whose lines end in a bare
    CR (classic Mac line ends): it holds no LF, and its first CR-separated lines (at least
    :data:`_CR_SAMPLE`; TAB continuation lines aside) all begin with the same printable
    byte, as lines of one ``log_line_prefix`` do. A CR in a file with LF line ends is
    data (in SQL); such a file's CRs are its line ends.

    >>> _cr_only(b"2026 a\\r2026 b\\r\\tc\\r2026 d\\r2026 e\\r"), _cr_only(b"select\\r1\\r")
    (True, False)
    """
    if b"\n" in block or block.count(b"\r") < _CR_SAMPLE - 1:
        return False
    starts = [piece[:1] for piece in block.split(b"\r", _CR_SAMPLE * 4)[:_CR_SAMPLE * 4]
              if piece and piece[:1] != b"\t"][:_CR_SAMPLE * 2]
    return (len(starts) >= _CR_SAMPLE and len(set(starts)) == 1
            and 0x21 <= starts[0][0] <= 0x7E)


def _empty_run(name: str, first: int, count: int) -> Reject:
    reason = "empty line" if count == 1 else f"{count} empty lines"
    return Reject(name, first, reason, "", count)


# -- JSON inputs -------------------------------------------------------------------------------

_STRUCTURE: Final = re.compile(r'[\[\]{}"]')
_SPACE: Final = re.compile(r"[ \t\r\n]*")
_decoder: Final = json.JSONDecoder()


def _scan(text: str, index: int, state: list[Any]) -> int | None:
    """Find where a JSON object or array ends: the index after its closing bracket, or
    None when ``text`` ends first (``state`` = [depth, in string, after backslash] carries
    on into the next piece). Strings are skipped whole by a regex, so a value is scanned
    once, in linear time, however it is cut into pieces."""
    depth, in_string, escaped = state
    size = len(text)
    quote = slash = -2  # next '"' and '\\' in the text (-1: none; -2: not looked up yet)
    while index < size:
        if in_string:
            if escaped:
                escaped = False
                index += 1
                continue
            if -1 < quote < index or quote == -2:
                quote = text.find('"', index)
            if -1 < slash < index or slash == -2:
                slash = text.find("\\", index)
            if quote < 0 and slash < 0:
                index = size
                break
            if slash < 0 or -1 < quote < slash:
                in_string = False
                index = quote + 1
            else:
                escaped = True
                index = slash + 1
            continue
        match = _STRUCTURE.search(text, index)
        if match is None:
            index = size
            break
        char = match.group()
        index = match.end()
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        else:
            depth -= 1
            if depth <= 0:
                state[:] = [0, False, False]
                return index
    state[:] = [depth, in_string, escaped]
    return None


class _JsonStream:
    """Decoded text of a JSON input with a cursor; values and lines are read in pieces
    (never by re-decoding a growing buffer), bounded by ``limit`` characters."""

    def __init__(self, chunks: _ByteChunks, limit: int) -> None:
        self.chunks = chunks
        self.limit = limit
        self.decode = codecs.getincrementaldecoder("utf-8")("backslashreplace").decode
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.first = True
        self.line = 1  # physical line of the file at ``pos`` (for messages)

    def _chunk(self) -> str:
        if self.eof:
            return ""
        data = self.chunks.read()
        text = self.decode(data, final=not data)
        if not data:
            self.eof = True
        if self.first and text:
            self.first = False
            if text.startswith(_BOM):
                text = text[1:]
        return text

    def _advance(self, to: int) -> None:
        self.line += self.buf.count("\n", self.pos, to)
        self.pos = to

    def peek(self, chunks: int | None = None) -> str | None:
        """The next character that is not JSON whitespace (not consumed), None at the end
        (or when ``chunks`` more chunks hold only whitespace)."""
        while True:
            end = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if end < len(self.buf):
                self._advance(end)
                return self.buf[end]
            self._advance(end)
            if chunks is not None:
                chunks -= 1
                if chunks < 0:
                    return None
            text = self._chunk()
            if self.eof and not text:
                return None
            self.buf = text
            self.pos = 0

    def skip(self, count: int) -> None:
        self._advance(self.pos + count)

    def take_line(self) -> tuple[str, int]:
        """The rest of the current line (without its LF, consumed) and its length; only
        its first :data:`RAW_KEEP` characters when it is longer than the limit."""
        pieces, size, head = self._line_pieces()
        self._advance(self.pos)
        text = "".join(pieces) if head is None else head
        return text, size

    def line_text(self) -> str | None:
        """The rest of the current line, not consumed; None when it is over the limit.
        The buffer then starts at the cursor and holds the whole line."""
        newline = self.buf.find("\n", self.pos)
        if newline >= 0:
            return self.buf[self.pos:newline]
        pieces = [self.buf[self.pos:]]
        size = len(pieces[0])
        while True:
            text = self._chunk()
            if not text:
                break
            pieces.append(text)
            size += len(text)
            if "\n" in text or size > self.limit:
                break
        self.buf = "".join(pieces)
        self.pos = 0
        newline = self.buf.find("\n")
        line = self.buf if newline < 0 else self.buf[:newline]
        return line if len(line) <= self.limit else None

    def _line_pieces(self) -> tuple[list[str], int, str | None]:
        pieces: list[str] = []
        size = 0
        head: str | None = None
        while True:
            newline = self.buf.find("\n", self.pos)
            end = newline if newline >= 0 else len(self.buf)
            part = self.buf[self.pos:end]
            size += len(part)
            if head is None:
                pieces.append(part)
                if size > self.limit:
                    head = "".join(pieces)[:RAW_KEEP]
                    pieces = []
            elif len(head) < RAW_KEEP:  # (the kept start, wherever the reads fell)
                head += part[:RAW_KEEP - len(head)]
            if newline >= 0:
                self.pos = newline + 1
                self.line += 1
                return pieces, size, head
            text = self._chunk()
            if not text:
                self.pos = len(self.buf)
                return pieces, size, head
            self.buf = text
            self.pos = 0

    def take_value(self) -> tuple[str | None, bool, int, str]:
        """An object or array starting at the cursor, consumed: (its text, or None when it
        is over the limit; whether it is complete (False: the input ends inside it); its
        length; its first :data:`RAW_KEEP` characters)."""
        state: list[Any] = [0, False, False]
        pieces: list[str] = []
        size = 0
        head: str | None = None
        start = self.pos
        while True:
            end = _scan(self.buf, start, state)
            stop = len(self.buf) if end is None else end
            part = self.buf[self.pos:stop]
            size += len(part)
            if head is None:
                pieces.append(part)
                if size > self.limit:
                    head = "".join(pieces)[:RAW_KEEP]
                    pieces = []
            elif len(head) < RAW_KEEP:  # (the kept start, wherever the reads fell)
                head += part[:RAW_KEEP - len(head)]
            self._advance(stop)
            if end is None:
                text = self._chunk()
                if text:
                    self.buf = text
                    self.pos = 0
                    start = 0
                    continue
            if head is not None:
                return None, end is not None, size, head
            whole = "".join(pieces)
            return whole, end is not None, size, whole[:RAW_KEEP]

    def decode_here(self) -> tuple[Any, bool]:
        """A JSON value at the cursor decoded in place when the buffer holds all of it:
        (value, True), consumed; else (None, False), nothing consumed."""
        try:
            value, end = _decoder.raw_decode(self.buf, self.pos)
        except ValueError:
            return None, False
        if end >= len(self.buf) and not self.eof:
            return None, False  # a number might go on in the next piece
        self._advance(end)
        return value, True


def _json_error(text: str) -> str:
    try:
        json.loads(text)
    except (ValueError, RecursionError) as exc:
        return f"invalid JSON: {getattr(exc, 'msg', exc)}"
    return "invalid JSON"


def _detect(chunks: _ByteChunks, name: str, limit: int) -> str:
    """``"json"`` when the input's first document parses as a JSON input, else
    ``"plain"``; what this reads is read again by the reader that follows."""
    chunks.recorded = []
    try:
        kind = _detect_in(chunks, limit)
        if chunks.capped:  # a first document bigger than detection reads: by its start
            head = b"".join(chunks.recorded)[:4096].decode("utf-8", "replace").lstrip(_BOM)
            return "json" if _JSON_START.match(head) else "plain"
        return kind
    finally:
        chunks.replay()


def _detect_in(chunks: _ByteChunks, limit: int) -> str:
    """The kind by the first document (see :func:`_detect`)."""
    stream = _JsonStream(chunks, limit)
    first = stream.peek(chunks=2)  # a file of blank lines is a (damaged) plain log
    if first == "[":
        stream.skip(1)
        following = stream.peek()
        if following == "]":
            stream.skip(1)
            rest = stream.line_text()
            return "json" if rest is not None and not rest.strip() else "plain"
        if following != "{":
            return "plain"
        value, end_found = stream.decode_here()
        if not end_found:
            text, complete, _, head = stream.take_value()
            if text is None or not complete:  # over the limit, or the input ends
                return "json" if re.match(r'\{\s*"', head) else "plain"
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                return "plain"
        return "json" if isinstance(value, dict) else "plain"
    if first == "{":
        line = stream.line_text()
        if line is not None and not _opens_document(line):
            # One object per line (events, bodies): JSON if one of the first lines is
            # one (the first may be damaged); a log whose prefix starts with '{' has
            # none.
            for _ in range(_DETECT_LINES):
                if line is not None and _is_object_line(line):
                    return "json"
                stream.take_line()
                if stream.peek(chunks=2) is None:
                    break
                line = stream.line_text()
            return "plain"
        text, complete, _, head = stream.take_value()
        if text is None or not complete:
            return "json" if re.match(r'\{\s*"', head) else "plain"
        try:
            return "json" if isinstance(json.loads(text), dict) else "plain"
        except (ValueError, RecursionError):
            return "plain"
    return "plain"


def _is_object_line(line: str) -> bool:
    """True for a line holding one JSON object or one Python ``str(dict)``."""
    if not line.lstrip().startswith("{"):
        return False
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        value = python_literal(line)
    return isinstance(value, dict)


def _json_lines(stream: _JsonStream, name: str, on_reject: Callable[[Reject], None]
                ) -> Iterator[Line]:
    """Every document of a JSON input, one after the other: lists of CloudWatch events,
    objects with ``"events"`` (filter-log-events, forwarder messages), single events, seed
    bodies (a Python ``str(dict)`` per line). Anything else is a reject with its reason.
    Lines are numbered in the order they are produced (rejects take a number too)."""
    number = 0

    def reject(reason: str, raw: str) -> None:
        nonlocal number
        number += 1
        on_reject(Reject(name, number, reason, raw))

    def event_lines(event: Any, what: str = "CloudWatch event", group: Any = None
                    ) -> Iterator[Line]:
        nonlocal number
        message = event.get("message") if isinstance(event, dict) else None
        if not isinstance(message, str):
            reject(f"{what} without a message (line {stream.line} of the file)",
                   json.dumps(event, ensure_ascii=False, default=str))
            return
        # (a forwarder message names its log group: a file of several groups' messages
        # assembles each group's streams apart, as the sqs consumer does)
        lines = list(lines_from_cloudwatch_events(
            [event], name, number, without_surrogates(group) if isinstance(group, str) else None))
        if lines:
            number = lines[-1].number
        yield from lines

    def document(value: Any) -> Iterator[Line]:
        nonlocal number
        if not isinstance(value, dict):
            yield from event_lines(value, "JSON value")
            return
        events = value.get("events")
        if value.get("encoding") == "gzip+base64" and isinstance(value.get("data"), str):
            try:
                inner = json.loads(gzip.decompress(base64.b64decode(value["data"])))
                events = inner.get("events") if isinstance(inner, dict) else None
            except (ValueError, RecursionError, OSError, EOFError, zlib.error):
                events = None
        group = value.get("logGroup")
        if isinstance(events, list):
            for event in events:
                yield from event_lines(event, group=group)
            return
        if "message" in value:
            yield from event_lines(value, group=group)
            return
        reject(f"JSON object without \"events\" or \"message\" (line {stream.line} of the "
               "file)", json.dumps(value, ensure_ascii=False, default=str))

    def junk_line(why: str) -> None:
        where = stream.line
        text, size = stream.take_line()
        if size > stream.limit:
            why += f"; longer than {stream.limit} characters, first {RAW_KEEP} kept"
        reject(f"{why} (line {where} of the file)", text)

    def scanned(where: int) -> Any:
        """Scan and decode the object or array at the cursor, or reject it (_NOTHING)."""
        text, complete, size, head = stream.take_value()
        if text is None:
            reject(f"JSON value longer than {stream.limit} characters ({size}; first "
                   f"{RAW_KEEP} kept; line {where} of the file)", head)
            return _NOTHING
        if not complete:
            reject(f"JSON ends early: the input stops inside this value (line {where} of "
                   "the file)", text)
            return _NOTHING
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            reject(f"{_json_error(text)} (line {where} of the file)", text)
            return _NOTHING

    while True:
        char = stream.peek()
        if char is None:
            return
        if char == "[":
            where = stream.line
            stream.skip(1)
            while True:
                char = stream.peek()
                if char is None:
                    reject(f"JSON list ends early: no closing ']' for the list on line "
                           f"{where} of the file", "")
                    break
                if char == "]":
                    stream.skip(1)
                    break
                if char == ",":
                    stream.skip(1)
                    continue
                item_line = stream.line
                value, done = stream.decode_here()
                if not done:
                    if char in "{[":
                        value = scanned(item_line)
                        if value is _NOTHING:
                            continue
                    else:
                        junk_line("not a JSON value inside a list")
                        continue
                yield from event_lines(value)
            continue
        if char == "{":
            where = stream.line
            line = stream.line_text()
            if line is None:
                junk_line("JSON line over the length limit")
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                value = _NOTHING
            if value is not _NOTHING:
                stream.take_line()
                yield from document(value)
                continue
            literal = python_literal(line)
            if isinstance(literal, dict):
                stream.take_line()
                if isinstance(literal.get("message"), str):
                    lines = list(_seed_lines(literal, name, number))
                    number = lines[-1].number
                    yield from lines
                else:
                    reject(f"SQS body without a message (line {where} of the file)", line)
                continue
            if not _opens_document(line):
                stream.take_line()
                reject(f"{_json_error(line)} (line {where} of the file)", line)
                continue
            value = scanned(where)  # a document over several lines (pretty-printed)
            if value is not _NOTHING:
                yield from document(value)
            continue
        junk_line("not JSON after the previous document")


_NOTHING: Final = object()


def _opens_document(line: str) -> bool:
    """True for a line that starts a JSON document printed over several lines (it ends
    where a pretty-printer breaks: after ``{``, ``[``, ``,`` or ``:``)."""
    return line.rstrip()[-1:] in ("{", "[", ",", ":")


def iter_json_array(stream: IO[str], source: str) -> Iterator[Any]:
    """Stream the items of a top-level JSON array without loading the whole document
    (each item is scanned once: linear however large it is).

    >>> list(iter_json_array(io.StringIO('[{"a": 1}, 2]'), "x"))
    [{'a': 1}, 2]
    """
    reader = _JsonStream(_ByteChunks(_EncodedText(stream)), DEFAULT_MAX_LINE_BYTES)
    if reader.peek() != "[":
        raise InputError(source, "expected a JSON list")
    reader.skip(1)
    while True:
        char = reader.peek()
        if char is None:
            raise InputError(source, "JSON list ends early")
        if char == "]":
            return
        if char == ",":
            reader.skip(1)
            continue
        value, done = reader.decode_here()
        if not done:
            text, complete, _, _ = reader.take_value() if char in "{[" else (None, False, 0, "")
            if text is None or not complete:
                raise InputError(source, "invalid JSON")
            try:
                value = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise InputError(source, f"invalid JSON: {exc}") from None
        yield value


class _EncodedText:
    """A text stream read as UTF-8 bytes (for :func:`iter_json_array`)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def read(self, size: int) -> bytes:
        # Small reads: a text stream drops what one read() gathered when the bytes under
        # it fail (damaged gzip), so little is lost before the damage.
        return self.stream.read(min(size, _TEXT_READ)).encode("utf-8", "surrogatepass")


# -- text-stream entry point (structured.structured_kind sniffs the text) ----------------------

def _open_text(path: str) -> tuple[IO[str], str]:
    """Open a path (or '-') as text, un-gzipping when the bytes say so (LF kept as it is,
    invalid UTF-8 as backslash escapes)."""
    raw, name, _ = _open_bytes(path)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", newline="\n"), name
