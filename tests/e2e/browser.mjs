// Debian's Chromium driven by playwright-core: headless, a fresh profile, no background
// networking (this machine has no network beyond loopback).
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './server.mjs';

const require = createRequire(join(ROOT, 'web/package.json'));
const { chromium } = require('playwright-core');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/** A persistent context on a fresh profile: { context, page, close() }. */
export async function launchBrowser({ width = 1280, height = 800 } = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'shouli-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    locale: 'zh-CN',
    viewport: { width, height },
    args: CHROMIUM_ARGS,
  });
  const page = context.pages()[0] || (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in through the login page and waits for the landing path. */
export async function signIn(page, url, username, password, landing) {
  await page.goto(`${url}/login/?next=${encodeURIComponent(landing)}`);
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('[data-test="login-submit"]').click();
  await page.waitForURL((u) => u.pathname === landing);
}
