// The interface platform and the scheduler in the browser, as the operator `ops` against a
// server with the embedded simulators: a test call of a seeded connector succeeds with a
// latency; a debug run of a seeded flow shows its per-step trace (and a flow that fails
// shows its compensation); the calls are in the call log; the statistics page draws and
// exports; a credential's secret is shown once; a job run by hand appears in its history.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './server.mjs';
import { launchBrowser, signIn } from './browser.mjs';

const OPS = ['ops', 'Ops@2026demo'];
// Residents of the simulators (fixed seed): over 80, Shanghai hukou, no allowance yet. The
// simulated 民政 system takes one application per person, so each run uses its own.
const ELDER = { id_type: '111', id_number: '310116194302116939', name: '龚国强', phone: '18984266775' };
const ELDER2 = { id_type: '111', id_number: '310105194304187336', name: '吴永康', phone: '17622669559' };
// Passes the Luhn check the simulated 民政 system applies to bank accounts.
const ACCOUNT = '6222021000000000009';

function shotPath(name) {
  return join(tmpdir(), `shouli-gateway-${name}-${process.pid}.png`);
}

// A screenshot once loading masks are gone and transitions (and chart animations) are over.
async function shoot(page, name, settleMs = 400) {
  await page.waitForFunction(
    () => ![...document.querySelectorAll('.el-loading-mask')].some((m) => m.offsetParent !== null),
    null,
    { timeout: 5000 },
  );
  await page.waitForTimeout(settleMs);
  await page.screenshot({ path: shotPath(name), fullPage: true });
  console.log(`screenshot: ${shotPath(name)}`);
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

// Picks an option of an Element Plus select by its visible text.
async function choose(page, selectLocator, text) {
  await selectLocator.click();
  const option = page.locator('.el-select-dropdown:visible .el-select-dropdown__item', { hasText: text }).first();
  await option.waitFor();
  await option.click();
}

// Replaces the text of a JsonEditor (a textarea) and lets the page parse it.
async function fillJson(locator, value) {
  const area = locator.locator('textarea');
  await area.fill(JSON.stringify(value, null, 2));
}

describe('interface platform and scheduler', () => {
  let server;
  let browser;
  let page;
  let testTrace = '';

  before(async () => {
    server = await startServer(['--with-sim']);
    browser = await launchBrowser({ width: 1440, height: 900 });
    page = browser.page;
    await signIn(page, server.url, ...OPS, '/admin/gateway/connectors');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('连接器: a test call of a seeded connector against the simulator succeeds with a latency', async () => {
    const table = page.locator('[data-test="connector-table"]');
    const row = table.locator('.el-table__row', { has: page.locator('[data-connector="minzheng"]') });
    await row.waitFor();
    assert.match(await row.innerText(), /民政业务中台/);
    assert.match(await row.innerText(), /令牌/, 'the auth kind is shown');
    assert.match(await row.locator('[data-test="breaker-state"]').innerText(), /正常/);
    await shoot(page, 'connectors');

    await row.click();
    await page.waitForURL((u) => u.pathname === '/admin/gateway/connectors/minzheng');
    await page.locator('[data-test="connector-title"]', { hasText: '民政业务中台' }).waitFor();
    // The secret is write-only: the page only knows that it is set.
    assert.equal((await page.locator('[data-test="auth-secret-state"]').innerText()).trim(), '已设置');
    await shoot(page, 'connector');

    await page.getByRole('tab', { name: '测试调用' }).click();
    await choose(page, page.locator('[data-test="test-method"]'), 'elder_allowance_query');
    await fillJson(page.locator('[data-test="test-request"]'), { id_number: ELDER.id_number });
    await page.locator('[data-test="test-call"]').click();
    const outcome = page.locator('[data-test="test-outcome"]');
    await outcome.waitFor();
    assert.equal((await outcome.innerText()).trim(), '成功');
    assert.match(await page.locator('[data-test="test-latency"]').innerText(), /^\d+(\.\d+)? (毫秒|秒)$/);
    assert.match(await page.locator('[data-test="test-response"]').innerText(), /"eligible": true/);
    testTrace = (await page.locator('[data-test="test-result"] code').last().innerText()).trim();
    assert.match(testTrace, /^[0-9a-f]{32}$/);
    await shoot(page, 'test-call');
  });

  test('编排流程: a debug run of a seeded flow shows the per-step trace', async () => {
    await page.locator('[data-test="gateway-tabs"]').getByRole('tab', { name: '编排流程' }).click();
    await page.waitForURL((u) => u.pathname === '/admin/gateway/flows');
    await page.locator('[data-test="flow-search"]').fill('elder_allowance.submit');
    const row = page.locator('[data-test="flow-table"] .el-table__row', {
      has: page.locator('[data-flow="minzheng.elder_allowance.submit"]'),
    });
    await row.waitFor();
    await row.click();
    await page.waitForURL((u) => u.pathname === '/admin/gateway/flow');
    const steps = page.locator('[data-test="flow-step"]');
    await steps.first().waitFor();
    assert.equal(await steps.count(), 3);
    assert.match(await steps.nth(1).innerText(), /minzheng\.elder_allowance_submit/);
    assert.match(await steps.nth(1).innerText(), /补偿/, 'the compensation of the submit step is shown');
    assert.match(await steps.nth(1).innerText(), /执行条件|预期应答/, 'the condition is shown');
    await shoot(page, 'flow');

    await page.getByRole('tab', { name: '调试运行' }).click();
    await fillJson(page.locator('[data-test="debug-params"]'), {
      case_no: `E2E${Date.now()}`,
      sub_item_code: '310003001000-01',
      item_code: '310003001000',
      item_name: '老年综合津贴申请',
      applicant: ELDER,
      form: { payment: { channel: 'bank', bank_account: { bank: '工商银行', account: ACCOUNT, holder: ELDER.name } } },
    });
    await page.locator('[data-test="debug-run"]').click();
    const trace = page.locator('[data-test="flow-trace"] [data-test="trace-step"]');
    await trace.first().waitFor();
    assert.equal(await trace.count(), 3, 'query, submit and report');
    assert.equal(await trace.nth(0).getAttribute('data-step'), 'query');
    assert.equal((await trace.nth(0).locator('[data-test="trace-outcome"]').innerText()).trim(), '成功');
    assert.equal((await trace.nth(1).locator('[data-test="trace-outcome"]').innerText()).trim(), '成功');
    assert.match(await trace.nth(0).locator('[data-test="trace-duration"]').innerText(), /毫秒|秒/);
    // The run's status is the server's (the report step may fail and continue: 部分成功).
    assert.match(await page.locator('[data-test="debug-status"]').innerText(), /成功|部分成功/);
    // The rendered request and the answer, masked by the server.
    await trace.nth(0).getByRole('button', { name: '查看报文' }).click();
    assert.match(await trace.nth(0).innerText(), /id_number/);
    assert.doesNotMatch(await trace.nth(0).innerText(), new RegExp(ELDER.id_number), 'the ID number is masked');
    await shoot(page, 'flow-debug');
  });

  test('编排流程: a failing step compensates the completed one, marked in the trace', async () => {
    const name = 'e2e.compensation.demo';
    const created = await pageApi(page, 'POST', '/api/v1/admin/flows', {
      flow: {
        name,
        title: '补偿演示',
        params: { case_no: { required: true }, applicant: { required: true } },
        on_error: 'compensate',
        steps: [
          {
            id: 'submit',
            title: '提交申请',
            connector: 'minzheng',
            method: 'elder_allowance_submit',
            request: {
              case_no: '{{params.case_no}}',
              applicant: '{{params.applicant}}',
              channel: 'bank',
              bank: { bank: '工商银行', account: ACCOUNT, holder: '{{params.applicant.name}}' },
            },
            compensate: {
              connector: 'minzheng',
              method: 'elder_allowance_cancel',
              request: { dept_case_no: '{{steps.submit.response.dept_case_no}}' },
            },
          },
          // The case record lacks the 办理人 fields: the 办件库 refuses it.
          { id: 'report', title: '报送办件库', connector: 'bjk', method: 'case_report', request: { case_no: '{{params.case_no}}' } },
        ],
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    await page.goto(`${server.url}/admin/gateway/flow?name=${name}&tab=debug`);
    await page.locator('[data-test="flow-title"]', { hasText: '补偿演示' }).waitFor();
    await fillJson(page.locator('[data-test="debug-params"]'), { case_no: `E2EC${Date.now()}`, applicant: ELDER2 });
    await page.locator('[data-test="debug-run"]').click();
    const trace = page.locator('[data-test="flow-trace"] [data-test="trace-step"]');
    await trace.first().waitFor();
    assert.equal(await trace.count(), 3, 'submit, report, then the compensation of submit');
    const comp = trace.nth(2);
    assert.equal(await comp.getAttribute('data-kind'), 'compensate');
    assert.equal(await comp.getAttribute('data-step'), 'submit');
    await comp.locator('[data-test="trace-compensate"]').waitFor();
    assert.equal((await trace.nth(1).locator('[data-test="trace-outcome"]').innerText()).trim(), '失败');
    assert.match(await page.locator('[data-test="debug-status"]').innerText(), /已补偿/);
    await shoot(page, 'flow-compensate');
  });

  test('调用日志: the calls are logged, found by trace id, with the detail in a drawer', async () => {
    await page.goto(`${server.url}/admin/gateway/calls`);
    const rows = page.locator('[data-test="call-table"] .el-table__row');
    await rows.first().waitFor();
    const texts = await rows.allInnerTexts();
    assert.ok(texts.some((t) => t.includes('minzheng.elder_allowance_query') && t.includes('成功')), 'the test call');
    assert.ok(texts.some((t) => t.includes('minzheng.elder_allowance_submit')), 'the flow’s calls');
    assert.ok(texts.some((t) => t.includes('minzheng.elder_allowance_cancel')), 'the compensation call');

    await page.locator('[data-test="call-filter-trace"]').fill(testTrace);
    await page.locator('[data-test="call-search"]').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-test="call-table"] .el-table__row').length === 1);
    const only = rows.first();
    assert.match(await only.innerText(), /minzheng\.elder_allowance_query/);
    await only.click();
    const drawer = page.locator('[data-test="call-drawer"]');
    await drawer.locator('[data-test="call-response"]').waitFor();
    assert.match(await drawer.locator('[data-test="call-request"]').innerText(), /id_number/);
    assert.match(await drawer.innerText(), new RegExp(testTrace));
    await shoot(page, 'call-log');
    await page.keyboard.press('Escape');
  });

  test('调用统计: charts of the day’s calls and the XLSX export', async () => {
    await page.goto(`${server.url}/admin/gateway/stats`);
    await page.locator('[data-test="chart-volume"] canvas').waitFor();
    await page.locator('[data-test="chart-p95"] canvas').waitFor();
    assert.match(await page.locator('[data-test="stats-totals"]').innerText(), /共 [1-9]\d* 次调用/);
    assert.ok((await page.locator('[data-test="stats-table"] .el-table__row').count()) >= 3);
    await shoot(page, 'stats', 1500);

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-test="stats-export"]').click()]);
    assert.match(download.suggestedFilename(), /\.xlsx$/);
    const file = join(tmpdir(), `shouli-gateway-stats-${process.pid}.xlsx`);
    await download.saveAs(file);
    assert.ok((await stat(file)).size > 1000, 'a workbook');
  });

  test('开放接口: a new credential’s secret is shown once, with a warning', async () => {
    await page.goto(`${server.url}/admin/gateway/open`);
    await page.locator('[data-test="cred-new"]').click();
    await page.locator('[data-test="cred-owner"] input, input[data-test="cred-owner"]').first().fill('区大数据中心（测试）');
    await page.locator('[data-test="cred-save"]').click();
    const dialog = page.locator('[data-test="secret-dialog"]');
    await dialog.locator('[data-test="secret-warning"]').waitFor();
    const secret = await dialog.locator('input').first().inputValue();
    assert.match(secret, /^[0-9a-f]{64}$/);
    assert.match(await dialog.innerText(), /无法再次查看/);
    assert.ok(await page.locator('[data-test="secret-close"]').isDisabled(), 'closing needs the confirmation');
    await shoot(page, 'open-secret');
    await dialog.locator('[data-test="secret-saved"]').click();
    await page.locator('[data-test="secret-close"]').click();
    await dialog.waitFor({ state: 'hidden' });
    // Never again: the list and the API hold no secret.
    const list = await pageApi(page, 'GET', '/api/v1/admin/open/credentials');
    assert.ok(!JSON.stringify(list.body).includes(secret));
    await page.locator('[data-test="cred-table"] .el-table__row', { hasText: '区大数据中心（测试）' }).waitFor();
    await shoot(page, 'open');
  });

  test('模拟数据: the seeded mocks are listed', async () => {
    await page.goto(`${server.url}/admin/gateway/mocks`);
    const rows = page.locator('[data-test="mock-table"] .el-table__row');
    await rows.first().waitFor();
    assert.ok((await rows.allInnerTexts()).some((t) => t.includes('minzheng.elder_allowance_query')));
    await shoot(page, 'mocks');
  });

  test('计划任务: a job run by hand appears in its history', async () => {
    await page.locator('.el-menu-item', { hasText: '计划任务' }).click();
    await page.waitForURL((u) => u.pathname === '/admin/jobs');
    const row = page.locator('[data-test="job-table"] .el-table__row', { has: page.locator('[data-job="auth.sessions_purge"]') });
    await row.waitFor();
    assert.match(await row.innerText(), /\*\/10 \* \* \* \*/);
    await shoot(page, 'jobs');

    // A cron the server refuses: its message is shown at the field.
    await row.locator('[data-test="job-edit"]').click();
    const dialog = page.locator('[data-test="job-dialog"]');
    await dialog.locator('input').first().fill('61 * * * *');
    await dialog.locator('[data-test="job-save"]').click();
    await dialog.locator('.el-form-item__error', { hasText: '超出范围' }).waitFor();
    await dialog.getByRole('button', { name: '取消' }).click();

    await row.locator('[data-test="job-run"]').click();
    const runs = page.locator('[data-test="job-runs"] [data-test="job-run-table"] .el-table__row');
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('[data-test="job-run-table"] .el-table__row')].some(
          (r) => r.innerText.includes('手动') && r.innerText.includes('成功'),
        ),
      null,
      { timeout: 15000 },
    );
    assert.match(await runs.first().innerText(), /手动 · ops/);
    assert.match(await runs.first().innerText(), /删除过期会话/);
    await shoot(page, 'job-runs');
  });
});
