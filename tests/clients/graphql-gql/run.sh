#!/usr/bin/env bash
# GraphQL client suite: Python gql runs the operations in operations/*.graphql (each validated
# against the checked-in schema.graphql) against the real binary, which conftest.py starts on a
# free port with a fresh SQLite file and stops. Needs target/debug/stages-api (`cargo build`).
set -euo pipefail
suite="$(cd "$(dirname "$0")" && pwd)"
cd "$suite"

if [ ! -x .venv/bin/python ]; then
    rm -rf .venv
    # A Debian python3 without its venv module gets it from apt.
    python3 -m venv .venv || {
        rm -rf .venv
        apt-get update -qq && apt-get install -y -qq python3-venv
        python3 -m venv .venv
    }
fi
.venv/bin/pip install --disable-pip-version-check -q -r requirements.txt
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
