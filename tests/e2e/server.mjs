// Starts a real `shouli serve` for end-to-end tests: a free loopback port, a fresh data
// directory, the demo data set. SHOULI_BIN overrides the binary (default build/shouli).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const READY_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 5000;

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves to { url, stop() } once GET /healthz answers 200. `extra`: more arguments for
 * `shouli serve` (e.g. ['--with-sim'] for the embedded simulators).
 */
export async function startServer(extra = []) {
  const bin = resolve(ROOT, process.env.SHOULI_BIN || 'build/shouli');
  const data = await mkdtemp(join(tmpdir(), 'shouli-e2e-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const child = spawn(bin, ['serve', '--port', String(port), '--data', data, '--demo', '--accept-requires-signature=false', ...extra], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const done = new Promise((r) =>
    child.on('close', (code, signal) => {
      exited = { code, signal };
      r();
    }),
  );
  child.on('error', (err) => keep(`spawn ${bin}: ${err.message}\n`));

  async function stop() {
    if (!exited) {
      child.kill('SIGTERM');
      const timedOut = await Promise.race([done.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)]);
      if (timedOut) {
        child.kill('SIGKILL');
        await done;
      }
    }
    await rm(data, { recursive: true, force: true });
  }

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) return { url, stop };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  const why = exited ? `exited (${exited.code ?? exited.signal})` : `not ready in ${READY_TIMEOUT_MS} ms`;
  throw new Error(`shouli serve ${why}\n${output}`);
}
