#!/usr/bin/env bash
# OpenAPI suite: stages-api's OpenAPI document (openapi.json, served at /api/v3/schema/) against
# authentik 2025.10.4's own (schema.yml in @goauthentik/api, from npm), real responses validated
# against both, and bounded property-based runs of schemathesis against the real binary: with our
# document, with authentik's cut down to /stages/captcha/, with authentik's cut down to the
# /flows/instances/ and /flows/bindings/ operations served here, and of POST /graphql from
# schema.graphql.
# One server (fresh temp SQLite file, free port) serves all steps and is stopped by PID on exit.
# Every step runs; the script exits non-zero when any of them failed.
set -euo pipefail
suite_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$suite_dir/../../.." && pwd)"
cd "$repo_root"

if [ ! -x target/debug/stages-api ]; then
    cargo build --bins
fi

venv="$suite_dir/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$suite_dir/requirements.txt"
(cd "$suite_dir" && npm ci --no-audit --no-fund --loglevel=error)
py="$venv/bin/python"

work="$(mktemp -d -t stages-api-openapi.XXXXXX)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export STAGES_API_URL="http://127.0.0.1:$port"
export STAGES_API_DATABASE_URL="sqlite://$work/stages.db?mode=rwc"
STAGES_API_TOKEN="$("$py" -c 'import secrets; print(secrets.token_urlsafe(32))')"
export STAGES_API_TOKEN
DATABASE_URL="$STAGES_API_DATABASE_URL" LISTEN_ADDR="127.0.0.1:$port" BOOTSTRAP_TOKEN="$STAGES_API_TOKEN" \
    target/debug/stages-api serve >"$work/server.log" 2>&1 &
server_pid=$!
# Bounded wait for readiness (startup runs migrations).
"$py" - <<'EOF'
import os, sys, time, urllib.request
url = os.environ["STAGES_API_URL"] + "/-/health/ready/"
for _ in range(300):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit("stages-api did not become ready")
EOF

passed=0
failed=0
step() {
    local name="$1"
    shift
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "!! $name failed"
    fi
}

cd "$suite_dir"
step "pytest: document comparison and response validation" \
    "$py" -m pytest "$@"

# Schemathesis runs in the temp dir, so its cache and hypothesis's files go away with it.
cd "$work"
export PYTHONPATH="$suite_dir"
export SCHEMATHESIS_HOOKS=hooks
# Each run gets stages of its own (seed.py): fuzzed DELETEs remove some of them.
seed() {
    "$py" "$suite_dir/seed.py" "$work/$1"
    export STAGES_SEEDED_IDS="$work/$1/ids.json"
}
"$py" "$suite_dir/documents.py" captcha "$work/authentik-captcha.json"
"$py" "$suite_dir/documents.py" flows "$work/authentik-flows.json"
# Bounded and reproducible: 50 examples per operation, a fixed seed, no example database.
bounds=(--max-examples 50 --seed 20251004 --generation-database none --workers 1 --no-color)

seed ours
step "schemathesis: our document (served at /api/v3/schema/)" \
    "$venv/bin/schemathesis" --config-file "$work/ours/rest.toml" run "$STAGES_API_URL/api/v3/schema/" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth,requires_token \
    "${bounds[@]}"

seed authentik
# authentik's document leaves out the 404/413/415 it (and this service) answer, so its statuses
# are checked by documented_status (hooks.py) instead of status_code_conformance.
step "schemathesis: authentik $("$py" -c 'import documents; print(documents.AUTHENTIK_VERSION)') document, /stages/captcha/ only" \
    "$venv/bin/schemathesis" --config-file "$work/authentik/rest.toml" run "$work/authentik-captcha.json" \
    --url "$STAGES_API_URL/api/v3" \
    --checks not_a_server_error,documented_status,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth,requires_token \
    "${bounds[@]}"

seed authentik-flows
step "schemathesis: authentik $("$py" -c 'import documents; print(documents.AUTHENTIK_VERSION)') document, /flows/instances/ and /flows/bindings/ (CRUD and used_by) only" \
    "$venv/bin/schemathesis" --config-file "$work/authentik-flows/rest.toml" run "$work/authentik-flows.json" \
    --url "$STAGES_API_URL/api/v3" \
    --checks not_a_server_error,documented_status,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth,requires_token \
    "${bounds[@]}"

seed graphql
step "schemathesis: GraphQL (POST /graphql, from schema.graphql)" \
    "$venv/bin/schemathesis" --config-file "$work/graphql/graphql.toml" run "$repo_root/schema.graphql" \
    --url "$STAGES_API_URL/graphql" \
    --checks response_schema_conformance,graphql_no_server_error,requires_token \
    "${bounds[@]}"

cd "$repo_root"
if [ "$failed" -ne 0 ]; then
    echo "== server log (last 40 lines)"
    tail -n 40 "$work/server.log"
fi
echo "openapi-steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
