// Passkeys in a real browser: headless Chromium's own WebAuthn client, with a virtual
// authenticator (Chrome DevTools Protocol, CTAP 2.1, resident keys, user verification),
// registers a passkey and signs in without a username against a Postern server started
// by the test. The page does what Stack's SDK does: it takes `options_json`, puts its own
// hostname in place of the sentinel RP id, calls `navigator.credentials.create` / `get`
// and posts the credential's `toJSON()` back with the code.
//
// Needs the server binary (POSTERN_SERVER_BIN, else ../../target/debug/postern-server) and
// Chromium (CHROMIUM, else /usr/bin/chromium); scripts/passkey-browser-test.sh sets up both.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.POSTERN_SERVER_BIN ?? join(here, "../../target/debug/postern-server");
const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";
const projectId = "5c0a1a52-5c2b-4d43-8a1e-6b3f0e2d7b11";
const keys = {
  pck: "pck_browsertest000000000000000000000000000000000001",
  ssk: "ssk_browsertest000000000000000000000000000000000001",
  sak: "sak_browsertest000000000000000000000000000000000001",
};

let server, site, browser, dir, api;

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

function headers(accessType, token) {
  const h = { "content-type": "application/json", "x-stack-project-id": projectId, "x-stack-access-type": accessType };
  if (accessType === "client") h["x-stack-publishable-client-key"] = keys.pck;
  if (accessType === "admin") h["x-stack-super-secret-admin-key"] = keys.sak;
  if (token) h["x-stack-access-token"] = token;
  return h;
}

async function call(method, path, accessType, body, token) {
  const r = await fetch(`${api}${path}`, {
    method,
    headers: headers(accessType, token),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

/** A page of the app at http://localhost:<port>/ with a fresh virtual authenticator. */
async function appPage(sitePort) {
  const page = await browser.newPage();
  await page.goto(`http://localhost:${sitePort}/`);
  const cdp = await page.createCDPSession();
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      ctap2Version: "ctap2_1",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { page, cdp, authenticatorId };
}

/** `navigator.credentials.create` as the SDK calls it; `withoutEdDsa` drops EdDSA first. */
function create(page, options, { withoutEdDsa = false } = {}) {
  return page.evaluate(
    async (options, withoutEdDsa) => {
      if (options.rp.id !== "THIS_VALUE_WILL_BE_REPLACED.example.com") throw new Error("no sentinel");
      options.rp.id = location.hostname;
      if (withoutEdDsa) options.pubKeyCredParams = options.pubKeyCredParams.filter((p) => p.alg !== -8);
      const c = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) });
      return c.toJSON();
    },
    options,
    withoutEdDsa,
  );
}

/** `navigator.credentials.get` as the SDK calls it (usernameless: no allowCredentials). */
function get(page, options) {
  return page.evaluate(async (options) => {
    if (options.rpId !== "THIS_VALUE_WILL_BE_REPLACED.example.com") throw new Error("no sentinel");
    options.rpId = location.hostname;
    const c = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    return c.toJSON();
  }, options);
}

let sitePort;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "postern-browser-"));
  const port = await freePort();
  sitePort = await freePort();
  api = `http://127.0.0.1:${port}/api/v1`;
  server = spawn(bin, [], {
    env: {
      ...process.env,
      RUST_LOG: "warn",
      POSTERN_LISTEN: `127.0.0.1:${port}`,
      POSTERN_PUBLIC_URL: `http://localhost:${port}`,
      POSTERN_DATABASE_URL: `sqlite://${join(dir, "browser.db")}`,
      POSTERN_SECRET: "browser-test-secret-0123456789abcdef",
      POSTERN_DEV_LOG_EMAILS: "true",
      POSTERN_PROJECT_ID: projectId,
      POSTERN_PROJECT_NAME: "Browser Test",
      POSTERN_PUBLISHABLE_CLIENT_KEY: keys.pck,
      POSTERN_SECRET_SERVER_KEY: keys.ssk,
      POSTERN_SUPER_SECRET_ADMIN_KEY: keys.sak,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  site = createHttpServer((_, res) => {
    res.setHeader("content-type", "text/html");
    res.end("<!doctype html><title>An app</title>");
  }).listen(sitePort, "127.0.0.1");
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(api);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const r = await call("PATCH", "/internal/config/override/environment", "admin", {
    config_override_string: JSON.stringify({ "auth.passkey.allowSignIn": true }),
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  browser = await puppeteer.launch({ executablePath: chromium, args: ["--no-sandbox", "--headless=new"] });
});

after(async () => {
  await browser?.close();
  site?.close();
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("register a passkey and sign in with it, usernameless, in Chromium", async () => {
  const up = await call("POST", "/auth/password/sign-up", "client", { email: "chromium@example.com", password: "password123" });
  assert.equal(up.status, 200);
  const { page, cdp, authenticatorId } = await appPage(sitePort);

  const init = await call("POST", "/auth/passkey/initiate-passkey-registration", "client", {}, up.body.access_token);
  assert.equal(init.status, 200);
  // Stack's list puts EdDSA first; this page offers ES256 and RS256 only (the next test
  // registers an EdDSA credential).
  const credential = await create(page, init.body.options_json, { withoutEdDsa: true });
  assert.equal(credential.response.publicKeyAlgorithm, -7);
  const reg = await call("POST", "/auth/passkey/register", "client", { credential, code: init.body.code }, up.body.access_token);
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  assert.equal(reg.body.user_handle, credential.id);
  const me = await call("GET", "/users/me", "client", undefined, up.body.access_token);
  assert.equal(me.body.passkey_auth_enabled, true);
  // The authenticator keeps a resident credential for the page's host, with the user id
  // (UTF-8) as its user handle.
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].rpId, "localhost");
  assert.equal(credentials[0].isResidentCredential, true);
  assert.equal(Buffer.from(credentials[0].userHandle, "base64").toString(), up.body.user_id);

  for (let i = 0; i < 2; i++) {
    const start = await call("POST", "/auth/passkey/initiate-passkey-authentication", "client", {});
    assert.equal(start.status, 200);
    const assertion = await get(page, start.body.options_json);
    assert.equal(assertion.id, credential.id);
    const signIn = await call("POST", "/auth/passkey/sign-in", "client", { authentication_response: assertion, code: start.body.code });
    assert.equal(signIn.status, 200, JSON.stringify(signIn.body));
    assert.equal(signIn.body.user_id, up.body.user_id);
    assert.equal(signIn.body.is_new_user, false);
    const whoami = await call("GET", "/users/me", "client", undefined, signIn.body.access_token);
    assert.equal(whoami.body.id, up.body.user_id);
    // The same assertion again: the code is used up.
    const replay = await call("POST", "/auth/passkey/sign-in", "client", { authentication_response: assertion, code: start.body.code });
    assert.equal(replay.status, 409);
    assert.equal(replay.body.code, "VERIFICATION_CODE_ALREADY_USED");
  }
  await page.close();
});

test("an EdDSA (Ed25519) credential, Stack's first choice, registers and signs in", async () => {
  const up = await call("POST", "/auth/password/sign-up", "client", { email: "eddsa@example.com", password: "password123" });
  const { page } = await appPage(sitePort);
  const init = await call("POST", "/auth/passkey/initiate-passkey-registration", "client", {}, up.body.access_token);
  assert.deepEqual(init.body.options_json.pubKeyCredParams.map((p) => p.alg), [-8, -7, -257]);
  const credential = await create(page, init.body.options_json);
  assert.equal(credential.response.publicKeyAlgorithm, -8, "the authenticator takes the first algorithm it supports");
  const reg = await call("POST", "/auth/passkey/register", "client", { credential, code: init.body.code }, up.body.access_token);
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  const start = await call("POST", "/auth/passkey/initiate-passkey-authentication", "client", {});
  const assertion = await get(page, start.body.options_json);
  assert.equal(assertion.id, credential.id);
  const signIn = await call("POST", "/auth/passkey/sign-in", "client", { authentication_response: assertion, code: start.body.code });
  assert.equal(signIn.status, 200, JSON.stringify(signIn.body));
  assert.equal(signIn.body.user_id, up.body.user_id);
  // A signature over other data fails (the Ed25519 check is real).
  const again = await call("POST", "/auth/passkey/initiate-passkey-authentication", "client", {});
  const other = await get(page, again.body.options_json);
  const tampered = { ...other, response: { ...other.response, signature: assertion.response.signature } };
  const bad = await call("POST", "/auth/passkey/sign-in", "client", { authentication_response: tampered, code: again.body.code });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, "PASSKEY_AUTHENTICATION_FAILED");
  await page.close();
});
