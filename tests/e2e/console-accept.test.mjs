// The clerk's window acceptance in the browser, against the embedded simulators: a card
// read through the page's simulated reader (?reader=sim), the resident panel with its
// warning, the item found by its initials, the case opened and prefilled (the source of a
// prefilled value shown), the form filled, a scan uploaded as a material, 受理 refused by
// the server for a field left empty — its problem list leads to the field, the clerk fixes
// it — then accepted, the 受理回执 printed, 下一位. The same resident and sub-item again show
// the duplicate dialog. 办件查询 lists the case; its detail shows the timeline, and a
// correction request and its resume change the state.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './server.mjs';
import { launchBrowser, signIn } from './browser.mjs';

const CLERK = ['clerk', 'Clerk@2026demo'];
// A resident of the simulators (fixed seed): over 80, Shanghai hukou.
const ELDER = { id_number: '310116194302116939', name: '龚国强', phone: '18984266775', birth: '1943-02-11' };
// 1×1 PNG: a scan as the document camera would send it (type checked by content).
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

function card(overrides = {}) {
  return {
    reader: 'SIM-W03',
    type_flag: '0',
    card: {
      name: ELDER.name,
      sex: '1',
      nation: '01',
      birth_date: ELDER.birth,
      address: '上海市金山区朱泾镇人民路1号',
      id_number: ELDER.id_number,
      issuer: '上海市公安局金山分局',
      valid_from: '2005-01-01',
      // An expired card is accepted with a warning.
      valid_to: '2020-01-01',
      ...overrides,
    },
  };
}

function shotPath(name) {
  return join(tmpdir(), `shouli-console-${name}-${process.pid}.png`);
}

const field = (page, id) => page.locator(`[data-test="field-${id}"]`);

// Reads a card through the page's simulated reader (F2 in ?reader=sim mode).
async function readCard(page, url, payload) {
  await page.goto(`${url}/console/accept?reader=sim`);
  // A resident left from before: 下一位.
  await page.locator('[data-test="ident-panel"], [data-test="resident-panel"]').first().waitFor();
  if (await page.locator('[data-test="resident-next"]').count()) await page.locator('[data-test="resident-next"]').click();
  const json = page.locator('[data-test="reader-sim-json"]');
  await json.waitFor();
  await json.fill(JSON.stringify(payload, null, 2));
  await page.keyboard.press('F2');
  await page.locator('[data-test="resident-panel"]').waitFor();
}

// From the resident panel: 敬老卡申请 by its initials, the first sub-item, 开始受理.
async function openElderCard(page) {
  const search = page.locator('[data-test="item-search"]');
  await search.fill('jlk');
  await page.waitForFunction(
    () => document.querySelector('[data-test="item-result"] .r-name')?.textContent.trim() === '敬老卡申请',
  );
  await search.press('Enter');
  await page.locator('[data-test="item-name"]', { hasText: '敬老卡申请' }).waitFor();
  await page.locator('[data-test="subitem-option"]').first().click();
  await page.locator('[data-test="open-case"]:not([disabled])').click();
}

// Submits the open action dialog and waits for the state; a refusal fails with its message.
async function act(page, state) {
  const dialog = page.locator('[data-test="action-dialog"]');
  await dialog.locator('[data-test="action-submit"]').click();
  const done = page.locator(`[data-test="case-state"][data-state="${state}"]`);
  const err = dialog.locator('[data-test="action-error"]');
  await done.or(err).first().waitFor();
  if (await err.isVisible()) throw new Error(`action refused: ${await err.innerText()}`);
}

async function waitSaved(page) {
  await page.waitForFunction(() => document.querySelector('[data-test="save-state"]')?.dataset.state === 'saved');
}

describe('console acceptance', () => {
  let server;
  let b;
  let caseNo = '';

  before(async () => {
    server = await startServer(['--with-sim']);
    b = await launchBrowser({ width: 1400, height: 900 });
    await b.context.addInitScript(() => {
      window.__printed = 0;
      window.print = () => {
        window.__printed += 1;
      };
    });
    await signIn(b.page, server.url, ...CLERK, '/console/');
  });

  after(async () => {
    await b?.close();
    await server?.stop();
  });

  test('from a simulated card read to the printed receipt, fixing what the server refused', async () => {
    const page = b.page;
    await readCard(page, server.url, card());
    const panel = page.locator('[data-test="resident-panel"]');
    assert.equal((await panel.locator('[data-test="resident-name"]').innerText()).trim(), ELDER.name);
    // The clerk holds ident.read: the full number; the server derived the age.
    assert.match(await panel.locator('[data-test="resident-number"]').innerText(), new RegExp(ELDER.id_number));
    assert.match(await panel.locator('[data-test="resident-age"]').innerText(), /^8\d 岁$/);
    assert.match(await panel.locator('[data-test="resident-warning"]').first().innerText(), /证件已过期/);
    // The next step has the keyboard: the item search.
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.test), 'item-search');

    await openElderCard(page);
    await page.waitForURL((u) => /^\/console\/accept\/case\/[^/]+$/.test(u.pathname));
    caseNo = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
    assert.match(caseNo, /^310104014C1-\d{8}-\d{6}$/);
    assert.equal((await page.locator('[data-test="case-no"]').innerText()).trim(), caseNo);

    // Prefilled on opening: the applicant's name from the card read, marked with its source.
    const name = field(page, 'applicant.name');
    await name.locator('[data-test="field-source"]').waitFor();
    assert.equal(await name.locator('input').inputValue(), ELDER.name);
    assert.match(await name.locator('[data-test="field-source"]').innerText(), /\p{Script=Han}/u);

    // The clerk fills the rest, but not the phone number.
    await field(page, 'applicant.id_number').locator('input[data-test="id-doc-number"]').fill(ELDER.id_number);
    const address = field(page, 'applicant.address');
    await address.locator('.el-select .el-select__wrapper').first().click();
    await page.locator('.el-select-dropdown__item:visible', { hasText: '金山区' }).first().click();
    const [street, neighbourhood] = await address.locator('.fi-row > .el-input input').all();
    await street.fill('朱泾镇');
    await neighbourhood.fill('人民居委会');
    await address.locator('.fi-detail input').fill('人民路1号');
    await field(page, 'agent.present').locator('.el-radio', { hasText: '否' }).click();
    await waitSaved(page);

    // 预审 answers each rule with a verdict (the elder already has a card: a warning).
    await page.locator('[data-test="verdict"][data-rule="age_65"]').waitFor();
    await page.waitForFunction(
      () => document.querySelector('[data-test="verdict"][data-rule="not_issued"]')?.dataset.verdict === 'warn',
    );

    // A scan of the identity card into its slot; the thumbnail shows and the list is complete.
    await page.locator('[data-test="material-file-upload"][data-slot="applicant_id"]').setInputFiles({
      name: 'idcard.png',
      mimeType: 'image/png',
      buffer: PNG,
    });
    await page.locator('[data-test="material-slot"][data-slot="applicant_id"] [data-test="material-thumb"]').waitFor();
    await page.waitForFunction(
      () => document.querySelector('[data-test="materials-complete"]')?.textContent.includes('材料齐全'),
    );
    await page.setViewportSize({ width: 1400, height: 2200 });
    await page.screenshot({ path: shotPath('accept'), fullPage: true });
    console.log(`screenshot: ${shotPath('accept')}`);
    await page.setViewportSize({ width: 1400, height: 900 });

    // 受理 (Ctrl+Enter): the server refuses, naming the empty phone number.
    await page.keyboard.press('Control+Enter');
    const problem = page.locator('[data-test="problem"][data-field="applicant.phone"]');
    await problem.waitFor();
    assert.match(await problem.innerText(), /\p{Script=Han}/u);
    assert.match(await page.locator('[data-test="accept-error"]').innerText(), /受理前检查未通过/);
    await problem.click();
    await page.waitForFunction(() =>
      document.querySelector('[data-test="field-applicant.phone"]')?.contains(document.activeElement),
    );
    await page.keyboard.type(ELDER.phone);
    await waitSaved(page);
    // With the form complete, the age rule passes for an elder of 8x.
    await page.waitForFunction(
      () => document.querySelector('[data-test="verdict"][data-rule="age_65"]')?.dataset.verdict === 'pass',
    );
    await page.keyboard.press('Control+Enter');

    await page.waitForURL((u) => u.pathname.endsWith('/receipt'));
    const receipt = page.locator('[data-test="receipt"]');
    await receipt.waitFor();
    assert.equal((await page.locator('[data-test="receipt-case-no"]').innerText()).trim(), caseNo);
    assert.match(await page.locator('[data-test="receipt-title"]').innerText(), /受理回执/);
    // 敬老卡申请 is a 承诺件: the server's promised date.
    assert.match(await page.locator('[data-test="receipt-promised"]').innerText(), /^\d{4}-\d{2}-\d{2}$/);
    assert.match(await page.locator('[data-test="receipt-materials"]').innerText(), /申请人有效身份证件/);
    await page.screenshot({ path: shotPath('receipt'), fullPage: true });
    console.log(`screenshot: ${shotPath('receipt')}`);
    await page.locator('[data-test="receipt-print"]').click();
    assert.equal(await page.evaluate(() => window.__printed), 1);

    // 下一位: back to step 1 with nobody identified.
    await page.locator('[data-test="next-resident"]').click();
    await page.locator('[data-test="ident-panel"]').waitFor();
    assert.equal(await page.locator('[data-test="resident-panel"]').count(), 0);
  });

  test('the same resident and sub-item again: the duplicate dialog, then allow_duplicate', async () => {
    const page = b.page;
    assert.ok(caseNo, 'the first test accepted a case');
    await readCard(page, server.url, card({ valid_to: '2035-01-01' }));
    assert.equal(await page.locator('[data-test="resident-warning"]').count(), 0);
    await openElderCard(page);
    const dialog = page.locator('[data-test="duplicate-dialog"]');
    await dialog.locator('[data-test="duplicate-case"]').first().waitFor();
    assert.match(await dialog.innerText(), new RegExp(caseNo));
    await dialog.locator('[data-test="duplicate-confirm"]').click();
    await page.waitForURL((u) => /^\/console\/accept\/case\/[^/]+$/.test(u.pathname));
    const second = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
    assert.notEqual(second, caseNo);
    await page.locator('[data-test="case-state"][data-state="draft"]').waitFor();
  });

  test('办件查询 lists the case; its detail shows the timeline; 补正 and 补正完成', async () => {
    const page = b.page;
    await page.goto(`${server.url}/console/cases`);
    const row = page.locator('[data-test="case-table"] .el-table__row', { hasText: caseNo });
    await row.waitFor();
    // accepted, and then (the simulated department received it) in progress
    assert.match(await row.locator('[data-test="case-row-state"]').innerText(), /已受理|办理中/);
    // Searching by the case number finds exactly it.
    await page.locator('[data-test="case-search"]').fill(caseNo);
    await page.locator('[data-test="case-search"]').press('Enter');
    await page.waitForFunction(
      (no) => {
        const rows = document.querySelectorAll('[data-test="case-table"] .el-table__row');
        return rows.length === 1 && rows[0].textContent.includes(no);
      },
      caseNo,
    );
    await row.click();
    await page.waitForURL((u) => u.pathname === `/console/cases/${caseNo}`);
    await page.locator('[data-test="timeline-event"][data-kind="accept"]').waitFor();
    // The hand-off: the department's system received the case (报送与归档 shows its number),
    // and the case is in progress there. The page follows the push event.
    await page.locator('[data-test="delivery-state"][data-state="delivered"]').waitFor({ timeout: 20000 });
    assert.match(await page.locator('[data-test="dept-case-no"]').innerText(), /\S+/);
    await page.locator('[data-test="case-state"][data-state="in_progress"]').waitFor();
    assert.equal((await page.locator('[data-test="case-state"]').innerText()).trim(), '办理中');
    assert.match(await page.locator('[data-test="case-promised"]').innerText(), /^\d{4}-\d{2}-\d{2}$/);

    // 补正 with one item.
    await page.locator('[data-test="case-action"][data-action="request_correction"]').click();
    const dialog = page.locator('[data-test="action-dialog"]');
    await dialog.locator('[data-test="correction-note"]').first().fill('请提供清晰的身份证复印件');
    await act(page, 'correction');
    await page.locator('[data-test="timeline-event"][data-kind="request_correction"]').waitFor();

    // Only what the state allows is offered (the server's `actions`): 补正完成, not 转部门办理.
    await page.locator('[data-test="case-action"][data-action="resume"]').waitFor();
    assert.equal(await page.locator('[data-test="case-action"][data-action="start"]').count(), 0);

    await page.locator('[data-test="case-action"][data-action="resume"]').click();
    await act(page, 'in_progress');
    await page.locator('[data-test="timeline-event"][data-kind="resume"]').waitFor();
    await page.screenshot({ path: shotPath('detail'), fullPage: true });
    console.log(`screenshot: ${shotPath('detail')}`);
  });
});
