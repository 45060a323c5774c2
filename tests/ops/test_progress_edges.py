"""Progress and the other stderr messages of a run (rejects, warnings) on one terminal:
a message never lands on the progress line's tail."""

from __future__ import annotations

import io
import sys

import pytest

from pgaudit_parse.cli.progress import Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _screen(text: str) -> list[str]:
    """The lines a terminal shows: CR returns to the line start, ESC[K erases to its end."""
    lines, line, column = [], [], 0
    i = 0
    while i < len(text):
        if text.startswith("\x1b[K", i):
            del line[column:]
            i += 3
            continue
        char = text[i]
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append("".join(line))
            line, column = [], 0
        else:
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
        i += 1
    if line:
        lines.append("".join(line))
    return lines


def test_a_message_during_a_run_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = Progress.for_files([], stream=terminal, enabled=True, force_tty=True,
                                  interval=0.5, clock=_Clock())
    progress.update(bytes_read=10, lines=5, records=5)  # drawn
    print("pgaudit-parse: big.log:7: torn pgAudit payload", file=sys.stderr)
    sys.stderr.write("pgaudit-parse: warning: something\n")
    progress.update(bytes_read=10, lines=5, records=5)  # drawn again
    progress.close()

    screen = _screen(terminal.getvalue())
    assert "pgaudit-parse: big.log:7: torn pgAudit payload" in screen, screen
    assert "pgaudit-parse: warning: something" in screen, screen
    assert screen[-1].startswith("pgaudit-parse: 20 B") and "10 records" in screen[-1]
    assert sys.stderr is terminal  # given back at the end


def test_quiet_or_piped_progress_leaves_stderr_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    progress = Progress.for_files([], stream=pipe, enabled=True)  # not a terminal
    progress.update(lines=5)
    print("message", file=sys.stderr)
    progress.close()
    assert sys.stderr is pipe and pipe.getvalue() == "message\n"
