// OAuth in a real browser: headless Chromium clicks "Sign in with the test provider" on an
// app page, follows the real redirects (Postern's authorize, the provider's login, Postern's
// callback with its flow cookie, back to the app), and the page exchanges the code with its
// PKCE verifier and reads the signed-in user. The provider is the test crate's OpenID
// Connect provider run as a process (target/debug/oidc-provider).
//
// Needs the server and provider binaries (POSTERN_SERVER_BIN, OIDC_PROVIDER_BIN) and
// Chromium (CHROMIUM); scripts/passkey-browser-test.sh sets them up.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.POSTERN_SERVER_BIN ?? join(here, "../../target/debug/postern-server");
const providerBin = process.env.OIDC_PROVIDER_BIN ?? join(here, "../../target/debug/oidc-provider");
const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";
const projectId = "0b6c58f4-8b8e-4d0a-9e3c-3a1f6c1d2e77";
const keys = {
  pck: "pck_oauthbrowser0000000000000000000000000000000001",
  ssk: "ssk_oauthbrowser0000000000000000000000000000000001",
  sak: "sak_oauthbrowser0000000000000000000000000000000001",
};

let server, provider, site, browser, dir, api, sitePort;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** The app: a sign-in button, and a callback page that finishes the sign-in in the page. */
function appHtml(path) {
  const authorize = `${api}/auth/oauth/authorize/company`;
  if (path.startsWith("/callback")) {
    return `<!doctype html><title>Callback</title><pre id="out">working</pre><script type="module">
      const q = new URLSearchParams(location.search);
      const body = new URLSearchParams({
        grant_type: "authorization_code", client_id: ${JSON.stringify(projectId)},
        client_secret: ${JSON.stringify(keys.pck)}, code: q.get("code") ?? "",
        redirect_uri: location.origin + "/callback", code_verifier: sessionStorage.getItem("verifier") ?? "",
      });
      const out = document.getElementById("out");
      if (q.get("state") !== sessionStorage.getItem("state")) { out.textContent = "state mismatch"; }
      else {
        const t = await (await fetch(${JSON.stringify(api)} + "/auth/oauth/token", { method: "POST", body })).json();
        const me = await (await fetch(${JSON.stringify(api)} + "/users/me", { headers: {
          "x-stack-access-type": "client", "x-stack-project-id": ${JSON.stringify(projectId)},
          "x-stack-publishable-client-key": ${JSON.stringify(keys.pck)}, "x-stack-access-token": t.access_token,
        } })).json();
        out.textContent = JSON.stringify({ is_new_user: t.is_new_user, me });
      }
    </script>`;
  }
  return `<!doctype html><title>An app</title>
    <button id="sign-in">Sign in with the test provider</button><script type="module">
      const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
      document.getElementById("sign-in").onclick = async () => {
        const verifier = b64(crypto.getRandomValues(new Uint8Array(32)));
        const state = b64(crypto.getRandomValues(new Uint8Array(16)));
        sessionStorage.setItem("verifier", verifier);
        sessionStorage.setItem("state", state);
        const challenge = b64(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
        const q = new URLSearchParams({
          client_id: ${JSON.stringify(projectId)}, client_secret: ${JSON.stringify(keys.pck)},
          redirect_uri: location.origin + "/callback", scope: "legacy", state, grant_type: "authorization_code",
          code_challenge: challenge, code_challenge_method: "S256", response_type: "code",
        });
        location.href = ${JSON.stringify(authorize)} + "?" + q;
      };
    </script>`;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "postern-oauth-browser-"));
  const port = await freePort();
  sitePort = await freePort();
  // The browser reaches Postern as localhost: the flow cookie and the provider's redirect
  // back (to the public URL) are on the same host.
  api = `http://localhost:${port}/api/v1`;
  provider = spawn(providerBin, ["browser-client", "browser-secret", `http://localhost:${port}/api/v1/auth/oauth/callback/company`], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const issuer = await new Promise((resolve, reject) => {
    createInterface({ input: provider.stdout }).once("line", resolve);
    provider.once("exit", (code) => reject(new Error(`provider exited: ${code}`)));
  });
  server = spawn(bin, [], {
    env: {
      ...process.env,
      RUST_LOG: "warn",
      POSTERN_LISTEN: `127.0.0.1:${port}`,
      POSTERN_PUBLIC_URL: `http://localhost:${port}`,
      POSTERN_DATABASE_URL: `sqlite://${join(dir, "oauth.db")}`,
      POSTERN_SECRET: "oauth-browser-secret-0123456789abcdef",
      POSTERN_DEV_LOG_EMAILS: "true",
      POSTERN_OAUTH_PRIVATE_ISSUERS: "true",
      POSTERN_PROJECT_ID: projectId,
      POSTERN_PROJECT_NAME: "OAuth Browser Test",
      POSTERN_PUBLISHABLE_CLIENT_KEY: keys.pck,
      POSTERN_SECRET_SERVER_KEY: keys.ssk,
      POSTERN_SUPER_SECRET_ADMIN_KEY: keys.sak,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  site = createHttpServer((req, res) => {
    res.setHeader("content-type", "text/html");
    res.end(appHtml(req.url));
  }).listen(sitePort, "127.0.0.1");
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(api);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const r = await fetch(`${api}/internal/config/override/environment`, {
    method: "PATCH",
    headers: {
      "content-type": "application/json",
      "x-stack-project-id": projectId,
      "x-stack-access-type": "admin",
      "x-stack-super-secret-admin-key": keys.sak,
    },
    body: JSON.stringify({
      config_override_string: JSON.stringify({
        "domains.allowLocalhost": true,
        "auth.oauth.providers.company": {
          type: "oidc", isShared: false, issuerUrl: issuer,
          clientId: "browser-client", clientSecret: "browser-secret",
          allowSignIn: true, allowConnectedAccounts: true,
        },
      }),
    }),
  });
  assert.equal(r.status, 200, await r.text());
  browser = await puppeteer.launch({ executablePath: chromium, args: ["--no-sandbox", "--headless=new"] });
});

after(async () => {
  await browser?.close();
  site?.close();
  server?.kill();
  provider?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function signInThroughTheProvider() {
  const page = await browser.newPage();
  await page.goto(`http://localhost:${sitePort}/`);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.click("#sign-in"),
  ]);
  await page.waitForFunction(() => document.getElementById("out")?.textContent !== "working", { timeout: 15000 });
  assert.ok(page.url().startsWith(`http://localhost:${sitePort}/callback?`), page.url());
  const result = JSON.parse(await page.$eval("#out", (e) => e.textContent));
  await page.close();
  return result;
}

test("sign in with the test provider: real redirects in Chromium, then the code exchange", async () => {
  const first = await signInThroughTheProvider();
  assert.equal(first.is_new_user, true);
  assert.equal(first.me.primary_email_verified, true);
  assert.match(first.me.primary_email, /@provider\.example$/);
  assert.equal(first.me.oauth_providers.length, 1);
  assert.equal(first.me.oauth_providers[0].id, "company");
  // Another sign-in is another provider account (the provider hands out fresh ones).
  const second = await signInThroughTheProvider();
  assert.equal(second.is_new_user, true);
  assert.notEqual(second.me.id, first.me.id);
});
