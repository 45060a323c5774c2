"""The markers say what a test starts (``pg``, ``aws``, both ``integration``; ``slow`` also
for property tests), so ``-m "not slow"`` is a quick loop and CI, which selects nothing,
still runs everything."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _selected(marker: str, *paths: str) -> tuple[int, int]:
    """(selected, collected) test counts of ``pytest -m MARKER PATHS``."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-m", marker,
                           *(str(TESTS / p) for p in paths)],
                          capture_output=True, text=True, timeout=300, cwd=TESTS.parent)
    tail = done.stdout.strip().splitlines()[-1]
    none = re.search(r"no tests collected \((\d+) deselected\)", tail)
    if none:
        return 0, int(none.group(1))
    match = re.search(r"(\d+)/(\d+) tests? collected", tail)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = re.search(r"(\d+) tests? collected", tail)
    assert match, done.stdout[-2000:] + done.stderr[-2000:]
    return int(match.group(1)), int(match.group(1))


def test_tests_that_start_a_server_are_marked() -> None:
    """The real-server tests are ``pg`` (but those that read only fixtures), the AWS tests
    that use the emulator are ``aws`` (but the unit tests of message bodies and checkpoint
    files); both are integration and slow."""
    selected, total = _selected("pg", "test_real_server.py")
    assert selected >= total // 2 > 0
    selected, total = _selected("aws", "aws")
    assert selected >= total // 2 > 0
    assert _selected("(pg or aws) and not (integration and slow)", ".")[0] == 0


def test_unit_tests_are_in_the_quick_loop() -> None:
    selected, total = _selected("not slow", "test_cli.py", "test_layers.py")
    assert selected == total > 0


def test_property_tests_are_slow() -> None:
    selected, total = _selected("slow", "test_prefix_properties.py")
    assert 0 < selected <= total
