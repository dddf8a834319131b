#!/usr/bin/env bash
# Fuzz smoke (docs/fuzzing.md): builds the cargo-fuzz targets in fuzz/ (unoptimized: --dev
# builds several times faster than a release build) and runs each one for FUZZ_SECONDS seconds
# (45 by default), starting from its seeds; fails on the first crash, whose input lands in
# fuzz/artifacts/<target>/. Installs cargo-fuzz when it is missing. FUZZ_TARGET_DIR puts the
# build elsewhere than fuzz/target (to keep it between clones).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-45}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "-- installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

# Only a stable toolchain is at hand: RUSTC_BOOTSTRAP lets cargo-fuzz pass its unstable flags,
# and without a nightly there is no AddressSanitizer (-s none). A panic, an overflow, a stack
# overflow, a hang (-timeout) or a memory blow-up (-rss_limit_mb) is still a crash.
export RUSTC_BOOTSTRAP=1
build=(-s none --dev)
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
    build+=(--target-dir "$FUZZ_TARGET_DIR")
fi
cargo fuzz build "${build[@]}"

for target in $(cargo fuzz list); do
    echo "-- fuzzing $target for ${seconds}s"
    corpus="$PWD/fuzz/corpus/$target"
    mkdir -p "$corpus"
    if ! cargo fuzz run "${build[@]}" "$target" "$corpus" "$PWD/fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        2>"fuzz/$target.log"; then
        tail -n 60 "fuzz/$target.log" >&2
        echo "!! $target crashed: the input is in fuzz/artifacts/$target/ (docs/fuzzing.md)" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|#[0-9]+.*DONE)' "fuzz/$target.log" || true
done
echo "-- fuzz smoke: every target ran ${seconds}s without a crash"
