"""Shared fixtures: one real PostgreSQL 15 + pgAudit run per configuration, per session.

``server_run`` starts a :class:`~pgserver.PgServer` with the ``rds``, ``rich`` or
``verbose`` settings, runs :data:`workload.SESSIONS` once, stops the server (so the
logging collector has written everything), keeps copies of the stderr log and the
csvlog, and removes the cluster. Tests then read the two files; nothing else keeps the server alive.

>>> def test_something(server_run):                     # doctest: +SKIP
...     assert server_run.stderr_log.read_text()
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # helpers (pgserver, workload, csvlog) live here
    sys.path.insert(0, str(TESTS_DIR))

from csvlog import CsvLogRow, read_csvlog  # noqa: E402
from pgserver import PgServer  # noqa: E402
from workload import RDS_SETTINGS, RICH_SETTINGS, VERBOSE_SETTINGS, run_workload  # noqa: E402

#: The server configurations the real-server tests run, by name.
SERVER_CONFIGS: dict[str, dict[str, str]] = {
    "rds": RDS_SETTINGS, "rich": RICH_SETTINGS, "verbose": VERBOSE_SETTINGS,
}


@dataclass(frozen=True)
class ServerRun:
    """What one workload run left behind: its settings and the two log files."""

    name: str
    settings: dict[str, str]
    stderr_log: Path
    csv_log: Path

    @property
    def prefix(self) -> str:
        """The ``log_line_prefix`` the server used."""
        return self.settings["log_line_prefix"]

    @property
    def log_timezone(self) -> str:
        """The ``log_timezone`` the server used."""
        return self.settings["log_timezone"]

    def csv_rows(self) -> list[CsvLogRow]:
        """The csvlog records, in file order."""
        return list(read_csvlog(self.csv_log))


def _run_config(name: str, out_dir: Path) -> ServerRun:
    settings = SERVER_CONFIGS[name]
    with PgServer(settings=settings) as pg:
        run_workload(pg)
        pg.stop()
        stderr_log = out_dir / "postgresql.log"
        csv_log = out_dir / "postgresql.csv"
        shutil.copyfile(pg.stderr_log_path, stderr_log)
        shutil.copyfile(pg.csv_log_path, csv_log)
    return ServerRun(name, dict(settings), stderr_log, csv_log)


@pytest.fixture(scope="session", params=sorted(SERVER_CONFIGS))
def server_run(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerRun]:
    """A finished workload run on a real server, once per configuration per session."""
    yield _run_config(request.param, tmp_path_factory.mktemp(f"pg-{request.param}"))
