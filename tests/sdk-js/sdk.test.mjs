// Stack Auth's official JavaScript SDK (@stackframe/js) against a Postern server: the app
// code is what Stack's docs show, with only `baseUrl` pointing at Postern.
// The server: ./server.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { StackClientApp, StackServerApp } from "@stackframe/js";
import { startPostern, tempDir } from "./server.mjs";

const projectId = "9d0f5f5e-3c1a-4b7e-9a55-5d3c9b1f2a10";
const keys = {
  publishableClientKey: "pck_sdktest0000000000000000000000000000000000000001",
  secretServerKey: "ssk_sdktest0000000000000000000000000000000000000001",
  superSecretAdminKey: "sak_sdktest0000000000000000000000000000000000000001",
};

let server;
let baseUrl;

before(async () => {
  server = await startPostern(tempDir("postern-sdk-"), {
    POSTERN_SECRET: "sdk-test-secret-0123456789abcdef",
    POSTERN_PROJECT_ID: projectId,
    POSTERN_PROJECT_NAME: "SDK Test",
    POSTERN_PUBLISHABLE_CLIENT_KEY: keys.publishableClientKey,
    POSTERN_SECRET_SERVER_KEY: keys.secretServerKey,
    POSTERN_SUPER_SECRET_ADMIN_KEY: keys.superSecretAdminKey,
  });
  baseUrl = server.baseUrl;
});

after(() => server?.stop());

function clientApp() {
  return new StackClientApp({
    baseUrl,
    projectId,
    publishableClientKey: keys.publishableClientKey,
    tokenStore: "memory",
    devTool: false,
  });
}

test("sign up, read and update the user, sign out, sign in again", async () => {
  const app = clientApp();
  const email = `sdk-${Date.now()}@example.com`;
  const password = "a very good password";

  const signUp = await app.signUpWithCredential({ email, password, noVerificationCallback: true, noRedirect: true });
  assert.equal(signUp.status, "ok", JSON.stringify(signUp));

  const user = await app.getUser({ or: "throw" });
  assert.equal(user.primaryEmail, email);
  assert.equal(user.primaryEmailVerified, false);
  assert.equal(user.hasPassword, true);

  await user.update({ displayName: "SDK User", clientMetadata: { theme: "dark" } });
  const again = await app.getUser({ or: "throw" });
  assert.equal(again.displayName, "SDK User");
  assert.deepEqual(again.clientMetadata, { theme: "dark" });

  // The server SDK sees the same user.
  const serverApp = new StackServerApp({
    baseUrl,
    projectId,
    publishableClientKey: keys.publishableClientKey,
    secretServerKey: keys.secretServerKey,
    tokenStore: "memory",
  });
  const viaServer = await serverApp.getUser(again.id);
  assert.equal(viaServer?.displayName, "SDK User");
  assert.equal(viaServer?.primaryEmail, email);

  await again.signOut({ redirectUrl: "about:blank" }).catch((e) => {
    // Outside a browser the SDK may fail to redirect after signing out; the session is
    // already gone by then.
    if (!String(e).includes("redirect")) throw e;
  });
  assert.equal(await app.getUser(), null);

  const wrong = await app.signInWithCredential({ email, password: "not the password", noRedirect: true });
  assert.equal(wrong.status, "error");
  assert.equal(wrong.error.errorCode, "EMAIL_PASSWORD_MISMATCH");

  const signIn = await app.signInWithCredential({ email, password, noRedirect: true });
  assert.equal(signIn.status, "ok", JSON.stringify(signIn));
  const back = await app.getUser({ or: "throw" });
  assert.equal(back.id, again.id);
  assert.equal(back.displayName, "SDK User");
});

test("a duplicate sign-up is the SDK's typed error", async () => {
  const app = clientApp();
  const email = `dup-${Date.now()}@example.com`;
  const first = await app.signUpWithCredential({ email, password: "password123", noVerificationCallback: true, noRedirect: true });
  assert.equal(first.status, "ok");
  const second = await clientApp().signUpWithCredential({ email, password: "password123", noVerificationCallback: true, noRedirect: true });
  assert.equal(second.status, "error");
  assert.equal(second.error.errorCode, "USER_EMAIL_ALREADY_EXISTS");
});
