#!/usr/bin/env bash
# Load benchmark of stages-api against the raw-SQL baseline (bench/src/bin/baseline.rs), on SQLite
# and PostgreSQL. Builds both in release mode, then runs three parts per backend, each on fresh
# databases of its own:
#   stages  captcha stages (issue 5): each server on its own database, the same seed in both,
#           reads then writes.
#   flows   a page of 100 flows / bindings, REST and GraphQL (issue 9): both servers read ONE
#           database (seeded once through the service), so they answer the same bytes.
#   exec    the flow executor (issue 10): the service alone, with a loopback siteverify peer
#           (bench/src/bin/siteverify.rs); solves, plans stored, and a stage create beside them.
# Every scenario runs at each connection count (service and baseline alternately, which goes
# first rotating, so both see the same machine); the script prints a markdown table with the
# targets met or missed. Every server it starts is stopped by PID on exit; the PostgreSQL
# databases it creates are dropped.
#
#   bench/run.sh                          all three parts
#   BENCH_PARTS="flows exec" bench/run.sh only the new parts (any subset, in this order)
#
# Settings (environment):
#   BENCH_SECONDS=10            measured seconds per run
#   BENCH_WARMUP=1              seconds of the same load before each measured run
#   BENCH_CONNECTIONS="1 16 64" connection counts
#   BENCH_BACKENDS="sqlite postgres"
#   BENCH_PARTS="stages flows exec"  which parts run
#   BENCH_SEED=300              stages (each with 2 flows) stored before the stage reads
#   BENCH_FLOWS=120             flows part: stages and flows stored, each flow bound to 2 stages
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test   server on which databases are created
#   BENCH_OUT=bench/out         where results.tsv and results.md are written
#   SERVICE_RUST_LOG            RUST_LOG of the service (unset: the service's default, info)
#   SERVICE_ENV, BASELINE_ENV   extra VAR=value words for a server's environment, e.g.
#                               LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
#   SERVICE_PG_PARAMS           query parameters for the service's PostgreSQL URL; default
#                               sslmode=disable, since the baseline is built without TLS and
#                               the service would otherwise negotiate TLS to the local server
#                               (set it to "" to measure the service with TLS)
set -euo pipefail
SERVICE_PG_PARAMS=${SERVICE_PG_PARAMS-sslmode=disable}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-1}
connections=${BENCH_CONNECTIONS:-"1 16 64"}
backends=${BENCH_BACKENDS:-"sqlite postgres"}
seed=${BENCH_SEED:-300}
flows=${BENCH_FLOWS:-120}
parts=${BENCH_PARTS:-"stages flows exec"}
for part in $parts; do
    case $part in
        stages | flows | exec) ;;
        *) echo "unknown part $part in BENCH_PARTS (stages, flows, exec)" >&2; exit 2 ;;
    esac
done
has_part() { [[ " $parts " == *" $1 "* ]]; }
pg_url=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
out=${BENCH_OUT:-$root/bench/out}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building the service and the bench crate (release)"
cargo build --release
cargo build --release --manifest-path bench/Cargo.toml
service_bin=$root/target/release/stages-api
baseline_bin=$root/bench/target/release/baseline
loadgen=$root/bench/target/release/loadgen
siteverify_bin=$root/bench/target/release/siteverify

work=$(mktemp -d /tmp/stages-bench.XXXXXX)
mkdir -p "$out"
results=$out/results.tsv
: >"$results"
declare -a pids=()
declare -a pg_databases=()

stop_server() {
    local pid=$1 kept=() p
    # Forget the PID first: once stopped, it may be reused by another process.
    for p in "${pids[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
    pids=("${kept[@]}")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid db
    for pid in "${pids[@]}"; do stop_server "$pid"; done
    for db in "${pg_databases[@]}"; do
        psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# One token for every server; it reaches the servers and the driver only through the environment.
BENCH_TOKEN=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 43)
export BENCH_TOKEN

# A fresh database URL for `name` on `backend`.
# Sets db_url (not printed: a command substitution would run in a subshell and forget the
# database to drop).
fresh_database() {
    local backend=$1 name=$2
    if [ "$backend" = sqlite ]; then
        db_url="sqlite://$work/$name.db?mode=rwc"
    else
        local db="stages_bench_${name}_$$"
        psql -q "$pg_url" -c "CREATE DATABASE $db" >/dev/null
        pg_databases+=("$db")
        db_url="${pg_url%/*}/$db"
    fi
}

# Starts `kind` (service|baseline|siteverify) on `url` (siteverify: none); sets server_pid and
# server_url.
start_server() {
    local kind=$1 url=$2 name=$3
    local stdout=$work/$name.out stderr=$work/$name.err
    # `env` execs the server, so $! is the server's own PID. SERVICE_ENV and BASELINE_ENV are
    # lists of VAR=value words: split on purpose.
    if [ "$kind" = siteverify ]; then
        LISTEN_ADDR=127.0.0.1:0 "$siteverify_bin" >"$stdout" 2>"$stderr" &
    elif [ "$kind" = service ]; then
        # shellcheck disable=SC2086
        env ${SERVICE_RUST_LOG:+RUST_LOG=$SERVICE_RUST_LOG} ${SERVICE_ENV:-} DATABASE_URL="$url" \
            LISTEN_ADDR=127.0.0.1:0 BOOTSTRAP_TOKEN="$BENCH_TOKEN" \
            "$service_bin" serve >"$stdout" 2>"$stderr" &
    else
        # The baseline uses the service's schema: migrate with the service's own command.
        DATABASE_URL=$url "$service_bin" migrate >/dev/null 2>"$work/$name.migrate.err"
        # shellcheck disable=SC2086
        env ${BASELINE_ENV:-} DATABASE_URL="$url" LISTEN_ADDR=127.0.0.1:0 \
            BOOTSTRAP_TOKEN="$BENCH_TOKEN" "$baseline_bin" >"$stdout" 2>"$stderr" &
    fi
    server_pid=$!
    pids+=("$server_pid")
    server_url=
    for _ in $(seq 300); do
        server_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$stdout" 2>/dev/null | head -n 1 || true)
        [ -n "$server_url" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$server_url" ]; then
        log "$name did not start:"
        cat "$stderr" >&2
        exit 1
    fi
    [ "$kind" = siteverify ] && return 0
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "$server_url/-/health/ready/" && return 0
        sleep 0.1
    done
    log "$name never became ready"
    exit 1
}

clock_ticks=$(getconf CLK_TCK)
# User + system CPU time of a process, all threads, in clock ticks.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}

# One measured run; appends a line to the results file.
measure() {
    local backend=$1 scenario=$2 conns=$3 server=$4 url=$5 pid=$6
    # Resets the peak resident set size (VmHWM) so that it covers this run only.
    echo 5 >"/proc/$pid/clear_refs"
    local line cpu_before cpu_after
    cpu_before=$(cpu_ticks "$pid")
    line=$("$loadgen" run --url "$url" --scenario "$scenario" --connections "$conns" \
        --seconds "$seconds" --warmup "$warmup")
    cpu_after=$(cpu_ticks "$pid")
    local rss cpu_ms
    rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    cpu_ms=$(((cpu_after - cpu_before) * 1000 / clock_ticks))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$scenario" "$conns" "$server" "$line" \
        "$rss" "$cpu_ms" >>"$results"
    log "$(printf '%-8s %-12s %3s conns %-8s %s  rss %s kB  cpu %s ms' "$backend" "$scenario" \
        "$conns" "$server" "$(echo "$line" | cut -f1-3,5 | tr '\t' ' ')" "$rss" "$cpu_ms")"
}

# Runs a group of (scenario, server) pairs at each connection count, rotating which goes first.
group() {
    local backend=$1; shift
    local conns i n=$# turn=0
    local -a runs=("$@")
    for conns in $connections; do
        for ((i = 0; i < n; i++)); do
            local run=${runs[$(((i + turn) % n))]}
            local scenario=${run%:*} server=${run#*:}
            if [ "$server" = service ]; then
                measure "$backend" "$scenario" "$conns" service "$svc_url" "$svc_pid"
            else
                measure "$backend" "$scenario" "$conns" baseline "$base_url" "$base_pid"
            fi
        done
        turn=$((turn + 1))
    done
}

# The service's PostgreSQL URL: the database's, with SERVICE_PG_PARAMS.
service_url() {
    if [ "$1" = postgres ] && [ -n "${SERVICE_PG_PARAMS:-}" ]; then
        echo "$2?$SERVICE_PG_PARAMS"
    else
        echo "$2"
    fi
}

# A counter of the service's /metrics (summed over its labels matching `filter`).
metric() {
    curl -fsS "$1/metrics" | awk -v name="$2" -v filter="$3" \
        'index($0, name) == 1 && index($0, filter) > 0 {sum += $NF} END {printf "%d", sum}'
}

# Part "stages" (issue 5): captcha stages, each server on its own database.
part_stages() {
    local backend=$1
    log "$backend/stages: fresh databases, servers starting"
    fresh_database "$backend" svc
    start_server service "$(service_url "$backend" "$db_url")" "$backend-service"
    svc_pid=$server_pid svc_url=$server_url
    fresh_database "$backend" base
    start_server baseline "$db_url" "$backend-baseline"
    base_pid=$server_pid base_url=$server_url

    log "$backend/stages: seeding $seed stages with 2 flows each into both"
    "$loadgen" seed --url "$svc_url" --count "$seed"
    "$loadgen" seed --url "$base_url" --count "$seed"
    # One stage more in each (the comparison creates one), so both lists count seed + 1.
    "$loadgen" compare --url "$svc_url" --url "$base_url" >&2

    # Reads first, while both databases hold the same rows; then the writes.
    group "$backend" list:service gql-list:service list:baseline
    group "$backend" retrieve:service retrieve:baseline
    group "$backend" create-min:service create-min:baseline
    group "$backend" create-flows:service gql-create:service create-flows:baseline

    stop_server "$svc_pid"
    stop_server "$base_pid"
}

# Part "flows" (issue 9): pages of 100 flows and bindings, REST and GraphQL. Reads only, so
# both servers share one database: the same rows, the same bytes (loadgen compare-flows).
part_flows() {
    local backend=$1
    log "$backend/flows: one fresh database for both servers"
    fresh_database "$backend" flows
    local shared=$db_url
    start_server service "$(service_url "$backend" "$shared")" "$backend-flows-service"
    svc_pid=$server_pid svc_url=$server_url
    log "$backend/flows: seeding $flows stages and $flows flows, 2 bindings each, through the service"
    "$loadgen" seed-flows --url "$svc_url" --count "$flows"
    start_server baseline "$shared" "$backend-flows-baseline"
    base_pid=$server_pid base_url=$server_url
    "$loadgen" compare-flows --url "$svc_url" --url "$base_url" >&2

    group "$backend" flows:service flows:baseline
    group "$backend" bindings:service bindings:baseline
    group "$backend" gql-flows:service gql-flows:baseline

    stop_server "$svc_pid"
    stop_server "$base_pid"
}

# Part "exec" (issue 10): the executor with a loopback siteverify peer, beside stage creates.
part_exec() {
    local backend=$1
    log "$backend/exec: fresh database, siteverify peer and service starting"
    start_server siteverify "" "$backend-siteverify"
    local peer_pid=$server_pid peer_url=$server_url
    fresh_database "$backend" exec
    start_server service "$(service_url "$backend" "$db_url")" "$backend-exec-service"
    svc_pid=$server_pid svc_url=$server_url
    "$loadgen" exec-setup --url "$svc_url" --siteverify "$peer_url"
    local plans_before verified_before
    plans_before=$(metric "$svc_url" stages_api_flow_plans_total 'event="started"')
    verified_before=$(metric "$svc_url" stages_api_captcha_verifications_total 'outcome="passed"')
    local peer_cpu_before
    peer_cpu_before=$(cpu_ticks "$peer_pid")

    group "$backend" exec-solve:service exec-plan:service exec-create:service

    # Every solve and every plan-only GET stored one plan; every solve passed one verification.
    local plans verified answered peer_ms
    plans=$(($(metric "$svc_url" stages_api_flow_plans_total 'event="started"') - plans_before))
    verified=$(($(metric "$svc_url" stages_api_captcha_verifications_total 'outcome="passed"') - verified_before))
    answered=$(awk -F'\t' -v b="$backend" '$1 == b && ($2 == "exec-solve" || $2 == "exec-plan") {n += $10} END {printf "%d", n}' "$results")
    peer_ms=$((($(cpu_ticks "$peer_pid") - peer_cpu_before) * 1000 / clock_ticks))
    printf '%s\t%s\t%s\t%s\t%s\n' "$backend" "$plans" "$answered" "$verified" "$peer_ms" >>"$exec_checks"
    log "$backend/exec: plans started $plans for $answered solves + plan GETs; verifications passed $verified; siteverify peer CPU $peer_ms ms"

    stop_server "$svc_pid"
    stop_server "$peer_pid"
}

exec_checks=$out/exec-checks.tsv
: >"$exec_checks"
for backend in $backends; do
    if has_part stages; then part_stages "$backend"; fi
    if has_part flows; then part_flows "$backend"; fi
    if has_part exec; then part_exec "$backend"; fi
done

{
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "Settings: BENCH_PARTS=\"$parts\" BENCH_SECONDS=$seconds BENCH_WARMUP=$warmup BENCH_CONNECTIONS=\"$connections\" BENCH_SEED=$seed BENCH_FLOWS=$flows BENCH_BACKENDS=\"$backends\" SERVICE_RUST_LOG=${SERVICE_RUST_LOG:-} SERVICE_PG_PARAMS=${SERVICE_PG_PARAMS:-} SERVICE_ENV=\"${SERVICE_ENV:-}\" BASELINE_ENV=\"${BASELINE_ENV:-}\""
    echo "Service: $(git -C "$root" describe --always --dirty) (release build of the work tree)"
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "Run time: $((SECONDS / 60)) min $((SECONDS % 60)) s (builds included)"
    echo
    "$loadgen" report "$results"
    if [ -s "$exec_checks" ]; then
        echo
        echo "Executor checks (from the service's /metrics over the exec group; the peer's CPU over the same group):"
        echo
        echo "| backend | plans started | solves + plan GETs answered | verifications passed | siteverify peer CPU ms |"
        echo "|---|---:|---:|---:|---:|"
        awk -F'\t' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}' "$exec_checks"
    fi
} | tee "$out/results.md"
