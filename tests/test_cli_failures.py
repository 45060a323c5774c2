"""The CLI's failure paths, run as a user runs them (a subprocess): stop signals, option
values that are usage errors, outputs that are not files. Each ends in one line on stderr
and a known status, never a traceback; what was written before ends with a whole line."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
LINE = ("2026-11-25 16:05:{s:02d} UTC:10.0.1.25(50012):alice@shop:[4242]:LOG:  AUDIT: "
        "SESSION,{n},1,READ,SELECT,TABLE,public.t,select {n},<not logged>\n")


def audit_lines(count: int, start: int = 1) -> str:
    return "".join(LINE.format(s=n % 60, n=n) for n in range(start, start + count))


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def one_line(stderr: str) -> str:
    """The single line of ``stderr`` (asserts there is exactly one, and no traceback)."""
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _unread(fd: int) -> int:
    """Bytes written into a pipe and not read yet by its reader."""
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)


def _blocked_reading(pid: int) -> bool:
    """The process sleeps (in its read of the pipe: it has parsed what it was given)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "S"


# -- stop signals ------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_mid_run_flushes_whole_lines_and_says_one_line(
        signum: int, tmp_path: Path) -> None:
    """A run stopped while it reads (here: waiting on a pipe after 20000 lines, more than
    the first block the reader waits for) writes what it made of them, ending with a whole
    line, says so in one line, and exits 128 + the signal's number (as a shell reports a
    process the signal ended)."""
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "pgaudit_parse", "--format", "events",
                             "--output", str(out), "-"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    try:
        proc.stdin.write(audit_lines(20_000))
        proc.stdin.flush()
        _wait_for(lambda: _unread(proc.stdin.fileno()) == 0 and _blocked_reading(proc.pid))
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, stderr
    assert "interrupted" in one_line(stderr)
    data = out.read_bytes()
    assert data.endswith(b"\n")
    events = [json.loads(line) for line in data.splitlines()]
    # what was read made its events, in order, none missing (the last line's message may
    # go on in the next block, so it waits)
    ids = [e["audit"]["statement_id"] for e in events]
    assert len(ids) >= 1000 and ids == list(range(1, len(ids) + 1))


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain log that --jobs 2 cuts into several chunks (about 40 MB)."""
    path = tmp_path_factory.mktemp("big") / "big.log"
    block = audit_lines(10_000)
    with path.open("w") as handle:
        for _ in range(30):
            handle.write(block)
    return path


@pytest.mark.parametrize("signum,group", [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c-to-the-process-group", "sigterm-to-the-command"])
def test_a_stop_signal_under_jobs_leaves_no_worker_traceback_nor_temp_files(
        signum: int, group: bool, big_log: Path, tmp_path: Path) -> None:
    """^C reaches the workers too (one process group); SIGTERM (a service manager, a
    timeout) only the command. Either way: one line, no worker traceback, the workers'
    temporary directory removed."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "pgaudit_parse", "--jobs", "2",
                             "--output", str(out), str(big_log)],
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(temp)})
    try:
        _wait_for(lambda: len(_children(proc.pid)) >= 2 and any(temp.iterdir()))
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signum, stderr
    assert "interrupted" in one_line(stderr)
    _wait_for(lambda: not any(temp.iterdir()), timeout=10)
    assert not out.read_bytes() or out.read_bytes().endswith(b"\n")


# -- option values -----------------------------------------------------------------------

RDS_LOG = FIXTURES / "rds-postgresql.log"


@pytest.mark.parametrize("account", ["abc", "", "12345", "1234567890123", "../../escape",
                                     "123456789012:x", " 123456789012"])
def test_an_account_id_that_is_not_one_is_a_usage_error(account: str, tmp_path: Path) -> None:
    """dbName is ACCOUNT:INSTANCE:DB and the Security Lake partition accountId=ACCOUNT: an
    account id is 12 digits; anything else is refused before anything is written."""
    for argv in (["--account-id", account, str(RDS_LOG)],
                 ["--format", "ocsf-parquet", "--output", str(tmp_path / "lake"),
                  "--lake-region", "eu-west-1", "--account-id", account, str(RDS_LOG)],
                 ["iam-policy", "forwarder", "--account-id", account]):
        result = run_cli(*argv, cwd=tmp_path)
        assert result.returncode == 2, (argv, result.stdout[:200])
        assert "--account-id" in one_line(result.stderr)
        assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


@pytest.mark.parametrize("region", ["../../escape", "eu west 1", "", "EU-WEST-1", "eu-west-1/x"])
def test_a_region_that_is_not_one_is_a_usage_error(region: str, tmp_path: Path) -> None:
    """The Security Lake partition region=REGION and the ARNs of iam-policy: a region
    name (``eu-west-1``), also when it comes from AWS_REGION."""
    lake = ["--format", "ocsf-parquet", "--output", str(tmp_path / "lake"), "--account-id",
            "123456789012"]
    env_without = {k: v for k, v in os.environ.items()
                   if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    for argv, env in (([*lake, "--lake-region", region, str(RDS_LOG)], None),
                      ([*lake, str(RDS_LOG)], {**env_without, "AWS_REGION": region}),
                      (["iam-policy", "forwarder", "--region", region], None)):
        if env is not None and not region:
            continue  # an empty AWS_REGION is no region: "needs the region= partition"
        result = run_cli(*argv, cwd=tmp_path, env=env)
        assert result.returncode == 2, (argv, result.stdout[:200])
        assert "region" in one_line(result.stderr)
        assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_valid_account_and_region_still_work(tmp_path: Path) -> None:
    result = run_cli("--account-id", "123456789012", "--instance", "db1", str(RDS_LOG))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["dbName"].startswith("123456789012:db1:")
    result = run_cli("iam-policy", "forwarder", "--region", "us-gov-west-1", "--account-id",
                     "123456789012", "--log-group", "/aws/rds/instance/db1/postgresql",
                     "--queue-arn", "arn:aws:sqs:us-gov-west-1:123456789012:q")
    assert result.returncode == 0, result.stderr
    assert "us-gov-west-1:123456789012" in result.stdout


# -- --errors - --------------------------------------------------------------------------

def test_errors_dash_is_standard_output_not_a_file_named_dash(tmp_path: Path) -> None:
    """'-' means standard output for --errors as for --output (it made a file called '-'
    in the working directory); both on standard output is refused."""
    log = tmp_path / "in.log"
    log.write_bytes((FIXTURES / "with-rejects.log").read_bytes())
    result = run_cli("--output", str(tmp_path / "out.jsonl"), "--errors", "-", "in.log",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "-").exists()
    rejects = [json.loads(line) for line in result.stdout.splitlines()]
    assert rejects and all("reason" in r and "raw" in r for r in rejects)
    for both in (["--errors", "-"], ["--output", "-", "--errors", "-"]):
        result = run_cli(*both, "in.log", cwd=tmp_path)
        assert result.returncode == 2
        assert "--errors" in one_line(result.stderr)
        assert result.stdout == ""
        assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("option", ["--errors", "--html"])
def test_summary_outputs_named_dash_are_refused_not_files_named_dash(option: str,
                                                                     tmp_path: Path) -> None:
    """The summary itself is on standard output: '-' for its other outputs is refused (it
    made a file called '-')."""
    (tmp_path / "in.log").write_bytes((FIXTURES / "with-rejects.log").read_bytes())
    result = run_cli("summary", "in.log", option, "-", cwd=tmp_path)
    assert result.returncode == 2
    assert option in one_line(result.stderr)
    assert result.stdout == ""
    assert not (tmp_path / "-").exists()


# -- full disks ---------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["summary", "--errors", "/dev/full"],
    ["--output", "/dev/null", "--errors", "/dev/full"],
    ["--errors", "/dev/full", "--jobs", "2"],
    ["--output", "/dev/full", "--errors", "ERRORS"],
], ids=["summary-errors", "errors", "errors-jobs", "output"])
def test_a_full_disk_is_one_line_naming_the_file_that_filled(argv: list[str],
                                                             tmp_path: Path) -> None:
    """The line names the output that could not be written, not every output."""
    argv = [str(tmp_path / "e.jsonl") if arg == "ERRORS" else arg for arg in argv]
    result = run_cli(argv[0], str(FIXTURES / "with-rejects.log"), *argv[1:]) \
        if argv[0] == "summary" else run_cli(str(FIXTURES / "with-rejects.log"), *argv)
    assert result.returncode == 2
    line = [text for text in result.stderr.splitlines()
            if "Traceback" in text or "cannot write" in text or "Error" in text]
    assert "Traceback" not in result.stderr
    assert len(line) == 1 and "/dev/full" in line[0] and "No space left" in line[0], \
        result.stderr
    others = [arg for arg in argv if arg.startswith("/") and arg != "/dev/full"]
    assert not any(other in line[0] for other in others) and "standard output" not in line[0]


# -- subcommands' usage errors need no AWS ------------------------------------------------

#: Credentials and an endpoint nothing listens on: a usage error must be found before any
#: of them is used (were one used, the message would be about the endpoint, after retries).
OFFLINE = ["--endpoint-url", "http://127.0.0.1:9", "--region", "eu-west-1"]
QUEUE = "http://127.0.0.1:9/123456789012/q"


@pytest.mark.parametrize("argv,option", [
    (["cloudwatch", "--log-group", "g", "--page-size", "0"], "--page-size"),
    (["cloudwatch", "--log-group", "g", "--page-size", "10001"], "--page-size"),
    (["forward", "--log-group", "g", "--queue-url", QUEUE, "--page-size", "-1"], "--page-size"),
    (["rds-logs", "--db-instance", "db1", "--lines-per-page", "0"], "--lines-per-page"),
    (["rds-logs", "--db-instance", "db1", "--follow", "--poll-seconds", "-1"],
     "--poll-seconds"),
    (["rds-logs", "--db-instance", "db1", "--follow", "--poll-seconds", "nan"],
     "--poll-seconds"),
    (["sqs", "--queue-url", QUEUE, "--visibility-timeout", "-3"], "--visibility-timeout"),
    (["sqs", "--queue-url", QUEUE, "--visibility-timeout", "43201"], "--visibility-timeout"),
    (["sqs", "--queue-url", "not a url"], "--queue-url"),
    (["forward", "--log-group", "g", "--queue-url", "queue-name"], "--queue-url"),
    (["sqs", "--queue-url", QUEUE, "--account-id", "abc"], "--account-id"),
])
def test_a_bad_subcommand_value_is_a_usage_error_before_any_aws_call(
        argv: list[str], option: str, tmp_path: Path) -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
           "AWS_SECRET_ACCESS_KEY": "not-a-secret", "AWS_EC2_METADATA_DISABLED": "true"}
    result = run_cli(*argv, *OFFLINE, cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert option in line and "endpoint" not in line
    assert "not-a-secret" not in line


# -- --prefix -----------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["%q%q", "%t:%q%u%q@%d:", "%m [%p] %q%q%u@%d "])
def test_a_second_q_in_the_prefix_writes_nothing_as_in_postgresql(spec: str,
                                                                  tmp_path: Path) -> None:
    """A backend ignores every %q; a background process stops at the first. So a second
    %q writes nothing (it was a KeyError traceback)."""
    from pgaudit_parse.prefix import LinePrefix

    once = spec.replace("%q", "\0", 1).replace("%q", "").replace("\0", "%q")
    line = "2026-11-25 16:05:01 UTC:alice@shop:LOG:  AUDIT: x"
    assert LinePrefix(spec).parts == LinePrefix(once).parts
    assert LinePrefix(spec).parse(line) == LinePrefix(once).parse(line)
    log = tmp_path / "a.log"
    log.write_text(line + "\n")
    result = run_cli("--prefix", spec, "--format", "events", str(log))
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 2)
    assert result.returncode == 0 or "no line matches" in one_line(result.stderr)


# -- standard output onto an input ----------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["summary"]], ids=["file-mode", "summary"])
def test_standard_output_appended_to_an_input_is_refused(command: list[str],
                                                         tmp_path: Path) -> None:
    """``pgaudit-parse f.log >> f.log`` read its own output back (a big file grew without
    end, as ``cat f >> f`` would, which cat refuses): standard output that is an input is
    refused as --output is, before anything is read or written."""
    log = tmp_path / "f.log"
    log.write_bytes(RDS_LOG.read_bytes())
    before = log.read_bytes()
    with log.open("ab") as out:
        result = subprocess.run([sys.executable, "-m", "pgaudit_parse", *command, str(log)],
                                stdout=out, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 2
    assert "standard output" in one_line(result.stderr)
    assert log.read_bytes() == before
    # and a --errors file that is standard output's file
    other = tmp_path / "out.jsonl"
    with other.open("ab") as out:
        result = subprocess.run([sys.executable, "-m", "pgaudit_parse", *command, str(log),
                                 "--errors", str(other)],
                                stdout=out, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 2
    assert "--errors" in one_line(result.stderr)
    assert other.read_bytes() == b""


# -- standard error closed --------------------------------------------------------------------

def _run_without_stderr(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with descriptor 2 closed (``2>&-``)."""
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args],
                          stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                          timeout=120, preexec_fn=lambda: os.close(2))


def test_with_stderr_closed_messages_never_reach_the_records() -> None:
    """print(file=None) writes to stdout: with ``2>&-`` the one-line messages went into the
    JSON lines on standard output."""
    result = _run_without_stderr(str(FIXTURES / "with-rejects.log"))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines and all(json.loads(line) for line in lines)
    result = _run_without_stderr("no-such-file.log")
    assert (result.returncode, result.stdout) == (2, "")
    result = _run_without_stderr("summary", "no-such-file.log")
    assert (result.returncode, result.stdout) == (2, "")


# -- files that are not UTF-8 text ----------------------------------------------------------

def _utf16(text: str) -> bytes:
    return text.encode("utf-16")


@pytest.mark.parametrize("make,cause", [
    (_utf16, "UTF-16"),
    (lambda text: text.encode("utf-32"), "UTF-32"),
    (lambda text: text.encode("utf-16-le"), "UTF-16"),
    (lambda text: bytes(range(256)) * 64, "binary"),
    (lambda text: bytes((n * 7919) % 128 + 128 for n in range(20000)), "not UTF-8"),
], ids=["utf-16", "utf-32", "utf-16-no-bom", "binary", "random-high-bytes"])
@pytest.mark.parametrize("command", [[], ["--jobs", "2"], ["summary"], ["--prefix", "auto"],
                                     ["--jobs", "2", "--prefix", "auto"],
                                     ["summary", "--prefix", "auto"]],
                         ids=["file-mode", "jobs", "summary", "auto", "jobs-auto",
                              "summary-auto"])
def test_a_file_that_is_not_utf8_text_is_named_with_that_cause(
        make: Callable[[str], bytes], cause: str, command: list[str], tmp_path: Path) -> None:
    """Not 'no line matches log_line_prefix (check --prefix...)', which sends the user to
    the wrong place: the one line says what the bytes are."""
    path = tmp_path / "x.log"
    path.write_bytes(make(RDS_LOG.read_text()))
    argv = [*command[:1], str(path), *command[1:]] if command[:1] == ["summary"] \
        else [str(path), *command]
    result = run_cli(*argv)
    assert result.returncode == 2
    line = [text for text in result.stderr.splitlines() if "x.log:" in text
            and "line does not match" not in text]
    assert len(line) == 1 and cause in line[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_latin1_log_is_still_read_with_its_bytes_escaped(tmp_path: Path) -> None:
    path = tmp_path / "latin1.log"
    path.write_bytes(RDS_LOG.read_text().replace("alice", "al\xefce").encode("latin-1", "replace"))
    result = run_cli("--format", "events", str(path))
    assert result.returncode == 0, result.stderr
    assert any(e["user"] == "al\\xefce" for e in map(json.loads, result.stdout.splitlines()))


# -- exit 2 means one line ----------------------------------------------------------------------

@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["one-process", "jobs"])
def test_a_failed_run_says_one_line_not_also_its_notes(jobs: list[str], tmp_path: Path) -> None:
    """A truncated .gz whose audit lines keep <previously logged>: the note about those
    lines came out as a second line beside the one naming the damaged file (found by
    test_fuzz_files' damaged-file property)."""
    text = "".join(
        f"2026-11-25 16:05:0{n} UTC:10.0.1.25(50012):alice@shop:[4242]:LOG:  AUDIT: "
        f"SESSION,{n},1,READ,SELECT,,,<previously logged>,<previously logged>\n"
        for n in range(1, 9))
    data = __import__("gzip").compress(text.encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[:-12])
    result = run_cli(str(path), *jobs, "--output", str(tmp_path / "out.jsonl"))
    assert result.returncode == 2
    assert "not a valid gzip file" in one_line(result.stderr)


@pytest.mark.parametrize("zone", ["UTC+99", "UTC-25", "<-99>+99", "EST+24EDT"])
def test_a_posix_timezone_past_a_day_is_a_usage_error(zone: str) -> None:
    """A POSIX zone string whose offset is a day or more (PostgreSQL refuses it too) was a
    ValueError traceback when the first timestamp was read."""
    result = run_cli("--timezone", zone, str(RDS_LOG))
    assert result.returncode == 2
    assert "--timezone" in one_line(result.stderr)
    assert result.stdout == ""


# -- files after options ----------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["summary", "--json"]], ids=["file-mode", "summary"])
def test_files_may_come_after_options(command: list[str]) -> None:
    """``pgaudit-parse a.log -q b.log`` was 'unrecognized arguments: b.log' (argparse reads
    one run of positionals): files and options may be mixed, as in most tools."""
    a, b = str(RDS_LOG), str(FIXTURES / "with-rejects.log")
    mixed = run_cli(*command, a, "-q", b)
    together = run_cli(*command, "-q", a, b)
    assert mixed.returncode == together.returncode == 0, mixed.stderr
    assert mixed.stdout == together.stdout and mixed.stdout


# -- a dead-letter write that fails inside the reader -------------------------------------------

def test_a_full_errors_file_is_not_blamed_on_the_input(tmp_path: Path) -> None:
    """Rejects made by the reader itself (over-long lines, runs of empty lines) are written
    while the input is being read: a full --errors file was reported as the input's own
    read error ('in.log: [Errno 28] No space left on device')."""
    log = tmp_path / "in.log"
    log.write_text(("x" * 300 + "\n\n") * 2000)
    for command in ([str(log), "--output", str(tmp_path / "o.jsonl")], ["summary", str(log)]):
        result = run_cli(*command, "--errors", "/dev/full", "--max-line-bytes", "100") \
            if not command[0] == "summary" else run_cli(*command, "--errors", "/dev/full")
        assert result.returncode == 2
        line = one_line(result.stderr) if command[0] != "summary" else [
            text for text in result.stderr.splitlines() if "/dev/full" in text][0]
        assert "/dev/full" in line and "No space left" in line and "in.log" not in line, line


def test_a_closed_pipe_under_errors_dev_stdout_ends_quietly(tmp_path: Path) -> None:
    """``--errors /dev/stdout | head -1``: the reader of the dead letters went away; that is
    the quiet 141, not 'in.log: [Errno 32] Broken pipe' and exit 2."""
    log = tmp_path / "in.log"
    log.write_text(("x" * 300 + "\n") * 20000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgaudit_parse", str(log), "--output", "/dev/null",
         "--errors", "/dev/stdout", "--max-line-bytes", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 141, stderr
    assert stderr == b""
