// Authentication, sessions, permissions, data scope, passwords and the audit trail, as a
// browser or an operator meets them.
//
// The server keeps what it loaded for a session in memory for session_cache_s (5 s by
// default). The first block runs with that cache on, as in production: every change made
// through the API (sign-out, password, disabling, roles) must bite at once although the
// session is cached. Changes made behind the server's back in the database (aging a session,
// tampering with a row) are seen only when the session is loaded again, so those tests run
// on a server without the cache (--session-cache-s 0); one more block shows the cache at
// work, idle timeout included.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO, admin, client, loginAs, sleep, sql, startServer, uniq } from './lib.mjs';

const STRONG = 'Strong#Pass2026';

// Make an account through the admin API (it must change its password at first login).
async function makeUser(adminC, username, org_code, roles, password = STRONG, name = '测试用户') {
  const r = await adminC.post('/api/v1/admin/users', { username, name, org_code, roles, password });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.user;
}

describe('auth', () => {
  let srv;
  let url;
  let adminC; // the city-level system administrator
  const run = uniq();
  const createUser = (...args) => makeUser(adminC, ...args);

  before(async () => {
    srv = await startServer();
    url = srv.url;
    adminC = await loginAs(url, DEMO.admin);
  });

  after(async () => {
    await srv?.stop();
  });

  test('the clerk signs in: cookie, CSRF token, roles, permissions and scope', async () => {
    const c = client(url);
    const r = await c.login(DEMO.clerk.username, DEMO.clerk.password);
    assert.equal(r.status, 200);
    const sc = r.headers.getSetCookie().find((s) => s.startsWith('shouli_sid='));
    assert.match(sc, /^shouli_sid=[0-9a-f]{64}; /);
    assert.match(sc, /HttpOnly/);
    assert.match(sc, /SameSite=Strict/);
    assert.match(sc, /Path=\//);
    assert.equal(r.body.user.username, 'clerk');
    assert.equal(r.body.user.name, '王芳');
    assert.deepEqual(r.body.user.roles, ['window_clerk']);
    assert.deepEqual(r.body.user.role_names, ['窗口受理人员']);
    assert.deepEqual(r.body.user.permissions, ['case.accept', 'case.read', 'ident.read', 'queue.call']);
    assert.equal(r.body.user.scope.level, 'centre');
    assert.match(r.body.user.scope.name, /社区事务受理服务中心$/);
    assert.match(r.body.csrf_token, /^[0-9a-f]{32,}$/);
    assert.equal(r.body.password_expired, false);

    const me = await c.get('/api/v1/auth/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.user.id, r.body.user.id);
    assert.equal(me.body.csrf_token, r.body.csrf_token);
  });

  test('a username is matched case-insensitively', async () => {
    const r = await client(url).login('  Clerk ', DEMO.clerk.password);
    assert.equal(r.status, 200);
  });

  test('a wrong password and an unknown user get the same answer', async () => {
    const bad = await client(url).login('clerk', 'Wrong@2026demo');
    const unknown = await client(url).login(`nobody${run}`, 'Wrong@2026demo');
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.code, 'bad_credentials');
    const { trace_id: _t1, ...badErr } = bad.body.error;
    const { trace_id: _t2, ...unknownErr } = unknown.body.error;
    assert.deepEqual(unknownErr, badErr);
    assert.equal(unknown.status, bad.status);
  });

  test('five wrong passwords lock the account (423, says when it unlocks)', async () => {
    const u = await createUser(`lock_${run}`, '310104014C1', ['window_clerk']);
    const c = client(url);
    for (let i = 1; i <= 4; i++) {
      const r = await c.login(u.username, 'Wrong#Pass2026');
      assert.equal(r.status, 401, `attempt ${i}`);
      assert.equal(r.body.error.code, 'bad_credentials');
    }
    const fifth = await c.login(u.username, 'Wrong#Pass2026');
    assert.equal(fifth.status, 423);
    assert.equal(fifth.body.error.code, 'locked');
    assert.match(fifth.body.error.message, /账号已被锁定，请在 15 分钟后重试/);

    const right = await c.login(u.username, STRONG);
    assert.equal(right.status, 423, 'even the right password is refused while locked');
    assert.match(right.body.error.message, /分钟后重试/);

    const list = await adminC.get('/api/v1/admin/users');
    assert.equal(list.body.users.find((x) => x.id === u.id).locked, true);

    const unlock = await adminC.patch(`/api/v1/admin/users/${u.id}`, { unlock: true });
    assert.equal(unlock.status, 200);
    assert.equal(unlock.body.user.locked, false);
    const again = await c.login(u.username, STRONG);
    assert.equal(again.status, 200);
  });

  test('an unsafe request without the CSRF header is refused', async () => {
    const c = await loginAs(url, DEMO.clerk);
    const r = await c.post('/api/v1/auth/logout', {}, { csrf: false });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'csrf');
    assert.equal((await c.get('/api/v1/auth/me')).status, 200, 'the session is still there');
  });

  test('logout ends the session and clears the cookie', async () => {
    const c = await loginAs(url, DEMO.clerk);
    const stolen = c.cookie;
    assert.equal((await c.get('/api/v1/auth/me')).status, 200, 'the session is now cached');
    const r = await c.post('/api/v1/auth/logout', {});
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { ok: true });
    assert.match(r.headers.getSetCookie().join('\n'), /shouli_sid=;.*Max-Age=0/);
    assert.equal((await c.get('/api/v1/auth/me')).status, 401);
    // The old token is dead server-side too, not only forgotten by the browser.
    const replay = await fetch(`${url}/api/v1/auth/me`, { headers: { Cookie: stolen } });
    assert.equal(replay.status, 401);
  });

  test('no session, or a forged one, is 401', async () => {
    assert.equal((await client(url).get('/api/v1/auth/me')).status, 401);
    const forged = await fetch(`${url}/api/v1/auth/me`, {
      headers: { Cookie: `shouli_sid=${'ab'.repeat(32)}` },
    });
    assert.equal(forged.status, 401);
  });

  test('an expired password allows only me, logout and the password change', async () => {
    const name = `exp_${run}`;
    await createUser(name, '310104014C1', ['centre_manager']);
    const c = client(url);
    // First the forced change of the initial password, then let the new one grow old.
    await c.login(name, STRONG);
    assert.equal((await c.post('/api/v1/auth/password', { old_password: STRONG, new_password: 'Second#2026pw' })).status, 200);
    sql(srv, `UPDATE users SET password_changed_at = ${Date.now() - 91 * 86400000} WHERE username = '${name}'`);
    const r = await c.login(name, 'Second#2026pw');
    assert.equal(r.status, 200);
    assert.equal(r.body.password_expired, true);
    const orgs = await c.get('/api/v1/admin/orgs');
    assert.equal(orgs.status, 403);
    assert.equal(orgs.body.error.code, 'password_expired');
    const me = await c.get('/api/v1/auth/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.password_expired, true);
    const changed = await c.post('/api/v1/auth/password', { old_password: 'Second#2026pw', new_password: 'Third#2026pw' });
    assert.equal(changed.status, 200);
    assert.equal((await c.get('/api/v1/admin/orgs')).status, 200);
  });

  test('a clerk may not manage users (403 forbidden)', async () => {
    const c = await loginAs(url, DEMO.clerk);
    const r = await c.get('/api/v1/admin/users');
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'forbidden');
    const roles = await c.get('/api/v1/admin/roles');
    assert.equal(roles.status, 403);
  });

  test('built-in roles keep system, security and audit administration apart', async () => {
    const sec = await loginAs(url, DEMO.security);
    const r = await sec.get('/api/v1/admin/roles');
    assert.equal(r.status, 200);
    const by = Object.fromEntries(r.body.roles.map((x) => [x.code, x]));
    assert.equal(by.sysadmin.name, '系统管理员');
    assert.deepEqual(by.auditor.permissions, ['audit.read']);
    assert.ok(r.body.roles.every((x) => x.intact));
    const domains = [['user.manage', 'org.manage', 'system.config'], ['role.manage', 'key.manage'], ['audit.read']];
    for (const role of r.body.roles) {
      const touched = domains.filter((d) => d.some((p) => role.permissions.includes(p)));
      assert.ok(touched.length <= 1, `${role.code} mixes duties`);
    }
    // Nor can one account be given two of them.
    const mix = await adminC.post('/api/v1/admin/users', {
      username: `mix_${run}`,
      name: '混合',
      org_code: '310000',
      roles: ['sysadmin', 'auditor'],
      password: STRONG,
    });
    assert.equal(mix.status, 422);
    assert.equal(mix.body.error.field, 'roles');
    assert.match(mix.body.error.message, /三员分立/);
  });

  test('user creation validates username, organisation, roles and password', async () => {
    const base = { username: `ok_${run}`, name: '张三', org_code: '310104', roles: ['window_clerk'], password: STRONG };
    const cases = [
      [{ username: 'Bad Name' }, 400, 'username'],
      [{ username: '1abc' }, 400, 'username'],
      [{ org_code: '999999' }, 404, 'org_code'],
      [{ roles: ['no_such_role'] }, 404, 'roles'],
      [{ password: 'short' }, 422, 'password'],
    ];
    for (const [patch, status, field] of cases) {
      const r = await adminC.post('/api/v1/admin/users', { ...base, ...patch });
      assert.equal(r.status, status, JSON.stringify(patch));
      assert.equal(r.body.error.field, field, JSON.stringify(patch));
    }
    const ok = await adminC.post('/api/v1/admin/users', base);
    assert.equal(ok.status, 201);
    assert.equal(ok.body.user.org_name, '徐汇区');
    const dup = await adminC.post('/api/v1/admin/users', base);
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.field, 'username');
  });

  test('data scope: a district administrator sees only their district', async () => {
    const name = `pd_${run}`;
    await createUser(name, '310115', ['sysadmin']);
    const pd = client(url);
    const first = await pd.login(name, STRONG);
    assert.equal(first.status, 200);
    assert.equal(first.body.password_expired, true, 'a new account must change its password');
    const blocked = await pd.get('/api/v1/admin/users');
    assert.equal(blocked.status, 403);
    assert.equal(blocked.body.error.code, 'password_expired');
    const changed = await pd.post('/api/v1/auth/password', { old_password: STRONG, new_password: 'Pudong#2026new' });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));

    const mine = await pd.get('/api/v1/admin/users');
    assert.equal(mine.status, 200);
    const names = mine.body.users.map((u) => u.username);
    assert.ok(names.includes(name));
    assert.ok(!names.includes('clerk'), 'a 徐汇 clerk is outside 浦东');
    assert.ok(!names.includes('admin'), 'the city is above 浦东');
    assert.ok(mine.body.users.every((u) => u.org_name === '浦东新区' || /陆家嘴|潍坊/.test(u.org_name)));

    const all = await adminC.get('/api/v1/admin/users');
    const allNames = all.body.users.map((u) => u.username);
    for (const u of ['admin', 'clerk', 'manager', name]) assert.ok(allNames.includes(u), u);
    const clerk = all.body.users.find((u) => u.username === 'clerk');
    assert.deepEqual(clerk.role_names, ['窗口受理人员']);

    // Outside the scope a user does not exist, and no user can be created there.
    const touch = await pd.patch(`/api/v1/admin/users/${clerk.id}`, { name: '改名' });
    assert.equal(touch.status, 404);
    const create = await pd.post('/api/v1/admin/users', {
      username: `x_${run}`, name: '越权', org_code: '310104014C1', roles: ['window_clerk'], password: STRONG,
    });
    assert.equal(create.status, 403);
    assert.equal(create.body.error.code, 'out_of_scope');
  });

  test('the organisation tree is cut at the caller’s organisation', async () => {
    const mgr = await loginAs(url, DEMO.manager);
    const m = await mgr.get('/api/v1/admin/orgs');
    assert.equal(m.status, 200);
    assert.equal(m.body.orgs.length, 1);
    assert.equal(m.body.orgs[0].level, 'centre');
    assert.deepEqual(m.body.orgs[0].children, []);

    const a = await adminC.get('/api/v1/admin/orgs');
    const city = a.body.orgs[0];
    assert.equal(city.code, '310000');
    assert.equal(city.children.length, 16);
    const xuhui = city.children.find((d) => d.code === '310104');
    assert.equal(xuhui.name, '徐汇区');
    assert.equal(xuhui.children.length, 2);
    assert.equal(xuhui.children[0].children[0].level, 'centre');
  });

  test('password change enforces the policy, rule by rule', async () => {
    const name = `pw_${run}`;
    await createUser(name, '310104014C1', ['window_clerk']);
    const c = await loginAs(url, { username: name, password: STRONG });
    const tries = [
      ['Ab1!xyz', /至少为 8/],
      ['alllowercase1', /至少三类/],
      [`X${name}#2026`, /用户名/],
      [STRONG, /最近 5 次/],
    ];
    const other = await loginAs(url, { username: name, password: STRONG }); // another browser
    assert.equal((await other.get('/api/v1/auth/me')).status, 200);
    for (const [pw, why] of tries) {
      const r = await c.post('/api/v1/auth/password', { old_password: STRONG, new_password: pw });
      assert.equal(r.status, 422, pw);
      assert.equal(r.body.error.code, 'password_policy', pw);
      assert.match(r.body.error.message, why, pw);
    }
    const wrongOld = await c.post('/api/v1/auth/password', { old_password: 'Nope#2026aa', new_password: 'Fresh#Pass2026' });
    assert.equal(wrongOld.status, 401);
    assert.equal(wrongOld.body.error.field, 'old_password');

    const ok = await c.post('/api/v1/auth/password', { old_password: STRONG, new_password: 'Fresh#Pass2026' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.password_expired, false);
    assert.equal((await c.get('/api/v1/auth/me')).status, 200, 'the current session survives');
    assert.equal((await other.get('/api/v1/auth/me')).status, 401, 'the other session ends at once');
    assert.equal((await c.get('/api/v1/auth/me')).body.password_expired, false);
    assert.equal((await client(url).login(name, STRONG)).status, 401);
    assert.equal((await client(url).login(name, 'Fresh#Pass2026')).status, 200);
    // Back to a password used before: refused by the history.
    const back = await c.post('/api/v1/auth/password', { old_password: 'Fresh#Pass2026', new_password: STRONG });
    assert.equal(back.status, 422);
    assert.match(back.body.error.message, /最近 5 次/);
  });

  test('a disabled account cannot sign in and loses its sessions', async () => {
    const name = `dis_${run}`;
    const u = await createUser(name, '310104014C1', ['window_clerk']);
    const c = await loginAs(url, { username: name, password: STRONG });
    const c2 = await loginAs(url, { username: name, password: STRONG });
    // Both sessions are in use (and so cached) when the administrator steps in.
    assert.equal((await c.get('/api/v1/auth/me')).status, 200);
    assert.equal((await c2.get('/api/v1/auth/me')).status, 200);
    const self = await adminC.patch(`/api/v1/admin/users/${(await adminC.get('/api/v1/auth/me')).body.user.id}`, {
      disabled: true,
    });
    assert.equal(self.status, 422, 'nobody disables themselves');
    const r = await adminC.patch(`/api/v1/admin/users/${u.id}`, { disabled: true });
    assert.equal(r.status, 200);
    assert.equal(r.body.user.disabled, true);
    assert.equal((await c.get('/api/v1/auth/me')).status, 401);
    assert.equal((await c2.get('/api/v1/auth/me')).status, 401);
    const again = await client(url).login(name, STRONG);
    assert.equal(again.status, 403);
    assert.equal(again.body.error.message, '账号已停用');
  });

  test('a role change takes effect on the next request, granted or taken away', async () => {
    const name = `role_${run}`;
    const u = await createUser(name, '310104014C1', ['window_clerk']);
    const c = await loginAs(url, { username: name, password: STRONG });
    assert.equal((await c.post('/api/v1/auth/password', { old_password: STRONG, new_password: 'Roles#2026pw' })).status, 200);
    assert.equal((await c.get('/api/v1/admin/audit')).status, 403);
    assert.deepEqual((await c.get('/api/v1/auth/me')).body.user.roles, ['window_clerk']);

    assert.equal((await adminC.patch(`/api/v1/admin/users/${u.id}`, { roles: ['auditor'] })).status, 200);
    const me = await c.get('/api/v1/auth/me');
    assert.deepEqual(me.body.user.roles, ['auditor']);
    assert.deepEqual(me.body.user.permissions, ['audit.read']);
    assert.equal((await c.get('/api/v1/admin/audit')).status, 200);

    assert.equal((await adminC.patch(`/api/v1/admin/users/${u.id}`, { roles: ['window_clerk'] })).status, 200);
    const denied = await c.get('/api/v1/admin/audit');
    assert.equal(denied.status, 403, 'a permission taken away is gone at once');
    assert.equal(denied.body.error.code, 'forbidden');
    assert.deepEqual((await c.get('/api/v1/auth/me')).body.user.permissions, ['case.accept', 'case.read', 'ident.read', 'queue.call']);

    // A new name shows at once too.
    assert.equal((await adminC.patch(`/api/v1/admin/users/${u.id}`, { name: '新名字' })).status, 200);
    assert.equal((await c.get('/api/v1/auth/me')).body.user.name, '新名字');
  });

  test('the audit log lists the logins; the auditor may read it, a clerk may not', async () => {
    const aud = await loginAs(url, DEMO.auditor);
    const r = await aud.get('/api/v1/admin/audit?limit=200&action=auth.login');
    assert.equal(r.status, 200);
    const actions = new Set(r.body.entries.map((e) => e.action));
    for (const a of ['auth.login.ok', 'auth.login.fail', 'auth.login.lockout', 'auth.login.locked']) {
      assert.ok(actions.has(a), a);
    }
    assert.ok(r.body.entries.some((e) => e.action === 'auth.login.ok' && e.actor === 'clerk'));
    assert.ok(r.body.entries.every((e) => e.action.startsWith('auth.login.')));
    const ids = r.body.entries.map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((x, y) => y - x), 'newest first');
    const older = await aud.get(`/api/v1/admin/audit?limit=5&before=${ids[0]}`);
    assert.ok(older.body.entries.every((e) => e.id < ids[0]));
    assert.equal(older.body.entries.length, 5);

    const clerk = await loginAs(url, DEMO.clerk);
    const denied = await clerk.get('/api/v1/admin/audit');
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'forbidden');
    const sysadmin = await adminC.get('/api/v1/admin/audit');
    assert.equal(sysadmin.status, 403, 'the system administrator is not the auditor');
  });

  test('the auditor verifies the chain over the API; a tampered entry is named', async () => {
    const aud = await loginAs(url, DEMO.auditor);
    const ok = await aud.get('/api/v1/admin/audit/verify');
    assert.equal(ok.status, 200);
    assert.equal(ok.body.intact, true);
    assert.ok(ok.body.checked > 10);
    const clerk = await loginAs(url, DEMO.clerk);
    assert.equal((await clerk.get('/api/v1/admin/audit/verify')).status, 403);

    const victim = Number(sql(srv, "SELECT MIN(id) FROM audit_log WHERE action = 'auth.login.ok'"));
    const original = sql(srv, `SELECT detail FROM audit_log WHERE id = ${victim}`);
    sql(srv, `UPDATE audit_log SET detail = 'forged' WHERE id = ${victim}`);
    const bad = await aud.get('/api/v1/admin/audit/verify');
    assert.equal(bad.body.intact, false);
    assert.equal(bad.body.first_bad_id, victim);
    assert.match(bad.body.message, /\p{Script=Han}/u);
    const restore = original === '' ? 'NULL' : `'${original.replaceAll("'", "''")}'`;
    sql(srv, `UPDATE audit_log SET detail = ${restore} WHERE id = ${victim}`);
    assert.equal((await aud.get('/api/v1/admin/audit/verify')).body.intact, true);
  });

  test('repeated failures from one address are rate limited (429)', async () => {
    let limited = null;
    for (let i = 0; i < 12 && !limited; i++) {
      const r = await client(url).login(`ghost${i}_${run}`, 'Wrong#Pass2026');
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 401);
    }
    assert.ok(limited, 'no 429 after 12 failures');
    assert.equal(limited.body.error.code, 'rate_limited');
    const right = await client(url).login(DEMO.examadmin.username, DEMO.examadmin.password);
    assert.equal(right.status, 429, 'the address stays limited for the window');
  });

  test('`shouli admin audit verify` finds the chain intact after the run', async () => {
    await srv.halt();
    const r = admin(srv, ['audit', 'verify']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /intact/);
  });
});

describe('auth straight from the database (--session-cache-s 0)', () => {
  // These tests change the database behind the server's back, which a cached session would
  // not see until its entry is reloaded.
  let srv;
  let url;
  let adminC;
  const run = uniq();

  before(async () => {
    srv = await startServer(['--session-cache-s', '0']);
    url = srv.url;
    adminC = await loginAs(url, DEMO.admin);
  });

  after(async () => {
    await srv?.stop();
  });

  test('an idle or too old session expires (401 session_expired)', async () => {
    const idle = await loginAs(url, DEMO.clerk);
    const old = await loginAs(url, DEMO.clerk);
    const minutes = (m) => Date.now() - m * 60000;
    // Defaults: 30 minutes idle, 12 hours absolute.
    sql(srv, `UPDATE sessions SET last_seen = ${minutes(31)} WHERE csrf_token = '${idle.csrf}'`);
    sql(srv, `UPDATE sessions SET created_at = ${minutes(12 * 60 + 1)} WHERE csrf_token = '${old.csrf}'`);
    for (const c of [idle, old]) {
      const r = await c.get('/api/v1/auth/me');
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'session_expired');
    }
    // A session in use slides: last_seen moves forward (written at most once a minute).
    const live = await loginAs(url, DEMO.clerk);
    sql(srv, `UPDATE sessions SET last_seen = ${minutes(20)} WHERE csrf_token = '${live.csrf}'`);
    assert.equal((await live.get('/api/v1/auth/me')).status, 200);
    const seen = Number(sql(srv, `SELECT last_seen FROM sessions WHERE csrf_token = '${live.csrf}'`));
    assert.ok(seen > minutes(1), 'last_seen was refreshed');
  });

  test('a permission row changed in the database stops granting (integrity MAC)', async () => {
    const name = `mac_${run}`;
    await makeUser(adminC, name, '310104014C1', ['exam_admin']);
    const c = client(url);
    await c.login(name, STRONG);
    await c.post('/api/v1/auth/password', { old_password: STRONG, new_password: 'Macmac#2026x' });
    assert.deepEqual((await c.get('/api/v1/auth/me')).body.user.permissions, ['exam.manage']);
    // An intruder with database access hands exam_admin the audit permission, reusing the
    // MAC of the row that is there.
    sql(srv, `INSERT INTO role_perms (role_id, perm, mac) SELECT role_id, 'audit.read', mac FROM role_perms
              WHERE perm = 'exam.manage'`);
    const me = await c.get('/api/v1/auth/me');
    assert.deepEqual(me.body.user.permissions, ['exam.manage']);
    assert.equal((await c.get('/api/v1/admin/audit')).status, 403);
    const aud = await loginAs(url, DEMO.auditor);
    const log = await aud.get('/api/v1/admin/audit?action=security.integrity');
    assert.ok(log.body.entries.some((e) => /role_perms:\d+\/audit\.read/.test(e.target)), JSON.stringify(log.body));
    sql(srv, `DELETE FROM role_perms WHERE perm = 'audit.read' AND role_id = (SELECT id FROM roles WHERE code = 'exam_admin')`);
  });

  test('without the cache, sign-out and disabling still end sessions', async () => {
    const c = await loginAs(url, DEMO.clerk);
    assert.equal((await c.get('/api/v1/auth/me')).status, 200);
    assert.equal((await c.post('/api/v1/auth/logout', {})).status, 200);
    assert.equal((await c.get('/api/v1/auth/me')).status, 401);
    const u = await makeUser(adminC, `nc_${run}`, '310104014C1', ['window_clerk']);
    const d = await loginAs(url, { username: u.username, password: STRONG });
    assert.equal((await d.get('/api/v1/auth/me')).status, 200);
    assert.equal((await adminC.patch(`/api/v1/admin/users/${u.id}`, { disabled: true })).status, 200);
    assert.equal((await d.get('/api/v1/auth/me')).status, 401);
  });
});

describe('the principal cache', () => {
  // A TTL long enough for the steps below, and the shortest idle timeout allowed.
  let srv;
  let url;

  before(async () => {
    srv = await startServer(['--session-cache-s', '30', '--session-idle-s', '60']);
    url = srv.url;
  });

  after(async () => {
    await srv?.stop();
  });

  test('answers from memory within its TTL, yet expires an idle session on time', async () => {
    const c = await loginAs(url, DEMO.clerk);
    // The session was last seen 57 s ago; this request loads it (no write-back: under a
    // minute) and caches it with that time.
    const seen = Date.now() - 57000;
    sql(srv, `UPDATE sessions SET last_seen = ${seen} WHERE csrf_token = '${c.csrf}'`);
    const first = await c.get('/api/v1/auth/me');
    assert.equal(first.status, 200);
    assert.equal(first.body.user.name, '王芳');

    // Behind the server's back: a new name, and a session that looks fresh in the database.
    sql(srv, "UPDATE users SET name = '改过的名字' WHERE username = 'clerk'");
    sql(srv, `UPDATE sessions SET last_seen = ${Date.now()} WHERE csrf_token = '${c.csrf}'`);
    const cached = await c.get('/api/v1/auth/me');
    assert.equal(cached.status, 200);
    assert.equal(cached.body.user.name, '王芳', 'answered from the cache, not the database');

    // 60 s after the cached last_seen the session is idle, whatever the database says now:
    // the timeout is computed from the cached time, exactly as from a loaded one.
    await sleep(Math.max(0, seen + 61000 - Date.now()));
    const idle = await c.get('/api/v1/auth/me');
    assert.equal(idle.status, 401);
    assert.equal(idle.body.error.code, 'session_expired');
  });

  test('a session in use stays signed in across many requests without reloading', async () => {
    const c = await loginAs(url, DEMO.manager);
    const replies = await Promise.all(Array.from({ length: 50 }, () => c.get('/api/v1/auth/me')));
    assert.ok(replies.every((r) => r.status === 200 && r.body.user.username === 'manager'));
    assert.ok(replies.every((r) => r.body.csrf_token === c.csrf));
    const logout = await c.post('/api/v1/auth/logout', {});
    assert.equal(logout.status, 200);
    assert.equal((await c.get('/api/v1/auth/me')).status, 401);
  });
});
