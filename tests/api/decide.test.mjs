// Department decisions and the 办件库 stages (docs/handoff.md "Decisions", "办件库 stages"):
// a delivered case is polled by the job cases.decisions (run here by an operator's "run now")
// and follows the department — approved or rejected: completed with its opinion; correction:
// in correction with its items; the department down: still in progress, decided once later;
// withdrawn after delivery: the department cancels. The 办件库 gets accept, handle and finish.
// The 办件库 simulator refuses a record whose 办理人 breaks a rule (残联 helper, guardian, agent,
// applicant, 人户分离登记).
//
// The simulators run as a process of their own (`shouli sim`), as in handoff.test.mjs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DEMO, loginAs, sleep, startServer, startSim } from './lib.mjs';
import { caseKit, merge } from './cases-lib.mjs';

const ELDER = '310003001000-01'; // 民政 老年综合津贴 (flow minzheng.elder_allowance.submit)
const DISABILITY = '310006002000-01'; // 残联 残疾人证换领 (handler_rule disabled_helper)

describe('decisions: the department decides, the case follows, the 办件库 hears every stage', () => {
  let sim, srv, clerk, catalog, ops;
  const extra = () => ['--sim-url', sim.url];

  const { simSend, person, self, acceptCase, getCase, until, appsOf, bjkRecord } = caseKit(() => ({
    sim: sim.url,
    srv,
    clerk,
    catalog,
  }));

  const elder = async () => {
    const p = await person('min_age=66&max_age=85&hukou=1&enrolled=0');
    const no = await acceptCase(
      ELDER,
      p,
      merge(self(p), { applicant: { hukou_local: true }, payment: { channel: 'ssc' }, agent: { present: false } }),
    );
    const k = await until(no, (x) => x.delivery.state === 'delivered' && x.state === 'in_progress', 20000, 'delivered');
    return { p, no, k };
  };

  // An operator's "run now" of the job; resolves once the run is recorded as finished.
  async function runJob() {
    const job = 'cases.decisions';
    const last = (await ops.get(`/api/v1/admin/jobs/${job}/runs?limit=1`)).body.runs[0]?.id ?? 0;
    const r = await ops.post(`/api/v1/admin/jobs/${job}/run`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      const run = (await ops.get(`/api/v1/admin/jobs/${job}/runs?limit=1`)).body.runs[0];
      if (run && run.id > last && run.outcome !== 'running') return run;
      await sleep(150);
    }
    assert.fail('the job did not run');
  }

  const decide = (sys, deptNo, body) => simSend('POST', `/sim/${sys}/applications/${deptNo}/decide`, body);
  const stagesOf = (k) => k.bjk.stages.map((s) => `${s.stage}:${s.state}`);

  before(async () => {
    sim = await startSim();
    srv = await startServer(extra());
    clerk = await loginAs(srv.url, DEMO.clerk);
    catalog = await loginAs(srv.url, DEMO.catalog);
    ops = await loginAs(srv.url, DEMO.ops);
  });
  after(async () => {
    await srv?.stop();
    await sim?.stop();
  });

  test('approved: completed with the department opinion; 办件库 accept, handle, finish', async () => {
    const { no, k } = await elder();
    assert.equal(k.delivery.decision.dept_system, 'minzheng');
    assert.ok(k.delivery.decision.next_check_at);
    // not decided yet: the poll leaves the case as it is
    await runJob();
    let c = await getCase(no);
    assert.equal(c.state, 'in_progress');
    assert.equal(c.version, k.version);
    assert.equal(c.delivery.decision.checks, 1);
    const d = await decide('minzheng', k.delivery.dept_case_no, { status: 'approved', decision: '符合条件，准予发放老年综合津贴', cert_no: 'MZ-JT-2026-000123' });
    assert.equal(d.status, 200, await d.text());
    const run = await runJob();
    assert.match(run.message, /已应用部门决定 [1-9]/);
    c = await getCase(no);
    assert.equal(c.state, 'completed');
    assert.equal(c.result, 'approved');
    assert.equal(c.result_opinion, '符合条件，准予发放老年综合津贴');
    assert.equal(c.cert_no, 'MZ-JT-2026-000123');
    const done = c.events.filter((e) => e.action === 'complete');
    assert.equal(done.length, 1);
    assert.equal(done[0].actor, 'system');
    // once: another run changes nothing
    await runJob();
    const again = await getCase(no);
    assert.equal(again.version, c.version);
    assert.equal(again.events.filter((e) => e.action === 'complete').length, 1);
    // the 办件库: accept (submit flow), handle (start), finish (complete)
    const k2 = await until(no, (x) => x.bjk.stages.every((s) => s.state === 'ok') && x.bjk.stages.length === 3, 20000, 'reported');
    assert.deepEqual(stagesOf(k2), ['accept:ok', 'handle:ok', 'finish:ok']);
    const rec = await bjkRecord(no);
    assert.deepEqual(rec.stages.map((s) => s.stage), ['accept', 'handle', 'finish']);
    assert.equal(rec.record.stage, 'finish');
    assert.equal(rec.record.result, 'approved');
    assert.ok(rec.record.finished_at);
    // the 办理人 of the accept record survives the later stages
    assert.ok(rec.record.handler?.id_number);
  });

  test('rejected: completed with result rejected', async () => {
    const { no, k } = await elder();
    await decide('minzheng', k.delivery.dept_case_no, { status: 'rejected', decision: '不符合申领条件' });
    await runJob();
    const c = await getCase(no);
    assert.equal(c.state, 'completed');
    assert.equal(c.result, 'rejected');
    assert.equal(c.result_opinion, '不符合申领条件');
  });

  test('correction: the case goes to correction with the department items, then is decided', async () => {
    const { no, k } = await elder();
    const d = await decide('minzheng', k.delivery.dept_case_no, {
      status: 'correction',
      decision: '材料不全',
      items: ['补充户口簿首页复印件', { note: '银行卡信息不清晰', material: 'bank' }],
    });
    assert.equal(d.status, 200, await d.text());
    await runJob();
    let c = await getCase(no);
    assert.equal(c.state, 'correction');
    assert.deepEqual(c.correction.items.map((i) => i.note), ['补充户口簿首页复印件', '银行卡信息不清晰']);
    assert.equal(c.events.at(-1).actor, 'system');
    // the clerk collects and resumes; the department still shows the same correction: no second one
    const r = await clerk.post(`/api/v1/cases/${no}/resume`, { version: c.version, note: '已补正' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'in_progress');
    await runJob();
    c = await getCase(no);
    assert.equal(c.state, 'in_progress');
    assert.equal(c.events.filter((e) => e.action === 'request_correction').length, 1);
    await decide('minzheng', k.delivery.dept_case_no, { status: 'approved', decision: '补正后准予' });
    await runJob();
    c = await getCase(no);
    assert.equal(c.state, 'completed');
    const k2 = await until(no, (x) => x.bjk.stages.length === 5 && x.bjk.stages.every((s) => s.state === 'ok'), 20000, 'reported');
    assert.deepEqual(stagesOf(k2), ['accept:ok', 'handle:ok', 'handle:ok', 'handle:ok', 'finish:ok']);
  });

  test('department down while polling: still in progress, then decided once', async () => {
    const { no, k } = await elder();
    await decide('minzheng', k.delivery.dept_case_no, { status: 'approved', decision: '准予' });
    const down = await simSend('POST', '/sim/faults', { prefix: '/minzheng', status: 503 });
    assert.equal(down.status, 200);
    try {
      await runJob();
      const c = await getCase(no);
      assert.equal(c.state, 'in_progress');
      assert.match(c.delivery.decision.error, /minzheng\.application_status/);
    } finally {
      await simSend('DELETE', '/sim/faults');
    }
    // the connector's breaker may still be open for a while: run until the poll gets through
    const deadline = Date.now() + 40000;
    let c;
    while (Date.now() < deadline) {
      await runJob();
      c = await getCase(no);
      if (c.state === 'completed') break;
      await sleep(1000);
    }
    assert.equal(c.state, 'completed');
    assert.equal(c.delivery.decision.error, null);
    assert.equal(c.events.filter((e) => e.action === 'complete').length, 1);
  });

  test('withdrawn after delivery: the department cancels the application', async () => {
    const { p, no, k } = await elder();
    const w = await clerk.post(`/api/v1/cases/${no}/withdraw`, { version: k.version, reason: '居民申请撤回' });
    assert.equal(w.status, 200, JSON.stringify(w.body));
    const deadline = Date.now() + 20000;
    let app;
    while (Date.now() < deadline) {
      app = (await appsOf('minzheng', p.id_number, no))[0];
      if (app?.status === 'cancelled') break;
      await sleep(200);
    }
    assert.equal(app?.status, 'cancelled');
    const c = await until(no, (x) => x.delivery.decision.dept_status === 'cancelled', 10000, 'cancel recorded');
    assert.equal(c.state, 'withdrawn');
    const k2 = await until(no, (x) => x.bjk.stages.at(-1)?.stage === 'finish' && x.bjk.stages.at(-1).state === 'ok', 20000, 'finish');
    assert.deepEqual(stagesOf(k2), ['accept:ok', 'handle:ok', 'finish:ok']);
    assert.equal((await bjkRecord(no)).record.result, 'withdrawn');
  });

  test('the 办件库 refuses a 办理人 that breaks a rule and takes the right one', async () => {
    const [ap, ag, gu] = [await person('min_age=10&max_age=15'), await person('min_age=30&max_age=60'), await person('min_age=30&max_age=60')];
    const person_ = (w) => ({ id_type: '111', id_number: w.id_number, name: w.name });
    const base = { item_code: '310003001000', stage: 'accept', accept_unit: '测试中心', accept_time: '2026-01-05T09:00:00+08:00' };
    const cases = [
      // 残联 with a helper: the disabled person, never the helper
      { rec: { sub_item_code: '310006002000-01', applicant: person_(ap), helper: { id_type: 'staff_no', id_number: 'ZC1', name: '赵助残' } }, bad: { id_type: 'staff_no', id_number: 'ZC1', name: '赵助残' }, good: person_(ap) },
      // a guardian: the guardian
      { rec: { applicant: person_(ap), guardian: person_(gu) }, bad: person_(ap), good: person_(gu) },
      // an agent: the agent
      { rec: { applicant: person_(ap), agent: person_(ag) }, bad: person_(ap), good: person_(ag) },
      // nobody else: the applicant
      { rec: { applicant: person_(ag) }, bad: person_(gu), good: person_(ag) },
      // 人户分离登记 registered by an agent: the agent (the police rule)
      { rec: { item_code: '310004003000', item_name: '人户分离登记', applicant: person_(ap), agent: person_(ag) }, bad: person_(ap), good: person_(ag), police: true },
    ];
    // through the 办件库 connector (it signs with SM2 as the simulator requires)
    const bjkPost = async (rec) => {
      const r = await ops.post('/api/v1/admin/gateway/connectors/bjk/test', { method: 'case_report', request: rec });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return { status: r.body.http_status, body: r.body.response };
    };
    let i = 0;
    for (const c of cases) {
      const caseNo = `TEST-BJK-RULE-${++i}`;
      const bad = await bjkPost({ ...base, ...c.rec, case_no: caseNo, handler: c.bad });
      assert.equal(bad.status, 422, `rule ${i}: ${JSON.stringify(bad.body)}`);
      const why = bad.body;
      assert.ok(why.errors.some((e) => e.field.startsWith('handler')), JSON.stringify(why));
      if (c.police) assert.match(JSON.stringify(why), /人户分离登记.*公安要求/);
      const good = await bjkPost({ ...base, ...c.rec, case_no: caseNo, handler: c.good });
      assert.equal(good.status, 200, `rule ${i}: ${JSON.stringify(good.body)}`);
    }
  });
});
