// 收受分离 (docs/cases.md "收受分离"): a case opened at one centre (A, 徐家汇) for a separated
// item is checked like an acceptance and forwarded to the responsible centre (B, 陆家嘴), which
// accepts it — and the hand-off to the department happens there. A reads it but cannot change
// it, a third centre (C, 天平路) does not see it; vwin_mode decides which entries are open.
// Against `serve --with-sim`.
//
// The separated item is 310001012000-01 (社会保险个人基本信息变更, vwin_mode dual, one required
// material applicant_id, no pre-review rules); 310001020000-01 is separated with vwin_mode
// original; 310006014000-01 has no 收受分离.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';

import { DEMO, admin, freePort, loginAs, sleep, sql, startServer, uniq } from './lib.mjs';
import { jpeg, raw } from './cases-lib.mjs';

const SUB = '310001012000-01';
const SUB_ORIGINAL = '310001020000-01';
const SUB_DIRECT_ONLY = '310006014000-01';
const A = '310104014C1';
const B = '310115005C1';

describe('收受分离', () => {
  let srv;
  let sim;
  let clerkA;
  let clerkB;
  let clerkC;
  let people;
  let next = 0;

  // A window clerk of centre org (made with `shouli admin user create`, first password changed).
  async function clerkOf(org) {
    const name = `fw_${uniq()}`;
    const made = admin(srv, ['user', 'create', name, '窗口人员', org, 'window_clerk'], 'Strong#Pass2026\n');
    assert.equal(made.status, 0, made.stderr);
    const c = await loginAs(srv.url, { username: name, password: 'Strong#Pass2026' });
    await c.post('/api/v1/auth/password', { old_password: 'Strong#Pass2026', new_password: 'Forward#2026x' });
    return c;
  }

  before(async () => {
    const port = await freePort();
    sim = `http://127.0.0.1:${port}`;
    srv = await startServer(['--with-sim', '--sim-port', String(port)]);
    clerkA = await loginAs(srv.url, DEMO.clerk);
    clerkB = await clerkOf(B);
    clerkC = await clerkOf('310104003C1');
    const r = await fetch(`${sim}/sim/people?min_age=30&max_age=60&hukou=1&limit=12`).then((x) => x.json());
    people = r.people;
    assert.ok(people.length >= 8, 'residents of the simulated population');
  });
  after(async () => {
    await srv?.stop();
  });

  async function resident() {
    const person = people[next++];
    const id = await clerkA.post('/api/v1/ident/manual', {
      type: '111',
      number: person.id_number,
      name: person.name,
      reason: '读卡器故障',
    });
    assert.ok([200, 201].includes(id.status), JSON.stringify(id.body));
    return { person, id: id.body.resident.id };
  }

  // A separated draft at A with its form filled (in 浦东新区 陆家嘴街道), optionally its material.
  async function separated({ material = true } = {}) {
    const { person, id } = await resident();
    const o = await clerkA.post('/api/v1/cases', { sub_item_code: SUB, resident_id: id, mode: 'separated' });
    assert.equal(o.status, 201, JSON.stringify(o.body));
    assert.equal(o.body.mode, 'separated');
    assert.equal(o.body.entry, 'window');
    assert.equal(o.body.receiving_org.code, A);
    assert.ok(o.body.actions.includes('forward'), JSON.stringify(o.body.actions));
    const applicant = {
      id_number: { type: '111', number: person.id_number },
      name: person.name,
      phone: '13800138000',
      address: { district: '310115', street: '陆家嘴街道', detail: '浦东南路 100 号' },
    };
    const data = { applicant, change: { items: ['phone'], new_phone: '13900139000' }, agent: { present: false } };
    const f = await raw(clerkA, srv.url, 'PUT', `/api/v1/cases/${o.body.case_no}/form`, JSON.stringify({ version: o.body.version, data }), 'application/json');
    assert.equal(f.status, 200, JSON.stringify(f.body));
    let version = f.body.version;
    if (material) {
      const up = await raw(clerkA, srv.url, 'POST', `/api/v1/cases/${o.body.case_no}/materials/applicant_id/files?source=scan`, jpeg(4000), 'image/jpeg');
      assert.equal(up.status, 201, JSON.stringify(up.body));
      version = (await clerkA.get(`/api/v1/cases/${o.body.case_no}`)).body.version;
    }
    return { no: o.body.case_no, version, person };
  }

  test('open at A, forward to B (suggested), A reads only, C sees nothing, B accepts and the hand-off happens', async () => {
    const c = await separated();
    // the targets: every other centre, B suggested from the applicant's address
    const t = await clerkA.get(`/api/v1/cases/${c.no}/forward-targets`);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.body.district.code, '310115');
    assert.ok(!t.body.targets.some((x) => x.code === A), 'not the own centre');
    const sug = t.body.targets.filter((x) => x.suggested).map((x) => x.code);
    assert.deepEqual(sug, [B]);
    assert.equal(t.body.targets[0].code, B);
    assert.equal(t.body.targets.find((x) => x.code === B).district.name, '浦东新区');

    // bad targets: not a centre, the own centre, unknown
    for (const [target, re] of [['310115', /不是受理中心/], [A, /本中心/], ['310999999C9', /不存在/]]) {
      const bad = await clerkA.post(`/api/v1/cases/${c.no}/forward`, { version: c.version, target });
      assert.equal(bad.status, 422, JSON.stringify(bad.body));
      assert.equal(bad.body.error.field, 'target');
      assert.match(bad.body.error.message, re);
    }

    // the receiving centre forwards; it does not accept a separated case itself
    const own = await clerkA.get(`/api/v1/cases/${c.no}`);
    assert.ok(own.body.actions.includes('forward'), JSON.stringify(own.body.actions));
    assert.ok(!own.body.actions.includes('accept'), JSON.stringify(own.body.actions));
    const self = await clerkA.post(`/api/v1/cases/${c.no}/accept`, { version: c.version });
    assert.equal(self.status, 409, JSON.stringify(self.body));
    assert.equal(self.body.error.field, 'mode');

    const fw = await clerkA.post(`/api/v1/cases/${c.no}/forward`, { version: c.version, target: B, note: '户籍地在浦东' });
    assert.equal(fw.status, 200, JSON.stringify(fw.body));
    assert.equal(fw.body.state, 'forwarded');
    assert.equal(fw.body.state_label, '已转交，待受理中心受理');
    assert.equal(fw.body.org.code, B);
    assert.equal(fw.body.receiving_org.code, A);
    assert.equal(fw.body.responsible_org.code, B);
    assert.equal(fw.body.view_only, true);
    assert.deepEqual(fw.body.actions, ['withdraw']);
    assert.equal(fw.body.forwarded.note, '户籍地在浦东');
    assert.equal(fw.body.delivery, null);
    const ev = fw.body.events.at(-1);
    assert.equal(ev.action, 'forward');
    assert.equal(ev.detail.target.code, B);

    // A: detail, materials, receipt and the 已转出 list; every change refused
    assert.equal((await clerkA.get(`/api/v1/cases/${c.no}/materials`)).status, 200);
    const rc = await clerkA.get(`/api/v1/cases/${c.no}/receipt`);
    assert.equal(rc.status, 200, JSON.stringify(rc.body));
    assert.equal(rc.body.kind, 'forwarded');
    assert.equal(rc.body.centre.code, A);
    assert.equal(rc.body.responsible_centre.code, B);
    assert.equal(rc.body.materials.length, 1);
    const out = await clerkA.get('/api/v1/cases?view=forwarded_out');
    assert.equal(out.status, 200);
    const mine = out.body.cases.find((x) => x.case_no === c.no);
    assert.ok(mine, 'in 已转出');
    assert.equal(mine.view_only, true);
    assert.equal(mine.org.code, B);
    const accA = await clerkA.post(`/api/v1/cases/${c.no}/accept`, { version: fw.body.version });
    assert.equal(accA.status, 403, JSON.stringify(accA.body));
    assert.match(accA.body.error.message, /收件中心只能查看/);
    const formA = await raw(clerkA, srv.url, 'PUT', `/api/v1/cases/${c.no}/form`, JSON.stringify({ version: fw.body.version, data: {} }), 'application/json');
    assert.equal(formA.status, 403);
    const matA = await raw(clerkA, srv.url, 'POST', `/api/v1/cases/${c.no}/materials/applicant_id/files?source=scan`, jpeg(4000), 'image/jpeg');
    assert.ok([403, 409].includes(matA.status), JSON.stringify(matA.body));

    // C: 404 everywhere, and not listed
    assert.equal((await clerkC.get(`/api/v1/cases/${c.no}`)).status, 404);
    assert.equal((await clerkC.get(`/api/v1/cases/${c.no}/receipt`)).status, 404);
    assert.equal((await clerkC.post(`/api/v1/cases/${c.no}/withdraw`, { version: fw.body.version, reason: '测试' })).status, 404);
    assert.ok(!(await clerkC.get('/api/v1/cases?view=all')).body.cases.some((x) => x.case_no === c.no));

    // B: 待接收, its own case; B cannot withdraw it (the receiving centre does)
    const inB = await clerkB.get('/api/v1/cases?view=forwarded_in');
    assert.ok(inB.body.cases.some((x) => x.case_no === c.no && x.view_only === false));
    const atB = await clerkB.get(`/api/v1/cases/${c.no}`);
    assert.equal(atB.status, 200);
    assert.equal(atB.body.view_only, false);
    assert.deepEqual(atB.body.actions.sort(), ['accept', 'refuse', 'request_correction']);
    const wB = await clerkB.post(`/api/v1/cases/${c.no}/withdraw`, { version: atB.body.version, reason: '测试撤回' });
    assert.equal(wB.status, 403);
    const acc = await clerkB.post(`/api/v1/cases/${c.no}/accept`, { version: atB.body.version });
    assert.equal(acc.status, 200, JSON.stringify(acc.body));
    assert.equal(acc.body.state, 'accepted');
    assert.equal(acc.body.accepted_by, '窗口人员');
    assert.ok(acc.body.promised_date === null || acc.body.promised_date >= new Date().toISOString().slice(0, 10));
    assert.ok(acc.body.delivery, 'a delivery is planned at acceptance');

    // the hand-off: delivered from B's acceptance, the department knows B as the centre
    let cur;
    const deadline = Date.now() + 20000;
    for (;;) {
      cur = (await clerkB.get(`/api/v1/cases/${c.no}`)).body;
      if (['delivered', 'dead'].includes(cur.delivery?.state) || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.equal(cur.delivery.state, 'delivered', JSON.stringify(cur.delivery));
    assert.equal(cur.state, 'in_progress');
    // A still reads it, as what it forwarded
    const seen = await clerkA.get(`/api/v1/cases/${c.no}`);
    assert.equal(seen.status, 200);
    assert.equal(seen.body.state, 'in_progress');
    assert.deepEqual(seen.body.actions, []);
    // recorded for statistics, audited, both centres' lists told
    assert.equal(
      sql(srv, `SELECT c.mode || '|' || c.entry || '|' || r.code || '|' || o.code FROM cases c JOIN orgs o ON o.id = c.org_id JOIN orgs r ON r.id = c.receiving_org_id WHERE case_no = '${c.no}'`),
      `separated|window|${A}|${B}`,
    );
    assert.equal(sql(srv, `SELECT count(*) FROM audit_log WHERE action = 'case.forward' AND target = 'case:${c.no}'`), '1');
    assert.match(sql(srv, `SELECT payload FROM events WHERE kind = 'case.forward' AND aggregate LIKE 'case:%' ORDER BY id DESC LIMIT 1`), /also_path/);
  });

  test('an incomplete case is not forwarded: 422 with the problems', async () => {
    const c = await separated({ material: false });
    const r = await clerkA.post(`/api/v1/cases/${c.no}/forward`, { version: c.version, target: B });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.match(r.body.error.message, /转交前检查未通过/);
    assert.ok(r.body.problems.some((p) => p.kind === 'materials' && p.field === 'applicant_id'), JSON.stringify(r.body.problems));
    assert.equal((await clerkA.get(`/api/v1/cases/${c.no}`)).body.state, 'draft');
  });

  test('A withdraws a forwarded case before B accepts it', async () => {
    const c = await separated();
    const fw = await clerkA.post(`/api/v1/cases/${c.no}/forward`, { version: c.version, target: B });
    assert.equal(fw.status, 200, JSON.stringify(fw.body));
    const w = await clerkA.post(`/api/v1/cases/${c.no}/withdraw`, { version: fw.body.version, reason: '申请人撤回申请' });
    assert.equal(w.status, 200, JSON.stringify(w.body));
    assert.equal(w.body.state, 'withdrawn');
    const atB = await clerkB.get(`/api/v1/cases/${c.no}`);
    assert.equal(atB.body.state, 'withdrawn');
    const late = await clerkB.post(`/api/v1/cases/${c.no}/accept`, { version: atB.body.version });
    assert.equal(late.status, 409);
  });

  test('B asks for a correction of a forwarded case; resumed, it is forwarded again', async () => {
    const c = await separated();
    const fw = await clerkA.post(`/api/v1/cases/${c.no}/forward`, { version: c.version, target: B });
    const rq = await clerkB.post(`/api/v1/cases/${c.no}/request_correction`, { version: fw.body.version, items: [{ material: 'applicant_id', note: '证件照片不清晰' }] });
    assert.equal(rq.status, 200, JSON.stringify(rq.body));
    assert.equal(rq.body.prev_state, 'forwarded');
    const rs = await clerkB.post(`/api/v1/cases/${c.no}/resume`, { version: rq.body.version });
    assert.equal(rs.status, 200, JSON.stringify(rs.body));
    assert.equal(rs.body.state, 'forwarded');
  });

  test('modes and entries: vwin_mode decides which are open', async () => {
    const { id } = await resident();
    const open = (body) => clerkA.post('/api/v1/cases', { resident_id: id, allow_duplicate: true, ...body });
    let r = await open({ sub_item_code: SUB, mode: 'both' });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.field, 'mode');
    r = await open({ sub_item_code: SUB, entry: 'kiosk' });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.field, 'entry');
    r = await open({ sub_item_code: SUB_DIRECT_ONLY, mode: 'separated' });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.message, '该事项不支持收受分离');
    // original: the virtual entry is refused
    r = await open({ sub_item_code: SUB_ORIGINAL, mode: 'separated', entry: 'virtual' });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.message, '该事项不支持虚拟窗口收受分离');
    r = await open({ sub_item_code: SUB_ORIGINAL, mode: 'separated' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // dual: both; once a virtual window took it, the traditional entry is closed for it
    r = await open({ sub_item_code: SUB, mode: 'separated', entry: 'virtual' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.entry, 'virtual');
    assert.equal(r.body.entry_label, '远程虚拟窗口');
    const taken = r.body.case_no;
    r = await open({ sub_item_code: SUB, mode: 'separated' });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.field, 'entry');
    assert.ok(r.body.error.message.includes(taken));
    // a direct case has no forward
    const d = await open({ sub_item_code: SUB_DIRECT_ONLY });
    assert.equal(d.status, 201);
    assert.equal(d.body.mode, 'direct');
    assert.ok(!d.body.actions.includes('forward'));
    const f = await clerkA.post(`/api/v1/cases/${d.body.case_no}/forward`, { version: d.body.version, target: B });
    assert.equal(f.status, 409);
    assert.equal(f.body.error.field, 'mode');
  });
});
