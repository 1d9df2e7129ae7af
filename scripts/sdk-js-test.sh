#!/usr/bin/env bash
# Stack Auth's official JavaScript SDK (@stackframe/js, pinned in tests/sdk-js/package.json)
# signs up, signs in, reads and updates the user and signs out against a Postern server
# started by the test, with only the SDK's base URL changed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "node and npm are needed for the SDK test (Debian: apt-get install nodejs npm)" >&2
  exit 1
}
cargo build -q -p postern-server
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cd tests/sdk-js
{ [ -d node_modules/@stackframe/js ] && [ -d node_modules/svix ]; } || npm install --no-audit --no-fund --silent
POSTERN_SERVER_BIN="$target_dir/debug/postern-server" node --test sdk.test.mjs webhooks.test.mjs
