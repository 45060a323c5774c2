"""docs/scale.md's three architectures run from their documented command against moto and
local Spark, and each gives the same records as the CLI on the same log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("log", ["real-rds.log"])
def test_every_architecture_gives_the_files_records(log: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "scripts/demo_scale.py", "--log", f"fixtures/{log}",
         "--keep", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    verdicts = [line for line in result.stdout.splitlines() if " records, " in line]
    assert [v.split(":")[0] for v in verdicts] == [
        "subscription -> Lambda -> SQS", "subscription -> Firehose", "archive -> Spark"]
    assert all(v.endswith("the same as the file") for v in verdicts), verdicts
    kept = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert len(kept) == 3 and all((tmp_path / k).stat().st_size > 0 for k in kept)
    assert "AWS_SECRET" not in result.stdout + result.stderr
