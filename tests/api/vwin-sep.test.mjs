// 收受分离 and 全市通办 from the virtual window (docs/vwin.md "收受分离 from the virtual window",
// seed rows 4–8) and the video providers against the simulator (seed row 16), on one server
// with the simulators: the terminal's list of 收受分离 items; the clerk opening the case of a
// video session through POST /api/v1/vwin/sessions/{id}/case {sub_item_code, resident_id,
// mode} (entry "virtual", the item's vwin_mode deciding, the session/point recorded on the
// case, the link and the evidence row in the same unit); the bank and tencent providers
// making their rooms at /video/rooms with join tokens for both sides, and an outage of the
// video service falling back to webrtc.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DEMO, client, freePort, loginAs, sql, sleep, startServer, uniq } from './lib.mjs';
import { idNumber } from './cases-lib.mjs';

const ALL = ['card_reader', 'printer', 'scanner', 'qr', 'camera', 'microphone'];
const DUAL_SEP = '310004004000-01'; // 敬老卡申请: separated, vwin_mode dual
const ORIGINAL_SEP = '310009004000-01'; // 收养登记档案查询: separated, vwin_mode original
const NOT_SEP = '310006014000'; // 残疾人求职登记: dual, no 收受分离

describe('vwin: 收受分离 from the virtual window, video providers', () => {
  let srv, sim, clerk, manager, admin, kiosk, code, point, win, centreId, centreCode;
  let simToken;

  before(async () => {
    const port = await freePort();
    sim = `http://127.0.0.1:${port}`;
    srv = await startServer(['--with-sim', '--sim-port', String(port)]);
    [clerk, manager, admin] = await Promise.all([loginAs(srv.url, DEMO.clerk), loginAs(srv.url, DEMO.manager), loginAs(srv.url, DEMO.admin)]);
    const me = await clerk.get('/api/v1/auth/me');
    centreCode = me.body.user.scope.code;
    const wins = await clerk.get('/api/v1/admin/queue/windows');
    assert.equal(wins.status, 200, JSON.stringify(wins.body));
    win = wins.body.windows[0];
    centreId = win.centre_id;
    assert.equal((await clerk.post(`/api/v1/queue/windows/${win.id}/signin`, {})).status, 200);

    code = `S-${uniq().toUpperCase()}`.slice(0, 20);
    point = `P-${code}`;
    const pt = await admin.post('/api/v1/admin/vwin/points', {
      code: point, name: '枫林居民区延伸服务点', kind: 'extension', centre: centreCode,
      address: '上海市徐汇区枫林路1号', lng: 121.451, lat: 31.195, radius_m: 200,
    });
    assert.equal(pt.status, 201, JSON.stringify(pt.body));
    const tm = await admin.post('/api/v1/admin/vwin/terminals', { code, name: '枫林自助终端', kind: 'kiosk', point });
    assert.equal(tm.status, 201, JSON.stringify(tm.body));
    const ec = await admin.post(`/api/v1/admin/vwin/terminals/${code}/enrol-code`, {});
    kiosk = client(srv.url);
    const en = await kiosk.post('/api/v1/terminal/enrol', { code, enrol_code: ec.body.enrol_code, device: { model: 'sim' } });
    assert.ok(en.status < 300, JSON.stringify(en.body));
    const ds = await kiosk.post('/api/v1/terminal/session', { code, secret: en.body.secret });
    assert.ok(ds.status < 300, JSON.stringify(ds.body));
    const sc = await kiosk.post('/api/v1/terminal/self-check', { checks: ALL.map((device) => ({ device, ok: true })), agent_version: 'sim-1' });
    assert.ok(sc.status < 300, JSON.stringify(sc.body));

    const tok = await fetch(`${sim}/video/auth/token`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'shouli', password: 'video-demo-secret' }),
    });
    simToken = (await tok.json()).access_token;
  });
  after(async () => {
    await fetch(`${sim}/sim/faults`, { method: 'DELETE' }).catch(() => null);
    await srv?.stop();
  });

  const simRoom = async (id) => (await fetch(`${sim}/video/rooms/${id}`, { headers: { Authorization: `Bearer ${simToken}` } })).json();

  // The window's called or serving tickets are force-skipped so that call_next takes a new one.
  async function clearWindow() {
    for (const id of sql(srv, `SELECT id FROM queue_tickets WHERE window_id = ${win.id} AND state IN ('called', 'serving')`).split('\n').filter(Boolean)) {
      assert.equal((await clerk.post(`/api/v1/queue/tickets/${id}/force_skip`, {})).status, 200);
    }
  }

  // A kiosk ticket called by the clerk → its pre-warmed session (polled: the hook runs after
  // the call's commit).
  async function callSession() {
    await clearWindow();
    const tk = await kiosk.post('/api/v1/queue/tickets', { centre_id: centreId, group_code: win.groups[0], source: 'terminal', terminal: code });
    assert.equal(tk.status, 201, JSON.stringify(tk.body));
    const called = await clerk.post(`/api/v1/queue/windows/${win.id}/call_next`, {});
    assert.equal(called.status, 200, JSON.stringify(called.body));
    assert.equal(called.body.id, tk.body.ticket.id);
    for (let i = 0; i < 100; i++) {
      const s = await clerk.get(`/api/v1/vwin/tickets/${tk.body.ticket.id}/session`);
      if (s.status === 200) return s.body;
      await sleep(100);
    }
    throw new Error('no session for the called ticket');
  }

  async function resident() {
    const who = await clerk.post('/api/v1/ident/manual', { type: '111', number: idNumber(), name: '虚拟窗口居民', reason: '视频受理' });
    assert.equal(who.status, 200, JSON.stringify(who.body));
    return who.body.resident.id;
  }

  test('the terminal lists the 收受分离 items a virtual window takes', async () => {
    const r = await kiosk.get('/api/v1/terminal/items?separated=1');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.items.length > 20, `${r.body.items.length} items`);
    assert.equal(r.body.total, r.body.items.length);
    for (const it of r.body.items) {
      assert.ok(['virtual', 'dual'].includes(it.vwin_mode), JSON.stringify(it));
      assert.ok(it.name && it.short_name && it.department.name && it.sub_items.length, JSON.stringify(it));
    }
    const codes = r.body.items.map((i) => i.code);
    const jlk = r.body.items.find((i) => i.code === DUAL_SEP.slice(0, 12));
    assert.ok(jlk, 'the dual 收受分离 item is listed');
    assert.equal(jlk.department.name, '上海市公安局');
    assert.equal(jlk.short_name, '敬老卡');
    assert.ok(!codes.includes(ORIGINAL_SEP.slice(0, 12)), 'an original item is not offered at a virtual window');
    assert.ok(!codes.includes(NOT_SEP), 'an item without 收受分离 is not listed');
    // the catalog's other list agrees: every listed code is a current item
    const again = await kiosk.get('/api/v1/terminal/items?separated=1');
    assert.deepEqual(again.body.items.map((i) => i.code), codes, 'the cached answer is the same');

    const bad = await kiosk.get('/api/v1/terminal/items');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'separated');
    assert.equal((await clerk.get('/api/v1/terminal/items?separated=1')).status, 403, 'terminal.use only');
  });

  test('the clerk opens a 收受分离 case in the call: entry virtual, session and point on the case', async () => {
    const s = await callSession();
    const rid = await resident();
    const url = `/api/v1/vwin/sessions/${s.id}/case`;

    // validation names the field; an original item cannot be taken at a virtual window
    let r = await clerk.post(url, { resident_id: rid, mode: 'separated' });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.field, 'sub_item_code');
    r = await clerk.post(url, { sub_item_code: DUAL_SEP, resident_id: rid, mode: 'fast' });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.error.field, 'mode');
    r = await clerk.post(url, { sub_item_code: DUAL_SEP, mode: 'separated' });
    assert.equal(r.body.error.field, 'resident_id');
    r = await clerk.post(url, { sub_item_code: DUAL_SEP, resident_id: rid, case_no: 'X-1-000001' });
    assert.equal(r.status, 400);
    for (const mode of ['separated', 'direct']) {
      r = await clerk.post(url, { sub_item_code: ORIGINAL_SEP, resident_id: rid, mode });
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.equal(r.body.error.field, 'entry');
      assert.match(r.body.error.message, /虚拟窗口/);
    }
    assert.equal(sql(srv, `SELECT COUNT(*) FROM cases WHERE vwin_session_id = ${s.id}`), '0', 'nothing was left of the refused openings');
    // a manager of the centre may see the session, but only its clerk opens the case
    r = await manager.post(url, { sub_item_code: DUAL_SEP, resident_id: rid, mode: 'separated' });
    assert.ok(r.status === 403 || r.status === 404, `${r.status} ${JSON.stringify(r.body)}`);

    r = await clerk.post(url, { sub_item_code: DUAL_SEP, resident_id: rid, mode: 'separated' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const no = r.body.case_no;
    assert.ok(no, JSON.stringify(r.body));
    assert.equal(r.body.id, s.id);
    const kase = await clerk.get(`/api/v1/cases/${no}`);
    assert.equal(kase.status, 200);
    assert.equal(kase.body.state, 'draft');
    assert.equal(kase.body.mode, 'separated');
    assert.equal(kase.body.entry, 'virtual');
    assert.equal(kase.body.entry_label, '远程虚拟窗口');
    assert.equal(kase.body.receiving_org.code, centreCode, 'the receiving centre is the clerk\'s');
    assert.deepEqual(kase.body.vwin, { session_id: s.id, point, point_kind: 'extension' });
    assert.equal(sql(srv, `SELECT vwin_point || '|' || vwin_point_kind FROM cases WHERE case_no = '${no}'`), `${point}|extension`);
    // the terminal sees the case of its session
    const ks = await kiosk.get(`/api/v1/terminal/sessions/${s.id}`);
    assert.equal(ks.body.case_no, no);
    // the evidence has the opening, and the chain still verifies
    const ev = await clerk.get(`/api/v1/vwin/sessions/${s.id}/evidence`);
    assert.equal(ev.body.valid, true);
    const row = ev.body.events.find((e) => e.kind === 'case');
    assert.deepEqual(row.payload, { case_no: no, opened: true, mode: 'separated', sub_item_code: DUAL_SEP });
    // once linked it stays: a second opening or another case is refused
    r = await clerk.post(url, { sub_item_code: DUAL_SEP, resident_id: rid, mode: 'direct', allow_duplicate: true });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.field, 'case_no');
    // the traditional 收受分离 entry cannot take the same application a second time
    r = await clerk.post('/api/v1/cases', { sub_item_code: DUAL_SEP, resident_id: rid, mode: 'separated', allow_duplicate: true });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.field, 'entry');

    // a duplicate in a new session answers the open case numbers, as POST /api/v1/cases does
    const s2 = await callSession();
    r = await clerk.post(`/api/v1/vwin/sessions/${s2.id}/case`, { sub_item_code: DUAL_SEP, resident_id: rid, mode: 'direct' });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.deepEqual(r.body.duplicates, [no]);
    // an ended session takes no case
    assert.equal((await clerk.post(`/api/v1/vwin/sessions/${s2.id}/end`, {})).status, 200);
    r = await clerk.post(`/api/v1/vwin/sessions/${s2.id}/case`, { sub_item_code: DUAL_SEP, resident_id: rid, mode: 'direct', allow_duplicate: true });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.field, 'state');
    // a direct case opened in the call is a virtual-window case too
    const s3 = await callSession();
    r = await clerk.post(`/api/v1/vwin/sessions/${s3.id}/case`, { sub_item_code: '310006014000-01', resident_id: await resident(), mode: 'direct' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const k3 = await clerk.get(`/api/v1/cases/${r.body.case_no}`);
    assert.equal(k3.body.mode, 'direct');
    assert.equal(k3.body.entry, 'virtual');
    assert.equal(k3.body.vwin.session_id, s3.id);
  });

  test('bank and tencent rooms are made at the video service, with join tokens for both sides', async () => {
    try {
      for (const [key, provider] of [[`vwin_video_provider:${centreCode}`, 'bank'], ['vwin_video_provider', 'tencent']]) {
        sql(srv, "DELETE FROM settings WHERE key LIKE 'vwin_video_provider%'");
        sql(srv, `INSERT INTO settings (key, value, updated_at) VALUES ('${key}', '${provider}', 0)`);
        const s = await callSession();
        assert.equal(s.provider, provider);
        assert.match(s.room, /^VR/, 'the video service\'s room id');
        let room = await simRoom(s.room);
        assert.equal(room.status, 'open', JSON.stringify(room));
        const kj = await kiosk.post(`/api/v1/terminal/sessions/${s.id}/join`, {});
        assert.equal(kj.status, 200, JSON.stringify(kj.body));
        assert.equal(kj.body.join.provider, provider);
        assert.equal(kj.body.join.room, s.room);
        assert.match(kj.body.join.token, /^[0-9a-f]{48}$/);
        assert.ok(kj.body.join.expires_in > 0);
        const cj = await clerk.post(`/api/v1/vwin/sessions/${s.id}/join`, {});
        assert.equal(cj.status, 200, JSON.stringify(cj.body));
        assert.equal(cj.body.state, 'active');
        assert.notEqual(cj.body.join.token, kj.body.join.token);
        room = await simRoom(s.room);
        assert.deepEqual(room.participants.map((p) => p.role).sort(), ['clerk', 'resident']);
        // ending closes the room at the service
        assert.equal((await clerk.post(`/api/v1/vwin/sessions/${s.id}/end`, {})).status, 200);
        assert.equal((await simRoom(s.room)).status, 'closed');
      }

      // the video service down: the call still gets a room, from the built-in provider
      assert.equal((await fetch(`${sim}/sim/faults`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prefix: '/video', status: 503 }),
      })).status, 200);
      const s = await callSession();
      assert.equal(s.provider, 'webrtc');
      assert.match(s.room, /^webrtc-/);
      const kj = await kiosk.post(`/api/v1/terminal/sessions/${s.id}/join`, {});
      assert.equal(kj.status, 200);
      assert.deepEqual(kj.body.join.ice_servers, []);
      await clerk.post(`/api/v1/vwin/sessions/${s.id}/end`, {});
    } finally {
      await fetch(`${sim}/sim/faults`, { method: 'DELETE' });
      sql(srv, "DELETE FROM settings WHERE key LIKE 'vwin_video_provider%'");
    }
  });
});
