// Open APIs as another system meets them: signed calls (HMAC-SM3 and SM2) to the catalog and
// ping APIs, refusals for a bad signature, an old timestamp, a replayed nonce, no grant, a
// time window that excludes now, a used-up daily quota and a rate limit; debug credentials
// that receive the configured mock; the call log an integrator inspects; and secrets that are
// shown once and never again. The client is scripts/open-api-call.mjs, as integrators use it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { DEMO, loginAs, sql, startServer } from './lib.mjs';
import { openCall, signRequest } from '../../scripts/open-api-call.mjs';

const OPS = { username: 'ops', password: 'Ops@2026demo' };
const ADMIN = '/api/v1/admin/open';

let srv;
let ops;

before(async () => {
  srv = await startServer();
  ops = await loginAs(srv.url, OPS);
});

after(async () => {
  await srv?.stop();
});

const call = (opts) => openCall(srv.url, opts);

async function credential(body) {
  const r = await ops.post(`${ADMIN}/credentials`, { owner: '民政业务中台', kind: 'hmac_sm3', ...body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function grant(cred, api, extra = {}) {
  const r = await ops.post(`${ADMIN}/grants`, { credential_id: cred.id, api, ...extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

function assertRefused(r, status, code, message) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code);
  if (message instanceof RegExp) assert.match(r.body.error.message, message);
  else assert.equal(r.body.error.message, message);
}

// "HH:MM" of Shanghai time now + minutes.
function shanghaiHHMM(plusMinutes) {
  const m = (Math.floor((Date.now() + 8 * 3600e3) / 60000) + plusMinutes) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

describe('signed calls', () => {
  let cred;
  before(async () => {
    cred = await credential({ description: 'API 测试' });
    await grant(cred, 'catalog.search');
    await grant(cred, 'ping');
  });

  test('an HMAC-SM3 signed call returns the published catalog', async () => {
    assert.match(cred.key_id, /^ak[0-9a-f]{16}$/);
    assert.match(cred.secret, /^[0-9a-f]{64}$/);
    const r = await call({ path: '/api/open/v1/catalog/items', query: { q: '老年', limit: 5 }, keyId: cred.key_id, secret: cred.secret });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.total > 0);
    assert.ok(r.body.items.length > 0 && r.body.items.length <= 5);
    assert.match(r.body.items[0].code, /^\d{12}$/);
    // The same data a signed-in clerk gets.
    const clerk = await loginAs(srv.url, DEMO.clerk);
    const mine = await clerk.get(`/api/v1/catalog/items?q=${encodeURIComponent('老年')}&limit=5`);
    assert.deepEqual(r.body, mine.body);
  });

  test('ping answers with the caller', async () => {
    const r = await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret });
    assert.equal(r.status, 200);
    assert.equal(r.body.pong, true);
    assert.equal(r.body.key_id, cred.key_id);
    assert.equal(r.body.owner, '民政业务中台');
  });

  test('a bad signature is refused', async () => {
    const s = signRequest({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret });
    const sig = s.headers['X-Signature'];
    s.headers['X-Signature'] = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
    const res = await fetch(srv.url + s.target, { headers: s.headers });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error.message, '签名无效');
    // Signed with another secret, or over another query than the one sent.
    assertRefused(await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: 'f'.repeat(64) }), 401, 'unauthenticated', '签名无效');
    const q = signRequest({ path: '/api/open/v1/catalog/items', query: { q: '老年' }, keyId: cred.key_id, secret: cred.secret });
    const tampered = await fetch(`${srv.url}/api/open/v1/catalog/items?q=${encodeURIComponent('残疾')}`, { headers: q.headers });
    assert.equal(tampered.status, 401);
    // Missing headers, unknown key.
    const bare = await fetch(`${srv.url}/api/open/v1/ping`);
    assert.equal(bare.status, 401);
    assert.match((await bare.json()).error.message, /^签名无效：缺少请求头 X-Key-Id/);
    assertRefused(await call({ path: '/api/open/v1/ping', keyId: 'ak0000000000000000', secret: cred.secret }), 401, 'unauthenticated', '签名无效：Key ID 不存在');
  });

  test('a timestamp more than 5 minutes away is refused', async () => {
    for (const skew of [-6 * 60e3, 6 * 60e3]) {
      const r = await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret, timestamp: Date.now() + skew });
      assertRefused(r, 401, 'unauthenticated', '时间戳超出 5 分钟');
    }
    const ok = await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret, timestamp: Date.now() - 4 * 60e3 });
    assert.equal(ok.status, 200);
  });

  test('a replayed request (same nonce) is refused', async () => {
    const s = signRequest({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret });
    const first = await fetch(srv.url + s.target, { headers: s.headers });
    assert.equal(first.status, 200);
    const again = await fetch(srv.url + s.target, { headers: s.headers });
    assert.equal(again.status, 401);
    assert.equal((await again.json()).error.message, '重复的请求（nonce）');
  });

  test('an API without a grant is refused', async () => {
    const r = await call({ path: '/api/open/v1/catalog/items/310001001000', keyId: cred.key_id, secret: cred.secret });
    assertRefused(r, 403, 'forbidden', '未授权调用该接口');
  });

  test('a session cookie does not open an open API, and open credentials do not open the staff API', async () => {
    const admin = await loginAs(srv.url, DEMO.admin);
    const r = await admin.get('/api/open/v1/ping');
    assert.equal(r.status, 401);
    const s = signRequest({ path: '/api/v1/catalog/items', keyId: cred.key_id, secret: cred.secret });
    const staff = await fetch(srv.url + s.target, { headers: s.headers });
    assert.equal(staff.status, 401);
  });
});

describe('grants', () => {
  test('a grant denies outside its time window, and allows once the window includes now', async () => {
    const cred = await credential({});
    // Every day, but only from an hour from now to two hours from now (Shanghai time).
    const from = shanghaiHHMM(60);
    const to = shanghaiHHMM(120).replace(/^00:00$/, '24:00'); // an end of 00:00 is shown as 24:00
    const g = await grant(cred, 'ping', { time_from: from, time_to: to });
    assert.equal(g.window, `每天 ${from}–${to}`);
    const r = await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret });
    assertRefused(r, 403, 'forbidden', `不在授权时段（每天 ${from}–${to}）`);
    // Weekdays other than today exclude now as well.
    const today = ((Math.floor((Date.now() + 8 * 3600e3) / 86400e3) + 3) % 7) + 1;
    const others = [1, 2, 3, 4, 5, 6, 7].filter((d) => d !== today);
    const p1 = await ops.patch(`${ADMIN}/grants/${g.id}`, { weekdays: others, time_from: '00:00', time_to: '24:00', version: g.version });
    assert.equal(p1.status, 200, JSON.stringify(p1.body));
    assert.deepEqual(p1.body.weekdays, others);
    const r2 = await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret });
    assertRefused(r2, 403, 'forbidden', /^不在授权时段（.* 00:00–24:00）$/);
    // A stale version is a conflict.
    const stale = await ops.patch(`${ADMIN}/grants/${g.id}`, { weekdays: [1, 2, 3, 4, 5, 6, 7], version: g.version });
    assert.equal(stale.status, 409);
    const p2 = await ops.patch(`${ADMIN}/grants/${g.id}`, { weekdays: [1, 2, 3, 4, 5, 6, 7], version: p1.body.version });
    assert.equal(p2.status, 200);
    const r3 = await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret });
    assert.equal(r3.status, 200);
  });

  test('the daily quota runs out', async () => {
    const cred = await credential({});
    const g = await grant(cred, 'catalog.item', { daily_quota: 2 });
    const path = '/api/open/v1/catalog/items/310001001000';
    for (let i = 0; i < 2; i++) {
      const r = await call({ path, keyId: cred.key_id, secret: cred.secret });
      assert.ok([200, 404].includes(r.status), JSON.stringify(r.body));
    }
    const r = await call({ path, keyId: cred.key_id, secret: cred.secret });
    assertRefused(r, 429, 'rate_limited', '今日调用次数已用完（每日 2 次）');
    const list = await ops.get(`${ADMIN}/grants?credential=${cred.id}`);
    assert.equal(list.status, 200);
    assert.equal(list.body.grants.find((x) => x.id === g.id).used_today, 2);
    // Raising the quota lets calls through again the same day.
    const p = await ops.patch(`${ADMIN}/grants/${g.id}`, { daily_quota: 3 });
    assert.equal(p.status, 200);
    assert.notEqual((await call({ path, keyId: cred.key_id, secret: cred.secret })).status, 429);
  });

  test('the per-minute rate limits bursts, without using the quota', async () => {
    const cred = await credential({});
    const g = await grant(cred, 'ping', { rate_per_min: 2, daily_quota: 100 });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret })).status);
    assert.deepEqual(statuses.slice(0, 2), [200, 200]);
    const r = await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret });
    assertRefused(r, 429, 'rate_limited', '调用过于频繁（每分钟最多 2 次）');
    const list = await ops.get(`${ADMIN}/grants?credential=${cred.id}`);
    assert.equal(list.body.grants.find((x) => x.id === g.id).used_today, 2);
  });

  test('a disabled credential is refused', async () => {
    const cred = await credential({});
    await grant(cred, 'ping');
    const p = await ops.patch(`${ADMIN}/credentials/${cred.id}`, { enabled: false });
    assert.equal(p.status, 200);
    assertRefused(await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret }), 403, 'forbidden', '凭据已停用');
  });

  test('grants are validated', async () => {
    const cred = await credential({});
    const bad = [
      [{ api: 'nope' }, 'api'],
      [{ api: 'ping', weekdays: [0] }, 'weekdays'],
      [{ api: 'ping', weekdays: [1, 1] }, 'weekdays'],
      [{ api: 'ping', time_from: '25:00' }, 'time_from'],
      [{ api: 'ping', time_from: '08:00', time_to: '08:00' }, 'time_to'],
      [{ api: 'ping', daily_quota: -1 }, 'daily_quota'],
    ];
    for (const [body, field] of bad) {
      const r = await ops.post(`${ADMIN}/grants`, { credential_id: cred.id, ...body });
      assert.equal(r.status, 400, JSON.stringify([body, r.body]));
      assert.equal(r.body.error.field, field);
    }
    await grant(cred, 'ping');
    const dup = await ops.post(`${ADMIN}/grants`, { credential_id: cred.id, api: 'ping' });
    assert.equal(dup.status, 409);
  });
});

describe('debug credentials and mocks', () => {
  test('a debug credential receives the configured mock, and the calls are logged for it', async () => {
    const cred = await credential({ owner: '联调系统', debug: true });
    await grant(cred, 'catalog.search');
    const r = await call({ path: '/api/open/v1/catalog/items', query: { q: '老年' }, keyId: cred.key_id, secret: cred.secret });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-shouli-mock'), '1');
    assert.match(r.body.items[0].name, /模拟/);
    // The operator edits the mock; the next debug call gets it.
    const apis = await ops.get(`${ADMIN}/apis`);
    const search = apis.body.apis.find((a) => a.name === 'catalog.search');
    assert.equal(search.route, '/api/open/v1/catalog/items');
    const mock = { items: [{ code: '999999999999', name: '联调专用事项' }], total: 1 };
    const p = await ops.patch(`${ADMIN}/apis/catalog.search`, { mock, version: search.version });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.deepEqual(p.body.mock, mock);
    const r2 = await call({ path: '/api/open/v1/catalog/items', query: { q: '老年' }, keyId: cred.key_id, secret: cred.secret });
    assert.deepEqual(r2.body, mock);
    // A refused call is logged too, with the server's signing string to compare.
    await call({ path: '/api/open/v1/catalog/items', keyId: cred.key_id, secret: 'x' });
    const log = await ops.get(`${ADMIN}/calls?credential=${cred.key_id}`);
    assert.equal(log.status, 200);
    const [refused, second, first] = log.body.calls;
    assert.equal(log.body.calls.length, 3);
    assert.equal(refused.outcome, 'refused');
    assert.equal(refused.status, 401);
    assert.equal(refused.message, '签名无效');
    assert.match(refused.signing_string, /^GET\n\/api\/open\/v1\/catalog\/items\n\d+\n[0-9a-f]{32}\n[0-9a-f]{64}$/);
    assert.equal(second.outcome, 'mock');
    assert.deepEqual(JSON.parse(second.response), mock);
    assert.equal(first.path, '/api/open/v1/catalog/items?q=老年');
    assert.equal(first.api, 'catalog.search');
    assert.ok(first.latency_us > 0);
    // The same log by credential id; a live caller's call is "ok".
    const byId = await ops.get(`${ADMIN}/calls?credential=${cred.id}&outcome=mock`);
    assert.equal(byId.body.calls.length, 2);
  });
});

describe('SM2 credentials', () => {
  test('an SM2-signed call works; a signature by another key does not', async () => {
    const pair = () => generateKeyPairSync('ec', { namedCurve: 'SM2' });
    const mine = pair();
    const other = pair();
    const pub = mine.publicKey.export({ type: 'spki', format: 'pem' });
    const key = mine.privateKey.export({ type: 'pkcs8', format: 'pem' });
    const r = await ops.post(`${ADMIN}/credentials`, { owner: '税务', kind: 'sm2', public_key: pub });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.secret, undefined);
    assert.match(r.body.public_key, /^-----BEGIN PUBLIC KEY-----/);
    await grant(r.body, 'ping');
    const ok = await call({ path: '/api/open/v1/ping', keyId: r.body.key_id, sm2Key: key });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.owner, '税务');
    const bad = await call({ path: '/api/open/v1/ping', keyId: r.body.key_id, sm2Key: other.privateKey.export({ type: 'pkcs8', format: 'pem' }) });
    assertRefused(bad, 401, 'unauthenticated', '签名无效');
    // A private key is not accepted as the credential's key; rotation is for HMAC secrets.
    const priv = await ops.post(`${ADMIN}/credentials`, { owner: '税务', kind: 'sm2', public_key: key });
    assert.equal(priv.status, 400);
    assert.equal(priv.body.error.field, 'public_key');
    assert.equal((await ops.post(`${ADMIN}/credentials/${r.body.id}/rotate`, {})).status, 422);
  });
});

describe('secrets', () => {
  test('the secret is shown once at creation and at rotation, never again', async () => {
    const cred = await credential({});
    await grant(cred, 'ping');
    const secret = cred.secret;
    const one = await ops.get(`${ADMIN}/credentials/${cred.id}`);
    const all = await ops.get(`${ADMIN}/credentials`);
    const grants = await ops.get(`${ADMIN}/grants`);
    for (const r of [one, all, grants]) {
      assert.equal(r.status, 200);
      const text = JSON.stringify(r.body);
      assert.ok(!text.includes(secret), 'the secret is returned');
      assert.ok(!/"secret"/.test(text), 'a secret member is returned');
    }
    assert.equal(one.body.kind, 'hmac_sm3');
    assert.ok(one.body.secret_rotated_at > 0);
    // Stored sealed, not as the text.
    const hex = srv.dbArgs.length ? "encode(secret_enc, 'hex')" : 'hex(secret_enc)';
    const stored = sql(srv, `SELECT ${hex} FROM open_credentials WHERE id = ${cred.id}`);
    assert.ok(stored.length > 0 && !stored.toLowerCase().includes(Buffer.from(secret).toString('hex')));

    const rot = await ops.post(`${ADMIN}/credentials/${cred.id}/rotate`, {});
    assert.equal(rot.status, 200);
    assert.match(rot.body.secret, /^[0-9a-f]{64}$/);
    assert.notEqual(rot.body.secret, secret);
    assertRefused(await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret }), 401, 'unauthenticated', '签名无效');
    assert.equal((await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: rot.body.secret })).status, 200);
    const after = JSON.stringify((await ops.get(`${ADMIN}/credentials/${cred.id}`)).body);
    assert.ok(!after.includes(rot.body.secret));
  });

  test('only gateway managers administer open APIs; deleting a credential ends its access', async () => {
    const clerk = await loginAs(srv.url, DEMO.clerk);
    assert.equal((await clerk.get(`${ADMIN}/credentials`)).status, 403);
    assert.equal((await clerk.get(`${ADMIN}/calls`)).status, 403);
    const cred = await credential({});
    await grant(cred, 'ping');
    assert.equal((await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret })).status, 200);
    assert.equal((await ops.del(`${ADMIN}/credentials/${cred.id}`)).status, 200);
    assertRefused(await call({ path: '/api/open/v1/ping', keyId: cred.key_id, secret: cred.secret }), 401, 'unauthenticated', '签名无效：Key ID 不存在');
    // The audit trail has the administration.
    const auditor = await loginAs(srv.url, DEMO.auditor);
    const log = await auditor.get('/api/v1/admin/audit?action=gateway.open&limit=200');
    const actions = new Set(log.body.entries.map((e) => e.action));
    for (const a of ['gateway.open.credential.create', 'gateway.open.grant.create', 'gateway.open.credential.delete']) {
      assert.ok(actions.has(a), a);
    }
  });
});
