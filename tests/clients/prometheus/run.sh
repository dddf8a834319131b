#!/usr/bin/env bash
# Prometheus suite: the real stages-api binary (fresh temp SQLite file, free port, bootstrap
# token) gets REST, GraphQL, flow, refused and unknown-route traffic; its GET /metrics must pass
# `promtool check metrics` with no lint problem and carry route templates, never raw paths, as
# label values. Then a real Prometheus (Debian's package; its own config, port and temp storage)
# scrapes the binary every second and must answer PromQL for the request rate by route template
# and `up == 1`. Polls have deadlines; nothing is timed. Every process is stopped by PID on exit.
set -euo pipefail
suite_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$suite_dir/../../.." && pwd)"
cd "$repo_root"

binary="${STAGES_API_BIN:-$repo_root/target/debug/stages-api}"
if [ ! -x "$binary" ]; then
    cargo build --bins
fi

work="$(mktemp -d -t stages-api-prometheus.XXXXXX)"
server_pid=""
prometheus_pid=""
policy_rc=""
stop_pid() {
    local pid="$1"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
cleanup() {
    stop_pid "$prometheus_pid"
    stop_pid "$server_pid"
    if [ -n "$policy_rc" ]; then
        rm -f "$policy_rc"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap "exit 143" TERM
trap "exit 130" INT

fail() {
    echo "FAIL: $*" >&2
    for log in "$work"/*.log; do
        [ -s "$log" ] && { echo "--- $log (last lines)" >&2; tail -n 30 "$log" >&2; }
    done
    exit 1
}

# --- Prometheus and promtool from Debian's package --------------------------------------------
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    # The package starts its daemon (port 9090) on install. A policy-rc.d answering 101 ("action
    # forbidden") keeps invoke-rc.d and deb-systemd-invoke from starting it; it is put there only
    # when none exists, and removed right after (and by the trap).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy_rc=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
        chmod 755 "$policy_rc"
    fi
    daemons_before="$(pgrep -u prometheus -x prometheus 2>/dev/null || true)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=600 prometheus >/dev/null
    if [ -n "$policy_rc" ]; then
        rm -f "$policy_rc"
        policy_rc=""
    fi
    # Should the daemon have started anyway: stop it, keep it from starting at boot, and end any
    # process it left (by PID: only the package's daemon, started by this install).
    if [ -d /run/systemd/system ]; then
        systemctl stop prometheus 2>/dev/null || true
        systemctl disable prometheus 2>/dev/null || true
    else
        service prometheus stop >/dev/null 2>&1 || true
        update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
    for pid in $(pgrep -u prometheus -x prometheus 2>/dev/null || true); do
        if ! grep -qx "$pid" <<<"$daemons_before"; then
            kill "$pid" 2>/dev/null || true
        fi
    done
fi
command -v python3 >/dev/null || fail "python3 is needed to read JSON"
promtool --version 2>&1 | head -n 1
prometheus --version 2>&1 | head -n 1

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- The real binary ---------------------------------------------------------------------------
port="$(free_port)"
base="http://127.0.0.1:$port"
token="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
DATABASE_URL="sqlite://$work/stages.db?mode=rwc" LISTEN_ADDR="127.0.0.1:$port" \
    BOOTSTRAP_TOKEN="$token" "$binary" serve >"$work/server.log" 2>&1 &
server_pid=$!

wait_ready() { # url, seconds, pid of the process that must stay alive
    local deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "$3" 2>/dev/null || fail "the process for $1 exited"
        if curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    fail "$1 did not become ready within $2 s"
}
# Startup runs migrations: a bounded wait, not a test assertion.
wait_ready "$base/-/health/ready/" 60 "$server_pid"

# request METHOD PATH [BODY] [TOKEN]: prints the status; the body goes to $work/body.json.
request() {
    local args=(-sS -o "$work/body.json" -w '%{http_code}' --max-time 10 -X "$1" "$base$2")
    if [ -n "${3:-}" ]; then
        args+=(-H 'Content-Type: application/json' --data "$3")
    fi
    if [ "${4-$token}" != "" ]; then
        args+=(-H "Authorization: Bearer ${4-$token}")
    fi
    curl "${args[@]}"
}
expect() { # expected status, then the arguments of request
    local want="$1" got
    shift
    got="$(request "$@")"
    [ "$got" = "$want" ] || fail "$1 $2 answered $got, expected $want: $(head -c 500 "$work/body.json")"
}
json_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/body.json" "$1"; }

suffix="$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
slug="prom-flow-$suffix"
expect 201 POST /api/v3/stages/captcha/ \
    "{\"name\": \"prom-stage-$suffix\", \"public_key\": \"site-key\", \"private_key\": \"secret-key\"}"
stage_pk="$(json_field pk)"
expect 200 GET /api/v3/stages/captcha/
expect 200 GET "/api/v3/stages/captcha/$stage_pk/"
expect 200 GET "/api/v3/stages/captcha/$stage_pk/used_by/"
expect 201 POST /api/v3/flows/instances/ \
    "{\"name\": \"Prometheus suite\", \"slug\": \"$slug\", \"title\": \"Prometheus\", \"designation\": \"authentication\"}"
expect 200 GET /api/v3/flows/instances/
expect 200 GET "/api/v3/flows/instances/$slug/"
expect 201 POST /api/v3/flows/bindings/ \
    "{\"target\": \"$(json_field pk)\", \"stage\": \"$stage_pk\", \"order\": 10}"
binding_pk="$(json_field pk)"
expect 200 GET "/api/v3/flows/bindings/$binding_pk/"
# The flow page and the executor, by slug.
expect 200 GET "/if/flow/$slug/"
expect 200 GET "/api/v3/flows/executor/$slug/"
expect 200 POST /graphql '{"query": "query Stages { captchaStages(pageSize: 5) { results { id name } } }"}'
expect 200 POST /graphql "{\"query\": \"query { captchaStage(id: \\\"$stage_pk\\\") { id name } }\"}"
# Refused: no token, and a wrong one.
refused_status="$(request GET /api/v3/stages/captcha/ "" "")"
case "$refused_status" in 401 | 403) ;; *) fail "a request without a token answered $refused_status" ;; esac
wrong_token_status="$(request GET "/api/v3/stages/captcha/$stage_pk/" "" "not-a-valid-token-$suffix")"
case "$wrong_token_status" in 401 | 403) ;; *) fail "a wrong token answered $wrong_token_status" ;; esac
# Unknown: a stage that does not exist (matched route), and a path no route matches.
missing_uuid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
expect 404 GET "/api/v3/stages/captcha/$missing_uuid/"
expect 404 GET "/api/v3/nowhere-$suffix/$missing_uuid/"
expect 404 GET "/api/v3/flows/instances/missing-$suffix/"

# --- promtool check metrics --------------------------------------------------------------------
curl -fsS --max-time 10 -o "$work/metrics.txt" "$base/metrics" || fail "GET /metrics failed"
echo "GET /metrics: $(grep -vc '^#' "$work/metrics.txt") samples, $(grep -c '^# TYPE' "$work/metrics.txt") metrics"
if ! promtool check metrics <"$work/metrics.txt" >"$work/promtool.out" 2>&1; then
    cat "$work/promtool.out" >&2
    fail "promtool check metrics found problems"
fi
if [ -s "$work/promtool.out" ]; then
    cat "$work/promtool.out" >&2
    fail "promtool check metrics printed lint problems"
fi
echo "promtool check metrics: passed, no lint problems"

# --- Label values: route templates, never raw paths or ids ---------------------------------
python3 - "$work/metrics.txt" "$stage_pk" "$slug" "$binding_pk" "$missing_uuid" "$suffix" <<'EOF' ||
import re
import sys

path, *raw = sys.argv[1:]
text = open(path).read()
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
uuid_re = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
samples = []
for line in text.splitlines():
    if not line or line.startswith("#"):
        continue
    name, _, rest = line.partition("{")
    labels = dict(label_re.findall(rest.rpartition("}")[0])) if rest else {}
    samples.append((name.split()[0], labels, float(line.rsplit(" ", 1)[1])))

problems = []
families = {
    "stages_api_http_requests_total": "counter",
    "stages_api_http_request_duration_seconds": "histogram",
    "stages_api_graphql_operations_total": "counter",
    "stages_api_db_connections": "gauge",
    "stages_api_db_unavailable_total": "counter",
    "stages_api_write_retries_total": "counter",
    "stages_api_tokens_refused_total": "counter",
    "stages_api_captcha_verifications_total": "counter",
    "stages_api_flow_plans_total": "counter",
}
for family, kind in families.items():
    if f"# TYPE {family} {kind}\n" not in text:
        problems.append(f"/metrics has no {kind} {family} (so promtool did not check it)")
for name, labels, _ in samples:
    for key, value in labels.items():
        if uuid_re.search(value):
            problems.append(f"{name}: label {key}={value!r} holds a UUID")
        for secret in raw:
            if secret in value:
                problems.append(f"{name}: label {key}={value!r} holds the raw value {secret!r}")
for secret in raw:
    if secret in text:
        problems.append(f"the raw value {secret!r} appears in /metrics")

requests = [labels for name, labels, _ in samples if name == "stages_api_http_requests_total"]
routes = {labels["route"] for labels in requests}
for route in routes:
    if route != "unmatched" and not route.startswith("/"):
        problems.append(f"route label {route!r} is neither a template nor 'unmatched'")
    for segment in route.strip("/").split("/"):
        if segment.startswith("{") != segment.endswith("}"):
            problems.append(f"route label {route!r} has a half-templated segment")
expected = {
    "/api/v3/stages/captcha/",
    "/api/v3/stages/captcha/{stage_uuid}/",
    "/api/v3/stages/captcha/{stage_uuid}/used_by/",
    "/api/v3/flows/instances/",
    "/api/v3/flows/instances/{slug}/",
    "/api/v3/flows/bindings/",
    "/api/v3/flows/bindings/{fsb_uuid}/",
    "/api/v3/flows/executor/{flow_slug}/",
    "/if/flow/{flow_slug}/",
    "/graphql",
    "unmatched",
}
for route in sorted(expected - routes):
    problems.append(f"no request counted for the route template {route!r}")
statuses = {labels["status"] for labels in requests}
for status in ("200", "201", "404"):
    if status not in statuses:
        problems.append(f"no request counted with status {status}")
if not statuses & {"401", "403"}:
    problems.append("no refused request (401 or 403) counted")
def counted(name, **want):
    return any(
        n == name and value > 0 and all(l.get(k) == v for k, v in want.items())
        for n, l, value in samples
    )
if not counted("stages_api_http_requests_total", route="/api/v3/stages/captcha/{stage_uuid}/", method="GET", status="404"):
    problems.append("the unknown stage's 404 is not counted under its route template")
if not counted("stages_api_http_requests_total", route="unmatched", method="GET", status="404"):
    problems.append("the unmatched path's 404 is not counted as route='unmatched'")
if not counted("stages_api_graphql_operations_total", operation="query captchaStages", outcome="ok"):
    problems.append("the GraphQL query captchaStages is not counted")
if not counted("stages_api_tokens_refused_total", reason="missing"):
    problems.append("the request without a token is not counted as refused (missing)")
if not counted("stages_api_flow_plans_total", event="started"):
    problems.append("the executor's flow plan is not counted as started")
if not counted("stages_api_http_request_duration_seconds_count", route="/api/v3/stages/captcha/{stage_uuid}/"):
    problems.append("no latency histogram for the stage detail route")

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"labels: {len(samples)} samples, {len(routes)} route templates, no raw path or id:")
for route in sorted(routes):
    print(f"  {route}")
EOF
    fail "label values of /metrics"

# --- A real Prometheus scraping the binary ---------------------------------------------------
prom_port="$(free_port)"
prom="http://127.0.0.1:$prom_port"
mkdir -p "$work/tsdb"
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: stages-api
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
promtool check config "$work/prometheus.yml" >/dev/null || fail "promtool check config"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prometheus_pid=$!
wait_ready "$prom/-/ready" 60 "$prometheus_pid"

rate_query='sum by (route) (rate(stages_api_http_requests_total{job="stages-api"}[15s]))'
up_query='up{job="stages-api"} == 1'
query() { # PromQL -> the API's JSON in $work/query.json
    curl -fsS --max-time 5 -G "$prom/api/v1/query" --data-urlencode "query=$1" -o "$work/query.json"
}
# vector_value ROUTE|"" : the value of the vector's sample for that route (or of its only sample);
# exits non-zero when the answer has no such sample.
vector_value() {
    python3 - "$work/query.json" "$1" <<'EOF'
import json, sys
answer = json.load(open(sys.argv[1]))
assert answer["status"] == "success", answer
data = answer["data"]
assert data["resultType"] == "vector", data
for sample in data["result"]:
    if not sys.argv[2] or sample["metric"].get("route") == sys.argv[2]:
        print(sample["value"][1])
        sys.exit(0)
sys.exit(1)
EOF
}

detail_route='/api/v3/stages/captcha/{stage_uuid}/'
deadline=$((SECONDS + 60))
rate_value=""
up_value=""
while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$prometheus_pid" 2>/dev/null || fail "prometheus exited"
    # Traffic keeps flowing while Prometheus scrapes.
    for _ in 1 2 3; do
        expect 200 GET "/api/v3/stages/captcha/$stage_pk/"
        expect 200 GET /api/v3/stages/captcha/
    done
    expect 200 POST /graphql '{"query": "query { captchaStages { results { id } } }"}'
    if [ -z "$up_value" ] && query "$up_query" && value="$(vector_value "")"; then
        up_value="$value"
    fi
    if [ -n "$up_value" ] && query "$rate_query" && value="$(vector_value "$detail_route")" &&
        python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$value"; then
        rate_value="$value"
        cp "$work/query.json" "$work/rate.json"
        break
    fi
    sleep 0.5
done
[ "$up_value" = "1" ] || fail "Prometheus never answered $up_query with 1 (target down?)"
[ -n "$rate_value" ] || fail "Prometheus never answered a positive rate for $detail_route: $(cat "$work/query.json" 2>/dev/null)"
echo "PromQL $up_query -> $up_value"
echo "PromQL $rate_query:"
python3 - "$work/rate.json" <<'EOF'
import json, sys
for sample in sorted(json.load(open(sys.argv[1]))["data"]["result"], key=lambda s: s["metric"].get("route", "")):
    print(f'  {sample["metric"].get("route", "")}: {float(sample["value"][1]):.3f}/s')
EOF
# Prometheus's own view of the target: healthy, and every series it took carries templates only.
query 'count by (route) (stages_api_http_requests_total{job="stages-api"})'
python3 - "$work/query.json" "$stage_pk" "$slug" "$binding_pk" "$missing_uuid" <<'EOF' ||
import json, sys
routes = {s["metric"]["route"] for s in json.load(open(sys.argv[1]))["data"]["result"]}
leaks = [r for r in routes if any(raw in r for raw in sys.argv[2:])]
assert routes and not leaks, (routes, leaks)
EOF
    fail "the route labels Prometheus stored"
echo "PASS: promtool check metrics, route templates only, Prometheus scraped and answered the request rate"
