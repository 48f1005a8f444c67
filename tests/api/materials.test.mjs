// Materials of a case (docs/cases.md "Materials"): the clerk scans or uploads files into the
// material slots of the case's sub-item, pulls an e-certificate from the big-data centre,
// has a material verified, deletes a wrong one, reads the bytes back; the types are checked
// by content, the size by file_max_bytes; another centre sees nothing; and the disk never
// holds a plaintext copy. Against `serve --with-sim`.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { DEMO, admin, freePort, loginAs, sql, startServer, uniq } from './lib.mjs';
import { jpeg, raw } from './cases-lib.mjs';

const SUB_ITEM = '310002017000-02'; // 个人账户收支明细打印: applicant_id required (e_cert id_card), agent slots conditional
const LIMIT = 256 * 1024; // file_max_bytes of this server

const sm3 = (buf) => createHash('sm3').update(buf).digest('hex');

async function* walk(dir) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

describe('materials of a case', () => {
  let srv;
  let sim;
  let clerk;
  let person;
  let caseNo;
  let version;
  let scan; // the uploaded JPEG
  let scanEntry;
  const M = () => `/api/v1/cases/${caseNo}/materials`;
  const upload = (mid, bytes, type = 'image/jpeg', query = 'source=scan&title=身份证正反面') =>
    raw(clerk, srv.url, 'POST', `${M()}/${mid}/files?${query}`, bytes, type);

  async function putForm(data) {
    const r = await raw(clerk, srv.url, 'PUT', `/api/v1/cases/${caseNo}/form`, JSON.stringify({ version, data }), 'application/json');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    version = r.body.version;
  }

  const form = (agentPresent) => ({
    applicant: { id_number: { type: '111', number: person.id_number }, name: person.name, phone: person.phone || '13800138000' },
    account: { year: 2025 },
    agent: { present: agentPresent },
  });

  before(async () => {
    const port = await freePort();
    sim = `http://127.0.0.1:${port}`;
    srv = await startServer(['--with-sim', '--sim-port', String(port), '--file-max-bytes', String(LIMIT)]);
    clerk = await loginAs(srv.url, DEMO.clerk);
    const people = await fetch(`${sim}/sim/people?min_age=30&max_age=60&hukou=1&limit=1`).then((r) => r.json());
    person = people.people[0];
    assert.ok(person, 'a resident of the simulated population');
    const res = await clerk.post('/api/v1/ident/manual', { type: '111', number: person.id_number, name: person.name, reason: '读卡器故障' });
    assert.ok([200, 201].includes(res.status), JSON.stringify(res.body));
    const opened = await clerk.post('/api/v1/cases', { sub_item_code: SUB_ITEM, resident_id: res.body.resident.id });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    caseNo = opened.body.case_no ?? opened.body.case?.case_no;
    version = opened.body.version ?? opened.body.case?.version;
    await putForm(form(false));
  });

  after(async () => {
    await srv?.stop();
  });

  test('a new case lists the slots of its sub-item, none complete yet', async () => {
    const r = await clerk.get(M());
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const ids = r.body.slots.map((s) => s.id);
    assert.deepEqual(ids, ['applicant_id', 'agent_id', 'power_of_attorney']);
    const [app, agent] = r.body.slots;
    assert.equal(app.required_now, true);
    assert.equal(app.e_cert, 'id_card');
    assert.equal(app.complete, false);
    assert.deepEqual(app.files, []);
    assert.equal(agent.need, 'conditional');
    assert.equal(agent.required_now, false); // agent.present is false
    assert.equal(agent.complete, true);
    assert.equal(r.body.complete, false);
    assert.deepEqual(r.body.missing, [app.name]);
  });

  test('an upload to a slot is stored, listed, and makes the case complete', async () => {
    scan = jpeg(6000);
    const r = await upload('applicant_id', scan);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    scanEntry = r.body;
    assert.equal(r.body.mime, 'image/jpeg');
    assert.equal(r.body.size, scan.length);
    assert.equal(r.body.sm3, sm3(scan));
    assert.equal(r.body.source, 'scan');
    assert.equal(r.body.title, '身份证正反面');
    assert.equal(r.body.verdict, null);
    const list = await clerk.get(M());
    const app = list.body.slots.find((s) => s.id === 'applicant_id');
    assert.equal(app.files.length, 1);
    assert.equal(app.files[0].id, scanEntry.id);
    assert.equal(app.complete, true);
    assert.equal(list.body.complete, true);
    assert.deepEqual(list.body.missing, []);
    assert.equal(sql(srv, `SELECT ref_count FROM files WHERE id = ${r.body.file_id}`), '1');
    assert.match(sql(srv, "SELECT action FROM audit_log WHERE action LIKE 'case.material.%' ORDER BY id DESC LIMIT 1"), /case\.material\.add/);

    // the same bytes into the same slot again: refused, nothing added
    const again = await upload('applicant_id', scan);
    assert.equal(again.status, 409);
    assert.match(again.body.error.message, /同一文件/);
  });

  test('a conditional material becomes required when its condition holds', async () => {
    await putForm({ ...form(true), agent: { present: true, id_number: { type: '111', number: '11010519491231002X' }, name: '李四', phone: '13900139000', relation: '10' } });
    let r = await clerk.get(M());
    const agent = r.body.slots.find((s) => s.id === 'agent_id');
    assert.equal(agent.required_now, true);
    assert.equal(agent.complete, false);
    assert.equal(r.body.complete, false);
    assert.ok(r.body.missing.includes(agent.name));
    await putForm(form(false));
    r = await clerk.get(M());
    assert.equal(r.body.complete, true);
  });

  test('the content comes back byte for byte with its type', async () => {
    const r = await raw(clerk, srv.url, 'GET', `${M()}/applicant_id/files/${scanEntry.id}/content`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/jpeg');
    assert.ok(r.bytes.equals(scan));
    const wrongSlot = await raw(clerk, srv.url, 'GET', `${M()}/agent_id/files/${scanEntry.id}/content`);
    assert.equal(wrongSlot.status, 404);
  });

  test('a file of another type is refused with what it looks like (415)', async () => {
    const zip = Buffer.concat([Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00', 'latin1'), randomBytes(200)]);
    let r = await upload('applicant_id', zip, 'image/jpeg');
    assert.equal(r.status, 415);
    assert.equal(r.body.error.message, '文件内容不是 JPEG、PNG 或 PDF（看起来是 ZIP 压缩包）');
    r = await upload('applicant_id', Buffer.from('<!DOCTYPE html><script>alert(1)</script>'), 'application/pdf');
    assert.equal(r.status, 415);
    assert.match(r.body.error.message, /HTML 网页/);
    const cut = jpeg(3000).subarray(0, 2000); // a scan cut off in transit
    r = await upload('applicant_id', cut, 'image/jpeg');
    assert.equal(r.status, 415);
    assert.match(r.body.error.message, /文件内容不完整/);
    r = await upload('applicant_id', Buffer.from('{"forged":"certificate"}'), 'application/json');
    assert.equal(r.status, 415); // JSON only when the server made it
    r = await upload('applicant_id', jpeg(4096), 'image/jpeg', 'source=e_cert');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'source');
  });

  test('a file over file_max_bytes is refused naming the limit (413)', async () => {
    const r = await upload('applicant_id', jpeg(LIMIT + 1));
    assert.equal(r.status, 413);
    assert.match(r.body.error.message, /文件大小超过上限 256 KB/);
    const ok = await upload('power_of_attorney', jpeg(LIMIT));
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
  });

  test('an e-certificate is pulled from the certificate library into the slot', async () => {
    const r = await clerk.post(`${M()}/applicant_id/ecert`, {});
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.source, 'e_cert');
    assert.equal(r.body.mime, 'application/json');
    assert.match(r.body.e_cert_no, /^SFZ31\d{14}$/);
    const content = await raw(clerk, srv.url, 'GET', `${M()}/applicant_id/files/${r.body.id}/content`);
    assert.equal(content.status, 200);
    const cert = JSON.parse(content.bytes.toString('utf8'));
    assert.equal(cert.holder_id_number, person.id_number);
    assert.equal(cert.cert_no, r.body.e_cert_no);
    const again = await clerk.post(`${M()}/applicant_id/ecert`, { cert_no: r.body.e_cert_no });
    assert.equal(again.status, 409);
    const none = await clerk.post(`${M()}/power_of_attorney/ecert`, {});
    assert.equal(none.status, 422);
    assert.match(none.body.error.message, /没有对应的电子证照/);
  });

  test('verification stores the big-data centre verdict on the entry', async () => {
    const r = await clerk.post(`${M()}/applicant_id/files/${scanEntry.id}/verify`, {});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // the simulator: the resident exists and the name matches; a hash starting below 0x10
    // stands for a blurred picture that goes to a person
    const expected = parseInt(scanEntry.sm3.slice(0, 2), 16) < 0x10 ? 'manual' : 'pass';
    assert.equal(r.body.verdict, expected);
    assert.ok(Array.isArray(r.body.reasons));
    assert.ok(r.body.verified_at > 0);
    assert.equal(sql(srv, `SELECT verdict FROM case_materials WHERE id = ${scanEntry.id}`), expected);
    const list = await clerk.get(M());
    assert.equal(list.body.slots[0].files.find((f) => f.id === scanEntry.id).verdict, expected);
    // a material the centre does not verify
    const poa = list.body.slots.find((s) => s.id === 'power_of_attorney').files[0];
    const no = await clerk.post(`${M()}/power_of_attorney/files/${poa.id}/verify`, {});
    assert.equal(no.status, 422);
    assert.match(no.body.error.message, /不提供/);
  });

  test('the plaintext of an upload is nowhere under the data directory', async () => {
    const needle = scan.subarray(100, 164);
    let files = 0;
    for await (const p of walk(srv.data)) {
      const content = await readFile(p);
      files++;
      assert.equal(content.indexOf(needle), -1, `plaintext found in ${p}`);
      assert.ok(!p.includes(scanEntry.sm3), `the SM3 names ${p}`);
    }
    assert.ok(files > 3);
  });

  test('another centre\'s clerk cannot see the case or its files (404)', async () => {
    const name = `tpl_${uniq()}`;
    const made = admin(srv, ['user', 'create', name, '天平路窗口', '310104003C1', 'window_clerk'], 'Strong#Pass2026\n');
    assert.equal(made.status, 0, made.stderr);
    const other = await loginAs(srv.url, { username: name, password: 'Strong#Pass2026' });
    // a new account changes its password first
    const pw = await other.post('/api/v1/auth/password', { old_password: 'Strong#Pass2026', new_password: 'Other#Pass2027x' });
    assert.equal(pw.status, 200, JSON.stringify(pw.body));
    await other.get('/api/v1/auth/me'); // the CSRF token of the session after the change
    const seen = await other.get(M());
    assert.equal(seen.status, 404, JSON.stringify(seen.body));
    const content = await raw(other, srv.url, 'GET', `${M()}/applicant_id/files/${scanEntry.id}/content`);
    assert.equal(content.status, 404);
    const up = await raw(other, srv.url, 'POST', `${M()}/applicant_id/files`, jpeg(4096), 'image/jpeg');
    assert.equal(up.status, 404);
    const del = await raw(other, srv.url, 'DELETE', `${M()}/applicant_id/files/${scanEntry.id}`);
    assert.equal(del.status, 404);
    // the manager of the clerk's own centre reads but may not change
    const manager = await loginAs(srv.url, DEMO.manager);
    assert.equal((await manager.get(M())).status, 200);
    assert.equal((await raw(manager, srv.url, 'POST', `${M()}/applicant_id/files`, jpeg(4096), 'image/jpeg')).status, 403);
  });

  test('delete removes the entry and gives the file reference back', async () => {
    const fileId = scanEntry.file_id;
    const r = await raw(clerk, srv.url, 'DELETE', `${M()}/applicant_id/files/${scanEntry.id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const list = await clerk.get(M());
    assert.ok(!list.body.slots[0].files.some((f) => f.id === scanEntry.id));
    assert.equal(sql(srv, `SELECT ref_count FROM files WHERE id = ${fileId}`), '0');
    assert.match(sql(srv, "SELECT action FROM audit_log WHERE action LIKE 'case.material.%' ORDER BY id DESC LIMIT 1"), /case\.material\.remove/);
    const again = await raw(clerk, srv.url, 'DELETE', `${M()}/applicant_id/files/${scanEntry.id}`);
    assert.equal(again.status, 404);
  });

  test('materials cannot change once the case has left draft (409)', async () => {
    // (the state machine is the cases module's; here only the rule of the materials counts)
    sql(srv, `UPDATE cases SET state = 'accepted' WHERE case_no = '${caseNo}'`);
    const up = await upload('applicant_id', jpeg(4096));
    assert.equal(up.status, 409);
    assert.equal(up.body.error.code, 'invalid_state');
    assert.match(up.body.error.message, /“已受理”.*草稿或补正/);
    const list = await clerk.get(M());
    assert.equal(list.status, 200);
    assert.equal(list.body.editable, false);
  });
});
