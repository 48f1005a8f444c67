// Cases (办件) as a window clerk meets them (docs/cases.md): open a case for an identified
// resident (numbers, duplicate guard), save the form and see its evaluation, accept it (all
// problems at once), refuse, request and finish a correction (the promised date moves by the
// working days of the pause), start, complete, withdraw; illegal transitions and stale
// versions; concurrent opens; data scope; the receipt; and the audit and outbox rows every
// action leaves.
//
// The accepted sub-item is 310005003000-02 (灵活就业及城乡居民社会保险费退费情况查询, 承诺件 of
// 20 working days): it lists no materials, so acceptance needs only a valid form. The
// materials path is covered by 310004005000-02 (three required materials), whose acceptance
// is refused naming each missing material; tests/api/materials.test.mjs and
// acceptance.test.mjs attach materials through their routes.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';

import { DEMO, admin, loginAs, sql, startServer, uniq } from './lib.mjs';

const SUB = '310005003000-02';
const SUB_MATERIALS = '310004005000-02';

// A valid 居民身份证 number for a sequence number (徐汇, born 1985).
function idNumber(seq) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const body = `310104198503${String(1 + (seq % 28)).padStart(2, '0')}${String(100 + Math.floor(seq / 28)).padStart(3, '0')}`;
  let s = 0;
  for (let i = 0; i < 17; i++) s += Number(body[i]) * w[i];
  return body + '10X98765432'[s % 11];
}

async function put(c, url, path, body) {
  const res = await fetch(url + path, {
    method: 'PUT',
    headers: { Cookie: c.cookie, 'X-CSRF-Token': c.csrf, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe('cases', () => {
  let srv;
  let clerk;
  let manager;
  let seq = 0;

  before(async () => {
    srv = await startServer();
    clerk = await loginAs(srv.url, DEMO.clerk);
    manager = await loginAs(srv.url, DEMO.manager);
  });
  after(async () => {
    await srv?.stop();
  });

  async function resident() {
    seq += 1;
    const number = idNumber(seq);
    const r = await clerk.post('/api/v1/ident/manual', { type: '111', number, name: '测试居民', reason: '读卡器故障' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { id: r.body.resident.id, number };
  }

  async function open(sub = SUB, extra = {}) {
    const who = await resident();
    const r = await clerk.post('/api/v1/cases', { sub_item_code: sub, resident_id: who.id, ...extra });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return { ...r.body, who };
  }

  const form = (who) => ({
    applicant: { id_number: { type: '111', number: who.number }, name: '测试居民', phone: '13912345678' },
  });

  async function acceptable() {
    const c = await open();
    const f = await put(clerk, srv.url, `/api/v1/cases/${c.case_no}/form`, { version: c.version, data: form(c.who) });
    assert.equal(f.status, 200, JSON.stringify(f.body));
    return { ...c, version: f.body.version };
  }

  const act = (c, no, action, body) => c.post(`/api/v1/cases/${no}/${action}`, body);

  test('opening: number, draft, pinned version, duplicate guard', async () => {
    const who = await resident();
    const r = await clerk.post('/api/v1/cases', { sub_item_code: SUB, resident_id: who.id });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(r.body.case_no, /^310104014C1-\d{8}-\d{6}$/);
    assert.equal(r.body.state, 'draft');
    assert.equal(r.body.version, 1);
    assert.equal(r.body.sub_item.code, SUB);
    assert.equal(r.body.case_type, 2);
    assert.equal(r.body.applicant.id_number, `${who.number.slice(0, 4)}**********${who.number.slice(14)}`);
    assert.equal(sql(srv, `SELECT state FROM catalog_pins WHERE case_ref = '${r.body.case_no}'`), 'open');

    const dup = await clerk.post('/api/v1/cases', { sub_item_code: SUB, resident_id: who.id });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.code, 'duplicate');
    assert.deepEqual(dup.body.duplicates, [r.body.case_no]);
    const again = await clerk.post('/api/v1/cases', { sub_item_code: SUB, resident_id: who.id, allow_duplicate: true });
    assert.equal(again.status, 201);
    assert.notEqual(again.body.case_no, r.body.case_no);
    assert.ok(again.body.events.some((e) => e.action === 'open' && e.detail?.duplicate_confirmed?.[0] === r.body.case_no));

    const bad = await clerk.post('/api/v1/cases', { sub_item_code: '999999999999-01', resident_id: who.id });
    assert.equal(bad.status, 404);
    assert.equal(bad.body.error.field, 'sub_item_code');
    const nobody = await clerk.post('/api/v1/cases', { sub_item_code: SUB, resident_id: 999999 });
    assert.equal(nobody.status, 404);
    assert.equal(nobody.body.error.field, 'resident_id');
    const noField = await clerk.post('/api/v1/cases', { resident_id: who.id });
    assert.equal(noField.status, 400);
    assert.equal(noField.body.error.field, 'sub_item_code');
  });

  test('the opening clerk must belong to a centre', async () => {
    const r = await manager.post('/api/v1/cases', { sub_item_code: SUB, resident_id: 1 });
    assert.equal(r.status, 403); // the manager has no case.accept
  });

  test('form save returns the evaluation and the new version; stale version is 409', async () => {
    const c = await open();
    const empty = await put(clerk, srv.url, `/api/v1/cases/${c.case_no}/form`, { version: c.version, data: {} });
    assert.equal(empty.status, 200, JSON.stringify(empty.body));
    assert.equal(empty.body.version, 2);
    assert.equal(empty.body.evaluation.valid, false);
    assert.ok(empty.body.evaluation.violations.some((v) => v.field === 'applicant.id_number'));
    assert.ok(empty.body.evaluation.required.includes('applicant.name'));
    const stale = await put(clerk, srv.url, `/api/v1/cases/${c.case_no}/form`, { version: 1, data: form(c.who) });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error.code, 'conflict');
    const ok = await put(clerk, srv.url, `/api/v1/cases/${c.case_no}/form`, { version: 2, data: form(c.who) });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.evaluation.valid, true);
    const d = await clerk.get(`/api/v1/cases/${c.case_no}`);
    assert.equal(d.body.form.applicant.phone, '13912345678');
    // sealed at rest: the phone is nowhere in the row
    // (the blob as hex on either engine; the plaintext's hex must not be in it)
    const hexOf = process.env.SHOULI_TEST_DB ? "encode(form_enc, 'hex')" : 'hex(form_enc)';
    const blob = sql(srv, `SELECT ${hexOf} FROM cases WHERE case_no = '${c.case_no}'`).toLowerCase();
    assert.ok(blob.length > 64, 'the form is stored');
    assert.ok(!blob.includes(Buffer.from('13912345678').toString('hex')));
  });

  test('accept: problems all at once, then accepted with promised date, parties, audit, outbox', async () => {
    const c = await open();
    const invalid = await act(clerk, c.case_no, 'accept', { version: c.version });
    assert.equal(invalid.status, 422);
    assert.ok(invalid.body.problems.length >= 2, JSON.stringify(invalid.body));
    assert.ok(invalid.body.problems.every((p) => p.kind === 'form'));

    const m = await open(SUB_MATERIALS);
    const noMaterials = await act(clerk, m.case_no, 'accept', { version: m.version });
    assert.equal(noMaterials.status, 422);
    assert.equal(noMaterials.body.problems.filter((p) => p.kind === 'materials').length, 3, JSON.stringify(noMaterials.body));
    assert.ok(noMaterials.body.problems.some((p) => p.kind === 'form'));

    const a = await acceptable();
    const r = await act(clerk, a.case_no, 'accept', { version: a.version });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'accepted');
    assert.equal(r.body.version, a.version + 1);
    assert.match(r.body.promised_date, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(r.body.accepted_at);
    assert.equal(r.body.parties.length, 1);
    assert.equal(r.body.parties[0].role, 'applicant');
    assert.equal(r.body.parties[0].name, '测试居民'); // the clerk holds ident.read
    assert.ok(r.body.prereview.verdicts.length >= 1);
    const masked = await manager.get(`/api/v1/cases/${a.case_no}`);
    assert.equal(masked.status, 200);
    assert.equal(masked.body.parties[0].name, '测**民');
    assert.equal(sql(srv, `SELECT count(*) FROM audit_log WHERE action = 'case.accept' AND target = 'case:${a.case_no}'`), '1');
    assert.equal(sql(srv, `SELECT count(*) FROM events WHERE kind = 'case.accept' AND idempotency_key = 'case:${a.case_no}:${a.version + 1}'`), '1');
    assert.equal(sql(srv, `SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id WHERE c.case_no = '${a.case_no}'`), '2');
    // a party is sealed with a blind index: the ID number finds the case
    const found = await clerk.get(`/api/v1/cases?q=${a.who.number}`);
    assert.deepEqual(found.body.cases.map((x) => x.case_no), [a.case_no]);
  });

  test('two clerks with the same version: one wins, the other gets 409', async () => {
    const a = await acceptable();
    const other = await loginAs(srv.url, DEMO.clerk);
    const [x, y] = await Promise.all([
      act(clerk, a.case_no, 'accept', { version: a.version }),
      act(other, a.case_no, 'refuse', { version: a.version, reason: '材料不符合要求，不予受理' }),
    ]);
    const statuses = [x.status, y.status].sort();
    assert.deepEqual(statuses, [200, 409]);
    const lost = x.status === 409 ? x : y;
    assert.ok(['conflict', 'invalid_state'].includes(lost.body.error.code));
  });

  test('illegal transitions are 409 naming both states; refusal needs a reason', async () => {
    const c = await open();
    const start = await act(clerk, c.case_no, 'start', { version: c.version });
    assert.equal(start.status, 409);
    assert.equal(start.body.error.code, 'invalid_state');
    assert.equal(start.body.error.message, '办件当前状态为“待受理”，不能执行“转部门办理”');
    const noReason = await act(clerk, c.case_no, 'refuse', { version: c.version, reason: '不行' });
    assert.equal(noReason.status, 400);
    assert.equal(noReason.body.error.field, 'reason');
    const missing = await act(clerk, c.case_no, 'refuse', { version: c.version });
    assert.equal(missing.status, 400);
    const refused = await act(clerk, c.case_no, 'refuse', { version: c.version, reason: '不属于本中心受理范围' });
    assert.equal(refused.status, 200);
    assert.equal(refused.body.state, 'refused');
    assert.equal(sql(srv, `SELECT state FROM catalog_pins WHERE case_ref = '${c.case_no}'`), 'closed');
    const again = await act(clerk, c.case_no, 'accept', { version: refused.body.version });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.message, '办件当前状态为“不予受理”，不能执行“受理”');
    const receipt = await clerk.get(`/api/v1/cases/${c.case_no}/receipt`);
    assert.equal(receipt.status, 200);
    assert.equal(receipt.body.kind, 'refused');
    assert.equal(receipt.body.reason, '不属于本中心受理范围');
  });

  test('every action path: correction pauses the promised date, start, complete; withdraw', async () => {
    const a = await acceptable();
    let r = await act(clerk, a.case_no, 'accept', { version: a.version });
    assert.equal(r.status, 200);
    const promised = r.body.promised_date;
    r = await act(clerk, a.case_no, 'request_correction', { version: r.body.version, items: [] });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'items');
    const cur = (await clerk.get(`/api/v1/cases/${a.case_no}`)).body;
    r = await act(clerk, a.case_no, 'request_correction', {
      version: cur.version,
      items: [{ field: 'applicant.phone', note: '联系电话无法接通，请提供本人手机号码' }],
      note: '请于五个工作日内补正',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'correction');
    assert.equal(r.body.correction.items.length, 1);
    const notice = await clerk.get(`/api/v1/cases/${a.case_no}/receipt`);
    assert.equal(notice.body.kind, 'correction');
    assert.equal(notice.body.items[0].note, '联系电话无法接通，请提供本人手机号码');
    const corr = await clerk.get('/api/v1/cases?view=correction');
    assert.ok(corr.body.cases.some((x) => x.case_no === a.case_no));
    // pretend the correction was requested three weeks ago (15+ working days paused)
    const id = sql(srv, `SELECT id FROM cases WHERE case_no = '${a.case_no}'`);
    sql(srv, `UPDATE cases SET paused_day = '${dayBefore(21)}' WHERE id = ${id}`);
    r = await act(clerk, a.case_no, 'resume', { version: r.body.version, note: '已补正' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'accepted');
    assert.ok(r.body.paused_days >= 13, String(r.body.paused_days));
    assert.ok(r.body.promised_date > promised, `${r.body.promised_date} > ${promised}`);
    r = await act(clerk, a.case_no, 'start', { version: r.body.version, note: '转区社保中心' });
    assert.equal(r.body.state, 'in_progress');
    r = await act(clerk, a.case_no, 'complete', { version: r.body.version, result: 'maybe', opinion: '同意' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'result');
    const v = (await clerk.get(`/api/v1/cases/${a.case_no}`)).body.version;
    r = await act(clerk, a.case_no, 'complete', { version: v, result: 'approved', opinion: '准予办理' });
    assert.equal(r.status, 200);
    assert.equal(r.body.state, 'completed');
    assert.equal(r.body.result, 'approved');
    assert.deepEqual(
      r.body.events.map((e) => e.action),
      ['open', 'accept', 'request_correction', 'resume', 'start', 'complete'],
    );
    const receipt = await clerk.get(`/api/v1/cases/${a.case_no}/receipt`);
    assert.equal(receipt.status, 200);
    assert.equal(receipt.body.kind, 'accepted');
    assert.equal(receipt.body.title, '受理回执');
    assert.equal(receipt.body.case_no, a.case_no);
    assert.equal(receipt.body.case_type_label, '承诺件');
    assert.equal(receipt.body.query_hint, '凭办件编号查询办理进度');
    assert.deepEqual(receipt.body.materials, []);
    assert.equal(receipt.body.centre.code, '310104014C1');
    assert.equal(receipt.body.centre.phone, '021-64870001'); // the demo centre's 咨询电话
    // an operator changes it: the next receipt prints the new one (a bad number is refused)
    const bad = admin(srv, ['org', 'contact', '310104014C1', '64-87x']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /咨询电话应为/);
    const set = admin(srv, ['org', 'contact', '310104014C1', '021-64870099', '上海市徐汇区漕溪北路 1 号']);
    assert.equal(set.status, 0, set.stderr);
    const again = await clerk.get(`/api/v1/cases/${a.case_no}/receipt`);
    assert.equal(again.body.centre.phone, '021-64870099');
    assert.equal(again.body.centre.address, '上海市徐汇区漕溪北路 1 号');
    // the detail lists what the state allows and carries the pinned schema
    assert.deepEqual(r.body.actions, []); // completed: nothing more
    for (const k of ['case.open', 'case.accept', 'case.request_correction', 'case.resume', 'case.start', 'case.complete'])
      assert.equal(sql(srv, `SELECT count(*) FROM events WHERE kind = '${k}' AND aggregate = 'case:${id}'`), '1', k);

    const w = await open();
    const wd = await clerk.get(`/api/v1/cases/${w.case_no}`);
    assert.deepEqual(wd.body.actions.sort(), ['accept', 'refuse', 'request_correction', 'withdraw']);
    assert.ok(Array.isArray(wd.body.sub_item.form.fields), 'the pinned sub-item comes with the case');
    r = await act(clerk, w.case_no, 'withdraw', { version: w.version, reason: '居民申请撤回' });
    assert.equal(r.body.state, 'withdrawn');
    const draftReceipt = await clerk.get(`/api/v1/cases/${w.case_no}/receipt`);
    assert.equal(draftReceipt.status, 409);
  });

  test('concurrent opens get distinct sequential numbers', async () => {
    const people = [];
    for (let i = 0; i < 20; i++) people.push(await resident());
    const rs = await Promise.all(people.map((p) => clerk.post('/api/v1/cases', { sub_item_code: SUB, resident_id: p.id })));
    for (const r of rs) assert.equal(r.status, 201, JSON.stringify(r.body));
    const nums = rs.map((r) => Number(r.body.case_no.slice(-6))).sort((x, y) => x - y);
    assert.equal(new Set(nums).size, 20);
    for (let i = 1; i < nums.length; i++) assert.equal(nums[i], nums[i - 1] + 1);
  });

  test('data scope: another centre sees neither the case nor it in lists (404)', async () => {
    const a = await acceptable();
    const name = `tpl_${uniq()}`;
    const made = admin(srv, ['user', 'create', name, '天平路窗口', '310104003C1', 'window_clerk'], 'Strong#Pass2026\n');
    assert.equal(made.status, 0, made.stderr);
    const other = await loginAs(srv.url, { username: name, password: 'Strong#Pass2026' });
    const pw = await other.post('/api/v1/auth/password', { old_password: 'Strong#Pass2026', new_password: 'Tianping#2026x' });
    assert.ok([200, 400, 422].includes(pw.status));
    assert.equal((await other.get(`/api/v1/cases/${a.case_no}`)).status, 404);
    assert.equal((await act(other, a.case_no, 'accept', { version: a.version })).status, 404);
    assert.equal((await other.get(`/api/v1/cases/${a.case_no}/receipt`)).status, 404);
    const list = await other.get('/api/v1/cases?view=all');
    assert.equal(list.status, 200);
    assert.ok(!list.body.cases.some((x) => x.case_no === a.case_no));
    const mine = await clerk.get('/api/v1/cases?view=today&limit=5');
    assert.equal(mine.body.cases.length, 5);
    assert.ok(mine.body.next_before);
    const page2 = await clerk.get(`/api/v1/cases?view=today&limit=5&before=${mine.body.next_before}`);
    assert.ok(page2.body.cases.every((x) => x.id < mine.body.next_before));
    assert.match(mine.body.cases[0].applicant.name, /\*/);
    const bad = await clerk.get('/api/v1/cases?view=everything');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'view');
  });

  test('calendar: list a year, an administrator changes a day (audited)', async () => {
    const r = await clerk.get('/api/v1/calendar?year=2026');
    assert.equal(r.status, 200);
    assert.ok(r.body.days.some((d) => d.date === '2026-02-14' && d.kind === 'workday'));
    assert.equal(r.body.days.filter((d) => d.kind === 'holiday').length, 33);
    assert.equal((await put(clerk, srv.url, '/api/v1/admin/calendar/2026-12-31', { kind: 'holiday', name: '测试' })).status, 403);
    const adm = await loginAs(srv.url, DEMO.admin);
    const bad = await put(adm, srv.url, '/api/v1/admin/calendar/2026-02-30', { kind: 'holiday', name: '测试' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'date');
    const set = await put(adm, srv.url, '/api/v1/admin/calendar/2026-12-31', { kind: 'holiday', name: '临时休息日' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.workday, false);
    assert.ok((await clerk.get('/api/v1/calendar?year=2026')).body.days.some((d) => d.date === '2026-12-31'));
    assert.equal(sql(srv, "SELECT count(*) FROM audit_log WHERE action = 'calendar.set' AND target = 'calendar:2026-12-31'"), '1');
    const back = await put(adm, srv.url, '/api/v1/admin/calendar/2026-12-31', { kind: 'normal' });
    assert.equal(back.body.workday, true);
  });
});

function dayBefore(n) {
  const d = new Date(Date.now() + 8 * 3600 * 1000 - n * 86400 * 1000);
  return d.toISOString().slice(0, 10);
}
