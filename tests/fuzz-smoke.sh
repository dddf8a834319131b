#!/usr/bin/env bash
# Fuzz smoke (docs/fuzzing.md): builds the cargo-fuzz targets in fuzz/ (unoptimized: --dev
# builds several times faster than a release build) and runs every target for FUZZ_SECONDS
# seconds (45 by default), side by side, each from its seeds; fails on a crash, whose input
# lands in fuzz/artifacts/<target>/. Installs cargo-fuzz when it is missing. FUZZ_TARGET_DIR
# puts the build elsewhere than fuzz/target (to keep it between clones).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-45}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "-- installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

# Only a stable toolchain is at hand: RUSTC_BOOTSTRAP lets cargo-fuzz pass its unstable flags.
# No AddressSanitizer (-s none): the code is safe Rust and ASan slows it down. A panic, an
# overflow, a stack overflow, a hang (-timeout) or a memory blow-up (-rss_limit_mb) is a crash.
export RUSTC_BOOTSTRAP=1
build=(-s none --dev)
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
    build+=(--target-dir "$FUZZ_TARGET_DIR")
fi
cargo fuzz build "${build[@]}"

# The targets run side by side (libFuzzer uses one core each); the smoke waits for all of them.
runs=()
trap 'for run in "${runs[@]}"; do kill "${run%%:*}" 2>/dev/null || true; done' EXIT
for target in $(cargo fuzz list); do
    echo "-- fuzzing $target for ${seconds}s"
    mkdir -p "fuzz/corpus/$target"
    cargo fuzz run "${build[@]}" "$target" "$PWD/fuzz/corpus/$target" "$PWD/fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        >"fuzz/$target.log" 2>&1 &
    runs+=("$!:$target")
done
crashed=0
for run in "${runs[@]}"; do
    target="${run#*:}"
    if wait "${run%%:*}"; then
        echo "-- $target: $(grep -E '^Done' "fuzz/$target.log" || echo 'done')"
    else
        tail -n 60 "fuzz/$target.log" >&2
        echo "!! $target crashed: the input is in fuzz/artifacts/$target/ (docs/fuzzing.md)" >&2
        crashed=1
    fi
done
runs=()
[ "$crashed" = 0 ] || exit 1
echo "-- fuzz smoke: every target ran ${seconds}s without a crash"
