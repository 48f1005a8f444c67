// The service item catalog in the browser: a clerk finds 敬老卡申请 by its initials and sees
// its form rendered from the schema and checked by the server; the catalog administrator
// edits a draft in the schema editor, sees the live preview, publishes, and finds the change
// in the version diff; a save over someone else's save shows the conflict dialog.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './server.mjs';
import { launchBrowser, signIn } from './browser.mjs';

const CLERK = ['clerk', 'Clerk@2026demo'];
const CATALOG = ['catalog', 'Catalog@2026demo'];
const HAN = /\p{Script=Han}/u;

function shotPath(name) {
  return join(tmpdir(), `shouli-catalog-${name}-${process.pid}.png`);
}

// The API as the signed-in page sees it (session cookie and CSRF token of that page).
function pageApi(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const headers = { Accept: 'application/json' };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (method !== 'GET') headers['X-CSRF-Token'] = sessionStorage.getItem('shouli.csrf') || '';
      const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    },
    { method, path, body },
  );
}

describe('catalog', () => {
  let server;
  let clerk;
  let admin;

  before(async () => {
    server = await startServer();
    clerk = await launchBrowser({ width: 1280, height: 900 });
    admin = await launchBrowser({ width: 1600, height: 1000 });
    await signIn(clerk.page, server.url, ...CLERK, '/console/');
    await signIn(admin.page, server.url, ...CATALOG, '/admin/');
  });

  after(async () => {
    await clerk?.close();
    await admin?.close();
    await server?.stop();
  });

  test('the clerk finds 敬老卡申请 by its initials and sees its form checked by the server', async () => {
    const page = clerk.page;
    await page.goto(`${server.url}/console/accept`);
    const search = page.locator('[data-test="item-search"]');
    await search.waitFor();
    await search.fill('jlk');
    const first = page.locator('[data-test="item-result"]').first();
    await page.waitForFunction(() => {
      const el = document.querySelector('[data-test="item-result"] .r-name');
      return el && el.textContent.trim() === '敬老卡申请';
    });
    assert.equal((await first.locator('.r-name').innerText()).trim(), '敬老卡申请');
    // The result says which department and kind of case it is.
    assert.match(await first.innerText(), /即办件|承诺件/);
    await page.screenshot({ path: shotPath('finder') });
    console.log(`screenshot: ${shotPath('finder')}`);

    // ↓ then ↑ come back to the best match; Enter opens it.
    await search.press('ArrowDown');
    await search.press('ArrowUp');
    await search.press('Enter');
    await page.waitForURL((u) => /^\/console\/accept\/[0-9A-Z]{12}$/.test(u.pathname));
    await page.locator('[data-test="item-name"]', { hasText: '敬老卡申请' }).waitFor();
    assert.match(await page.locator('[data-test="item-guide"]').innerText(), HAN);

    await page.locator('[data-test="subitem-option"]').first().click();
    const form = page.locator('[data-test="subitem-form"] [data-test="form-renderer"]');
    await form.waitFor();
    await page.locator('[data-test="materials"]').waitFor();
    const applicantFields = form.locator('[data-test^="field-applicant."]');
    await applicantFields.first().waitFor();
    assert.ok((await applicantFields.count()) >= 2, 'the applicant fields are rendered');
    // The server answered the first evaluation: the 预审结果 shows a verdict.
    await page.locator('[data-test="prereview-verdict"]').waitFor();

    const phoneItem = form.locator('[data-test^="field-applicant."].fr-type-phone').first();
    await phoneItem.locator('input').fill('12345');
    const error = phoneItem.locator('[data-test="field-error"]').first();
    await error.waitFor({ timeout: 5000 });
    const message = await error.innerText();
    assert.match(message, HAN, `violation in Chinese: ${message}`);
    assert.ok(await phoneItem.evaluate((el) => el.classList.contains('is-error')));

    await page.setViewportSize({ width: 1280, height: 2400 });
    await page.locator('[data-test="subitem-form"]').screenshot({ path: shotPath('form') });
    console.log(`screenshot: ${shotPath('form')}`);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('the catalog administrator edits a label, previews, publishes and sees it in the diff', async () => {
    const page = admin.page;
    await page.goto(`${server.url}/admin/catalog`);
    await page.locator('[data-test="catalog-filter-q"]').fill('敬老卡');
    const row = page.locator('[data-test="catalog-table"] .el-table__row', { hasText: '敬老卡申请' }).first();
    await row.waitFor();
    await row.locator('[data-test="catalog-open"]').click();
    await page.waitForURL((u) => /^\/admin\/catalog\/[0-9A-Z]{12}$/.test(u.pathname));
    const code = new URL(page.url()).pathname.split('/').pop();
    await page.locator('[data-test="catalog-item-name"]', { hasText: '敬老卡申请' }).waitFor();

    await page.getByRole('tab', { name: '草稿' }).click();
    await page.locator('[data-test="draft-create"]').click();
    const schemaRow = page.locator('[data-test="schema-row"][data-field^="applicant."]').first();
    await schemaRow.waitFor();
    const fieldId = await schemaRow.getAttribute('data-field');
    const labelInput = schemaRow.locator('[data-test="schema-label"]');
    const oldLabel = await labelInput.inputValue();
    const newLabel = `${oldLabel}（测试修改）`;
    await labelInput.fill(newLabel);
    await page.locator('[data-test="draft-dirty"]').waitFor();

    // The live preview renders the edited schema and evaluates it as a draft.
    const preview = page.locator('[data-test="draft-preview"]');
    await preview.locator(`[data-test="field-${fieldId}"] .fr-label`, { hasText: newLabel }).waitFor();
    await page.waitForTimeout(600);
    assert.equal(await preview.locator('[data-test="form-eval-error"]').count(), 0, 'the draft evaluate endpoint answers');

    await page.locator('[data-test="draft-save"]').click();
    await page.locator('[data-test="draft-dirty"]').waitFor({ state: 'detached' });
    const saved = await pageApi(page, 'GET', `/api/v1/admin/catalog/items/${code}/draft`);
    assert.equal(saved.status, 200);
    assert.ok(JSON.stringify(saved.body.item).includes(newLabel), 'the saved draft holds the new label');

    await page.screenshot({ path: shotPath('editor') });
    console.log(`screenshot: ${shotPath('editor')}`);

    const publish = page.locator('[data-test="draft-publish"]');
    await page.waitForFunction(() => !document.querySelector('[data-test="draft-publish"]')?.disabled);
    await publish.click();
    await page.locator('[data-test="publish-confirm"]').click();

    // Back on 版本: the new version against the previous one, the label in the change list.
    const changes = page.locator('[data-test="diff-changes"]');
    await changes.locator('.el-table__row', { hasText: newLabel }).waitFor();
    const change = changes.locator('.el-table__row', { hasText: newLabel }).first();
    assert.match(await change.innerText(), /label/);
    assert.match(await change.innerText(), new RegExp(oldLabel.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const changedLine = page.locator('[data-test="diff-right"] [data-changed="true"]', { hasText: newLabel });
    await changedLine.first().waitFor();
    const versions = await pageApi(page, 'GET', `/api/v1/admin/catalog/items/${code}/versions`);
    assert.ok(versions.body.versions.some((v) => v.version >= 2 && v.status === 'published'), 'a second version');
    await page.screenshot({ path: shotPath('diff') });
    console.log(`screenshot: ${shotPath('diff')}`);
  });

  test('saving over someone else’s save shows the conflict dialog and reloads their version', async () => {
    const page = admin.page;
    const list = await pageApi(page, 'GET', '/api/v1/admin/catalog/items');
    const item = list.body.items.find((it) => !it.has_draft && !it.name.includes('敬老卡'));
    assert.ok(item, 'an item without a draft');
    const base = `/api/v1/admin/catalog/items/${item.code}`;

    await page.goto(`${server.url}/admin/catalog/${item.code}?tab=draft`);
    await page.locator('[data-test="draft-create"]').click();
    const label = page.locator('[data-test="schema-row"]').first().locator('[data-test="schema-label"]');
    await label.waitFor();
    await label.fill('我的修改');

    // Meanwhile someone else saves the same draft.
    const theirs = await pageApi(page, 'GET', `${base}/draft`);
    assert.equal(theirs.status, 200);
    theirs.body.item.sub_items[0].form.fields[0].label = '他人的修改';
    const put = await pageApi(page, 'PUT', `${base}/draft`, { item: theirs.body.item, rev: theirs.body.rev });
    assert.equal(put.status, 200);

    await page.locator('[data-test="draft-save"]').click();
    const dialog = page.locator('.el-dialog', { hasText: '他人已修改' });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /是否重新载入/);
    await page.locator('[data-test="conflict-reload"]').click();
    await dialog.waitFor({ state: 'hidden' });
    await page.waitForFunction(
      () => document.querySelector('[data-test="schema-row"] [data-test="schema-label"]')?.value === '他人的修改',
    );
    assert.equal(await page.locator('[data-test="draft-dirty"]').count(), 0);
  });
});
