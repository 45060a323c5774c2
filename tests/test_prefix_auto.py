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
