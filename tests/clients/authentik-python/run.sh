#!/usr/bin/env bash
# Conformance suite: authentik's generated Python client (authentik-client, pinned in
# requirements.txt) against the real stages-api binary. The server is started and stopped by the
# pytest fixture in conftest.py (fresh temp SQLite file, free port, stopped by PID).
set -euo pipefail
suite_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$suite_dir/../../.."

if [ ! -x target/debug/stages-api ]; then
    cargo build --bins
fi

venv="$suite_dir/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$suite_dir/requirements.txt"

cd "$suite_dir"
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
