// Electronic signatures in the console (docs/sign.md, docs/ui.md "申请表"), against a real
// server with the signing gate on (accept_requires_signature): a case of 城乡居民基本养老
// 保险补助（低保、特困人员缴费补助）, a generated form signed by several people (一表多签)
// with three 承诺事项, here the applicant and — the form says an agent acts for them — the
// agent. 受理 first is refused with a `signature` problem that leads to the 申请表 panel; the
// clerk starts signing; the applicant ticks every commitment and signs with the mouse; the
// agent sees the form with the first signature (the form.pdf request) and the signer list
// with 已签, signs; the seal verifies (校验通过); 受理 then succeeds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './server.mjs';
import { launchBrowser, signIn } from './browser.mjs';

const CLERK = ['clerk', 'Clerk@2026demo'];
const SUB = '310001029000-02';
// 1×1 PNG: a scan as the document camera would send it.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

function shotPath(name) {
  return join(tmpdir(), `shouli-console-sign-${name}-${process.pid}.png`);
}

// A simulated resident the 民政 and 居保 systems know: 低保, insured as a resident, 20–55.
async function findApplicant(simUrl) {
  const res = await fetch(`${simUrl}/sim/people?has=dibao&insured=resident&min_age=20&max_age=55&hukou=1&limit=5`);
  const body = await res.json();
  assert.ok(body.people?.length, `no simulated applicant: ${JSON.stringify(body)}`);
  return body.people[0];
}

// Someone else of the population as the agent.
async function findAgent(simUrl, not) {
  const res = await fetch(`${simUrl}/sim/people?min_age=30&max_age=60&limit=5`);
  const body = await res.json();
  return body.people.find((p) => p.id_number !== not);
}

function cardOf(p) {
  return {
    reader: 'SIM-W03',
    type_flag: '0',
    card: {
      name: p.name,
      sex: p.gender_code,
      nation: '01',
      birth_date: p.birth_date,
      address: p.hukou?.address || p.address,
      id_number: p.id_number,
      issuer: '上海市公安局',
      valid_from: '2020-01-01',
      valid_to: '2040-01-01',
    },
  };
}

// A JSON call from the page: the session cookie and the page's CSRF token.
function pageApi(page) {
  return (method, path, body, contentType) =>
    page.evaluate(
      async ({ method, path, body, contentType }) => {
        const headers = { Accept: 'application/json', 'X-CSRF-Token': sessionStorage.getItem('shouli.csrf') || '' };
        let payload;
        if (contentType) {
          headers['Content-Type'] = contentType;
          payload = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
        } else if (body !== undefined) {
          headers['Content-Type'] = 'application/json';
          payload = JSON.stringify(body);
        }
        const r = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
        const text = await r.text();
        return { status: r.status, body: text ? JSON.parse(text) : null };
      },
      { method, path, body, contentType },
    );
}

// Draws a signature-like zigzag on the pad with the mouse, in two strokes.
async function drawSignature(page, dialog) {
  const pad = dialog.locator('[data-test="sign-pad"]');
  const box = await pad.boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + 40, y);
  await page.mouse.down();
  for (let i = 1; i <= 12; i++) await page.mouse.move(box.x + 40 + i * 25, y + (i % 2 ? -30 : 30), { steps: 3 });
  await page.mouse.up();
  await page.mouse.move(box.x + 60, y + 50);
  await page.mouse.down();
  await page.mouse.move(box.x + 300, y + 55, { steps: 10 });
  await page.mouse.up();
  await page.waitForFunction(
    (el) => el.dataset.strokes === '2',
    await pad.elementHandle(),
  );
}

// Ticks every commitment of the dialog, draws, and submits; returns the posted body.
async function sign(page, role) {
  const dialog = page.locator(`[data-test="sign-dialog"][data-role="${role}"]`);
  await dialog.waitFor();
  const submit = dialog.locator('[data-test="sign-submit"]');
  const boxes = dialog.locator('[data-test="commitment"]');
  const n = await boxes.count();
  assert.equal(n, 3, 'the three 承诺事项 of the plan');
  await drawSignature(page, dialog);
  // Not before every commitment is ticked.
  assert.equal(await submit.isDisabled(), true);
  for (let i = 0; i < n; i++) await boxes.nth(i).click();
  await page.waitForFunction((el) => !el.disabled, await submit.elementHandle());
  const posted = page.waitForRequest((r) => r.url().endsWith('/signing/signatures') && r.method() === 'POST');
  const answered = page.waitForResponse((r) => r.url().endsWith('/signing/signatures') && r.request().method() === 'POST');
  await submit.click();
  const req = await posted;
  const res = await answered;
  assert.equal(res.status(), 200, await res.text());
  await dialog.waitFor({ state: 'hidden' });
  return JSON.parse(req.postData());
}

describe('console e-signatures', () => {
  let server;
  let b;
  let simUrl;

  before(async () => {
    const simPort = await freePort();
    simUrl = `http://127.0.0.1:${simPort}`;
    server = await startServer(['--with-sim', `--sim-port=${simPort}`, '--accept-requires-signature=true']);
    b = await launchBrowser({ width: 1500, height: 1000 });
    await signIn(b.page, server.url, ...CLERK, '/console/');
  });

  after(async () => {
    await b?.close();
    await server?.stop();
  });

  test('two signers with commitments, the multi-sign view, the seal, then 受理', async () => {
    const page = b.page;
    const call = pageApi(page);
    const applicant = await findApplicant(simUrl);
    const agent = await findAgent(simUrl, applicant.id_number);

    // The applicant's card through the simulated reader, the item, the sub-item, 开始受理.
    await page.goto(`${server.url}/console/accept?reader=sim`);
    await page.locator('[data-test="reader-sim-json"]').fill(JSON.stringify(cardOf(applicant)));
    await page.keyboard.press('F2');
    await page.locator('[data-test="resident-panel"]').waitFor();
    await page.goto(`${server.url}/console/accept/310001029000?sub=${SUB}`);
    await page.locator(`[data-test="subitem-option"][data-code="${SUB}"]`).click();
    await page.locator('[data-test="open-case"]:not([disabled])').click();
    await page.waitForURL((u) => /^\/console\/accept\/case\/[^/?]+$/.test(u.pathname));
    const caseNo = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
    const caseUrl = `/api/v1/cases/${encodeURIComponent(caseNo)}`;
    await page.locator('[data-test="sign-panel"]').waitFor();
    // The page prefills a fresh case (its flows may take a moment): let it finish first.
    await page.waitForFunction(() => !location.search.includes('fresh'));
    await page.locator('[data-test="prefill"]:not(.is-loading)').waitFor({ timeout: 20000 });

    // The form and the materials through the API (the console's own form filling is
    // console-accept's subject): the applicant, acting through an agent.
    const data = {
      applicant: {
        id_number: { type: '111', number: applicant.id_number },
        name: applicant.name,
        sex: applicant.gender_code,
        phone: applicant.phone || '13800138000',
        household_type: 'local',
        address: { district: applicant.district_code, street: applicant.street, neighbourhood: '第一居委会', detail: '1号' },
      },
      jubao: { status: '1' },
      assistance: { type: '1', cert_no: 'DB310104000123', valid: true },
      subsidy: { year: new Date().getFullYear() },
      guardian: { present: false },
      agent: {
        present: true,
        id_number: { type: '111', number: agent.id_number },
        name: agent.name,
        phone: agent.phone || '13900139000',
        relation: '10',
      },
    };
    let saved = null;
    for (let i = 0; i < 5 && !saved; i++) {
      const c = await call('GET', caseUrl);
      const r = await call('PUT', `${caseUrl}/form`, { version: c.body.version, data });
      if (r.status === 200) saved = r.body;
      else assert.equal(r.status, 409, JSON.stringify(r.body));
    }
    assert.ok(saved, 'the form was saved');
    assert.deepEqual(saved.evaluation?.violations || [], []);
    for (const slot of ['applicant_id', 'hukou', 'assistance_cert', 'agent_id', 'power_of_attorney']) {
      const r = await call('POST', `${caseUrl}/materials/${slot}/files?source=scan&title=${slot}.png`, PNG, 'image/png');
      assert.equal(r.status, 201, `${slot}: ${JSON.stringify(r.body)}`);
    }
    await page.reload();
    await page.locator('[data-test="sign-panel"]').waitFor();

    // Before signing: the signers the form makes applicable, in order — the applicant and
    // the agent, not the guardian.
    const roles = () =>
      page.$$eval('[data-test="signer"]', (els) => els.map((e) => e.dataset.role));
    await page.waitForFunction(() => document.querySelectorAll('[data-test="signer"]').length >= 2);
    assert.deepEqual(await roles(), ['applicant', 'agent']);

    // 受理 now: refused with a signature problem; clicking it brings up the 申请表 panel.
    await page.locator('[data-test="accept"]').click();
    const problem = page.locator('[data-test="problem"][data-kind="signature"]');
    await problem.waitFor();
    assert.match(await problem.innerText(), /签名/);
    const pdfShown = page.waitForResponse((r) => r.url().includes('/application-form.pdf'));
    await problem.click();
    await page.locator('[data-test="sign-pdf"]').waitFor();
    const pdf = await pdfShown;
    assert.equal(pdf.status(), 200);
    assert.match((await pdf.allHeaders())['content-type'] || '', /application\/pdf/);

    // 开始签名: a round; the applicant signs first.
    await page.locator('[data-test="signing-start"]').click();
    await page.locator('[data-test="signing-state"][data-state="open"]').waitFor();
    const status = (role) => page.locator(`[data-test="signer-status"][data-role="${role}"]`);
    await page.waitForFunction(() => document.querySelector('[data-test="signer-status"][data-role="applicant"]')?.textContent.includes('待签'));
    assert.match(await status('agent').innerText(), /等待/);
    await page.locator('[data-test="sign-next"][data-role="applicant"]').click();
    const first = await sign(page, 'applicant');
    assert.equal(first.role, 'applicant');
    assert.equal(first.device, 'window');
    assert.deepEqual([...first.commitments].sort(), ['report', 'share', 'truth']);
    assert.match(first.png, /^iVBORw0KGgo/, 'a PNG, base64 without the data: prefix');
    assert.equal(first.strokes.length, 2);
    for (const stroke of first.strokes) {
      assert.ok(stroke.length > 3);
      for (const [x, y, t] of stroke) assert.ok(x >= 0 && y >= 0 && Number.isInteger(t) && t >= 0);
    }
    await page.waitForFunction(() => document.querySelector('[data-test="signer-status"][data-role="applicant"]')?.textContent.includes('已签'));

    // 一表多签: the agent's dialog loads the form with the first signature drawn in and lists
    // who signed.
    // (The dialog's request: `n` is the number of signatures so far; the panel's own preview
    // asks with `r` first.)
    const formPdf = page.waitForResponse((r) => /\/signing\/form\.pdf\?n=1&/.test(r.url()));
    await page.locator('[data-test="sign-next"][data-role="agent"]').click();
    const withFirst = await formPdf;
    assert.equal(withFirst.status(), 200);
    assert.match((await withFirst.allHeaders())['content-type'] || '', /application\/pdf/);
    const earlier = page.locator('[data-test="sign-dialog"][data-role="agent"] [data-test="sign-earlier-row"]');
    await earlier.first().waitFor();
    assert.equal(await earlier.count(), 1);
    assert.equal(await earlier.first().getAttribute('data-role'), 'applicant');
    assert.match(await earlier.first().innerText(), new RegExp(applicant.name));
    await page.screenshot({ path: shotPath('second-signer'), fullPage: true });
    console.log(`screenshot: ${shotPath('second-signer')}`);
    const second = await sign(page, 'agent');
    assert.equal(second.role, 'agent');
    assert.equal(second.signer_name, agent.name);

    // Sealed after the last signer; the seal verifies.
    await page.locator('[data-test="signing-state"][data-state="sealed"]').waitFor();
    const valid = page.locator('[data-test="seal-valid"]');
    await valid.waitFor();
    assert.equal(await valid.getAttribute('data-valid'), 'true');
    assert.match(await valid.innerText(), /校验通过/);
    assert.match(await page.locator('[data-test="seal-key"]').innerText(), /^[0-9a-f]{32}$/);
    assert.equal(await status('agent').innerText(), '已签');

    // The sealed PDF is the 申请表 material now (the panel follows the seal), the signature
    // problem of the first try is gone, and 受理 succeeds.
    await page.locator('[data-test="material-slot"][data-slot="application_form"] [data-test="material-entry"][data-source="e_sign"]').waitFor();
    assert.equal(await page.locator('[data-test="problem"][data-kind="signature"]').count(), 0);
    await page.setViewportSize({ width: 1500, height: 2600 });
    await page.screenshot({ path: shotPath('sealed'), fullPage: true });
    console.log(`screenshot: ${shotPath('sealed')}`);
    await page.setViewportSize({ width: 1500, height: 1000 });
    await page.keyboard.press('Control+Enter');
    await page.waitForURL((u) => u.pathname.endsWith('/receipt'), { timeout: 15000 }).catch(async (err) => {
      const errs = await page.locator('[data-test="problem"]').allInnerTexts();
      throw new Error(`not accepted: ${errs.join(' | ')} (${err.message})`);
    });
    const c = await call('GET', caseUrl);
    assert.equal(c.body.state === 'accepted' || c.body.state === 'in_progress', true, c.body.state);
  });
});
