"""``--prefix auto`` (issue 8, item 15): choose by how well each candidate reads the
session lines, look past a head of background-process lines, know the prefixes of real
deployments, and say what was chosen and how well it fits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pgaudit_parse as pp
from pgaudit_parse.parser import AUTO_SAMPLE_LINES, open_with_prefix
from pgaudit_parse.prefix import KNOWN_PREFIXES, choose_prefix, detect_prefix

AUDIT = "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>"
M = "2026-11-25 16:05:01.120 UTC"
T = "2026-11-25 16:05:01 UTC"

#: (log_line_prefix, a background line, a session line) as PostgreSQL renders them.
DEPLOYMENTS = [
    ("%t:%r:%u@%d:[%p]:", f"{T}::@:[7]:LOG:  checkpoint starting",
     f"{T}:10.0.0.5(5000):bob@shop:[8]:LOG:  {AUDIT}"),
    ("%m [%p] ", f"{M} [7] LOG:  checkpoint starting", f"{M} [8] LOG:  {AUDIT}"),
    ("%m [%p] %q%u@%d ", f"{M} [7] LOG:  checkpoint starting", f"{M} [8] bob@shop LOG:  {AUDIT}"),
    ("%m [%p] [queryid=%Q] %q%u@%d ", f"{M} [7] [queryid=0] LOG:  checkpoint starting",
     f"{M} [8] [queryid=-4211] bob@shop LOG:  {AUDIT}"),
    ("%t [%p]: db=%d,user=%u,app=%a,client=%h ",
     f"{T} [7]: db=,user=,app=,client= LOG:  checkpoint starting",
     f"{T} [8]: db=shop,user=bob,app=psql,client=10.0.0.5 LOG:  {AUDIT}"),
    ("%m [%p] user=%u,db=%d ", f"{M} [7] user=,db= LOG:  checkpoint starting",
     f"{M} [8] user=bob,db=shop LOG:  {AUDIT}"),
    ("%t [%p]: [%l-1] user=%u,db=%d ", f"{T} [7]: [3-1] user=,db= LOG:  checkpoint starting",
     f"{T} [8]: [12-1] user=bob,db=shop LOG:  {AUDIT}"),
    ("%t [%p]: [%l-1] user=%u,db=%d,host=%h,app=%a ",
     f"{T} [7]: [3-1] user=,db=,host=,app= LOG:  checkpoint starting",
     f"{T} [8]: [12-1] user=bob,db=shop,host=10.0.0.5,app=psql LOG:  {AUDIT}"),
    ("%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
     f"{T} [7]: [3-1] user=,db=,app=,client= LOG:  checkpoint starting",
     f"{T} [8]: [12-1] user=bob,db=shop,app=psql,client=10.0.0.5 LOG:  {AUDIT}"),
    # Google Cloud SQL for PostgreSQL
    ("%m [%p]: [%l-1] db=%d,user=%u ", f"{M} [7]: [3-1] db=,user= LOG:  checkpoint starting",
     f"{M} [8]: [12-1] db=shop,user=bob LOG:  {AUDIT}"),
    # Azure Database for PostgreSQL (flexible server)
    ("%t-%c-", f"{T}-6925d1ed.7-LOG:  checkpoint starting", f"{T}-6925d1ee.8-LOG:  {AUDIT}"),
]


@pytest.mark.parametrize("spec, background, session", DEPLOYMENTS)
def test_real_deployment_prefixes_are_known_and_chosen(spec: str, background: str,
                                                       session: str) -> None:
    assert spec in KNOWN_PREFIXES
    assert detect_prefix([background, session, background, session]) == spec


def test_queryid_is_not_swallowed_into_the_user() -> None:
    spec, background, session = DEPLOYMENTS[3]
    events = list(pp.parse_lines([background, session, session], prefix="auto"))
    audits = [e for e in events if isinstance(e, pp.AuditEvent)]
    assert [(e.user, e.database, e.query_id) for e in audits] == [("bob", "shop", -4211)] * 2


def test_background_head_longer_than_the_sample_is_read_past() -> None:
    spec, background, session = DEPLOYMENTS[2]
    lines = [background] * (AUTO_SAMPLE_LINES * 3) + [session] * 5
    rejects: list[pp.Reject] = []
    events = list(pp.parse_lines(lines, prefix="auto", on_reject=rejects.append))
    assert rejects == []
    assert [e.user for e in events if isinstance(e, pp.AuditEvent)] == ["bob"] * 5
    assert len(events) == len(lines)  # every line read, none lost while looking ahead


def test_choice_reports_its_fit() -> None:
    spec, background, session = DEPLOYMENTS[1]
    choice = choose_prefix([background, session, "junk line", session])
    assert choice is not None
    assert (choice.spec, choice.fitted, choice.sampled) == (spec, 3, 4)
    assert choice.describe() == "log_line_prefix '%m [%p] ' (fits 3/4 lines)"


def test_open_with_prefix_tells_the_choice() -> None:
    spec, background, session = DEPLOYMENTS[2]
    told = []
    compiled, lines = open_with_prefix([background, session], "auto", on_choice=told.append)
    assert compiled.spec == spec and [c.spec for c in told] == [spec]
    assert [line.text for line in lines] == [background, session]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_prints_the_choice_with_its_fit(tmp_path: Path) -> None:
    spec, background, session = DEPLOYMENTS[3]
    log = tmp_path / "q.log"
    log.write_text("\n".join([background, session, session]) + "\n")
    result = _cli("--prefix", "auto", "--format", "events", str(log))
    assert result.returncode == 0, result.stderr
    assert f"using log_line_prefix {spec!r} (fits 3/3 lines)" in result.stderr


def test_empty_file_behaves_the_same_with_and_without_auto(tmp_path: Path) -> None:
    log = tmp_path / "empty.log"
    log.write_text("")
    plain = _cli(str(log))
    auto = _cli("--prefix", "auto", str(log))
    assert (auto.returncode, auto.stdout, auto.stderr) == (plain.returncode, plain.stdout,
                                                           plain.stderr)


# -- a reload that changes log_line_prefix mid-file --------------------------------------

#: (background line, session line) of each prefix, as PostgreSQL renders them.
FORMS = {
    "%t:%r:%u@%d:[%p]:": ("{T}::@:[{p}]:LOG:  {msg}",
                          "{T}:10.0.0.5(5000):{u}@{d}:[{p}]:LOG:  {msg}"),
    "%m [%p] %q%u@%d ": ("{M} [{p}] LOG:  {msg}", "{M} [{p}] {u}@{d} LOG:  {msg}"),
    "%m [%p] %q%u@%d/%a ": ("{M} [{p}] LOG:  {msg}", "{M} [{p}] {u}@{d}/{a} LOG:  {msg}"),
    "%m [%p] [queryid=%Q] %q%u@%d ": ("{M} [{p}] [queryid=0] LOG:  {msg}",
                                      "{M} [{p}] [queryid=-42] {u}@{d} LOG:  {msg}"),
    "%t [%p]: [%l-1] user=%u,db=%d ": ("{T} [{p}]: [3-1] user=,db= LOG:  {msg}",
                                       "{T} [{p}]: [5-1] user={u},db={d} LOG:  {msg}"),
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ": (
        "{T} [{p}]: [3-1] user=,db=,app=,client= LOG:  {msg}",
        "{T} [{p}]: [5-1] user={u},db={d},app={a},client=10.0.0.5 LOG:  {msg}"),
    "%m [%p] ": ("{M} [{p}] LOG:  {msg}", "{M} [{p}] LOG:  {msg}"),
    "%m:%r:%u@%d:[%p]:": ("{M}::@:[{p}]:LOG:  {msg}",
                          "{M}:10.0.0.5(5000):{u}@{d}:[{p}]:LOG:  {msg}"),
    "%m:%r:%u@%d/%a:[%p]:": ("{M}::@/:[{p}]:LOG:  {msg}",
                             "{M}:10.0.0.5(5000):{u}@{d}/{a}:[{p}]:LOG:  {msg}"),
}
#: Changes after which the old prefix would still read the new lines, wrongly.
RELOADS = [
    ("%m [%p] %q%u@%d ", "%m [%p] %q%u@%d/%a "),
    ("%m [%p] %q%u@%d ", "%m [%p] [queryid=%Q] %q%u@%d "),
    ("%t [%p]: [%l-1] user=%u,db=%d ", "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "),
    ("%m [%p] %q%u@%d/%a ", "%m [%p] %q%u@%d "),
    ("%t:%r:%u@%d:[%p]:", "%m [%p] %q%u@%d/%a "),
    ("%m [%p] %q%u@%d ", "%m [%p] "),
    ("%m:%r:%u@%d:[%p]:", "%m:%r:%u@%d/%a:[%p]:"),
]


def _render(spec: str, session: bool, pid: int, msg: str, user: str = "", db: str = "",
            app: str = "psql") -> str:
    form = FORMS[spec][1 if session else 0]
    return form.format(T=T, M=M, p=pid, u=user, d=db, a=app, msg=msg)


def _changed(spec: str) -> str:
    return f'parameter "log_line_prefix" changed to "{spec}"'


def _reload_log(old: str, new: str) -> list[str]:
    return [
        _render(old, True, 8, AUDIT, "alice", "shop"),
        _render(old, False, 7, "received SIGHUP, reloading configuration files"),
        _render(new, False, 7, _changed(new)),  # the postmaster writes it in the new one
        _render(new, True, 9, AUDIT, "bob", "books"),
        _render(new, False, 7, "checkpoint starting: time"),
    ]


def _who(lines: list[str], prefix: str) -> tuple[list[tuple[str | None, str | None]],
                                                  list[pp.Reject]]:
    rejects: list[pp.Reject] = []
    events = list(pp.parse_lines(lines, prefix=prefix, on_reject=rejects.append))
    return [(e.user, e.database) for e in events], rejects


@pytest.mark.parametrize(("old", "new"), RELOADS)
@pytest.mark.parametrize("given", ["old", "auto"])
def test_a_reload_that_changes_the_prefix_is_followed(old: str, new: str, given: str) -> None:
    """PostgreSQL logs the new prefix when a reload changes it; the lines after it are
    read with it (read with the old one they would give a wrong user or database, or
    be rejects)."""
    lines = _reload_log(old, new)
    users, rejects = _who(lines, old if given == "old" else "auto")
    bob = ("bob", "books") if new != "%m [%p] " else (None, None)
    assert users == [("alice", "shop"), (None, None), (None, None), bob, (None, None)]
    assert rejects == []


def test_a_backend_that_has_not_reloaded_yet_is_read_with_the_previous_prefix() -> None:
    old, new = "%m [%p] %q%u@%d ", "%t [%p]: [%l-1] user=%u,db=%d "
    lines = _reload_log(old, new)
    lines.insert(3, _render(old, True, 10, AUDIT, "carol", "crm"))
    assert _who(lines, old) == ([("alice", "shop"), (None, None), (None, None),
                                 ("carol", "crm"), ("bob", "books"), (None, None)], [])


def test_reset_to_default_is_followed() -> None:
    old = "%t [%p]: [%l-1] user=%u,db=%d "
    lines = [_render(old, True, 8, AUDIT, "alice", "shop"),
             _render("%m [%p] ", False, 7, 'parameter "log_line_prefix" removed from '
                                           "configuration file, reset to default"),
             _render("%m [%p] ", True, 9, AUDIT)]
    events = list(pp.parse_lines(lines, prefix=old))
    assert [(e.user, e.pid, e.message) for e in events] == [
        ("alice", 8, AUDIT), (None, 7, 'parameter "log_line_prefix" removed from '
                              "configuration file, reset to default"), (None, 9, AUDIT)]


def test_a_client_cannot_change_the_prefix_with_raise_log() -> None:
    """Only the postmaster's line counts: a session's ``RAISE LOG`` of the same text (it
    has a user) changes nothing."""
    spec = "%m [%p] %q%u@%d "
    lines = [_render(spec, True, 8, _changed("%m [%p] %q%u "), "mallory", "shop"),
             _render(spec, True, 9, AUDIT, "bob", "books")]
    assert _who(lines, spec)[0] == [("mallory", "shop"), ("bob", "books")]


def test_jobs_reads_a_file_whose_prefix_changes_like_one_process(tmp_path: Path) -> None:
    """``--jobs`` cuts a file with one prefix: a file that announces a new one is read by
    one process (its workers would read the lines after the change with the old one)."""
    import io

    from pgaudit_parse.parallel import parse_file_parallel
    from pgaudit_parse.sinks import OutputSink

    old, new = "%m:%r:%u@%d:[%p]:", "%m:%r:%u@%d/%a:[%p]:"  # old reads new lines wrongly
    after = [_render(new, True, 100 + i, AUDIT, f"u{i}", "books") for i in range(3000)]
    lines = [_render(old, True, 8 + i % 50, AUDIT, f"a{i}", "shop") for i in range(3000)]
    lines += [_render(new, False, 7, _changed(new)), *after]
    log = tmp_path / "reload.log"
    log.write_text("\n".join(lines) + "\n")
    outputs = []
    for jobs in (1, 2):
        out, errors = io.StringIO(), io.StringIO()
        parse_file_parallel(str(log), old, jobs, OutputSink(out, errors, fmt="events"),
                            chunk_bytes=64 * 1024, warmup_bytes=4096, warmup_lines=20)
        outputs.append((out.getvalue(), errors.getvalue()))
    assert outputs[0] == outputs[1]
    assert outputs[0][1] == "" and outputs[0][0].count("\n") == 6001


@pytest.mark.pg
@pytest.mark.parametrize("given", ["old", "auto"])
def test_a_real_servers_reloads_of_the_prefix_read_like_its_csvlog(tmp_path: Path,
                                                                    given: str) -> None:
    """A real PostgreSQL 15 + pgAudit changes log_line_prefix twice by reload (ALTER SYSTEM,
    pg_reload_conf(); then RESET): every audit line of the stderr log gives the user,
    database and application its csvlog record (the answer key, which has no prefix) says,
    and no line is a reject."""
    import time

    from csvlog import read_csvlog
    from pgserver import PgServer
    from workload import RDS_SETTINGS

    first, second = "%m [%p] %q%u@%d ", "%m [%p] [queryid=%Q] %q%u@%d/%a "
    with PgServer(settings={**RDS_SETTINGS, "log_line_prefix": first}) as pg:
        pg.run_sql("CREATE TABLE t (a int); SELECT 1;")
        pg.run_sql(f"ALTER SYSTEM SET log_line_prefix = '{second}'; SELECT pg_reload_conf();")
        time.sleep(0.5)
        pg.run_sql("SELECT 2; INSERT INTO t VALUES (1);")
        pg.run_sql("ALTER SYSTEM RESET log_line_prefix; SELECT pg_reload_conf();")
        time.sleep(0.5)
        pg.run_sql("SELECT 3;")
        pg.stop()
        stderr_log = pg.stderr_log_path.read_bytes()
        rows = list(read_csvlog(pg.csv_log_path))
    log = tmp_path / "postgresql.log"
    log.write_bytes(stderr_log)
    assert stderr_log.count(b'parameter "log_line_prefix"') == 2
    rejects: list[pp.Reject] = []
    events = list(pp.parse_file(str(log), prefix=first if given == "old" else "auto",
                                on_reject=rejects.append))
    assert rejects == []
    audits = [e for e in events if isinstance(e, pp.AuditEvent)]
    got = [(e.pid, e.user, e.database, e.message) for e in audits]
    want = [(r.process_id, r.user_name, r.database_name, r.message)
            for r in rows if r.message.startswith("AUDIT: ")]
    assert got == want and len(got) >= 8
    # the lines written with the second prefix carry the application name (%a)
    apps = {e.application_name for e in audits if "SELECT 2" in e.message
            or "INSERT INTO t" in e.message}
    assert apps == {"psql"}


@pytest.mark.parametrize("command", [[], ["summary"]])
def test_auto_on_a_file_of_continuation_lines_says_so(tmp_path: Path,
                                                      command: list[str]) -> None:
    """A file that starts (and here ends) with continuation lines has no line to choose a
    prefix from: one clear line and exit 2, not advice to try the --prefix auto just given."""
    log = tmp_path / "rotated.log"
    log.write_text("\tselect 1\n\tfrom t;\n\n")
    result = _cli(*command, "--prefix", "auto", str(log))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "no line matches" in line]
    assert len(lines) == 1 and "--prefix auto found no line" in lines[0], result.stderr
    assert "try --prefix auto" not in result.stderr and "Traceback" not in result.stderr
