// Application forms (docs/forms.md): an accepted case's generated form comes back as a PDF
// (GET /api/v1/cases/{no}/application-form.pdf, rendered from the case's current form data),
// and a clerk of another centre gets 404 (the case's existence is not revealed). A case of a
// fixed (制式) form gets its catalog template with the values written in (pdftotext reads
// them back) and ✓ in the boxes of the chosen options.
//
// The sub-item is 310001012000-01 (社会保险个人基本信息变更（一般信息）): a generated form whose
// only required material is the applicant's identity document. The fixed one is
// 310012005000-01 (上海市困难职工帮扶申请表（生活救助）).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { DEMO, admin, loginAs, startServer, uniq } from './lib.mjs';
import { PNG, openManual } from './cases-lib.mjs';

const SUB = '310001012000-01';
const FIXED = '310012005000-01';
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
    const { number, no, opened } = await openManual(clerk, SUB, '表单测试');
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

  test('a fixed form: the template with the case\'s values written in', async () => {
    const editor = await loginAs(srv.url, DEMO.catalog);
    const sample = await editor.get(`/api/v1/admin/catalog/subitems/${FIXED}/sample`);
    assert.equal(sample.status, 200, JSON.stringify(sample.body));
    const name = `制式${uniq().slice(-4)}`;
    const { number, no, opened } = await openManual(clerk, FIXED, name);
    const data = sample.body.data;
    data.applicant = { ...data.applicant, id_number: { type: '111', number }, name, phone: '13900001111' };
    data.applicant.household_type = 'nonlocal';
    data.worker = { ...data.worker, employer: '上海示例机械厂' };
    const form = await send(srv, clerk, 'PUT', `/api/v1/cases/${no}/form`, { version: opened.body.version, data });
    assert.equal(form.status, 200, JSON.stringify(form.body));

    const pdf = await getPdf(srv, clerk, no);
    assert.equal(pdf.status, 200, pdf.bytes.toString().slice(0, 300));
    assert.equal(pdf.type, 'application/pdf');
    const dir = mkdtempSync(join(tmpdir(), 'forms-api-'));
    try {
      writeFileSync(join(dir, 'f.pdf'), pdf.bytes);
      const out = spawnSync('pdftotext', ['-q', '-raw', '-enc', 'UTF-8', join(dir, 'f.pdf'), '-'], { encoding: 'utf8' });
      assert.equal(out.status, 0, out.stderr);
      const text = out.stdout.replace(/\s+/g, '');
      // the template's own text
      assert.ok(text.includes('上海市困难职工帮扶申请表'), text.slice(0, 200));
      assert.ok(text.includes('共同生活家庭成员'));
      // the case's values, the case number, a ✓ for 外省市户籍 and for the 工会会员 answer
      for (const want of [name, number, '13900001111', '上海示例机械厂', no]) {
        assert.ok(text.includes(want), `${want} not in the PDF text`);
      }
      assert.ok((text.match(/✓/g) || []).length >= 2, 'the chosen options are ticked');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
