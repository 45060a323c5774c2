"""``summary`` and ``--html`` with hostile text from the log: HTML that a browser reads as
text only, terminal output that carries no control sequence, passwords never shown, and
the edge inputs (empty file, rejects only, several files)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_html_report import _chromium

from pgaudit_parse.cli import main

PREFIX = "2026-11-25 16:33:{s:02d} UTC:10.0.0.5(37930):{user}@{db}:[2089]:"
HOSTILE_USER = 'al<b>ice"\''
HOSTILE_DB = "sh<i>op&amp;"
#: Text that must reach the reader as text, wherever the summary shows it.
MARKUP = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>",
          "</td></tr></table><script>alert(3)</script>", "<svg onload=alert(4)>",
          "&lt;not-an-entity&gt;", "ünïcødé 🎉"]
SECRET = "hunter2-secret"


def _line(second: int, text: str, user: str = HOSTILE_USER, db: str = HOSTILE_DB) -> str:
    return PREFIX.format(s=second, user=user, db=db) + text


def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _hostile_log(path: Path) -> Path:
    lines = []
    for i, markup in enumerate(MARKUP):
        lines.append(_line(i, f"LOG:  AUDIT: SESSION,{i + 1},1,DDL,CREATE TABLE,TABLE,"
                              f"{_csv('public.' + chr(34) + markup + chr(34))},"
                              f"{_csv('create table x (a text default ' + repr(markup) + ')')}"
                              f",<none>"))
        lines.append(_line(i, f"ERROR:  relation \"{markup}\" does not exist"))
        lines.append(_line(i, f"STATEMENT:  select * from \"{markup}\""))
    lines.append(_line(30, f"LOG:  AUDIT: SESSION,9,1,ROLE,ALTER ROLE,,,"
                           f"ALTER ROLE bob PASSWORD '{SECRET}',<none>"))
    lines.append(PREFIX.format(s=31, user="<svg/onload=alert(5)>", db="shop")
                 + 'FATAL:  password authentication failed for user "<svg/onload=alert(5)>"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}

    def handle_data(self, data: str) -> None:
        self.text.append(data)


#: The elements and attributes the report itself writes.
OWN_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "div", "b",
            "span", "i", "table", "thead", "tbody", "tr", "th", "td", "svg", "line", "text",
            "rect"}
OWN_ATTRIBUTES = {"lang", "charset", "http-equiv", "content", "name", "class", "style", "width",
                  "height", "viewbox", "role", "aria-label", "x", "y", "x1", "y1", "x2", "y2",
                  "stroke", "text-anchor", "fill", "data-count"}


def test_logged_markup_is_text_in_the_html_report(tmp_path, capsys) -> None:
    log = _hostile_log(tmp_path / "hostile.log")
    report = tmp_path / "report.html"

    assert main(["summary", str(log), "--html", str(report)]) == 0
    capsys.readouterr()
    html = report.read_text(encoding="utf-8")

    parsed = _Elements()
    parsed.feed(html)
    assert parsed.tags <= OWN_TAGS, parsed.tags - OWN_TAGS
    assert parsed.attributes <= OWN_ATTRIBUTES, parsed.attributes - OWN_ATTRIBUTES
    text = "".join(parsed.text)
    for markup in [*MARKUP, HOSTILE_USER, HOSTILE_DB]:
        assert markup in text, markup
    assert SECRET not in html

    # What a browser builds from it: no element the log wrote.
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri()).stdout
    assert not re.search(r"<(?:script|img)\b", dom)
    assert "onerror=" not in re.sub(r"&lt;[^<]*", "", dom)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("hostile", ["\x1b[2J\x1b[31mred", "\x1b]0;title\x07", "a\rb",
                                     "right\u202eto-left", "bell\x07", "c1\x9bcsi"])
def test_terminal_output_carries_no_control_sequence(tmp_path, capsys, hostile: str) -> None:
    """A logged text with ESC, BEL, CR, C1 or bidi controls is shown escaped: printed raw,
    it would drive the reader's terminal (clear it, set its title, hide lines)."""
    lines = [
        _line(1, f"LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,{_csv('public.' + hostile)},"
                 f"{_csv('select 1 /* ' + hostile + ' */')},<none>", user="alice", db="shop"),
        _line(2, f"ERROR:  relation \"{hostile}\" does not exist", user="alice", db="shop"),
        _line(3, "LOG:  AUDIT: SESSION,2,1,DDL,CREATE TABLE,TABLE,public.t,"
                 f"{_csv('create table t (a text default ' + repr(hostile) + ')')},<none>",
              user="alice", db="shop"),
    ]
    log = tmp_path / "esc.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert main(["summary", str(log)]) == 0
    out = capsys.readouterr().out
    assert not _CONTROL.search(out), repr(_CONTROL.search(out))
    visible = hostile.encode("unicode_escape").decode("ascii")
    assert visible in out, out

    assert main(["--summary", "-q", str(log), "-o", str(tmp_path / "records.jsonl")]) == 0
    err = capsys.readouterr().err
    assert not _CONTROL.search(err), repr(_CONTROL.search(err))


def test_a_name_with_a_newline_stays_on_its_row(tmp_path, capsys) -> None:
    log = tmp_path / "nl.log"
    name = 'public."two\n\tlines"'  # PostgreSQL writes a TAB after a newline in a message
    log.write_text(_line(1, f"LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,{_csv(name)},"
                            "select 1,<none>", user="alice", db="shop") + "\n",
                   encoding="utf-8")
    assert main(["summary", str(log)]) == 0
    out = capsys.readouterr().out
    rows = [row for row in out.splitlines() if "two" in row or "lines" in row]
    assert rows and all("two" in row and "lines" in row for row in rows), out


def test_empty_rejects_only_and_several_files(tmp_path, capsys) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert main(["summary", str(empty)]) == 0
    assert capsys.readouterr().out.startswith("Summary: 0 events\n")

    torn = tmp_path / "torn.log"  # every line a reject (torn pgAudit payloads)
    torn.write_text(_line(1, 'LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,"public.t',
                          user="alice", db="shop") + "\n"
                    + _line(2, "LOG:  AUDIT: SESSION,x", user="alice", db="shop") + "\n")
    assert main(["summary", str(torn), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["events"] == 0 and data["rejects"] == 2

    junk = tmp_path / "junk.log"  # no line of the prefix: a usage error, said once
    junk.write_text("not a log line\nnor this one\n")
    assert main(["summary", str(junk), "--json"]) == 2
    assert "no line matches log_line_prefix" in capsys.readouterr().err

    one = tmp_path / "one.log"
    two = tmp_path / "two.log"
    one.write_text(_line(1, "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
                         user="alice", db="shop") + "\n")
    two.write_text(_line(2, "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 2,<none>",
                         user="bob", db="shop") + "\n")
    assert main(["summary", str(one), str(two), str(torn), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["audit_executions"] == 2 and data["rejects"] == 2
    assert dict(data["by_user"]) == {"alice": 1, "bob": 1}


def test_a_real_servers_csvlog_summary_counts_what_the_csvlog_says(server_run, capsys) -> None:
    """Per database, per command and errors by SQLSTATE and severity, and the commands of
    the DDL and ROLE change lists: the summary of the csvlog equals a plain csv reading."""
    from collections import Counter

    from csvlog import audit_fields, execution_of

    rows = server_run.csv_rows()
    assert main(["summary", "--json", "--quiet", "--top", "1000", "--timezone",
                 server_run.log_timezone, str(server_run.csv_log)]) == 0
    data = json.loads(capsys.readouterr().out)

    first = execution_of(rows)
    database: Counter[str] = Counter()
    commands: set[tuple[tuple[str, str, str], str]] = set()
    changes: Counter[str] = Counter()
    seen: set[tuple[str, str, str]] = set()
    for r in rows:
        if r.message.startswith("AUDIT: "):
            fields = audit_fields(r.message)
            ids = (r.session_id, fields[1], fields[2])
            if ids in seen:
                continue
            seen.add(ids)
            if first[ids] == ids:
                database[r.database_name or "-"] += 1
            if (first[ids], fields[4]) not in commands:
                commands.add((first[ids], fields[4]))
                if fields[3] in ("DDL", "ROLE"):
                    changes[fields[4]] += 1
    errors = Counter((r.sql_state_code, r.error_severity) for r in rows
                     if r.error_severity in ("ERROR", "FATAL", "PANIC")
                     and r.sql_state_code not in ("28P01", "28000"))

    assert database and errors and changes
    assert dict(data["by_database"]) == dict(database)
    assert dict(data["by_command"]) == dict(Counter(command for _, command in commands))
    shown: Counter[tuple[str, str]] = Counter()
    for sqlstate, severity, _message, count in data["errors"]:
        shown[(sqlstate, severity)] += count
    assert shown == errors
    listed = Counter(c["command"] for c in data["ddl_changes"] + data["privilege_changes"])
    assert data["ddl_changes_omitted"] == data["privilege_changes_omitted"] == 0
    assert listed == changes
