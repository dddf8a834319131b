#!/usr/bin/env bash
# Where the service's time goes, beside the baseline (BENCHMARKS.md, "Profile").
#
#   bench/profile.sh sql
#       SQL statements per request on PostgreSQL, service vs baseline, for every scenario:
#       throwaway databases with log_statement = 'all', read back from the server log.
#   bench/profile.sh sql-flows
#       the same for the flows part's scenarios (flows, bindings, gql-flows) and the executor's
#       (exec-plan, exec-solve): one database seeded with BENCH_FLOWS flows (run.sh's data),
#       read by the service, then by the baseline; the executor through a loopback siteverify.
#   bench/profile.sh callgrind SCENARIO [sqlite|postgres] [SECONDS]
#       instructions per request (valgrind's callgrind: a count, not a time, so it repeats on a
#       busy machine) of the service (PROFILE_SERVER=baseline: of the baseline) under one
#       connection of SCENARIO for SECONDS (default 20); prints the count and the functions of
#       this project by inclusive cost, and keeps callgrind.out in PROFILE_KEEP (default
#       bench/out) for callgrind_annotate. Not the executor's scenarios.
#   bench/profile.sh perf SCENARIO [CONNECTIONS] [SECONDS] [sqlite|postgres]
#       perf (cpu-clock sampling) of the service process under load (PROFILE_SERVER=baseline:
#       of the baseline; SERVICE_PG_PARAMS=sslmode=disable: without TLS to PostgreSQL); prints
#       the share of samples per crate and the top symbols. The data is the scenario's part's:
#       300 stages with 2 flows each, BENCH_FLOWS flows of 2 stages (flows, bindings,
#       gql-flows), or the executor's flow with a loopback siteverify peer (exec-*).
#
# Run bench/run.sh once first (or build both release binaries). Every server it starts is
# stopped by PID on exit, every database it creates is dropped.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pg_url=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
pg_log=${BENCH_PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
service_bin=$root/target/release/stages-api
baseline_bin=$root/bench/target/release/baseline
loadgen=$root/bench/target/release/loadgen
siteverify_bin=$root/bench/target/release/siteverify
flows=${BENCH_FLOWS:-120}

work=$(mktemp -d /tmp/stages-profile.XXXXXX)
declare -a pids=()
declare -a pg_databases=()

cleanup() {
    local pid db
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for db in "${pg_databases[@]}"; do
        psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

BENCH_TOKEN=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 43)
export BENCH_TOKEN

# Sets db_url (not printed: a command substitution would run in a subshell and forget the
# database to drop).
fresh_database() {
    local backend=$1 name=$2
    if [ "$backend" = sqlite ]; then
        db_url="sqlite://$work/$name.db?mode=rwc"
    else
        local db="stages_prof_${name}_$$"
        psql -q "$pg_url" -c "CREATE DATABASE $db" >/dev/null
        pg_databases+=("$db")
        db_url="${pg_url%/*}/$db"
    fi
}

# What a server is started under (callgrind sets it): nothing by default.
launcher=

# start KIND URL NAME: sets server_pid and server_url.
start() {
    local kind=$1 url=$2 name=$3
    if [ "$kind" = siteverify ]; then
        LISTEN_ADDR=127.0.0.1:0 "$siteverify_bin" >"$work/$name.out" 2>"$work/$name.err" &
    elif [ "$kind" = service ]; then
        DATABASE_URL=$url LISTEN_ADDR=127.0.0.1:0 BOOTSTRAP_TOKEN=$BENCH_TOKEN \
            $launcher "$service_bin" serve >"$work/$name.out" 2>"$work/$name.err" &
    else
        DATABASE_URL=$url "$service_bin" migrate >/dev/null 2>&1
        DATABASE_URL=$url LISTEN_ADDR=127.0.0.1:0 BOOTSTRAP_TOKEN=$BENCH_TOKEN \
            $launcher "$baseline_bin" >"$work/$name.out" 2>"$work/$name.err" &
    fi
    server_pid=$!
    pids+=("$server_pid")
    server_url=
    for _ in $(seq 300); do
        server_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/$name.out" 2>/dev/null | head -n 1 || true)
        [ -n "$server_url" ] && break
        sleep 0.1
    done
    [ -n "$server_url" ] || { cat "$work/$name.err" >&2; exit 1; }
}

first_stage_id() {
    curl -fsS -H "Authorization: Bearer $BENCH_TOKEN" "$1/api/v3/stages/captcha/?page_size=1" |
        grep -o '"pk":"[^"]*"' | head -n 1 | cut -d'"' -f4
}

sql_profile() {
    local requests=${PROFILE_REQUESTS:-20}
    local url_svc url_base svc_db base_db
    fresh_database postgres svc; url_svc=$db_url
    fresh_database postgres base; url_base=$db_url
    svc_db=${url_svc##*/} base_db=${url_base##*/}
    start service "$url_svc" svc
    local svc_url=$server_url
    start baseline "$url_base" base
    local base_url=$server_url
    "$loadgen" seed --url "$svc_url" --count 5
    "$loadgen" seed --url "$base_url" --count 5
    local svc_id base_id
    svc_id=$(first_stage_id "$svc_url")
    base_id=$(first_stage_id "$base_url")
    # From here on, every statement of both databases is logged (the settings apply to new
    # sessions: restart both servers so that their pools reconnect).
    local db
    for db in "$svc_db" "$base_db"; do
        psql -q "$pg_url" -c "ALTER DATABASE $db SET log_statement = 'all'" >/dev/null
    done
    kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true; pids=()
    start service "$url_svc" svc; svc_url=$server_url
    start baseline "$url_base" base; base_url=$server_url
    # One request of each kind first, so that connections are open and statements prepared.
    printf '| scenario | service statements/request | baseline statements/request |\n|---|---:|---:|\n'
    local scenario
    for scenario in create-min create-flows gql-create list gql-list retrieve; do
        local counts=() server url id name
        for server in service baseline; do
            if [ "$server" = service ]; then url=$svc_url id=$svc_id name=$svc_db
            else url=$base_url id=$base_id name=$base_db; fi
            [ "$server" = baseline ] && [[ $scenario == gql-* ]] && { counts+=("–"); continue; }
            "$loadgen" run --url "$url" --scenario "$scenario" --connections 1 --seconds 60 \
                --warmup 0 --requests 1 --id "$id" >/dev/null
            sleep 0.3
            local before after
            before=$(wc -c <"$pg_log")
            "$loadgen" run --url "$url" --scenario "$scenario" --connections 1 --seconds 60 \
                --warmup 0 --requests "$requests" --id "$id" >/dev/null
            sleep 0.5
            tail -c +"$((before + 1))" "$pg_log" | grep -E "@$name (LOG|STATEMENT)" |
                grep -E 'LOG:  (statement|execute [^:]*):' >"$work/$scenario.$server.log" || true
            after=$(wc -l <"$work/$scenario.$server.log")
            counts+=("$(awk -v n="$after" -v r="$requests" 'BEGIN {printf "%.1f", n / r}')")
        done
        printf '| %s | %s | %s |\n' "$scenario" "${counts[0]}" "${counts[1]}"
    done
    echo
    for scenario in create-flows list retrieve; do
        echo "Statements of one $scenario request, service then baseline:"
        for server in service baseline; do
            local file=$work/$scenario.$server.log
            local n per
            n=$(wc -l <"$file"); per=$((n / requests))
            echo "  [$server]"
            head -n "$per" "$file" | sed -E 's/.*LOG:  (statement|execute [^:]*): /    /' | cut -c1-220
        done
    done
}

# count_statements URL DB SCENARIO: statements per request of SCENARIO against URL, read from
# the server log lines of database DB (prints the figure; keeps the log in $work/SCENARIO.URL).
count_statements() {
    local url=$1 name=$2 scenario=$3 requests=${PROFILE_REQUESTS:-20} file
    file=$work/$scenario.${url##*:}.log
    "$loadgen" run --url "$url" --scenario "$scenario" --connections 1 --seconds 60 \
        --warmup 0 --requests 1 >/dev/null
    sleep 0.3
    local before
    before=$(wc -c <"$pg_log")
    "$loadgen" run --url "$url" --scenario "$scenario" --connections 1 --seconds 60 \
        --warmup 0 --requests "$requests" >/dev/null
    sleep 0.5
    tail -c +"$((before + 1))" "$pg_log" | grep -E "@$name (LOG|STATEMENT)" |
        grep -E 'LOG:  (statement|execute [^:]*):' >"$file" || true
    awk -v n="$(wc -l <"$file")" -v r="$requests" 'BEGIN {printf "%.1f", n / r}'
}

# Prints the statements of one request from a count_statements log.
show_statements() {
    local file=$1 requests=${PROFILE_REQUESTS:-20} n
    n=$(wc -l <"$file")
    head -n "$((n / requests))" "$file" | sed -E 's/.*LOG:  (statement|execute [^:]*): /    /' |
        cut -c1-220
}

sql_flows_profile() {
    fresh_database postgres flows
    local url=$db_url name=${db_url##*/}
    start service "$url" svc
    local svc_url=$server_url svc_pid=$server_pid
    "$loadgen" seed-flows --url "$svc_url" --count "$flows"
    start siteverify "" peer
    local peer_pid=$server_pid
    "$loadgen" exec-setup --url "$svc_url" --siteverify "$server_url"
    # From here on every statement of the database is logged (for new sessions: restart the
    # service so that its pool reconnects). Both servers read the one database, one at a time.
    psql -q "$pg_url" -c "ALTER DATABASE $name SET log_statement = 'all'" >/dev/null
    kill -TERM "$svc_pid"; wait "$svc_pid" 2>/dev/null || true
    pids=("$peer_pid")
    start service "$url" svc; svc_url=$server_url
    start baseline "$url" base
    local base_url=$server_url
    printf '| scenario | service statements/request | baseline statements/request |\n|---|---:|---:|\n'
    local scenario
    for scenario in flows bindings gql-flows exec-plan exec-solve; do
        local svc base="–"
        svc=$(count_statements "$svc_url" "$name" "$scenario")
        [[ $scenario == exec-* ]] || base=$(count_statements "$base_url" "$name" "$scenario")
        printf '| %s | %s | %s |\n' "$scenario" "$svc" "$base"
    done
    echo
    for scenario in flows bindings gql-flows exec-solve; do
        echo "Statements of one $scenario request, service then baseline:"
        echo "  [service]"
        show_statements "$work/$scenario.${svc_url##*:}.log"
        if [[ $scenario != exec-* ]]; then
            echo "  [baseline]"
            show_statements "$work/$scenario.${base_url##*:}.log"
        fi
    done
}

perf_profile() {
    local scenario=${1:?scenario} conns=${2:-64} seconds=${3:-10} backend=${4:-postgres}
    command -v perf >/dev/null || { echo "perf is not installed (Debian: linux-perf)" >&2; exit 1; }
    local kind=${PROFILE_SERVER:-service}
    fresh_database "$backend" svc
    local server_db=$db_url
    if [ "$backend" = postgres ] && [ -n "${SERVICE_PG_PARAMS:-}" ]; then
        server_db="$db_url?$SERVICE_PG_PARAMS"
    fi
    start "$kind" "$server_db" svc
    local svc_url=$server_url svc_pid=$server_pid
    case $scenario in
        flows | bindings | gql-flows)
            if [ "$kind" = baseline ]; then
                # The baseline cannot seed flows: the service seeds the database, then leaves.
                local seeder_pid
                start service "$server_db" seeder; seeder_pid=$server_pid
                "$loadgen" seed-flows --url "$server_url" --count "$flows"
                kill -TERM "$seeder_pid"; wait "$seeder_pid" 2>/dev/null || true
            else
                "$loadgen" seed-flows --url "$svc_url" --count "$flows"
            fi
            ;;
        exec-*)
            local peer_url
            start siteverify "" peer; peer_url=$server_url
            "$loadgen" exec-setup --url "$svc_url" --siteverify "$peer_url"
            ;;
        *) "$loadgen" seed --url "$svc_url" --count 300 ;;
    esac
    "$loadgen" run --url "$svc_url" --scenario "$scenario" --connections "$conns" \
        --seconds "$((seconds + 2))" --warmup 1 >"$work/load.txt" &
    local load_pid=$!
    sleep 1.5
    perf record -q -e cpu-clock -F 1999 -p "$svc_pid" -o "$work/perf.data" -- sleep "$seconds" \
        2>/dev/null
    if [ "$backend" = postgres ]; then
        echo "connections of the $kind to PostgreSQL, by TLS (pg_stat_ssl):"
        psql -Atq "$pg_url" -c "SELECT CASE WHEN s.ssl THEN 'TLS ' || s.version ELSE 'plain' END, \
            count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
            WHERE a.datname = '${db_url##*/}' GROUP BY 1" | sed 's/^/  /'
    fi
    wait "$load_pid"
    echo "$kind under load: $(cut -f1-3 "$work/load.txt" | tr '\t' ' ') (req/s p50 p99; perf slows it)"
    perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' >"$work/symbols.txt" || true
    echo
    echo "Share of samples by crate (symbol prefix):"
    awk '{
        pct = $1; sub(/%/, "", pct)
        sym = ""; for (i = 3; i <= NF; i++) sym = sym " " $i
        sub(/^ /, "", sym); sub(/^</, "", sym)
        crate = sym
        if (crate ~ /::/) { sub(/::.*/, "", crate) } else { crate = "[non-Rust: libc, kernel, sqlite3...] " }
        share[crate] += pct
    } END { for (c in share) printf "%6.2f%%  %s\n", share[c], c }' "$work/symbols.txt" |
        sort -rn | head -n 25
    echo
    echo "Top symbols:"
    head -n "${PROFILE_TOP:-40}" "$work/symbols.txt" | cut -c1-200
}

callgrind_profile() {
    local scenario=${1:?scenario} backend=${2:-sqlite} seconds=${3:-20}
    command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
    local kind=${PROFILE_SERVER:-service} keep=${PROFILE_KEEP:-$root/bench/out}
    [[ $scenario == exec-* ]] && { echo "callgrind: not for the executor's scenarios" >&2; exit 2; }
    fresh_database "$backend" cg
    local server_db=$db_url
    if [ "$backend" = postgres ]; then server_db="$db_url?${SERVICE_PG_PARAMS:-sslmode=disable}"; fi
    # The data is stored by a service instance (the baseline cannot seed), which then leaves.
    start service "$server_db" seeder
    local seeder_pid=$server_pid
    case $scenario in
        flows | bindings | gql-flows) "$loadgen" seed-flows --url "$server_url" --count "$flows" ;;
        *) "$loadgen" seed --url "$server_url" --count 300 ;;
    esac
    kill -TERM "$seeder_pid"; wait "$seeder_pid" 2>/dev/null || true
    launcher="valgrind --tool=callgrind --callgrind-out-file=$work/callgrind.out"
    start "$kind" "$server_db" measured
    launcher=
    local measured_pid=$server_pid
    "$loadgen" run --url "$server_url" --scenario "$scenario" --connections 1 \
        --seconds "$seconds" --warmup 1 >"$work/load.txt"
    kill -TERM "$measured_pid"; wait "$measured_pid" 2>/dev/null || true
    # Every request the server answered, the warm-up's too (the sixth column).
    local requests total
    requests=$(cut -f6 "$work/load.txt")
    total=$(callgrind_annotate "$work/callgrind.out" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "$kind, $scenario on $backend: $requests requests, $total instructions in all, \
$((total / requests)) per request (start-up and shutdown included)"
    echo
    echo "Functions of this project by inclusive instructions per request:"
    callgrind_annotate --inclusive=yes "$work/callgrind.out" 2>/dev/null |
        awk -v n="$requests" '$2 ~ /%\)/ && /(stages_api|baseline)::/ {
            x = $1; gsub(",", "", x); $1 = ""; $2 = ""; printf "%10d %s\n", x / n, $0 }' |
        grep -v "'2" | head -n "${PROFILE_TOP:-40}" | cut -c1-200
    mkdir -p "$keep"
    cp "$work/callgrind.out" "$keep/callgrind.$kind.$scenario.$backend.out"
    echo
    echo "kept: $keep/callgrind.$kind.$scenario.$backend.out (callgrind_annotate --inclusive=yes FILE)"
}

case ${1:-} in
    sql) sql_profile ;;
    callgrind) shift; callgrind_profile "$@" ;;
    sql-flows) sql_flows_profile ;;
    perf) shift; perf_profile "$@" ;;
    *) echo "usage: bench/profile.sh sql | sql-flows | callgrind SCENARIO [BACKEND] [SECONDS] | perf SCENARIO [CONNECTIONS] [SECONDS] [BACKEND]" >&2; exit 2 ;;
esac
