"""Progress on stderr: drawn on a terminal only, rate-limited, silent when piped or quiet."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from pgaudit_parse.cli.progress import Progress

FIXTURE = Path(__file__).with_name("sample-rds.log")


class _Clock:
    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_silent_when_not_a_terminal_or_disabled() -> None:
    stream = io.StringIO()
    progress = Progress.for_files([str(FIXTURE)], stream=stream, enabled=True)
    progress.update(bytes_read=10, lines=1, records=1)
    progress.close()
    assert stream.getvalue() == "" and not progress.enabled

    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        quiet = Progress.for_files([str(FIXTURE)], stream=tty, enabled=False)
        quiet.update(bytes_read=10, lines=1)
        quiet.close()
    assert _read_all(master) == ""
    os.close(master)


def test_files_show_bytes_percent_rate_and_eta_rate_limited() -> None:
    master, slave = pty.openpty()
    size = FIXTURE.stat().st_size
    with os.fdopen(slave, "w") as tty:
        progress = Progress.for_files([str(FIXTURE), str(FIXTURE)], stream=tty, enabled=True,
                                      clock=_Clock(0.01), interval=0.5)
        assert progress.enabled and progress.total_bytes == 2 * size
        for _ in range(1000):  # 10 s of fake time at one update per 10 ms
            progress.update(bytes_read=1, lines=1, records=1)
        progress.close()
    out = _read_all(master)
    os.close(master)
    draws = out.replace("\r\n", "\n").split("\r")[1:]  # the terminal turns LF into CRLF
    assert 15 <= len(draws) <= 22  # one per 0.5 s, plus the final one
    last = draws[-1]
    assert last.startswith("pgaudit-parse: 1.0 kB of ")
    assert f"({1000 * 100 // (2 * size)}%)" in last
    assert "1,000 lines  1,000 records" in last and "B/s" in last and "ETA " in last
    assert out.endswith("\n")


def test_gzip_or_stdin_has_no_total() -> None:
    assert Progress.for_files(["-"], stream=io.StringIO()).total_bytes is None
    assert Progress.for_files(["x.log.gz"], stream=io.StringIO()).total_bytes is None


def test_follow_mode_shows_lag() -> None:
    stream = io.StringIO()
    progress = Progress.for_follow("/aws/rds/instance/db1/postgresql", stream=stream,
                                   force_tty=True, clock=_Clock(1.0), interval=0,
                                   wall_clock=lambda: 1_000_090.0)
    progress.update(lines=5, records=4, newest=1_000_000.0)
    line = stream.getvalue().split("\r")[-1]
    assert line.startswith("pgaudit-parse: /aws/rds/instance/db1/postgresql: 5 lines  "
                           "4 records")
    assert "lag 1:30" in line


def test_summary_command_draws_progress_only_on_a_terminal(tmp_path) -> None:
    command = [sys.executable, "-m", "pgaudit_parse", "summary", str(FIXTURE)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    piped = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert piped.returncode == 0
    assert "records" not in piped.stderr and "\r" not in piped.stderr

    master, slave = pty.openpty()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, env=env) as child:
        os.close(slave)
        out, _ = child.communicate(timeout=60)
    err = _read_all(master)
    os.close(master)
    assert child.returncode == 0 and out.startswith(b"Summary: ")
    lines = sum(1 for _ in FIXTURE.open())
    assert f"{lines} lines" in err and "records" in err and "\r" in err

    quiet = subprocess.Popen([*command, "--quiet"], stdout=subprocess.PIPE,
                             stderr=(slave2 := pty.openpty())[1], env=env)
    os.close(slave2[1])
    quiet.communicate(timeout=60)
    assert _read_all(slave2[0]) == ""
    os.close(slave2[0])


def test_no_progress_while_data_goes_to_the_terminal(tmp_path) -> None:
    """Records on the terminal and progress on the same terminal would share screen lines:
    progress is drawn only when the data goes elsewhere (a file, a pipe)."""
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        assert not Progress.for_files([], stream=tty, enabled=True, data=tty).enabled
        assert Progress.for_files([], stream=tty, enabled=True, data=io.StringIO()).enabled
        assert not Progress.for_follow("q", stream=tty, enabled=True, data=tty).enabled
    os.close(master)

    command = [sys.executable, "-m", "pgaudit_parse", "--format", "events", str(FIXTURE)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    master, slave = pty.openpty()
    with subprocess.Popen(command, stdout=slave, stderr=slave, env=env) as child:
        os.close(slave)
        screen = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            screen.append(chunk)
        child.wait(timeout=60)
    os.close(master)
    lines = b"".join(screen).decode().replace("\r\n", "\n").split("\n")
    assert child.returncode == 0
    assert sum(line.startswith('{"kind"') for line in lines) > 10
    assert not [line for line in lines if "\r" in line or " records" in line]

    out = tmp_path / "events.jsonl"
    master, slave = pty.openpty()
    with subprocess.Popen([*command, "--output", str(out)], stderr=slave, env=env) as child:
        os.close(slave)
        child.wait(timeout=60)
    err = _read_all(master)
    os.close(master)
    assert " records" in err  # the data goes to a file: progress is drawn
