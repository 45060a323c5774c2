"""Durable read positions in CloudWatch Logs: a time and the event ids already done there.

A :class:`Checkpoint` says "every event with a timestamp before ``time`` (ms since the
epoch) is done, and so are the events in ``seen`` (ids of events at ``time`` or later)".
A reader resumes by querying from ``time`` and skipping ``seen``, so an event is neither
lost nor delivered twice, even when many events share one millisecond or when lines are
still held by the parser (their ids are left out of ``seen``).

Two stores keep checkpoints: a JSON file (the ``cloudwatch`` command; replaced atomically
with write + fsync + rename, so a crash leaves the old or the new file, never half of one)
and an SSM parameter (the forwarder, like the seed's ``LastExecutionTimestamp``).

>>> cp = Checkpoint(1_700_000_000_000, frozenset({"e1"}))
>>> Checkpoint.from_json(cp.to_json()) == cp
True
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import AwsSetupError, explain, is_not_found

__all__ = ["Checkpoint", "CheckpointFile", "HighWater", "ParameterCheckpoint",
           "parse_checkpoint_value", "check_time", "MIN_CHECKPOINT_MS", "read_checkpoint_text",
           "write_json_atomically"]

#: 2000-01-01T00:00:00Z: no PostgreSQL log in CloudWatch is older (CloudWatch Logs began in
#: 2014); a stored time before this is a placeholder ("0") or a unit mistake.
MIN_CHECKPOINT_MS = 946_684_800_000
#: A stored time may be at most this far in the future (clock skew between machines).
_FUTURE_SLACK_MS = 24 * 3600 * 1000


def check_time(value: object, what: str = "time") -> int:
    """A checkpoint time as epoch ms, or ``ValueError`` saying why it is not one.

    Booleans, non-integers, times before 2000 and times more than a day in the future are
    refused: reading from there would walk decades of empty slices or skip everything.

    >>> check_time(1_795_622_400_000)
    1795622400000
    >>> check_time(0)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint time 0 is before 2000-01-01
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"checkpoint {what} must be a whole number of epoch milliseconds, "
                         f"not {_short(value)}")
    if value < MIN_CHECKPOINT_MS:
        raise ValueError(f"checkpoint {what} {value} is before 2000-01-01")
    if value > time.time() * 1000 + _FUTURE_SLACK_MS:
        raise ValueError(f"checkpoint {what} {value} is in the future")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Everything before ``time`` (epoch ms) is done, and the events whose ids are in
    ``seen``; those have timestamps from ``time`` up to ``through`` (inclusive).

    >>> Checkpoint(5).to_json()
    {'time': 5, 'seen': []}
    >>> Checkpoint(5, frozenset({"b", "a"}), 9).to_json()
    {'time': 5, 'seen': ['a', 'b'], 'through': 9}
    """

    time: int
    seen: frozenset[str] = field(default_factory=frozenset)
    through: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in files and parameters (ids sorted for stable output)."""
        data: dict[str, Any] = {"time": self.time, "seen": sorted(self.seen)}
        if self.seen and self.through is not None:
            data["through"] = self.through
        return data

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        """Read :meth:`to_json`'s form; ``ValueError`` when it is something else.

        >>> Checkpoint.from_json({"time": 1795622400000, "seen": ["a"]}).seen
        frozenset({'a'})
        """
        if not isinstance(data, dict) or "time" not in data:
            raise ValueError("checkpoint needs a 'time'")
        moment = check_time(data["time"])
        seen = data.get("seen", [])
        if not isinstance(seen, list) or not all(isinstance(s, str) for s in seen):
            raise ValueError("checkpoint 'seen' must be a list of event ids")
        through = data.get("through")
        if through is not None:
            through = check_time(through, "'through'")
        return cls(moment, frozenset(seen), through)


@dataclass(slots=True)
class HighWater:
    """The high-water mark of a run: the newest timestamp of the events done (written and
    flushed), and the ids done at that millisecond. Its checkpoint lets a restart re-read
    from that millisecond and skip exactly those ids (the CloudWatch reader and the
    forwarder share this one rule).

    >>> mark = HighWater()
    >>> mark.advance({"a": 5, "b": 9, "c": 9}); mark.advance({"d": 7})
    >>> mark.checkpoint().to_json()
    {'time': 9, 'seen': ['b', 'c'], 'through': 9}
    """

    time: int | None = None
    ids: set[str] = field(default_factory=set)

    def advance(self, done: Mapping[str, int]) -> None:
        """Raise the mark with events now done (event id -> timestamp)."""
        for eid, ts in done.items():
            if self.time is None or ts > self.time:
                self.time, self.ids = ts, {eid}
            elif ts == self.time:
                self.ids.add(eid)

    def checkpoint(self) -> Checkpoint | None:
        """The checkpoint at the mark (None before any event is done)."""
        if self.time is None:
            return None
        return Checkpoint(self.time, frozenset(self.ids), self.time)


def parse_checkpoint_value(value: str) -> Checkpoint:
    """Read a checkpoint stored as text: our JSON, or a bare time as the seed stored it.

    A bare number is epoch milliseconds (or seconds when it is below 10^11); an ISO 8601
    time is accepted too.

    >>> parse_checkpoint_value('{"v": 1, "time": 1795622400000, "seen": []}').time
    1795622400000
    >>> parse_checkpoint_value("inf")
    Traceback (most recent call last):
    ...
    ValueError: checkpoint time 'inf' is not a number of milliseconds
    >>> parse_checkpoint_value("1700000000").time
    1700000000000
    >>> parse_checkpoint_value("2026-11-25T16:00:00+00:00").time
    1795622400000
    """
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise ValueError(f"{_short(text)} is not valid JSON") from None
        return Checkpoint.from_json(data)
    try:
        number = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{_short(text)} is neither a time nor a checkpoint") from None
        if moment.tzinfo is None:
            raise ValueError(f"checkpoint time {text!r} has no time zone") from None
        return Checkpoint(check_time(int(moment.timestamp() * 1000)))
    if not math.isfinite(number):
        raise ValueError(f"checkpoint time {_short(text)} is not a number of milliseconds")
    if abs(number) > 1e16:
        raise ValueError(f"checkpoint time {_short(text)} is out of range")
    return Checkpoint(check_time(int(number * 1000) if number < 1e11 else int(number)))


class CheckpointFile:
    """Checkpoints of several log groups in one JSON file, replaced atomically.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "cp.json")
    >>> store = CheckpointFile(path)
    >>> store.save({"/g": Checkpoint(1795622400000, frozenset({"x"}))})
    >>> store.load()["/g"].time
    1795622400000
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Checkpoint]:
        """The stored checkpoints by log group ({} when the file does not exist yet)."""
        text = read_checkpoint_text(self.path)
        if text is None:
            return {}
        try:
            data = json.loads(text)
            groups = data["groups"]
            return {str(name): Checkpoint.from_json(cp) for name, cp in groups.items()}
        except RecursionError:
            raise AwsSetupError(f"{self.path}: not a pgaudit-parse checkpoint file (JSON nested "
                                f"too deeply); move it away (or delete it) to start over at "
                                f"--start-time") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AwsSetupError(
                f"{self.path}: not a pgaudit-parse checkpoint file ({exc}); "
                f"move it away (or delete it) to start over at --start-time") from exc

    def save(self, checkpoints: dict[str, Checkpoint]) -> None:
        """Write all checkpoints: temporary file, fsync, rename over the old one, fsync dir."""
        data = {"v": 1, "groups": {name: cp.to_json() for name, cp in sorted(checkpoints.items())}}
        write_json_atomically(self.path, data)


class ParameterCheckpoint:
    """One checkpoint kept in an SSM parameter (String), as the seed's Lambda did.

    The value is our JSON (``{"v":1,"time":...,"seen":[...]}``); a bare timestamp written by
    the seed's function is read as a start time, so switching over loses nothing.
    """

    def __init__(self, ssm: Any, name: str) -> None:
        self.ssm = ssm
        self.name = name

    def load(self) -> Checkpoint | None:
        """The stored checkpoint, or None when the parameter does not exist yet."""
        try:
            value = self.ssm.get_parameter(Name=self.name)["Parameter"]["Value"]
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise AwsSetupError(explain(exc, f"reading SSM parameter {self.name}")) from exc
        try:
            return parse_checkpoint_value(value)
        except ValueError as exc:
            raise AwsSetupError(
                f"SSM parameter {self.name} does not hold a valid checkpoint ({exc}); reset "
                f"it with `aws ssm delete-parameter --name {self.name}` (the next run starts "
                f"at --start-time) or put an ISO 8601 time such as 2026-11-25T16:00:00Z "
                f"in it") from exc

    def save(self, checkpoint: Checkpoint) -> None:
        """Overwrite the parameter with ``checkpoint``."""
        value = json.dumps({"v": 1, **checkpoint.to_json()}, separators=(",", ":"))
        try:
            self.ssm.put_parameter(Name=self.name, Value=value, Type="String", Overwrite=True)
        except Exception as exc:
            raise AwsSetupError(explain(exc, f"writing SSM parameter {self.name}")) from exc


def read_checkpoint_text(path: Path) -> str | None:
    """The text of a checkpoint file, or None when it does not exist yet; raises
    :class:`AwsSetupError` (one line) when it cannot be read, or is not text (a file
    damaged on disk: we never write one, see :func:`write_json_atomically`)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise AwsSetupError(f"{path}: not a pgaudit-parse checkpoint file (not UTF-8 text at "
                            f"byte {exc.start}); move it away (or delete it) to start over")\
            from None
    except OSError as exc:
        raise AwsSetupError(f"{path}: cannot read checkpoint: {exc.strerror}") from exc


def write_json_atomically(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON so that a crash leaves the old file or the new
    one, never a torn one: temporary file, fsync, rename over the old one, fsync the
    directory. Raises :class:`AwsSetupError` (one line) when it cannot be written.

    >>> import tempfile, os
    >>> target = Path(tempfile.mkdtemp()) / "cp.json"
    >>> write_json_atomically(target, {"v": 1}); target.read_text()
    '{"v":1}\\n'
    """
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise AwsSetupError(f"{path}: cannot write checkpoint: {exc.strerror}") from exc
