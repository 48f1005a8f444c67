// Queues and tickets (docs/queue.md): a manager sets up groups and windows, tickets are
// issued on site and from a terminal, clerks call them — concurrently, never one ticket twice —
// a ticket changes centre keeping its place, stuck tickets are resolved by the sweeper, and a
// 差评 opens a follow-up task.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DEMO, client, loginAs, sleep, sql, startServer } from './lib.mjs';

describe('queues: groups, windows, tickets, calling, change of centre, sweeper, ratings', () => {
  let srv, manager, clerk, ops, anon, centre, centre2;

  before(async () => {
    srv = await startServer();
    [manager, clerk, ops] = await Promise.all([
      loginAs(srv.url, DEMO.manager),
      loginAs(srv.url, DEMO.clerk),
      loginAs(srv.url, DEMO.ops),
    ]);
    anon = client(srv.url);
    centre = Number(sql(srv, "SELECT id FROM orgs WHERE code = '310104014C1'"));
    centre2 = Number(sql(srv, "SELECT id FROM orgs WHERE code = '310104003C1'"));
  });
  after(async () => {
    await srv?.stop();
  });

  const issue = async (body) => {
    const r = await manager.post('/api/v1/queue/tickets', { centre_id: centre, ...body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  const window = async (code, groups) => {
    const r = await manager.post('/api/v1/admin/queue/windows', { code, name: `${code}号窗口`, groups });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal((await clerk.post(`/api/v1/queue/windows/${r.body.id}/signin`)).status, 200);
    return r.body;
  };
  const status = async (t) => (await anon.get(`/api/v1/queue/tickets/${t.ticket.id}?token=${t.token}`)).body;
  async function runJob(name) {
    const before = (await ops.get(`/api/v1/admin/jobs/${name}/runs?limit=1`)).body.runs.length;
    assert.equal((await ops.post(`/api/v1/admin/jobs/${name}/run`)).status, 202);
    for (let i = 0; i < 100; i++) {
      const runs = (await ops.get(`/api/v1/admin/jobs/${name}/runs?limit=5`)).body.runs;
      const done = runs.find((x) => x.manual && x.outcome !== 'running');
      if (done && runs.length > before) return done;
      await sleep(100);
    }
    throw new Error(`${name} did not run`);
  }

  test('groups and windows are validated, naming the field', async () => {
    let r = await manager.post('/api/v1/admin/queue/groups', { code: 'a1', name: '错误' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'code');
    r = await manager.post('/api/v1/admin/queue/groups', { code: 'QC', name: '并发组', departments: ['rensha'] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.centre_id, centre);
    assert.deepEqual(r.body.departments, ['rensha']);
    r = await manager.post('/api/v1/admin/queue/groups', { code: 'QC', name: '重复' });
    assert.equal(r.status, 409);
    assert.match(r.body.error.message, /QC/);
    r = await manager.post('/api/v1/admin/queue/windows', { code: 'X1', name: '窗口', groups: ['ZZ'] });
    assert.equal(r.status, 404);
    assert.equal(r.body.error.field, 'groups');
    assert.equal((await clerk.post('/api/v1/admin/queue/groups', { code: 'QX', name: '无权' })).status, 403);
  });

  test('20 windows call at once over 10 tickets: each ticket is called exactly once', async () => {
    const wins = [];
    for (let i = 0; i < 20; i++) wins.push(await window(`C${String(i).padStart(2, '0')}`, ['QC']));
    const issued = [];
    for (let i = 0; i < 10; i++) issued.push(await issue({ group_code: 'QC' }));
    assert.deepEqual(
      issued.map((t) => t.ticket.ticket_no),
      ['QC001', 'QC002', 'QC003', 'QC004', 'QC005', 'QC006', 'QC007', 'QC008', 'QC009', 'QC010'],
    );
    assert.equal(issued[3].position, 4);
    const res = await Promise.all(wins.map((w) => clerk.post(`/api/v1/queue/windows/${w.id}/call_next`)));
    const ok = res.filter((r) => r.status === 200);
    const none = res.filter((r) => r.status !== 200);
    assert.equal(ok.length, 10);
    assert.ok(none.every((r) => r.status === 404 && /暂无等候/.test(r.body.error.message)), JSON.stringify(none[0]?.body));
    const ids = ok.map((r) => r.body.id);
    assert.equal(new Set(ids).size, 10);
    assert.deepEqual([...ids].sort((a, b) => a - b), issued.map((t) => t.ticket.id).sort((a, b) => a - b));
    for (const r of ok) assert.equal(r.body.call_count, 1);
    // in the database too: every ticket called once, by one window
    assert.equal(sql(srv, "SELECT COUNT(*) FROM queue_tickets WHERE state = 'called' AND call_count = 1"), '10');
    assert.equal(sql(srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'queue.ticket.call'"), '10');
  });

  test('one window: the oldest first, recall, skip, transfer keeps the place, finish, rate', async () => {
    const g = await manager.post('/api/v1/admin/queue/groups', { code: 'QS', name: '社保', items: ['310006001000'] });
    assert.equal(g.status, 201);
    await manager.post('/api/v1/admin/queue/groups', { code: 'QT', name: '转入组' });
    const w = await window('S1', ['QS']);
    const w2 = await window('S2', ['QT']);
    const t1 = await issue({ item_code: '310006001000-01' });
    const t2 = await issue({ group_code: 'QS' });
    assert.equal(t1.ticket.group.code, 'QS');
    assert.match(t1.token, /^[0-9a-f]{32}$/);
    assert.ok(t1.wait.high >= t1.wait.minutes && t1.wait.minutes >= t1.wait.low);
    let r = await clerk.post(`/api/v1/queue/windows/${w.id}/call_next`);
    assert.equal(r.body.ticket_no, t1.ticket.ticket_no);
    // the window must finish its ticket before calling the next
    r = await clerk.post(`/api/v1/queue/windows/${w.id}/call_next`);
    assert.equal(r.status, 409);
    assert.equal((await clerk.post(`/api/v1/queue/tickets/${t1.ticket.id}/recall`)).body.call_count, 2);
    r = await clerk.post(`/api/v1/queue/tickets/${t1.ticket.id}/transfer`, { group_code: 'QT' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'waiting');
    // transferred, it is ahead of anything issued after it in the new group
    const t3 = await issue({ group_code: 'QT' });
    assert.equal(t3.position, 2);
    r = await clerk.post(`/api/v1/queue/windows/${w2.id}/call_next`);
    assert.equal(r.body.id, t1.ticket.id);
    assert.equal((await clerk.post(`/api/v1/queue/tickets/${t1.ticket.id}/finish`)).status, 409); // not started
    assert.equal((await clerk.post(`/api/v1/queue/tickets/${t1.ticket.id}/start`)).body.state, 'serving');
    r = await clerk.post(`/api/v1/queue/tickets/${t1.ticket.id}/finish`, { case_no: 'NO-SUCH-CASE' });
    assert.equal(r.status, 404);
    assert.equal(r.body.error.field, 'case_no');
    r = await clerk.post(`/api/v1/queue/tickets/${t1.ticket.id}/finish`);
    assert.equal(r.body.state, 'done');
    assert.equal(r.body.eval_state, 'pending');
    // skip (过号) the next one
    r = await clerk.post(`/api/v1/queue/windows/${w.id}/call_next`);
    assert.equal(r.body.id, t2.ticket.id);
    assert.equal((await clerk.post(`/api/v1/queue/tickets/${t2.ticket.id}/skip`)).body.state, 'skipped');
    // rating: the token is required; 4 is 差评 and opens a follow-up due in working days
    r = await anon.post(`/api/v1/queue/tickets/${t1.ticket.id}/rating`, { token: 'x'.repeat(32), level: 4 });
    assert.equal(r.status, 403);
    r = await anon.post(`/api/v1/queue/tickets/${t1.ticket.id}/rating`, { token: t1.token, level: 6 });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'level');
    r = await anon.post(`/api/v1/queue/tickets/${t1.ticket.id}/rating`, {
      token: t1.token,
      level: 4,
      comment: '等候时间太长',
      tags: ['等候久'],
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.rating.bad, true);
    assert.match(r.body.followup.due_day, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal((await anon.post(`/api/v1/queue/tickets/${t1.ticket.id}/rating`, { token: t1.token, level: 1 })).status, 409);
    const f = (await manager.get('/api/v1/admin/queue/followups?state=open')).body.followups;
    assert.equal(f.length, 1);
    assert.equal(f[0].ticket_no, t1.ticket.ticket_no);
    assert.equal(f[0].level, 4);
    assert.equal(f[0].clerk, '王芳');
    assert.equal((await manager.post(`/api/v1/admin/queue/followups/${f[0].id}/close`, { note: '已电话回访致歉' })).status, 200);
    assert.equal(sql(srv, "SELECT COUNT(*) FROM queue_stat_events WHERE kind = 'consultation'"), '1');
  });

  test('free choice of centre, and a change of centre keeps the place by issue time', async () => {
    // the second centre has a group for the same department, set up behind the API
    const now = Date.now();
    sql(srv, `INSERT INTO queue_groups (org_id, code, name, created_at, updated_at) VALUES (${centre2}, 'QM', '社保', ${now}, ${now})`);
    const g2 = sql(srv, `SELECT id FROM queue_groups WHERE org_id = ${centre2} AND code = 'QM'`);
    sql(srv, `INSERT INTO queue_group_covers (group_id, org_id, kind, code) VALUES (${g2}, ${centre2}, 'item', '310006002000')`);
    await manager.post('/api/v1/admin/queue/groups', { code: 'QM', name: '社保', items: ['310006002000'] });
    const w = await window('M1', ['QM']);
    const list = await clerk.get('/api/v1/queue/centres?item=310006002000');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.centres.map((c) => c.centre.id).sort(), [centre, centre2].sort());
    for (const c of list.body.centres) assert.ok(c.wait.low <= c.wait.minutes && c.wait.minutes <= c.wait.high);
    assert.equal((await clerk.get('/api/v1/queue/centres?item=bad')).body.error.field, 'item');

    const mine = await issue({ item_code: '310006002000', source: 'terminal', terminal: 'pad-001', point: 'pt-7' });
    await sleep(5);
    const there = await issue({ centre_id: centre2, item_code: '310006002000', source: 'terminal', terminal: 'pad-002' });
    assert.equal(there.position, 1);
    let r = await clerk.post(`/api/v1/queue/windows/${w.id}/call_next`);
    assert.equal(r.body.id, mine.ticket.id);
    r = await clerk.post(`/api/v1/queue/tickets/${mine.ticket.id}/move`, { centre_id: centre2 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const s = await status(mine);
    assert.equal(s.move_proposal.centre_id, centre2);
    // only the ticket's own token confirms
    assert.equal((await anon.post(`/api/v1/queue/tickets/${mine.ticket.id}/move/confirm`, { token: there.token })).status, 403);
    r = await anon.post(`/api/v1/queue/tickets/${mine.ticket.id}/move/confirm`, { token: mine.token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.centre.id, centre2);
    assert.equal(r.body.state, 'waiting');
    assert.equal(r.body.moved_from, centre);
    assert.equal((await status(mine)).position, 1);
    assert.equal((await status(there)).position, 2);
    assert.equal((await status(mine)).ticket.issued_at, mine.ticket.issued_at);
  });

  test('stuck tickets: resume within the limit, force-skip, and the sweeper resolves the rest', async () => {
    await manager.post('/api/v1/admin/queue/groups', { code: 'QK', name: '异常' });
    const w = await window('K1', ['QK']);
    const a = await issue({ group_code: 'QK', source: 'terminal', terminal: 'pad-009' });
    const b = await issue({ group_code: 'QK' });
    const c = await issue({ group_code: 'QK' });
    const d = await issue({ group_code: 'QK' });
    // a: the terminal drops mid-service, then comes back and re-summons it
    await clerk.post(`/api/v1/queue/windows/${w.id}/call_next`);
    await clerk.post(`/api/v1/queue/tickets/${a.ticket.id}/start`);
    assert.equal((await clerk.post(`/api/v1/queue/tickets/${a.ticket.id}/suspend`)).body.state, 'suspended');
    let r = await anon.post(`/api/v1/queue/tickets/${a.ticket.id}/resume`, { token: a.token });
    assert.equal(r.body.state, 'serving');
    // dropped again; the centre ends the service state
    await clerk.post(`/api/v1/queue/tickets/${a.ticket.id}/suspend`);
    r = await clerk.post(`/api/v1/queue/tickets/${a.ticket.id}/force_skip`);
    assert.equal(r.body.state, 'skipped');
    assert.equal(r.body.end_reason, 'force_skip');
    // b: called and never started, long ago; c: a ticket of a past day; d: suspended too long
    await clerk.post(`/api/v1/queue/windows/${w.id}/call_next`);
    const old = Date.now() - 3600 * 1000;
    sql(srv, `UPDATE queue_tickets SET called_at = ${old} WHERE id = ${b.ticket.id}`);
    sql(srv, `UPDATE queue_tickets SET day = '2000-01-01' WHERE id = ${c.ticket.id}`);
    sql(srv, `UPDATE queue_tickets SET state = 'suspended', prev_state = 'serving', suspended_at = ${old} WHERE id = ${d.ticket.id}`);
    assert.equal((await anon.post(`/api/v1/queue/tickets/${d.ticket.id}/resume`, { token: d.token })).status, 409);
    const run = await runJob('queue.sweep');
    assert.equal(run.outcome, 'ok', run.message);
    const [sb, sc, sd] = [await status(b), await status(c), await status(d)];
    assert.deepEqual([sb.ticket.state, sb.ticket.end_reason], ['skipped', 'called_timeout']);
    assert.deepEqual([sc.ticket.state, sc.ticket.end_reason], ['expired', 'past_day']);
    assert.deepEqual([sd.ticket.state, sd.ticket.end_reason], ['skipped', 'suspended_timeout']);
    assert.ok(Number(sql(srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'queue.ticket.sweep'")) >= 3);
  });

  test('the board lists the centre’s groups, calls and waiting tickets', async () => {
    const r = await clerk.get('/api/v1/queue/board');
    assert.equal(r.status, 200);
    assert.equal(r.body.centre_id, centre);
    assert.ok(r.body.groups.some((g) => g.code === 'QC'));
    assert.ok(r.body.calling.length >= 10);
    assert.equal((await anon.get('/api/v1/queue/board')).status, 401);
  });
});
