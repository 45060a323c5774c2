"""Progress on stderr for long runs: only on a terminal, never when piped or ``--quiet``,
and never while the records themselves go to the terminal (they would share its lines).

While the line is drawn, other messages of the run to stderr (rejects, warnings) first
erase it, so each gets a line of its own; the next update draws it again below them.

Files: bytes (of the total, when known), lines, records, rate and ETA. Follow modes
(CloudWatch, SQS): lines, records and lag (now minus the newest event's time). Redraws are
rate-limited (``interval`` seconds), so calling :meth:`Progress.update` per line is cheap.

>>> import io
>>> p = Progress.for_files([], stream=io.StringIO(), enabled=True)   # not a TTY: silent
>>> p.enabled
False
>>> p.update(bytes_read=100, lines=2, records=1); p.close(); p.lines
2
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import IO, Any

__all__ = ["Progress", "format_bytes", "format_duration"]


def format_bytes(count: float) -> str:
    """Bytes in a short human form.

    >>> format_bytes(999), format_bytes(12_345_678)
    ('999 B', '12.3 MB')
    """
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"  # pragma: no cover - loop returns at GB


def format_duration(seconds: float) -> str:
    """Seconds as ``M:SS`` or ``H:MM:SS``.

    >>> format_duration(75), format_duration(3725)
    ('1:15', '1:02:05')
    """
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _AboveProgress:
    """``sys.stderr`` while a progress line is drawn on it: a write first erases the line
    (the message would otherwise continue the progress text)."""

    def __init__(self, progress: Progress, stream: IO[str]) -> None:
        self._progress = progress
        self._stream = stream

    def write(self, text: str) -> int:
        if text and self._progress._drawn:
            self._stream.write("\r\x1b[K")
            self._progress._drawn = False
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding...
        return getattr(self._stream, name)


class Progress:
    """A one-line, redrawn progress report.

    Counts passed to :meth:`update` are increments. Build one with :meth:`for_files` or
    :meth:`for_follow`; ``enabled`` is what the caller wants (``not args.quiet``), and the
    line is drawn only when the stream is also a terminal and ``data`` (the stream the
    command writes its records to, if any) is not.
    """

    def __init__(self, stream: IO[str], enabled: bool, *, label: str = "",
                 total_bytes: int | None = None, follow: bool = False,
                 interval: float = 0.5, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 force_tty: bool = False, data: IO[str] | None = None) -> None:
        self.stream = stream
        # Data written to a terminal would share screen lines with the progress line
        # (and shows progress by itself): draw only when the data goes elsewhere.
        data_on_screen = data is not None and _is_tty(data)
        self.enabled = bool(enabled) and (force_tty or _is_tty(stream)) and not data_on_screen
        self.label = label
        self.total_bytes = total_bytes
        self.follow = follow
        self.interval = interval
        self._clock = clock
        self._wall = wall_clock
        self._start = clock()
        self._last_draw = self._start
        self._drawn = False
        self.bytes_read = 0
        self.lines = 0
        self.records = 0
        self.newest: float | None = None
        self._stderr: _AboveProgress | None = None
        if self.enabled and sys.stderr is stream:
            self._stderr = _AboveProgress(self, stream)
            sys.stderr = self._stderr

    @classmethod
    def for_files(cls, paths: Sequence[str], stream: IO[str] = sys.stderr,
                  enabled: bool = True, **kwargs: object) -> Progress:
        """Progress over input files; the total (for percent and ETA) is known when every
        path is a regular, uncompressed file (not ``-``, not ``.gz``)."""
        total: int | None = 0
        for path in paths:
            if path == "-" or path.endswith(".gz") or not os.path.isfile(path):
                total = None
                break
            total = (total or 0) + os.path.getsize(path)
        return cls(stream, enabled, total_bytes=total or None, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def for_follow(cls, label: str, stream: IO[str] = sys.stderr, enabled: bool = True,
                   **kwargs: object) -> Progress:
        """Progress of a follow mode (``label`` names the log group or queue); shows lag."""
        return cls(stream, enabled, label=label, follow=True, **kwargs)  # type: ignore[arg-type]

    def update(self, bytes_read: int = 0, lines: int = 0, records: int = 0,
               newest: datetime | float | None = None) -> None:
        """Add counts; ``newest`` is the time of the newest event seen (for the lag)."""
        self.bytes_read += bytes_read
        self.lines += lines
        self.records += records
        if newest is not None:
            stamp = newest.timestamp() if isinstance(newest, datetime) else float(newest)
            if self.newest is None or stamp > self.newest:
                self.newest = stamp
        if self.enabled:
            now = self._clock()
            if now - self._last_draw >= self.interval:
                self._last_draw = now
                self._draw(now)

    def render(self, now: float | None = None) -> str:
        """The progress line (without the carriage return).

        >>> import io
        >>> p = Progress(io.StringIO(), False, total_bytes=1000, clock=iter([0.0, 10.0]).__next__)
        >>> p.update(bytes_read=500, lines=5, records=4)
        >>> p.render(10.0)
        'pgaudit-parse: 500 B of 1.0 kB (50%)  5 lines  4 records  50 B/s  ETA 0:10'
        """
        now = self._clock() if now is None else now
        elapsed = max(now - self._start, 1e-9)
        parts = ["pgaudit-parse:" + (f" {self.label}:" if self.label else "")]
        if not self.follow:
            if self.total_bytes:
                percent = min(100, int(100 * self.bytes_read / self.total_bytes))
                parts.append(f"{format_bytes(self.bytes_read)} of "
                             f"{format_bytes(self.total_bytes)} ({percent}%)")
            else:
                parts.append(format_bytes(self.bytes_read))
        parts.append(f"{self.lines:,} lines")
        parts.append(f"{self.records:,} records")
        if self.follow:
            parts.append(f"{self.lines / elapsed:,.0f} lines/s")
            if self.newest is not None:
                parts.append(f"lag {format_duration(self._wall() - self.newest)}")
        else:
            rate = self.bytes_read / elapsed
            parts.append(f"{format_bytes(rate)}/s")
            if self.total_bytes and rate > 0:
                remaining = max(0, self.total_bytes - self.bytes_read) / rate
                parts.append(f"ETA {format_duration(remaining)}")
        return parts[0] + " " + "  ".join(parts[1:])

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.render(now) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Draw the final state and end the line (nothing when disabled)."""
        if self.enabled and (self._drawn or self.lines):
            self._draw(self._clock())
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False
        self.enabled = False
        if self._stderr is not None and sys.stderr is self._stderr:
            sys.stderr = self.stream
        self._stderr = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
