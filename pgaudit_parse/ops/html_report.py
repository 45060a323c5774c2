"""A self-contained HTML report of a :class:`~pgaudit_parse.ops.summary.Summary`.

One file, no external URL: inline CSS, charts as inline SVG drawn here (events over time,
stacked by kind; top users), tables for the rest. A Content-Security-Policy forbids the
page to load anything, so it opens the same offline, in a mail attachment or a browser.

>>> from pgaudit_parse.ops.summary import Summary
>>> "<svg" in render_html(Summary(), title="empty")
False
"""

from __future__ import annotations

import html
import os
import tempfile
from datetime import datetime, timezone
from typing import Any, Final

from pgaudit_parse.ops.summary import (
    KIND_GROUPS,
    Summary,
    bucket_time,
    format_time,
    width_text,
)

__all__ = ["render_html", "write_html", "COLORS"]

#: Fill colour per kind group (audit, error, login_failed, other).
COLORS: Final = {"audit": "#4e79a7", "error": "#e15759", "login_failed": "#f28e2b",
                 "other": "#9c9c9c"}
_LABELS: Final = {"audit": "audit", "error": "errors", "login_failed": "failed logins",
                  "other": "other"}

_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;
color:#1d2733;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6672;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #d8dde3;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;margin:4px 0 8px;font-size:13px}
th,td{border-bottom:1px solid #e3e7eb;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.sql{font-family:ui-monospace,Menlo,Consolas,monospace;max-width:720px;word-break:break-word}
.grid{display:flex;flex-wrap:wrap;gap:28px}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px}
svg text{font:11px system-ui,sans-serif;fill:#3b4650}
.note{color:#5b6672;font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape("-" if value is None else str(value), quote=True)


def _time(epoch: float, width: int) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%d" if width >= 86400 else "%Y-%m-%d %H:%M")


def _legend() -> str:
    items = "".join(f'<span><i style="background:{COLORS[k]}"></i>{_LABELS[k]}</span>'
                    for k in KIND_GROUPS)
    return f'<div class="legend">{items}</div>'


def _timeline_svg(buckets: list[tuple[int, list[int]]], width_s: int) -> str:
    """Stacked bars: one per time bucket, one segment per kind group."""
    if not buckets:
        return '<p class="note">No timestamped events.</p>'
    width, height, left, bottom, top = 900, 260, 46, 34, 12
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max(sum(counts) for _, counts in buckets) or 1
    step = plot_w / len(buckets)
    bar_w = max(step * 0.85, 1.0)
    parts = [f'<svg class="chart timeline" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="events over time">']
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" '
                     f'stroke="#e3e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{round(peak * fraction)}</text>')
    for index, (start, counts) in enumerate(buckets):
        x = left + index * step
        y = top + plot_h
        label = _time(start, width_s)
        for group, count in zip(KIND_GROUPS, counts, strict=True):
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(
                f'<rect class="bar {group}" x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" '
                f'height="{h:.2f}" fill="{COLORS[group]}" data-count="{count}">'
                f'<title>{_e(label)}: {count} {_LABELS[group]}</title></rect>')
    ticks = sorted({0, len(buckets) // 2, len(buckets) - 1})
    for index in ticks:
        x = left + index * step + bar_w / 2
        anchor = "start" if index == 0 else "end" if index == len(buckets) - 1 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="{anchor}">'
                     f'{_e(_time(buckets[index][0], width_s))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _users_svg(users: list[tuple[str, list[int]]]) -> str:
    """Horizontal stacked bars: events per user, by kind group."""
    if not users:
        return '<p class="note">No events with a user.</p>'
    row, label_w, width = 24, 150, 900
    height = row * len(users) + 10
    plot_w = width - label_w - 70
    peak = max(sum(counts) for _, counts in users) or 1
    parts = [f'<svg class="chart users" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="top users">']
    for index, (user, counts) in enumerate(users):
        y = 5 + index * row
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
                     f'{_e(user[:24])}</text>')
        x = float(label_w)
        for group, count in zip(KIND_GROUPS, counts, strict=True):
            if not count:
                continue
            w = plot_w * count / peak
            parts.append(
                f'<rect class="bar {group}" x="{x:.2f}" y="{y + 3}" width="{w:.2f}" '
                f'height="{row - 8}" fill="{COLORS[group]}" data-count="{count}">'
                f'<title>{_e(user)}: {count} {_LABELS[group]}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}">{sum(counts)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[Any]], numeric_last: bool = True,
           sql_column: int | None = None) -> str:
    if not rows:
        return '<p class="note">None.</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="n"' if numeric_last and i == len(row) - 1 else (
                ' class="sql"' if i == sql_column else "")
            cells.append(f"<td{cls}>{_e(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _note(text: str) -> str:
    return f' <span class="note">({_e(text)})</span>'


def _changes_table(changes: list[dict[str, Any]], omitted: int) -> str:
    rows = [[format_time(datetime.fromisoformat(c["timestamp"])) if c["timestamp"] else "-",
             c["user"], c["database"], c["command"], c["object"], c["statement"]]
            for c in changes]
    more = f'<p class="note">{omitted} older not listed.</p>' if omitted else ""
    return _table(["time", "user", "database", "command", "object", "statement"], rows,
                  numeric_last=False, sql_column=5) + more


def render_html(summary: Summary, title: str = "pgAudit summary") -> str:
    """The whole report as one HTML document; every heading says what it counts."""
    data = summary.to_dict()
    counts = data["counts"]
    cards = [("messages", data["events"]),
             ("audited statements", data["audit_executions"])]
    cards += [(_LABELS.get(k, k) + " (messages)", v) for k, v in data["by_kind"]]
    if data["rejects"]:
        cards.append(("rejected lines", data["rejects"]))
    cards_html = "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards)
    span = (f"{_e(format_time(summary.first))} to {_e(format_time(summary.last))}"
            if summary.first else "no timestamped events")
    width_s = int(data["histogram_width"])
    per_bar = f"{counts['histogram']}; one bar per {width_text(width_s)}"
    charts = ""
    if data["events"]:
        charts = (
            f"<h2>Events over time{_note(per_bar)}</h2>{_legend()}"
            f"{_timeline_svg(data['histogram'], width_s)}"
            f"<h2>Top users{_note(counts['top_users'])}</h2>{_users_svg(data['top_users'])}"
        )
    small = "".join(
        f"<div><h2>{_e(name)}{_note('statements, one per execution')}</h2>"
        f"{_table([column, 'statements'], data[key])}</div>"
        for name, column, key in (("Per user", "user", "by_user"),
                                  ("Per database", "database", "by_database"),
                                  ("Per class", "class", "by_class"),
                                  ("Per command", "command", "by_command"))
    )
    groups = ["audit statements", "failed logins", "errors", "all messages"]
    mixed = _note("audit statements: one per execution; the rest: messages")
    over_time = [[bucket_time(int(datetime.fromisoformat(start).timestamp()), width_s), n]
                 for start, n in data["failed_logins_over_time"]]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="sub">{span}</p>
<div class="cards">{cards_html}</div>
{charts}
<h2>Who did what{_note(counts['who_did_what'])}</h2>
{_table(['user', 'database', 'class', 'command', 'statements'], data['who_did_what'])}
<div class="grid">{small}</div>
<h2>Objects touched{_note(counts['objects'])}</h2>
{_table(['object', 'type', 'statements'], data['objects'])}
<h2>Client addresses{mixed}</h2>
{_table(['client', *groups], data['clients'])}
<h2>Application names{mixed}</h2>
{_table(['application', *groups], data['applications'])}
<h2>Failed logins{_note(counts['failed_logins'])}</h2>
{_table(['user', 'client', 'attempts'], data['failed_logins'])}
<h2>Failed logins over time{_note('attempts per ' + width_text(width_s))}</h2>
{_table(['from', 'attempts'], over_time)}
<h2>Privilege changes{_note(counts['privilege_changes'])}</h2>
{_changes_table(data['privilege_changes'], data['privilege_changes_omitted'])}
<h2>DDL changes{_note(counts['ddl_changes'])}</h2>
{_changes_table(data['ddl_changes'], data['ddl_changes_omitted'])}
<h2>Errors{_note(counts['errors'])}</h2>
{_table(['sqlstate', 'severity', 'message', 'messages'], data['errors'])}
<p class="note">Generated by pgaudit-parse summary.</p>
</body></html>
"""


def write_html(summary: Summary, path: str, title: str = "pgAudit summary") -> None:
    """Write :func:`render_html` to ``path`` atomically (temporary file, then rename)."""
    text = render_html(summary, title)
    if os.path.exists(path) and not os.path.isfile(path):
        # A device or pipe (/dev/stdout, a FIFO): renaming onto it would replace it.
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as out:
            out.write(text)
        return
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".summary-", suffix=".html", dir=directory)
    try:
        # (a lone surrogate from a JSON input is shown as its escape, \ud800)
        with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace") as out:
            out.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; a report is to be shared
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
