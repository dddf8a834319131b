#!/usr/bin/env bash
# Conformance suite: authentik's generated TypeScript client (@goauthentik/api, pinned exactly in
# package.json and package-lock.json) against the real stages-api binary. Each test file starts
# the binary through server.js (fresh temp SQLite file, free port) and stops it by PID in after().
set -euo pipefail
suite_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$suite_dir/../../.."

if [ ! -x target/debug/stages-api ]; then
    cargo build --bins
fi

cd "$suite_dir"
npm ci --no-audit --no-fund --loglevel=error
exec node --test "$@" captcha.test.js flows.test.js executor.test.js
