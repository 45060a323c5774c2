#!/usr/bin/env bash
# Build the Lambda deployment zip (see scripts/build-lambda-zip.py):
#   scripts/build-lambda-zip.sh [dist/pgaudit-parse-lambda.zip]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/build-lambda-zip.py "$@"
