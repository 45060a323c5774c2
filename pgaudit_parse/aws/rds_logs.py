"""RDS log files through the RDS API (DescribeDBLogFiles + DownloadDBLogFilePortion), for
instances that do not export their logs to CloudWatch.

:class:`RdsLogReader` lists an instance's log files (``DescribeDBLogFiles``, paginated with
``Marker``, optionally only those written since a time or whose name contains a text), and
downloads each one in portions of ``lines_per_page`` lines from ``Marker="0"``, following
the ``Marker`` each answer returns until ``AdditionalDataPending`` is false. A portion is
capped at 1 MB by RDS, which then cuts the last line and appends
``[Your log message was truncated]``: such an answer is asked again with half the lines,
down to one (a single line over 1 MB stays cut, and becomes a reject saying so).

The checkpoint invariant, per file: ``marker`` and ``skip`` name the first line that is
not done (the line ``skip`` lines into the portion that starts at ``marker``), and
``seen`` the offsets (from that portion's start) of later lines that are done. After each
portion the sink is flushed (fsync) and only then the checkpoint replaced: it points at
the oldest line the parser still holds (an ERROR waiting for its STATEMENT line, a
message of a backend that wrote nothing since) and lists the lines after it whose
messages were written (the assembler emits in order, so those are the rejected ones),
else it points at the next portion. A rotated file (not the newest) read to its end is
``done``; the newest file is where the next run (or ``--follow`` poll) continues. A
restart re-downloads from the checkpoint and skips what is done: nothing is lost, and what
is written twice is at most the portion being read when the process died.

>>> page_lines("a\\nb\\n", "db1/error/postgresql.log", "0", 0)[1].ref
('0', 1)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..lines import Line, Reject, split_message
from ..parser import Parser
from ..prefix import LinePrefix
from ..sinks import EventSink, holds_records
from .checkpoint import read_checkpoint_text, write_json_atomically
from .cloudwatch import now_ms
from .errors import AwsSetupError, explain, is_log_file_gone

__all__ = ["LogFile", "Position", "RdsCheckpointFile", "RdsLogReader", "list_log_files",
           "page_lines", "TRUNCATED_MARK"]

#: What RDS appends to a line it cut at the 1 MB limit of one portion.
TRUNCATED_MARK: Final = "[Your log message was truncated]"
#: The newest file's last message stays open while the file was written this recently
#: (ms): its STATEMENT/DETAIL lines may not be written yet (as the forwarder's hold).
DEFAULT_HOLD_MS: Final = 10_000
#: Lines asked per DownloadDBLogFilePortion (RDS allows up to 10000, within 1 MB).
DEFAULT_LINES_PER_PAGE: Final = 2000


@dataclass(frozen=True, slots=True)
class LogFile:
    """One entry of DescribeDBLogFiles: name, last write (epoch ms), size in bytes."""

    name: str
    last_written: int
    size: int


@dataclass(frozen=True, slots=True)
class Position:
    """Where a file's unread lines start: the portion at ``marker``, ``skip`` lines in,
    except the lines at the offsets in ``seen`` (done: their messages were written while
    an older one was still held); ``done`` when a rotated file was read through."""

    marker: str = "0"
    skip: int = 0
    done: bool = False
    size: int = 0
    seen: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"marker": self.marker, "skip": self.skip, "done": self.done,
                "size": self.size, "seen": list(self.seen)}

    @classmethod
    def from_json(cls, data: Any) -> Position:
        if not isinstance(data, dict) or not isinstance(data.get("marker"), str) \
                or not isinstance(data.get("skip", 0), int) \
                or not all(isinstance(n, int) for n in data.get("seen", [])):
            raise ValueError("a file position needs a string 'marker', an integer 'skip' "
                             "and integer 'seen' offsets")
        return cls(data["marker"], int(data.get("skip", 0)), bool(data.get("done", False)),
                   int(data.get("size", 0)), tuple(data.get("seen", [])))


class RdsCheckpointFile:
    """Positions of one instance's log files in a JSON file, replaced atomically
    (temporary file, fsync, rename, fsync of the directory)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self, instance: str) -> dict[str, Position]:
        text = read_checkpoint_text(self.path)
        if text is None:
            return {}
        try:
            data = json.loads(text)
            if data.get("instance") != instance:
                raise ValueError(f"it is for instance {data.get('instance')!r}")
            return {str(k): Position.from_json(v) for k, v in data["files"].items()}
        except RecursionError:
            raise AwsSetupError(f"{self.path}: not an rds-logs checkpoint of {instance} (JSON "
                                f"nested too deeply); move it away to start over") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AwsSetupError(f"{self.path}: not an rds-logs checkpoint of {instance} "
                                f"({exc}); move it away to start over") from exc

    def save(self, instance: str, positions: dict[str, Position]) -> None:
        data = {"v": 1, "instance": instance,
                "files": {k: p.to_json() for k, p in sorted(positions.items())}}
        write_json_atomically(self.path, data)


def list_log_files(rds: Any, instance: str, since_ms: int | None = None,
                   name_contains: str | None = None) -> list[LogFile]:
    """Every log file of the instance (all pages), oldest write first."""
    request: dict[str, Any] = {"DBInstanceIdentifier": instance}
    if since_ms is not None:
        request["FileLastWritten"] = since_ms
    if name_contains:
        request["FilenameContains"] = name_contains
    files: list[LogFile] = []
    while True:
        answer = rds.describe_db_log_files(**request)
        for item in answer.get("DescribeDBLogFiles", []):
            files.append(LogFile(str(item["LogFileName"]), int(item.get("LastWritten", 0)),
                                 int(item.get("Size", 0))))
        marker = answer.get("Marker")
        if not marker:
            break
        request["Marker"] = marker
    files.sort(key=lambda f: (f.last_written, f.name))
    return files


def page_lines(data: str, source: str, marker: str, start: int) -> list[Line]:
    """The lines of one portion, numbered from ``start``; each line's ``ref`` is
    ``(marker, index in portion)``."""
    return [Line(text, source, start + i, "", (marker, i))
            for i, text in enumerate(split_message(data))]


class RdsLogReader:
    """Reads an instance's log files into a sink, checkpointed (see the module docstring).

    ``prefix`` is the instance's ``log_line_prefix``. ``on_page(file, lines)`` is called
    after each portion is written and checkpointed (progress, tests). The newest file's
    open last message waits for the next poll while the file was written within
    ``hold_ms`` of ``clock()`` (epoch ms).
    """

    def __init__(self, rds: Any, instance: str, sink: EventSink, prefix: str | LinePrefix,
                 store: RdsCheckpointFile | None = None, since_ms: int | None = None,
                 name_contains: str | None = None,
                 lines_per_page: int = DEFAULT_LINES_PER_PAGE,
                 on_page: Callable[[str, int], None] | None = None,
                 hold_ms: int = DEFAULT_HOLD_MS,
                 clock: Callable[[], int] = now_ms) -> None:
        self.rds = rds
        self.hold_ms = hold_ms
        self.clock = clock
        self.instance = instance
        self.sink = sink
        self.prefix = prefix
        self.store = store
        self.since_ms = since_ms
        self.name_contains = name_contains
        self.lines_per_page = max(1, lines_per_page)
        self.on_page = on_page or (lambda name, count: None)
        self.positions: dict[str, Position] = store.load(instance) if store else {}
        self.lines_read = 0
        self.portions = 0

    def poll(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Read every file from its position to its current end (one pass)."""
        files = list_log_files(self.rds, self.instance, self.since_ms, self.name_contains)
        newest = files[-1].name if files else None
        for log_file in files:
            if stop():
                return
            known = self.positions.get(log_file.name)
            if known is not None and known.done and known.size == log_file.size:
                continue
            self._read_file(log_file, rotated=log_file.name != newest, stop=stop)

    def _read_file(self, log_file: LogFile, rotated: bool, stop: Callable[[], bool]) -> None:
        position = self.positions.get(log_file.name, Position())
        source = f"{self.instance}/{log_file.name}"
        parser = Parser(self.prefix, on_reject=self.sink.reject)
        marker = position.marker
        skip, seen = position.skip, set(position.seen)
        # Line numbers count from the checkpoint's portion; each portion's first number
        # is kept (by marker) to express a later checkpoint relative to its portion.
        starts: dict[str, int] = {}
        number = 0
        lines_wanted = self.lines_per_page
        while True:
            try:
                answer = self.rds.download_db_log_file_portion(
                    DBInstanceIdentifier=self.instance, LogFileName=log_file.name,
                    Marker=marker, NumberOfLines=lines_wanted)
            except Exception as exc:
                if not is_log_file_gone(exc):
                    raise AwsSetupError(explain(
                        exc, f"downloading {log_file.name} of {self.instance}")) from exc
                self._removed(log_file, parser, source, number, marker)
                return
            data = answer.get("LogFileData") or ""
            if data.rstrip("\n").endswith(TRUNCATED_MARK) and lines_wanted > 1:
                lines_wanted = max(1, lines_wanted // 2)  # ask again for fewer lines
                continue
            self.portions += 1
            starts[marker] = number
            lines = page_lines(data, source, marker, number)
            number += len(lines)
            fed: list[Line] = []
            for line in lines:
                if line.number < skip or line.number in seen:
                    continue  # done before the restart
                self.lines_read += 1
                fed.append(line)
                if line.text.endswith(TRUNCATED_MARK):
                    self.sink.reject(Reject(source, line.number + 1, "RDS cut this line at "
                                            "the 1 MB limit of one DownloadDBLogFilePortion",
                                            line.text))
                    continue
                for event in parser.feed(line):
                    self.sink.write(event, self.instance)
            next_marker = str(answer.get("Marker") or marker)
            pending = bool(answer.get("AdditionalDataPending"))
            self._checkpoint(log_file, parser, starts, next_marker, number, skip, seen,
                             keep=True)
            self.on_page(log_file.name, len(lines))
            lines_wanted = self.lines_per_page
            if not pending or (next_marker == marker and not data):
                break
            marker = next_marker
            if stop():
                # The checkpoint already says where to go on: before the lines the parser
                # holds and those of the records the sink holds, which the next run reads
                # again; so the sink forgets those records (never written cut in two).
                if holds_records(self.sink):
                    self.sink.forget_held()
                return
        # The end of what the file holds now. A rotated file gets no more lines, nor does
        # a newest file quiet for ``hold_ms``: its open messages are complete. The newest
        # file written moments ago may still get the rest of its last message (an
        # ERROR's STATEMENT line): the checkpoint already points at the lines the parser
        # holds, so the next poll (or run) reads them again with what follows.
        if not rotated and parser.pending_lines() \
                and self.clock() - log_file.last_written <= self.hold_ms:
            self._checkpoint(log_file, parser, starts, next_marker, number, skip, seen)
            return
        for event in parser.flush():
            self.sink.write(event, self.instance)
        self._save(log_file, Position(next_marker, 0, done=rotated, size=log_file.size))

    def _removed(self, log_file: LogFile, parser: Parser, source: str, number: int,
                 marker: str) -> None:
        """RDS removed the file (retention) before it was read to its end: what was read
        is complete, the rest is lost, and a reject says so; the file is done."""
        for event in parser.flush():
            self.sink.write(event, self.instance)
        self.sink.reject(Reject(source, number, f"log file {log_file.name} was removed by "
                                f"RDS before it was read to its end (from marker {marker}); "
                                f"its remaining lines were not read", ""))
        self._save(log_file, Position(marker, 0, done=True, size=log_file.size))

    def _checkpoint(self, log_file: LogFile, parser: Parser, starts: dict[str, int],
                    next_marker: str, number: int, skip: int, seen: set[int],
                    keep: bool = False) -> None:
        """After a portion: point at the oldest line the parser holds (with the lines
        after it that are done), else at the next portion.

        ``keep``: the file goes on in the next portion, so the sink keeps the Guardium
        records that wait for more lines of their execution (a ``duration:`` line in the
        next portion; see :class:`~pgaudit_parse.sinks.HoldingSink`), and the checkpoint
        points at the first line of the oldest of them, with nothing after it done: a
        restart reads them again (and what came after them: at least once)."""
        sink = self.sink
        kept = sink.oldest_held_line() if keep and holds_records(sink) else None
        if kept is not None and holds_records(sink):
            held_lines = parser.pending_lines()
            line = min([kept, *(held.number for held in held_lines)])
            base, at = max((start, mark) for mark, start in starts.items() if start <= line)
            with sink.keeping_held():
                self._save(log_file, Position(at, line - base, size=log_file.size))
            return
        held = parser.pending_lines()
        if not held:
            self._save(log_file, Position(next_marker, 0, size=log_file.size))
            return
        oldest = min(held, key=lambda line: line.number)
        held_marker = str(oldest.ref[0])  # type: ignore[index]
        base = starts[held_marker]
        held_numbers = {line.number for line in held}
        done = tuple(n - base for n in range(oldest.number + 1, number)
                     if n not in held_numbers and n >= skip)
        # (lines skipped as done before this run keep being done)
        done += tuple(n - base for n in seen if n > oldest.number)
        self._save(log_file, Position(held_marker, oldest.number - base,
                                      size=log_file.size, seen=tuple(sorted(set(done)))))

    def _save(self, log_file: LogFile, position: Position) -> None:
        self.sink.flush(durable=True)
        self.positions[log_file.name] = position
        if self.store is not None:
            self.store.save(self.instance, self.positions)

    def iter_positions(self) -> Iterator[tuple[str, Position]]:
        """The positions of the files seen so far (name order)."""
        return iter(sorted(self.positions.items()))
