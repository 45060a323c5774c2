"""Shared fixtures: one real PostgreSQL 15 + pgAudit run per configuration, per session.

``server_run`` starts a :class:`~pgserver.PgServer` with the ``rds``, ``rich`` or
``verbose`` settings, runs :data:`workload.SESSIONS` once, stops the server (so the
logging collector has written everything), keeps copies of the stderr log and the
csvlog, and removes the cluster. Tests then read the two files; nothing else keeps the
server alive. Use it like this::

    def test_something(server_run):
        assert server_run.stderr_log.read_text()
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # helpers (pgserver, workload, csvlog) live here
    sys.path.insert(0, str(TESTS_DIR))

from workload import SERVER_CONFIGS, ServerRun, run_config  # noqa: E402

# --doctest-modules would import this file as a module named "conftest", which clashes
# with the conftest.py of subdirectories (no __init__.py here); it has no doctests.
collect_ignore = ["conftest.py"]


@pytest.fixture(scope="session", params=sorted(SERVER_CONFIGS))
def server_run(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerRun]:
    """A finished workload run on a real server, once per configuration per session."""
    yield run_config(request.param, tmp_path_factory.mktemp(f"pg-{request.param}"))
