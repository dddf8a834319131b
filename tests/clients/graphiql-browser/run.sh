#!/usr/bin/env bash
# GraphiQL browser suite: Debian's Chromium driven by playwright-core (no browser download), the
# page at GET /graphql of the real binary with every other host blocked. Needs
# target/debug/stages-api (`cargo build`); graphiql.test.mjs starts and stops the server.
set -euo pipefail
suite="$(cd "$(dirname "$0")" && pwd)"
cd "$suite"

if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# playwright-core alone: it never downloads a browser (and `playwright install` is never run).
npm ci --no-audit --no-fund --loglevel=error
exec node --test graphiql.test.mjs
