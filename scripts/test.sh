#!/usr/bin/env bash
# Runs every check: formatting, clippy (warnings are errors), all tests on SQLite and on a
# real PostgreSQL, the doctests, Stack's JavaScript SDK against the server, a short
# Schemathesis run against the served OpenAPI document, and passkeys and OAuth sign-in in
# headless Chromium.
# PostgreSQL: POSTERN_TEST_POSTGRES_URL if set; otherwise a throwaway cluster is started
# from the installed binaries (scripts/pg-test.sh) and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

if [ -z "${POSTERN_TEST_POSTGRES_URL:-}" ]; then
  export PGTEST_DIR="${TMPDIR:-/tmp}/postern-pg-$$"
  export PGTEST_PORT="${PGTEST_PORT:-54329}"
  trap 'scripts/pg-test.sh stop' EXIT
  url=$(scripts/pg-test.sh start | sed -n 's/^DATABASE_URL=//p')
  export POSTERN_TEST_POSTGRES_URL="$url"
  echo "== PostgreSQL for tests at $url"
fi

echo "== cargo test (unit, integration, store conformance and HTTP on SQLite and PostgreSQL)"
cargo test --workspace --all-targets

echo "== doctests"
cargo test --workspace --doc

echo "== Stack's JavaScript SDK against the server"
scripts/sdk-js-test.sh

echo "== Schemathesis against the served OpenAPI document (short run, debug server)"
cargo build -q -p postern-server
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
SCHEMATHESIS_SHORT=1 SCHEMATHESIS_SERVER_BIN="$target_dir/debug/postern-server" \
  scripts/schemathesis.sh

echo "== Passkeys (EdDSA and ES256) and OAuth sign-in in headless Chromium"
scripts/passkey-browser-test.sh
