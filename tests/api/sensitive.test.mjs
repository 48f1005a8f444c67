// Personal data at rest: a staff member's phone and ID number are stored sealed (SM4-GCM)
// with blind indexes (HMAC-SM3). The admin API shows them masked only, finds a user by exact
// phone or ID number, keeps them out of the audit trail — and no byte of the plaintext is
// anywhere in the database files.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEMO, loginAs, sql, startServer, uniq } from './lib.mjs';

const STRONG = 'Strong#Pass2026';
const PG = Boolean(process.env.SHOULI_TEST_DB);

const rand = (n) => Math.floor(Math.random() * n);
const digits = (n) => Array.from({ length: n }, () => rand(10)).join('');
const pad2 = (n) => String(n).padStart(2, '0');

// ISO 7064 MOD 11-2 check character of the first 17 digits (DOMAIN.md).
function checkChar(s17) {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...s17].reduce((t, c, i) => t + Number(c) * w[i], 0);
  return '10X98765432'[sum % 11];
}

// A made-up 居民身份证 number of this run whose check character is X, so that the
// lower-case variant means something.
function idNumberEndingInX() {
  for (;;) {
    const s17 = `310104${1950 + rand(50)}${pad2(1 + rand(12))}${pad2(1 + rand(28))}${digits(3)}`;
    if (checkChar(s17) === 'X') return `${s17}X`;
  }
}

// Every file below dir except the key directory, as [path, bytes].
async function dataFiles(dir, top = dir) {
  const out = [];
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) {
      if (!(dir === top && ent.name === 'keys')) out.push(...(await dataFiles(p, top)));
    } else if (ent.isFile()) {
      out.push([p, await readFile(p)]);
    }
  }
  return out;
}

// The needles, each as UTF-8 and as UTF-16LE bytes.
function encodings(values) {
  return values.flatMap((v) => [
    [`${v} (UTF-8)`, Buffer.from(v, 'utf8')],
    [`${v} (UTF-16LE)`, Buffer.from(v, 'utf16le')],
  ]);
}

// [file, needle] pairs where a needle occurs.
function findIn(files, needles) {
  const hits = [];
  for (const [path, bytes] of files)
    for (const [label, needle] of needles) if (bytes.includes(needle)) hits.push(`${label} in ${path}`);
  return hits;
}

describe('sensitive fields', () => {
  let srv;
  let adminC;
  const run = uniq();
  const username = `pii_${run}`;
  const PHONE = `139${digits(8)}`;
  const PHONE2 = `137${digits(8)}`; // the number it is changed to
  const ID = idNumberEndingInX();
  const idLower = ID.slice(0, 17) + 'x';
  const phoneMasked = (p) => `${p.slice(0, 3)}****${p.slice(7)}`;
  const ID_MASKED = `${ID.slice(0, 4)}**********${ID.slice(14)}`;
  // Everything that must never be stored or shown whole.
  const SECRETS = [PHONE, PHONE2, ID, idLower];
  let userId;

  const noSecrets = (text, where) => {
    for (const s of SECRETS) assert.ok(!text.includes(s), `${s} appears in ${where}`);
  };

  before(async () => {
    srv = await startServer();
    adminC = await loginAs(srv.url, DEMO.admin);
  });

  after(async () => {
    await srv?.stop();
  });

  test('an administrator records a phone and an ID number; the answer shows them masked', async () => {
    const r = await adminC.post('/api/v1/admin/users', {
      username,
      name: '测试联系人',
      org_code: '310104014C1',
      roles: ['window_clerk'],
      password: STRONG,
      phone: ` ${PHONE.slice(0, 3)} ${PHONE.slice(3, 7)} ${PHONE.slice(7)} `,
      id_number: idLower,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    userId = r.body.user.id;
    assert.equal(r.body.user.phone_masked, phoneMasked(PHONE));
    assert.equal(r.body.user.id_number_masked, ID_MASKED);
    noSecrets(JSON.stringify(r.body), 'the create response');

    // Stored as a blob (normalised value + 33 bytes of version, key id, IV and tag) and a
    // 64-hex blind index, on either engine.
    const [encLen, bidx, idEncLen, idBidx] = sql(
      srv,
      `SELECT length(phone_enc), phone_bidx, length(id_number_enc), id_number_bidx FROM users WHERE id = ${userId}`,
    ).split('|');
    assert.equal(Number(encLen), 11 + 33);
    assert.match(bidx, /^[0-9a-f]{64}$/);
    assert.equal(Number(idEncLen), 18 + 33);
    assert.match(idBidx, /^[0-9a-f]{64}$/);
    assert.notEqual(bidx, idBidx);
  });

  test('the user list shows only masked values, the demo users’ included', async () => {
    const r = await adminC.get('/api/v1/admin/users?limit=1000');
    assert.equal(r.status, 200);
    const me = r.body.users.find((u) => u.id === userId);
    assert.equal(me.phone_masked, phoneMasked(PHONE));
    assert.equal(me.id_number_masked, ID_MASKED);
    const clerk = r.body.users.find((u) => u.username === 'clerk');
    assert.match(clerk.phone_masked, /^138\*{4}\d{4}$/);
    assert.match(clerk.id_number_masked, /^\d{4}\*{10}\d{3}[\dX]$/);
    for (const u of r.body.users) {
      assert.ok(!('phone' in u) && !('id_number' in u), `plain fields on ${u.username}`);
    }
    noSecrets(JSON.stringify(r.body), 'the user list');
  });

  test('a user is found by exact phone or ID number (blind index)', async () => {
    const byPhone = await adminC.get(`/api/v1/admin/users?phone=${PHONE}`);
    assert.equal(byPhone.status, 200);
    assert.deepEqual(
      byPhone.body.users.map((u) => u.id),
      [userId],
    );
    // The same number written another way is the same number.
    const spaced = await adminC.get(
      `/api/v1/admin/users?phone=${encodeURIComponent(`${PHONE.slice(0, 3)}-${PHONE.slice(3, 7)}-${PHONE.slice(7)}`)}`,
    );
    assert.deepEqual(
      spaced.body.users.map((u) => u.id),
      [userId],
    );
    const byId = await adminC.get(`/api/v1/admin/users?id_number=${idLower}`);
    assert.deepEqual(
      byId.body.users.map((u) => u.id),
      [userId],
    );
    // Exact match only: a neighbouring number finds no one.
    const other = `${PHONE.slice(0, 10)}${(Number(PHONE[10]) + 1) % 10}`;
    const none = await adminC.get(`/api/v1/admin/users?phone=${other}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.body.users, []);
    const bad = await adminC.get('/api/v1/admin/users?phone=12345');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'phone');
  });

  test('malformed phones and ID numbers are refused, and the message does not repeat them', async () => {
    const base = { name: '校验', org_code: '310104014C1', roles: ['window_clerk'], password: STRONG };
    const wrongCheck = ID.slice(0, 17) + (ID.endsWith('X') ? '0' : 'X');
    const badDate = `11010519490230002${checkChar('11010519490230002')}`; // 30 February
    const cases = [
      ['phone', '1234567890'],
      ['phone', '12812345678'],
      ['id_number', wrongCheck],
      ['id_number', badDate],
      ['id_number', ID.slice(0, 17)],
    ];
    for (const [field, value] of cases) {
      const username2 = `bad_${run}_${rand(1e6)}`;
      const r = await adminC.post('/api/v1/admin/users', { ...base, username: username2, [field]: value });
      assert.equal(r.status, 400, `${field}=${value}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'bad_field');
      assert.equal(r.body.error.field, field);
      assert.ok(!JSON.stringify(r.body).includes(value), `the error repeats ${value}`);
    }
  });

  test('PATCH changes and clears them; the audit trail says what changed, never the value', async () => {
    const changed = await adminC.patch(`/api/v1/admin/users/${userId}`, { phone: PHONE2 });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.user.phone_masked, phoneMasked(PHONE2));
    assert.equal(changed.body.user.id_number_masked, ID_MASKED, 'the other field is kept');
    assert.deepEqual((await adminC.get(`/api/v1/admin/users?phone=${PHONE}`)).body.users, []);
    assert.deepEqual(
      (await adminC.get(`/api/v1/admin/users?phone=${PHONE2}`)).body.users.map((u) => u.id),
      [userId],
    );

    const cleared = await adminC.patch(`/api/v1/admin/users/${userId}`, { id_number: null });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.user.id_number_masked, null);
    const gone = sql(
      srv,
      `SELECT count(*) FROM users WHERE id = ${userId} AND id_number_enc IS NULL AND id_number_bidx IS NULL`,
    );
    assert.equal(gone, '1', 'cleared means NULL in both columns');
    const again = await adminC.patch(`/api/v1/admin/users/${userId}`, { id_number: ID });
    assert.equal(again.body.user.id_number_masked, ID_MASKED);

    const bad = await adminC.patch(`/api/v1/admin/users/${userId}`, { phone: '999' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'phone');

    const aud = await loginAs(srv.url, DEMO.auditor);
    const log = await aud.get('/api/v1/admin/audit?limit=200&action=admin.user');
    assert.equal(log.status, 200);
    const mine = log.body.entries.filter((e) => e.target === `user:${userId}`);
    const details = mine.map((e) => e.detail); // the audit API returns JSON details parsed
    assert.ok(details.some((d) => d.phone === 'set' && d.id_number === 'set'), JSON.stringify(details));
    assert.ok(details.some((d) => d.phone === 'changed'), JSON.stringify(details));
    assert.ok(details.some((d) => d.id_number === 'cleared'), JSON.stringify(details));
    assert.ok(details.some((d) => d.id_number === 'changed'), JSON.stringify(details));
    noSecrets(JSON.stringify(log.body), 'the audit log');
    noSecrets(srv.output(), 'the server log');
  });

  test(
    PG
      ? 'the database files hold no plaintext (skipped on PostgreSQL: no file to scan)'
      : 'the database files hold no plaintext (shouli.db and its WAL, running and stopped)',
    { skip: PG && 'PostgreSQL run: the file scan needs the SQLite file' },
    async () => {
      const needles = encodings(SECRETS);
      // The scanner reads the right files: what is stored in clear is found, in the WAL
      // or the main file.
      const canary = encodings([username]);
      const running = await dataFiles(srv.data);
      assert.ok(running.some(([p]) => p.endsWith('shouli.db')), running.map(([p]) => p).join(', '));
      assert.ok(findIn(running, canary).length > 0, 'the scan does not see the new username');
      assert.deepEqual(findIn(running, needles), [], 'plaintext in the data directory while running');

      await srv.halt();
      const stopped = await dataFiles(srv.data);
      assert.ok(findIn(stopped, canary).length > 0, 'the scan does not see the new username');
      assert.deepEqual(findIn(stopped, needles), [], 'plaintext in the data directory after stopping');
      noSecrets(srv.output(), 'the server log');
    },
  );

  test(
    'the PostgreSQL database holds no plaintext (pg_dump scan)',
    { skip: !PG && 'SQLite run: covered by the file scan' },
    async () => {
      const conninfo = srv.dbArgs[1].replace(/^postgres:/, '');
      const r = spawnSync('pg_dump', ['--data-only', '--inserts', conninfo], { encoding: 'buffer', timeout: 60000, maxBuffer: 256 * 1024 * 1024 });
      assert.equal(r.status, 0, `pg_dump: ${r.stderr}`);
      const dump = [['pg_dump', r.stdout]];
      assert.ok(findIn(dump, encodings([username])).length > 0, 'the dump does not hold the new username');
      // bytea columns are dumped as hex: look for the hex of the plaintext there too.
      const hex = SECRETS.map((v) => [`${v} (bytea hex)`, Buffer.from(Buffer.from(v).toString('hex'))]);
      assert.deepEqual(findIn(dump, [...encodings(SECRETS), ...hex]), []);
    },
  );
});
