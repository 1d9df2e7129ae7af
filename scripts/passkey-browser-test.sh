#!/usr/bin/env bash
# Passkeys and OAuth in a real browser (tests/browser-passkey): headless Chromium's WebAuthn
# client with a virtual authenticator registers a passkey and signs in, and a page signs in
# through the test OpenID Connect provider following the real redirects, against a Postern
# server started by the test. Part of scripts/test.sh. It needs Chromium (Debian: apt-get
# install chromium), installed here when run as root and missing; where it cannot be
# installed the check is skipped with a message saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "node and npm are needed (Debian: apt-get install nodejs npm)" >&2
  exit 1
}
chromium="${CHROMIUM:-$(command -v chromium || true)}"
if [ -z "$chromium" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || true
  chromium=$(command -v chromium || true)
fi
if [ -z "$chromium" ]; then
  echo "SKIPPED: Chromium is not installed and could not be installed here (Debian: apt-get install chromium, or set CHROMIUM); the browser checks did not run" >&2
  exit 0
fi
cargo build -q -p postern-server -p postern-tests --bin postern-server --bin oidc-provider
target_dir=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cd tests/browser-passkey
[ -d node_modules/puppeteer-core ] || npm install --no-audit --no-fund --silent
CHROMIUM="$chromium" POSTERN_SERVER_BIN="$target_dir/debug/postern-server" \
  OIDC_PROVIDER_BIN="$target_dir/debug/oidc-provider" node --test passkey.test.mjs oauth.test.mjs
