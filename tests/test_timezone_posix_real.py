"""``--timezone`` with a POSIX zone string, read as PostgreSQL reads it: a real PostgreSQL 15
writes its log in ``log_timezone`` = that string, and the events' timestamps must be the
moments the server's own epoch (``%n``) gives.

PostgreSQL follows POSIX: ``UTC+3`` is three hours *behind* UTC (and ``%t`` then prints
the abbreviation ``UTC`` on a local time three hours behind). python-dateutil alone reads
``UTC+3`` and ``GMT+3`` the other way round, six hours off.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from pgserver import PgServer

pytestmark = pytest.mark.pg

PREFIX = "%t [%p] n=%n "
ZONES = ["UTC+3", "UTC-5:30", "GMT+3", "XYZ+3", "<-03>+3", "EST5EDT", "America/Sao_Paulo"]
_EPOCH = re.compile(r"\bn=(\d+)\.\d+ ")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("posix-zones")
    found = {}
    for i, zone in enumerate(ZONES):
        with PgServer(settings={"log_timezone": zone, "log_line_prefix": PREFIX,
                                "log_statement": "all"}) as pg:
            pg.run_sql("SELECT 1;")
            pg.stop()
            path = out / f"{i}.log"
            path.write_bytes(pg.stderr_log_path.read_bytes())
            found[zone] = str(path)
    return found


@pytest.mark.parametrize("zone", ZONES)
def test_timestamps_are_the_servers_moments(logs: dict[str, str], zone: str) -> None:
    path = logs[zone]
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", "events",
                           "--prefix", PREFIX, "--timezone", zone, path],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    raw = [line for line in open(path, encoding="utf-8") if _EPOCH.search(line)]
    assert len(events) == len(raw) >= 3
    for event, line in zip(events, raw, strict=True):
        epoch = int(_EPOCH.search(line).group(1))  # type: ignore[union-attr]
        moment = datetime.fromisoformat(event["timestamp"])
        # (%t reads the clock apart from %n: they may be a second apart)
        gap = (moment - datetime.fromtimestamp(epoch, timezone.utc)).total_seconds()
        assert abs(gap) <= 1, (zone, line, event["timestamp"])
