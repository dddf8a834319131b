#!/usr/bin/env bash
# Frontend codegen suite: GraphQL Code Generator (typescript + typescript-operations, UUID mapped
# to string) over the checked-in schema.graphql and the graphql-gql suite's operations,
# openapi-typescript over the checked-in openapi.json, then `tsc --noEmit` over the generated
# files and usage.ts, which uses them as a frontend would. Needs neither cargo nor the binary:
# it checks the files a frontend developer generates from. docs/codegen.md has the same recipes.
set -euo pipefail
suite="$(cd "$(dirname "$0")" && pwd)"
cd "$suite"

npm ci --no-audit --no-fund --loglevel=error

# Never type-check what an earlier run generated.
rm -rf generated

echo "== graphql-codegen: schema.graphql + ../graphql-gql/operations/*.graphql"
npx --no-install graphql-codegen --config codegen.ts --silent

echo "== openapi-typescript: openapi.json"
npx --no-install openapi-typescript ../../../openapi.json --output generated/openapi.ts

echo "== UUID is a string in the GraphQL output"
grep -q "UUID: { input: string; output: string; }" generated/schema.ts || {
    echo "!! generated/schema.ts does not map the UUID scalar to string" >&2
    exit 1
}
# `unknown` and `any` as a type: only GraphQL Code Generator's own `Exact` helper has one.
if grep -nE ':[[:space:]]*(unknown|any)\b|<(unknown|any)>' generated/schema.ts generated/operations.ts |
    grep -v 'type Exact<'; then
    echo "!! a generated GraphQL type is unknown or any (above)" >&2
    exit 1
fi

echo "== tsc --noEmit: usage.ts and the generated files"
npx --no-install tsc --noEmit -p tsconfig.json
echo "== codegen suite passed"
