#!/usr/bin/env bash
# Load test of API-key checks on loopback (bounded): POST /api/v1/user-api-keys/check and an
# app route protected by the ApiKeyUser extractor (examples/axum-app's GET /by-key), on a
# SQLite file. Needs wrk. Builds the release app first.
#   CONNECTIONS=64 DURATION=10s scripts/load-api-keys.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
root=$(pwd)
cargo build --release -q -p postern-axum-app
work=$(mktemp -d)
cd "$work"
POSTERN_SECRET=load-test-secret-0123456789abcdef RUST_LOG=warn "$root/target/release/postern-axum-app" >app.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q listening app.log 2>/dev/null && break; sleep 0.1; done
P=$(sed -n 's/^project \([^ ]*\) created.*/\1/p' app.log)
SSK=$(sed -n 's/.*(shown once): //p' app.log)
B=http://127.0.0.1:3000/api/v1
S=(-H "x-stack-access-type: server" -H "x-stack-project-id: $P" -H "x-stack-secret-server-key: $SSK" -H "content-type: application/json")
uid=$(curl -sf "$B/users" "${S[@]}" -d '{"display_name":"load"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
key=$(curl -sf "$B/user-api-keys" "${S[@]}" -d "{\"user_id\":\"$uid\",\"description\":\"load\",\"expires_at_millis\":null}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')
cat >check.lua <<LUA
wrk.method = "POST"
wrk.body   = '{"api_key":"$key"}'
LUA
echo "== POST /api/v1/user-api-keys/check, $CONNECTIONS connections, $DURATION"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s check.lua "${S[@]}" "$B/user-api-keys/check" \
  | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
echo "== GET /by-key (ApiKeyUser extractor), $CONNECTIONS connections, $DURATION"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "x-stack-api-key: $key" "http://127.0.0.1:3000/by-key" \
  | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
