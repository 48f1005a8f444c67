// Identifying the resident (docs/cases.md "Identity documents", "Residents"): the number
// check, card reads that create and then find the same resident, masking for a manager
// without ident.read, manual entry (audited, with its reason), refusals naming the field,
// expired cards, optimistic versions, the medical e-voucher through the simulator (valid and
// expired), relations, and residents sealed at rest.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DEMO, client, loginAs, sleep, sql, startServer, startSim } from './lib.mjs';

const EVOUCHER_MS = 1000; // the simulator's e-voucher lifetime (its minimum)

// A JPEG-shaped photo: SOI, APP0, random payload (unique to this run), EOI.
function jpeg(size = 2048) {
  const b = randomBytes(size);
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]).copy(b, 0);
  b[size - 2] = 0xff;
  b[size - 1] = 0xd9;
  return b;
}

function withCheck(first17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((s, c, i) => s + Number(c) * w[i], 0);
  return first17 + '10X98765432'[sum % 11];
}

// A fresh valid 居民身份证 number of Xuhui (random sequence, so reruns do not collide).
function idNumber(birth = '19700315', sexOdd = true) {
  const seq = String(Math.floor(Math.random() * 50) * 2 + (sexOdd ? 1 : 0)).padStart(3, '0').slice(-3);
  return withCheck(`310104${birth}${seq}`);
}

let srv, sim, clerk, manager;

// PUT (the JSON client has no put).
async function put(c, path, body) {
  const res = await fetch(srv.url + path, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Cookie: c.cookie, 'X-CSRF-Token': c.csrf },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

function card(number, extra = {}) {
  return {
    reader: 'XJH-W03',
    type_flag: '0',
    card: {
      name: '王小芳',
      sex: number[16] % 2 ? '1' : '2',
      nation: '01',
      birth_date: `${number.slice(6, 10)}-${number.slice(10, 12)}-${number.slice(12, 14)}`,
      address: '上海市徐汇区漕溪北路 1 号',
      id_number: number,
      issuer: '上海市公安局徐汇分局',
      valid_from: '2020-01-01',
      valid_to: '2040-01-01',
      ...extra,
    },
  };
}

before(async () => {
  sim = await startSim(['--seed', '1', '--evoucher-ttl-ms', String(EVOUCHER_MS)]);
  srv = await startServer(['--sim-url', sim.url]);
  clerk = await loginAs(srv.url, DEMO.clerk);
  manager = await loginAs(srv.url, DEMO.manager);
});

after(async () => {
  await srv?.stop();
  await sim?.stop();
});

describe('the number check', () => {
  test('any signed-in user checks a number; nothing of the number comes back', async () => {
    const r = await manager.post('/api/v1/ident/check', { number: ' 11010519491231002x ' });
    assert.equal(r.status, 200);
    assert.equal(r.body.valid, true);
    assert.equal(r.body.type, '111');
    assert.equal(r.body.type_name, '居民身份证');
    assert.equal(r.body.birth_date, '1949-12-31');
    assert.equal(r.body.sex, '2');
    assert.equal(r.body.region_name, '北京市');
    assert.equal(r.body.number, undefined);

    const bad = await manager.post('/api/v1/ident/check', { type: '111', number: '110105194912310021' });
    assert.equal(bad.status, 200);
    assert.equal(bad.body.valid, false);
    assert.equal(bad.body.reason, '校验位不正确（应为 X）');

    const pr = await manager.post('/api/v1/ident/check', { number: 'KAZ110090123105' });
    assert.equal(pr.body.type, 'PR2017');
    assert.equal(pr.body.nationality_name, '哈萨克斯坦');

    const type = await manager.post('/api/v1/ident/check', { type: 'ZZ', number: '1' });
    assert.equal(type.status, 422);
    assert.equal(type.body.error.field, 'type');
    const anon = await client(srv.url).post('/api/v1/ident/check', { number: '11010519491231002X' });
    assert.equal(anon.status, 401);
  });
});

describe('card reads', () => {
  const number = idNumber('19650702', false);
  const photo = jpeg();
  let id;

  test('a read creates the resident; a second read finds the same record', async () => {
    const r = await clerk.post('/api/v1/ident/card', card(number, { photo: photo.toString('base64') }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.created, true);
    assert.deepEqual(r.body.warnings, []);
    const res = r.body.resident;
    id = res.id;
    assert.equal(res.id_number, number);
    assert.equal(res.name, '王小芳');
    assert.equal(res.id_type, '111');
    assert.equal(res.birth_date, '1965-07-02');
    assert.equal(res.sex, '2');
    assert.equal(res.hukou_address, '上海市徐汇区漕溪北路 1 号');
    assert.equal(res.has_photo, true);
    assert.equal(res.source, 'card');
    assert.equal(res.masked, false);
    assert.equal(res.card.id_number, number);
    assert.equal(res.card.photo, true);
    assert.equal(r.body.doc.region_name, '上海市徐汇区');
    assert.ok(r.body.read_id > 0);

    const again = await clerk.post('/api/v1/ident/card', card(number));
    assert.equal(again.status, 200);
    assert.equal(again.body.created, false);
    assert.equal(again.body.resident.id, id);
    assert.equal(again.body.resident.version, res.version); // nothing changed
    assert.ok(again.body.read_id > r.body.read_id);
    assert.equal(sql(srv, `SELECT count(*) FROM residents WHERE id = ${id}`), '1');
    assert.equal(sql(srv, `SELECT count(*) FROM ident_reads WHERE resident_id = ${id} AND method = 'card'`), '2');
    const audit = sql(srv, `SELECT count(*) FROM audit_log WHERE action = 'ident.card_read' AND target = 'resident:${id}'`);
    assert.equal(audit, '2');

    // a social security card resolves to the holder's 居民身份证 record
    const ssc = await clerk.post('/api/v1/ident/card', { ...card(number), type_flag: 'S' });
    assert.equal(ssc.status, 200);
    assert.equal(ssc.body.resident.id, id);
    assert.equal(ssc.body.doc.type, 'SSC');
  });

  test('the photo is served to ident.read only', async () => {
    const res = await fetch(`${srv.url}/api/v1/residents/${id}/photo`, { headers: { Cookie: clerk.cookie } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(photo));
    assert.equal((await manager.get(`/api/v1/residents/${id}/photo`)).status, 403);
  });

  test('a manager without ident.read sees the resident masked', async () => {
    const m = await manager.get(`/api/v1/residents/${id}`);
    assert.equal(m.status, 200);
    assert.equal(m.body.masked, true);
    assert.equal(m.body.id_number, `${number.slice(0, 4)}**********${number.slice(14)}`);
    assert.equal(m.body.name, '王*芳');
    assert.equal(m.body.address, undefined);
    assert.equal(m.body.hukou_address, undefined);
    assert.equal(m.body.card.id_number, undefined);
    assert.equal(m.body.birth_date, '1965-07-02');

    const c = await clerk.get(`/api/v1/residents/${id}`);
    assert.equal(c.body.masked, false);
    assert.equal(c.body.id_number, number);

    const found = await manager.get(`/api/v1/residents?type=111&number=${number}`);
    assert.equal(found.status, 200);
    assert.equal(found.body.id, id);
    assert.equal(found.body.masked, true);
    const none = await manager.get(`/api/v1/residents?type=111&number=${idNumber('19010101')}`);
    assert.equal(none.status, 404);
    assert.equal((await manager.post('/api/v1/ident/card', card(number))).status, 403);
  });

  test('a bad number is refused naming card.id_number; an expired card is read with a warning', async () => {
    const wrong = number.slice(0, 17) + (number[17] === '0' ? '1' : '0');
    const r = await clerk.post('/api/v1/ident/card', card(wrong));
    assert.equal(r.status, 422);
    assert.equal(r.body.error.field, 'card.id_number');
    assert.match(r.body.error.message, /^居民身份证号码不正确：校验位不正确（应为 [0-9X]）$/);

    const flag = await clerk.post('/api/v1/ident/card', { ...card(number), type_flag: 'Q' });
    assert.equal(flag.status, 422);
    assert.equal(flag.body.error.field, 'type_flag');

    const date = await clerk.post('/api/v1/ident/card', card(number, { valid_to: '2040-02-30' }));
    assert.equal(date.status, 422);
    assert.equal(date.body.error.field, 'card.valid_to');

    const missing = await clerk.post('/api/v1/ident/card', { reader: 'R1', card: { id_number: number } });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.field, 'card.name');

    const old = idNumber('19800101');
    const exp = await clerk.post('/api/v1/ident/card', card(old, { valid_to: '2020-01-01' }));
    assert.equal(exp.status, 200);
    assert.deepEqual(exp.body.warnings, ['证件已过期']);
    assert.equal(exp.body.resident.card_valid_to, '2020-01-01');

    const notJpeg = await clerk.post('/api/v1/ident/card', card(old, { photo: Buffer.from('GIF89a....').toString('base64') }));
    assert.equal(notJpeg.status, 415);
    assert.equal(notJpeg.body.error.field, 'card.photo');
  });

  test('contacts change with the version; a stale version is 409', async () => {
    const cur = (await clerk.get(`/api/v1/residents/${id}`)).body;
    const address = { district: '310104', street: '徐家汇街道', detail: '虹桥路 100 弄 2 号 301 室' };
    const ok = await put(clerk, `/api/v1/residents/${id}`, { version: cur.version, phone: '138 1234 5678', address });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.version, cur.version + 1);
    assert.equal(ok.body.phone, '13812345678');
    assert.deepEqual(ok.body.address, address);
    const stale = await put(clerk, `/api/v1/residents/${id}`, { version: cur.version, phone: '13900001111' });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error.field, 'version');
    const bad = await put(clerk, `/api/v1/residents/${id}`, { version: ok.body.version, phone: '12345' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.field, 'phone');
    const badAddr = await put(clerk, `/api/v1/residents/${id}`, { version: ok.body.version, address: { district: '310104' } });
    assert.equal(badAddr.status, 422);
    assert.equal(badAddr.body.error.field, 'address.detail');
    assert.equal((await put(manager, `/api/v1/residents/${id}`, { version: ok.body.version, phone: '13900001111' })).status, 403);

    const m = await manager.get(`/api/v1/residents/${id}`);
    assert.equal(m.body.phone, '138****5678');
    const detail = sql(srv, `SELECT detail FROM audit_log WHERE action = 'ident.contact_change' AND target = 'resident:${id}'`);
    assert.deepEqual(JSON.parse(detail).fields.sort(), ['address', 'phone']);
  });

  test('residents are sealed at rest', () => {
    const rows = sql(srv, 'SELECT * FROM residents');
    const reads = sql(srv, 'SELECT * FROM ident_reads');
    const audit = sql(srv, "SELECT detail FROM audit_log WHERE action LIKE 'ident.%'");
    for (const text of [rows, reads, audit]) {
      assert.ok(!text.includes(number), 'ID number in clear');
      assert.ok(!text.includes('王小芳'), 'name in clear');
      assert.ok(!text.includes('漕溪北路'), 'address in clear');
      assert.ok(!text.includes('13812345678'), 'phone in clear');
    }
    assert.ok(rows.length > 0);
    assert.match(sql(srv, `SELECT id_number_bidx FROM residents WHERE id = ${id}`), /^[0-9a-f]{64}$/);
  });
});

describe('manual entry', () => {
  test('needs a reason, is audited with it, and keeps the name on record', async () => {
    const number = idNumber('19881111');
    const none = await clerk.post('/api/v1/ident/manual', { type: '111', number, name: '李四' });
    assert.equal(none.status, 400);
    assert.equal(none.body.error.field, 'reason');
    const bad = await clerk.post('/api/v1/ident/manual', { type: '111', number: number.slice(0, 16), name: '李四', reason: '读卡器故障' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.field, 'number');
    assert.match(bad.body.error.message, /号码应为 18 位（现为 16 位）/);

    const r = await clerk.post('/api/v1/ident/manual', { type: '111', number, name: '李四', reason: '读卡器故障' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.created, true);
    assert.equal(r.body.resident.source, 'manual');
    assert.equal(r.body.resident.sex, '1');
    const rid = r.body.resident.id;
    const detail = JSON.parse(sql(srv, `SELECT detail FROM audit_log WHERE action = 'ident.manual_entry' AND target = 'resident:${rid}'`));
    assert.equal(detail.reason, '读卡器故障');
    assert.equal(detail.type, '111');
    assert.equal(detail.read_id, r.body.read_id);
    assert.equal(sql(srv, `SELECT reason FROM ident_reads WHERE id = ${r.body.read_id}`), '读卡器故障');

    const again = await clerk.post('/api/v1/ident/manual', { type: '111', number, name: '李思', reason: '证件无芯片' });
    assert.equal(again.status, 200);
    assert.equal(again.body.resident.id, rid);
    assert.equal(again.body.resident.name, '李四');
    assert.equal(again.body.warnings.length, 1);
  });
});

describe('medical e-voucher', () => {
  test('a fresh token gives the resident and the ecToken; an expired one is refused', async () => {
    const people = await (await fetch(`${sim.url}/sim/people?has=medical&min_age=30&limit=1`)).json();
    const person = people.people[0];
    const issue = async () =>
      (
        await (
          await fetch(`${sim.url}/sim/yibao/evouchers`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ id_number: person.id_number }),
          })
        ).json()
      ).token;

    const r = await clerk.post('/api/v1/ident/evoucher', { qr: await issue() });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.resident.id_number, person.id_number);
    assert.equal(r.body.resident.name, person.name);
    assert.equal(r.body.resident.source, 'evoucher');
    assert.match(r.body.ec_token, /^[0-9a-f]{64}$/);
    assert.ok(r.body.insured_region);
    const audit = sql(srv, `SELECT count(*) FROM audit_log WHERE action = 'ident.evoucher' AND target = 'resident:${r.body.resident.id}'`);
    assert.equal(audit, '1');

    const late = await issue();
    await sleep(EVOUCHER_MS + 200);
    const exp = await clerk.post('/api/v1/ident/evoucher', { qr: late });
    assert.equal(exp.status, 422);
    assert.equal(exp.body.error.field, 'qr');
    assert.equal(exp.body.error.message, '医保电子凭证已过期，请居民刷新后重新出示');

    const unknown = await clerk.post('/api/v1/ident/evoucher', { qr: 'ab'.repeat(32) });
    assert.equal(unknown.status, 422);
    assert.match(unknown.body.error.message, /^医保电子凭证无效/);
    const junk = await clerk.post('/api/v1/ident/evoucher', { qr: 'a b' });
    assert.equal(junk.status, 422);
    assert.equal(junk.body.error.field, 'qr');
  });
});

describe('relations', () => {
  test('a guardian is registered, listed (masked for a manager), refused twice, removed', async () => {
    const child = (await clerk.post('/api/v1/ident/card', card(idNumber('20150601')))).body.resident;
    const parent = (await clerk.post('/api/v1/ident/manual', { type: '111', number: idNumber('19850601'), name: '赵大明', reason: '读卡器故障' })).body.resident;
    const path = `/api/v1/residents/${child.id}/relations`;
    const add = await clerk.post(path, { related_id: parent.id, relation: '51', kind: 'guardian' });
    assert.equal(add.status, 201, JSON.stringify(add.body));
    assert.equal(add.body.kind, 'guardian');

    const list = await clerk.get(path);
    assert.equal(list.status, 200);
    assert.equal(list.body.relations.length, 1);
    assert.equal(list.body.relations[0].direction, 'related');
    assert.equal(list.body.relations[0].other.name, '赵大明');
    const m = await manager.get(path);
    assert.equal(m.body.relations[0].other.name, '赵*明');
    const back = await clerk.get(`/api/v1/residents/${parent.id}/relations`);
    assert.equal(back.body.relations[0].direction, 'principal');

    assert.equal((await clerk.post(path, { related_id: parent.id, relation: '51', kind: 'guardian' })).status, 409);
    const self = await clerk.post(path, { related_id: child.id, relation: '51', kind: 'guardian' });
    assert.equal(self.status, 422);
    assert.equal(self.body.error.field, 'related_id');
    const code = await clerk.post(path, { related_id: parent.id, relation: 'QQ', kind: 'agent' });
    assert.equal(code.status, 422);
    assert.equal(code.body.error.field, 'relation');
    const kind = await clerk.post(path, { related_id: parent.id, relation: '51', kind: 'boss' });
    assert.equal(kind.body.error.field, 'kind');
    assert.equal((await manager.post(path, { related_id: parent.id, relation: '51', kind: 'agent' })).status, 403);

    const del = await clerk.del(`${path}/${add.body.id}`);
    assert.equal(del.status, 200);
    assert.equal((await clerk.get(path)).body.relations.length, 0);
    assert.equal((await clerk.del(`${path}/${add.body.id}`)).status, 404);
    const audits = sql(srv, `SELECT action FROM audit_log WHERE target = 'resident:${child.id}' AND action LIKE 'ident.relation%' ORDER BY id`);
    assert.deepEqual(audits.split('\n'), ['ident.relation_add', 'ident.relation_delete']);
  });
});
