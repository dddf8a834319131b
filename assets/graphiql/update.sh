#!/usr/bin/env bash
# Refreshes the vendored GraphiQL playground assets from npm. Not part of the build: the files
# it writes are committed, and `cargo build` only reads them (include_bytes! in
# src/graphql/playground.rs). Run it after changing a version below, then update the file names
# in src/graphql/playground.rs and src/graphql/playground.html, and commit.
#
# It also re-checks the committed files: run it unchanged and `git status` shows no change.
set -euo pipefail
cd "$(dirname "$0")"

GRAPHIQL=3.9.0  # the last line with a UMD build (4.x and later are ESM-only)
REACT=18.3.1    # the last React with UMD builds

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Exact versions; the tree also lists what graphiql's UMD bundle has inside (for the licences).
(
    cd "$work"
    npm init -y >/dev/null
    npm install --no-audit --no-fund --ignore-scripts --save-exact \
        "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null
)
nm="$work/node_modules"

rm -f graphiql-*.min.js graphiql-*.min.css react-*.production.min.js react-dom-*.production.min.js LICENSE.*
cp "$nm/graphiql/graphiql.min.js" "graphiql-$GRAPHIQL.min.js"
cp "$nm/graphiql/graphiql.min.css" "graphiql-$GRAPHIQL.min.css"
cp "$nm/react/umd/react.production.min.js" "react-$REACT.production.min.js"
cp "$nm/react-dom/umd/react-dom.production.min.js" "react-dom-$REACT.production.min.js"
cp "$nm/graphiql/LICENSE" LICENSE.graphiql
cp "$nm/react/LICENSE" LICENSE.react
cp "$nm/react-dom/LICENSE" LICENSE.react-dom

# Every package of the installed tree with its licence text: graphiql's UMD bundle carries
# graphql-js, @graphiql/react, CodeMirror, markdown-it and more inside one file.
{
    echo "Licences of the npm packages installed with graphiql@$GRAPHIQL, react@$REACT and"
    echo "react-dom@$REACT (a superset of what the vendored bundles contain)."
    find "$nm" -name package.json -path '*/node_modules/*/package.json' \
        -not -path '*/node_modules/*/node_modules/*/*/package.json' |
        while read -r manifest; do
            dir="$(dirname "$manifest")"
            case "$(basename "$dir")" in node_modules | .bin) continue ;; esac
            node -e '
                const p = require(process.argv[1]);
                if (p.name && p.version) console.log(`${p.name}@${p.version}\t${p.license || "UNKNOWN"}`);
            ' "$manifest" | while IFS=$'\t' read -r id licence; do
                printf '%s\t%s\t%s\n' "$id" "$licence" "$dir"
            done
        done | sort -u | while IFS=$'\t' read -r id licence dir; do
            echo
            echo "================================================================================"
            echo "$id ($licence)"
            echo "================================================================================"
            text="$(find "$dir" -maxdepth 1 -iname 'licen[cs]e*' -type f | sort | head -1)"
            if [ -n "$text" ]; then cat "$text"; else echo "(no licence file in the package)"; fi
        done
} > THIRD_PARTY_LICENSES.txt

sha256sum graphiql-*.min.js graphiql-*.min.css react-*.production.min.js > SHA256SUMS
cat SHA256SUMS
