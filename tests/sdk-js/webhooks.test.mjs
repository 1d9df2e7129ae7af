// Webhooks as a Stack Auth customer receives them: a project whose config file declares an
// endpoint with a given `whsec_` secret; the official server SDK creates, updates and
// deletes a user; every webhook arrives at a plain Node receiver and verifies with the
// `svix` package's own `Webhook.verify`, unchanged.
// The server: ./server.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { join } from "node:path";
import { StackServerApp } from "@stackframe/js";
import { Webhook } from "svix";
import { startPostern, tempDir } from "./server.mjs";

const projectId = "3f1c2a9e-8d4b-4c1f-9e2a-7b5d6c4e3a21";
const keys = {
  publishableClientKey: "pck_hooktest000000000000000000000000000000000000001",
  secretServerKey: "ssk_hooktest000000000000000000000000000000000000001",
  superSecretAdminKey: "sak_hooktest000000000000000000000000000000000000001",
};
// 24 bytes, as Svix generates them.
const secret = "whsec_" + Buffer.from(Array.from({ length: 24 }, (_, i) => (i * 37 + 11) % 256)).toString("base64");

let server;
let receiver;
let baseUrl;
const received = [];

before(async () => {
  receiver = createHttpServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;

  const dir = tempDir("postern-hooks-");
  const config = join(dir, "postern.toml");
  writeFileSync(
    config,
    `[[projects]]
id = "${projectId}"
publishable_client_key = "${keys.publishableClientKey}"
secret_server_key = "${keys.secretServerKey}"
super_secret_admin_key = "${keys.superSecretAdminKey}"

[[projects.webhook_endpoints]]
url = "${hookUrl}"
secret = "${secret}"
event_types = ["user.created", "user.updated", "user.deleted"]
allow_private_addresses = true
`,
  );
  server = await startPostern(dir, {
    POSTERN_SECRET: "hook-test-secret-0123456789abcdef",
    POSTERN_CONFIG: config,
  });
  baseUrl = server.baseUrl;
});

after(() => {
  server?.stop();
  receiver?.close();
});

async function waitFor(count) {
  for (let i = 0; i < 150 && received.length < count; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return received;
}

test("user.created, user.updated and user.deleted arrive and verify with svix", async () => {
  const app = new StackServerApp({
    baseUrl,
    projectId,
    publishableClientKey: keys.publishableClientKey,
    secretServerKey: keys.secretServerKey,
    tokenStore: "memory",
  });
  const email = `hook-${Date.now()}@example.com`;
  const user = await app.createUser({ primaryEmail: email, displayName: "Hooked" });
  await user.update({ displayName: "Hooked again" });
  await user.delete();

  const got = await waitFor(3);
  assert.equal(got.length, 3, "three webhooks");
  const wh = new Webhook(secret);
  const events = got.map(({ headers, body }) => {
    // Throws unless the signature and timestamp are right.
    return wh.verify(body, {
      "svix-id": headers["svix-id"],
      "svix-timestamp": headers["svix-timestamp"],
      "svix-signature": headers["svix-signature"],
    });
  });
  assert.deepEqual(events.map((e) => e.type), ["user.created", "user.updated", "user.deleted"]);
  assert.equal(events[0].data.id, user.id);
  assert.equal(events[0].data.primary_email, email);
  assert.equal(events[1].data.display_name, "Hooked again");
  assert.deepEqual(events[2].data, { id: user.id, teams: [] });
  assert.equal(new Set(got.map((g) => g.headers["svix-id"])).size, 3, "distinct message ids");

  // A tampered body does not verify.
  assert.throws(() =>
    wh.verify(got[0].body.replace("Hooked", "Hacked"), {
      "svix-id": got[0].headers["svix-id"],
      "svix-timestamp": got[0].headers["svix-timestamp"],
      "svix-signature": got[0].headers["svix-signature"],
    }),
  );
});
