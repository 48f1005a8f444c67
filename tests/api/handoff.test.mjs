// Hand-off to the departments (docs/handoff.md): an accepted case reaches the department's
// system exactly once, is reported to the 办件库 with the 办理人 its rules require, and shows
// its delivery state — through a department outage and through a kill -9 of the server.
//
// The simulators run as a process of their own (`shouli sim`), so that they outlive the
// server in the crash test and can count what the department received across it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DEMO, loginAs, sleep, sql, startServer, startSim } from './lib.mjs';
import { caseKit, merge } from './cases-lib.mjs';

const ELDER = '310003001000-01'; // 民政 老年综合津贴 (flow minzheng.elder_allowance.submit)
const DISABILITY = '310006002000-01'; // 残联 残疾人证换领 (handler_rule disabled_helper)

describe('hand-off: every accepted case reaches its department exactly once', () => {
  let sim, srv, clerk, catalog;
  const extra = () => ['--sim-url', sim.url];

  const { simSend, person, self, acceptCase, getCase, until, appsOf, bjkRecord } = caseKit(() => ({
    sim: sim.url,
    srv,
    clerk,
    catalog,
  }));

  before(async () => {
    sim = await startSim();
    srv = await startServer(extra());
    clerk = await loginAs(srv.url, DEMO.clerk);
    catalog = await loginAs(srv.url, DEMO.catalog);
  });
  after(async () => {
    await srv?.stop();
    await sim?.stop();
  });

  test('delivered: one application at the department, the case in progress, the 办件库 record', async () => {
    const p = await person('min_age=66&max_age=85&hukou=1&enrolled=0');
    const no = await acceptCase(
      ELDER,
      p,
      merge(self(p), { applicant: { hukou_local: true }, payment: { channel: 'ssc' }, agent: { present: false } }),
    );
    const k = await until(no, (x) => x.delivery.state === 'delivered', 20000, 'delivered');
    assert.equal(k.state, 'in_progress');
    assert.match(k.delivery.dept_case_no, /^[A-Z]+\d+/);
    assert.ok(k.delivery.delivered_at);
    assert.equal(k.delivery.attempts, 1);
    assert.equal(k.delivery.reported, 'ok');
    // the timeline: started by the system with the department's number
    const start = k.events.find((e) => e.action === 'start');
    assert.ok(start, JSON.stringify(k.events));
    assert.equal(start.actor, 'system');
    assert.ok(JSON.stringify(start.detail).includes(k.delivery.dept_case_no));
    const apps = await appsOf('minzheng', p.id_number, no);
    assert.equal(apps.length, 1, JSON.stringify(apps));
    assert.equal(apps[0].dept_case_no, k.delivery.dept_case_no);
    const rec = await bjkRecord(no);
    assert.ok(rec, 'no 办件库 record');
    // accept first (the submit flow); handle follows once started (decide.test.mjs)
    assert.equal(rec.stages[0].stage, 'accept');
    assert.equal(rec.record.handler.id_number, p.id_number);
    assert.equal(rec.record.handler.name, p.name);
    assert.equal(rec.record.centre?.code ?? rec.record.accept_unit_code, '310104014C1');
    assert.equal(rec.record.dept_case_no, k.delivery.dept_case_no);
    // the same case again does not move: the version is where the system left it
    await sleep(1500);
    const later = await getCase(no);
    assert.equal(later.version, k.version);
    assert.equal((await appsOf('minzheng', p.id_number, no)).length, 1);
  });

  test('withdrawn before it left: cancelled, nothing reaches the department', async () => {
    const down = await simSend('POST', '/sim/faults', { prefix: '/minzheng', status: 503 });
    assert.equal(down.status, 200);
    let no, p;
    try {
      p = await person('min_age=66&max_age=85&hukou=1&enrolled=0');
      no = await acceptCase(
        ELDER,
        p,
        merge(self(p), { applicant: { hukou_local: true }, payment: { channel: 'ssc' }, agent: { present: false } }),
      );
      const failed = await until(no, (x) => x.delivery.state === 'failed', 20000, 'failed once');
      const w = await clerk.post(`/api/v1/cases/${no}/withdraw`, { version: failed.version, reason: '居民申请撤回' });
      assert.equal(w.status, 200, JSON.stringify(w.body));
    } finally {
      await simSend('DELETE', '/sim/faults');
    }
    // the next attempt finds the case withdrawn: it is not sent
    const k = await until(no, (x) => x.delivery.state === 'cancelled', 30000, 'cancelled');
    assert.equal(k.state, 'withdrawn');
    assert.equal(k.delivery.dept_case_no, null);
    await sleep(1000);
    assert.equal((await appsOf('minzheng', p.id_number, no)).length, 0);
  });

  test('a permanent refusal goes dead at once and stays visible', async () => {
    // 310005003000-02 submits through shuiwu.refund_query, which the 税务 simulator answers
    // 404 for a refund it does not know: no retry can change that.
    const p = await person('min_age=30&max_age=60&hukou=1');
    const no = await acceptCase('310005003000-02', p, self(p));
    const k = await until(no, (x) => x.delivery.state === 'dead', 20000, 'dead');
    assert.equal(k.state, 'accepted');
    assert.equal(k.delivery.attempts, 1);
    assert.match(k.delivery.last_error, /shuiwu\.refund_query/);
    assert.equal(k.delivery.dept_case_no, null);
    assert.equal(sql(srv, `SELECT status FROM events WHERE idempotency_key = 'submit:${no}'`), 'dead');
  });

  test('department down: failed with attempts rising, then delivered exactly once', async () => {
    const down = await simSend('POST', '/sim/faults', { prefix: '/minzheng', status: 503 });
    assert.equal(down.status, 200);
    let no, p;
    try {
      p = await person('min_age=66&max_age=85&hukou=1&enrolled=0');
      no = await acceptCase(
        ELDER,
        p,
        merge(self(p), { applicant: { hukou_local: true }, payment: { channel: 'ssc' }, agent: { present: false } }),
      );
      const failed = await until(no, (x) => x.delivery.state === 'failed' && x.delivery.attempts >= 2, 20000, 'failed twice');
      assert.equal(failed.state, 'accepted');
      assert.match(failed.delivery.last_error, /提交流程 minzheng\.elder_allowance\.submit/);
      assert.ok(failed.delivery.next_attempt_at);
      assert.equal(failed.delivery.dept_case_no, null);
      assert.equal((await appsOf('minzheng', p.id_number, no)).length, 0);
    } finally {
      await simSend('DELETE', '/sim/faults');
    }
    // backoff (doubling) plus the connector's breaker (open 20 s) bound the recovery
    const k = await until(no, (x) => x.delivery.state === 'delivered', 60000, 'delivered after recovery');
    assert.equal(k.state, 'in_progress');
    assert.ok(k.delivery.attempts >= 3, JSON.stringify(k.delivery));
    const apps = await appsOf('minzheng', p.id_number, no);
    assert.equal(apps.length, 1, JSON.stringify(apps));
    assert.equal(apps[0].dept_case_no, k.delivery.dept_case_no);
    assert.equal(k.events.filter((e) => e.action === 'start').length, 1);
  });

  test('残联 with a helper: the disabled person is 办理人; an agent case: the agent is', async () => {
    const p = await person('has=disability&hukou=1&min_age=20&max_age=70');
    const helped = await acceptCase(
      DISABILITY,
      p,
      merge(self(p), {
        guardian: { present: false },
        helper: { present: true, name: '赵助残', staff_no: 'ZC0001', phone: '13800138000' },
        renew: { reason: '2' },
      }),
    );
    const q = await person('min_age=66&max_age=85&hukou=1&enrolled=0');
    const agentP = await person('min_age=30&max_age=60');
    const agented = await acceptCase(
      ELDER,
      q,
      merge(self(q), {
        applicant: { hukou_local: true },
        payment: { channel: 'ssc' },
        agent: {
          present: true,
          id_number: { type: '111', number: agentP.id_number },
          name: agentP.name,
          phone: '13700137000',
        },
      }),
    );
    for (const no of [helped, agented]) await until(no, (x) => x.delivery.state === 'delivered', 20000, 'delivered');
    const h = await bjkRecord(helped);
    assert.ok(h, 'no 办件库 record of the helped case');
    assert.equal(h.record.handler.id_number, p.id_number);
    assert.equal(h.record.helper.name, '赵助残');
    assert.notEqual(h.record.handler.name, '赵助残');
    const k = await getCase(helped);
    assert.equal(k.delivery.reported, 'ok');
    const a = await bjkRecord(agented);
    assert.ok(a, 'no 办件库 record of the agent case');
    assert.equal(a.record.handler.id_number, agentP.id_number);
    assert.equal(a.record.applicant.id_number, q.id_number);
  });

  test('kill -9 while the department is answering: delivered exactly once after restart', async () => {
    const slow = await simSend('POST', '/sim/faults', { prefix: '/minzheng', latency_ms: 3000 });
    assert.equal(slow.status, 200);
    const p = await person('min_age=66&max_age=85&hukou=1&enrolled=0');
    const no = await acceptCase(
      ELDER,
      p,
      merge(self(p), { applicant: { hukou_local: true }, payment: { channel: 'ssc' }, agent: { present: false } }),
    );
    await until(no, (x) => x.delivery.state === 'delivering', 10000, 'delivering');
    await sleep(1000);
    process.kill(srv.pid, 'SIGKILL');
    assert.equal((await srv.exited()).signal, 'SIGKILL');
    await simSend('DELETE', '/sim/faults');
    // the dead worker's lease holds for lease_ms (5 min); age it instead of waiting
    const row = sql(srv, `SELECT status FROM events WHERE idempotency_key = 'submit:${no}'`);
    assert.equal(row, 'delivering');
    sql(srv, `UPDATE events SET locked_until = 1 WHERE idempotency_key = 'submit:${no}'`);
    const first = srv;
    srv = await startServer(extra(), { share: first });
    const oldStop = srv.stop;
    srv.stop = async () => {
      await oldStop();
      await first.stop();
    };
    clerk = await loginAs(srv.url, DEMO.clerk);
    catalog = await loginAs(srv.url, DEMO.catalog);
    const k = await until(no, (x) => x.delivery.state === 'delivered', 30000, 'delivered after restart');
    assert.equal(k.state, 'in_progress');
    assert.ok(k.delivery.attempts >= 2, JSON.stringify(k.delivery));
    const apps = await appsOf('minzheng', p.id_number, no);
    assert.equal(apps.length, 1, JSON.stringify(apps));
    assert.equal(apps[0].dept_case_no, k.delivery.dept_case_no);
    assert.equal(k.events.filter((e) => e.action === 'start').length, 1);
  });

  test('a code change in force while the department is down: delivered and reported under the new code', async () => {
    const down = await simSend('POST', '/sim/faults', { prefix: '/minzheng', status: 503 });
    assert.equal(down.status, 200);
    let no;
    try {
      const p = await person('min_age=66&max_age=85&hukou=1&enrolled=0');
      no = await acceptCase(
        ELDER,
        p,
        merge(self(p), { applicant: { hukou_local: true }, payment: { channel: 'ssc' }, agent: { present: false } }),
      );
      await until(no, (x) => x.delivery.state === 'failed', 20000, 'failed');
      // 老年综合津贴 gets a new code today (seed row 29), while its delivery waits for a retry
      const today = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
      const ch = await catalog.post('/api/v1/admin/catalog/code-changes', {
        old: '310003001000',
        new: '310003901000',
        effective: today,
        reason: '全市公共服务事项统一编码',
      });
      assert.equal(ch.status, 201, JSON.stringify(ch.body));
      assert.equal(ch.body.code_change.status, 'applied');
    } finally {
      await simSend('DELETE', '/sim/faults');
    }
    const k = await until(no, (x) => x.delivery.state === 'delivered', 60000, 'delivered after recovery');
    assert.equal(k.sub_item.code, ELDER, 'the case keeps the code it was opened under');
    const rec = await bjkRecord(no);
    // the accept stage itself (the submit flow, sent after the change) carries the new code
    assert.equal(rec.stages[0].stage, 'accept');
    assert.equal(rec.stages[0].sub_item_code, '310003901000-01');
    assert.equal(rec.record.item_code, '310003901000');
  });
});
