// Gateway flows as an operator meets them: the seeded flows of every catalog submission and
// lookup, flow documents edited with revisions and checked (zh-CN problems naming the path),
// debug runs with the per-step trace, and the error policies seen from the external side —
// a flow that succeeds, one that stops, one that compensates (the undo calls arrive in
// reverse order), one that continues past a failed 办件库 report — plus an asynchronous run
// through the outbox that fails while the department is down and arrives after it comes
// back. The departments are a small HTTP server started by this test on 127.0.0.1,
// configured as a connector through the gateway's admin API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { DEMO, ROOT, loginAs, sleep, sql, startServer } from './lib.mjs';

const OPS = { username: 'ops', password: 'Ops@2026demo' };
const F = '/api/v1/admin/flows';
const RUNS = '/api/v1/admin/flow-runs';
const ID = '11010519491231002X';

// ---- the stand-in department and 办件库 ------------------------------------------------

const ext = {
  calls: [], // "METHOD /path" in arrival order
  bodies: [],
  fail: {}, // path -> HTTP status to answer instead
  failRe: [], // [regex, status]: the same for every path the regex matches
  down: false, // every call answers 503 (maintenance)
  seq: 0,
};

function handle(req, url, body) {
  if (ext.down) return [503, { code: 'MAINTENANCE', message: '系统维护中' }];
  if (ext.fail[url.pathname]) return [ext.fail[url.pathname], { code: 'REFUSED', message: '对方系统拒绝' }];
  for (const [re, status] of ext.failRe) if (re.test(url.pathname)) return [status, { code: 'REFUSED', message: '撤销失败' }];
  let m;
  if (req.method === 'POST' && url.pathname === '/dept/applications') {
    const b = JSON.parse(body);
    return [200, { dept_case_no: `D-${b.case_no}`, status: 'received' }];
  }
  if ((m = /^\/dept\/applications\/([^/]+)\/cancel$/.exec(url.pathname)))
    return [200, { dept_case_no: decodeURIComponent(m[1]), status: 'cancelled' }];
  if (url.pathname === '/dept/notify') return [200, { notice_no: `N-${++ext.seq}` }];
  if ((m = /^\/dept\/notify\/([^/]+)\/revoke$/.exec(url.pathname)))
    return [200, { notice_no: decodeURIComponent(m[1]), revoked: true }];
  if (url.pathname === '/bjk/cases') return [200, { accepted: true, record_id: `R-${++ext.seq}` }];
  return [404, { code: 'NOT_FOUND', message: '没有此接口' }];
}

function startExternal() {
  const srv = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://127.0.0.1');
      const body = Buffer.concat(chunks).toString('utf8');
      ext.calls.push(`${req.method} ${url.pathname}`);
      ext.bodies.push(body ? JSON.parse(body) : null);
      const [status, out] = handle(req, url, body);
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(out));
    });
  });
  return new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(srv)));
}

function reset() {
  ext.calls = [];
  ext.bodies = [];
  ext.fail = {};
  ext.failRe = [];
  ext.down = false;
}

async function put(c, url, path, body) {
  const res = await fetch(url + path, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Cookie: c.cookie, 'X-CSRF-Token': c.csrf },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

// ---- flows under test --------------------------------------------------------------------

const PARAMS = {
  case_no: { required: true, type: 'string', title: '办件编号' },
  applicant: { required: true, type: 'object', title: '申请人' },
};

// submit (undo: cancel) → notify (undo: revoke) → report to the 办件库.
function threeSteps(name, onError, reportPolicy) {
  const report = {
    id: 'report',
    title: '报送办件库',
    connector: 't_bjk',
    method: 'case_report',
    request: { case_no: '{{params.case_no}}', dept_case_no: '{{steps.submit.response.dept_case_no}}', key: '{{run.idempotency_key}}' },
  };
  if (reportPolicy) report.on_error = reportPolicy;
  return {
    name,
    title: `测试流程 ${name}`,
    params: PARAMS,
    globals: { source: 'shouli', channel: '1' },
    on_error: onError,
    steps: [
      {
        id: 'submit',
        title: '提交部门',
        connector: 't_dept',
        method: 'submit',
        request: { case_no: '{{params.case_no}}', applicant: '{{params.applicant}}', source: '{{globals.source}}', key: '{{run.idempotency_key}}' },
        expect: { path: 'steps.submit.response.dept_case_no', op: 'exists' },
        compensate: { connector: 't_dept', method: 'cancel', request: { dept_case_no: '{{steps.submit.response.dept_case_no}}' } },
      },
      {
        id: 'notify',
        title: '通知街道',
        connector: 't_dept',
        method: 'notify',
        when: { path: 'steps.submit.response.status', op: 'eq', value: 'received' },
        request: { dept_case_no: '{{steps.submit.response.dept_case_no}}', text: '办件 {{params.case_no}} 已提交' },
        compensate: { connector: 't_dept', method: 'revoke', request: { notice_no: '{{steps.notify.response.notice_no}}' } },
      },
      report,
    ],
    result: { dept_case_no: '{{steps.submit.response.dept_case_no}}', notice_no: '{{steps.notify.response.notice_no}}', reported: '{{steps.report.outcome}}' },
  };
}

const runParams = (caseNo) => ({ case_no: caseNo, applicant: { id_type: '111', id_number: ID, name: '张三' } });

describe('gateway: flows', () => {
  let srv, system, ops, base;

  const createFlow = async (doc) => {
    const r = await ops.post(F, { flow: doc });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.rev, 1);
    return r.body;
  };
  const run = async (name, params, extra = { debug: true }) => {
    const r = await ops.post(`${F}/${name}/run`, { params, ...extra });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  before(async () => {
    system = await startExternal();
    base = `http://127.0.0.1:${system.address().port}`;
    srv = await startServer();
    ops = await loginAs(srv.url, OPS);
    const conn = (name, prefix, methods) => ({
      name,
      title: `测试系统 ${name}`,
      protocol: 'rest',
      base_url: `${base}${prefix}`,
      timeout_ms: 3000,
      retry: { max: 0, backoff_ms: 50 },
      breaker: { failures: 1000, window_s: 30, open_s: 20 },
      methods,
    });
    let r = await ops.post('/api/v1/admin/gateway/connectors', conn('t_dept', '/dept', [
      { name: 'submit', http_method: 'POST', path: '/applications', mask: ['applicant.id_number'] },
      { name: 'cancel', http_method: 'POST', path: '/applications/{{request.dept_case_no}}/cancel', idempotent: true },
      { name: 'notify', http_method: 'POST', path: '/notify' },
      { name: 'revoke', http_method: 'POST', path: '/notify/{{request.notice_no}}/revoke', idempotent: true },
    ]));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    r = await ops.post('/api/v1/admin/gateway/connectors', conn('t_bjk', '/bjk', [{ name: 'case_report', http_method: 'POST', path: '/cases' }]));
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });
  after(async () => {
    await srv?.stop();
    system?.close();
  });

  test('every flow the catalog names is seeded, valid, and shown with its steps', async () => {
    const files = (await readdir(join(ROOT, 'gateway/flows'))).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 200, `${files.length} flow files`);
    const r = await ops.get(F);
    assert.equal(r.status, 200);
    const names = new Set(r.body.flows.map((f) => f.name));
    for (const f of files) assert.ok(names.has(f.replace(/\.json$/, '')), f);
    const elder = r.body.flows.find((f) => f.name === 'minzheng.elder_allowance.submit');
    assert.equal(elder.source, 'seed');
    assert.equal(elder.on_error, 'compensate');
    assert.deepEqual(elder.connectors, ['minzheng', 'bjk']);
    // The same document as the file.
    const g = await ops.get(`${F}/shebao.person_query`);
    const file = JSON.parse(await readFile(join(ROOT, 'gateway/flows/shebao.person_query.json'), 'utf8'));
    assert.deepEqual(g.body.flow, file);
    assert.equal(g.body.rev, 1);
    // Search by title.
    const q = await ops.get(`${F}?q=${encodeURIComponent('老年综合津贴')}`);
    assert.ok(q.body.flows.length >= 2 && q.body.flows.every((f) => f.title.includes('老年综合津贴') || f.name.includes('elder')));
  });

  test('permissions: a window clerk can neither see nor run flows', async () => {
    const clerk = await loginAs(srv.url, DEMO.clerk);
    assert.equal((await clerk.get(F)).status, 403);
    assert.equal((await clerk.get(RUNS)).status, 403);
    assert.equal((await clerk.post(`${F}/shebao.person_query/run`, { params: {} })).status, 403);
  });

  test('a flow document is checked: problems in zh-CN with the path, 422 and nothing stored', async () => {
    const bad = threeSteps('t.bad', 'stop');
    bad.steps[1].request.x = '{{steps.report.response.record_id}}';
    bad.steps[2].method = 'case_delete';
    bad.steps.push({ ...bad.steps[0] });
    bad.steps[0].when = { path: 'params.case_no', op: 'like', value: 'x' };
    bad.colour = 'red';
    const r = await ops.post(F, { flow: bad });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'invalid');
    const at = Object.fromEntries(r.body.problems.map((p) => [p.path, p.message]));
    assert.match(at.colour, /不支持字段“colour”/);
    assert.match(at['steps[1].request.x'], /步骤“report”在此处之后才执行/);
    assert.match(at['steps[2].method'], /接口源“t_bjk”没有方法“case_delete”/);
    assert.match(at['steps[3].id'], /与第 1 步重复/);
    assert.match(at['steps[0].when.op'], /eq、ne/);
    assert.equal((await ops.get(`${F}/t.bad`)).status, 404);
    // The editor's check says the same without storing anything.
    const v = await ops.post(`${F}/validate`, { flow: bad });
    assert.equal(v.status, 200);
    assert.equal(v.body.valid, false);
    assert.equal(v.body.problems.length, r.body.problems.length);
    const ok = await ops.post(`${F}/validate`, { flow: threeSteps('t.fine', 'stop') });
    assert.deepEqual(ok.body, { valid: true, problems: [] });
  });

  test('edits carry the revision: 409 on a stale one, rename refused, delete and create again', async () => {
    await createFlow(threeSteps('t.edit', 'stop'));
    const again = await ops.post(F, { flow: threeSteps('t.edit', 'stop') });
    assert.equal(again.status, 409);
    const doc = threeSteps('t.edit', 'continue');
    let r = await put(ops, srv.url, `${F}/t.edit`, { flow: doc, rev: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.rev, 2);
    r = await put(ops, srv.url, `${F}/t.edit`, { flow: doc, rev: 1 });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.field, 'rev');
    r = await put(ops, srv.url, `${F}/t.edit`, { flow: threeSteps('t.other', 'stop'), rev: 2 });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'flow.name');
    const g = await ops.get(`${F}/t.edit`);
    assert.equal(g.body.rev, 2);
    assert.equal(g.body.flow.on_error, 'continue');
    assert.equal(g.body.source, 'admin');
    assert.equal(g.body.updated_by, 'ops');
    assert.equal((await ops.del(`${F}/t.edit?rev=1`)).status, 409);
    assert.equal((await ops.del(`${F}/t.edit?rev=2`)).status, 200);
    assert.equal((await ops.get(`${F}/t.edit`)).status, 404);
    assert.equal((await ops.del(`${F}/t.edit`)).status, 404);
    const back = await ops.post(F, { flow: threeSteps('t.edit', 'stop') });
    assert.equal(back.status, 201);
    assert.equal(back.body.rev, 3);
    // Every change is in the audit log.
    const actions = sql(srv, "SELECT action FROM audit_log WHERE target = 'flow:t.edit' ORDER BY id").split('\n');
    assert.deepEqual(actions, ['gateway.flow.create', 'gateway.flow.update', 'gateway.flow.delete', 'gateway.flow.create']);
  });

  test('a flow that succeeds: templates over params, globals and earlier steps; the trace; the records', async () => {
    reset();
    await createFlow(threeSteps('t.ok', 'stop'));
    const out = await run('t.ok', runParams('SL-OK-1'));
    assert.equal(out.status, 'ok');
    assert.deepEqual(out.result, { dept_case_no: 'D-SL-OK-1', notice_no: out.result.notice_no, reported: 'ok' });
    assert.match(out.result.notice_no, /^N-\d+$/);
    assert.deepEqual(ext.calls, ['POST /dept/applications', 'POST /dept/notify', 'POST /bjk/cases']);
    // What the department received: the real values (masking is for records only).
    assert.equal(ext.bodies[0].applicant.id_number, ID);
    assert.equal(ext.bodies[0].source, 'shouli');
    assert.equal(ext.bodies[0].key, `flow-run-${out.run_id}`);
    assert.equal(ext.bodies[1].text, '办件 SL-OK-1 已提交');
    assert.equal(ext.bodies[2].dept_case_no, 'D-SL-OK-1');
    // The debug trace: every step with its masked request and response.
    const t = out.trace;
    assert.equal(t.status, 'ok');
    assert.equal(t.steps.length, 3);
    assert.deepEqual(t.steps.map((s) => [s.step, s.kind, s.outcome, s.http_status]), [
      ['submit', 'call', 'ok', 200],
      ['notify', 'call', 'ok', 200],
      ['report', 'call', 'ok', 200],
    ]);
    assert.ok(!JSON.stringify(t).includes(ID), 'the ID number is masked in the trace');
    assert.equal(t.steps[0].response.dept_case_no, 'D-SL-OK-1');
    assert.ok(t.steps.every((s) => s.call_id > 0 && s.duration_us >= 0));
    // The stored run and its steps.
    const d = await ops.get(`${RUNS}/${out.run_id}`);
    assert.equal(d.status, 200);
    assert.equal(d.body.run.status, 'ok');
    assert.equal(d.body.run.mode, 'debug');
    assert.equal(d.body.run.caller_user, 'ops');
    assert.equal(d.body.run.flow_rev, 1);
    assert.equal(d.body.steps.length, 3);
    assert.ok(!JSON.stringify(d.body).includes(ID));
    assert.equal(d.body.steps[0].request.case_no, 'SL-OK-1');
    const raw = sql(srv, `SELECT request FROM gateway_run_steps WHERE run_id = ${out.run_id} AND seq = 1`);
    assert.ok(!raw.includes(ID), raw);
  });

  test('parameters are checked before anything is called; unknown flows are 404', async () => {
    reset();
    let r = await ops.post(`${F}/t.ok/run`, { params: { case_no: 'SL-X' } });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.field, 'params.applicant');
    assert.match(r.body.error.message, /缺少流程参数“申请人”/);
    r = await ops.post(`${F}/t.ok/run`, { params: { case_no: 7, applicant: {} } });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.field, 'params.case_no');
    r = await ops.post(`${F}/t.nothing/run`, { params: {} });
    assert.equal(r.status, 404);
    assert.deepEqual(ext.calls, []);
  });

  test('a flow that stops: nothing after the failed step, nothing undone', async () => {
    reset();
    await createFlow(threeSteps('t.stop', 'stop'));
    ext.fail['/dept/notify'] = 500;
    const out = await run('t.stop', runParams('SL-STOP-1'));
    assert.equal(out.status, 'failed');
    assert.equal(out.error.code, 'upstream_error');
    assert.equal(out.error.step, 'notify');
    assert.match(out.error.message, /在步骤“通知街道”失败/);
    assert.equal(out.result, null);
    assert.deepEqual(ext.calls, ['POST /dept/applications', 'POST /dept/notify']);
    assert.deepEqual(out.trace.steps.map((s) => [s.step, s.outcome, s.http_status]), [
      ['submit', 'ok', 200],
      ['notify', 'error', 500],
    ]);
    const d = await ops.get(`${RUNS}/${out.run_id}`);
    assert.equal(d.body.run.status, 'failed');
    assert.equal(d.body.run.failed_step, 'notify');
    assert.equal(d.body.run.error_code, 'upstream_error');
  });

  test('a flow that compensates: the completed steps are undone in reverse order, each recorded', async () => {
    reset();
    await createFlow(threeSteps('t.comp', 'compensate'));
    ext.fail['/bjk/cases'] = 503;
    const out = await run('t.comp', runParams('SL-COMP-1'));
    assert.equal(out.status, 'compensated');
    assert.equal(out.error.step, 'report');
    assert.match(out.error.message, /已回退 2 个已完成的步骤/);
    const notice = out.trace.steps[1].response.notice_no;
    // Seen from the department: submit, notify, (report fails), revoke the notice, cancel.
    assert.deepEqual(ext.calls, [
      'POST /dept/applications',
      'POST /dept/notify',
      'POST /bjk/cases',
      `POST /dept/notify/${notice}/revoke`,
      'POST /dept/applications/D-SL-COMP-1/cancel',
    ]);
    assert.deepEqual(out.trace.steps.map((s) => [s.step, s.kind, s.method, s.outcome]), [
      ['submit', 'call', 'submit', 'ok'],
      ['notify', 'call', 'notify', 'ok'],
      ['report', 'call', 'case_report', 'error'],
      ['notify', 'compensate', 'revoke', 'ok'],
      ['submit', 'compensate', 'cancel', 'ok'],
    ]);
    const d = await ops.get(`${RUNS}/${out.run_id}`);
    assert.equal(d.body.run.status, 'compensated');
    assert.deepEqual(d.body.steps.map((s) => s.kind), ['call', 'call', 'call', 'compensate', 'compensate']);
  });

  test('a compensation that fails leaves the run as compensation_failed, the rest still undone', async () => {
    reset();
    await createFlow(threeSteps('t.comp2', 'compensate'));
    ext.fail['/bjk/cases'] = 503;
    ext.failRe = [[/\/revoke$/, 500]];
    const out = await run('t.comp2', runParams('SL-COMP-3'));
    assert.equal(out.status, 'compensation_failed');
    assert.match(out.error.message, /回退未全部成功/);
    // The failed revoke did not keep the submission from being cancelled.
    assert.equal(ext.calls.at(-1), 'POST /dept/applications/D-SL-COMP-3/cancel');
    assert.deepEqual(out.trace.steps.slice(3).map((s) => [s.method, s.outcome]), [
      ['revoke', 'error'],
      ['cancel', 'ok'],
    ]);
    const d = await ops.get(`${RUNS}/${out.run_id}`);
    assert.equal(d.body.run.status, 'compensation_failed');
  });

  test('continue: a failed 办件库 report is recorded and the flow completes', async () => {
    reset();
    await createFlow(threeSteps('t.cont', 'compensate', 'continue'));
    ext.fail['/bjk/cases'] = 503;
    const out = await run('t.cont', runParams('SL-CONT-1'));
    assert.equal(out.status, 'partial');
    assert.equal(out.error, undefined);
    assert.equal(out.result.dept_case_no, 'D-SL-CONT-1');
    assert.equal(out.result.reported, 'error');
    assert.deepEqual(ext.calls, ['POST /dept/applications', 'POST /dept/notify', 'POST /bjk/cases']);
    // Not a debug run: no trace, a sync record.
    reset();
    const quiet = await run('t.cont', runParams('SL-CONT-2'), {});
    assert.equal(quiet.trace, undefined);
    const d = await ops.get(`${RUNS}/${quiet.run_id}`);
    assert.equal(d.body.run.mode, 'sync');
  });

  test('the runs list filters by flow, status and time, newest first, with paging', async () => {
    let r = await ops.get(`${RUNS}?flow=t.cont`);
    assert.equal(r.status, 200);
    assert.equal(r.body.runs.length, 2);
    assert.ok(r.body.runs.every((x) => x.flow === 't.cont'));
    assert.ok(r.body.runs[0].id > r.body.runs[1].id);
    r = await ops.get(`${RUNS}?status=failed`);
    assert.ok(r.body.runs.length >= 1 && r.body.runs.every((x) => x.status === 'failed'));
    r = await ops.get(`${RUNS}?from=2000-01-01&to=2000-12-31`);
    assert.deepEqual(r.body.runs, []);
    const now = Date.now();
    r = await ops.get(`${RUNS}?from=${now - 600000}&to=${now + 600000}&limit=2`);
    assert.equal(r.body.runs.length, 2);
    assert.ok(r.body.next_before > 0);
    const next = await ops.get(`${RUNS}?from=${now - 600000}&limit=2&before=${r.body.next_before}`);
    assert.ok(next.body.runs.every((x) => x.id < r.body.next_before));
    assert.equal((await ops.get(`${RUNS}?status=weird`)).status, 400);
    assert.equal((await ops.get(`${RUNS}?from=yesterday`)).status, 400);
    assert.equal((await ops.get(`${RUNS}/999999`)).status, 404);
  });

  test('asynchronous: the outbox retries while the department is down; the run arrives after it comes back', async () => {
    reset();
    await createFlow(threeSteps('t.async', 'compensate', 'continue'));
    ext.down = true;
    const key = `case:SL-ASYNC-1:${Date.now()}`;
    const q = await ops.post(`${F}/t.async/enqueue`, { params: runParams('SL-ASYNC-1'), idempotency_key: key });
    assert.equal(q.status, 202, JSON.stringify(q.body));
    assert.equal(q.body.idempotency_key, key);
    // The parameters are sealed in the event row.
    const payload = sql(srv, `SELECT payload FROM events WHERE idempotency_key = '${key}'`);
    assert.ok(payload.includes('"flow":"t.async"'));
    assert.ok(!payload.includes(ID) && !payload.includes('SL-ASYNC-1'), payload);

    const runsOf = async () => (await ops.get(`${RUNS}?key=${encodeURIComponent(key)}`)).body.runs;
    let runs = [];
    for (let i = 0; i < 100 && !runs.some((x) => x.status === 'failed'); i++) {
      await sleep(50);
      runs = await runsOf();
    }
    assert.ok(runs.some((x) => x.status === 'failed' && x.mode === 'async'), JSON.stringify(runs));
    assert.ok(ext.calls.length >= 1 && ext.calls.every((c) => c === 'POST /dept/applications'));
    const ev = sql(srv, `SELECT status, attempts, last_error FROM events WHERE idempotency_key = '${key}'`).split('|');
    assert.equal(ev[0], 'pending');
    assert.match(ev[2], /submit/);
    assert.ok(!ev[2].includes(ID));

    // The department comes back: the next retry goes through.
    ext.down = false;
    for (let i = 0; i < 200 && !runs.some((x) => x.status === 'ok'); i++) {
      await sleep(50);
      runs = await runsOf();
    }
    const ok = runs.find((x) => x.status === 'ok');
    assert.ok(ok, JSON.stringify(runs));
    assert.ok(ok.attempt >= 2);
    assert.equal(ok.idempotency_key, key);
    assert.equal(ok.event_id > 0, true);
    // Every attempt carried the same key to the department.
    const subs = ext.bodies.filter((b, i) => ext.calls[i] === 'POST /dept/applications');
    assert.ok(subs.length >= 2);
    assert.ok(subs.every((b) => b.key === key && b.applicant.id_number === ID));
    assert.deepEqual(ext.calls.slice(-2), ['POST /dept/notify', 'POST /bjk/cases']);
    for (let i = 0; i < 50; i++) {
      if (sql(srv, `SELECT status FROM events WHERE idempotency_key = '${key}'`) === 'done') break;
      await sleep(50);
    }
    assert.equal(sql(srv, `SELECT status FROM events WHERE idempotency_key = '${key}'`), 'done');
    // The same key again is refused.
    const dup = await ops.post(`${F}/t.async/enqueue`, { params: runParams('SL-ASYNC-1'), idempotency_key: key });
    assert.equal(dup.status, 409);
  });

  test('asynchronous: a refusal (4xx) or an unknown flow goes to the dead letters at once', async () => {
    reset();
    ext.fail['/dept/applications'] = 422;
    const key = `case:SL-DEAD-1:${Date.now()}`;
    assert.equal((await ops.post(`${F}/t.async/enqueue`, { params: runParams('SL-DEAD-1'), idempotency_key: key })).status, 202);
    const key2 = `case:SL-DEAD-2:${Date.now()}`;
    assert.equal((await ops.post(`${F}/t.never.defined/enqueue`, { params: {}, idempotency_key: key2 })).status, 202);
    let st = [];
    for (let i = 0; i < 100; i++) {
      st = [key, key2].map((k) => sql(srv, `SELECT status FROM events WHERE idempotency_key = '${k}'`));
      if (st.every((s) => s === 'dead')) break;
      await sleep(50);
    }
    assert.deepEqual(st, ['dead', 'dead']);
    assert.match(sql(srv, `SELECT last_error FROM events WHERE idempotency_key = '${key}'`), /HTTP 422/);
    assert.match(sql(srv, `SELECT last_error FROM events WHERE idempotency_key = '${key2}'`), /流程不存在/);
    assert.equal(ext.calls.length, 1);
  });
});

// ---- the seeded flows against `shouli sim` (serve --with-sim) ------------------------------

function freePort() {
  return new Promise((ok, fail) => {
    const s = createNetServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

describe('gateway: seeded flows against the simulators', () => {
  let srv, ops, sim, elder, canlianPerson;

  const simGet = async (path) => (await fetch(sim + path)).json();
  const simSend = async (method, path, body) =>
    (await fetch(sim + path, { method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) })).json();
  const person = (p) => ({ id_type: '111', id_number: p.id_number, name: p.name, phone: p.phone });
  const submission = (p, caseNo, subItem, itemName, form = {}) => ({
    case_no: caseNo,
    sub_item_code: subItem,
    item_code: subItem.slice(0, 12),
    item_name: itemName,
    applicant: person(p),
    handler: person(p),
    form,
    centre: { code: '310104014C1', name: '徐汇区某社区事务受理服务中心' },
    clerk: { username: 'clerk', name: '王小芳' },
    accepted_at: new Date().toISOString(),
  });

  before(async () => {
    const port = await freePort();
    sim = `http://127.0.0.1:${port}`;
    srv = await startServer(['--with-sim', '--sim-port', String(port)]);
    ops = await loginAs(srv.url, OPS);
    elder = (await simGet('/sim/people?min_age=70&limit=1&hukou=1&enrolled=0')).people[0];
    canlianPerson = (await simGet('/sim/people?has=disability&limit=1')).people[0];
    assert.ok(elder && canlianPerson);
  });
  after(async () => {
    await srv?.stop();
  });

  test('a lookup answers what the catalog prefills read', async () => {
    const out = await ops.post(`${F}/shebao.person_query/run`, { params: { applicant: person(elder) } });
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.equal(out.body.status, 'ok');
    for (const k of ['found', 'contribution_months', 'insured_status', 'retire_date', 'retired']) assert.ok(k in out.body.result, k);
    assert.equal(out.body.result.found, true);
  });

  test('老年综合津贴: eligibility, submission, and a 6.0-valid 办件库 record', async () => {
    const caseNo = `SL${Date.now()}`;
    const form = { payment: { channel: 'ssc' } };
    const out = await ops.post(`${F}/minzheng.elder_allowance.submit/run`, {
      params: submission(elder, caseNo, '310003001000-01', '发放老年综合津贴', form),
      debug: true,
    });
    assert.equal(out.status, 200, JSON.stringify(out.body));
    const steps = out.body.trace.steps.map((s) => `${s.step}:${s.outcome}`);
    assert.equal(out.body.result.eligible, true, JSON.stringify(out.body.trace.steps[0]));
    assert.equal(out.body.status, 'ok', steps.join(' ') + JSON.stringify(out.body.trace.steps.at(-1)));
    assert.ok(out.body.result.dept_case_no);
    // The 办件库 checked the record against spec 6.0 (办理人 = applicant, no agent) and took it.
    assert.equal(out.body.result.reported, 'ok', JSON.stringify(out.body.trace.steps.at(-1)));
    assert.equal(out.body.trace.steps.at(-1).http_status, 200);
  });

  test('老年综合津贴: an applicant who already receives it is told why, and nothing is submitted', async () => {
    const receiving = (await simGet('/sim/people?min_age=70&limit=1&hukou=1&enrolled=1')).people[0];
    assert.ok(receiving);
    const out = await ops.post(`${F}/minzheng.elder_allowance.submit/run`, {
      params: submission(receiving, `SL${Date.now()}N`, '310003001000-01', '发放老年综合津贴', { payment: { channel: 'ssc' } }),
      debug: true,
    });
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.equal(out.body.status, 'failed');
    assert.match(out.body.error.message, /不符合老年综合津贴申领条件：已享受老年综合津贴/);
    assert.deepEqual(out.body.trace.steps.map((s) => [s.step, s.outcome]), [['query', 'unexpected']]);
  });

  test('the 办件库 refuses a record whose 办理人 breaks spec 6.0; the submission stands (continue)', async () => {
    const agent = (await simGet('/sim/people?min_age=30&max_age=50&limit=1')).people[0];
    const params = submission(elder, `SL${Date.now()}H`, '310001010000-01', '社会保险个人权益记录打印');
    params.agent = person(agent); // an agent came, but the 办理人 given is the applicant
    const out = await ops.post(`${F}/shebao.record_print/run`, { params, debug: true });
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.equal(out.body.status, 'partial');
    assert.ok(out.body.result.dept_case_no);
    const report = out.body.trace.steps.at(-1);
    assert.deepEqual([report.step, report.outcome, report.http_status], ['report', 'error', 422]);
    assert.match(report.error, /代办人/);
  });

  test('two departments: the second refuses, the first is cancelled at the department', async () => {
    const caseNo = `SL${Date.now()}C`;
    await simSend('POST', '/sim/faults', { prefix: '/minzheng/applications', error_rate: 1, status: 503 });
    try {
      const out = await ops.post(`${F}/canlian.subsidy.submit/run`, {
        params: submission(canlianPerson, caseNo, '310006007000-01', '困难残疾人生活补贴和重度残疾人护理补贴'),
        debug: true,
      });
      assert.equal(out.status, 200, JSON.stringify(out.body));
      assert.equal(out.body.status, 'compensated', JSON.stringify(out.body.trace.steps.map((s) => [s.step, s.outcome, s.error])));
      assert.deepEqual(out.body.trace.steps.map((s) => [s.step, s.kind, s.method]), [
        ['submit', 'call', 'apply'],
        ['register', 'call', 'apply'],
        ['submit', 'compensate', 'application_cancel'],
      ]);
      const deptNo = out.body.trace.steps[0].response.dept_case_no;
      const apps = (await simGet(`/sim/canlian/applications?id_number=${canlianPerson.id_number}`)).applications;
      const app = apps.find((a) => a.dept_case_no === deptNo);
      assert.equal(app?.status, 'cancelled', JSON.stringify(apps));
    } finally {
      await simSend('DELETE', '/sim/faults');
    }
  });

  test('asynchronous: the department is down, the submission arrives when it is back', async () => {
    const caseNo = `SL${Date.now()}A`;
    await simSend('POST', '/sim/faults', { prefix: '/shebao', error_rate: 1, status: 503 });
    const key = `case:${caseNo}:submit`;
    const q = await ops.post(`${F}/shebao.retire_apply/enqueue`, {
      params: submission(elder, caseNo, '310001002000-01', '城镇职工基本养老保险退休申请'),
      idempotency_key: key,
    });
    assert.equal(q.status, 202);
    const runsOf = async () => (await ops.get(`${RUNS}?key=${encodeURIComponent(key)}`)).body.runs;
    let runs = [];
    for (let i = 0; i < 100 && !runs.some((r) => r.status === 'failed'); i++) {
      await sleep(50);
      runs = await runsOf();
    }
    assert.ok(runs.some((r) => r.status === 'failed' && r.failed_step === 'submit'), JSON.stringify(runs));
    await simSend('DELETE', '/sim/faults');
    for (let i = 0; i < 200 && !runs.some((r) => r.status === 'ok'); i++) {
      await sleep(50);
      runs = await runsOf();
    }
    const ok = runs.find((r) => r.status === 'ok');
    assert.ok(ok, JSON.stringify(runs));
    assert.ok(ok.result.dept_case_no);
    const apps = (await simGet(`/sim/shebao/applications?id_number=${elder.id_number}`)).applications;
    assert.ok(apps.some((a) => a.case_no === caseNo), JSON.stringify(apps));
  });
});
