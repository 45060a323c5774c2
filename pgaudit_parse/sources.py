"""Sources: files (plain, ``.gz``, stdin), CloudWatch Logs exports and SQS bodies -> lines.

:func:`read_input` looks at the first bytes to tell the formats apart:

* a plain server log (stderr format), possibly gzip-compressed;
* a CloudWatch Logs export: a JSON list of events, or ``aws logs filter-log-events`` /
  ``get-log-events`` output (an object with ``"events"``), or JSON lines of events;
* message bodies of the seed Lambda (a Python ``str(dict)`` per line, with ``'message'``)
  or of this project's forwarder (JSON with ``"events"``), one per line.

>>> [l.text for l in lines_from_cloudwatch_events([{"message": "a\\n\\tb", "eventId": "1"}], "x")]
['a', '\\tb']
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any

from .lines import Line, split_message

__all__ = [
    "InputError",
    "read_input",
    "lines_from_cloudwatch_events",
    "lines_from_sqs_body",
    "iter_json_array",
]

_CHUNK = 1 << 16


class InputError(Exception):
    """Input that cannot be read at all (missing file, bad gzip, broken JSON document)."""

    def __init__(self, source: str, cause: str) -> None:
        super().__init__(f"{source}: {cause}")
        self.source = source
        self.cause = cause


def lines_from_cloudwatch_events(events: Iterable[dict[str, Any]], source: str,
                                 start: int = 0) -> Iterator[Line]:
    """Lines of CloudWatch log events; an event may hold one line or a whole message.

    Each line carries the event's ``logStreamName`` as its stream and ``eventId`` as ref.
    """
    number = start
    for event in events:
        message = event.get("message") if isinstance(event, dict) else None
        if not isinstance(message, str):
            number += 1
            yield Line(json.dumps(event, default=str, ensure_ascii=False), source, number,
                       "", _BAD_EVENT)
            continue
        stream = str(event.get("logStreamName") or "")
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
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("events"), list):
            yield from lines_from_cloudwatch_events(parsed["events"], source, start)
            return
        if isinstance(parsed, dict) and "message" in parsed:
            yield from lines_from_cloudwatch_events([parsed], source, start)
            return
    parsed = _python_literal(text)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("message"), str):
        yield Line(body, source, start + 1, "", _BAD_EVENT)
        return
    message: str = parsed["message"]
    if message.endswith("++"):
        message = message[:-2]
    number = start
    for part in message.split("|||"):
        # The seed turned the TAB of continuation lines into a space.
        text_line = "\t" + part[1:] if part.startswith(" ") else part
        number += 1
        yield Line(text_line, source, number, str(parsed.get("logStreamName") or ""),
                   parsed.get("eventId"))


def iter_json_array(stream: IO[str], source: str) -> Iterator[Any]:
    """Stream the items of a top-level JSON array without loading the whole document."""
    decoder = json.JSONDecoder()
    buffer = stream.read(_CHUNK).lstrip()
    if not buffer.startswith("["):
        raise InputError(source, "expected a JSON list")
    buffer = buffer[1:]
    while True:
        buffer = buffer.lstrip()
        while not buffer:
            more = stream.read(_CHUNK)
            if not more:
                raise InputError(source, "JSON list ends early")
            buffer = more.lstrip()
        if buffer[0] == "]":
            return
        if buffer[0] == ",":
            buffer = buffer[1:]
            continue
        while True:
            try:
                item, end = decoder.raw_decode(buffer)
                break
            except json.JSONDecodeError as exc:
                more = stream.read(_CHUNK)
                if not more:
                    raise InputError(source, f"invalid JSON: {exc.msg}") from None
                buffer += more
        yield item
        buffer = buffer[end:]


def _open_text(path: str) -> tuple[IO[str], str]:
    """Open a path (or '-') as text, un-gzipping when the bytes say so."""
    name = "<stdin>" if path == "-" else path
    try:
        raw: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        raise InputError(name, "no such file") from None
    except IsADirectoryError:
        raise InputError(name, "is a directory") from None
    except PermissionError:
        raise InputError(name, "permission denied") from None
    except OSError as exc:
        raise InputError(name, exc.strerror or "cannot open") from None
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    magic = buffered.peek(2)[:2]  # type: ignore[attr-defined]
    if magic == b"\x1f\x8b":
        buffered = gzip.GzipFile(fileobj=buffered)  # type: ignore[assignment]
    text = io.TextIOWrapper(buffered, encoding="utf-8", errors="backslashreplace", newline="\n")
    return text, name


def _read_plain(head: str, text: IO[str], name: str) -> Iterator[Line]:
    """Plain lines: ``head`` (already read) first, then the rest of ``text``."""
    first = head.split("\n")
    partial = first.pop()
    number = 0
    for physical in first:
        number += 1
        yield Line(physical, name, number)
    if partial:
        physical = partial + text.readline()
        number += 1
        yield Line(physical[:-1] if physical.endswith("\n") else physical, name, number)
    for physical in text:
        number += 1
        if physical.endswith("\n"):
            physical = physical[:-1]
        yield Line(physical, name, number)


def read_input(path: str) -> Iterator[Line]:
    """Lines of one input (path, ``.gz``, ``-`` for stdin), whatever its format.

    Errors that make the input unreadable raise :class:`InputError` (also mid-stream,
    e.g. a truncated gzip file).
    """
    text, name = _open_text(path)
    try:
        yield from _dispatch(text, name)
    except (OSError, EOFError, zlib.error) as exc:
        cause = "not a valid gzip file" if isinstance(exc, (gzip.BadGzipFile, EOFError,
                                                             zlib.error)) else str(exc)
        raise InputError(name, cause) from None
    finally:
        if path != "-":
            text.close()


def _dispatch(text: IO[str], name: str) -> Iterator[Line]:
    head = text.read(_CHUNK)
    rest = _Prepended(head, text)
    start = head.lstrip()[:2]
    if start.startswith("["):
        yield from lines_from_cloudwatch_events(_checked(iter_json_array(rest, name), name),
                                                name)
        return
    if start.startswith("{"):
        first = head.lstrip().split("\n", 1)[0].strip()
        if first in ("{", "{\r") or not _is_single_object(first):
            # One JSON document (pretty-printed `aws logs filter-log-events` output).
            try:
                document = json.load(rest)
            except ValueError as exc:
                raise InputError(name, f"invalid JSON: {exc}") from None
            events = document.get("events") if isinstance(document, dict) else None
            if not isinstance(events, list):
                raise InputError(name, 'JSON document without an "events" list')
            yield from lines_from_cloudwatch_events(_checked(events, name), name)
            return
        # One object per line: CloudWatch events, forwarder messages or seed bodies.
        number = 0
        for physical in rest:
            body = physical.rstrip("\n")
            if not body.strip():
                continue
            for line in lines_from_sqs_body(body, name, number):
                number = line.number
                yield line
        return
    yield from _read_plain(head, text, name)


def _is_single_object(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        pass
    return isinstance(_python_literal(line), dict)


def _python_literal(text: str) -> Any:
    """``ast.literal_eval`` (never eval) that answers None for anything it cannot read."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _checked(events: Iterable[Any], name: str) -> Iterator[dict[str, Any]]:
    for event in events:
        yield event if isinstance(event, dict) else {"message": None, "raw": event}


class _Prepended(io.TextIOBase):
    """A text stream that first returns ``head``, then the rest of ``stream``."""

    def __init__(self, head: str, stream: IO[str]) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        if size is None or size < 0:
            data, self._head = self._head + self._stream.read(), ""
            return data
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size)

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        if self._head:
            index = self._head.find("\n")
            if index >= 0:
                data, self._head = self._head[: index + 1], self._head[index + 1:]
                return data
            data, self._head = self._head, ""
            return data + self._stream.readline()
        return self._stream.readline()

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line
