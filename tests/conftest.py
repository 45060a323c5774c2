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

from collections.abc import Iterator
from pathlib import Path

import pytest
from workload import SERVER_CONFIGS, ServerRun, run_config  # tests/ is on pythonpath

TESTS_DIR = Path(__file__).resolve().parent

#: Fixtures that start a real PostgreSQL (directly or through ``server_run``).
PG_FIXTURES = frozenset({"server_run", "live_rds_log"})
#: Fixtures that start moto's server (tests/aws, tests/ops).
AWS_FIXTURES = frozenset({"moto_endpoint", "moto_url"})

# --doctest-modules would import this file as a module named "conftest", which clashes
# with the conftest.py of subdirectories (no __init__.py here); it has no doctests.
collect_ignore = ["conftest.py"]


@pytest.fixture(scope="session", params=sorted(SERVER_CONFIGS))
def server_run(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerRun]:
    """A finished workload run on a real server, once per configuration per session."""
    yield run_config(request.param, tmp_path_factory.mktemp(f"pg-{request.param}"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by what they start, so ``-m "not pg and not aws"`` is the quick loop:
    ``pg`` (a real PostgreSQL), ``aws`` (moto's server), both also ``integration``;
    ``slow`` for those and for property tests (hypothesis). CI runs every marker."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        marks = {mark.name for mark in item.iter_markers()}
        if used & PG_FIXTURES or "pg" in marks:
            item.add_marker(pytest.mark.pg)
            marks.add("integration")
        if used & AWS_FIXTURES or "aws" in marks:
            item.add_marker(pytest.mark.aws)
            marks.add("integration")
        if "integration" in marks:
            item.add_marker(pytest.mark.integration)
        function = getattr(item, "obj", None)
        if ("integration" in marks or getattr(function, "is_hypothesis_test", False)) \
                and "slow" not in marks:
            item.add_marker(pytest.mark.slow)
