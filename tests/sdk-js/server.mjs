// Starts a Postern server (the debug binary by default) on a free loopback port with a
// SQLite database in a temporary directory, for the SDK tests.
//
// Needs the server binary: POSTERN_SERVER_BIN, else ../../target/debug/postern-server
// (scripts/sdk-js-test.sh builds it).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.POSTERN_SERVER_BIN ?? join(here, "../../target/debug/postern-server");

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

// A temporary directory for the server's files (and the test's).
export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

// Starts the server with `env` added to the defaults (temporary SQLite database in `dir`,
// mail written to the log); waits until it answers. Returns `{ baseUrl, stop }`.
export async function startPostern(dir, env) {
  const port = await freePort();
  const baseUrl = `http://localhost:${port}`;
  const server = spawn(bin, [], {
    env: {
      ...process.env,
      RUST_LOG: "warn",
      POSTERN_LISTEN: `127.0.0.1:${port}`,
      POSTERN_PUBLIC_URL: baseUrl,
      POSTERN_DATABASE_URL: `sqlite://${join(dir, "postern.db")}`,
      POSTERN_DEV_LOG_EMAILS: "true",
      ...env,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const stop = () => {
    server.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${baseUrl}/api/v1`);
      if (r.ok) return { baseUrl, stop };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  stop();
  throw new Error(`the server at ${bin} did not start`);
}
