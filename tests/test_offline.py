"""What needs no AWS works without boto3: file mode, ``summary``, ``iam-policy``.

Each command runs in a subprocess where importing boto3 or botocore fails, as on an
install without the ``aws`` extra; the output equals the output with boto3 present."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RDS_LOG = str(FIXTURES / "rds-postgresql.log")

#: Runs the CLI with boto3 and botocore unimportable (a None in sys.modules blocks them).
WITHOUT_BOTO3 = ("import sys; sys.modules.update(boto3=None, botocore=None); "
                 "from pgaudit_parse.cli import main; raise SystemExit(main(sys.argv[1:]))")
WITH_BOTO3 = "import sys; from pgaudit_parse.cli import main; raise SystemExit(main(sys.argv[1:]))"

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/audit"


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120)


def test_boto3_is_really_blocked() -> None:
    result = _run(WITHOUT_BOTO3.replace("from pgaudit_parse.cli", "import boto3; from "
                                        "pgaudit_parse.cli"))
    assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr


@pytest.mark.parametrize("args", [
    ["summary", RDS_LOG],
    ["summary", "--json", RDS_LOG],
    ["--format", "events", RDS_LOG],
    ["iam-policy", "consumer", "--queue-url", QUEUE_URL],
    ["iam-policy", "forwarder", "--queue-url", QUEUE_URL, "--log-group",
     "/aws/rds/instance/db1/postgresql"],
    ["iam-policy", "cloudwatch-reader", "--log-group", "/aws/rds/instance/db1/postgresql"],
], ids=lambda args: " ".join(a for a in args if not a.startswith("/")))
def test_offline_commands_need_no_boto3(args: list[str]) -> None:
    offline = _run(WITHOUT_BOTO3, *args)
    online = _run(WITH_BOTO3, *args)
    assert offline.returncode == 0, offline.stderr
    assert (offline.stdout, offline.stderr) == (online.stdout, online.stderr)
    assert offline.stdout


@pytest.mark.parametrize("command", ["doctor", "cloudwatch", "sqs", "forward", "rds"])
def test_aws_commands_say_what_to_install(command: str) -> None:
    args = {"doctor": [], "cloudwatch": ["--log-group", "g"], "sqs": ["--queue-url", QUEUE_URL],
            "forward": ["--log-group", "g", "--queue-url", QUEUE_URL],
            "rds": ["setup", "--instance", "db1"]}[command]
    result = _run(WITHOUT_BOTO3, command, *args)
    assert result.returncode == 2
    assert result.stderr == (f"pgaudit-parse: '{command}' needs the aws extra: "
                             "pip install -e '.[aws]'\n")
