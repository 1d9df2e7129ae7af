#!/usr/bin/env bash
# Password sign-in throughput of the release server (SQLite file, argon2id OWASP), with the
# throttling checks running on every request (per-IP bucket and per-account failure run),
# optionally beside another server binary (for example one built before throttling):
#   scripts/load-sign-in.sh                         this tree only
#   scripts/load-sign-in.sh /tmp/postern-server-old  alternating rounds, this tree vs the other
# The project allows far more than wrk sends per IP, and the requests are spread over
# ACCOUNTS accounts (a real sign-in load: one account seldom signs in from many places at
# the same instant, and past the free failures an attempt waits for those in flight), so no
# request is refused: what is measured is the cost of the checks. Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
OTHER="${1:-}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-16}"
ACCOUNTS="${ACCOUNTS:-256}"
PORT="${PORT:-18110}"
cargo build --release -q -p postern-server
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
P=load-test
PCK=pck_loadtest000000000000000000000000000000000000000
SSK=ssk_loadtest000000000000000000000000000000000000000
SAK=sak_loadtest000000000000000000000000000000000000000
cat >"$work/postern.toml" <<TOML
[[projects]]
id = "$P"
publishable_client_key = "$PCK"
secret_server_key = "$SSK"
super_secret_admin_key = "$SAK"
[projects.config.security.rateLimits.signIn]
burst = 1000000000
perMinute = 1000000000
[projects.config.security.rateLimits.signUp]
burst = 1000000000
perMinute = 1000000000
TOML
cat >"$work/signin.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  -- Each thread has its own Lua state: seed each apart, or they pick the same accounts.
  math.randomseed(os.time() * 1000 + id)
end
request = function()
  local body = string.format('{"email":"load%d@example.com","password":"password123"}',
    math.random(0, $ACCOUNTS - 1))
  return wrk.format(nil, nil, nil, body)
end
LUA
H=(-H "x-stack-access-type: client" -H "x-stack-project-id: $P" -H "x-stack-publishable-client-key: $PCK")

run() { # binary label
  local bin=$1 label=$2 db="$work/$2.db"
  rm -f "$db"*
  POSTERN_DEV_LOG_EMAILS=true POSTERN_LISTEN=127.0.0.1:$PORT POSTERN_DATABASE_URL="sqlite://$db" \
    POSTERN_SECRET=load-test-secret-0123456789abcdef POSTERN_CONFIG="$work/postern.toml" \
    RUST_LOG=warn "$bin" >"$work/$label.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/v1" >/dev/null && break; sleep 0.1; done
  for i in $(seq 0 $((ACCOUNTS - 1))); do
    curl -sf "http://127.0.0.1:$PORT/api/v1/auth/password/sign-up" "${H[@]}" -H 'content-type: application/json' \
      -d "{\"email\":\"load$i@example.com\",\"password\":\"password123\"}" >/dev/null
  done
  local rps
  rps=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$work/signin.lua" "${H[@]}" \
    "http://127.0.0.1:$PORT/api/v1/auth/password/sign-in" | tee "$work/$label.wrk" | awk '/Requests\/sec/ {print $2}')
  if grep -q "Non-2xx" "$work/$label.wrk"; then echo "$label: some answers were not 2xx" >&2; cat "$work/$label.wrk" >&2; fi
  kill $pid; wait $pid 2>/dev/null || true
  echo "$rps"
}

for r in $(seq "$ROUNDS"); do
  this=$(run "target/release/postern-server" this)
  if [ -n "$OTHER" ]; then
    other=$(run "$OTHER" other)
    echo "round $r: this tree $this req/s, other $other req/s"
  else
    echo "round $r: $this req/s"
  fi
done
