// The HTTP layer as a client meets it: every kind of bad input gets a 4xx with a stable error
// code and a Chinese message (and the server stays up), health and metrics endpoints, trace
// ids, the static web UI, WebSocket upgrade and topics, and a graceful stop on SIGTERM.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DEMO, ROOT, client, loginAs, sleep, startServer } from './lib.mjs';

const HAN = /[\u4e00-\u9fff]/;
const HEX32 = /^[0-9a-f]{32}$/;
const LOGIN = '/api/v1/auth/login';
const MiB = 1024 * 1024;
const DIST = join(ROOT, 'web/dist');

/** Assert an error envelope: status, code, a Chinese message, the field when given. */
function assertError(r, status, code, field) {
  const what = `${r.status} ${typeof r.body === 'string' ? r.body : JSON.stringify(r.body)}`;
  assert.equal(r.status, status, what);
  assert.equal(r.body?.error?.code, code, what);
  assert.match(r.body.error.message, HAN, what);
  assert.match(r.body.error.trace_id, HEX32);
  if (field !== undefined) assert.equal(r.body.error.field, field, what);
}

/** fetch that resolves to { status, headers, body } with the body parsed when it is JSON. */
async function call(url, init = {}) {
  const res = await fetch(url, { redirect: 'manual', ...init });
  const text = await res.text();
  let body = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body };
}

/** POST raw bytes (Buffer or string) as the login body with the given Content-Type. */
function postRaw(url, bytes, contentType = 'application/json') {
  const headers = contentType ? { 'Content-Type': contentType } : {};
  return call(url + LOGIN, { method: 'POST', headers, body: bytes });
}

// ---- a raw HTTP/1.1 connection, for what fetch will not send (unnormalised paths, bytes
// that are not UTF-8, bodies that arrive late or never) ----

/** Parse one response from buf; null while incomplete. */
function parseResponse(buf, ended) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(head[0].split(' ')[1]);
  const headers = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let rest = buf.subarray(end + 4);
  let body;
  if (headers['transfer-encoding']?.includes('chunked')) {
    const parts = [];
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl < 0) return null;
      const size = parseInt(rest.subarray(0, nl).toString('latin1'), 16);
      if (rest.length < nl + 2 + size + 2) return null;
      if (size === 0) break;
      parts.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (rest.length < n) return null;
    body = rest.subarray(0, n);
  } else if (status === 304 || status === 204 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0);
  } else {
    if (!ended) return null;
    body = rest;
  }
  let json = null;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    // not JSON
  }
  return { status, headers, raw: body, body: json ?? body.toString('utf8') };
}

/** Open a connection; write() bytes at will; response() resolves to the first response. */
function rawConn(port) {
  const sock = connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let ended = false;
  let waiter = null;
  const check = () => {
    if (!waiter) return;
    const r = parseResponse(buf, ended);
    if (r) {
      waiter.ok(r);
      waiter = null;
    } else if (ended) {
      waiter.fail(new Error(`connection closed before a full response (${buf.length} bytes)`));
      waiter = null;
    }
  };
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    check();
  });
  sock.on('error', () => {}); // a reset after an early answer is not an error here
  sock.on('close', () => {
    ended = true;
    check();
  });
  return {
    write: (b) =>
      new Promise((ok) => {
        if (sock.destroyed) return ok(false);
        sock.write(b, (err) => ok(!err));
      }),
    response(timeoutMs = 10000) {
      return new Promise((ok, fail) => {
        const t = setTimeout(() => fail(new Error('no response in time')), timeoutMs);
        waiter = {
          ok: (r) => {
            clearTimeout(t);
            ok(r);
          },
          fail: (e) => {
            clearTimeout(t);
            fail(e);
          },
        };
        check();
      });
    },
    close: () => sock.destroy(),
  };
}

/** One request over a fresh connection: target is the raw request-target bytes. */
async function rawGet(port, target, extraHeaders = '') {
  const c = rawConn(port);
  const line = Buffer.concat([
    Buffer.from('GET '),
    Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'),
    Buffer.from(` HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extraHeaders}Connection: close\r\n\r\n`),
  ]);
  await c.write(line);
  try {
    return await c.response();
  } finally {
    c.close();
  }
}

/** GET with node:http (no automatic decompression, headers exactly as given). */
function httpGet(url, headers = {}) {
  return new Promise((ok, fail) => {
    const req = httpRequest(url, { headers }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => ok({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', fail);
    req.end();
  });
}

// ---- a minimal RFC 6455 client ----

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * Upgrade GET /api/v1/ws. Resolves to { status, headers, body } when the server refuses, or
 * { status: 101, ws } with ws = { send(obj), sendFrame(op, payload, fin), next(pred, ms),
 * closed, close() } when it accepts.
 */
function wsConnect(port, { cookie, origin, version = '13' } = {}) {
  return new Promise((ok, fail) => {
    const key = randomBytes(16).toString('base64');
    const sock = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let upgraded = null;
    let ended = false;
    const headers = [
      'GET /api/v1/ws HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      `Sec-WebSocket-Version: ${version}`,
    ];
    if (cookie) headers.push(`Cookie: ${cookie}`);
    if (origin) headers.push(`Origin: ${origin}`);
    sock.on('error', (e) => (upgraded ? upgraded.onClose() : fail(e)));
    sock.on('close', () => {
      ended = true;
      if (upgraded) upgraded.onClose();
      else {
        const r = parseResponse(buf, true);
        if (r) ok(r);
        else fail(new Error('closed during the handshake'));
      }
    });
    sock.on('data', (d) => {
      if (upgraded) return upgraded.onData(d);
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(buf.subarray(0, 16).toString('latin1').split(' ')[1]);
      if (status !== 101) {
        const r = parseResponse(buf, ended);
        if (r) {
          ok(r);
          sock.destroy();
        }
        return;
      }
      const r = parseResponse(buf.subarray(0, end + 4), false);
      const want = createHash('sha1').update(key + WS_GUID).digest('base64');
      if (r.headers['sec-websocket-accept'] !== want) {
        sock.destroy();
        return fail(new Error(`bad Sec-WebSocket-Accept ${r.headers['sec-websocket-accept']}`));
      }
      upgraded = wsSession(sock);
      ok({ status: 101, headers: r.headers, ws: upgraded.api });
      const rest = buf.subarray(end + 4);
      if (rest.length) upgraded.onData(rest);
    });
    sock.write(headers.join('\r\n') + '\r\n\r\n');
  });
}

function wsSession(sock) {
  let buf = Buffer.alloc(0);
  let frag = null; // { op, parts } while a fragmented message is open
  const queue = [];
  const waiters = [];
  let closed = false;

  function deliver(m) {
    for (let i = 0; i < waiters.length; i++) {
      if (waiters[i].pred(m)) {
        const [w] = waiters.splice(i, 1);
        w.ok(m);
        return;
      }
    }
    queue.push(m);
  }

  function onData(d) {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0] & 0x80) !== 0;
      const op = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (masked) throw new Error('the server masked a frame (RFC 6455 5.1 forbids it)');
      if (buf.length < off + len) return;
      const payload = buf.subarray(off, off + len);
      buf = buf.subarray(off + len);
      if (op >= 8) {
        const m = { op, data: payload };
        if (op === 8) m.code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
        deliver(m);
        continue;
      }
      if (op !== 0) frag = { op, parts: [] };
      frag.parts.push(payload);
      if (!fin) continue;
      const data = Buffer.concat(frag.parts);
      const m = { op: frag.op, data };
      frag = null;
      if (m.op === 1) {
        m.text = data.toString('utf8');
        try {
          m.json = JSON.parse(m.text);
        } catch {
          m.json = undefined;
        }
      }
      deliver(m);
    }
  }

  function onClose() {
    if (closed) return;
    closed = true;
    for (const w of waiters.splice(0)) w.fail(new Error('connection closed'));
  }

  function sendFrame(op, payload = Buffer.alloc(0), fin = true) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    const mask = randomBytes(4);
    let head;
    if (data.length < 126) {
      head = Buffer.from([(fin ? 0x80 : 0) | op, 0x80 | data.length]);
    } else if (data.length < 65536) {
      head = Buffer.alloc(4);
      head[0] = (fin ? 0x80 : 0) | op;
      head[1] = 0x80 | 126;
      head.writeUInt16BE(data.length, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = (fin ? 0x80 : 0) | op;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(data.length), 2);
    }
    const body = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; i++) body[i] = data[i] ^ mask[i & 3];
    sock.write(Buffer.concat([head, mask, body]));
  }

  const api = {
    send: (obj) => sendFrame(1, JSON.stringify(obj)),
    sendFrame,
    /** The first message (queued or future) for which pred is true. */
    next(pred = () => true, ms = 3000) {
      const i = queue.findIndex(pred);
      if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
      if (closed) return Promise.reject(new Error('connection closed'));
      return new Promise((ok, fail) => {
        const w = {
          pred,
          ok: (m) => {
            clearTimeout(t);
            ok(m);
          },
          fail: (e) => {
            clearTimeout(t);
            fail(e);
          },
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          fail(new Error('no such WebSocket message in time'));
        }, ms);
        waiters.push(w);
      });
    },
    /** The next text message whose JSON has op. */
    op: (op, ms) => api.next((m) => m.op === 1 && m.json?.op === op, ms),
    get closed() {
      return closed;
    },
    close: () => sock.destroy(),
  };
  return { onData, onClose, api };
}

// A sign-in publishes on user:<id>:session once the server is wired to do so (a source file
// that publishes on the bus and names a ":session" topic); until then that test is skipped.
function sourcesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourcesUnder(join(dir, e.name)) : e.name.endsWith('.c') ? [join(dir, e.name)] : [],
  );
}
const SESSION_EVENTS = sourcesUnder(join(ROOT, 'src')).some((f) => {
  const text = readFileSync(f, 'utf8');
  return /event_bus_publish\s*\(/.test(text) && text.includes(':session');
});

describe('http', () => {
  let srv;
  let url;
  let port;

  before(async () => {
    srv = await startServer();
    url = srv.url;
    port = Number(new URL(url).port);
  });

  after(async () => {
    await srv?.stop();
  });

  async function assertUp() {
    const r = await call(`${url}/healthz`);
    assert.equal(r.status, 200, `the server is down:\n${srv.output()}`);
  }

  describe('bad input is a 4xx with a code and a Chinese message', () => {
    test('malformed JSON', async () => {
      assertError(await postRaw(url, '{"username":"clerk",'), 400, 'bad_json');
      assertError(await postRaw(url, '{"username":"clerk"} trailing'), 400, 'bad_json');
      assertError(await postRaw(url, "{'username':'clerk'}"), 400, 'bad_json');
      assertError(await postRaw(url, ''), 400, 'bad_json');
    });

    test('JSON that is not an object', async () => {
      assertError(await postRaw(url, '[{"username":"clerk","password":"x"}]'), 400, 'bad_json');
      assertError(await postRaw(url, '"clerk"'), 400, 'bad_json');
      assertError(await postRaw(url, 'null'), 400, 'bad_json');
    });

    test('duplicate keys', async () => {
      const r = await postRaw(url, '{"username":"clerk","password":"a","username":"admin"}');
      assertError(r, 400, 'bad_json');
      assert.match(r.body.error.message, /重复/);
      assertError(await postRaw(url, '{"username":"clerk","password":"a","password":"a"}'), 400, 'bad_json');
    });

    test('invalid UTF-8 bytes in the body', async () => {
      const bodies = [
        Buffer.from([...Buffer.from('{"username":"'), 0xff, ...Buffer.from('","password":"x"}')]),
        Buffer.from([...Buffer.from('{"username":"'), 0xc0, 0xaf, ...Buffer.from('","password":"x"}')]),
        Buffer.from([...Buffer.from('{"username":"'), 0xed, 0xa0, 0x80, ...Buffer.from('","password":"x"}')]),
        Buffer.from([...Buffer.from('{"username":"clerk","password":"x'), 0xe5, 0x8f]),
      ];
      for (const b of bodies) assertError(await postRaw(url, b), 400, 'bad_utf8');
    });

    test('a NUL character in a string', async () => {
      assertError(await postRaw(url, '{"username":"cl\\u0000erk","password":"x"}'), 400, 'bad_json');
      const raw = Buffer.from('{"username":"cl\0erk","password":"x"}');
      assertError(await postRaw(url, raw), 400, 'bad_json');
    });

    test('wrong types', async () => {
      assertError(await postRaw(url, '{"username":42,"password":"x"}'), 400, 'bad_field', 'username');
      assertError(await postRaw(url, '{"username":"clerk","password":["x"]}'), 400, 'bad_field', 'password');
      assertError(await postRaw(url, '{"username":null,"password":"x"}'), 400, 'bad_field', 'username');
    });

    test('unknown fields', async () => {
      const r = await postRaw(url, '{"username":"clerk","password":"x","is_admin":true}');
      assertError(r, 400, 'unknown_field', 'is_admin');
      assert.match(r.body.error.message, /is_admin/);
    });

    test('missing fields', async () => {
      assertError(await postRaw(url, '{"username":"clerk"}'), 400, 'missing_field', 'password');
      assertError(await postRaw(url, '{}'), 400, 'missing_field');
    });

    test('a body over 1 MiB announced by Content-Length is refused before it is read', async () => {
      const c = rawConn(port);
      await c.write(
        `POST ${LOGIN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${MiB + 1}\r\n\r\n{"username":"`,
      );
      const r = await c.response(5000); // the rest of the body never comes
      c.close();
      assertError(r, 413, 'too_large');
      assert.match(r.body.error.message, /1048576/);
    });

    test('a chunked body over 1 MiB is cut off at the cap', async () => {
      const r = await new Promise((ok, fail) => {
        const req = httpRequest(
          `${url}${LOGIN}`,
          { method: 'POST', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } },
          (res) => {
            const parts = [];
            res.on('data', (d) => parts.push(d));
            res.on('end', () => ok({ status: res.statusCode, body: JSON.parse(Buffer.concat(parts)) }));
          },
        );
        req.on('error', fail);
        const chunk = Buffer.alloc(64 * 1024, 0x20); // whitespace: valid JSON padding
        req.write('{"username":"clerk","password":"Clerk@2026demo"}');
        for (let i = 0; i < 17; i++) req.write(chunk);
        req.end();
      });
      assertError(r, 413, 'too_large');
    });

    test('a body of exactly 1 MiB is accepted', async () => {
      const json = '{"username":"clerk","password":"Clerk@2026demo"}';
      const body = Buffer.alloc(MiB, 0x20);
      body.write(json);
      const r = await postRaw(url, body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    });

    test('a wrong or missing Content-Type is 415', async () => {
      const ok = '{"username":"clerk","password":"Clerk@2026demo"}';
      assertError(await postRaw(url, ok, 'text/plain'), 415, 'unsupported_media_type');
      assertError(await postRaw(url, ok, 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
      assertError(await postRaw(url, ok, 'application/jsonp'), 415, 'unsupported_media_type');
      assertError(await postRaw(url, Buffer.from(ok), null), 415, 'unsupported_media_type');
      // parameters and case are fine
      assert.equal((await postRaw(url, ok, 'Application/JSON; charset=utf-8')).status, 200);
    });

    test('an unknown /api route is a JSON 404', async () => {
      for (const p of ['/api/v1/nothing', '/api/v1/auth/me/extra', '/api/v2/auth/me', '/api/']) {
        const r = await call(url + p);
        assertError(r, 404, 'not_found');
        assert.match(r.headers.get('content-type'), /^application\/json/);
      }
    });

    test('a wrong method is 405 with Allow', async () => {
      let r = await call(`${url}/healthz`, { method: 'DELETE' });
      assertError(r, 405, 'method_not_allowed');
      assert.equal(r.headers.get('allow'), 'GET');
      r = await call(`${url}/api/v1/auth/me`, { method: 'POST' });
      assertError(r, 405, 'method_not_allowed');
      assert.equal(r.headers.get('allow'), 'GET');
      r = await call(url + LOGIN);
      assertError(r, 405, 'method_not_allowed');
      assert.equal(r.headers.get('allow'), 'POST');
    });

    test('a path that is not UTF-8 is 400 bad_utf8', async () => {
      for (const p of ['/api/v1/%ff', '/api/v1/auth/%c0%af', '/console/%ed%a0%80', '/assets/%e5%8f.js']) {
        const r = await rawGet(port, p);
        assertError(r, 400, 'bad_utf8');
      }
      // raw bytes in the request line: refused one way or another, never served
      const r = await rawGet(port, Buffer.from([0x2f, 0x61, 0x70, 0x69, 0x2f, 0xff, 0xfe]));
      assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    });

    test('no path reaches a file outside web/dist', async () => {
      const targets = [
        '/../../CMakeLists.txt',
        '/../../../../../../etc/passwd',
        '/assets/../../../CMakeLists.txt',
        '/console/../../../src/core/str.c',
        '/%2e%2e/%2e%2e/CMakeLists.txt',
        '/console/%2e%2e/%2e%2e/%2e%2e/CMakeLists.txt',
        '/console/..%2f..%2f..%2fCMakeLists.txt',
        '/assets/..%2f..%2f..%2fetc%2fpasswd',
        '/console\\..\\..\\..\\CMakeLists.txt',
        '/.git/config',
        '/console/.%2e/.%2e/.%2e/CMakeLists.txt',
        '//etc/passwd',
      ];
      for (const t of targets) {
        const r = await rawGet(port, t);
        const text = r.raw.toString('latin1');
        assert.doesNotMatch(text, /cmake_minimum_required|root:x?:0:0|#include|\[core\]/, t);
        assert.ok(r.status === 404 || r.status === 400 || r.status === 301 || /^<!doctype html>/i.test(text), `${t}: ${r.status}`);
      }
    });

    test('an unsafe request without the CSRF header is 403 csrf', async () => {
      const c = await loginAs(url, DEMO.clerk);
      assertError(await c.post('/api/v1/auth/logout', {}, { csrf: false }), 403, 'csrf');
      const forged = await call(`${url}/api/v1/auth/logout`, {
        method: 'POST',
        headers: { Cookie: c.cookie, 'Content-Type': 'application/json', 'X-CSRF-Token': '0'.repeat(48) },
        body: '{}',
      });
      assertError(forged, 403, 'csrf');
      // the CSRF check comes before the body is looked at
      const bad = await call(`${url}/api/v1/auth/logout`, {
        method: 'POST',
        headers: { Cookie: c.cookie, 'Content-Type': 'application/json' },
        body: '{"x":',
      });
      assertError(bad, 403, 'csrf');
      assert.equal((await c.get('/api/v1/auth/me')).status, 200); // the session is intact
    });

    test('no session is 401', async () => {
      assertError(await call(`${url}/api/v1/auth/me`), 401, 'unauthenticated');
      assertError(await call(`${url}/api/v1/system/info`), 401, 'unauthenticated');
      const forged = await call(`${url}/api/v1/auth/me`, { headers: { Cookie: `shouli_sid=${'ab'.repeat(32)}` } });
      assert.equal(forged.status, 401);
      assert.match(forged.body.error.message, HAN);
      // the session check comes before the body is looked at
      assertError(
        await call(`${url}/api/v1/auth/logout`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '[' }),
        401,
        'unauthenticated',
      );
    });

    test('a permission the caller lacks is 403 forbidden', async () => {
      const c = await loginAs(url, DEMO.clerk);
      const r = await c.get('/api/v1/admin/users');
      assertError(r, 403, 'forbidden');
      // also when the body is bad: the permission check comes first
      assertError(await c.patch('/api/v1/admin/users/1', { nonsense: 1 }), 403, 'forbidden');
    });

    test('body checks apply behind a session too', async () => {
      const a = await loginAs(url, DEMO.admin);
      assertError(await a.patch('/api/v1/admin/users/999999', { no_such_field: 1 }), 400, 'unknown_field', 'no_such_field');
      const raw = await call(`${url}/api/v1/admin/users/999999`, {
        method: 'PATCH',
        headers: { Cookie: a.cookie, 'X-CSRF-Token': a.csrf, 'Content-Type': 'application/json' },
        body: '{"a":1,"a":2}',
      });
      assertError(raw, 400, 'bad_json');
    });

    test('the server is still up after all of it', async () => {
      await assertUp();
      const r = await call(`${url}/readyz`);
      assert.equal(r.status, 200);
    });
  });

  describe('health and metrics', () => {
    test('/healthz', async () => {
      const r = await call(`${url}/healthz`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { status: 'ok' });
      assert.match(r.headers.get('content-type'), /^application\/json/);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    });

    test('/readyz: ready with migrations current', async () => {
      const r = await call(`${url}/readyz`);
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'ready');
      assert.equal(r.body.checks.database, 'ok');
      assert.equal(r.body.checks.migrations, 'current');
      assert.equal(r.body.pending_migrations, 0);
      // A year of the working-day calendar (this one or the next) without holidays is a
      // warning, not a reason to be unready.
      const cst = new Date(Date.now() + 8 * 3600 * 1000).getUTCFullYear();
      const missing = [cst, cst + 1].filter((y) => !existsSync(join(ROOT, 'calendar', `${y}.json`)));
      assert.deepEqual(
        r.body.warnings.map((w) => Number(w.slice(0, 4))),
        missing,
      );
      for (const w of r.body.warnings) assert.match(w, /节假日安排尚未录入工作日历/);
    });

    test('/metrics: request counters by route, a latency histogram, build info', async () => {
      const before = await call(`${url}/metrics`);
      const count = (text, re) => Number(text.match(re)?.[1] ?? 0);
      const healthzRe = /^shouli_http_requests_total\{method="GET",route="\/healthz",status="200"\} (\d+)$/m;
      const n0 = count(before.body, healthzRe);
      for (let i = 0; i < 5; i++) await call(`${url}/healthz`);
      await call(`${url}/api/v1/no/such/route`);
      const r = await call(`${url}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/plain/);
      const m = r.body;
      assert.equal(count(m, healthzRe), n0 + 5);
      assert.match(m, /^# TYPE shouli_http_requests_total counter$/m);
      assert.match(m, /^shouli_http_requests_total\{method="",route="unmatched",status="404"\} [1-9]\d*$/m);
      assert.match(m, /^shouli_build_info\{version="[^"]+",git="[^"]+",db="(sqlite|postgres)"\} 1$/m);
      // the histogram of /healthz: cumulative buckets ending in +Inf = _count
      assert.match(m, /^# TYPE shouli_http_request_duration_seconds histogram$/m);
      const buckets = [
        ...m.matchAll(/^shouli_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",le="([^"]+)"\} (\d+)$/gm),
      ].map((x) => [x[1], Number(x[2])]);
      assert.ok(buckets.length >= 2, m);
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i][1] >= buckets[i - 1][1], 'buckets are cumulative');
      assert.equal(buckets.at(-1)[0], '+Inf');
      const total = count(m, /^shouli_http_request_duration_seconds_count\{method="GET",route="\/healthz"\} (\d+)$/m);
      assert.equal(buckets.at(-1)[1], total);
      assert.ok(total >= n0 + 5);
      assert.match(m, /^shouli_http_request_duration_seconds_sum\{method="GET",route="\/healthz"\} \d+\.\d+$/m);
    });
  });

  describe('trace ids', () => {
    const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

    test('a valid traceparent is continued: same id in X-Trace-Id and in error bodies', async () => {
      const ok = await call(`${url}/healthz`, { headers: { traceparent: TP } });
      assert.equal(ok.headers.get('x-trace-id'), '4bf92f3577b34da6a3ce929d0e0e4736');
      const err = await call(`${url}/api/v1/nope`, { headers: { traceparent: TP } });
      assert.equal(err.headers.get('x-trace-id'), '4bf92f3577b34da6a3ce929d0e0e4736');
      assert.equal(err.body.error.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
      const bad = await postRaw(url, '{');
      assert.equal(bad.body.error.trace_id, bad.headers.get('x-trace-id'));
    });

    test('without one (or with a malformed one) each request gets a fresh 32-hex id', async () => {
      const a = await call(`${url}/healthz`);
      const b = await call(`${url}/healthz`);
      const c = await call(`${url}/healthz`, { headers: { traceparent: TP.toUpperCase() } });
      const d = await call(`${url}/healthz`, { headers: { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' } });
      const ids = [a, b, c, d].map((r) => r.headers.get('x-trace-id'));
      for (const id of ids) assert.match(id, HEX32);
      assert.equal(new Set(ids).size, 4);
      assert.ok(!ids.includes('4bf92f3577b34da6a3ce929d0e0e4736'));
    });
  });

  describe('static web UI', { skip: !existsSync(join(DIST, 'console/index.html')) && 'web/dist not built' }, () => {
    const assets = existsSync(join(DIST, 'assets')) ? readdirSync(join(DIST, 'assets')) : [];
    const gzAsset = assets.find((f) => f.endsWith('.js') && assets.includes(`${f}.gz`));
    const plainAsset = assets.find((f) => f.endsWith('.css')) || gzAsset;

    test('/ redirects to /console/', async () => {
      const r = await call(`${url}/`);
      assert.equal(r.status, 302);
      assert.equal(r.headers.get('location'), '/console/');
      const d = await call(`${url}/console`);
      assert.equal(d.status, 301);
      assert.equal(d.headers.get('location'), '/console/');
    });

    test('a deep path below an entry page gets its index.html (SPA fallback)', async () => {
      const index = readFileSync(join(DIST, 'console/index.html'));
      for (const p of ['/console/', '/console/some/deep/path', '/console/cases/2026-001']) {
        const r = await httpGet(`${url}${p}`);
        assert.equal(r.status, 200, p);
        assert.match(r.headers['content-type'], /^text\/html/);
        assert.equal(r.headers['cache-control'], 'no-cache');
        assert.ok(r.body.equals(index), p);
        assert.match(r.headers['content-security-policy'], /default-src 'self'/);
      }
      // a missing file with an extension, and anything under /assets/, is a real 404
      assert.equal((await httpGet(`${url}/console/missing.js`)).status, 404);
      assert.equal((await httpGet(`${url}/assets/no-such-file-1234.js`)).status, 404);
      assert.equal((await httpGet(`${url}/assets/deep/path`)).status, 404);
    });

    test('hashed assets are immutable, carry an ETag and answer If-None-Match with 304', { skip: !plainAsset }, async () => {
      const file = readFileSync(join(DIST, 'assets', plainAsset));
      const r = await httpGet(`${url}/assets/${plainAsset}`);
      assert.equal(r.status, 200);
      assert.match(r.headers['cache-control'], /max-age=31536000/);
      assert.match(r.headers['cache-control'], /immutable/);
      assert.match(r.headers.etag, /^"[^"]+"$/);
      assert.equal(r.headers['content-encoding'], undefined);
      assert.ok(r.body.equals(file));
      const again = await httpGet(`${url}/assets/${plainAsset}`, { 'If-None-Match': r.headers.etag });
      assert.equal(again.status, 304);
      assert.equal(again.body.length, 0);
      assert.equal(again.headers.etag, r.headers.etag);
      const other = await httpGet(`${url}/assets/${plainAsset}`, { 'If-None-Match': '"something-else"' });
      assert.equal(other.status, 200);
    });

    test('Accept-Encoding: gzip gets the precompressed file', { skip: !gzAsset }, async () => {
      const file = readFileSync(join(DIST, 'assets', gzAsset));
      const gz = await httpGet(`${url}/assets/${gzAsset}`, { 'Accept-Encoding': 'gzip, deflate' });
      assert.equal(gz.status, 200);
      assert.equal(gz.headers['content-encoding'], 'gzip');
      assert.match(gz.headers['content-type'], /javascript/);
      assert.match(gz.headers.vary, /Accept-Encoding/);
      assert.ok(gunzipSync(gz.body).equals(file));
      const plain = await httpGet(`${url}/assets/${gzAsset}`);
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.ok(plain.body.equals(file));
      assert.notEqual(plain.headers.etag, gz.headers.etag); // caches must not mix the two
    });

    test('connections stay open across static and error responses (keep-alive)', async () => {
      const target = plainAsset ? `/assets/${plainAsset}` : '/console/';
      // one request after another on one socket, each answered without a reconnect
      const sock = connect(port, '127.0.0.1');
      let got = Buffer.alloc(0);
      sock.on('data', (d) => (got = Buffer.concat([got, d])));
      const reqs = [target, '/api/v1/nope', '/console/x/y', '/healthz', target];
      for (const p of reqs) {
        sock.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        const t0 = Date.now();
        const before = (got.toString('latin1').match(/HTTP\/1\.1 \d{3}/g) || []).length;
        while ((got.toString('latin1').match(/HTTP\/1\.1 \d{3}/g) || []).length === before) {
          assert.ok(Date.now() - t0 < 3000, `no answer to ${p} on the same connection`);
          assert.ok(!sock.destroyed, 'closed');
          await sleep(10);
        }
      }
      sock.destroy();
    });
  });

  describe('WebSocket', () => {
    test('an upgrade without a session is refused (401)', async () => {
      const r = await wsConnect(port);
      assertError(r, 401, 'unauthenticated');
      const forged = await wsConnect(port, { cookie: `shouli_sid=${'cd'.repeat(32)}` });
      assert.equal(forged.status, 401);
    });

    test('a foreign Origin or a bad version is refused', async () => {
      const c = await loginAs(url, DEMO.clerk);
      const r = await wsConnect(port, { cookie: c.cookie, origin: 'http://evil.example' });
      assertError(r, 403, 'forbidden');
      const v = await wsConnect(port, { cookie: c.cookie, version: '8' });
      assertError(v, 400, 'bad_request');
    });

    test('a signed-in client talks the topic protocol', async () => {
      const c = await loginAs(url, DEMO.clerk);
      const me = (await c.get('/api/v1/auth/me')).body.user;
      const r = await wsConnect(port, { cookie: c.cookie, origin: url });
      assert.equal(r.status, 101);
      const ws = r.ws;
      try {
        // protocol-level ping → pong with the same payload
        ws.sendFrame(9, 'hello');
        const pong = await ws.next((m) => m.op === 10);
        assert.equal(pong.data.toString(), 'hello');
        // application-level ping
        ws.send({ op: 'ping' });
        assert.deepEqual((await ws.op('pong')).json, { op: 'pong' });
        // garbage gets a Chinese error, not a dropped connection
        ws.sendFrame(1, '{"op":');
        assert.match((await ws.op('error')).json.message, HAN);
        ws.send({ op: 'subscribe', topic: 'bad topic with spaces' });
        assert.match((await ws.op('error')).json.message, HAN);
        // someone else's topic is refused
        ws.send({ op: 'subscribe', topic: `user:${me.id + 1000}:session` });
        const denied = await ws.op('error');
        assert.equal(denied.json.topic, `user:${me.id + 1000}:session`);
        // one's own session topic is granted
        const topic = `user:${me.id}:session`;
        ws.send({ op: 'subscribe', topic });
        const sub = await ws.next((m) => m.json?.topic === topic);
        assert.deepEqual(sub.json, { op: 'subscribed', topic }, 'the hub needs an authorizer (ws_hub_set_authorizer) that grants user:<own id>:*');
        ws.send({ op: 'unsubscribe', topic });
        assert.deepEqual((await ws.op('unsubscribed')).json, { op: 'unsubscribed', topic });
        // a clean close is echoed
        ws.sendFrame(8, Buffer.from([0x03, 0xe8]));
        const close = await ws.next((m) => m.op === 8);
        assert.equal(close.code, 1000);
      } finally {
        ws.close();
      }
    });

    test('a subscriber receives events on its topic', { skip: !SESSION_EVENTS && 'auth does not publish session events yet' }, async () => {
      const c = await loginAs(url, DEMO.manager);
      const me = (await c.get('/api/v1/auth/me')).body.user;
      const { ws } = await wsConnect(port, { cookie: c.cookie });
      try {
        const topic = `user:${me.id}:session`;
        ws.send({ op: 'subscribe', topic });
        assert.equal((await ws.next((m) => m.json?.topic === topic)).json.op, 'subscribed');
        // another sign-in of the same user is an event on that topic
        const other = await loginAs(url, DEMO.manager);
        const ev = await ws.next((m) => m.json?.op === 'event', 5000);
        assert.equal(ev.json.topic, topic);
        assert.ok(ev.json.data !== undefined);
        await other.post('/api/v1/auth/logout', {});
      } finally {
        ws.close();
      }
    });

    test('the server is still up after the WebSocket tests', async () => {
      await assertUp();
    });
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM lets a request in flight finish, then the process exits 0', async () => {
    const srv = await startServer();
    try {
      const port = Number(new URL(srv.url).port);
      const body = JSON.stringify({ username: DEMO.clerk.username, password: DEMO.clerk.password });
      const c = rawConn(port);
      // the request starts (headers and half the body) before the signal ...
      await c.write(
        `POST ${LOGIN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`,
      );
      await sleep(200);
      const t0 = Date.now();
      process.kill(srv.pid, 'SIGTERM');
      await sleep(300);
      // ... and its body ends after it: it must still be answered
      await c.write(body.slice(10));
      const r = await c.response(5000);
      c.close();
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.user.username, 'clerk');
      const exit = await Promise.race([srv.exited(), sleep(8000).then(() => null)]);
      assert.ok(exit, `still running 8 s after SIGTERM\n${srv.output()}`);
      assert.deepEqual(exit, { code: 0, signal: null }, srv.output());
      assert.ok(Date.now() - t0 < 8000);
      assert.match(srv.output(), /"event":"server.stopped"/);
    } finally {
      await srv.stop();
    }
  });

  test('an idle server stops at once', async () => {
    const srv = await startServer();
    try {
      // an idle keep-alive connection and an open WebSocket must not hold the stop up
      const c = await loginAs(srv.url, DEMO.clerk);
      const { ws } = await wsConnect(Number(new URL(srv.url).port), { cookie: c.cookie });
      const t0 = Date.now();
      process.kill(srv.pid, 'SIGTERM');
      const exit = await Promise.race([srv.exited(), sleep(8000).then(() => null)]);
      assert.deepEqual(exit, { code: 0, signal: null }, srv.output());
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
      // the hub said goodbye (1001) or at least closed the socket
      const bye = await ws.next((m) => m.op === 8, 1000).catch(() => null);
      if (bye) assert.equal(bye.code, 1001);
      ws.close();
    } finally {
      await srv.stop();
    }
  });
});
