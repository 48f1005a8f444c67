// Video sessions of the remote virtual window (docs/vwin.md "Sessions"), end to end on one
// server: an admin makes an extension point and a kiosk, the kiosk enrols and opens its
// device session; it takes a ticket, a clerk calls it → the session is pre-warmed and the
// kiosk hears the call on terminal:<code>:events (WebSocket); both sides join and relay an
// offer, an answer and candidates each way over session:<id>:<side>; the clerk opens a case
// for the resident, asks for a second card read (the payload is checked like the card
// reader's and written into the form), pushes the form for signing on screen (the kiosk
// signs through the signing routes → sealed, device kiosk), pushes it for print-and-sign
// (the 高拍仪 photo lands in the application_form material as kiosk_photo), ends; the
// evidence chain verifies, and a row changed in SQL makes it invalid.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';

import { DEMO, client, loginAs, sleep, sql, startServer, uniq } from './lib.mjs';
import { idNumber, jpeg, merge, openManual, raw } from './cases-lib.mjs';

const SUB = '310001029000-02'; // second_read: applicant, guardian; generated form
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A minimal WebSocket client of /api/v1/ws: { send(obj), next(pred, ms), close() }. */
function wsOpen(url, cookie) {
  const { port } = new URL(url);
  return new Promise((ok, fail) => {
    const key = randomBytes(16).toString('base64');
    const sock = connect(Number(port), '127.0.0.1');
    let buf = Buffer.alloc(0);
    let open = false;
    const queue = [];
    const waiters = [];
    const deliver = (m) => {
      const i = waiters.findIndex((w) => w.pred(m));
      if (i >= 0) waiters.splice(i, 1)[0].ok(m);
      else queue.push(m);
    };
    const frames = () => {
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const op = buf[0] & 0x0f;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 1) deliver(JSON.parse(payload.toString('utf8')));
      }
    };
    sock.on('error', fail);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101')) return fail(new Error(head));
        const want = createHash('sha1').update(key + WS_GUID).digest('base64');
        if (!head.includes(want)) return fail(new Error('bad Sec-WebSocket-Accept'));
        open = true;
        buf = buf.subarray(end + 4);
        ok(api);
      }
      frames();
    });
    const api = {
      send(obj) {
        const data = Buffer.from(JSON.stringify(obj));
        const mask = randomBytes(4);
        const head = data.length < 126 ? Buffer.from([0x81, 0x80 | data.length]) : Buffer.from([0x81, 0x80 | 126, data.length >> 8, data.length & 255]);
        const body = Buffer.from(data.map((b, i) => b ^ mask[i & 3]));
        sock.write(Buffer.concat([head, mask, body]));
      },
      next(pred, ms = 3000) {
        const i = queue.findIndex(pred);
        if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
        return new Promise((res, rej) => {
          const w = { pred, ok: (m) => (clearTimeout(t), res(m)) };
          const t = setTimeout(() => {
            waiters.splice(waiters.indexOf(w), 1);
            rej(new Error('no such WebSocket message in time'));
          }, ms);
          waiters.push(w);
        });
      },
      async subscribe(topic) {
        api.send({ op: 'subscribe', topic });
        return api.next((m) => m.topic === topic && (m.op === 'subscribed' || m.op === 'error'));
      },
      event: (topic, pred = () => true, ms) => api.next((m) => m.op === 'event' && m.topic === topic && pred(m.data), ms),
      close: () => sock.destroy(),
    };
    sock.write(
      ['GET /api/v1/ws HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13', `Cookie: ${cookie}`].join('\r\n') + '\r\n\r\n',
    );
  });
}

// A 2×2 PNG "signature".
function png() {
  const CRC = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (b) => {
    let c = 0xffffffff;
    for (const x of b) c = CRC[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(2, 0);
  ihdr.writeUInt32BE(2, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const row = Buffer.from([0, 10, 20, 30, 10, 20, 30]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat([row, row]))), chunk('IEND', Buffer.alloc(0))]);
}

const OFFER = 'v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n';
const CAND = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

// The places routes (another part of docs/vwin.md) answer 200 or 201: either is success.
const ok2xx = (r) => assert.ok(r.status === 200 || r.status === 201, `${r.status} ${JSON.stringify(r.body)}`);

describe('video sessions of the virtual window', () => {
  let srv;
  let adminC;
  let clerk;
  let catalog;
  let kiosk;
  let code;
  let win;
  let centreId;

  before(async () => {
    srv = await startServer();
    adminC = await loginAs(srv.url, DEMO.admin);
    clerk = await loginAs(srv.url, DEMO.clerk);
    catalog = await loginAs(srv.url, DEMO.catalog);
  });
  after(async () => {
    await srv?.stop();
  });

  test('pre-warm, join, relay, card read, signing, photo, end, evidence', async () => {
    // the clerk's centre and a window there
    const me = await clerk.get('/api/v1/auth/me');
    assert.equal(me.status, 200, JSON.stringify(me.body));
    const wins = await clerk.get('/api/v1/admin/queue/windows');
    assert.equal(wins.status, 200, JSON.stringify(wins.body));
    win = wins.body.windows[0];
    centreId = win.centre_id;
    const centreCode = me.body.user.scope.code;
    assert.equal((await clerk.post(`/api/v1/queue/windows/${win.id}/signin`, {})).status, 200);

    // the terminal side through the places routes: point, terminal, enrol, device session
    code = `K-${uniq().toUpperCase()}`.slice(0, 20);
    const pt = await adminC.post('/api/v1/admin/vwin/points', {
      code: `P-${code}`, name: '光明居民区延伸服务点', kind: 'extension', centre: centreCode,
      address: '上海市徐汇区光明路1号', lng: 121.437, lat: 31.188, radius_m: 200,
    });
    assert.equal(pt.status, 201, JSON.stringify(pt.body));
    const tm = await adminC.post('/api/v1/admin/vwin/terminals', { code, name: '光明自助终端', kind: 'kiosk', point: `P-${code}` });
    assert.equal(tm.status, 201, JSON.stringify(tm.body));
    const ec = await adminC.post(`/api/v1/admin/vwin/terminals/${code}/enrol-code`, {});
    ok2xx(ec);
    kiosk = client(srv.url);
    const en = await kiosk.post('/api/v1/terminal/enrol', { code, enrol_code: ec.body.enrol_code, device: { model: 'sim' } });
    ok2xx(en);
    const ds = await kiosk.post('/api/v1/terminal/session', { code, secret: en.body.secret });
    ok2xx(ds);
    const checks = ['card_reader', 'printer', 'scanner', 'qr', 'camera', 'microphone'].map((device) => ({ device, ok: true }));
    const sc = await kiosk.post('/api/v1/terminal/self-check', { checks, agent_version: 'sim-1' });
    ok2xx(sc);

    // the kiosk listens for its calls
    const kws = await wsOpen(srv.url, kiosk.cookie);
    const sub = await kws.subscribe(`terminal:${code}:events`);
    assert.equal(sub.op, 'subscribed', JSON.stringify(sub));

    // a ticket from the kiosk; the clerk calls it → pre-warmed session, the kiosk is told
    const tk = await kiosk.post('/api/v1/queue/tickets', { centre_id: centreId, group_code: win.groups[0], source: 'terminal', terminal: code });
    assert.equal(tk.status, 201, JSON.stringify(tk.body));
    const called = await clerk.post(`/api/v1/queue/windows/${win.id}/call_next`, {});
    assert.equal(called.status, 200, JSON.stringify(called.body));
    assert.equal(called.body.id, tk.body.ticket.id);
    const call = await kws.event(`terminal:${code}:events`, (d) => d.type === 'call');
    const sid = call.data.session;
    assert.ok(sid > 0, JSON.stringify(call.data));
    assert.equal(call.data.ticket_id, tk.body.ticket.id);
    let s = await clerk.get(`/api/v1/vwin/tickets/${tk.body.ticket.id}/session`);
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.equal(s.body.id, sid);
    assert.equal(s.body.state, 'waiting');
    assert.equal(s.body.provider, 'webrtc');

    // only the session's sides may listen; another clerk may not see it
    const cws = await wsOpen(srv.url, clerk.cookie);
    assert.equal((await cws.subscribe(`session:${sid}:terminal`)).op, 'error');
    assert.equal((await kws.subscribe(`session:${sid}:clerk`)).op, 'error');
    assert.equal((await cws.subscribe(`session:${sid}:clerk`)).op, 'subscribed');
    assert.equal((await kws.subscribe(`session:${sid}:terminal`)).op, 'subscribed');
    assert.equal((await clerk.get(`/api/v1/vwin/sessions/${sid + 1000}`)).status, 404);
    assert.equal((await kiosk.get(`/api/v1/vwin/sessions/${sid}`)).status, 403, 'the clerk side is not the kiosk\'s');

    // join both sides: waiting → active
    let j = await kiosk.post(`/api/v1/terminal/sessions/${sid}/join`, {});
    assert.equal(j.status, 200, JSON.stringify(j.body));
    assert.equal(j.body.state, 'waiting');
    assert.deepEqual(j.body.join.ice_servers, []);
    j = await clerk.post(`/api/v1/vwin/sessions/${sid}/join`, {});
    assert.equal(j.status, 200, JSON.stringify(j.body));
    assert.equal(j.body.state, 'active');
    assert.equal((await kws.event(`session:${sid}:terminal`, (d) => d.type === 'state' && d.state === 'active')).data.joined, 'clerk');

    // signalling each way; bad signals are refused naming the field
    let r = await clerk.post(`/api/v1/vwin/sessions/${sid}/signal`, { type: 'offer', data: { type: 'offer', sdp: OFFER } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    let ev = await kws.event(`session:${sid}:terminal`, (d) => d.type === 'signal');
    assert.equal(ev.data.signal, 'offer');
    assert.equal(ev.data.data.sdp, OFFER);
    r = await kiosk.post(`/api/v1/terminal/sessions/${sid}/signal`, { type: 'answer', data: { type: 'answer', sdp: OFFER } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    ev = await cws.event(`session:${sid}:clerk`, (d) => d.type === 'signal' && d.signal === 'answer');
    assert.equal(ev.data.from, 'terminal');
    r = await kiosk.post(`/api/v1/terminal/sessions/${sid}/signal`, { type: 'candidate', data: CAND });
    assert.equal(r.status, 200);
    assert.deepEqual((await cws.event(`session:${sid}:clerk`, (d) => d.signal === 'candidate')).data.data, CAND);
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/signal`, { type: 'candidate', data: CAND });
    assert.equal(r.status, 200);
    assert.equal((await kws.event(`session:${sid}:terminal`, (d) => d.signal === 'candidate')).data.from, 'clerk');
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/signal`, { type: 'offer', data: { sdp: 'hello' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'data.sdp');
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/signal`, { type: 'offer', data: { sdp: 'v=0' + 'a'.repeat(17000) } });
    assert.equal(r.status, 400);
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/signal`, { type: 'hello', data: {} });
    assert.equal(r.body.error.field, 'type');

    // a command needs a case: the clerk opens one for the resident and links it
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/commands`, { kind: 'card_read', role: 'applicant' });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    const number = idNumber();
    const { no } = await openManual(clerk, SUB, '视频受理', number);
    const sample = await catalog.get(`/api/v1/admin/catalog/subitems/${SUB}/sample`);
    const data = merge(sample.body.data, {
      applicant: { id_number: null, name: '视频受理' },
      jubao: { status: '1' }, assistance: { valid: true }, guardian: { present: false }, agent: { present: false },
    });
    delete data.applicant.id_number;
    let kase = await clerk.get(`/api/v1/cases/${no}`);
    const put = await fetch(`${srv.url}/api/v1/cases/${no}/form`, {
      method: 'PUT', headers: { Cookie: clerk.cookie, 'X-CSRF-Token': clerk.csrf, 'Content-Type': 'application/json' },
      body: JSON.stringify({ version: kase.body.version, data }),
    });
    assert.equal(put.status, 200, await put.text());
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/case`, { case_no: no });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.case_no, no);

    // 二次读卡: a role the sub-item does not read is refused; the applicant's card is read
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/commands`, { kind: 'card_read', role: 'agent' });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.field, 'role');
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/commands`, { kind: 'card_read', role: 'applicant', point: 'before_sign' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const cid = r.body.command;
    ev = await kws.event(`session:${sid}:terminal`, (d) => d.type === 'command');
    assert.equal(ev.data.command, cid);
    assert.equal(ev.data.args.role, 'applicant');
    const card = { name: '视频受理', sex: '2', nation: '01', birth_date: '1985-03-01', address: '上海市徐汇区光明路1号', id_number: number, valid_to: '2040-01-01' };
    r = await kiosk.post(`/api/v1/terminal/sessions/${sid}/commands/${cid}/result`, { ok: true, reader: 'SIM', card: { ...card, id_number: number.slice(0, 17) + (number[17] === '0' ? '1' : '0') } });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.error.field, 'card.id_number');
    r = await kiosk.post(`/api/v1/terminal/sessions/${sid}/commands/${cid}/result`, { ok: true, reader: 'SIM', card });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.commands.find((c) => c.id === cid).state, 'done');
    assert.equal((await cws.event(`session:${sid}:clerk`, (d) => d.type === 'command_result')).data.state, 'done');
    kase = await clerk.get(`/api/v1/cases/${no}`);
    assert.deepEqual(kase.body.form.applicant.id_number, { type: '111', number });
    r = await kiosk.post(`/api/v1/terminal/sessions/${sid}/commands/${cid}/result`, { ok: true, card });
    assert.equal(r.status, 409, 'a command is answered once');

    // 推送申请表（签字）: the clerk starts the round, the kiosk signs through the signing routes
    assert.equal((await kiosk.get(`/api/v1/cases/${no.replace(/\d{6}$/, '999999')}/signing`)).status, 403, 'only the session\'s case');
    assert.equal((await clerk.post(`/api/v1/cases/${no}/signing`, {})).status, 200);
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/commands`, { kind: 'form_push', mode: 'sign' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const sign = r.body.command;
    const view = await kiosk.get(`/api/v1/cases/${no}/signing`);
    assert.equal(view.status, 200, JSON.stringify(view.body));
    const pdf = await raw(kiosk, srv.url, 'GET', `/api/v1/cases/${no}/signing/form.pdf`);
    assert.equal(pdf.status, 200);
    assert.equal(pdf.bytes.subarray(0, 5).toString(), '%PDF-');
    r = await kiosk.post(`/api/v1/terminal/sessions/${sid}/commands/${sign}/result`, { ok: true });
    assert.equal(r.status, 409, 'nothing signed yet');
    for (const signer of view.body.signers) {
      r = await kiosk.post(`/api/v1/cases/${no}/signing/signatures`, {
        role: signer.role, png: png().toString('base64'), strokes: [[[10, 10, 0], [20, 14, 16]]],
        commitments: view.body.commitments.map((c) => c.id), device: 'window',
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const signed = await clerk.get(`/api/v1/cases/${no}/signing`);
    assert.equal(signed.body.state, 'sealed');
    assert.ok(signed.body.signers.every((x) => x.device === 'kiosk'), JSON.stringify(signed.body.signers));
    assert.equal((await clerk.get(`/api/v1/cases/${no}/signature`)).body.valid, true);
    r = await kiosk.post(`/api/v1/terminal/sessions/${sid}/commands/${sign}/result`, { ok: true });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.commands.find((c) => c.id === sign).state, 'done');

    // 推送申请表（打印签字）: the 高拍仪 photo becomes a kiosk_photo entry
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/commands`, { kind: 'form_push', mode: 'print' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const print = r.body.command;
    const photo = await raw(kiosk, srv.url, 'POST', `/api/v1/terminal/sessions/${sid}/commands/${print}/photo`, jpeg(2048), 'image/jpeg');
    assert.equal(photo.status, 200, JSON.stringify(photo.body));
    const mats = await clerk.get(`/api/v1/cases/${no}/materials`);
    const slot = mats.body.slots.find((x) => x.id === 'application_form');
    assert.ok(slot.files.some((f) => f.source === 'kiosk_photo'), JSON.stringify(slot.files));

    // a failed command is recorded as failed
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/commands`, { kind: 'card_read', role: 'applicant' });
    r = await kiosk.post(`/api/v1/terminal/sessions/${sid}/commands/${r.body.command}/result`, { ok: false, message: '读卡器无响应' });
    assert.equal(r.status, 200);
    assert.equal(r.body.commands.at(-1).state, 'failed');

    // end: both sides hear it; the evidence chain verifies
    r = await clerk.post(`/api/v1/vwin/sessions/${sid}/end`, {});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.state, 'ended');
    assert.equal((await kws.event(`session:${sid}:terminal`, (d) => d.type === 'state' && d.state === 'ended')).data.reason, 'clerk');
    assert.equal((await kiosk.post(`/api/v1/terminal/sessions/${sid}/signal`, { type: 'bye' })).status, 409);
    let evd = await clerk.get(`/api/v1/vwin/sessions/${sid}/evidence`);
    assert.equal(evd.status, 200, JSON.stringify(evd.body));
    assert.equal(evd.body.valid, true, JSON.stringify(evd.body));
    const kinds = evd.body.events.map((e) => e.kind);
    for (const k of ['call', 'join', 'signal', 'case', 'command', 'card_read', 'signature', 'photo', 'result', 'end'])
      assert.ok(kinds.includes(k), `${k} in ${kinds}`);
    assert.ok(!JSON.stringify(evd.body).includes('IN IP4'), 'no SDP in the evidence');
    assert.ok(!JSON.stringify(evd.body).includes(number), 'no ID number in the evidence');
    assert.equal((await kiosk.get(`/api/v1/terminal/sessions/${sid}`)).status, 200);

    // tamper with a row behind the server's back → invalid, naming the row
    sql(srv, `UPDATE vwin_evidence SET payload = replace(payload, 'clerk', 'terminal') WHERE session_id = ${sid} AND kind = 'join' AND payload LIKE '%clerk%'`);
    evd = await clerk.get(`/api/v1/vwin/sessions/${sid}/evidence`);
    assert.equal(evd.body.valid, false);
    assert.equal(evd.body.events[evd.body.first_bad_seq - 1].kind, 'join');
    assert.match(evd.body.reason, /篡改/);
    kws.close();
    cws.close();
  });
  test('the sweeper drops a session nobody touches and suspends its ticket', async () => {
    const ops = await loginAs(srv.url, DEMO.ops);
    const tk = await kiosk.post('/api/v1/queue/tickets', { centre_id: centreId, group_code: win.groups[0], source: 'terminal', terminal: code });
    assert.equal(tk.status, 201, JSON.stringify(tk.body));
    // the window still has the first ticket: skip it (its session ended already)
    for (const id of sql(srv, `SELECT id FROM queue_tickets WHERE window_id = ${win.id} AND state IN ('called', 'serving')`).split('\n').filter(Boolean)) {
      assert.equal((await clerk.post(`/api/v1/queue/tickets/${id}/force_skip`, {})).status, 200);
    }
    const called = await clerk.post(`/api/v1/queue/windows/${win.id}/call_next`, {});
    assert.equal(called.status, 200, JSON.stringify(called.body));
    const s = await clerk.get(`/api/v1/vwin/tickets/${called.body.id}/session`);
    assert.equal(s.body.state, 'waiting');
    const age = Date.now() - 16 * 60 * 1000;
    sql(srv, `UPDATE vwin_sessions SET updated_at = ${age}, created_at = ${age} WHERE id = ${s.body.id}`);
    const before = (await ops.get('/api/v1/admin/jobs/vwin.sessions_sweep/runs?limit=1')).body.runs.length;
    assert.equal((await ops.post('/api/v1/admin/jobs/vwin.sessions_sweep/run')).status, 202);
    let done;
    for (let i = 0; i < 100 && !done; i++) {
      const runs = (await ops.get('/api/v1/admin/jobs/vwin.sessions_sweep/runs?limit=5')).body.runs;
      done = runs.length > before ? runs.find((x) => x.manual && x.outcome !== 'running') : undefined;
      if (!done) await sleep(100);
    }
    assert.ok(done, 'the sweep ran');
    assert.equal(done.outcome, 'ok', JSON.stringify(done));
    const after = await clerk.get(`/api/v1/vwin/sessions/${s.body.id}`);
    assert.equal(after.body.state, 'dropped');
    assert.equal(after.body.end_reason, 'idle');
    assert.equal(sql(srv, `SELECT state FROM queue_tickets WHERE id = ${called.body.id}`), 'suspended');
    const evd = await clerk.get(`/api/v1/vwin/sessions/${s.body.id}/evidence`);
    assert.equal(evd.body.valid, true);
    assert.deepEqual(evd.body.events.map((e) => e.kind), ['call', 'drop']);
  });

  // The window's called or serving tickets are force-skipped so that call_next takes a new one.
  async function clearWindow() {
    for (const id of sql(srv, `SELECT id FROM queue_tickets WHERE window_id = ${win.id} AND state IN ('called', 'serving')`).split('\n').filter(Boolean)) {
      assert.equal((await clerk.post(`/api/v1/queue/tickets/${id}/force_skip`, {})).status, 200);
    }
  }

  test('the kiosk hears its position on terminal:<code>:queue after every change of the centre', async () => {
    await clearWindow();
    // nothing else waits in the window's groups, so the numbers below are exact
    sql(srv, `UPDATE queue_tickets SET state = 'cancelled' WHERE org_id = ${centreId} AND state = 'waiting'`);
    const kws = await wsOpen(srv.url, kiosk.cookie);
    const topic = `terminal:${code}:queue`;
    assert.equal((await kws.subscribe(topic)).op, 'subscribed');
    const group = win.groups[0];
    const t1 = await kiosk.post('/api/v1/queue/tickets', { centre_id: centreId, group_code: group, source: 'terminal', terminal: code });
    assert.equal(t1.status, 201, JSON.stringify(t1.body));
    const id1 = t1.body.ticket.id;
    let ev = await kws.event(topic, (d) => d.event === 'position' && d.ticket_id === id1);
    assert.equal(ev.data.position, 1);
    assert.equal(ev.data.state, 'waiting');
    assert.equal(ev.data.ticket_no, t1.body.ticket.ticket_no);
    assert.equal(ev.data.wait.ahead, 0);
    assert.equal(ev.data.wait.minutes, 0);

    // a second ticket of the kiosk behind the first: the events agree with the status route
    const t2 = await kiosk.post('/api/v1/queue/tickets', { centre_id: centreId, group_code: group, source: 'terminal', terminal: code });
    assert.equal(t2.status, 201);
    const id2 = t2.body.ticket.id;
    ev = await kws.event(topic, (d) => d.event === 'position' && d.ticket_id === id2);
    assert.equal(ev.data.position, 2);
    const st = await kiosk.get(`/api/v1/queue/tickets/${id2}?token=${t2.body.token}`);
    assert.equal(st.status, 200);
    assert.equal(st.body.position, ev.data.position);
    for (const k of ['minutes', 'low', 'high', 'ahead']) assert.equal(ev.data.wait[k], st.body.wait[k], k);
    assert.ok(ev.data.wait.high > ev.data.wait.minutes && ev.data.wait.minutes > 0, JSON.stringify(ev.data.wait));

    // the first is called: its terminal hears the new state, the second moves up
    const called = await clerk.post(`/api/v1/queue/windows/${win.id}/call_next`, {});
    assert.equal(called.status, 200, JSON.stringify(called.body));
    assert.equal(called.body.id, id1);
    ev = await kws.event(topic, (d) => d.event === 'position' && d.ticket_id === id1 && d.state !== 'waiting');
    assert.equal(ev.data.state, 'called');
    assert.equal(ev.data.position, null);
    ev = await kws.event(topic, (d) => d.event === 'position' && d.ticket_id === id2 && d.position === 1);
    assert.equal(ev.data.wait.ahead, 0);

    // cancelled by the resident: told as well; another terminal's topic is not the kiosk's
    assert.equal((await kiosk.post(`/api/v1/queue/tickets/${id2}/cancel`, { token: t2.body.token })).status, 200);
    ev = await kws.event(topic, (d) => d.event === 'position' && d.ticket_id === id2 && d.state !== 'waiting');
    assert.equal(ev.data.state, 'cancelled');
    assert.equal((await kws.subscribe('terminal:K-OTHER-1:queue')).op, 'error');
    kws.close();
  });

  test('the evaluation joins the session\'s evidence chain', async () => {
    await clearWindow();
    const tk = await kiosk.post('/api/v1/queue/tickets', { centre_id: centreId, group_code: win.groups[0], source: 'terminal', terminal: code });
    assert.equal(tk.status, 201, JSON.stringify(tk.body));
    const called = await clerk.post(`/api/v1/queue/windows/${win.id}/call_next`, {});
    assert.equal(called.body.id, tk.body.ticket.id, JSON.stringify(called.body));
    const s = await clerk.get(`/api/v1/vwin/tickets/${tk.body.ticket.id}/session`);
    assert.equal(s.status, 200, JSON.stringify(s.body));
    const sid = s.body.id;
    assert.equal((await clerk.post(`/api/v1/queue/tickets/${tk.body.ticket.id}/start`, {})).status, 200);
    assert.equal((await clerk.post(`/api/v1/queue/tickets/${tk.body.ticket.id}/finish`, {})).status, 200);
    const comment = '工作人员耐心细致，电话 13800001234';
    const r = await kiosk.post(`/api/v1/queue/tickets/${tk.body.ticket.id}/rating`, { token: tk.body.token, level: 4, comment, tags: ['等候太久'] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.ok(r.body.followup?.id > 0, '差评 opens a follow-up');

    const evd = await clerk.get(`/api/v1/vwin/sessions/${sid}/evidence`);
    assert.equal(evd.status, 200);
    assert.equal(evd.body.valid, true, JSON.stringify(evd.body));
    const kinds = evd.body.events.map((e) => e.kind);
    assert.deepEqual(kinds.slice(-2), ['end', 'evaluation'], kinds.join());
    const last = evd.body.events.at(-1);
    const p = typeof last.payload === 'string' ? JSON.parse(last.payload) : last.payload;
    assert.equal(p.level, 4);
    assert.equal(p.bad, true);
    assert.equal(p.rating_id, r.body.rating.id);
    assert.equal(p.followup_id, r.body.followup.id);
    assert.equal(p.ticket_id, tk.body.ticket.id);
    assert.deepEqual(p.tags, ['等候太久']);
    assert.equal(p.comment_sm3.length, 64);
    assert.ok(!JSON.stringify(evd.body).includes('13800001234'), 'the comment itself is not in the chain');
    assert.equal(last.prev_hash, evd.body.events.at(-2).hash);

    // a second rating is refused and adds nothing
    const again = await kiosk.post(`/api/v1/queue/tickets/${tk.body.ticket.id}/rating`, { token: tk.body.token, level: 1 });
    assert.equal(again.status, 409);
    const evd2 = await clerk.get(`/api/v1/vwin/sessions/${sid}/evidence`);
    assert.equal(evd2.body.events.length, evd.body.events.length);
  });
});
