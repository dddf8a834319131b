#!/usr/bin/env bash
# Load benchmark of stages-api against the raw-SQL baseline (bench/src/bin/baseline.rs), on SQLite
# and PostgreSQL. Builds both in release mode, starts each server on a fresh database of its own,
# seeds the same data into both, runs every scenario at each connection count (service and
# baseline alternately, so both see the same machine), and prints a markdown table with the
# targets met or missed. Every server it starts is stopped by PID on exit; the PostgreSQL
# databases it creates are dropped.
#
#   bench/run.sh
#
# Settings (environment):
#   BENCH_SECONDS=10            measured seconds per run
#   BENCH_WARMUP=1              seconds of the same load before each measured run
#   BENCH_CONNECTIONS="1 16 64" connection counts
#   BENCH_BACKENDS="sqlite postgres"
#   BENCH_SEED=300              stages (each with 2 flows) stored before the read scenarios
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
pg_url=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
out=${BENCH_OUT:-$root/bench/out}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building the service and the bench crate (release)"
cargo build --release
cargo build --release --manifest-path bench/Cargo.toml
service_bin=$root/target/release/stages-api
baseline_bin=$root/bench/target/release/baseline
loadgen=$root/bench/target/release/loadgen

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

# Starts `kind` (service|baseline) on `url`; sets server_pid and server_url.
start_server() {
    local kind=$1 url=$2 name=$3
    local stdout=$work/$name.out stderr=$work/$name.err
    # `env` execs the server, so $! is the server's own PID. SERVICE_ENV and BASELINE_ENV are
    # lists of VAR=value words: split on purpose.
    if [ "$kind" = service ]; then
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

for backend in $backends; do
    log "$backend: fresh databases, servers starting"
    fresh_database "$backend" svc
    if [ "$backend" = postgres ] && [ -n "${SERVICE_PG_PARAMS:-}" ]; then
        db_url="$db_url?$SERVICE_PG_PARAMS"
    fi
    start_server service "$db_url" "$backend-service"
    svc_pid=$server_pid svc_url=$server_url
    fresh_database "$backend" base
    start_server baseline "$db_url" "$backend-baseline"
    base_pid=$server_pid base_url=$server_url

    log "$backend: seeding $seed stages with 2 flows each into both"
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
done

{
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "Settings: BENCH_SECONDS=$seconds BENCH_WARMUP=$warmup BENCH_CONNECTIONS=\"$connections\" BENCH_SEED=$seed BENCH_BACKENDS=\"$backends\" SERVICE_RUST_LOG=${SERVICE_RUST_LOG:-} SERVICE_PG_PARAMS=${SERVICE_PG_PARAMS:-} SERVICE_ENV=\"${SERVICE_ENV:-}\" BASELINE_ENV=\"${BASELINE_ENV:-}\""
    echo "Service: $(git -C "$root" describe --always --dirty) (release build of the work tree)"
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    "$loadgen" report "$results"
} | tee "$out/results.md"
