// `shouli sim`, the simulators of the external systems, over real HTTP: the deterministic
// population, each system's main endpoints with the credentials its connector presents
// (token, HMAC-SM3, SM2, Basic, SM4-CBC bodies), the medical e-voucher that expires, the
// 办件库's 6.0 办理人 rules, the 公安 SOAP service, applications decided later or on demand,
// scenarios (fixed answers), faults (latency, 503, error rate, timeout, downtime) and reset.
// Finally `serve --with-sim`, whose gateway reaches the embedded simulators.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO, ROOT, loginAs, sleep, startServer, startSim } from './lib.mjs';

const HAN = /[\u4e00-\u9fff]/;
const DELAY_MS = 1200; // decisions of submitted applications
const EVOUCHER_MS = 2000; // e-voucher lifetime
const SM4_KEY = Buffer.from('0123456789abcdeffedcba9876543210', 'hex');
const BJK_PEM = JSON.parse(readFileSync(join(ROOT, 'gateway/connectors/bjk.json'), 'utf8')).auth.private_key;
const KEYDIR = mkdtempSync(join(tmpdir(), 'shouli-sim-'));
const BJK_KEYFILE = join(KEYDIR, 'bjk.pem');
writeFileSync(BJK_KEYFILE, BJK_PEM, { mode: 0o600 });
const TOKEN_SECRETS = { shebao: 'shebao-demo-secret', minzheng: 'minzheng-demo-secret', video: 'video-demo-secret' };
const HMAC_KEYS = { yibao: ['shouli-yibao', 'yibao-demo-secret'], dsj: ['shouli-dsj', 'dsj-demo-secret'] };
const BASIC = { gongan: 'gongan-demo-secret', canlian: 'canlian-demo-secret', shuiwu: 'shuiwu-demo-secret' };

/** ISO 7064 MOD 11-2, as GB 11643 defines the 18th character. */
function idValid(id) {
  if (!/^[1-9]\d{16}[\dX]$/.test(id)) return false;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...id.slice(0, 17)].reduce((s, c, i) => s + Number(c) * w[i], 0);
  return '10X98765432'[sum % 11] === id[17];
}

function withCheck(first17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((s, c, i) => s + Number(c) * w[i], 0);
  return first17 + '10X98765432'[sum % 11];
}

async function raw(url, { method = 'GET', headers = {}, body } = {}) {
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // XML or text
  }
  return { status: res.status, headers: res.headers, text, body: json };
}

const sm3 = (data) => createHash('sm3').update(data).digest('hex');

/** SM2 signature (DER, base64) with the default ID 1234567812345678, as the gateway signs:
 * Node cannot set the SM2 ID, the openssl command can. */
function sm2Sign(text) {
  const r = spawnSync('openssl', ['dgst', '-sm3', '-sign', BJK_KEYFILE, '-sigopt', 'distid:1234567812345678'], {
    input: text,
  });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return r.stdout.toString('base64');
}
const signingString = (method, path, ts, nonce, body) => `${method}\n${path}\n${ts}\n${nonce}\n${sm3(body)}`;

function sm4Wrap(obj) {
  const iv = randomBytes(16);
  const c = createCipheriv('sm4-cbc', SM4_KEY, iv);
  return JSON.stringify({ data: Buffer.concat([iv, c.update(JSON.stringify(obj)), c.final()]).toString('base64') });
}

function sm4Unwrap(body) {
  const raw = Buffer.from(body.data, 'base64');
  const d = createDecipheriv('sm4-cbc', SM4_KEY, raw.subarray(0, 16));
  return JSON.parse(Buffer.concat([d.update(raw.subarray(16)), d.final()]).toString('utf8'));
}

function soap(op, inner) {
  return (
    '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
    `xmlns:g="urn:gongan:rkk"><s:Body><g:${op}>${inner}</g:${op}></s:Body></s:Envelope>`
  );
}

/** The text of the first <…:name> element of an XML answer. */
function xmlText(xml, name) {
  const m = xml.match(new RegExp(`<(?:\\w+:)?${name}>([^<]*)</(?:\\w+:)?${name}>`));
  return m ? m[1] : null;
}

/** Calls a simulated system the way its connector does (credentials, signatures, SM4). */
function systemClient(sim) {
  const tokens = {};
  async function token(sys) {
    if (!tokens[sys]) {
      const r = await raw(`${sim.url}/${sys}/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: 'shouli', password: TOKEN_SECRETS[sys] }),
      });
      assert.equal(r.status, 200, r.text);
      tokens[sys] = r.body.access_token;
    }
    return tokens[sys];
  }
  async function call(method, path, obj, { headers: extra = {}, seal = true } = {}) {
    const sys = path.split('/')[1];
    const headers = { 'Content-Type': 'application/json', ...extra };
    let body = obj === undefined ? '' : JSON.stringify(obj);
    if (sys === 'shuiwu' && seal && obj !== undefined) {
      body = sm4Wrap(obj);
      headers['X-Crypto'] = 'sm4_cbc';
    }
    if (TOKEN_SECRETS[sys]) headers.Authorization = `Bearer ${await token(sys)}`;
    if (BASIC[sys]) headers.Authorization = `Basic ${Buffer.from(`shouli:${BASIC[sys]}`).toString('base64')}`;
    const pathOnly = path.split('?')[0];
    if (HMAC_KEYS[sys] || sys === 'bjk') {
      const ts = String(Date.now());
      const nonce = randomBytes(8).toString('hex');
      const ss = signingString(method, pathOnly, ts, nonce, body);
      headers['X-Timestamp'] = ts;
      headers['X-Nonce'] = nonce;
      if (sys === 'bjk') {
        headers['X-Key-Id'] = 'shouli-bjk';
        headers['X-Signature'] = sm2Sign(ss);
      } else {
        headers['X-Key-Id'] = HMAC_KEYS[sys][0];
        headers['X-Signature'] = createHmac('sm3', HMAC_KEYS[sys][1]).update(ss).digest('hex');
      }
    }
    const r = await raw(sim.url + path, { method, headers, body: body || undefined });
    if (headers['X-Crypto'] && r.status < 300 && r.body?.data) r.body = sm4Unwrap(r.body);
    return r;
  }
  return {
    post: (path, obj, opts) => call('POST', path, obj, opts),
    get: (path, opts) => call('GET', path, undefined, opts),
    put: (path, obj, opts) => call('PUT', path, obj, opts),
    del: (path, opts) => call('DELETE', path, undefined, opts),
    soap: (op, inner, auth = BASIC.gongan) =>
      raw(`${sim.url}/gongan/ws/rkk`, {
        method: 'POST',
        headers: {
          'Content-Type': 'text/xml; charset=utf-8',
          SOAPAction: `"urn:gongan:rkk#${op}"`,
          Authorization: `Basic ${Buffer.from(`shouli:${auth}`).toString('base64')}`,
        },
        body: soap(op, inner),
      }),
  };
}

let sim;
let S; // system client
const admin = {
  get: (path) => raw(sim.url + path),
  post: (path, obj) =>
    raw(sim.url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(obj ?? {}) }),
  del: (path) => raw(sim.url + path, { method: 'DELETE' }),
};

/** People of the simulated population matching a /sim/people query, from the offset-th on
 * (tests that change a person's state take people no other test takes). */
async function people(query, n = 1, offset = 0) {
  const r = await admin.get(`/sim/people?${query}&limit=${Math.max(n, 20)}&offset=${offset}`);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.people.length >= n, `not enough people for ${query}: ${r.body.total}`);
  return r.body.people;
}

let caseSeq = 0;
const caseNo = () => `SL${Date.now()}${++caseSeq}`;

before(async () => {
  sim = await startSim(['--seed', '1', '--decision-delay-ms', String(DELAY_MS), '--evoucher-ttl-ms', String(EVOUCHER_MS)]);
  S = systemClient(sim);
});

after(async () => {
  rmSync(KEYDIR, { recursive: true, force: true });
  if (!sim) return;
  // requests held by injected delays must not keep it from stopping cleanly
  await admin.post('/sim/faults', { prefix: '/map', latency_ms: 60000 });
  const held = fetch(`${sim.url}/map/points`).catch(() => null);
  await sleep(100);
  await sim.stop();
  await held;
  const ex = await sim.exited();
  assert.equal(ex.code, 0, `shouli sim exited with ${JSON.stringify(ex)}\n${sim.output().slice(-4000)}`);
});

describe('population', () => {
  test('residents have valid ID numbers, real districts and the same faces for the same seed', async () => {
    const list = await people('min_age=0', 20);
    for (const p of list) {
      assert.ok(idValid(p.id_number), p.id_number);
      assert.equal(p.birth_date.replaceAll('-', ''), p.id_number.slice(6, 14));
      assert.equal(Number(p.id_number[16]) % 2 === 1, p.gender === '男');
      assert.match(p.name, HAN);
      assert.match(p.district, /区$/);
      assert.ok(p.address.startsWith(`上海市${p.district}`), p.address);
      if (p.hukou.shanghai) assert.ok(p.id_number.startsWith('310'));
    }
    const a = await startSim(['--seed', '5', '--households', '200']);
    const b = await startSim(['--seed', '5', '--households', '200']);
    const c = await startSim(['--seed', '6', '--households', '200']);
    try {
      const get = async (s) => (await raw(`${s.url}/sim/people?limit=50`)).body.people.map((p) => `${p.id_number} ${p.name} ${p.address}`);
      const [pa, pb, pc] = [await get(a), await get(b), await get(c)];
      assert.deepEqual(pa, pb);
      assert.notDeepEqual(pa, pc);
    } finally {
      await Promise.all([a.stop(), b.stop(), c.stop()]);
    }
  });

  test('a resident shows every system view and the household', async () => {
    const [p] = await people('min_age=30&max_age=50&hukou=1');
    const r = await admin.get(`/sim/people/${p.id_number}`);
    assert.equal(r.status, 200);
    assert.ok(r.body.shebao && 'gongan' in r.body && 'yibao' in r.body);
    assert.ok(r.body.household.members.some((m) => m.id_number === p.id_number));
    const h = await admin.get(`/sim/households/${r.body.household_no}`);
    assert.equal(h.body.household_no, r.body.household_no);
    const good = withCheck('31010119900101123');
    const bad = good.slice(0, 17) + (good[17] === '1' ? '2' : '1');
    assert.equal((await admin.get(`/sim/people/${bad}`)).status, 422);
    assert.equal((await admin.get('/sim/people?has=unicorns')).status, 400);
  });
});

describe('credentials as the connectors present them', () => {
  test('token systems refuse calls without a live token and wrong passwords', async () => {
    const r = await raw(`${sim.url}/shebao/persons/query`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'TOKEN_MISSING');
    const bad = await raw(`${sim.url}/shebao/persons/query`, { method: 'POST', headers: { Authorization: 'Bearer nope' }, body: '{}' });
    assert.equal(bad.body.code, 'TOKEN_INVALID');
    const pw = await raw(`${sim.url}/minzheng/auth/token`, { method: 'POST', body: JSON.stringify({ username: 'shouli', password: 'x' }) });
    assert.equal(pw.status, 401);
  });

  test('HMAC-SM3: a wrong signature, a replayed nonce and an old timestamp are refused', async () => {
    const [p] = await people('min_age=30&hukou=1&has=medical');
    const ok = await S.post('/yibao/insured/query', { id_number: p.id_number });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.insured, true);
    const body = JSON.stringify({ id_number: p.id_number });
    const ts = String(Date.now());
    const nonce = randomBytes(8).toString('hex');
    const sig = createHmac('sm3', 'yibao-demo-secret').update(signingString('POST', '/yibao/insured/query', ts, nonce, body)).digest('hex');
    const h = { 'X-Key-Id': 'shouli-yibao', 'X-Timestamp': ts, 'X-Nonce': nonce, 'X-Signature': sig };
    assert.equal((await raw(`${sim.url}/yibao/insured/query`, { method: 'POST', headers: h, body })).status, 200);
    const replay = await raw(`${sim.url}/yibao/insured/query`, { method: 'POST', headers: h, body });
    assert.equal(replay.status, 401);
    assert.match(replay.body.message, /nonce/);
    const tampered = await raw(`${sim.url}/yibao/insured/query`, { method: 'POST', headers: { ...h, 'X-Nonce': 'aa' + nonce.slice(2) }, body: body.replace('3', '4') });
    assert.equal(tampered.body.code, 'BAD_SIGNATURE');
    const oldTs = String(Date.now() - 10 * 60 * 1000);
    const old = await raw(`${sim.url}/yibao/insured/query`, {
      method: 'POST',
      headers: { ...h, 'X-Timestamp': oldTs, 'X-Nonce': randomBytes(8).toString('hex') },
      body,
    });
    assert.match(old.body.message, /5 分钟/);
  });
});

describe('民政业务中台 (5 interfaces)', () => {
  test('老年综合津贴: eligibility from the ID number and 户籍, submit, duplicate, decision', async () => {
    const [elder] = await people('min_age=66&max_age=69&hukou=1&enrolled=0');
    const q = await S.post('/minzheng/elder-allowance/query', { id_number: elder.id_number });
    assert.equal(q.status, 200, q.text);
    assert.equal(q.body.eligible, true);
    assert.equal(q.body.monthly_amount, 75);
    const [young] = await people('min_age=30&max_age=50&hukou=1');
    const y = await S.post('/minzheng/elder-allowance/query', { id_number: young.id_number });
    assert.equal(y.body.eligible, false);
    assert.match(y.body.reason, /未满 65 周岁/);
    const [migrant] = await people('min_age=25&hukou=0');
    const m = await S.post('/minzheng/elder-allowance/query', { id_number: migrant.id_number });
    assert.match(m.body.reason, /非本市户籍/);
    const bad = await S.post('/minzheng/elder-allowance/query', { id_number: '310104195001010015' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.code, 'INVALID_ID_NUMBER');

    const refused = await S.post('/minzheng/elder-allowance/applications', {
      case_no: caseNo(),
      applicant: { id_number: young.id_number, name: young.name },
      channel: 'ssc',
    });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.code, 'NOT_ELIGIBLE');
    const wrongName = await S.post('/minzheng/elder-allowance/applications', {
      case_no: caseNo(),
      applicant: { id_number: elder.id_number, name: '张冒名' },
    });
    assert.equal(wrongName.body.code, 'NAME_MISMATCH');
    const badCard = await S.post('/minzheng/elder-allowance/applications', {
      case_no: caseNo(),
      applicant: { id_number: elder.id_number, name: elder.name },
      channel: 'bank',
      bank: { bank: 'ICBC', account: '6222020000000000001', holder: elder.name },
    });
    assert.equal(badCard.body.code, 'INVALID_BANK_ACCOUNT');

    const no = caseNo();
    const body = { case_no: no, applicant: { id_number: elder.id_number, name: elder.name }, channel: 'ssc' };
    const sub = await S.post('/minzheng/elder-allowance/applications', body);
    assert.equal(sub.status, 200, sub.text);
    assert.match(sub.body.dept_case_no, /^MZ\d{14}$/);
    assert.equal(sub.body.status, 'received');
    const again = await S.post('/minzheng/elder-allowance/applications', body);
    assert.equal(again.body.dept_case_no, sub.body.dept_case_no);
    assert.equal(again.body.duplicate, true);
    const pending = await S.post('/minzheng/elder-allowance/query', { id_number: elder.id_number });
    assert.equal(pending.body.status, '审核中');

    await sleep(DELAY_MS + 200);
    const st = await S.get(`/minzheng/applications/${sub.body.dept_case_no}`);
    assert.equal(st.body.status, 'approved');
    assert.match(st.body.decision, /每月 75 元/);
    assert.ok(st.body.decided_at);
    const now = await S.post('/minzheng/elder-allowance/query', { id_number: elder.id_number });
    assert.equal(now.body.status, '已享受');
    assert.equal(now.body.eligible, false);

    const ch = await S.post('/minzheng/elder-allowance/channel-changes', {
      case_no: caseNo(),
      id_number: elder.id_number,
      channel: 'bank',
      bank: { bank: 'ICBC', account: withLuhn('622202123456789012'), holder: elder.name },
    });
    assert.equal(ch.status, 200, ch.text);
    const after = await S.post('/minzheng/elder-allowance/query', { id_number: elder.id_number });
    assert.equal(after.body.channel.channel, 'bank');
  });

  test('a submission is cancelled by compensation, and decided on demand', async () => {
    const [a, b] = await people('min_age=66&hukou=1&enrolled=0', 2, 4);
    const s1 = await S.post('/minzheng/elder-allowance/applications', { case_no: caseNo(), applicant: { id_number: a.id_number } });
    assert.equal(s1.status, 200, s1.text);
    const c = await S.post(`/minzheng/elder-allowance/applications/${s1.body.dept_case_no}/cancel`, {});
    assert.equal(c.body.status, 'cancelled');
    const c2 = await S.post(`/minzheng/elder-allowance/applications/${s1.body.dept_case_no}/cancel`, {});
    assert.equal(c2.status, 200); // compensation may be retried
    assert.equal((await S.post('/minzheng/elder-allowance/applications/MZ0/cancel', {})).status, 404);

    const s2 = await S.post('/minzheng/elder-allowance/applications', { case_no: caseNo(), applicant: { id_number: b.id_number } });
    const d = await admin.post(`/sim/minzheng/applications/${s2.body.dept_case_no}/decide`, { decision: 'rejected', opinion: '材料不全' });
    assert.equal(d.status, 200, d.text);
    assert.equal(d.body.status, 'rejected');
    const st = await S.get(`/minzheng/applications/${s2.body.dept_case_no}`);
    assert.equal(st.body.status, 'rejected');
    assert.equal(st.body.decision, '材料不全');
    assert.equal((await admin.post(`/sim/minzheng/applications/${s2.body.dept_case_no}/decide`, {})).status, 409);
    assert.equal((await S.post(`/minzheng/applications/${s2.body.dept_case_no}/cancel`, {})).status, 409);
  });

  test('助餐补贴: 70 and over (or 低保 from 60), submit then change', async () => {
    const [old] = await people('min_age=72&hukou=1');
    const no = caseNo();
    const sub = await S.post('/minzheng/meal-subsidy/applications', { case_no: no, applicant: { id_number: old.id_number }, form: {} });
    assert.equal(sub.status, 200, sub.text);
    const twice = await S.post('/minzheng/meal-subsidy/applications', { case_no: caseNo(), applicant: { id_number: old.id_number } });
    assert.equal(twice.body.code, 'NOT_ELIGIBLE');
    const ch = await S.post('/minzheng/meal-subsidy/changes', { case_no: caseNo(), id_number: old.id_number, form: { site: '长者食堂（新址）' } });
    assert.equal(ch.status, 200, ch.text);
    const [young] = await people('min_age=30&max_age=40&hukou=1');
    const no2 = await S.post('/minzheng/meal-subsidy/applications', { case_no: caseNo(), applicant: { id_number: young.id_number } });
    assert.equal(no2.status, 422);
    assert.match(no2.body.message, /70 周岁/);
    const noSub = await S.post('/minzheng/meal-subsidy/changes', { case_no: caseNo(), id_number: young.id_number, form: { site: 'x' } });
    assert.equal(noSub.body.code, 'NOT_ELIGIBLE');
  });
});

function withLuhn(first) {
  let sum = 0;
  for (let i = 0; i < first.length; i++) {
    let d = Number(first[first.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return first + String((10 - (sum % 10)) % 10);
}

describe('社保 and 医保', () => {
  test('insured status, contribution records, a pension application refused for its reason', async () => {
    const [w] = await people('min_age=30&max_age=45&hukou=1&insured=employee');
    const q = await S.post('/shebao/persons/query', { id_number: w.id_number });
    assert.equal(q.status, 200, q.text);
    assert.equal(q.body.found, true);
    assert.equal(q.body.insured_type, '城镇职工基本养老保险');
    assert.ok(q.body.contribution_months > 0);
    const nobody = await S.post('/shebao/persons/query', { id_number: withCheck('31010119900101999') });
    assert.deepEqual([nobody.status, nobody.body.found], [200, false]);
    const c = await S.get(`/shebao/persons/${w.id_number}/contributions?from=202401&to=202406`);
    assert.equal(c.status, 200, c.text);
    assert.ok(c.body.records.length <= 6);
    for (const r of c.body.records) assert.ok(Math.abs(r.amount - r.base * 0.08) < 0.01);
    const apply = await S.post('/shebao/pension/applications', { case_no: caseNo(), applicant: { id_number: w.id_number } });
    assert.equal(apply.status, 200, apply.text);
    const d = await admin.post(`/sim/shebao/applications/${apply.body.dept_case_no}/decide`, {});
    assert.equal(d.body.status, 'rejected');
    assert.match(d.body.decision, /法定退休年龄/);
    // lookups without a method of their own go through the generic query
    const generic = await S.post('/shebao/query', { service: 'unemployment_query', id_number: w.id_number });
    assert.equal(generic.status, 200, generic.text);
    assert.equal(generic.body.found, generic.body.registered);
    assert.equal(generic.body.found, q.body.status === '暂停缴费');
    const months = await S.post('/shebao/query', { service: 'rensha.si_months_query', id_number: w.id_number });
    assert.equal(months.body.months, q.body.contribution_months);
    const wrong = await S.post('/shebao/query', { service: 'account_query', id_number: w.id_number, name: '李冒名' });
    assert.equal(wrong.body.code, 'NAME_MISMATCH');
  });

  test('medical e-voucher: resolves to the person and an ecToken, then expires', async () => {
    const [p] = await people('min_age=20&max_age=60&has=medical');
    const issued = await admin.post('/sim/yibao/evouchers', { id_number: p.id_number });
    assert.equal(issued.status, 200, issued.text);
    assert.match(issued.body.token, /^[0-9a-f]{64}$/);
    const v = await S.post('/yibao/evouchers/verify', { token: issued.body.token });
    assert.equal(v.body.valid, true);
    assert.equal(v.body.id_number, p.id_number);
    assert.equal(v.body.insured_region, p.district_code);
    const byToken = await S.post('/yibao/insured/query', { cert_type: '01', cert_no: v.body.ec_token });
    assert.equal(byToken.body.id_number, p.id_number);
    const ec = await S.post('/yibao/ec/query', { ecQrCode: issued.body.token, businessType: '01101' });
    assert.equal(ec.body.data.idNo, p.id_number);
    assert.equal(ec.body.data.userName, p.name);
    await sleep(EVOUCHER_MS + 200);
    const late = await S.post('/yibao/evouchers/verify', { token: issued.body.token });
    assert.deepEqual([late.status, late.body.valid, late.body.reason], [200, false, '电子凭证已过期']);
    const lateEc = await S.post('/yibao/ec/query', { ecQrCode: issued.body.token });
    assert.equal(lateEc.status, 422);
    assert.equal(lateEc.body.code, 'EC_QR_EXPIRED');
    const unknown = await S.post('/yibao/evouchers/verify', { token: 'ff'.repeat(32) });
    assert.equal(unknown.body.reason, '电子凭证无效');
    // the connector's own issue method gives the same kind of token
    const viaConnector = await S.post('/yibao/evouchers', { id_number: p.id_number });
    assert.equal(viaConnector.body.expires_in, EVOUCHER_MS / 1000);
  });
});

describe('公安人口库 (SOAP)', () => {
  test('QueryPerson and QueryHousehold answer in the envelope; faults for bad input', async () => {
    const [p] = await people('min_age=30&hukou=1');
    const r = await S.soap('QueryPerson', `<g:Sfzh>${p.id_number}</g:Sfzh>`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /text\/xml/);
    assert.equal(xmlText(r.text, 'Xm'), p.name);
    assert.equal(xmlText(r.text, 'Csrq'), p.id_number.slice(6, 14));
    assert.equal(xmlText(r.text, 'Zt'), '正常');
    const hh = await S.soap('QueryHousehold', `<g:Hh>${xmlText(r.text, 'Hh')}</g:Hh>`);
    assert.ok(hh.text.includes(p.id_number), hh.text);
    assert.ok((hh.text.match(/<rk:Cy>/g) || []).length >= 1);

    const bad = await S.soap('QueryPerson', '<g:Sfzh>310104195001010015</g:Sfzh>');
    assert.equal(bad.status, 500);
    assert.equal(xmlText(bad.text, 'faultstring'), '身份证号码格式错误');
    const none = await S.soap('QueryPerson', `<g:Sfzh>${withCheck('31010119900101999')}</g:Sfzh>`);
    assert.equal(xmlText(none.text, 'faultstring'), '查无此人');
    const noAuth = await S.soap('QueryPerson', `<g:Sfzh>${p.id_number}</g:Sfzh>`, 'wrong');
    assert.equal(noAuth.status, 401);
    const notSoap = await raw(`${sim.url}/gongan/ws/rkk`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from('shouli:gongan-demo-secret').toString('base64')}` },
      body: '{"not":"xml"}',
    });
    assert.match(xmlText(notSoap.text, 'faultstring'), /SOAP/);
  });

  test('residence registration is refused for the 户籍 population and accepted for others', async () => {
    const [local] = await people('min_age=30&hukou=1');
    const [migrant] = await people('min_age=25&hukou=0&has=lease_filing');
    const submit = (p) =>
      S.soap(
        'SubmitApplication',
        `<g:Ywlx>residence.submit</g:Ywlx><g:Ajbh>${caseNo()}</g:Ajbh><g:Sfzh>${p.id_number}</g:Sfzh>` +
          `<g:Xm>${p.name}</g:Xm><g:Sqnr>{"housing":"租赁"}</g:Sqnr>`,
      );
    const a = await submit(migrant);
    assert.equal(a.status, 200, a.text);
    assert.equal(xmlText(a.text, 'Zt'), '受理');
    const b = await submit(local);
    const bjbh = xmlText(b.text, 'Bjbh');
    await admin.post(`/sim/gongan/applications/${bjbh}/decide`, {});
    const st = await S.soap('QueryApplication', `<g:Bjbh>${bjbh}</g:Bjbh>`);
    assert.equal(xmlText(st.text, 'Zt'), '不通过');
    assert.match(xmlText(st.text, 'Jg'), /无需办理居住登记/);
  });
});

describe('税务 (SM4-CBC) and 残联', () => {
  test('standards, deduction agreements and refunds travel encrypted', async () => {
    const std = await S.post('/shuiwu/standards/query', { category: 'jubao', year: 2025 });
    assert.equal(std.status, 200, std.text);
    assert.equal(std.body.items.length, 10);
    assert.deepEqual(std.body.items[0], { grade: 1, amount: 500 });
    const [p] = await people('min_age=30&max_age=55&hukou=1');
    const first = await S.post('/shuiwu/deduct-agreements/query', { id_number: p.id_number });
    const acct = withLuhn('622848001234567890');
    if (!first.body.found) {
      const s = await S.post('/shuiwu/deduct-agreements', { case_no: caseNo(), id_number: p.id_number, bank: '中国农业银行', account: acct });
      assert.equal(s.status, 200, s.text);
      assert.match(s.body.agreement_no, /^WT/);
    }
    const q = await S.post('/shuiwu/deduct-agreements/query', { id_number: p.id_number });
    assert.equal(q.body.found, true);
    assert.doesNotMatch(q.body.account, new RegExp(acct));
    const dup = await S.post('/shuiwu/deduct-agreements', { case_no: caseNo(), id_number: p.id_number, bank: '中国农业银行', account: acct });
    assert.equal(dup.body.code, 'AGREEMENT_EXISTS');
    const [payer] = await people('min_age=30&max_age=50&insured=employee');
    const rf = await S.post('/shuiwu/refunds', { case_no: caseNo(), id_number: payer.id_number, amount: 320.5, reason: '重复缴费' });
    assert.equal(rf.status, 200, rf.text);
    await admin.post(`/sim/shuiwu/applications/${rf.body.refund_no}/decide`, {});
    const got = await S.get(`/shuiwu/refunds/${rf.body.refund_no}`);
    assert.equal(got.body.status, 'refunded');
    assert.equal(got.body.amount, 320.5);
    assert.ok(got.body.paid_at);
    const wrapped = await raw(`${sim.url}/shuiwu/standards/query`, {
      method: 'POST',
      headers: { 'X-Crypto': 'sm4_cbc', Authorization: `Basic ${Buffer.from('shouli:shuiwu-demo-secret').toString('base64')}` },
      body: JSON.stringify({ data: Buffer.from('not encrypted at all!!').toString('base64') }),
    });
    assert.equal(wrapped.body.code, 'DECRYPT_FAILED');
  });

  test('残疾人证: query, cancel, cancelled for good', async () => {
    const [p] = await people('has=disability&min_age=18');
    const q = await S.post('/canlian/certs/query', { id_number: p.id_number });
    assert.equal(q.status, 200, q.text);
    assert.equal(q.body.found, true);
    assert.equal(q.body.cert_no.slice(0, 18), p.id_number);
    assert.equal(q.body.status, '有效');
    const c = await S.post(`/canlian/certs/${q.body.cert_no}/cancel`, { case_no: caseNo(), reason: '户籍迁出本市' });
    assert.equal(c.body.status, 'cancelled');
    assert.equal((await S.post('/canlian/certs/query', { id_number: p.id_number })).body.status, '已注销');
    assert.equal((await S.post(`/canlian/certs/${q.body.cert_no}/cancel`, { reason: 'x' })).status, 409);
    assert.equal((await S.post('/canlian/certs/31010119900101123411/cancel', { reason: 'x' })).status, 404);
  });
});

describe('一网通办办件库 (spec 6.0)', () => {
  const person = (p) => ({ name: p.name, id_type: '111', id_number: p.id_number });
  let applicant;
  let agent;
  before(async () => {
    [applicant, agent] = await people('min_age=30&max_age=60&hukou=1', 2);
  });
  const record = (extra) => ({
    case_no: caseNo(),
    sub_item_code: '310003001000-01',
    department: 'minzheng',
    stage: 'accepted',
    channel: '1',
    applicant: person(applicant),
    accepted_at: new Date().toISOString(),
    centre: { code: '310104001', name: '徐汇区天平路街道社区事务受理服务中心' },
    ...extra,
  });

  test('the 办理人 is the applicant when nobody acts for them, else the agent', async () => {
    const ok = await S.post('/bjk/cases', record({ handler: person(applicant) }));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.accepted, true);
    assert.match(ok.body.record_id, /^BJK/);
    const noHandler = await S.post('/bjk/cases', record({}));
    assert.equal(noHandler.status, 422);
    assert.equal(noHandler.body.field, 'handler');
    const wrong = await S.post('/bjk/cases', record({ agent: person(agent), handler: person(applicant) }));
    assert.equal(wrong.status, 422);
    assert.equal(wrong.body.code, 'RECORD_INVALID');
    assert.equal(wrong.body.field, 'handler.cert_no');
    assert.match(wrong.body.errors[0].message, /代办人/);
    const right = await S.post('/bjk/cases', record({ agent: person(agent), handler: person(agent) }));
    assert.equal(right.status, 200, right.text);
    const guardian = await S.post('/bjk/cases', record({ guardian: person(agent), handler: person(applicant) }));
    assert.match(guardian.body.errors[0].message, /监护人/);
  });

  test('残联 with a 助残员: the disabled person is the 办理人, never the helper', async () => {
    const cl = (extra) => record({ sub_item_code: '310006001000-01', department: 'canlian', helper: person(agent), ...extra });
    const helperAsHandler = await S.post('/bjk/cases', cl({ handler: person(agent) }));
    assert.equal(helperAsHandler.status, 422);
    assert.equal(helperAsHandler.body.field, 'handler.cert_no');
    assert.match(helperAsHandler.body.message, /助残员不作为办理人/);
    const self = await S.post('/bjk/cases', cl({ handler: person(applicant) }));
    assert.equal(self.status, 200, self.text);
    // a helper outside 残联 is noted, not a rule of its own
    const other = await S.post('/bjk/cases', record({ helper: person(agent), handler: person(applicant) }));
    assert.equal(other.status, 200);
    assert.equal(other.body.warnings[0].field, 'helper');
  });

  test('every broken field is named; later stages update the stored record', async () => {
    const r = await S.post('/bjk/cases', {
      stage: 'finished',
      applicant: { name: applicant.name, id_number: '310104195001010015' },
      handler: { name: applicant.name, id_number: '310104195001010015' },
    });
    assert.equal(r.status, 422);
    const fields = r.body.errors.map((e) => e.field);
    for (const f of ['case_no', 'item_code', 'applicant.cert_no', 'accepted_at', 'centre', 'result', 'finished_at'])
      assert.ok(fields.includes(f), `${f} in ${fields}`);
    for (const e of r.body.errors) assert.match(e.message, HAN);

    const rec = record({ handler: person(applicant) });
    assert.equal((await S.post('/bjk/cases', rec)).status, 200);
    const fin = await S.put(`/bjk/cases/${rec.case_no}`, { stage: 'finished' });
    assert.equal(fin.status, 422);
    assert.ok(fin.body.errors.some((e) => e.field === 'result'));
    const fin2 = await S.put(`/bjk/cases/${rec.case_no}`, { stage: 'finished', result: '准予', finished_at: new Date().toISOString() });
    assert.equal(fin2.status, 200, fin2.text);
    const got = await S.get(`/bjk/cases/${rec.case_no}`);
    assert.deepEqual(got.body.stages.map((s) => s.stage), ['accepted', 'finished']);
    assert.equal(got.body.record.result, '准予');
    assert.equal((await S.get('/bjk/cases/NOPE')).status, 404);
    const unsigned = await raw(`${sim.url}/bjk/cases`, { method: 'POST', body: JSON.stringify(rec) });
    assert.equal(unsigned.status, 401);
  });
});

describe('大数据中心, 电子档案, 政务地图, video', () => {
  test('住房租赁合同备案通知书 and material verdicts', async () => {
    const [t] = await people('has=lease_filing');
    const q = await S.post('/dsj/ecerts/query', { id_number: t.id_number, cert_type: '住房租赁合同备案通知书' });
    assert.equal(q.status, 200, q.text);
    assert.equal(q.body.certs.length, 1);
    const cert = q.body.certs[0];
    assert.equal(cert.cert_type, 'lease_filing');
    assert.equal(cert.data.lessee, t.name);
    const one = await S.get(`/dsj/ecerts/${cert.cert_no}`);
    assert.equal(one.body.data.filing_no, cert.data.filing_no);
    const verify = (extra) => S.post('/dsj/materials/verify', { id_number: t.id_number, material_code: 'lease_receipt', file_sm3: sm3('photo-1'), ...extra });
    let pass = await verify({ filing_no: cert.data.filing_no, file_sm3: 'ab'.repeat(32) });
    assert.equal(pass.body.verdict, 'pass', pass.text);
    const wrong = await verify({ filing_no: '2024000000000000', file_sm3: 'ab'.repeat(32) });
    assert.equal(wrong.body.verdict, 'fail');
    assert.match(wrong.body.reasons[0], /备案号/);
    const blurred = await verify({ file_sm3: '00' + 'ab'.repeat(31) });
    assert.equal(blurred.body.verdict, 'manual');
    const [local] = await people('min_age=30&hukou=1');
    const noLease = await S.post('/dsj/materials/verify', { id_number: local.id_number, material_code: 'lease_receipt', file_sm3: 'ab'.repeat(32) });
    assert.equal(noLease.body.verdict, 'fail');
    assert.equal((await S.post('/dsj/materials/verify', { id_number: t.id_number, material_code: 'x', file_sm3: 'ab'.repeat(32) })).status, 422);
  });

  test('an archive package is checked part by part', async () => {
    const no = caseNo();
    const b64 = (s) => Buffer.from(s).toString('base64');
    const pk = {
      basic: b64(`<归档事项><办件编号>${no}</办件编号></归档事项>`),
      process: b64('<办理流程><环节><名称>受理</名称></环节></办理流程>'),
      files: b64(`<电子文件><文件><题名>申请表</题名><sm3>${'a'.repeat(64)}</sm3></文件></电子文件>`),
    };
    const ok = await S.post('/dangan/packages', { case_no: no, packages: pk });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.body.checks.every((c) => c.ok));
    const st = await S.get(`/dangan/packages/${ok.body.receipt_no}`);
    assert.equal(st.body.case_no, no);
    const bad = await S.post('/dangan/packages', { case_no: caseNo(), packages: { basic: pk.basic, process: b64('<unclosed>'), files: b64('<x><f><sm3>12</sm3></f></x>') } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.code, 'PACKAGE_INVALID');
    const failed = bad.body.checks.filter((c) => !c.ok).map((c) => c.message);
    assert.equal(failed.length, 3, JSON.stringify(bad.body.checks));
    assert.ok(failed.some((m) => /办件编号/.test(m)));
    assert.ok(failed.some((m) => /XML/.test(m)));
    assert.ok(failed.some((m) => /SM3/.test(m)));
  });

  test('extension points and their reconciliation', async () => {
    const r = await S.get('/map/points?district=310104');
    assert.equal(r.status, 200);
    assert.ok(r.body.points.length >= 8);
    for (const p of r.body.points) assert.equal(p.district, '310104');
    const [a, b, ...rest] = r.body.points;
    const rec = await S.post('/map/reconcile', {
      district: '310104',
      points: [a, { ...b, name: '改过的名字', lat: b.lat + 0.01 }, { point_id: 'YSD310104999', name: '新点' }],
    });
    assert.equal(rec.status, 200, rec.text);
    assert.equal(rec.body.matched, 1);
    assert.deepEqual(rec.body.extra, ['YSD310104999']);
    assert.deepEqual(rec.body.changed[0].fields.map((f) => f.field).sort(), ['lat', 'name']);
    // missing lists the map's active points only (an inactive one is no mismatch)
    assert.equal(rec.body.missing.length, rest.filter((p) => p.status === 'active').length);
    assert.ok(rest.some((p) => p.status === 'inactive'), 'the seed has an inactive point in 310104');
  });

  test('video rooms: create, join tokens, close', async () => {
    const room = await S.post('/video/rooms', { purpose: '远程受理', case_no: 'C1' });
    assert.equal(room.status, 200, room.text);
    const t = await S.post(`/video/rooms/${room.body.room_id}/tokens`, { user: 'clerk', role: 'clerk' });
    assert.match(t.body.token, /^[0-9a-f]{48}$/);
    const closed = await S.del(`/video/rooms/${room.body.room_id}`);
    assert.equal(closed.body.status, 'closed');
    assert.equal((await S.post(`/video/rooms/${room.body.room_id}/tokens`, { user: 'x' })).status, 409);
    assert.equal((await S.post('/video/rooms/VR0/tokens', { user: 'x' })).status, 404);
  });
});

describe('scenarios, faults, reset', () => {
  test('file and runtime scenarios answer before the simulator, as templates', async () => {
    const fixed = await S.post('/minzheng/elder-allowance/query', { id_number: '310104195001010013' });
    assert.equal(fixed.body.name, '张建国');
    assert.equal(fixed.headers.get('x-sim-scenario'), '1');
    const [p] = await people('min_age=30&max_age=40&hukou=1');
    const add = await admin.post('/sim/scenarios', {
      connector: 'shebao',
      method: 'person_query',
      match: { id_number: p.id_number },
      status: 200,
      response: { found: true, id_number: '{{request.id_number}}', status: '培训中' },
    });
    assert.deepEqual([add.status, add.body.added], [200, 1]);
    const hit = await S.post('/shebao/persons/query', { id_number: p.id_number });
    assert.deepEqual(hit.body, { found: true, id_number: p.id_number, status: '培训中' });
    const soapScenario = await admin.post('/sim/scenarios', {
      connector: 'gongan',
      method: 'person_query',
      match: { id_number: p.id_number },
      response: { id_number: '{{request.id_number}}', name: '演示人员', status: '死亡' },
    });
    assert.equal(soapScenario.status, 200, soapScenario.text);
    const x = await S.soap('QueryPerson', `<g:Sfzh>${p.id_number}</g:Sfzh>`);
    assert.equal(xmlText(x.text, 'Zt'), '死亡');
    assert.equal(xmlText(x.text, 'Xm'), '演示人员');
    const list = await admin.get('/sim/scenarios');
    assert.ok(list.body.scenarios.some((s) => s.source === 'runtime' && s.hits === 1));
    assert.equal((await admin.post('/sim/scenarios', { connector: 'shebao', method: 'nope', response: {} })).body.field, 'method');
    assert.equal((await admin.post('/sim/scenarios', { connector: 'shebao', method: 'person_query' })).body.field, 'response');
    await admin.del('/sim/scenarios');
    const real = await S.post('/shebao/persons/query', { id_number: p.id_number });
    assert.notEqual(real.body.status, '培训中');
  });

  test('latency, a fixed status, and a down window per prefix; /sim/ is never faulted', async () => {
    const [p] = await people('min_age=30&hukou=1');
    assert.equal((await admin.post('/sim/faults', { prefix: '/shebao', latency_ms: 800 })).status, 200);
    let t0 = Date.now();
    const slow = await S.post('/shebao/persons/query', { id_number: p.id_number });
    assert.equal(slow.status, 200);
    assert.ok(Date.now() - t0 >= 790, `latency ${Date.now() - t0}`);
    t0 = Date.now();
    await S.post('/yibao/insured/query', { id_number: p.id_number });
    assert.ok(Date.now() - t0 < 500, 'other prefixes are not delayed');

    await admin.post('/sim/faults', { prefix: '/shebao', status: 503 });
    const down = await S.post('/shebao/persons/query', { id_number: p.id_number });
    assert.equal(down.status, 503);
    assert.equal(down.body.code, 'INJECTED_FAULT');
    assert.equal((await admin.get('/sim/state')).status, 200);

    const now = Date.now();
    await admin.post('/sim/faults', { prefix: '/minzheng', down_from: now - 1000, down_to: now + 1500 });
    const inWindow = await S.post('/minzheng/elder-allowance/query', { id_number: p.id_number });
    assert.equal(inWindow.status, 503);
    assert.equal(inWindow.body.code, 'SYSTEM_DOWN');
    await sleep(Math.max(0, now + 1600 - Date.now()));
    const afterWindow = await S.post('/minzheng/elder-allowance/query', { id_number: p.id_number });
    assert.equal(afterWindow.status, 200, afterWindow.text);

    const faults = await admin.get('/sim/faults');
    const sb = faults.body.faults.find((f) => f.prefix === '/shebao');
    assert.ok(sb.hits >= 1 && sb.injected >= 1);
    assert.equal((await admin.post('/sim/faults', { prefix: 'shebao' })).body.field, 'prefix');
    assert.equal((await admin.del('/sim/faults?prefix=/shebao')).body.removed, 1);
    assert.equal((await S.post('/shebao/persons/query', { id_number: p.id_number })).status, 200);
    await admin.del('/sim/faults');
  });

  test('a timeout holds the request; an error rate draws from the seed again after reset', async () => {
    const [p] = await people('min_age=30&hukou=1');
    await admin.post('/sim/faults', { prefix: '/canlian/certs', timeout: true, timeout_ms: 1000 });
    let t0 = Date.now();
    const held = await S.post('/canlian/certs/query', { id_number: p.id_number });
    assert.equal(held.status, 504);
    assert.ok(Date.now() - t0 >= 990, `held ${Date.now() - t0}`);
    // a client that gives up earlier sees no answer at all
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(
      fetch(`${sim.url}/canlian/certs/query`, {
        method: 'POST',
        signal: ac.signal,
        headers: { Authorization: `Basic ${Buffer.from('shouli:canlian-demo-secret').toString('base64')}` },
        body: JSON.stringify({ id_number: p.id_number }),
      }),
    );
    // the rest of the system still answers
    t0 = Date.now();
    assert.equal((await S.post('/canlian/query', { service: 'cert_query', id_number: p.id_number })).status, 200);
    assert.ok(Date.now() - t0 < 500);

    const run = async () => {
      await admin.post('/sim/reset');
      await admin.post('/sim/faults', { prefix: '/map', error_rate: 0.5 });
      const out = [];
      for (let i = 0; i < 16; i++) out.push((await S.get('/map/points?district=310101')).status);
      return out;
    };
    const first = await run();
    assert.ok(first.includes(503) && first.includes(200), first.join());
    assert.deepEqual(await run(), first);
    await admin.post('/sim/reset');
  });

  test('faults can be cleared while held requests occupy every worker', async () => {
    const small = await startSim(['--workers', '2']);
    try {
      const post = (path, obj) =>
        raw(small.url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(obj) });
      await post('/sim/faults', { prefix: '/map', timeout: true, timeout_ms: 30000 });
      const t0 = Date.now();
      const held = [1, 2, 3].map(() => raw(`${small.url}/map/points?district=310101`));
      await sleep(300);
      const cleared = await raw(`${small.url}/sim/faults`, { method: 'DELETE' });
      assert.equal(cleared.body.removed, 1);
      const statuses = (await Promise.all(held)).map((r) => r.status).sort();
      assert.ok(Date.now() - t0 < 5000, `released after ${Date.now() - t0} ms`);
      // the two held ones give up with 504, the queued one finds the fault gone
      assert.deepEqual(statuses, [200, 504, 504]);
    } finally {
      await small.stop();
    }
  });

  test('reset forgets applications, changes, faults and runtime scenarios', async () => {
    const [p] = await people('min_age=66&hukou=1&enrolled=0', 1, 8);
    const sub = await S.post('/minzheng/elder-allowance/applications', { case_no: caseNo(), applicant: { id_number: p.id_number } });
    assert.equal(sub.status, 200, sub.text);
    await admin.post('/sim/faults', { prefix: '/video', status: 500 });
    await admin.post('/sim/scenarios', { connector: 'map', method: 'points', response: { points: [] } });
    let state = await admin.get('/sim/state');
    assert.ok(state.body.applications.minzheng.length >= 1);
    assert.equal(state.body.faults.length, 1);
    assert.equal(state.body.counters.scenarios_runtime, 1);
    await admin.post('/sim/reset');
    state = await admin.get('/sim/state');
    assert.deepEqual(state.body.applications, {});
    assert.deepEqual(state.body.faults, []);
    assert.equal(state.body.counters.scenarios_runtime, 0);
    assert.equal(state.body.counters.scenarios_file, 4);
    assert.equal((await S.get(`/minzheng/applications/${sub.body.dept_case_no}`)).status, 404);
    assert.equal((await S.post('/minzheng/elder-allowance/query', { id_number: p.id_number })).body.status, '未申领');
    // tokens issued before the reset stay valid
    assert.equal((await S.post('/video/rooms', {})).status, 200);
  });
});

describe('serve --with-sim', () => {
  test('the gateway reaches the embedded simulators through {{sim}}', async () => {
    const srv = await startServer(['--with-sim']);
    try {
      const ops = await loginAs(srv.url, DEMO.ops ?? { username: 'ops', password: 'Ops@2026demo' });
      const r = await ops.post('/api/v1/admin/gateway/connectors/minzheng/test', {
        method: 'elder_allowance_query',
        request: { id_number: '310104195001010013' },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.outcome, 'ok');
      assert.equal(r.body.response.name, '张建国');
    } finally {
      await srv.stop();
    }
  });
});
