// Places and terminals of the remote virtual window (docs/vwin.md "Places", "Terminals",
// "Map"): an admin creates points and terminals, a terminal enrols with a one-time code and
// opens a device session with its secret, a failed self-check or a lapsed heartbeat keeps
// it from issuing tickets and from being called, 上门办 is held to its fence and hours,
// re-enrolling ends the old session, and the map sync pushes the extension points to the
// government map (created once, updated when changed, deactivated) and files a problem per
// mismatch and per refused push.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DEMO, client, freePort, loginAs, sleep, sql, startServer } from './lib.mjs';

const ALL = ['card_reader', 'printer', 'scanner', 'qr', 'camera', 'microphone'];
const checks = (bad = []) => ALL.map((device) => (bad.includes(device) ? { device, ok: false, code: 'E01', message: '缺纸' } : { device, ok: true }));
const HOME = { lng: 121.437, lat: 31.188 };

describe('vwin: points, terminals, health gating, geofence, map sync', () => {
  let srv, sim, manager, clerk, ops, centre, win;

  before(async () => {
    const port = await freePort();
    sim = `http://127.0.0.1:${port}`;
    srv = await startServer(['--with-sim', '--sim-port', String(port)]);
    [manager, clerk, ops] = await Promise.all([
      loginAs(srv.url, DEMO.manager),
      loginAs(srv.url, DEMO.clerk),
      loginAs(srv.url, DEMO.ops),
    ]);
    centre = Number(sql(srv, "SELECT id FROM orgs WHERE code = '310104014C1'"));
    const wins = (await manager.get(`/api/v1/admin/queue/windows?centre_id=${centre}`)).body;
    win = (wins.windows || wins).find((w) => w.code === '01');
    assert.ok(win, 'demo window 01');
    assert.equal((await clerk.post(`/api/v1/queue/windows/${win.id}/signin`)).status, 200);
  });
  after(async () => {
    await srv?.stop();
  });

  // Run a job now and wait for that run (not an earlier one) to finish.
  async function runJob(name) {
    const last = (await ops.get(`/api/v1/admin/jobs/${name}/runs?limit=1`)).body.runs[0]?.id ?? 0;
    assert.equal((await ops.post(`/api/v1/admin/jobs/${name}/run`)).status, 202);
    for (let i = 0; i < 150; i++) {
      const runs = (await ops.get(`/api/v1/admin/jobs/${name}/runs?limit=5`)).body.runs;
      const done = runs.find((x) => x.id > last && x.manual && x.outcome !== 'running');
      if (done) return done;
      await sleep(50);
    }
    throw new Error(`${name} did not run`);
  }

  // Create a terminal, enrol it and open its device session: a client that is the terminal.
  async function terminal(code, point, kind = 'kiosk') {
    let r = await manager.post('/api/v1/admin/vwin/terminals', { code, name: `${code} 终端`, kind, point });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.state, 'offline');
    return enrol(code);
  }
  async function enrol(code) {
    let r = await manager.post(`/api/v1/admin/vwin/terminals/${code}/enrol-code`);
    assert.equal(r.status, 201);
    assert.match(r.body.enrol_code, /^\d{8}$/);
    const dev = client(srv.url);
    r = await dev.post('/api/v1/terminal/enrol', { code, enrol_code: r.body.enrol_code, device: { model: 'SIM', os: 'test' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(r.body.secret, /^[0-9a-f]{64}$/);
    const s = await dev.post('/api/v1/terminal/session', { code, secret: r.body.secret });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    assert.equal(s.body.terminal.code, code);
    return dev;
  }
  const issue = (dev, body = {}) => dev.post('/api/v1/queue/tickets', { centre_id: centre, group_code: 'A', source: 'terminal', terminal: 'FORGED', ...body });
  const live = async (code) => (await manager.get('/api/v1/vwin/terminals')).body.terminals.find((t) => t.code === code);

  test('points are validated naming the field, created and edited with a version', async () => {
    let r = await manager.post('/api/v1/admin/vwin/points', { code: 'P-T-EXT', name: '测试延伸点', kind: 'extension', centre: '310104014C1', address: '徐汇区测试路1号', lng: 121.43, lat: 31.18, radius_m: 5 });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'radius_m');
    r = await manager.post('/api/v1/admin/vwin/points', { code: 'P-T-EXT', name: '测试延伸点', kind: 'extension', centre: '310104014C1', address: '徐汇区测试路1号', lng: 121.43, lat: 31.18, hours: [{ days: '1-8', from: '08:00', to: '17:00' }] });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'hours');
    r = await manager.post('/api/v1/admin/vwin/points', { code: 'P-T-EXT', name: '测试延伸点', kind: 'extension', centre: '310104014C1', address: '徐汇区测试路1号', lng: 121.43, lat: 31.18, tags: ['社区'] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.radius_m, 200);
    assert.equal(r.body.hours.length, 2);
    r = await manager.post('/api/v1/admin/vwin/points', { code: 'P-T-EXT', name: '重复', kind: 'extension', centre: '310104014C1', address: '徐汇区测试路1号', lng: 121.43, lat: 31.18 });
    assert.equal(r.status, 409);
    r = await manager.post('/api/v1/admin/vwin/points', { code: 'P-T-HOME', name: '测试上门办', kind: 'home', centre: '310104014C1', address: '徐汇区测试路2号', ...HOME, radius_m: 500, hours: [{ days: '1-7,holiday', from: '00:00', to: '24:00' }] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const stale = await manager.patch('/api/v1/admin/vwin/points/P-T-EXT', { version: 7, name: '改名' });
    assert.equal(stale.status, 409);
    // a clerk may not manage points; another district's centre is out of the manager's scope
    assert.equal((await clerk.post('/api/v1/admin/vwin/points', {})).status, 403);
    r = await manager.post('/api/v1/admin/vwin/points', { code: 'P-T-PD', name: '浦东点', kind: 'extension', centre: '310115007C1', address: '浦东新区测试路', lng: 121.54, lat: 31.22 });
    assert.equal(r.status, 404);
    assert.equal(r.body.error.field, 'centre');
  });

  test('a failed self-check: no tickets, and call_next passes over its waiting ticket', async () => {
    const k1 = await terminal('T-KIOSK-1', 'P-T-EXT');
    const k2 = await terminal('T-KIOSK-2', 'P-T-EXT');
    // wrong enrolment codes are refused
    const bad = await client(srv.url).post('/api/v1/terminal/enrol', { code: 'T-KIOSK-1', enrol_code: '00000000' });
    assert.equal(bad.status, 403);
    // not self-checked yet: unhealthy
    let r = await issue(k1);
    assert.equal(r.status, 409);
    r = await k1.post('/api/v1/terminal/self-check', { checks: checks(), agent_version: 'sim-1' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'online');
    r = await issue(k1);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const t1 = r.body.ticket;
    assert.equal(t1.terminal, 'T-KIOSK-1', 'the terminal comes from the session, not the body');
    assert.equal(t1.point, 'P-T-EXT');
    // the printer fails: a fault, an alert state for the centre, no more tickets
    r = await k1.post('/api/v1/terminal/self-check', { checks: checks(['printer']).filter((c) => c.device !== 'qr') });
    assert.equal(r.body.state, 'fault');
    assert.deepEqual(r.body.faults.map((f) => f.device).sort(), ['printer', 'qr']);
    assert.equal(r.body.faults.find((f) => f.device === 'qr').code, 'missing');
    assert.equal((await live('T-KIOSK-1')).state, 'fault');
    r = await issue(k1);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.field, 'terminal');
    // a healthy terminal's later ticket is called first; the faulty one's waits in place
    assert.equal((await k2.post('/api/v1/terminal/self-check', { checks: checks() })).status, 200);
    r = await issue(k2);
    assert.equal(r.status, 201);
    const t2 = r.body.ticket;
    r = await clerk.post(`/api/v1/queue/windows/${win.id}/call_next`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.id, t2.id);
    const st1 = await manager.get(`/api/v1/queue/tickets/${t1.id}`);
    assert.equal(st1.body.ticket.state, 'waiting');

    // kiosk 2 goes silent while called: offline, and its ticket is suspended
    sql(srv, `UPDATE vwin_terminals SET last_seen_at = last_seen_at - 600000 WHERE code = 'T-KIOSK-2'`);
    assert.equal((await live('T-KIOSK-2')).state, 'offline', 'the live read sees the lapse at once');
    await runJob('vwin.terminal_heartbeat');
    const st2 = await manager.get(`/api/v1/queue/tickets/${t2.id}`);
    assert.equal(st2.body.ticket.state, 'suspended');
    // kiosk 1 is repaired: its ticket is called in its place
    assert.equal((await k1.post('/api/v1/terminal/self-check', { checks: checks() })).body.state, 'online');
    r = await clerk.post(`/api/v1/queue/windows/${win.id}/call_next`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.id, t1.id);
    await clerk.post(`/api/v1/queue/tickets/${t1.id}/skip`);
  });

  test('上门办: outside the fence 403 naming the distance, outside the hours 409', async () => {
    const pad = await terminal('T-PAD-1', 'P-T-HOME', 'pad');
    let r = await pad.post('/api/v1/terminal/self-check', { checks: checks(), location: { ...HOME, accuracy_m: 20 } });
    assert.equal(r.body.state, 'online');
    assert.equal(r.body.location_ok, true);
    r = await issue(pad, { location: { lng: HOME.lng, lat: HOME.lat + 0.05, accuracy_m: 30 } });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.field, 'location');
    assert.match(r.body.error.message, /距服务点 \d+ 米/);
    r = await issue(pad);
    assert.equal(r.status, 403, 'a home point needs a location');
    r = await issue(pad, { location: { lng: HOME.lng + 0.002, lat: HOME.lat, accuracy_m: 30 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await manager.post(`/api/v1/queue/tickets/${r.body.ticket.id}/force_skip`);
    // hours that exclude now (Shanghai time): 409 naming the hours
    const now = new Date(Date.now() + 8 * 3600000);
    const m = (now.getUTCHours() * 60 + now.getUTCMinutes() + 120) % 1380;
    const hhmm = (x) => `${String(Math.floor(x / 60)).padStart(2, '0')}:${String(x % 60).padStart(2, '0')}`;
    const p = (await manager.get('/api/v1/admin/vwin/points')).body.points.find((x) => x.code === 'P-T-HOME');
    r = await manager.patch('/api/v1/admin/vwin/points/P-T-HOME', { version: p.version, hours: [{ days: '1-7,holiday', from: hhmm(m), to: hhmm(m + 30) }] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    r = await issue(pad, { location: { ...HOME, accuracy_m: 10 } });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.field, 'hours');
    assert.match(r.body.error.message, /服务时段/);
  });

  test('re-enrolling ends the old device session; disabling refuses the secret', async () => {
    const old = await terminal('T-KIOSK-3', 'P-T-EXT');
    assert.equal((await old.post('/api/v1/terminal/heartbeat', {})).status, 200);
    const fresh = await enrol('T-KIOSK-3');
    assert.equal((await old.post('/api/v1/terminal/heartbeat', {})).status, 401);
    assert.equal((await fresh.post('/api/v1/terminal/heartbeat', {})).status, 200);
    // a person's session is not a terminal
    assert.equal((await clerk.post('/api/v1/terminal/heartbeat', {})).status, 403);
    const t = await live('T-KIOSK-3');
    const r = await manager.patch('/api/v1/admin/vwin/terminals/T-KIOSK-3', { version: t.version, active: false });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'disabled');
    assert.equal((await fresh.post('/api/v1/terminal/heartbeat', {})).status, 401);
  });

  // The government map as the simulator holds it.
  const mapPoint = async (id) => (await fetch(`${sim}/map/points/${id}`)).json();
  const mapCount = async (district) => (await (await fetch(`${sim}/map/points?district=${district}`)).json()).total;
  const point = async (code) => (await manager.get('/api/v1/admin/vwin/points')).body.points.find((x) => x.code === code);
  async function sync() {
    const job = await runJob('map.sync_points');
    const run = (await manager.get('/api/v1/admin/vwin/map/runs')).body.runs[0];
    const problems = (await manager.get(`/api/v1/admin/vwin/map/problems?run_id=${run.id}`)).body.problems;
    return { job, run, problems, mine: problems.filter((x) => x.kind !== 'missing_local') };
  }

  test('map sync: new points are created at the map once, changes pushed, reruns idempotent', async () => {
    const before = await mapCount('310104');
    let { job, run, mine } = await sync();
    assert.equal(job.outcome, 'ok', JSON.stringify(job));
    assert.equal(run.outcome, 'mismatch', 'the map has points Shouli lacks');
    assert.ok(run.pushed >= 2, JSON.stringify(run)); // P-T-EXT and the demo extension points
    assert.equal(run.push_failed, 0);
    assert.deepEqual(mine, [], 'nothing but the map\'s own points differs');
    let p = await point('P-T-EXT');
    assert.match(p.map_id, /^YSD310104\d{3}$/);
    assert.equal((await point('P-T-HOME')).map_id, null, 'a 上门办 point is not on the map');
    let m = await mapPoint(p.map_id);
    assert.equal(m.name, p.name);
    assert.equal(m.source_code, 'P-T-EXT');
    assert.equal(m.type, 'community');
    assert.equal(m.status, 'active');
    const count = await mapCount('310104');
    assert.ok(count > before);

    // nothing changed: nothing pushed, nothing new at the map
    ({ run, mine } = await sync());
    assert.equal(run.pushed, 0, JSON.stringify(run));
    assert.deepEqual(mine, []);
    assert.equal(await mapCount('310104'), count);

    // an edit is pushed, and the day's change logs agree
    let r = await manager.patch('/api/v1/admin/vwin/points/P-T-EXT', { version: p.version, name: '测试延伸点（改）', tags: ['园区'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    ({ run, mine } = await sync());
    assert.equal(run.pushed, 1, JSON.stringify(run));
    assert.deepEqual(mine, []);
    m = await mapPoint(p.map_id);
    assert.equal(m.name, '测试延伸点（改）');
    assert.equal(m.type, 'park');

    // a crash after the map created the point but before Shouli stored its id: the rerun
    // creates again, the map answers the same point (deduplicated by the point code)
    sql(srv, "UPDATE vwin_points SET map_id = NULL, map_hash = NULL WHERE code = 'P-T-EXT'");
    ({ run, mine } = await sync());
    assert.equal(run.pushed, 1, JSON.stringify(run));
    assert.deepEqual(mine, []);
    assert.equal((await point('P-T-EXT')).map_id, p.map_id);
    assert.equal(await mapCount('310104'), count);
  });

  test('map sync: an edit made at the map, a refused push and a deactivation are problems or pushes', async () => {
    let p = await point('P-T-EXT');
    // someone edits the point at the map directly: changed, and a change Shouli did not push
    let res = await fetch(`${sim}/map/points/${p.map_id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: '与地图不一致的名称', address: p.address, district: '310104', lng: p.lng, lat: p.lat, type: 'park' }),
    });
    assert.equal(res.status, 200);
    let { run, mine } = await sync();
    assert.equal(run.pushed, 0);
    assert.equal(run.outcome, 'mismatch');
    const changed = mine.find((x) => x.point === 'P-T-EXT' && x.kind === 'changed');
    assert.ok(changed, JSON.stringify(mine));
    assert.ok(changed.detail.fields.some((f) => f.field === 'name' && f.map === '与地图不一致的名称' && f.local === '测试延伸点（改）'));
    const unmatched = mine.find((x) => x.point === 'P-T-EXT' && x.kind === 'change_unmatched');
    assert.ok(unmatched, JSON.stringify(mine));
    assert.equal(unmatched.detail.side, 'map');
    assert.equal(unmatched.detail.op, 'update');
    let r = await manager.post(`/api/v1/admin/vwin/map/problems/${changed.id}/close`, { note: '已通知政务地图更正名称' });
    assert.equal(r.status, 200);
    r = await manager.post(`/api/v1/admin/vwin/map/problems/${changed.id}/close`, { note: '再次关闭' });
    assert.equal(r.status, 409);

    // a point the map refuses (outside Shanghai) is a problem on every run, never skipped
    r = await manager.post('/api/v1/admin/vwin/points', { code: 'P-T-FAR', name: '市外测试点', kind: 'extension', centre: '310104014C1', address: '外省测试路1号', lng: 116.4, lat: 39.9 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    for (let i = 0; i < 2; i++) {
      ({ run, mine } = await sync());
      assert.equal(run.push_failed, 1, JSON.stringify(run));
      const failed = mine.filter((x) => x.point === 'P-T-FAR');
      assert.deepEqual(failed.map((x) => x.kind), ['push_failed'], JSON.stringify(failed));
      assert.equal(failed[0].detail.op, 'create');
      assert.match(failed[0].detail.message, /经度应在上海市范围内/);
    }
    assert.equal((await point('P-T-FAR')).map_id, null);
    let far = await point('P-T-FAR');
    r = await manager.patch('/api/v1/admin/vwin/points/P-T-FAR', { version: far.version, active: false });
    assert.equal(r.status, 200, JSON.stringify(r.body));

    // deactivated in Shouli: deactivated at the map, once
    p = await point('P-T-EXT');
    r = await manager.patch('/api/v1/admin/vwin/points/P-T-EXT', { version: p.version, active: false });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    ({ run, mine } = await sync());
    assert.equal(run.pushed, 1, JSON.stringify(run));
    assert.equal(run.push_failed, 0, 'an inactive point without a map id is not pushed');
    assert.equal((await mapPoint(p.map_id)).status, 'inactive');
    assert.deepEqual(mine.filter((x) => x.point === 'P-T-EXT' && x.kind !== 'change_unmatched'), [], JSON.stringify(mine));
    ({ run } = await sync());
    assert.equal(run.pushed, 0);
    const pushes = sql(srv, "SELECT op || ':' || effect || ':' || outcome FROM vwin_map_pushes WHERE point = 'P-T-EXT' ORDER BY id").split('\n');
    assert.deepEqual(pushes, ['create:create:ok', 'update:update:ok', 'create:none:ok', 'deactivate:deactivate:ok']);
  });
});
