// The kiosk page (docs/ui.md "Terminal", docs/vwin.md "Pages") against a real server with
// the demo data and the simulated device agent (?agent=sim): the installer enrols the
// terminal with the code from the admin API; the self-check shows a simulated printer
// fault (and the centre sees the terminal as faulty) until the fault is cleared; the
// resident picks an item by department and the recommended centre and takes a ticket; the
// position drops live when a clerk (driven through the API) calls the ticket ahead; a
// reload restores the ticket; a network loss shows 网络已断开，正在重连 and recovers; the
// clerk calls the kiosk's ticket (the waiting page), serves and finishes it; the kiosk asks
// for the evaluation, a 差评 needs a reason, and the rating reaches the server; a clerk's
// change-centre proposal is shown with the new centre, declined, proposed again and confirmed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launchBrowser } from './browser.mjs';
import { DEMO, loginAs } from '../api/lib.mjs';

const LIVE_MS = 12000; // the page polls every 4 s and also refreshes on queue events

describe('terminal page (kiosk, simulated agent)', () => {
  let server;
  let b;
  let admin;
  let manager;
  let clerk;
  let term; // the live terminal record chosen for the test
  let page;

  const ok = (r, status = 200) => {
    assert.equal(r.status, status, `${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };

  before(async () => {
    server = await startServer();
    [admin, manager, clerk] = await Promise.all([
      loginAs(server.url, DEMO.admin),
      loginAs(server.url, DEMO.manager),
      loginAs(server.url, DEMO.clerk),
    ]);
    // A kiosk of the clerk's own centre (the demo seeds one per point).
    const list = ok(await clerk.get('/api/v1/vwin/terminals')).terminals;
    term = list.find((t) => t.kind === 'kiosk' && t.point?.kind === 'extension') || list[0];
    assert.ok(term, `no demo terminal: ${JSON.stringify(list)}`);
    b = await launchBrowser({ width: 1280, height: 900 });
    page = b.page;
  });

  after(async () => {
    await b?.close();
    await server?.stop();
  });

  const screen = (name) => page.locator(`[data-test="screen-${name}"]`);

  test('enrol, self-check with a printer fault, then a healthy start', async () => {
    const code = ok(await admin.post(`/api/v1/admin/vwin/terminals/${encodeURIComponent(term.code)}/enrol-code`, {}), 201);
    assert.match(code.enrol_code, /^\d{8}$/);

    await page.goto(`${server.url}/terminal/?agent=sim`);
    await screen('enrol').waitFor();
    // The simulated printer is out of paper.
    await page.evaluate(() => localStorage.setItem('shouli.agent.sim', JSON.stringify({ faults: { printer: 'PAPER_OUT' }, delay_ms: 20 })));

    // A wrong code is refused with the server's message; nothing is stored.
    await page.locator('[data-test="enrol-code"]').fill(term.code);
    await page.locator('[data-test="enrol-secret"]').fill('00000000');
    await page.locator('[data-test="enrol-submit"]').click();
    await page.locator('[data-test="enrol-error"]').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('shouli.terminal.device')), null);

    await page.locator('[data-test="enrol-secret"]').fill(code.enrol_code);
    await page.locator('[data-test="enrol-submit"]').click();
    await screen('selfcheck').waitFor();
    const printer = page.locator('[data-test="check"][data-device="printer"]');
    await page.waitForFunction(() => document.querySelector('[data-test="check"][data-device="printer"]')?.dataset.ok === '0');
    assert.match(await printer.innerText(), /打印机缺纸/);
    assert.equal(await page.locator('[data-test="check"][data-device="card_reader"]').getAttribute('data-ok'), '1');
    const device = await page.evaluate(() => JSON.parse(localStorage.getItem('shouli.terminal.device')));
    assert.equal(device.code, term.code);
    assert.match(device.secret, /^[0-9a-f]{64}$/);

    // The centre sees the fault.
    const live = ok(await clerk.get('/api/v1/vwin/terminals')).terminals.find((t) => t.code === term.code);
    assert.equal(live.state, 'fault');
    assert.ok(live.faults.some((f) => f.device === 'printer'), JSON.stringify(live.faults));

    // Fixed: a retry passes and the kiosk opens its home screen.
    await page.evaluate(() => localStorage.setItem('shouli.agent.sim', JSON.stringify({ delay_ms: 20 })));
    await page.locator('[data-test="selfcheck-retry"]').click();
    await screen('home').waitFor();
    const healthy = ok(await clerk.get('/api/v1/vwin/terminals')).terminals.find((t) => t.code === term.code);
    assert.equal(healthy.state, 'online');
  });

  let ahead; // an on-site ticket issued before the kiosk's
  let window01;
  let kioskTicket;

  test('choose an item and the recommended centre, take a ticket, see it move up live', async () => {
    ahead = ok(await manager.post('/api/v1/queue/tickets', { centre_id: term.centre.id, group_code: 'A', source: 'onsite' }), 201);

    // The 收受分离事项 tab lists the items this virtual window takes for other departments
    // (an item kept at the centre window, vwin_mode original, is not among them).
    await page.locator('[data-test="tab-separated"]').click();
    await page.locator('[data-test="separated-item"][data-code="310004004000"]').waitFor();
    assert.equal(await page.locator('[data-test="separated-item"][data-code="310009004000"]').count(), 0);
    assert.ok((await page.locator('[data-test="separated-item"]').count()) > 20);
    await page.locator('[data-test="tab-all"]').click();

    await page.locator('[data-test="dept"][data-id="rensha"]').click();
    const item = page.locator('[data-test="item"]:not([disabled])').first();
    await item.waitFor();
    await item.click();
    await screen('centres').waitFor();
    const mine = page.locator(`[data-test="centre"][data-id="${term.centre.id}"]`);
    await mine.waitFor();
    // The point's own centre is recommended and listed first.
    assert.equal(await mine.locator('[data-test="recommended"]').count(), 1);
    assert.equal(await page.locator('[data-test="centre"]').first().getAttribute('data-id'), String(term.centre.id));
    await mine.locator('[data-test="take-ticket"]').click();
    await screen('ticket').waitFor();
    const no = (await page.locator('[data-test="ticket-no"]').innerText()).trim();
    assert.match(no, /^A\d{3}$/);
    assert.equal((await page.locator('[data-test="ticket-position"]').innerText()).trim(), '2');
    kioskTicket = await page.evaluate(() => JSON.parse(localStorage.getItem('shouli.terminal.ticket')));
    const st = ok(await clerk.get(`/api/v1/queue/tickets/${kioskTicket.id}`));
    assert.equal(st.ticket.source, 'terminal');
    assert.equal(st.ticket.terminal, term.code);

    // The clerk signs in at window 01 (groups A and C) and calls: the on-site ticket first.
    const wins = ok(await clerk.get(`/api/v1/admin/queue/windows?centre_id=${term.centre.id}`));
    window01 = (wins.windows || wins).find((w) => w.code === '01');
    ok(await clerk.post(`/api/v1/queue/windows/${window01.id}/signin`));
    const called = ok(await clerk.post(`/api/v1/queue/windows/${window01.id}/call_next`));
    assert.equal(called.id, ahead.ticket.id);
    await page.waitForFunction(
      () => document.querySelector('[data-test="ticket-position"]')?.textContent.trim() === '1',
      null,
      { timeout: LIVE_MS },
    );
  });

  test('a reload restores the ticket; a network loss is shown and recovered', async () => {
    await page.reload();
    await screen('ticket').waitFor();
    assert.equal((await page.locator('[data-test="ticket-position"]').innerText()).trim(), '1');

    await page.context().setOffline(true);
    await page.locator('[data-test="net-banner"]').waitFor({ timeout: LIVE_MS });
    assert.match(await page.locator('[data-test="net-banner"]').innerText(), /网络已断开，正在重连/);
    await page.context().setOffline(false);
    await page.locator('[data-test="net-banner"]').waitFor({ state: 'detached', timeout: LIVE_MS });
    await screen('ticket').waitFor();
  });

  test('called: the waiting page; finished: a 差评 needs a reason and reaches the server', async () => {
    ok(await clerk.post(`/api/v1/queue/tickets/${ahead.ticket.id}/skip`));
    const called = ok(await clerk.post(`/api/v1/queue/windows/${window01.id}/call_next`));
    assert.equal(called.id, kioskTicket.id);
    await screen('call').waitFor({ timeout: LIVE_MS });
    await page.locator('[data-test="call-waiting"]').waitFor();

    ok(await clerk.post(`/api/v1/queue/tickets/${kioskTicket.id}/start`));
    ok(await clerk.post(`/api/v1/queue/tickets/${kioskTicket.id}/finish`));
    await screen('rating').waitFor({ timeout: LIVE_MS });

    await page.locator('[data-test="rating-level"][data-level="4"]').click();
    const submit = page.locator('[data-test="rating-submit"]');
    assert.equal(await submit.isDisabled(), true, 'a 差评 needs a reason');
    await page.locator('[data-test="rating-comment"]').fill('等候时间太长');
    await submit.click();
    await screen('thanks').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('shouli.terminal.ticket')), null);

    const st = ok(await clerk.get(`/api/v1/queue/tickets/${kioskTicket.id}`));
    assert.equal(st.ticket.eval_state, 'done');
    const follow = ok(await manager.get('/api/v1/admin/queue/followups?state=open'));
    assert.ok((follow.followups || follow).some((f) => f.ticket_no === st.ticket.ticket_no), JSON.stringify(follow));
  });

  test('change of centre: the proposal is shown, declined, proposed again and confirmed', async () => {
    await page.locator('[data-test="screen-thanks"] button').click();
    await screen('home').waitFor();
    await page.locator('[data-test="dept"][data-id="rensha"]').click();
    const item = page.locator('[data-test="item"]:not([disabled])').first();
    const itemCode = await item.getAttribute('data-code');
    await item.click();
    await page.locator(`[data-test="centre"][data-id="${term.centre.id}"] [data-test="take-ticket"]`).click();
    await screen('ticket').waitFor();
    const t = await page.evaluate(() => JSON.parse(localStorage.getItem('shouli.terminal.ticket')));
    const other = ok(await clerk.get(`/api/v1/queue/centres?item=${itemCode}`)).centres.find((c) => c.centre.id !== term.centre.id);
    assert.ok(other, 'a second centre serves the item');

    ok(await clerk.post(`/api/v1/queue/tickets/${t.id}/move`, { centre_id: other.centre.id }));
    const prompt = page.locator('[data-test="move-prompt"]');
    await prompt.waitFor({ timeout: LIVE_MS });
    assert.equal((await prompt.locator('[data-test="move-centre"]').innerText()).trim(), other.centre.name);
    await prompt.locator('[data-test="move-cancel"]').click();
    await prompt.waitFor({ state: 'detached' });
    let st = ok(await clerk.get(`/api/v1/queue/tickets/${t.id}`));
    assert.equal(st.ticket.centre.id, term.centre.id, 'declined: the ticket stays');

    ok(await clerk.post(`/api/v1/queue/tickets/${t.id}/move`, { centre_id: other.centre.id }));
    await prompt.waitFor({ timeout: LIVE_MS });
    await prompt.locator('[data-test="move-confirm"]').click();
    await prompt.waitFor({ state: 'detached' });
    await page.waitForFunction((name) => document.querySelector('[data-test="screen-ticket"]')?.textContent.includes(name), other.centre.name);
    st = ok(await manager.get(`/api/v1/queue/tickets/${t.id}?token=${t.token}`));
    assert.equal(st.ticket.centre.id, other.centre.id);
    assert.equal(st.ticket.moved_from, term.centre.id);
    assert.equal(st.ticket.state, 'waiting');
  });
});
