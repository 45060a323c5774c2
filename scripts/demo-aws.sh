#!/usr/bin/env bash
# The whole AWS pipeline without an AWS account: start moto's AWS emulator on 127.0.0.1,
# put a real PostgreSQL + pgAudit log into CloudWatch Logs, then run the documented
# commands (forward: CloudWatch -> SQS; sqs: SQS -> records; cloudwatch: direct), and
# stop the emulator. Needs `pip install -e '.[demo]'` (boto3 and moto's server).
#
#     bash scripts/demo-aws.sh              # the pipeline (docs/aws-pipeline.md)
#     bash scripts/demo-aws.sh operations   # doctor and rds setup on an emulated
#                                           # RDS instance (docs/operations.md)
#
# Each command is printed after "+ ", then its output (stdout and stderr), then
# "[exit N]" when it fails. docs/aws.md shows this output; a test compares the two.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
moto_pid=
cleanup() {
    if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# This checkout's code, whether or not it is the installed one.
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
pgaudit-parse() { python3 -m pgaudit_parse "$@"; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
started=
for _ in $(seq 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
        started=yes
        break
    fi
    sleep 0.2
done
if [ -z "$started" ]; then
    echo "demo-aws.sh: moto's server did not start (pip install -e '.[demo]'?):" >&2
    tail -n 5 "$work/moto.log" >&2
    exit 2
fi

# Dummy credentials for the emulator; every AWS client (ours, boto3's) goes to it.
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=eu-west-1
export AWS_DEFAULT_REGION=eu-west-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port"
unset AWS_PROFILE AWS_SESSION_TOKEN

cd "$work"
ln -s "$repo/fixtures" fixtures
ln -s "$repo/scripts" scripts

show() {
    printf '+ %s\n' "$1"
    local status=0
    eval "$1" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then echo "[exit $status]"; fi
}

group=/aws/rds/instance/database-1/postgresql
queue="http://127.0.0.1:$port/123456789012/PostgresQueue"

pipeline() {
    show "python3 scripts/demo-aws-load.py fixtures/real-rds.log"
    show "pgaudit-parse forward --log-group $group --queue-url $queue --checkpoint-parameter LastExecutionTimestamp --from-beginning"
    show "pgaudit-parse forward --log-group $group --queue-url $queue --checkpoint-parameter LastExecutionTimestamp"
    show "pgaudit-parse sqs --queue-url $queue --account-id 123456789012 --output from-sqs.jsonl --errors rejects.jsonl"
    show "pgaudit-parse cloudwatch --log-group $group --from-beginning --checkpoint db1.checkpoint --account-id 123456789012 --output from-cloudwatch.jsonl"
    show "pgaudit-parse cloudwatch --log-group $group --checkpoint db1.checkpoint --account-id 123456789012 --output from-cloudwatch.jsonl"
    show "pgaudit-parse fixtures/real-rds.log --account-id 123456789012 --instance database-1 --output direct.jsonl"
    show "diff <(sort direct.jsonl) <(sort from-sqs.jsonl) && diff <(sort direct.jsonl) <(sort from-cloudwatch.jsonl) && echo 'the same records from the file, from SQS and from CloudWatch'"
    show "pgaudit-parse cloudwatch --log-group /aws/rds/instance/nope/postgresql"
    show "jq -c '{dbName, user: .accessor.dbUser, sql: .data.originalSqlCommand}' from-sqs.jsonl | head -3"
}

operations() {
    show "python3 scripts/demo-aws-load.py --db-instance database-1"
    show "pgaudit-parse doctor --instance database-1"
    show "pgaudit-parse rds setup --instance database-1"
    show "pgaudit-parse rds setup --instance database-1 --apply"
    show "python3 scripts/demo-aws-load.py fixtures/real-rds.log"
    show "pgaudit-parse doctor --instance database-1 --queue-url $queue"
    show "pgaudit-parse rds setup --instance database-1 --mode object --table public.orders"
}

case "${1:-pipeline}" in
    pipeline) pipeline ;;
    operations) operations ;;
    *) echo "usage: demo-aws.sh [pipeline|operations]" >&2; exit 2 ;;
esac
