#!/usr/bin/env bash
# Flow browser suite: a self-hosted, offline Cap captcha provider (cap-provider.mjs) and the real
# @cap.js/widget in Debian's Chromium driven by playwright-core (no browser download), with every
# request to a host other than 127.0.0.1 blocked. flow-page.test.mjs also starts the real stages-api
# binary (target/debug/stages-api, built before the client suites run: this script builds nothing;
# STAGES_API_BIN overrides the path) and runs the flow page (/if/flow/{slug}/) against it.
set -euo pipefail
suite="$(cd "$(dirname "$0")" && pwd)"
cd "$suite"

if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# playwright-core alone: it never downloads a browser (and `playwright install` is never run).
npm ci --no-audit --no-fund --loglevel=error
exec node --test ./*.test.mjs
