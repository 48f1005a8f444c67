// A window clerk signs in through the browser, sees the console, and signs out.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './server.mjs';
import { launchBrowser } from './browser.mjs';

const CLERK = { username: 'clerk', password: 'Clerk@2026demo' };

describe('login', () => {
  let server;
  let browser;
  let page;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function fillLogin(username, password) {
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(password);
    await page.locator('[data-test="login-submit"]').click();
  }

  test('an anonymous visit to / lands on the login page with next=/console/', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForURL((u) => u.pathname === '/login/');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/console/');
    await page.locator('input[name="username"]').waitFor();
  });

  test('a wrong password shows the server error and stays on the login page', async () => {
    await fillLogin(CLERK.username, 'not-the-password');
    const alert = page.locator('[data-test="login-error"]');
    await alert.waitFor();
    assert.match(await alert.innerText(), /\p{Script=Han}/u);
    assert.equal(new URL(page.url()).pathname, '/login/');
  });

  test('the clerk signs in and sees the console shell with their name', async () => {
    await fillLogin(CLERK.username, CLERK.password);
    await page.waitForURL((u) => u.pathname === '/console/');
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).json());
    const name = page.locator('[data-test="user-name"]');
    await name.waitFor();
    assert.equal((await name.innerText()).trim(), me.user.name);
    await page.getByText('社区事务受理系统').first().waitFor();
    await page.locator('[data-test="welcome"]').waitFor();

    const shot = join(tmpdir(), `shouli-console-${process.pid}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
  });

  test('logout ends the session and returns to the login page', async () => {
    await page.locator('[data-test="logout"]').click();
    await page.waitForURL((u) => u.pathname === '/login/');
    await page.locator('input[name="username"]').waitFor();
    const status = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status);
    assert.equal(status, 401);
  });
});
