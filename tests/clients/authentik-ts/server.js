// The real stages-api binary for this suite's test files: started on a free port with a fresh
// SQLite file and a bootstrap token, stopped by PID; limited tokens made with
// `stages-api token create` against the server's database.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const binary = process.env.STAGES_API_BIN ?? join(repoRoot, 'target', 'debug', 'stages-api');

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

// Starts the binary (`env` adds to its environment, e.g. SITEVERIFY_TIMEOUT); resolves once it
// answers its readiness probe.
export async function startServer(prefix = 'stages-api-node-', env = {}) {
  assert.ok(existsSync(binary), `${binary} is missing: run \`cargo build --bins\` first`);
  const workdir = mkdtempSync(join(tmpdir(), prefix));
  const databaseUrl = `sqlite://${join(workdir, 'stages.db')}?mode=rwc`;
  const bootstrapToken = randomBytes(32).toString('base64url');
  const port = await freePort();
  const logFd = openSync(join(workdir, 'server.log'), 'w');
  const child = spawn(binary, ['serve'], {
    cwd: workdir,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      LISTEN_ADDR: `127.0.0.1:${port}`,
      BOOTSTRAP_TOKEN: bootstrapToken,
      ...env,
    },
    // The server's log goes to a file, shown only when it fails to start.
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const server = {
    basePath: `http://127.0.0.1:${port}/api/v3`,
    databaseUrl,
    bootstrapToken,
    createToken(...permissions) {
      const args = ['token', 'create', '--name', `node-${randomUUID().slice(0, 8)}`];
      for (const p of permissions) args.push('--permission', p);
      const out = execFileSync(binary, args, {
        env: { ...process.env, DATABASE_URL: databaseUrl },
        encoding: 'utf8',
      });
      return out.trim();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((ok) => child.once('exit', ok));
        process.kill(child.pid, 'SIGTERM');
        await exited;
      }
      rmSync(workdir, { recursive: true, force: true });
    },
  };
  const startupLog = () => readFileSync(join(workdir, 'server.log'), 'utf8');
  // Bounded wait for readiness (startup runs the migrations); not a test assertion.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      const log = startupLog();
      await server.stop();
      throw new Error(`stages-api exited with ${child.exitCode}:\n${log}`);
    }
    try {
      const r = await fetch(`http://127.0.0.1:${port}/-/health/ready/`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (i >= 300) {
      const log = startupLog();
      await server.stop();
      throw new Error(`stages-api did not become ready:\n${log}`);
    }
    await sleep(100);
  }
  return server;
}
