#!/usr/bin/env bash
# Webhook delivery under load: a release server with one endpoint declared in its config
# file, pointing at a local Node receiver; N teams are created through the server API by C
# concurrent clients (each commits one team.created event). The receiver prints delivered
# messages per second and the time from the event's record to its arrival (p50/p99).
#   scripts/load-webhooks.sh                      SQLite file in a temp directory
#   scripts/load-webhooks.sh postgres://...       PostgreSQL (an empty database)
# N (default 3000) and C (default 16) set the load.
set -euo pipefail
cd "$(dirname "$0")/.."
DB_URL="${1:-}"
N="${N:-3000}"
C="${C:-16}"
PORT="${PORT:-18103}"
work=$(mktemp -d)
[ -n "$DB_URL" ] || DB_URL="sqlite://$work/load.db"
cargo build --release -p postern-server >/dev/null
P=hook-load
PCK=pck_hookload000000000000000000000000000000000000000
SSK=ssk_hookload000000000000000000000000000000000000000
SAK=sak_hookload000000000000000000000000000000000000000
SECRET_B64=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(24)).decode())')

cat >"$work/receiver.mjs" <<'JS'
import { createServer } from "node:http";
const n = Number(process.env.N);
const lat = [];
let first = 0, last = 0;
const ids = new Set();
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const now = Date.now();
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    res.writeHead(204).end();
    if (body.type !== "team.created") return;
    ids.add(req.headers["svix-id"]);
    lat.push(now - body.data.created_at_millis);
    if (!first) first = now;
    last = now;
    if (lat.length === n) report(true);
  });
});
function report(done) {
  const sorted = [...lat].sort((a, b) => a - b);
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const secs = Math.max(0.001, (last - first) / 1000);
  console.log(`${done ? "delivered" : "so far"} ${lat.length}/${n} (${ids.size} distinct ids) in ${secs}s: ${(lat.length / secs).toFixed(0)} msg/s; record -> arrival p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${sorted[sorted.length - 1]} ms`);
  if (done) process.exit(0);
}
process.on("SIGTERM", () => { report(false); process.exit(1); });
server.listen(0, "127.0.0.1", () => console.log(`PORT=${server.address().port}`));
JS
cat >"$work/driver.mjs" <<'JS'
const [base, n, c] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const headers = {
  "content-type": "application/json", "x-stack-access-type": "server",
  "x-stack-project-id": process.env.P, "x-stack-secret-server-key": process.env.SSK,
};
let next = 0, failed = 0;
const t0 = Date.now();
await Promise.all(Array.from({ length: c }, async () => {
  while (next < n) {
    const i = next++;
    const r = await fetch(`${base}/api/v1/teams`, { method: "POST", headers, body: JSON.stringify({ display_name: `T${i}` }) });
    if (r.status !== 201) failed++;
    await r.arrayBuffer();
  }
}));
console.log(`created ${n - failed} teams in ${(Date.now() - t0) / 1000}s (${failed} failed)`);
JS
N=$N node "$work/receiver.mjs" >"$work/receiver.log" 2>&1 &
rpid=$!
for _ in $(seq 50); do grep -q PORT= "$work/receiver.log" 2>/dev/null && break; sleep 0.1; done
RPORT=$(sed -n 's/^PORT=//p' "$work/receiver.log")
cat >"$work/postern.toml" <<TOML
[[projects]]
id = "$P"
publishable_client_key = "$PCK"
secret_server_key = "$SSK"
super_secret_admin_key = "$SAK"

[[projects.webhook_endpoints]]
url = "http://127.0.0.1:$RPORT/hook"
secret = "whsec_$SECRET_B64"
allow_private_addresses = true
TOML
POSTERN_DEV_LOG_EMAILS=true POSTERN_LISTEN=127.0.0.1:$PORT POSTERN_DATABASE_URL="$DB_URL" \
  POSTERN_SECRET=load-test-secret-0123456789abcdef POSTERN_CONFIG="$work/postern.toml" \
  RUST_LOG=warn target/release/postern-server >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid $rpid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/v1" >/dev/null && break; sleep 0.1; done
echo "== $N team.created webhooks, $C concurrent API clients, $(echo "$DB_URL" | cut -d: -f1)"
P=$P SSK=$SSK node "$work/driver.mjs" "http://127.0.0.1:$PORT" "$N" "$C"
for _ in $(seq 1200); do kill -0 $rpid 2>/dev/null || break; sleep 0.1; done
kill $rpid 2>/dev/null && sleep 0.3 || true
grep -v '^PORT=' "$work/receiver.log" || true
peak=$(grep VmHWM /proc/$pid/status | awk '{print $2}')
echo "server peak RSS: $((peak / 1024)) MB"
