// The scheduler as an operator meets it: the job list with next and last runs, schedule
// changes (a bad cron is refused naming the field), disable, a manual run, the run history —
// and the promise behind it all: with two `shouli serve` processes on one database, each due
// time of a job runs exactly once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO, loginAs, sleep, sql, startServer } from './lib.mjs';

const OPS = { username: 'ops', password: 'Ops@2026demo' };
const BUILTIN = ['audit.verify_daily', 'auth.sessions_purge', 'catalog.daily', 'outbox.purge_done'];

// Poll fn until it returns a truthy value (or fail after ms).
async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('scheduler', () => {
  let srv;
  let ops;

  before(async () => {
    srv = await startServer();
    ops = await loginAs(srv.url, OPS);
  });

  after(async () => {
    await srv?.stop();
  });

  test('the jobs of the platform modules are listed with schedule and next run', async () => {
    const r = await ops.get('/api/v1/admin/jobs');
    assert.equal(r.status, 200);
    assert.equal(r.body.timezone, 'Asia/Shanghai');
    const names = r.body.jobs.map((j) => j.name);
    for (const n of BUILTIN) assert.ok(names.includes(n), `${n} listed`);
    const now = Date.now();
    for (const j of r.body.jobs.filter((x) => BUILTIN.includes(x.name))) {
      assert.equal(j.enabled, true);
      assert.equal(j.customized, false);
      assert.equal(j.cron, j.default_cron);
      assert.ok(j.next_run_at > now - 5000, `${j.name} next run ahead`);
      assert.ok(j.timeout_s > 0 && j.retries >= 0);
      assert.match(j.title, /[\u4e00-\u9fa5]/);
      assert.equal(j.handler_here, true);
    }
    const audit = r.body.jobs.find((j) => j.name === 'audit.verify_daily');
    assert.equal(audit.cron, '30 2 * * *');
    assert.equal(audit.owner, 'audit');
    // 02:30 in Shanghai is 18:30 UTC.
    const next = new Date(audit.next_run_at);
    assert.equal(next.getUTCHours() * 60 + next.getUTCMinutes(), 18 * 60 + 30);
  });

  test('only holders of sched.manage see or touch jobs', async () => {
    const clerk = await loginAs(srv.url, DEMO.clerk);
    assert.equal((await clerk.get('/api/v1/admin/jobs')).status, 403);
    assert.equal((await clerk.post('/api/v1/admin/jobs/auth.sessions_purge/run')).status, 403);
    assert.equal((await clerk.patch('/api/v1/admin/jobs/auth.sessions_purge', { enabled: false })).status, 403);
  });

  test('a bad cron is refused with a message naming the field', async () => {
    let r = await ops.patch('/api/v1/admin/jobs/outbox.purge_done', { cron: '0 25 * * *' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'cron');
    assert.match(r.body.error.message, /第 2 个字段（小时）/);
    r = await ops.patch('/api/v1/admin/jobs/outbox.purge_done', { cron: '0 3 * * MONDAY' });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /第 5 个字段（星期）/);
    r = await ops.patch('/api/v1/admin/jobs/outbox.purge_done', { cron: '0 3 * *' });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /5 个字段/);
    r = await ops.patch('/api/v1/admin/jobs/outbox.purge_done', { cron: '@reboot' });
    assert.equal(r.status, 400);
    r = await ops.patch('/api/v1/admin/jobs/outbox.purge_done', { timeout_s: 0 });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'timeout_s');
    r = await ops.patch('/api/v1/admin/jobs/outbox.purge_done', { owner: 'me' });
    assert.equal(r.status, 400);
    r = await ops.patch('/api/v1/admin/jobs/outbox.purge_done', {});
    assert.equal(r.status, 400);
    r = await ops.patch('/api/v1/admin/jobs/no.such_job', { enabled: false });
    assert.equal(r.status, 404);
    // Nothing changed.
    const list = await ops.get('/api/v1/admin/jobs');
    const job = list.body.jobs.find((j) => j.name === 'outbox.purge_done');
    assert.equal(job.cron, '30 3 * * *');
    assert.equal(job.customized, false);
  });

  test('a schedule change applies at once, is remembered as an operator change and audited', async () => {
    const r = await ops.patch('/api/v1/admin/jobs/outbox.purge_done', { cron: '@hourly', timeout_s: 900, retries: 3 });
    assert.equal(r.status, 200);
    assert.equal(r.body.cron, '@hourly');
    assert.equal(r.body.default_cron, '30 3 * * *');
    assert.equal(r.body.customized, true);
    assert.equal(r.body.timeout_s, 900);
    assert.equal(r.body.retries, 3);
    assert.equal(r.body.next_run_at % 3600000, 0);
    assert.ok(r.body.next_run_at > Date.now() && r.body.next_run_at - Date.now() <= 3600000);
    const audit = sql(
      srv,
      "SELECT COUNT(*) FROM audit_log WHERE action = 'sched.job.update' AND target = 'job:outbox.purge_done'",
    );
    assert.equal(audit, '1');
  });

  test('a manual run runs once, now, and is recorded as manual with its operator', async () => {
    const r = await ops.post('/api/v1/admin/jobs/audit.verify_daily/run');
    assert.equal(r.status, 202);
    assert.equal(r.body.queued, true);
    const run = await until(
      async () => {
        const h = await ops.get('/api/v1/admin/jobs/audit.verify_daily/runs?limit=5');
        assert.equal(h.status, 200);
        return h.body.runs.find((x) => x.manual && x.outcome !== 'running');
      },
      15000,
      'the manual run',
    );
    assert.equal(run.outcome, 'ok');
    assert.equal(run.triggered_by, 'ops');
    assert.equal(run.attempt, 1);
    assert.match(run.message, /完整性校验通过/);
    assert.ok(run.finished_at >= run.started_at);
    const h = await ops.get('/api/v1/admin/jobs/audit.verify_daily/runs');
    assert.equal(h.body.runs.filter((x) => x.manual).length, 1);
    // The list shows it as the last run.
    const list = await ops.get('/api/v1/admin/jobs');
    const job = list.body.jobs.find((j) => j.name === 'audit.verify_daily');
    assert.equal(job.last_run.id, run.id);
    assert.equal(job.last_run.outcome, 'ok');
    assert.equal(job.manual_requested_at, null);
    assert.equal(
      sql(srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'sched.job.run' AND target = 'job:audit.verify_daily'"),
      '1',
    );
    assert.equal((await ops.post('/api/v1/admin/jobs/no.such_job/run')).status, 404);
  });

  test('the built-in jobs do their work when run', async () => {
    const day = 24 * 3600 * 1000;
    const now = Date.now();
    // Outbox retention: only delivered events older than 30 days go.
    const ev = (key, status, doneAt) =>
      'INSERT INTO events (kind, payload, idempotency_key, status, attempts, next_attempt_at, created_at, ' +
      `updated_at, done_at) VALUES ('test.sched', '{}', '${key}', '${status}', 1, 0, 0, 0, ${doneAt})`;
    sql(srv, ev('sched-old-done', 'done', now - 40 * day));
    sql(srv, ev('sched-new-done', 'done', now - day));
    sql(srv, ev('sched-old-dead', 'dead', 'NULL'));
    // Sessions: one past the absolute timeout, one live.
    const uid = sql(srv, "SELECT id FROM users WHERE username = 'admin'");
    const ses = (hash, at) =>
      'INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen) ' +
      `VALUES ('${hash}', ${uid}, 'x', ${at}, ${at})`;
    sql(srv, ses('sched-expired', now - 30 * day));
    sql(srv, ses('sched-live', now));

    const runNow = async (job) => {
      const before = (await ops.get(`/api/v1/admin/jobs/${job}/runs?limit=1`)).body.runs[0]?.id ?? 0;
      assert.equal((await ops.post(`/api/v1/admin/jobs/${job}/run`)).status, 202);
      return until(
        async () => {
          const h = await ops.get(`/api/v1/admin/jobs/${job}/runs?limit=1`);
          const run = h.body.runs[0];
          return run && run.id > before && run.outcome !== 'running' && run;
        },
        15000,
        `a manual run of ${job}`,
      );
    };
    let run = await runNow('outbox.purge_done');
    assert.equal(run.outcome, 'ok');
    assert.match(run.message, /删除已投递超过 30 天的事件 \d+ 条/);
    assert.equal(
      sql(srv, "SELECT idempotency_key FROM events WHERE kind = 'test.sched' ORDER BY idempotency_key"),
      'sched-new-done\nsched-old-dead',
    );

    run = await runNow('auth.sessions_purge');
    assert.equal(run.outcome, 'ok');
    assert.match(run.message, /删除过期会话 [1-9]\d* 个/);
    assert.equal(sql(srv, "SELECT token_hash FROM sessions WHERE token_hash LIKE 'sched-%'"), 'sched-live');

    run = await runNow('catalog.daily');
    assert.equal(run.outcome, 'ok');
    assert.match(run.message, /^\d{4}-\d{2}-\d{2}：/);
  });

  test('the run history pages and checks its limit', async () => {
    assert.equal((await ops.get('/api/v1/admin/jobs/audit.verify_daily/runs?limit=0')).status, 400);
    assert.equal((await ops.get('/api/v1/admin/jobs/audit.verify_daily/runs?limit=501')).status, 400);
    assert.equal((await ops.get('/api/v1/admin/jobs/no.such_job/runs')).status, 404);
    const r = await ops.get('/api/v1/admin/jobs/audit.verify_daily/runs?limit=1');
    assert.equal(r.status, 200);
    assert.equal(r.body.runs.length, 1);
    assert.equal(r.body.next_before, r.body.runs[0].id);
    const older = await ops.get(`/api/v1/admin/jobs/audit.verify_daily/runs?before=${r.body.next_before}`);
    assert.equal(older.status, 200);
    assert.ok(older.body.runs.every((x) => x.id < r.body.next_before));
  });

  test('a disabled job does not run when due, and counts from now when enabled again', async () => {
    let r = await ops.patch('/api/v1/admin/jobs/catalog.daily', { enabled: false });
    assert.equal(r.status, 200);
    assert.equal(r.body.enabled, false);
    assert.equal(r.body.next_run_at, null);
    // Make it overdue behind the server's back: still nothing runs.
    sql(srv, `UPDATE sched_jobs SET next_run_at = ${Date.now() - 60000} WHERE name = 'catalog.daily'`);
    await sleep(2500);
    assert.equal(sql(srv, "SELECT COUNT(*) FROM sched_runs WHERE job = 'catalog.daily' AND manual = 0"), '0');
    r = await ops.patch('/api/v1/admin/jobs/catalog.daily', { enabled: true });
    assert.equal(r.status, 200);
    assert.equal(r.body.enabled, true);
    assert.ok(r.body.next_run_at > Date.now());
    await sleep(1500);
    assert.equal(sql(srv, "SELECT COUNT(*) FROM sched_runs WHERE job = 'catalog.daily' AND manual = 0"), '0');
  });
});

describe('scheduler on two nodes', () => {
  let one;
  let two;

  before(async () => {
    one = await startServer();
    two = await startServer([], { share: one });
  });

  after(async () => {
    await two?.stop();
    await one?.stop();
  });

  test('a job runs once across two server processes sharing one database', async () => {
    const ops = await loginAs(one.url, OPS);
    const job = 'auth.sessions_purge';
    // Both processes have the handler; the operator's change made on one holds for both.
    const r = await ops.patch(`/api/v1/admin/jobs/${job}`, { cron: '* * * * *' });
    assert.equal(r.status, 200);
    const ops2 = await loginAs(two.url, OPS);
    const seen = (await ops2.get('/api/v1/admin/jobs')).body.jobs.find((j) => j.name === job);
    assert.equal(seen.cron, '* * * * *');
    assert.equal(seen.handler_here, true);

    // Due times forced behind the servers' back, one after another: both nodes race for each.
    const forced = [];
    const base = Date.now() - 120000;
    for (let i = 0; i < 8; i++) {
      const due = base + i * 7;
      forced.push(due);
      await until(
        () => sql(one, `SELECT COUNT(*) FROM sched_jobs WHERE name = '${job}' AND lease_owner IS NULL`) === '1',
        15000,
        'the lease to be free',
      );
      sql(one, `UPDATE sched_jobs SET next_run_at = ${due} WHERE name = '${job}'`);
      await until(
        () => sql(one, `SELECT COUNT(*) FROM sched_runs WHERE job = '${job}' AND scheduled_for = ${due} AND outcome = 'ok'`) ===
          '1',
        15000,
        `the run due at ${due}`,
      );
    }
    // Then the schedule itself: after the runs, the next due time is the next whole minute.
    await until(
      () => sql(one, `SELECT COUNT(*) FROM sched_jobs WHERE name = '${job}' AND lease_owner IS NULL`) === '1',
      15000,
      'the lease to be free',
    );
    const minute = Number(sql(one, `SELECT next_run_at FROM sched_jobs WHERE name = '${job}'`));
    assert.equal(minute % 60000, 0);
    assert.ok(minute - Date.now() <= 61000);
    // A due time in the future (instead of waiting up to a minute for that one): both nodes
    // pass it over on their ticks until it comes, then race for it.
    const ahead = Date.now() + 3000;
    forced.push(ahead);
    sql(one, `UPDATE sched_jobs SET next_run_at = ${ahead} WHERE name = '${job}'`);
    await until(
      () =>
        sql(one, `SELECT COUNT(*) FROM sched_runs WHERE job = '${job}' AND scheduled_for = ${ahead} AND outcome = 'ok'`) ===
        '1',
      20000,
      'the run due in three seconds',
    );
    assert.ok(Date.now() >= ahead);
    await sleep(2500); // time for a second (wrong) claim by the slower node to show up

    const dup = sql(
      one,
      `SELECT scheduled_for, COUNT(*) FROM sched_runs WHERE job = '${job}' GROUP BY scheduled_for HAVING COUNT(*) > 1`,
    );
    assert.equal(dup, '', 'no due time ran twice');
    for (const due of forced) {
      assert.equal(sql(one, `SELECT COUNT(*) FROM sched_runs WHERE job = '${job}' AND scheduled_for = ${due}`), '1');
    }
    const bad = sql(one, `SELECT COUNT(*) FROM sched_runs WHERE job = '${job}' AND (outcome <> 'ok' OR attempt <> 1)`);
    assert.equal(bad, '0');
    const nodes = sql(one, `SELECT node, COUNT(*) FROM sched_runs WHERE job = '${job}' GROUP BY node ORDER BY node`);
    assert.ok(nodes.split('\n').length <= 2, nodes);
    const runs = (await ops.get(`/api/v1/admin/jobs/${job}/runs?limit=100`)).body.runs;
    assert.ok(runs.length >= forced.length);
    assert.match(runs[0].message, /删除过期会话 \d+ 个/);
    console.log(`# ${forced.length} due times on two nodes; runs per node: ${nodes.replace(/\n/g, '; ')}`);
  });
});
