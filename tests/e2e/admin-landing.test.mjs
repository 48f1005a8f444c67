// The administration entry by permission: each administrator sees the pages of their role
// in the menu and lands on the first of them, not on a page that would answer 403.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launchBrowser } from './browser.mjs';

const CASES = [
  { user: ['ops', 'Ops@2026demo'], landing: '/admin/gateway/connectors', has: '接口平台', lacks: '用户与角色' },
  { user: ['auditor', 'Auditor@2026demo'], landing: '/admin/audit', has: '审计日志', lacks: '接口平台' },
  { user: ['catalog', 'Catalog@2026demo'], landing: '/admin/catalog', has: '编码变更', lacks: '审计日志' },
  { user: ['admin', 'Admin@2026demo'], landing: '/admin/users', has: '运维监控', lacks: '审计日志' },
];

describe('admin landing page', () => {
  let server;

  before(async () => {
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
  });

  for (const c of CASES) {
    test(`${c.user[0]} lands on ${c.landing}`, async () => {
      const browser = await launchBrowser();
      const { page } = browser;
      try {
        await page.goto(`${server.url}/login/?next=${encodeURIComponent('/admin/')}`);
        await page.locator('input[name="username"]').fill(c.user[0]);
        await page.locator('input[name="password"]').fill(c.user[1]);
        await page.locator('[data-test="login-submit"]').click();
        await page.waitForURL((u) => u.pathname === c.landing, { timeout: 15000 });
        const menu = page.locator('.shell-menu');
        await menu.getByText(c.has, { exact: true }).waitFor();
        assert.equal(await menu.getByText(c.lacks, { exact: true }).count(), 0);
      } finally {
        await browser.close();
      }
    });
  }
});
