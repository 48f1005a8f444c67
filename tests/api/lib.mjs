// Helpers of the API tests: start a real `shouli serve` on loopback and talk to it like the
// web UI does (session cookie + CSRF header).
//
// SHOULI_BIN overrides the binary (default build/shouli). The data directory is always a
// fresh temporary one. SHOULI_TEST_DB, when set, selects the PostgreSQL run: it is a libpq
// conninfo (keyword form or URI, optionally prefixed "postgres:") of a server where the tests
// may CREATE DATABASE. Each server gets a database of its own, made with psql and dropped by
// stop(): a fresh data directory means a fresh master key, which cannot read the data keys
// and row MACs that another run left in a shared database.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = resolve(ROOT, process.env.SHOULI_BIN || 'build/shouli');
const READY_TIMEOUT_MS = 30000;
const STOP_TIMEOUT_MS = 5000;

/** The demo accounts (auth_seed_demo). */
export const DEMO = {
  admin: { username: 'admin', password: 'Admin@2026demo' },
  security: { username: 'security', password: 'Security@2026demo' },
  auditor: { username: 'auditor', password: 'Auditor@2026demo' },
  manager: { username: 'manager', password: 'Manager@2026demo' },
  clerk: { username: 'clerk', password: 'Clerk@2026demo' },
  supervisor: { username: 'supervisor', password: 'Supervisor@2026demo' },
  examadmin: { username: 'examadmin', password: 'Exam@2026demo' },
  catalog: { username: 'catalog', password: 'Catalog@2026demo' },
  ops: { username: 'ops', password: 'Ops@2026demo' },
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1 (for a server the test starts itself, e.g. --sim-port). */
export function freePort() {
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

let dbSeq = 0;

function psql(conninfo, sql) {
  const r = spawnSync('psql', [conninfo, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], {
    encoding: 'utf8',
    timeout: 30000,
  });
  if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr || r.error}`);
}

// The conninfo of database name on the server of base (keyword form: the last dbname wins).
function withDbname(base, name) {
  if (/^postgres(ql)?:\/\//.test(base)) {
    const u = new URL(base);
    u.pathname = `/${name}`;
    return u.toString();
  }
  return `${base} dbname=${name}`;
}

/** A fresh database for one server: { args, drop() }; SQLite (no SHOULI_TEST_DB): no args. */
function freshDb() {
  const env = process.env.SHOULI_TEST_DB;
  if (!env) return { args: [], drop() {} };
  const base = env.replace(/^postgres:(?!\/\/)/, '');
  const name = `shouli_api_${process.pid}_${++dbSeq}_${Date.now().toString(36)}`;
  psql(base, `CREATE DATABASE "${name}"`);
  return {
    args: ['--db', `postgres:${withDbname(base, name)}`],
    drop() {
      psql(base, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

/**
 * Run SQL directly on a server's database, behind its back (to age a session, or to tamper
 * with a row as an intruder with database access would): sqlite3 on the SQLite file, psql
 * on the PostgreSQL run. Returns stdout (rows as "a|b" lines). Throws when the client fails.
 */
export function sql(srv, text) {
  const pg = srv.dbArgs.length ? srv.dbArgs[1].replace(/^postgres:/, '') : null;
  const r = pg
    ? spawnSync('psql', [pg, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', text], { encoding: 'utf8', timeout: 30000 })
    : spawnSync('sqlite3', ['-cmd', '.timeout 5000', join(srv.data, 'shouli.db'), text], {
        encoding: 'utf8',
        timeout: 30000,
      });
  if (r.status !== 0) throw new Error(`sql ${text}: ${r.stderr || r.error}`);
  return r.stdout.trim();
}

/** Run `shouli admin ...` against a server's data directory and database (the server
 * should be halted first); returns { status, stdout, stderr }. */
export function admin(srv, args, input = '') {
  const r = spawnSync(BIN, ['admin', ...args, '--data', srv.data, ...srv.dbArgs], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    timeout: 30000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Start `shouli serve --demo` on a free port with a fresh data directory (and database).
 * Resolves to { url, data, dbArgs, output(), halt(), stop(), pid, exited() } once GET /healthz
 * answers 200 (exited() resolves to the process's { code, signal } when it has ended):
 * halt() stops the process and keeps its data (for `shouli admin` checks), stop() also
 * removes the data directory and drops the database.
 * Options: { share: srv } starts a second node on srv's data directory and database (the
 * same master key, the same SQLite file in WAL mode or the same PostgreSQL database); its
 * stop() only halts it, the first server's stop() removes what they share.
 */
export async function startServer(extra = [], { share } = {}) {
  const data = share ? share.data : await mkdtemp(join(tmpdir(), 'shouli-api-'));
  const db = share ? { args: share.dbArgs, drop() {} } : freshDb();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Acceptance of an unsigned form is allowed unless a test asks for the signing gate (a
  // later --accept-requires-signature=true in extra wins).
  const args = ['serve', '--port', String(port), '--data', data, ...db.args, '--demo',
    '--accept-requires-signature=false', ...extra];
  const child = spawn(BIN, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk) => {
    out = (out + chunk).slice(-20000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('error', (err) => keep(`spawn ${BIN}: ${err.message}\n`));
  let exited = null;
  const done = new Promise((r) =>
    child.on('close', (code, signal) => {
      exited = { code, signal };
      r();
    }),
  );

  async function halt() {
    if (exited) return;
    child.kill('SIGTERM');
    const late = await Promise.race([done.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)]);
    if (late) {
      child.kill('SIGKILL');
      await done;
    }
  }
  async function stop() {
    await halt();
    if (share) return;
    db.drop();
    await rm(data, { recursive: true, force: true });
  }

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) {
        // pid and exited() (resolves to { code, signal }) serve the shutdown tests.
        const exitedP = () => done.then(() => exited);
        return { url, data, dbArgs: db.args, output: () => out, halt, stop, pid: child.pid, exited: exitedP };
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  const why = exited ? `exited (${exited.code ?? exited.signal})` : `not ready in ${READY_TIMEOUT_MS} ms`;
  throw new Error(`shouli serve ${why}\n${out}`);
}

/**
 * Start `shouli sim` (the simulators of the external systems) on a free port; extra are more
 * flags (e.g. ['--seed', '7', '--decision-delay-ms', '1000']). Resolves to { url, output(),
 * stop(), pid, exited() } once GET /healthz answers 200 (exited() resolves to the process's
 * { code, signal } when it has ended).
 */
export async function startSim(extra = []) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(BIN, ['sim', '--port', String(port), ...extra], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk) => {
    out = (out + chunk).slice(-20000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('error', (err) => keep(`spawn ${BIN}: ${err.message}\n`));
  let exited = null;
  const done = new Promise((r) =>
    child.on('close', (code, signal) => {
      exited = { code, signal };
      r();
    }),
  );
  async function stop() {
    if (exited) return;
    child.kill('SIGTERM');
    const late = await Promise.race([done.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)]);
    if (late) {
      child.kill('SIGKILL');
      await done;
    }
  }
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) return { url, output: () => out, stop, pid: child.pid, exited: () => done.then(() => exited) };
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  await stop();
  throw new Error(`shouli sim ${exited ? `exited (${exited.code ?? exited.signal})` : 'not ready'}\n${out}`);
}

/**
 * A client with a one-cookie jar (shouli_sid) and the CSRF token from the last login/me.
 * Every call resolves to { status, body, headers } (body parsed as JSON when it is JSON).
 * Options: { csrf: false } leaves the X-CSRF-Token header off an unsafe request.
 */
export function client(url) {
  let cookie = '';
  let csrf = '';

  async function request(method, path, body, { csrf: sendCsrf = true } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (cookie) headers.Cookie = cookie;
    if (sendCsrf && csrf && !['GET', 'HEAD'].includes(method)) headers['X-CSRF-Token'] = csrf;
    const res = await fetch(url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
    });
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const eq = pair.indexOf('=');
      if (pair.slice(0, eq).trim() !== 'shouli_sid') continue;
      const value = pair.slice(eq + 1).trim();
      cookie = value ? `shouli_sid=${value}` : '';
    }
    const text = await res.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    if (parsed && typeof parsed === 'object' && typeof parsed.csrf_token === 'string') {
      csrf = parsed.csrf_token;
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  return {
    get: (path, opts) => request('GET', path, undefined, opts),
    post: (path, body = {}, opts) => request('POST', path, body, opts),
    patch: (path, body = {}, opts) => request('PATCH', path, body, opts),
    del: (path, opts) => request('DELETE', path, undefined, opts),
    login: (username, password) => request('POST', '/api/v1/auth/login', { username, password }),
    get cookie() {
      return cookie;
    },
    get csrf() {
      return csrf;
    },
  };
}

/** A fresh client signed in as one of DEMO (or {username, password}); throws unless 200. */
export async function loginAs(url, who) {
  const c = client(url);
  const r = await c.login(who.username, who.password);
  if (r.status !== 200) throw new Error(`login ${who.username}: ${r.status} ${JSON.stringify(r.body)}`);
  return c;
}

/** A suffix that keeps usernames unique when the suite runs again on the same database. */
export function uniq() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`.slice(-8);
}
