// The interface service platform's outbound side: connectors configured through the admin
// API call a small HTTP server started by this test on 127.0.0.1 (standing in for an
// external system): auth (token fetched once and refreshed after a 401, HMAC-SM3 signatures
// checked by the server), SM4-CBC bodies, SOAP with XPath extraction and faults, retries of
// idempotent methods only, the circuit breaker opening and closing, timeouts, the
// concurrency cap, mocks, masking in the call log, statistics and their XLSX export —
// and secrets that never come back out.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { inflateRawSync } from 'node:zlib';
import { DEMO, loginAs, sleep, sql, startServer } from './lib.mjs';

const OPS = { username: 'ops', password: 'Ops@2026demo' };
const P = '/api/v1/admin/gateway';
const SM4_KEY = '0123456789abcdeffedcba9876543210';
const ID = '11010519491231002X';

// ---- the stand-in external system ------------------------------------------------------

const sys = {
  hits: {},
  tokens: 0,
  valid: new Set(),
  down: false,
  flaky: 0,
  last: null,
};

function sm4(decrypt, data) {
  const key = Buffer.from(SM4_KEY, 'hex');
  if (decrypt) {
    const raw = Buffer.from(data, 'base64');
    const d = createDecipheriv('sm4-cbc', key, raw.subarray(0, 16));
    return Buffer.concat([d.update(raw.subarray(16)), d.final()]).toString('utf8');
  }
  const iv = randomBytes(16);
  const c = createCipheriv('sm4-cbc', key, iv);
  return Buffer.concat([iv, c.update(data, 'utf8'), c.final()]).toString('base64');
}

function soapAnswer(inner) {
  return `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>${inner}</soap:Body></soap:Envelope>`;
}

function handle(req, body, url, path) {
  const json = () => (body.length ? JSON.parse(body) : null);
  switch (path) {
    case '/auth/token': {
      const b = json();
      if (b.username !== 'shouli' || b.password !== 'tok-secret') return [401, { message: '用户名或密码错误' }];
      const t = `tok-${++sys.tokens}`;
      sys.valid.add(t);
      return [200, { access_token: t, expires_in: 3600 }];
    }
    case '/tok/echo': {
      const t = (req.headers.authorization || '').replace(/^Bearer /, '');
      if (!sys.valid.has(t)) return [401, { code: 'TOKEN_EXPIRED', message: '令牌无效' }];
      return [200, { token: t, body: json() }];
    }
    case '/echo':
    case '/items/x y':
      return [200, { method: req.method, path, query: Object.fromEntries(url.searchParams), body: json(), traceparent: req.headers.traceparent || null }];
    case '/person':
      return [200, { id_number: ID, phone: '13812345678', name: '张三', secret_code: 'S-1', ok: true }];
    case '/hmac/check': {
      const h = req.headers;
      const ss = `${req.method}\n${url.pathname}\n${h['x-timestamp']}\n${h['x-nonce']}\n${createHash('sm3').update(body).digest('hex')}`;
      const want = createHmac('sm3', 'hmac-secret').update(ss).digest('hex');
      const fresh = Math.abs(Date.now() - Number(h['x-timestamp'])) < 300000;
      if (h['x-signature'] !== want || !fresh || h['x-key-id'] !== 'kid-1' || !/^[0-9a-f]{16}$/.test(h['x-nonce']))
        return [401, { code: 'BAD_SIGNATURE', message: '签名无效' }];
      return [200, { verified: true }];
    }
    case '/enc': {
      const env = json();
      if (req.headers['x-crypto'] !== 'sm4_cbc' || !env.data) return [400, { message: '缺少加密报文' }];
      const plain = JSON.parse(sm4(true, env.data));
      return [200, { data: sm4(false, JSON.stringify({ got: plain })) }];
    }
    case '/flaky':
      if (sys.flaky > 0) {
        sys.flaky--;
        return [503, { message: '系统繁忙' }];
      }
      return [200, { ok: true }];
    case '/down':
      return sys.down ? [503, { message: '系统维护中' }] : [200, { up: true }];
    case '/soap': {
      const id = /<[^>]*Sfzh>([^<]*)</.exec(body)?.[1];
      if (req.headers.soapaction !== '"urn:gongan:rkk#QueryPerson"') return [500, soapAnswer('<soap:Fault><faultcode>soap:Client</faultcode><faultstring>未知操作</faultstring></soap:Fault>'), 'text/xml'];
      if (id === 'nobody') return [500, soapAnswer('<soap:Fault><faultcode>soap:Client</faultcode><faultstring>查无此人</faultstring></soap:Fault>'), 'text/xml'];
      return [200, soapAnswer(`<ns1:QueryPersonResponse xmlns:ns1="urn:gongan:rkk"><ns1:Sfzh>${id}</ns1:Sfzh><ns1:Xm>张三</ns1:Xm><ns1:Cy><ns1:Xm>李梅</ns1:Xm></ns1:Cy><ns1:Cy><ns1:Xm>张小明</ns1:Xm></ns1:Cy></ns1:QueryPersonResponse>`), 'text/xml'];
    }
    default:
      return [404, { message: '没有此接口' }];
  }
}

function startSystem() {
  const srv = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url, 'http://127.0.0.1');
      const path = decodeURIComponent(url.pathname);
      sys.hits[path] = (sys.hits[path] || 0) + 1;
      const body = Buffer.concat(chunks).toString('utf8');
      sys.last = { method: req.method, path, headers: req.headers, body };
      if (path === '/slow') await sleep(Number(url.searchParams.get('ms') || 0));
      const [status, out, type] = path === '/slow' ? [200, { slept: true }] : handle(req, body, url, path);
      res.writeHead(status, { 'Content-Type': type || 'application/json; charset=utf-8' });
      res.end(typeof out === 'string' ? out : JSON.stringify(out));
    });
  });
  return new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(srv)));
}

// ---- helpers ---------------------------------------------------------------------------

async function put(c, url, path, body) {
  const res = await fetch(url + path, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Cookie: c.cookie, 'X-CSRF-Token': c.csrf },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

// The entry `name` of a ZIP archive (the XLSX container), inflated.
function unzipEntry(buf, name) {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd > 0, 'no end of central directory');
  let p = buf.readUInt32LE(eocd + 16);
  for (let i = 0; i < buf.readUInt16LE(eocd + 10); i++) {
    const method = buf.readUInt16LE(p + 10);
    const size = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28);
    const skip = nlen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    if (buf.toString('utf8', p + 46, p + 46 + nlen) === name) {
      const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
      const data = buf.subarray(start, start + size);
      return (method === 8 ? inflateRawSync(data) : data).toString('utf8');
    }
    p += 46 + skip;
  }
  return null;
}

describe('gateway: connectors and outbound calls', () => {
  let srv, ext, ops, base;

  const connector = (name, extra = {}) => ({
    name,
    title: `测试系统 ${name}`,
    protocol: 'rest',
    base_url: base,
    timeout_ms: 3000,
    retry: { max: 0, backoff_ms: 50 },
    breaker: { failures: 50, window_s: 30, open_s: 20 },
    methods: [{ name: 'echo', http_method: 'POST', path: '/echo' }],
    ...extra,
  });
  const create = async (doc) => {
    const r = await ops.post(`${P}/connectors`, doc);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  const call = async (name, method, request, extra = {}) => {
    const r = await ops.post(`${P}/connectors/${name}/test`, { method, request, ...extra });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  before(async () => {
    ext = await startSystem();
    base = `http://127.0.0.1:${ext.address().port}`;
    srv = await startServer();
    ops = await loginAs(srv.url, OPS);
  });
  after(async () => {
    if (process.env.G1DEBUG) console.log(srv?.output());
    await srv?.stop();
    ext?.close();
  });

  test('the eleven simulated systems are seeded, gongan speaks SOAP, secrets are only flagged', async () => {
    const r = await ops.get(`${P}/connectors`);
    assert.equal(r.status, 200);
    const names = r.body.connectors.map((c) => c.name);
    for (const n of ['shebao', 'yibao', 'minzheng', 'gongan', 'shuiwu', 'canlian', 'bjk', 'dsj', 'dangan', 'map', 'video'])
      assert.ok(names.includes(n), n);
    const gongan = r.body.connectors.find((c) => c.name === 'gongan');
    assert.equal(gongan.protocol, 'soap');
    assert.equal(gongan.auth, 'basic');
    assert.equal(gongan.secret_set, true);
    const yibao = await ops.get(`${P}/connectors/yibao`);
    assert.equal(yibao.body.connector.auth.kind, 'hmac_sm3');
    assert.equal(yibao.body.connector.auth.secret_set, true);
    assert.equal(yibao.body.connector.auth.secret, undefined);
    assert.equal(yibao.body.connector.base_url, '{{sim}}/yibao');
    assert.ok(!JSON.stringify(yibao.body).includes('yibao-demo-secret'));
    const shuiwu = await ops.get(`${P}/connectors/shuiwu`);
    assert.equal(shuiwu.body.connector.crypto.kind, 'sm4_cbc');
    assert.equal(shuiwu.body.connector.crypto.key, undefined);
    assert.equal(shuiwu.body.connector.crypto.secret_set, true);
  });

  test('permissions: a window clerk cannot see connectors or the call log', async () => {
    const clerk = await loginAs(srv.url, DEMO.clerk);
    assert.equal((await clerk.get(`${P}/connectors`)).status, 403);
    assert.equal((await clerk.get(`${P}/calls`)).status, 403);
  });

  test('a REST call: path parameters, query string for GET, traceparent, logged', async () => {
    await create(
      connector('t_echo', {
        methods: [
          { name: 'echo', http_method: 'POST', path: '/echo' },
          { name: 'item', http_method: 'GET', path: '/items/{{request.id}}', idempotent: true },
        ],
      }),
    );
    const r = await call('t_echo', 'echo', { a: 1, s: '中文' });
    assert.equal(r.ok, true);
    assert.equal(r.outcome, 'ok');
    assert.equal(r.http_status, 200);
    assert.equal(r.attempts, 1);
    assert.deepEqual(r.response.body, { a: 1, s: '中文' });
    assert.match(r.response.traceparent, new RegExp(`^00-${r.trace_id}-[0-9a-f]{16}-01$`));
    const g = await call('t_echo', 'item', { id: 'x y', q: 'a&b', n: 5 });
    assert.equal(g.response.method, 'GET');
    assert.equal(g.response.path, '/items/x y');
    assert.deepEqual(g.response.query, { q: 'a&b', n: '5' });

    const log = await ops.get(`${P}/calls?trace_id=${r.trace_id}`);
    assert.equal(log.status, 200);
    const row = log.body.calls.find((c) => c.id === r.call_id);
    assert.ok(row, 'the call is in the log');
    assert.equal(row.connector, 't_echo');
    assert.equal(row.method, 'echo');
    assert.equal(row.outcome, 'ok');
    assert.equal(row.caller_module, 'gateway.test');
    assert.equal(row.caller_user, 'ops');
    assert.ok(row.latency_us > 0);

    const unknown = await ops.post(`${P}/connectors/t_echo/test`, { method: 'nope', request: {} });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error.message, /没有方法/);
  });

  test('token auth: fetched once, cached, fetched again after a 401', async () => {
    await create(
      connector('t_tok', {
        auth: { kind: 'token', username: 'shouli', secret: 'tok-secret', token_path: '/auth/token' },
        methods: [{ name: 'echo', http_method: 'POST', path: '/tok/echo' }],
      }),
    );
    const before = sys.tokens;
    const a = await call('t_tok', 'echo', { n: 1 });
    const b = await call('t_tok', 'echo', { n: 2 });
    assert.equal(a.outcome, 'ok', JSON.stringify(a));
    assert.equal(b.outcome, 'ok');
    assert.equal(a.response.token, b.response.token);
    assert.equal(sys.tokens, before + 1);
    sys.valid.clear(); // the system forgets its tokens
    const c = await call('t_tok', 'echo', { n: 3 });
    assert.equal(c.outcome, 'ok', JSON.stringify(c));
    assert.equal(c.attempts, 2);
    assert.equal(sys.tokens, before + 2);
    assert.notEqual(c.response.token, a.response.token);
  });

  test('secrets are sealed, never returned, kept across edits; stale revisions are refused', async () => {
    const g = await ops.get(`${P}/connectors/t_tok`);
    assert.equal(g.body.connector.auth.secret, undefined);
    assert.equal(g.body.connector.auth.secret_set, true);
    assert.ok(!JSON.stringify(g.body).includes('tok-secret'));
    assert.ok(!sql(srv, "SELECT doc FROM gateway_connectors WHERE name = 't_tok'").includes('tok-secret'));
    assert.ok(!sql(srv, "SELECT secret_enc FROM gateway_connectors WHERE name = 't_tok'").includes('tok-secret'));
    const list = await ops.get(`${P}/connectors`);
    assert.ok(!JSON.stringify(list.body).includes('tok-secret'));

    // Edit without the secret: kept (the next token fetch still works).
    const doc = { ...g.body.connector, title: '改名后的测试系统', rev: g.body.rev };
    const u = await put(ops, srv.url, `${P}/connectors/t_tok`, doc);
    assert.equal(u.status, 200, JSON.stringify(u.body));
    assert.equal(u.body.rev, g.body.rev + 1);
    sys.valid.clear();
    const c = await call('t_tok', 'echo', {});
    assert.equal(c.outcome, 'ok', JSON.stringify(c));
    // The old revision is stale now.
    const stale = await put(ops, srv.url, `${P}/connectors/t_tok`, doc);
    assert.equal(stale.status, 409);
    // A wrong name in the body, and a malformed document, are refused.
    const bad = await put(ops, srv.url, `${P}/connectors/t_tok`, { ...doc, rev: u.body.rev, protocol: 'ftp' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'protocol');
    const dup = await ops.post(`${P}/connectors`, connector('t_tok'));
    assert.equal(dup.status, 409);
  });

  test('HMAC-SM3 signatures verify at the system; a wrong secret is refused there', async () => {
    await create(
      connector('t_hmac', {
        auth: { kind: 'hmac_sm3', key_id: 'kid-1', secret: 'hmac-secret' },
        methods: [{ name: 'check', http_method: 'POST', path: '/hmac/check' }],
      }),
    );
    const r = await call('t_hmac', 'check', { a: 1, text: '签名' });
    assert.equal(r.outcome, 'ok', JSON.stringify(r));
    assert.equal(r.response.verified, true);
    const g = await ops.get(`${P}/connectors/t_hmac`);
    const { secret_set, ...auth } = g.body.connector.auth;
    assert.equal(secret_set, true);
    const u = await put(ops, srv.url, `${P}/connectors/t_hmac`, {
      ...g.body.connector,
      auth: { ...auth, secret: 'wrong-secret' },
      rev: g.body.rev,
    });
    assert.equal(u.status, 200);
    const w = await call('t_hmac', 'check', { a: 1 });
    assert.equal(w.ok, false);
    assert.equal(w.http_status, 401);
    assert.equal(w.error.code, 'upstream_error');
    assert.match(w.error.message, /签名无效/);
  });

  test('SM4-CBC crypto profile: the body travels encrypted, the answer is decrypted', async () => {
    await create(
      connector('t_enc', {
        crypto: { kind: 'sm4_cbc', key: SM4_KEY },
        methods: [{ name: 'echo', http_method: 'POST', path: '/enc' }],
      }),
    );
    const r = await call('t_enc', 'echo', { id_number: ID, amount: 120 });
    assert.equal(r.outcome, 'ok', JSON.stringify(r));
    assert.deepEqual(r.response.got, { id_number: ID, amount: 120 });
    assert.ok(!sys.last.body.includes(ID), 'no plaintext on the wire');
    const bad = await ops.post(`${P}/connectors`, connector('t_enc2', { crypto: { kind: 'sm4_cbc', key: 'short' } }));
    assert.equal(bad.status, 422);
  });

  test('SOAP: envelope, SOAPAction, XPath extraction, faults reported', async () => {
    await create(
      connector('t_soap', {
        protocol: 'soap',
        methods: [
          {
            name: 'person_query',
            path: '/soap',
            soap_action: 'urn:gongan:rkk#QueryPerson',
            body: '<rk:QueryPerson xmlns:rk="urn:gongan:rkk"><rk:Sfzh>{{request.id_number}}</rk:Sfzh></rk:QueryPerson>',
            response: { id_number: '//rk:QueryPersonResponse/rk:Sfzh', name: 'rk:Xm', members: 'rk:Cy/rk:Xm' },
          },
        ],
      }),
    );
    const r = await call('t_soap', 'person_query', { id_number: '<&>' });
    assert.equal(r.outcome, 'ok', JSON.stringify(r));
    assert.equal(r.response.id_number, '<&>');
    assert.equal(r.response.name, '张三');
    assert.deepEqual(r.response.members, ['李梅', '张小明']);
    assert.match(sys.last.headers['content-type'], /text\/xml/);
    assert.ok(sys.last.body.includes('<rk:Sfzh>&lt;&amp;&gt;</rk:Sfzh>'));
    const f = await call('t_soap', 'person_query', { id_number: 'nobody' });
    assert.equal(f.ok, false);
    assert.equal(f.outcome, 'error');
    assert.match(f.error.message, /查无此人/);
    assert.equal(f.response.fault, '查无此人');
  });

  test('retries only for idempotent methods, with backoff', async () => {
    await create(
      connector('t_retry', {
        retry: { max: 2, backoff_ms: 50 },
        methods: [
          { name: 'get', http_method: 'GET', path: '/flaky', idempotent: true },
          { name: 'post', http_method: 'POST', path: '/flaky', idempotent: false },
        ],
      }),
    );
    sys.flaky = 2;
    const r = await call('t_retry', 'get', {});
    assert.equal(r.outcome, 'ok', JSON.stringify(r));
    assert.equal(r.attempts, 3);
    assert.ok(r.latency_ms >= 50 + 100 - 5, `backoff waited (${r.latency_ms} ms)`);
    sys.flaky = 1;
    const p = await call('t_retry', 'post', {});
    assert.equal(p.ok, false);
    assert.equal(p.attempts, 1);
    assert.equal(p.http_status, 503);
    assert.match(p.error.message, /系统繁忙/);
    sys.flaky = 0;
  });

  test('the breaker opens after failures, refuses without calling, closes after recovery', async () => {
    await create(
      connector('t_brk', {
        breaker: { failures: 3, window_s: 30, open_s: 1 },
        methods: [{ name: 'ping', http_method: 'GET', path: '/down', idempotent: true }],
      }),
    );
    sys.down = true;
    sys.hits['/down'] = 0;
    for (let i = 0; i < 3; i++) {
      const r = await call('t_brk', 'ping', {});
      assert.equal(r.outcome, 'error');
      assert.equal(r.http_status, 503);
    }
    const refused = await call('t_brk', 'ping', {});
    assert.equal(refused.outcome, 'breaker_open');
    assert.equal(refused.error.code, 'unavailable');
    assert.match(refused.error.message, /熔断/);
    assert.equal(sys.hits['/down'], 3, 'no request while open');
    const st = await ops.get(`${P}/connectors/t_brk/breaker`);
    assert.equal(st.body.state, 'open');
    const m = await fetch(`${srv.url}/metrics`).then((x) => x.text());
    assert.match(m, /shouli_gateway_breaker_state\{connector="t_brk"\} 1/);
    assert.match(m, /shouli_gateway_calls_total\{connector="t_brk",outcome="breaker_open"\} 1/);

    sys.down = false;
    await sleep(1100);
    const probe = await call('t_brk', 'ping', {});
    assert.equal(probe.outcome, 'ok', JSON.stringify(probe));
    assert.equal((await ops.get(`${P}/connectors/t_brk/breaker`)).body.state, 'closed');

    // An operator can reset an open breaker by hand.
    sys.down = true;
    for (let i = 0; i < 3; i++) await call('t_brk', 'ping', {});
    assert.equal((await ops.get(`${P}/connectors/t_brk/breaker`)).body.state, 'open');
    const reset = await ops.post(`${P}/connectors/t_brk/breaker/reset`, {});
    assert.equal(reset.status, 200);
    assert.equal(reset.body.state, 'closed');
    sys.down = false;
  });

  test('a slow system times out at the method timeout', async () => {
    await create(
      connector('t_slow', {
        methods: [{ name: 'slow', http_method: 'GET', path: '/slow', idempotent: false, timeout_ms: 300 }],
      }),
    );
    const r = await call('t_slow', 'slow', { ms: 2000 });
    assert.equal(r.outcome, 'timeout');
    assert.equal(r.error.code, 'timeout');
    assert.ok(r.latency_ms >= 290 && r.latency_ms < 1500, `${r.latency_ms} ms`);
  });

  test('the concurrency cap: a call that cannot get a slot in time is refused', async () => {
    await create(
      connector('t_cap', {
        concurrency: 1,
        methods: [
          { name: 'long', http_method: 'GET', path: '/slow', timeout_ms: 3000 },
          { name: 'quick', http_method: 'GET', path: '/slow', timeout_ms: 300 },
        ],
      }),
    );
    const a = call('t_cap', 'long', { ms: 1200 });
    await sleep(200);
    const t0 = Date.now();
    const b = await call('t_cap', 'quick', { ms: 1 });
    assert.equal(b.outcome, 'rejected', JSON.stringify(b));
    assert.equal(b.error.code, 'unavailable');
    assert.match(b.error.message, /并发/);
    assert.ok(Date.now() - t0 >= 280, 'it waited for a slot first');
    assert.equal((await a).outcome, 'ok');
    // With the slot free again the same call goes through.
    assert.equal((await call('t_cap', 'quick', { ms: 1 })).outcome, 'ok');
  });

  test('mocks: forced per call, or the whole connector in mock mode', async () => {
    const m = await ops.post(`${P}/mocks`, {
      connector: 't_echo',
      method: 'echo',
      title: '固定答复',
      match: { id_number: '310104195001010015' },
      status: 200,
      response: { mocked: true, echo: '{{request.id_number}}' },
    });
    assert.equal(m.status, 201);
    const hits = sys.hits['/echo'];
    const r = await call('t_echo', 'echo', { id_number: '310104195001010015' }, { force_mock: true });
    assert.equal(r.outcome, 'mock');
    assert.deepEqual(r.response, { mocked: true, echo: '310104195001010015' });
    const miss = await call('t_echo', 'echo', { id_number: '310104195001010023' }, { force_mock: true });
    assert.equal(miss.ok, false);
    assert.match(miss.error.message, /没有匹配的模拟数据/);
    assert.equal(sys.hits['/echo'], hits, 'the system was not called');

    const g = await ops.get(`${P}/connectors/t_echo`);
    const u = await put(ops, srv.url, `${P}/connectors/t_echo`, { ...g.body.connector, mode: 'mock', rev: g.body.rev });
    assert.equal(u.status, 200);
    const live = await call('t_echo', 'echo', { id_number: '310104195001010015' });
    assert.equal(live.outcome, 'mock');
    assert.equal(sys.hits['/echo'], hits);
    const list = await ops.get(`${P}/mocks?connector=t_echo`);
    assert.equal(list.body.mocks.length, 1);
    assert.equal((await ops.del(`${P}/mocks/${m.body.id}`)).status, 200);
    const log = await ops.get(`${P}/calls?connector=t_echo&outcome=mock`);
    assert.ok(log.body.calls.some((c) => c.id === live.call_id && c.mocked));
  });

  test('the call log masks sensitive fields and the method’s mask paths', async () => {
    await create(
      connector('t_mask', {
        methods: [{ name: 'person', http_method: 'POST', path: '/person', mask: ['applicant.bank_no', 'secret_code'] }],
      }),
    );
    const r = await call('t_mask', 'person', { applicant: { id_number: ID, phone: '13812345678', bank_no: '6222020200112233445' } });
    assert.equal(r.outcome, 'ok');
    assert.equal(r.response.id_number, ID, 'the caller gets the real answer');
    const d = await ops.get(`${P}/calls/${r.call_id}`);
    assert.equal(d.status, 200);
    assert.equal(d.body.request.applicant.id_number, '1101**********002X');
    assert.equal(d.body.request.applicant.phone, '138****5678');
    assert.equal(d.body.request.applicant.bank_no, '***');
    assert.equal(d.body.response.secret_code, '***');
    assert.equal(d.body.response.name, '张*');
    assert.equal(d.body.response.ok, true);
    const raw = sql(srv, `SELECT request, response FROM gateway_calls WHERE id = ${r.call_id}`);
    assert.ok(raw.length > 0);
    assert.ok(!raw.includes(ID) && !raw.includes('13812345678') && !raw.includes('S-1'));
  });

  test('statistics by connector, method and day, and the XLSX export', async () => {
    const s = await ops.get(`${P}/stats?connector=t_retry`);
    assert.equal(s.status, 200);
    const get = s.body.rows.find((x) => x.method === 'get');
    const post = s.body.rows.find((x) => x.method === 'post');
    assert.equal(get.count, 1);
    assert.equal(get.success_rate, 1);
    assert.equal(post.count, 1);
    assert.equal(post.success_rate, 0);
    assert.ok(get.p50_ms > 0 && get.p99_ms >= get.p95_ms && get.p95_ms >= get.p50_ms);
    const all = await ops.get(`${P}/stats`);
    const brk = all.body.rows.filter((x) => x.connector === 't_brk');
    assert.ok(brk.reduce((t, x) => t + x.count, 0) >= 8);
    assert.equal((await ops.get(`${P}/stats?from=2026-13-01`)).status, 400);

    const res = await fetch(`${srv.url}${P}/stats.xlsx`, { headers: { Cookie: ops.cookie } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /spreadsheetml/);
    assert.match(res.headers.get('content-disposition'), /attachment/);
    const buf = Buffer.from(await res.arrayBuffer());
    assert.deepEqual([...buf.subarray(0, 4)], [0x50, 0x4b, 0x03, 0x04]);
    assert.match(unzipEntry(buf, 'xl/workbook.xml'), /name="接口调用统计"/);
    const strings = unzipEntry(buf, 'xl/sharedStrings.xml');
    assert.ok(strings.includes('t_retry') && strings.includes('成功率'));
  });

  test('delete a connector: calls to it are then refused', async () => {
    assert.equal((await ops.del(`${P}/connectors/t_slow`)).status, 200);
    const r = await ops.post(`${P}/connectors/t_slow/test`, { method: 'slow', request: {} });
    assert.equal(r.status, 404);
    assert.equal((await ops.get(`${P}/connectors/t_slow`)).status, 404);
  });
});

// The seeded connectors against the simulators (`serve --with-sim`): every auth scheme and
// crypto profile the systems use (token, HMAC-SM3, Basic + SOAP, Basic + SM4-CBC, SM2) is
// accepted by the other side, and the breaker opens on injected faults.
describe('gateway: the seeded connectors against shouli sim', () => {
  let srv, ops, sim, person;

  const freePort = () =>
    new Promise((ok) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => ok(port));
      });
    });
  const call = async (name, method, request) => {
    const r = await ops.post(`${P}/connectors/${name}/test`, { method, request });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  before(async () => {
    const port = await freePort();
    sim = `http://127.0.0.1:${port}`;
    srv = await startServer(['--with-sim', '--sim-port', String(port)]);
    ops = await loginAs(srv.url, OPS);
    const people = await fetch(`${sim}/sim/people?limit=20`).then((r) => r.json());
    person = people.people.find((p) => !p.deceased && p.hukou?.shanghai);
    assert.ok(person, 'the simulator has residents');
  });
  after(async () => {
    if (process.env.G1DEBUG) console.log(srv?.output());
    await fetch(`${sim}/sim/faults`, { method: 'DELETE' }).catch(() => {});
    await srv?.stop();
  });

  test('token (shebao), HMAC-SM3 (yibao), SOAP + Basic (gongan) find the same resident', async () => {
    const sb = await call('shebao', 'person_query', { id_number: person.id_number });
    assert.equal(sb.outcome, 'ok', JSON.stringify(sb));
    assert.equal(sb.response.name, person.name);
    const yb = await call('yibao', 'insured_query', { id_number: person.id_number });
    assert.equal(yb.outcome, 'ok', JSON.stringify(yb));
    const ga = await call('gongan', 'person_query', { id_number: person.id_number });
    assert.equal(ga.outcome, 'ok', JSON.stringify(ga));
    assert.equal(ga.response.name, person.name);
    assert.equal(ga.response.household_no, person.household_no);
    const nobody = await call('gongan', 'person_query', { id_number: ID });
    assert.equal(nobody.outcome, 'error');
    assert.match(nobody.error.message, /查无此人/);
  });

  test('SM4-CBC (shuiwu) and SM2-signed (bjk) requests are accepted', async () => {
    const sw = await call('shuiwu', 'agreement_query', { id_number: person.id_number });
    assert.equal(sw.outcome, 'ok', JSON.stringify(sw));
    assert.equal(sw.response.name, person.name);
    const bjk = await call('bjk', 'case_query', { case_no: 'SL-NO-SUCH-CASE' });
    // The signature is good: the case library answers about the case, not about us.
    assert.equal(bjk.http_status, 404, JSON.stringify(bjk));
    assert.notEqual(bjk.response?.code, 'BAD_SIGNATURE');
  });

  test('the breaker opens when the simulator fails and closes after an operator reset', async () => {
    const f = await fetch(`${sim}/sim/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prefix: '/canlian', status: 503, error_rate: 1 }),
    });
    assert.equal(f.status, 200);
    let last;
    for (let i = 0; i < 6; i++) last = await call('canlian', 'cert_query', { id_number: person.id_number });
    assert.equal(last.outcome, 'breaker_open');
    await fetch(`${sim}/sim/faults`, { method: 'DELETE' });
    assert.equal((await ops.post(`${P}/connectors/canlian/breaker/reset`, {})).body.state, 'closed');
    const ok = await call('canlian', 'cert_query', { id_number: person.id_number });
    assert.equal(ok.outcome, 'ok', JSON.stringify(ok));
  });
});
