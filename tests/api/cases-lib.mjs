// Helpers of the API tests that take cases through the window: test files, people of the
// simulated population, raw requests the JSON client does not make, and (caseKit) the whole
// path of an acceptance against the simulators with the polling that follows it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { sleep } from './lib.mjs';

/** A 1×1 PNG: what the document camera would send, as small as it gets. */
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

/** A JPEG-shaped scan of size bytes: SOI, APP0, random payload (unique to the run), EOI. */
export function jpeg(size) {
  const b = randomBytes(size);
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]).copy(b, 0);
  b[size - 2] = 0xff;
  b[size - 1] = 0xd9;
  return b;
}

/** Members of b override those of a, deeply (objects only); neither is changed. */
export function merge(a, b) {
  if (!b || typeof b !== 'object' || Array.isArray(b)) return b === undefined ? a : b;
  const out = { ...(a && typeof a === 'object' && !Array.isArray(a) ? a : {}) };
  for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
  return out;
}

/** A valid 居民身份证 number of someone registered in 徐汇, born 1985-03-01 (16–60 years old). */
export function idNumber() {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const body = '31010419850301' + String(100 + Math.floor(Math.random() * 800));
  let s = 0;
  for (let i = 0; i < 17; i++) s += Number(body[i]) * w[i];
  return body + '10X98765432'[s % 11];
}

/**
 * A raw request of client c to url + path (uploads, PUT, binary downloads): body is sent as it
 * is, with Content-Type contentType when given. Resolves to { status, body, bytes, headers }:
 * body is the answer parsed as JSON, or null when it is not JSON.
 */
export async function raw(c, url, method, path, body, contentType) {
  const headers = { Cookie: c.cookie, 'X-CSRF-Token': c.csrf };
  if (contentType) headers['Content-Type'] = contentType;
  const res = await fetch(url + path, { method, headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json = null;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    json = null;
  }
  return { status: res.status, body: json, bytes, headers: res.headers };
}

/**
 * The clerk identifies a resident by hand (the card reader "broken") — a new one with a fresh
 * id number unless number is given — and opens a case of sub for them; asserts both answers.
 * Resolves to { number, no, opened } (opened: the answer of POST /api/v1/cases).
 */
export async function openManual(clerk, sub, name, number = idNumber()) {
  const who = await clerk.post('/api/v1/ident/manual', { type: '111', number, name, reason: '读卡器故障' });
  assert.equal(who.status, 200, JSON.stringify(who.body));
  const opened = await clerk.post('/api/v1/cases', { sub_item_code: sub, resident_id: who.body.resident.id });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  return { number, no: opened.body.case_no, opened };
}

/**
 * The helpers of a test file that accepts cases against the simulators. env() returns what
 * the file has started, at the time of the call (its before() starts them, a test may restart
 * them): { sim: the simulators' base URL, srv: a server of startServer, clerk, catalog:
 * clients of loginAs (a window clerk, a catalog editor) }.
 */
export function caseKit(env) {
  const simGet = async (path) => (await fetch(env().sim + path)).json();
  const simSend = (method, path, body) =>
    fetch(env().sim + path, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    });
  const used = new Set(); // each test serves a resident of its own
  // A resident of the simulated population matching query (and pick) not used yet.
  const person = async (query, pick = () => true) => {
    const list = (await simGet(`/sim/people?${query}&limit=200`)).people;
    const p = list.find((x) => !used.has(x.id_number) && pick(x));
    assert.ok(p, `no resident for ${query}`);
    used.add(p.id_number);
    return p;
  };

  // The client speaks JSON with POST/GET; PUT and raw uploads go the same way by hand.
  async function send(c, method, path, body, type = 'application/json') {
    const res = await fetch(env().srv.url + path, {
      method,
      headers: { Cookie: c.cookie, 'X-CSRF-Token': c.csrf, 'Content-Type': type, Accept: 'application/json' },
      body: type === 'application/json' ? JSON.stringify(body) : body,
    });
    const text = await res.text();
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  }

  // The applicant is the resident p themself.
  const self = (p) => ({
    applicant: { id_number: { type: '111', number: p.id_number }, name: p.name, phone: '13912345678' },
  });

  // The clerk reads p's identity card at the window: the resident record.
  async function readCard(p) {
    const card = await env().clerk.post('/api/v1/ident/card', {
      reader: 'XJH-W03',
      type_flag: '0',
      card: {
        name: p.name,
        sex: p.gender_code,
        nation: '01',
        birth_date: p.birth_date,
        address: p.hukou.address,
        id_number: p.id_number,
        issuer: '上海市公安局',
        valid_from: '2015-01-01',
        valid_to: '2035-01-01',
      },
    });
    assert.equal(card.status, 200, JSON.stringify(card.body));
    return card.body.resident;
  }

  // Read the card, open, prefill, complete the form, attach materials, accept: the case number.
  async function acceptCase(subItem, p, fix) {
    const { clerk, catalog } = env();
    const resident = await readCard(p);
    const open = await clerk.post('/api/v1/cases', { sub_item_code: subItem, resident_id: resident.id });
    assert.equal(open.status, 201, JSON.stringify(open.body));
    const no = (open.body.case ?? open.body).case_no;
    let version = (open.body.case ?? open.body).version;
    const pf = await clerk.post(`/api/v1/cases/${no}/prefill`, { version });
    assert.equal(pf.status, 200, JSON.stringify(pf.body));
    version = pf.body.version;
    const sample = await catalog.get(`/api/v1/admin/catalog/subitems/${subItem}/sample`);
    assert.equal(sample.status, 200, JSON.stringify(sample.body));
    const data = merge(merge(sample.body.data, pf.body.data), fix);
    const saved = await send(clerk, 'PUT', `/api/v1/cases/${no}/form`, { version, data });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    version = saved.body.version;
    const m = await clerk.get(`/api/v1/cases/${no}/materials`);
    for (const slot of m.body.slots.filter((s) => s.required_now)) {
      const up = await send(
        clerk,
        'POST',
        `/api/v1/cases/${no}/materials/${slot.id}/files?source=scan&title=${encodeURIComponent(slot.name)}`,
        PNG,
        'image/png',
      );
      assert.ok(up.status === 200 || up.status === 201, `${slot.id}: ${up.status} ${JSON.stringify(up.body)}`);
    }
    const acc = await clerk.post(`/api/v1/cases/${no}/accept`, { version });
    assert.equal(acc.status, 200, JSON.stringify(acc.body));
    // the answer of the acceptance already carries the promise to deliver
    assert.ok(acc.body.delivery, JSON.stringify(acc.body));
    assert.ok(['pending', 'delivering', 'delivered'].includes(acc.body.delivery.state), acc.body.delivery.state);
    return no;
  }

  const getCase = async (no, c = env().clerk) => {
    const r = await c.get(`/api/v1/cases/${no}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  // Poll the case until pred(case) holds; returns the case (fails after ms).
  async function until(no, pred, ms, what, c = env().clerk) {
    const deadline = Date.now() + ms;
    let k;
    while (Date.now() < deadline) {
      k = await getCase(no, c);
      if (pred(k)) return k;
      await sleep(200);
    }
    assert.fail(`${no}: ${what} not within ${ms} ms; delivery ${JSON.stringify(k?.delivery)}`);
  }

  // What the department system sys received for the case, and the 办件库's record of it.
  const appsOf = async (sys, idNumber, caseNo) =>
    (await simGet(`/sim/${sys}/applications?id_number=${idNumber}`)).applications.filter((a) => a.case_no === caseNo);
  const bjkRecord = async (caseNo) => (await simGet('/sim/state')).changes[`bjk:case:${caseNo}`];

  return { simGet, simSend, person, send, self, readCard, acceptCase, getCase, until, appsOf, bjkRecord };
}
