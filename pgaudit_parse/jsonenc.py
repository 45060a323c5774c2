"""JSON text, byte for byte what ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``
writes, and the pieces the output templates are made of.

Every JSON line the tool writes is that stdlib text (the contract the baselines pin). Two
ways to get it faster than building dicts and calling the stdlib encoder:

* **templates** (:mod:`pgaudit_parse.formats.record_template`, the events template in
  :mod:`pgaudit_parse.sinks`): the constant parts of an object written once, each value
  rendered by the very functions the stdlib encoder uses for it (:func:`string`,
  :func:`integer`, :func:`number`), so the text is the stdlib's by construction;
* :func:`fast_dumps`: orjson where it writes what the stdlib writes (property-tested),
  the stdlib for the objects where it does not (NaN and infinities, floats the stdlib
  writes with an exponent, integers beyond 64 bits, lone surrogates, non-str keys).

>>> string('say "hi"\\n'), integer(-3), number(0.25), number(float("nan"))
('"say \\\\"hi\\\\"\\\\n"', '-3', '0.25', 'NaN')
>>> obj = {"a": [1, 2.5, None, True], "b": "é", "c": 2 ** 70}
>>> fast_dumps(obj) == dumps(obj) == '{"a":[1,2.5,null,true],"b":"é","c":1180591620717411303424}'
True
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = ["string", "integer", "number", "dumps", "fast_dumps", "stdlib_dumps",
           "orjson_safe_float", "last_text", "TEXT_ERRORS"]

#: The ``errors`` of every stream JSON lines are written to (UTF-8). JSON inputs can hold
#: a lone surrogate (``"\\ud800"``), which UTF-8 cannot encode; in our output it can only
#: be inside a JSON string, where ``backslashreplace`` writes its JSON escape: reading the
#: line back gives the very text that was read (and no write fails on it).
TEXT_ERRORS: Final = "backslashreplace"

#: A str as a JSON string, non-ASCII kept: the stdlib encoder's own function (C when built).
string: Final[Callable[[str], str]] = (getattr(json.encoder, "c_encode_basestring", None)
                                       or json.encoder.py_encode_basestring)
#: An int as JSON (the stdlib encoder's ``int.__repr__``; bools are not ints here).
integer: Final[Callable[[int], str]] = int.__repr__

_INFINITY: Final = float("inf")

T = TypeVar("T")


def last_text(render: Callable[[T], str]) -> Callable[[T], str]:
    """``render`` that keeps the text of the last object it was given, by identity: the
    lines of a log share their timestamp objects (the parser caches them), so a line's
    timestamp is usually the last line's.

    >>> from datetime import datetime
    >>> iso = last_text(datetime.isoformat); stamp = datetime(2026, 11, 25, 16, 5, 1)
    >>> iso(stamp), iso(stamp) is iso(stamp)
    ('2026-11-25T16:05:01', True)
    """
    last: object = _NOTHING
    text = ""

    def remembered(value: T) -> str:
        nonlocal last, text
        if value is not last:
            text = render(value)
            last = value
        return text

    return remembered


_NOTHING: Final = object()


def number(value: float) -> str:
    """A float as the stdlib writes it (``NaN``, ``Infinity``, ``-Infinity``, else repr)."""
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def stdlib_dumps(obj: Any) -> str:
    """The reference: ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _unserializable(obj: Any) -> Any:
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def _make_dumps() -> Callable[[Any], str]:
    """:func:`stdlib_dumps` minus its per-call set-up: the C encoder is built once (it is
    what json.dumps builds on every call)."""
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    c_encode = getattr(json.encoder, "c_encode_basestring", None)
    if c_make_encoder is None or c_encode is None:
        return encoder.encode
    markers: dict[int, Any] = {}  # json.dumps's circular-reference check, kept
    iterencode = c_make_encoder(markers, _unserializable, c_encode, None, ":", ",", False,
                                False, True)
    join = "".join

    def dumps(obj: Any) -> str:
        try:
            return join(iterencode(obj, 0))
        except BaseException:
            markers.clear()  # an error leaves the objects it was inside marked
            raise

    return dumps


#: Compact JSON with non-ASCII kept, byte for byte what json.dumps writes.
dumps: Final = _make_dumps()

#: Floats orjson writes as the stdlib does: 0, and magnitudes in [1e-4, 1e16) (the stdlib's
#: repr switches to an exponent outside them, as ``1e-05`` or ``1e+16``; orjson writes
#: ``1e-5`` and ``1e16``, and ``null`` for NaN and infinities).
_FLOAT_LOW: Final = 1e-4
_FLOAT_HIGH: Final = 1e16


def orjson_safe_float(value: float) -> bool:
    """Whether orjson writes this float as the stdlib does.

    >>> orjson_safe_float(0.25), orjson_safe_float(1e-5), orjson_safe_float(float("inf"))
    (True, False, False)
    """
    magnitude = abs(value)
    return value == 0.0 or _FLOAT_LOW <= magnitude < _FLOAT_HIGH


def _make_fast_dumps() -> Callable[[Any], str]:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a core dependency
        return dumps
    encode = orjson.dumps
    encode_error = orjson.JSONEncodeError
    # Subclasses of str/int/dict/list, datetimes and dataclasses go to the stdlib (which
    # writes the first as their base and refuses the others, as json.dumps does).
    options = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
               | orjson.OPT_PASSTHROUGH_DATACLASS)

    def fast_dumps(obj: Any) -> str:
        """:func:`dumps`'s text through orjson, for objects whose floats (if any) pass
        :func:`orjson_safe_float`: the caller checks those (it knows where its floats
        are). What else orjson would write differently it refuses (JSONEncodeError:
        integers beyond 64 bits, lone surrogates, non-str keys, other types), and the
        stdlib writes that object instead."""
        try:
            return encode(obj, option=options).decode()
        except encode_error:
            return dumps(obj)

    return fast_dumps


fast_dumps: Final = _make_fast_dumps()
