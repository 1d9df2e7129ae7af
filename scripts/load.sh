#!/usr/bin/env bash
# Load test of the running server on loopback (bounded: a few seconds per endpoint).
#   scripts/load.sh                      SQLite file in a temp directory
#   scripts/load.sh postgres://...       PostgreSQL (an empty database)
#   SERVER=postern-actix-server scripts/load.sh    the actix-web server instead of axum
# Needs wrk (apt-get install wrk). Builds the release server first.
set -euo pipefail
cd "$(dirname "$0")/.."
DB_URL="${1:-}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18102}"
work=$(mktemp -d)
[ -n "$DB_URL" ] || DB_URL="sqlite://$work/load.db"
SERVER="${SERVER:-postern-server}"
cargo build --release -p "$SERVER" >/dev/null
P=load-test
PCK=pck_loadtest000000000000000000000000000000000000000
SSK=ssk_loadtest000000000000000000000000000000000000000
SAK=sak_loadtest000000000000000000000000000000000000000
POSTERN_DEV_LOG_EMAILS=true POSTERN_LISTEN=127.0.0.1:$PORT POSTERN_DATABASE_URL="$DB_URL" POSTERN_SECRET=load-test-secret-0123456789abcdef \
  POSTERN_PROJECT_ID=$P POSTERN_PUBLISHABLE_CLIENT_KEY=$PCK POSTERN_SECRET_SERVER_KEY=$SSK POSTERN_SUPER_SECRET_ADMIN_KEY=$SAK \
  RUST_LOG=warn "target/release/$SERVER" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/v1" >/dev/null && break; sleep 0.1; done
H=(-H "x-stack-access-type: client" -H "x-stack-project-id: $P" -H "x-stack-publishable-client-key: $PCK")
email="load-$RANDOM@example.com"
resp=$(curl -sf "http://127.0.0.1:$PORT/api/v1/auth/password/sign-up" "${H[@]}" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"password123\"}")
at=$(echo "$resp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

echo "== $SERVER: GET /api/v1/users/me (access token), $CONNECTIONS connections, $DURATION"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${H[@]}" -H "x-stack-access-token: $at" \
  "http://127.0.0.1:$PORT/api/v1/users/me" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"

cat >"$work/signin.lua" <<LUA
wrk.method = "POST"
wrk.body   = '{"email":"$email","password":"password123"}'
wrk.headers["content-type"] = "application/json"
LUA
[ "${SKIP_SIGN_IN:-}" = 1 ] && exit 0
echo "== $SERVER: POST /api/v1/auth/password/sign-in (argon2id OWASP), $CONNECTIONS connections, $DURATION"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/signin.lua" "${H[@]}" \
  "http://127.0.0.1:$PORT/api/v1/auth/password/sign-in" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
