"""The HTML report, rendered by a real headless Chromium (Debian's ``chromium``)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from pgaudit_parse import parse_file
from pgaudit_parse.cli import main
from pgaudit_parse.ops.html_report import COLORS, render_html
from pgaudit_parse.ops.summary import Summary

FIXTURE = Path(__file__).with_name("sample-rds.log")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is missing: apt-get install chromium (scripts/debian-packages.txt)"
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", "--hide-scrollbars",
        "--force-device-scale-factor=1", f"--user-data-dir={profile}", *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit, non-interlaced RGB/RGBA PNG into rows of raw pixel bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, width, height, channels = 8, b"", 0, 0, 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, channels, rows


def _count_color(rows: list[bytes], channels: int, hex_color: str) -> int:
    target = bytes.fromhex(hex_color[1:])
    count = 0
    for row in rows:
        for x in range(0, len(row), channels):
            pixel = row[x:x + 3]
            if all(abs(a - b) <= 3 for a, b in zip(pixel, target, strict=True)):
                count += 1
    return count


def _report(tmp_path: Path) -> tuple[Path, Summary]:
    report = tmp_path / "report.html"
    assert main(["summary", str(FIXTURE), "--html", str(report), "--quiet"]) == 0
    summary = Summary()
    for event in parse_file(str(FIXTURE)):
        summary.add(event)
    return report, summary


def test_report_is_self_contained(tmp_path, capsys) -> None:
    report, _ = _report(tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "default-src 'none'" in text  # the page may load nothing
    assert not re.search(r"""(?:src|href)\s*=|url\(|@import|https?://""",
                         text.replace('http-equiv="Content-Security-Policy"', ""))
    assert "<script" not in text


def test_chromium_renders_both_charts(tmp_path, capsys) -> None:
    report, summary = _report(tmp_path)
    data = summary.to_dict()

    dom = _chromium(tmp_path, "--dump-dom", report.as_uri()).stdout

    assert dom.count("<svg") == 2
    timeline = dom[dom.index('class="chart timeline"'):]
    timeline = timeline[:timeline.index("</svg>")]
    expected = sum(1 for _, counts in data["histogram"] for c in counts if c)
    assert len(re.findall(r'<rect class="bar ', timeline)) == expected
    users = dom[dom.index('class="chart users"'):]
    users = users[:users.index("</svg>")]
    for user, counts in data["top_users"]:
        assert f">{user}</text>" in users
        assert sum(int(n) for n in re.findall(
            rf"<title>{re.escape(user)}: (\d+) ", users)) == sum(counts)

    screenshot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1000,1400",
              report.as_uri())
    width, channels, rows = _png_pixels(screenshot.read_bytes())
    assert width == 1000
    # The bars were painted: many pixels of each kind's colour that has events.
    assert _count_color(rows, channels, COLORS["audit"]) > 2000
    assert _count_color(rows, channels, COLORS["login_failed"]) > 300
    assert _count_color(rows, channels, COLORS["error"]) > 300


def test_empty_summary_renders_without_charts() -> None:
    text = render_html(Summary(), title="nothing <here>")
    assert "<svg" not in text and "nothing &lt;here&gt;" in text
