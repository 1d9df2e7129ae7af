#!/usr/bin/env bash
# Runs Stack Auth's own backend e2e suite (../shared/compat/stack-e2e) against a Postern
# server on 127.0.0.1:8102, with the harness's fake mailbox receiving Postern's SMTP mail.
# A developer check, not part of CI.
#
#   STACK_AUTH_MIRROR=/path/to/stack-auth.git scripts/stack-e2e.sh            # default selection
#   STACK_AUTH_MIRROR=... scripts/stack-e2e.sh 'auth/password,contact-channels' # files (regexes)
#
# Builds the server (release), seeds Stack's local-development `internal` project
# (--stack-dev-seed, which also points shared OAuth providers at the mock), starts the fake
# mailbox, Stack's mock OAuth provider (../shared/compat/mock-oauth, :8114) and the server, runs the suite, prints
# per-file passed/failed, and stops everything it started. The suite plays the CDN in
# front of the server (it sends X-Forwarded-For and CF-IPCountry for its geo tests), so
# loopback is a trusted proxy here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
harness="${STACK_E2E_DIR:-$root/../shared/compat/stack-e2e}"
: "${STACK_AUTH_MIRROR:?set STACK_AUTH_MIRROR to a clone of stack-auth/stack-auth (its git directory)}"
[ -d "$harness" ] || { echo "no harness at $harness" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/postern-e2e.XXXXXX")
pids=()
cleanup() {
  # A negative id is a process group (the mock provider runs node under npx).
  for pid in "${pids[@]}"; do kill -- "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building postern-server (release)"
cargo build --release -q -p postern-server


if [ ! -d "$harness/node_modules" ]; then
  echo "== npm install (harness)"
  (cd "$harness" && npm install --no-audit --no-fund --silent)
fi

echo "== fake mailbox (SMTP 127.0.0.1:8129, HTTP :8105)"
(cd "$harness" && exec node fake-mailbox/server.mjs) >"$work/mailbox.log" 2>&1 &
pids+=($!)

echo "== Stack's mock OAuth provider (:8114; log: $work/mock-oauth.log)"
mock="$root/../shared/compat/mock-oauth/run.sh"
if [ -x "$mock" ]; then
  setsid env STACK_AUTH_MIRROR="$STACK_AUTH_MIRROR" "$mock" >"$work/mock-oauth.log" 2>&1 &
  mock_pid=$!
  pids+=("-$mock_pid")
  for _ in $(seq 1 600); do
    curl -sf http://localhost:8114/.well-known/openid-configuration >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -sf http://localhost:8114/.well-known/openid-configuration >/dev/null \
    || { echo "mock OAuth provider did not start (OAuth tests will fail):" >&2; tail -n 20 "$work/mock-oauth.log" >&2; }
else
  echo "no mock OAuth provider at $mock: OAuth tests will fail" >&2
fi

echo "== postern-server on 127.0.0.1:8102 (log: $work/server.log while running)"
RUST_LOG="${RUST_LOG:-warn}" \
POSTERN_LISTEN=127.0.0.1:8102 \
POSTERN_PUBLIC_URL=http://localhost:8102 \
POSTERN_DATABASE_URL="sqlite://$work/e2e.db" \
POSTERN_SECRET="stack-e2e-secret-$(date +%s)-0123456789" \
POSTERN_STACK_DEV_SEED=true \
POSTERN_TRUSTED_PROXIES=127.0.0.1/32,::1/128 \
POSTERN_STORAGE_PUBLIC_URL=http://localhost:8121/stack-storage \
POSTERN_SMTP_HOST=127.0.0.1 POSTERN_SMTP_PORT=8129 POSTERN_SMTP_SENDER=noreply@example.com \
  "$root/target/release/postern-server" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:8102/api/v1 >/dev/null 2>&1 && curl -sf http://127.0.0.1:8105/api/v1/mailbox/x >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf http://127.0.0.1:8102/api/v1 >/dev/null || { echo "server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

echo "== running the suite"
set +e
(cd "$harness" && STACK_AUTH_MIRROR="$STACK_AUTH_MIRROR" BASE_URL=http://localhost:8102 \
  STACK_SVIX_SERVER_URL=http://localhost:8102/api/v1/webhooks/svix \
  STACK_E2E_FILES="${1:-${STACK_E2E_FILES:-}}" npm test --silent) >"$work/vitest.log" 2>&1
status=$?
set -e
tail -n 15 "$work/vitest.log"
echo "== per file"
(cd "$harness" && node scripts/summary.mjs)
if [ -n "${KEEP_E2E_LOGS:-}" ]; then
  cp "$work/vitest.log" "$work/server.log" "$KEEP_E2E_LOGS"/ 2>/dev/null || true
fi
exit "$status"
