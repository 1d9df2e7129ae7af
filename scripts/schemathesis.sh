#!/usr/bin/env bash
# Property-based API tests of the release server with Schemathesis, driven by the OpenAPI
# document the server serves (GET /api/v1/openapi.json). One run per credential set:
#   client  x-stack-access-type client + the publishable client key
#   server  x-stack-access-type server + the secret server key
#   admin   x-stack-access-type admin  + the super secret admin key
#   user    (opt-in) client + the access and refresh tokens of a freshly signed-up user
# Each run tests the operations its access type may call (scripts/schemathesis/hooks.py) with
# the checks not_a_server_error, response_schema_conformance, status_code_conformance and
# content_type_conformance. Exits non-zero if any run finds a failure.
#
#   scripts/schemathesis.sh                          full: 50 examples per operation (~4 min)
#   SCHEMATHESIS_SHORT=1 scripts/schemathesis.sh     short: 5 examples per operation (~1 min)
#   scripts/schemathesis.sh --include-path-regex '^/users'   extra arguments go to `st run`
#
# Environment: SCHEMATHESIS_SEED (default 20261202), SCHEMATHESIS_MAX_EXAMPLES,
# SCHEMATHESIS_SETS (default "client server admin"; add "user"), SCHEMATHESIS_WORKERS
# (default 1), SCHEMATHESIS_REPORT_DIR (default: the temp dir), SCHEMATHESIS_VENV (default
# ~/.cache/postern-schemathesis-venv), SCHEMATHESIS_PORT (default: a free one),
# SCHEMATHESIS_SERVER_BIN (a postern-server binary to test instead of building this tree).
# The server runs on a fresh SQLite file in a temp dir, with one project whose per-IP rate
# limits are raised out of reach (429s would hide the rest); it is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ST_VERSION=4.32.5
venv="${SCHEMATHESIS_VENV:-$HOME/.cache/postern-schemathesis-venv}"
seed="${SCHEMATHESIS_SEED:-20261202}"
if [ -n "${SCHEMATHESIS_SHORT:-}" ] && [ "${SCHEMATHESIS_SHORT}" != 0 ]; then
  examples="${SCHEMATHESIS_MAX_EXAMPLES:-5}"
else
  examples="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
fi
sets="${SCHEMATHESIS_SETS:-client server admin}"
work=$(mktemp -d "${TMPDIR:-/tmp}/postern-schemathesis.XXXXXX")
reports="${SCHEMATHESIS_REPORT_DIR:-$work/reports}"
mkdir -p "$reports"
reports=$(cd "$reports" && pwd)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  # Keep the reports (and the server log) only.
  rm -f "$work"/postern.db*
  [ "$reports" = "$work/reports" ] || rm -rf "$work"
}
trap cleanup EXIT

# Schemathesis, pinned, in its own virtual environment (reused when the version matches).
if [ "$("$venv/bin/st" --version 2>/dev/null || true)" != "st, version $ST_VERSION" ]; then
  echo "== schemathesis $ST_VERSION into $venv"
  python3 -m venv --help >/dev/null 2>&1 || { echo "python3 -m venv is missing (Debian: apt-get install python3-venv)" >&2; exit 1; }
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

if [ -n "${SCHEMATHESIS_SERVER_BIN:-}" ]; then
  bin="$SCHEMATHESIS_SERVER_BIN"
else
  echo "== building postern-server (release) at $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  cargo build --release -q -p postern-server
  bin="${CARGO_TARGET_DIR:-$root/target}/release/postern-server"
fi

# One project with known keys; every per-IP bucket out of reach.
P=schemathesis
PCK=pck_schemathesis00000000000000000000000000000000000
SSK=ssk_schemathesis00000000000000000000000000000000000
SAK=sak_schemathesis00000000000000000000000000000000000
unlimited='{ burst = 1000000000, perMinute = 1000000000 }'
cat >"$work/postern.toml" <<TOML
[[projects]]
id = "$P"
publishable_client_key = "$PCK"
secret_server_key = "$SSK"
super_secret_admin_key = "$SAK"
[projects.config.security.rateLimits]
signUp = $unlimited
signIn = $unlimited
sendCode = $unlimited
keyCheck = $unlimited
accountChange = $unlimited
TOML

port="${SCHEMATHESIS_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
base="http://127.0.0.1:$port/api/v1"
echo "== postern-server on 127.0.0.1:$port (log: $reports/postern-server.log)"
NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}" "$bin" --listen "127.0.0.1:$port" \
  --database-url "sqlite://$work/postern.db" --secret "schemathesis-secret-$(date +%s)-0123456789abcdef" \
  --config "$work/postern.toml" --dev-log-emails >"$reports/postern-server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do
  curl -sf "$base" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
curl -sf "$base" >/dev/null || { echo "server did not start:" >&2; cat "$reports/postern-server.log" >&2; exit 1; }
curl -sf "$base/openapi.json" -o "$reports/openapi.json"

client=(-H "x-stack-access-type: client" -H "x-stack-project-id: $P" -H "x-stack-publishable-client-key: $PCK")
# Signs up a user (client access) and prints its access and refresh tokens as -H arguments.
user_headers() {
  curl -sf "$base/auth/password/sign-up" "${client[@]}" -H 'content-type: application/json' \
    -d '{"email":"schemathesis@example.com","password":"schemathesis-password-1"}' \
    | "$venv/bin/python" -c 'import json, sys; t = json.load(sys.stdin)
print("x-stack-access-token: " + t["access_token"]); print("x-stack-refresh-token: " + t["refresh_token"])'
}

status=0
for set in $sets; do
  case "$set" in
    client) access=client; headers=("${client[@]}") ;;
    server) access=server; headers=(-H "x-stack-access-type: server" -H "x-stack-project-id: $P" -H "x-stack-secret-server-key: $SSK") ;;
    admin) access=admin; headers=(-H "x-stack-access-type: admin" -H "x-stack-project-id: $P" -H "x-stack-super-secret-admin-key: $SAK") ;;
    user)
      access=client; headers=("${client[@]}")
      tokens=$(user_headers)
      while IFS= read -r h; do headers+=(-H "$h"); done <<<"$tokens" ;;
    *) echo "unknown credential set: $set" >&2; exit 2 ;;
  esac
  sent=$(printf '%s\n' "${headers[@]}" | sed -n 's/^\(x-stack-[a-z-]*\): .*/\1/p' | paste -sd, -)
  echo "== $set: st run, seed $seed, $examples examples per operation (log: $reports/$set.log)"
  start=$SECONDS
  from=$(($(wc -l <"$reports/postern-server.log") + 1))
  set +e
  # From the temp dir: schemathesis writes nothing into the tree.
  (cd "$work" && PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$root/scripts/schemathesis${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks \
    POSTERN_ST_ACCESS="$access" POSTERN_ST_SENT_HEADERS="$sent" \
    "$venv/bin/st" --config-file "$root/scripts/schemathesis/schemathesis.toml" \
    run "$base/openapi.json" "${headers[@]}" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --seed "$seed" --max-examples "$examples" --workers "${SCHEMATHESIS_WORKERS:-1}" \
    --generation-database none --no-color --output-sanitize false \
    --report junit,json --report-junit-path "$reports/$set.junit.xml" \
    --report-json-path "$reports/$set.json" "$@") >"$reports/$set.log" 2>&1
  rc=$?
  set -e
  # The statuses the server answered during this run, from its request log.
  tail -n +"$from" "$reports/postern-server.log" | { grep -o ' status=[0-9]*' || true; } | cut -d= -f2 | sort | uniq -c \
    | awk '{printf "%s%s:%s", sep, $2, $1; sep=" "} END {print ""}' >"$reports/$set.statuses"
  echo "   exit $rc in $((SECONDS - start))s"
  [ "$rc" = 0 ] || status=1
done

# Summary: failures by check and operation, with one reproduction per failure, from the reports.
echo "== summary"
"$venv/bin/python" - "$reports" $sets <<'PY'
import json, re, sys, xml.etree.ElementTree as ET
from pathlib import Path
reports, sets = Path(sys.argv[1]), sys.argv[2:]
for s in sets:
    try:
        doc = json.loads((reports / f"{s}.json").read_text())
    except (OSError, ValueError):
        print(f"{s}: no report (see {reports / (s + '.log')})")
        continue
    ops, cases = doc.get("operations") or {}, doc.get("test_cases") or {}
    print(f"{s}: {ops.get('tested')} operations tested, {cases.get('generated')} test cases, "
          f"{cases.get('unique_failures')} unique failures, {len(doc.get('errors') or [])} errors, "
          f"{doc.get('running_time') or 0:.0f}s")
    statuses = reports / f"{s}.statuses"
    if statuses.exists():
        print(f"  server answered (status:count): {statuses.read_text().strip()}")
    for f in doc.get("failures") or []:
        print(f"  {f['code']} {f['title']} ({f['count']}): {', '.join(f['operations'])}")
    for e in doc.get("errors") or []:
        print(f"  error: {e['title']} ({e['count']})")
    log = (reports / f"{s}.log").read_text(errors="replace")
    for w in re.findall(r"^\s*⚠️\s*(.*)$", log.split("= SUMMARY =")[-1], re.M):
        print(f"  warning: {w}")
    try:
        suite = ET.parse(reports / f"{s}.junit.xml")
    except (OSError, ET.ParseError):
        continue
    for case in suite.iter("testcase"):
        for failure in list(case.findall("failure")) + list(case.findall("error")):
            codes = sorted(set(re.findall(r"^- (ST\d+ [^\n]*)", failure.text or "", re.M)))
            curls = sorted(set(re.findall(r"^\s*(curl .*)$", failure.text or "", re.M)))
            print(f"  {case.get('name')}: {'; '.join(codes) or failure.get('message')}")
            for c in curls:
                print(f"    {c}")
PY
echo "server: $(grep -c ' status=5' "$reports/postern-server.log" || true) answers with 5xx logged"
echo "reports: $reports"
exit "$status"
