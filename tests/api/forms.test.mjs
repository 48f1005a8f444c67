// Application forms (docs/forms.md): an accepted case's generated form comes back as a PDF
// (GET /api/v1/cases/{no}/application-form.pdf, rendered from the case's current form data),
// and a clerk of another centre gets 404 (the case's existence is not revealed).
//
// The sub-item is 310001012000-01 (社会保险个人基本信息变更（一般信息）): a generated form whose
// only required material is the applicant's identity document.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';

import { DEMO, admin, loginAs, startServer, uniq } from './lib.mjs';

const SUB = '310001012000-01';
// A 1×1 PNG, standing in for the scan of the identity card.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

// A valid 居民身份证 number (徐汇, born 1985-03-01).
function idNumber() {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const body = '31010419850301' + String(100 + Math.floor(Math.random() * 800));
  let s = 0;
  for (let i = 0; i < 17; i++) s += Number(body[i]) * w[i];
  return body + '10X98765432'[s % 11];
}

async function send(srv, c, method, path, body, type = 'application/json') {
  const res = await fetch(srv.url + path, {
    method,
    headers: { Cookie: c.cookie, 'X-CSRF-Token': c.csrf, 'Content-Type': type },
    body: type === 'application/json' ? JSON.stringify(body) : body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function getPdf(srv, c, no) {
  const res = await fetch(`${srv.url}/api/v1/cases/${no}/application-form.pdf`, { headers: { Cookie: c.cookie } });
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('application form PDF', () => {
  let srv;
  let clerk;

  before(async () => {
    srv = await startServer();
    clerk = await loginAs(srv.url, DEMO.clerk);
  });
  after(async () => {
    await srv?.stop();
  });

  test('an accepted case gives its form as a PDF; another centre gets 404', async () => {
    const number = idNumber();
    const who = await clerk.post('/api/v1/ident/manual', { type: '111', number, name: '表单测试', reason: '读卡器故障' });
    assert.equal(who.status, 200, JSON.stringify(who.body));
    const opened = await clerk.post('/api/v1/cases', { sub_item_code: SUB, resident_id: who.body.resident.id });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const no = opened.body.case_no;
    const data = {
      applicant: { id_number: { type: '111', number }, name: '表单测试', phone: '13912345678' },
      change: { items: ['phone'], new_phone: '13812345678' },
      agent: { present: false },
    };
    const form = await send(srv, clerk, 'PUT', `/api/v1/cases/${no}/form`, { version: opened.body.version, data });
    assert.equal(form.status, 200, JSON.stringify(form.body));
    const up = await send(srv, clerk, 'POST', `/api/v1/cases/${no}/materials/applicant_id/files?source=scan&title=id`, PNG, 'image/png');
    assert.ok([200, 201].includes(up.status), JSON.stringify(up.body));
    const now = await clerk.get(`/api/v1/cases/${no}`);
    const accepted = await clerk.post(`/api/v1/cases/${no}/accept`, { version: now.body.version });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    assert.equal(accepted.body.state, 'accepted');

    const pdf = await getPdf(srv, clerk, no);
    assert.equal(pdf.status, 200, pdf.bytes.toString().slice(0, 300));
    assert.equal(pdf.type, 'application/pdf');
    assert.equal(pdf.bytes.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.ok(pdf.bytes.length > 10000, `${pdf.bytes.length} bytes`);

    const name = `frm_${uniq()}`;
    const made = admin(srv, ['user', 'create', name, '天平路窗口', '310104003C1', 'window_clerk'], 'Strong#Pass2026\n');
    assert.equal(made.status, 0, made.stderr);
    const other = await loginAs(srv.url, { username: name, password: 'Strong#Pass2026' });
    const pw = await other.post('/api/v1/auth/password', { old_password: 'Strong#Pass2026', new_password: 'Other#Pass2027x' });
    assert.equal(pw.status, 200, JSON.stringify(pw.body));
    await other.get('/api/v1/auth/me');
    const hidden = await getPdf(srv, other, no);
    assert.equal(hidden.status, 404);
    assert.equal(JSON.parse(hidden.bytes.toString()).error.field, 'no');

    const missing = await getPdf(srv, clerk, '310104014C1-20000101-999999');
    assert.equal(missing.status, 404);
  });
});
