// Electronic signatures of the application form (docs/sign.md), with the acceptance gate on
// (accept_requires_signature=true, the default the other API servers turn off).
//
// The sub-item is 310001029000-02 (城乡居民基本养老保险补助（低保、特困人员缴费补助）): a
// generated form, 一表多签, signers 申请人 then 代理人 (when agent.present) and three
// commitments. The case: start → wrong order 409 → a missing commitment 422 → the applicant
// signs → the PDF so far has one more image → the form cannot change (409) → the agent signs
// → sealed → the seal verifies; a record changed behind the server's back, and a blob
// changed on disk, fail verification; acceptance is refused without a seal (422,
// kind signature) and passes with one; void + restart gives round 2.
import { strict as assert } from 'node:assert';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';

import { DEMO, loginAs, sql, startServer } from './lib.mjs';
import { merge, openManual } from './cases-lib.mjs';

const SUB = '310001029000-02';

// CRC-32 of the PNG chunks.
const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
// A w×h RGB PNG of one colour: each signer's "signature" differs by its colour.
function png(w, h, [r, g, b]) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function raw(srv, c, method, path, body, type) {
  const res = await fetch(srv.url + path, {
    method,
    headers: { Cookie: c.cookie, 'X-CSRF-Token': c.csrf, ...(type ? { 'Content-Type': type } : {}) },
    body,
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, type: res.headers.get('content-type'), buf };
}

// The blobs of the file store (path → size).
async function blobs(dir) {
  const out = new Map();
  async function walk(d) {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!e.name.startsWith('.')) out.set(p, (await stat(p)).size);
    }
  }
  await walk(dir);
  return out;
}

const images = (pdf) => (pdf.toString('latin1').match(/\/Subtype\s*\/Image/g) || []).length;
const STROKES = [[[10, 10, 0], [20, 14, 16], [30, 20, 33]], [[12, 30, 200], [40, 32, 230]]];

describe('electronic signatures and the seal', () => {
  let srv;
  let clerk;
  let catalog;

  before(async () => {
    srv = await startServer(['--accept-requires-signature=true']);
    clerk = await loginAs(srv.url, DEMO.clerk);
    catalog = await loginAs(srv.url, DEMO.catalog);
  });
  after(async () => {
    await srv?.stop();
  });

  test('two signers in order, commitments, seal, verification, tamper, gate, void', async () => {
    const { number, no } = await openManual(clerk, SUB, '签名测试');
    const base = `/api/v1/cases/${no}`;
    const put = async (path, body) => {
      const res = await raw(srv, clerk, 'PUT', path, JSON.stringify(body), 'application/json');
      return { status: res.status, body: JSON.parse(res.buf.toString()) };
    };

    // nothing yet: state none, both signers listed (agent.present is false in no data yet)
    let v = await clerk.get(`${base}/signing`);
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.equal(v.body.state, 'none');
    assert.equal(v.body.multi_sign, true);

    const sample = await catalog.get(`/api/v1/admin/catalog/subitems/${SUB}/sample`);
    assert.equal(sample.status, 200, JSON.stringify(sample.body));
    const data = merge(sample.body.data, {
      applicant: { id_number: { type: '111', number }, name: '签名测试' },
      jubao: { status: '1' },
      assistance: { valid: true },
      guardian: { present: false },
      agent: { present: true, name: '代理人甲' },
    });
    let kase = await clerk.get(base);
    const saved = await put(`${base}/form`, { version: kase.body.version, data });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));

    // the materials the sub-item asks for, except the form itself
    const mats = await clerk.get(`${base}/materials`);
    assert.equal(mats.status, 200, JSON.stringify(mats.body));
    const slot = mats.body.slots.find((s) => s.id === 'application_form');
    assert.ok(slot, 'the application_form slot is listed');
    assert.equal(slot.need, 'required');
    assert.equal(slot.required_now, true);
    assert.equal(slot.complete, false);
    let colour = 1;
    for (const s of mats.body.slots) {
      if (!s.required_now || s.id === 'application_form') continue;
      const up = await raw(srv, clerk, 'POST', `${base}/materials/${s.id}/files?source=scan`, png(2, 2, [colour++, 0, 0]), 'image/png');
      assert.equal(up.status, 201, up.buf.toString());
    }

    // acceptance without a signature: 422 naming the signature
    kase = await clerk.get(base);
    let acc = await clerk.post(`${base}/accept`, { version: kase.body.version });
    assert.equal(acc.status, 422, JSON.stringify(acc.body));
    const gate = acc.body.problems.find((p) => p.kind === 'signature');
    assert.ok(gate, JSON.stringify(acc.body.problems));
    assert.equal(gate.field, 'application_form');
    assert.match(gate.message, /申请表尚未完成签名/);

    // start: round 1, the unsigned PDF bound to the materials
    const started = await clerk.post(`${base}/signing`, {});
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.body.state, 'open');
    assert.equal(started.body.round, 1);
    assert.deepEqual(started.body.signers.map((s) => [s.role, s.status]), [['applicant', 'next'], ['agent', 'waiting']]);
    assert.equal(started.body.commitments.length, 3);
    const again = await clerk.post(`${base}/signing`, {});
    assert.equal(again.status, 200);
    assert.equal(again.body.round, 1, 'the same form gives the same round');
    const withPdf = await clerk.get(`${base}/materials`);
    const gen = withPdf.body.slots.find((s) => s.id === 'application_form').files;
    assert.deepEqual(gen.map((f) => f.source), ['generated']);
    assert.equal(gen[0].mime, 'application/pdf');

    const pdf0 = await raw(srv, clerk, 'GET', `${base}/signing/form.pdf`);
    assert.equal(pdf0.status, 200, pdf0.buf.toString().slice(0, 300));
    assert.equal(pdf0.buf.subarray(0, 5).toString('latin1'), '%PDF-');
    const ids = started.body.commitments.map((c) => c.id);
    const sig = (role, rgb, extra = {}) => ({
      role,
      png: png(40, 16, rgb).toString('base64'),
      strokes: STROKES,
      commitments: ids,
      device: 'window',
      ...extra,
    });

    // the agent first: 409 naming who is next
    let r = await clerk.post(`${base}/signing/signatures`, sig('agent', [0, 0, 200]));
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.match(r.body.error.message, /申请人/);
    // a commitment not ticked: 422 naming it
    r = await clerk.post(`${base}/signing/signatures`, sig('applicant', [200, 0, 0], { commitments: ids.slice(1) }));
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.match(r.body.error.message, /本人承诺所填写信息及提交材料真实有效/);
    // no strokes: 422
    r = await clerk.post(`${base}/signing/signatures`, sig('applicant', [200, 0, 0], { strokes: [] }));
    assert.equal(r.status, 422, JSON.stringify(r.body));
    // not a PNG: 400
    r = await clerk.post(`${base}/signing/signatures`, sig('applicant', [200, 0, 0], { png: Buffer.from('GIF89a....').toString('base64') }));
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.field, 'png');

    // the applicant signs
    r = await clerk.post(`${base}/signing/signatures`, sig('applicant', [200, 0, 0]));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.signers.map((s) => s.status), ['signed', 'next']);
    assert.equal(r.body.signers[0].ticked.length, 3);
    assert.equal(r.body.signers[0].signer_name, '签名测试');

    // 一表多签: the agent sees the applicant's signature drawn in
    const pdf1 = await raw(srv, clerk, 'GET', `${base}/signing/form.pdf`);
    assert.equal(pdf1.status, 200);
    assert.notDeepEqual(pdf1.buf, pdf0.buf);
    assert.equal(images(pdf1.buf), images(pdf0.buf) + 1, 'one more image');

    // the form is frozen once signed
    kase = await clerk.get(base);
    const frozen = await put(`${base}/form`, { version: kase.body.version, data });
    assert.equal(frozen.status, 409, JSON.stringify(frozen.body));
    assert.equal(frozen.body.error.message, '申请表已签名，如需修改请先作废签名');

    // the agent signs last: sealed in the same request
    const before = await blobs(join(srv.data, 'files'));
    r = await clerk.post(`${base}/signing/signatures`, sig('agent', [0, 0, 200], { device: 'kiosk' }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'sealed');
    assert.match(r.body.seal.digest, /^[0-9a-f]{64}$/);
    assert.match(r.body.seal.key_id, /^[0-9a-f]{32}$/);
    const sealed = await raw(srv, clerk, 'GET', `${base}/signing/form.pdf`);
    assert.equal(sealed.status, 200);
    assert.equal(images(sealed.buf), images(pdf0.buf) + 2);

    let ver = await clerk.get(`${base}/signature`);
    assert.equal(ver.status, 200, JSON.stringify(ver.body));
    assert.equal(ver.body.valid, true, JSON.stringify(ver.body.reasons));
    assert.deepEqual(ver.body.reasons, []);
    assert.equal(ver.body.signers.length, 2);
    assert.match(ver.body.public_key, /^04[0-9a-f]{128}$/);
    assert.equal(ver.body.digest, r.body.seal.digest);

    // the sealed PDF is in the materials, and cannot be deleted
    const m2 = await clerk.get(`${base}/materials`);
    const formSlot = m2.body.slots.find((s) => s.id === 'application_form');
    assert.deepEqual(formSlot.files.map((f) => f.source).sort(), ['e_sign', 'generated']);
    assert.equal(formSlot.complete, true);
    const esign = formSlot.files.find((f) => f.source === 'e_sign');
    assert.equal(esign.sm3, ver.body.pdf_sm3);
    const del = await raw(srv, clerk, 'DELETE', `${base}/materials/application_form/files/${esign.id}`);
    assert.equal(del.status, 409, del.buf.toString());

    // a record changed in the database: verification fails, naming the digest
    sql(srv, `UPDATE case_signatures SET device = 'pad' WHERE seq = 1`);
    ver = await clerk.get(`${base}/signature`);
    assert.equal(ver.body.valid, false);
    assert.ok(ver.body.reasons.some((x) => /摘要不符/.test(x)), JSON.stringify(ver.body.reasons));
    sql(srv, `UPDATE case_signatures SET device = 'window' WHERE seq = 1`);
    ver = await clerk.get(`${base}/signature`);
    assert.equal(ver.body.valid, true, JSON.stringify(ver.body.reasons));

    // the sealed PDF's blob changed on disk (the largest blob the seal wrote)
    const after = await blobs(join(srv.data, 'files'));
    const fresh = [...after].filter(([p]) => !before.has(p)).sort((a, b) => b[1] - a[1]);
    assert.ok(fresh.length >= 1, 'the seal wrote a blob');
    const [victim] = fresh[0];
    const bytes = await readFile(victim);
    const original = Buffer.from(bytes);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await writeFile(victim, bytes);
    ver = await clerk.get(`${base}/signature`);
    assert.equal(ver.status, 200, JSON.stringify(ver.body));
    assert.equal(ver.body.valid, false);
    assert.ok(ver.body.reasons.some((x) => /文件校验失败/.test(x)), JSON.stringify(ver.body.reasons));
    await writeFile(victim, original);
    ver = await clerk.get(`${base}/signature`);
    assert.equal(ver.body.valid, true, JSON.stringify(ver.body.reasons));

    // void + restart: round 2, nothing signed, the seal gone from the materials
    const badVoid = await clerk.post(`${base}/signing/void`, { reason: '短' });
    assert.equal(badVoid.status, 400, JSON.stringify(badVoid.body));
    const voided = await clerk.post(`${base}/signing/void`, { reason: '申请人要求更正联系电话' });
    assert.equal(voided.status, 200, JSON.stringify(voided.body));
    assert.equal(voided.body.state, 'voided');
    assert.equal((await clerk.get(`${base}/signature`)).status, 404);
    const m3 = await clerk.get(`${base}/materials`);
    assert.deepEqual(m3.body.slots.find((s) => s.id === 'application_form').files, []);
    kase = await clerk.get(base);
    const edited = await put(`${base}/form`, {
      version: kase.body.version,
      data: merge(data, { applicant: { phone: '13812340000' } }),
    });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    const round2 = await clerk.post(`${base}/signing`, {});
    assert.equal(round2.status, 200, JSON.stringify(round2.body));
    assert.equal(round2.body.round, 2);
    assert.equal(round2.body.state, 'open');

    // still not acceptable; signed again, it is
    kase = await clerk.get(base);
    acc = await clerk.post(`${base}/accept`, { version: kase.body.version });
    assert.equal(acc.status, 422);
    for (const [role, rgb] of [['applicant', [9, 9, 9]], ['agent', [7, 7, 7]]]) {
      r = await clerk.post(`${base}/signing/signatures`, sig(role, rgb));
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    assert.equal(r.body.state, 'sealed');
    kase = await clerk.get(base);
    acc = await clerk.post(`${base}/accept`, { version: kase.body.version });
    assert.equal(acc.status, 200, JSON.stringify(acc.body));
    assert.equal(acc.body.state, 'accepted');
    // after acceptance nothing about the signing changes
    r = await clerk.post(`${base}/signing/void`, { reason: '受理后尝试作废签名' });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.match(r.body.error.message, /已受理/);
  });
});
