#!/usr/bin/env bash
# Install everything the tests need (Debian packages, Python test extras) and run the
# whole suite. Run as root on Debian (CI does); PostgreSQL itself runs as `postgres`.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=$(grep -v '^\s*#' scripts/debian-packages.txt | xargs)
if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
fi
python3 -m pip install -q -e '.[test]'
python3 -m ruff check pgaudit_parse tests bench scripts
python3 -m mypy pgaudit_parse
# On every core, a test file per worker (each worker starts the servers its files use:
# PostgreSQL and moto on free ports), so the suite's time stays well under CI's budget.
python3 -m pytest -q -n auto --dist loadfile "$@"
