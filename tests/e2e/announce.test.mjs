// An operator publishes an announcement on the admin page; a clerk's open console shows it
// at once (WebSocket push through the event bus), without reloading.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launchBrowser, signIn } from './browser.mjs';

describe('announcements', () => {
  let server;
  let clerk;
  let admin;

  before(async () => {
    server = await startServer();
    clerk = await launchBrowser();
    admin = await launchBrowser();
  });

  after(async () => {
    await clerk?.close();
    await admin?.close();
    await server?.stop();
  });

  test('the clerk sees the operator announcement pushed to the console', async () => {
    await signIn(clerk.page, server.url, 'clerk', 'Clerk@2026demo', '/console/');
    await clerk.page.locator('[data-test="welcome"]').waitFor();

    await signIn(admin.page, server.url, 'admin', 'Admin@2026demo', '/admin/');
    await admin.page.goto(`${server.url}/admin/ops`);
    await admin.page.locator('[data-test="ready"]').waitFor();
    assert.equal((await admin.page.locator('[data-test="ready"]').innerText()).trim(), '正常');

    // The console subscribes as soon as it mounts; give the socket a moment to be up.
    await clerk.page.waitForTimeout(500);
    const text = `今晚 22:00 系统维护 ${Date.now()}`;
    await admin.page.locator('[data-test="announce-text"]').fill(text);
    await admin.page.locator('[data-test="announce"]').click();
    await admin.page.getByText('公告已发布').waitFor();

    const note = clerk.page.locator('.el-notification', { hasText: text });
    await note.waitFor({ timeout: 10000 });
    assert.match(await note.innerText(), /系统公告/);
  });

  test('a clerk may not publish announcements', async () => {
    const res = await clerk.page.evaluate(async () => {
      const r = await fetch('/api/v1/system/announcements', {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-CSRF-Token': sessionStorage.getItem('shouli.csrf') || '',
        },
        body: JSON.stringify({ text: '测试' }),
      });
      return { status: r.status, body: await r.json() };
    });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'forbidden');
  });
});
