// Starts the real stages-api binary on a free port with a fresh SQLite file and a random
// BOOTSTRAP_TOKEN, and stops it by its PID.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dirname, "../../..");
const binary = process.env.STAGES_API_BIN ?? join(repo, "target/debug/stages-api");

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

export async function startService() {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run cargo build first`);
  const dir = mkdtempSync(join(tmpdir(), "stages-graphiql-"));
  const port = await freePort();
  const token = randomBytes(32).toString("base64url");
  const log = openSync(join(dir, "server.log"), "w");
  const child = spawn(binary, ["serve"], {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${dir}/stages.db?mode=rwc`,
      LISTEN_ADDR: `127.0.0.1:${port}`,
      BOOTSTRAP_TOKEN: token,
      RUST_LOG: "warn",
    },
    stdio: ["ignore", log, log],
  });
  const exited = new Promise((ok) => child.once("exit", ok));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  // A test run killed midway still takes the server down.
  process.once("exit", () => child.exitCode === null && child.kill("SIGKILL"));

  const origin = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`stages-api exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${origin}/-/health/ready/`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (attempt === 300) {
      await stop();
      throw new Error("stages-api did not become ready");
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  return { origin, host: `127.0.0.1:${port}`, token, stop };
}
