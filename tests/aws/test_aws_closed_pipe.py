"""``pgaudit-parse sqs|cloudwatch ... | head``: when the reader of stdout has gone, the
command ends quietly with 141 (like ``cat``), and nothing it could not write is
acknowledged (the SQS messages stay on the queue)."""

from __future__ import annotations

import os
import subprocess

from aws_harness import REPO, Aws
from aws_logdata import BASE_MS, audit_line

#: 128 + SIGPIPE, what the CLI documents for a closed output pipe.
BROKEN_PIPE_STATUS = 141


def _into_closed_pipe(aws: Aws, *args: str) -> subprocess.CompletedProcess[str]:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(aws.argv(*args), stdout=write_end, stderr=subprocess.PIPE,
                              text=True, env=aws.env(), cwd=REPO, timeout=120)
    finally:
        os.close(write_end)


def test_sqs_into_a_closed_pipe(aws: Aws) -> None:
    url = aws.queue(aws.unique("pipe"), visibility_timeout=1)
    events = [(BASE_MS + n, audit_line(BASE_MS + n, 40, n)) for n in range(50)]
    sent = aws.send_forwarder_messages(url, "/aws/rds/instance/db1/postgresql", "db1",
                                       events, 5)
    result = _into_closed_pipe(aws, "sqs", "--queue-url", url, "--wait-seconds", "0")
    assert (result.returncode, result.stderr) == (BROKEN_PIPE_STATUS, "")
    visible, in_flight = aws.queue_depth(url)
    assert visible + in_flight == sent  # nothing was deleted


def test_cloudwatch_into_a_closed_pipe(aws: Aws) -> None:
    group = aws.log_group(f"/aws/rds/instance/{aws.unique('pipe')}/postgresql", ["db1"])
    aws.put(group, "db1", [(BASE_MS + n, audit_line(BASE_MS + n, 40, n)) for n in range(50)])
    result = _into_closed_pipe(aws, "cloudwatch", "--log-group", group, "--from-beginning")
    assert (result.returncode, result.stderr) == (BROKEN_PIPE_STATUS, "")
