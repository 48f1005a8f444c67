// Electronic archive (docs/archive.md): a completed 社保 case is archived — the three XML
// packages are built, validated against the XSD, signed and handed to the archive system
// (the simulator), and its receipt and checks are recorded on the case; a case that is not
// completed, or whose item needs no archive, is refused with 409 and the reason. Against
// `serve --with-sim`.
//
// The archived sub-item is 310001012000-01 (社会保险个人基本信息变更（一般信息）, archive
// required, category 社保, retention 30y): one required material (申请人有效身份证件), a
// short form, no pre-review rules. The non-archive one is 310005003000-02 (no archive
// profile, no materials).
import { strict as assert } from 'node:assert';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { DEMO, freePort, loginAs, sleep, sql, startServer } from './lib.mjs';
import { jpeg, raw } from './cases-lib.mjs';

const SUB_ARCHIVE = '310001012000-01';
const SUB_PLAIN = '310005003000-02';

describe('electronic archive', () => {
  let srv;
  let sim;
  let clerk;
  let people;
  let next = 0;

  before(async () => {
    const port = await freePort();
    sim = `http://127.0.0.1:${port}`;
    srv = await startServer(['--with-sim', '--sim-port', String(port)]);
    clerk = await loginAs(srv.url, DEMO.clerk);
    const r = await fetch(`${sim}/sim/people?min_age=30&max_age=60&hukou=1&limit=5`).then((x) => x.json());
    people = r.people;
    assert.ok(people.length >= 3, 'residents of the simulated population');
  });
  after(async () => {
    await srv?.stop();
  });

  // Open a case of sub for the next simulated resident and fill its form.
  async function opened(sub, data) {
    const person = people[next++];
    const id = await clerk.post('/api/v1/ident/manual', {
      type: '111',
      number: person.id_number,
      name: person.name,
      reason: '读卡器故障',
    });
    assert.ok([200, 201].includes(id.status), JSON.stringify(id.body));
    const o = await clerk.post('/api/v1/cases', { sub_item_code: sub, resident_id: id.body.resident.id });
    assert.equal(o.status, 201, JSON.stringify(o.body));
    const applicant = { id_number: { type: '111', number: person.id_number }, name: person.name, phone: '13800138000' };
    const f = await raw(
      clerk,
      srv.url,
      'PUT',
      `/api/v1/cases/${o.body.case_no}/form`,
      JSON.stringify({ version: o.body.version, data: { applicant, ...data } }),
      'application/json',
    );
    assert.equal(f.status, 200, JSON.stringify(f.body));
    return { no: o.body.case_no, version: f.body.version, person };
  }

  async function acceptAndComplete(c) {
    const acc = await clerk.post(`/api/v1/cases/${c.no}/accept`, { version: c.version });
    assert.equal(acc.status, 200, JSON.stringify(acc.body));
    // The department receives it first (the hand-off moves the case to in progress, which
    // changes its version); then it is decided.
    let cur;
    const deadline = Date.now() + 20000;
    for (;;) {
      cur = (await clerk.get(`/api/v1/cases/${c.no}`)).body;
      // delivered (in progress), or the department refused it for good (a query item)
      if (['delivered', 'dead'].includes(cur.delivery?.state) || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.ok(['in_progress', 'accepted'].includes(cur.state), JSON.stringify(cur.delivery));
    const done = await clerk.post(`/api/v1/cases/${c.no}/complete`, {
      version: cur.version,
      result: 'approved',
      opinion: '准予变更联系电话',
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.state, 'completed');
  }

  async function archiveState(no, until) {
    const deadline = Date.now() + 15000;
    for (;;) {
      const r = await clerk.get(`/api/v1/cases/${no}/archive`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      if (!until || until(r.body) || Date.now() > deadline) return r.body;
      await sleep(100);
    }
  }

  test('a completed 社保 case is archived: packages validated, signed, received with the receipt', async () => {
    const c = await opened(SUB_ARCHIVE, {
      change: { items: ['phone'], new_phone: '13900139000' },
      agent: { present: false },
    });
    const up = await raw(
      clerk,
      srv.url,
      'POST',
      `/api/v1/cases/${c.no}/materials/applicant_id/files?source=scan&title=${encodeURIComponent('身份证正反面')}`,
      jpeg(5000),
      'image/jpeg',
    );
    assert.equal(up.status, 201, JSON.stringify(up.body));

    // before completion: refused, and nothing is queued
    const early = await clerk.post(`/api/v1/cases/${c.no}/archive`, {});
    assert.equal(early.status, 409, JSON.stringify(early.body));
    assert.match(early.body.error.message, /办结后才能归档/);
    const none = await archiveState(c.no);
    assert.equal(none.required, true);
    assert.equal(none.status, null);

    // completion archives by itself (a hook of the cases module, from the outbox)
    await acceptAndComplete(c);
    const st = await archiveState(c.no, (b) => b.status !== null && b.status !== 'pending');
    assert.equal(st.status, 'received', JSON.stringify(st));
    assert.equal(st.status_label, '已归档');
    assert.match(st.receipt_no, /^DA/);
    assert.equal(st.error, null);
    // the archive system's checks: one per package, all passed
    assert.equal(st.checks.length, 3);
    assert.ok(st.checks.every((k) => k.ok === true && k.message === '通过'), JSON.stringify(st.checks));
    assert.deepEqual(
      st.checks.map((k) => k.name),
      ['归档事项基本信息（basic）', '办理流程基本信息（process）', '电子文件基本信息（files）'],
    );
    for (const part of ['basic', 'process', 'files']) {
      assert.ok(st.packages[part].size > 200, `${part} size`);
      assert.match(st.packages[part].sm3, /^[0-9a-f]{64}$/);
    }
    assert.equal(st.files, 1);
    assert.ok(st.steps >= 3, `steps ${st.steps}`); // 新建, 受理, 办结 (and whatever else the timeline holds)

    // the simulator holds the same receipt for this case
    const there = await fetch(`${sim}/dangan/packages/${st.receipt_no}`).then((r) => r.json());
    assert.equal(there.case_no, c.no);
    assert.equal(there.checks.length, 3);

    // recorded durably, audited, the event delivered
    assert.equal(sql(srv, `SELECT status || '|' || receipt_no FROM archive_packages WHERE case_no = '${c.no}'`), `received|${st.receipt_no}`);
    assert.match(sql(srv, `SELECT actor_name FROM audit_log WHERE target = 'case:${c.no}' AND action = 'case.archive'`), /system/);
    assert.equal(sql(srv, `SELECT status FROM events WHERE kind = 'archive.package' AND idempotency_key = 'archive:${c.no}:1'`), 'done');

    // the signing key is kept under the data directory, readable by its owner only
    const k = await stat(join(srv.data, 'keys', 'archive-sm2.pem'));
    assert.equal(k.mode & 0o777, 0o600);

    // archived once: a second request is refused naming the receipt
    const again = await clerk.post(`/api/v1/cases/${c.no}/archive`, {});
    assert.equal(again.status, 409);
    assert.ok(again.body.error.message.includes(st.receipt_no), again.body.error.message);
  });

  test('a case whose item needs no archive is refused with 409', async () => {
    const c = await opened(SUB_PLAIN, {});
    await acceptAndComplete(c);
    const r = await clerk.post(`/api/v1/cases/${c.no}/archive`, {});
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'invalid_state');
    assert.equal(r.body.error.message, '该事项无需电子归档');
    const st = await archiveState(c.no);
    assert.equal(st.required, false);
    assert.equal(st.status, null);
    assert.equal(sql(srv, `SELECT count(*) FROM archive_packages WHERE case_no = '${c.no}'`), '0');
  });

  test('an unknown case is 404, and a request needs case.accept', async () => {
    const r = await clerk.post('/api/v1/cases/310104014C1-20000101-999999/archive', {});
    assert.equal(r.status, 404);
    const manager = await loginAs(srv.url, DEMO.manager);
    const f = await manager.post('/api/v1/cases/310104014C1-20000101-999999/archive', {});
    assert.equal(f.status, 403);
  });
});
