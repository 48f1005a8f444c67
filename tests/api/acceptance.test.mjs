// The "Done when" as an API test: a clerk accepts cases of four departments end to end
// against the simulators (serve --with-sim) — read the resident's card, open the case, prefill
// (each value's source shown), fill the rest, pre-review (every rule's verdict), attach the
// materials, accept, receipt. Then the hard parts: a department outage gives `unknown`
// verdicts and acceptance still goes through; a blocking verdict is refused without an
// override and accepted by the manager with a reason, which is recorded and audited.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DEMO, freePort, loginAs, sql, startServer } from './lib.mjs';
import { PNG, caseKit, merge } from './cases-lib.mjs';

const dig = (o, path) => path.split('.').reduce((v, k) => (v == null ? undefined : v[k]), o);

describe('acceptance: the whole path against the simulators', () => {
  let srv, sim, clerk, manager, catalog;

  const { simGet, simSend, person, send: raw, readCard } = caseKit(() => ({ sim, srv, clerk, catalog }));

  async function openCase(subItem, resident) {
    const r = await clerk.post('/api/v1/cases', { sub_item_code: subItem, resident_id: resident.id });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const c = r.body.case ?? r.body;
    assert.match(c.case_no, /^310104014C1-\d{8}-\d{6}$/);
    return { no: c.case_no, version: c.version };
  }

  async function prefill(kase, overwrite = false) {
    const r = await clerk.post(`/api/v1/cases/${kase.no}/prefill`, { version: kase.version, overwrite });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.version, kase.version + 1);
    kase.version = r.body.version;
    return r.body;
  }

  async function saveForm(kase, data) {
    const r = await raw(clerk, 'PUT', `/api/v1/cases/${kase.no}/form`, { version: kase.version, data });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    kase.version = r.body.version;
    return r.body;
  }

  async function prereview(kase) {
    const r = await clerk.post(`/api/v1/cases/${kase.no}/prereview`, {});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const byId = Object.fromEntries(r.body.verdicts.map((v) => [v.id, v]));
    return { ...r.body, byId };
  }

  // One scan for every material required now.
  async function attachMaterials(kase) {
    const m = await clerk.get(`/api/v1/cases/${kase.no}/materials`);
    assert.equal(m.status, 200, JSON.stringify(m.body));
    for (const slot of m.body.slots.filter((s) => s.required_now)) {
      const title = encodeURIComponent(`${slot.name}（扫描件）`);
      const up = await raw(
        clerk,
        'POST',
        `/api/v1/cases/${kase.no}/materials/${slot.id}/files?source=scan&title=${title}`,
        PNG,
        'image/png',
      );
      assert.ok(up.status === 200 || up.status === 201, `${slot.id}: ${up.status} ${JSON.stringify(up.body)}`);
    }
    const after = await clerk.get(`/api/v1/cases/${kase.no}/materials`);
    assert.equal(after.body.complete, true, JSON.stringify(after.body.missing));
  }

  async function accept(kase, who = clerk, override) {
    const body = { version: kase.version };
    if (override) body.override = override;
    return who.post(`/api/v1/cases/${kase.no}/accept`, body);
  }

  async function sample(subItem) {
    const r = await catalog.get(`/api/v1/admin/catalog/subitems/${subItem}/sample`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data;
  }

  // The whole path for one sub-item: returns what each step answered.
  async function acceptPath(subItem, p, { fix = {}, sources = {}, verdicts = {} } = {}) {
    const resident = await readCard(p);
    const kase = await openCase(subItem, resident);
    const pf = await prefill(kase);
    for (const [field, label] of Object.entries(sources)) {
      assert.ok(pf.sources[field], `${subItem}: ${field} not prefilled (${JSON.stringify(pf.errors)})`);
      assert.match(pf.sources[field].label, label, `${subItem}: ${field}`);
    }
    assert.ok(pf.filled >= Object.keys(sources).length);
    // the clerk completes the form: the catalog's sample for what nobody could prefill
    const data = merge(merge(await sample(subItem), pf.data), fix);
    const saved = await saveForm(kase, data);
    const pr = await prereview(kase);
    for (const [id, want] of Object.entries(verdicts)) {
      const got = pr.byId[id]?.verdict;
      assert.ok(
        Array.isArray(want) ? want.includes(got) : got === want,
        `${subItem}: ${id} is ${got}: ${JSON.stringify(pr.byId[id])}`,
      );
    }
    await attachMaterials(kase);
    const acc = await accept(kase);
    assert.equal(acc.status, 200, JSON.stringify(acc.body));
    const receipt = await clerk.get(`/api/v1/cases/${kase.no}/receipt`);
    assert.equal(receipt.status, 200, JSON.stringify(receipt.body));
    assert.ok(JSON.stringify(receipt.body).includes(kase.no));
    return { resident, kase, pf, saved, pr, acc: acc.body, receipt: receipt.body };
  }

  const self = (p) => ({ applicant: { id_number: { type: '111', number: p.id_number }, name: p.name } });

  before(async () => {
    const port = await freePort();
    sim = `http://127.0.0.1:${port}`;
    srv = await startServer(['--with-sim', '--sim-port', String(port)]);
    clerk = await loginAs(srv.url, DEMO.clerk);
    manager = await loginAs(srv.url, DEMO.manager);
    catalog = await loginAs(srv.url, DEMO.catalog);
  });
  after(async () => {
    await srv?.stop();
  });

  test('民政 老年综合津贴: the 户口簿 e-certificate and the 民政 lookup prefill, every rule passes', async () => {
    const p = await person('min_age=66&max_age=85&hukou=1&enrolled=0');
    const out = await acceptPath('310003001000-01', p, {
      fix: merge(self(p), { applicant: { hukou_local: true }, payment: { channel: 'ssc' }, agent: { present: false } }),
      sources: {
        'applicant.name': /^读卡$/,
        'applicant.hukou_address': /^电子证照·居民户口簿$/,
        'allowance.status': /^民政业务中台$/,
      },
      verdicts: { age_65: 'pass', local_hukou: 'pass', not_receiving: 'pass', channel_ok: 'pass' },
    });
    // the values fit the fields: a district code from the 户口簿 address, a code for the status
    assert.match(out.pf.data.applicant.hukou_address.district, /^3101\d\d$/);
    assert.equal(out.pf.data.allowance.status, '0');
    assert.equal(out.pf.sources['allowance.status'].flow, 'minzheng.elder_allowance_query');
    assert.deepEqual(out.pf.errors, []);
    assert.equal(out.pr.blocked, false);
  });

  test('公安 敬老卡: the 公安 lookup of an earlier card decides the warning', async () => {
    const p = await person('min_age=66&hukou=1');
    const out = await acceptPath('310004004000-01', p, {
      fix: merge(self(p), { elder: { identity: '1' }, agent: { present: false } }),
      sources: { 'applicant.name': /^读卡$/ },
      verdicts: { age_65: 'pass', not_issued: ['pass', 'warn'] },
    });
    const had = Boolean(out.pf.data.card?.previous_no);
    assert.equal(out.pr.byId.not_issued.verdict, had ? 'warn' : 'pass');
    if (had) assert.match(out.pf.sources['card.previous_no'].label, /公安/);
  });

  test('社保 待遇资格认证: the ID number from the card, the last authentication from 社保', async () => {
    const p = await person('min_age=66&insured=employee&hukou=1');
    const out = await acceptPath('310001004000-01', p, {
      fix: { auth: { face_matched: true }, agent: { present: false } },
      sources: { 'applicant.id_number': /^读卡$/, 'applicant.name': /^读卡$/ },
      verdicts: { recently_done: ['pass', 'warn'] },
    });
    assert.deepEqual(out.pf.data.applicant.id_number, { type: '111', number: p.id_number });
    if (out.pf.data.auth?.last_date) {
      assert.match(out.pf.data.auth.last_date, /^\d{4}-\d{2}-\d{2}$/);
      assert.equal(out.pf.sources['auth.last_date'].source, 'lookup');
    }
  });

  test('残联 残疾人证换领: certificate number from the e-certificate, category and level from 残联', async () => {
    const p = await person('has=disability&hukou=1&min_age=20&max_age=70');
    const out = await acceptPath('310006002000-01', p, {
      fix: merge(self(p), { guardian: { present: false }, helper: { present: false }, renew: { reason: '2' } }),
      sources: {
        'disability.cert_no': /^电子证照·中华人民共和国残疾人证$/,
        'disability.type': /^残联系统$/,
        'disability.level': /^残联系统$/,
      },
      verdicts: { reassess: 'pass' },
    });
    const known = await simGet(`/sim/people/${p.id_number}`);
    assert.match(out.pf.data.disability.type, /^[1-7]$/);
    assert.match(out.pf.data.disability.level, /^[1-4]$/);
    assert.ok(JSON.stringify(known).includes(out.pf.data.disability.cert_no));
  });

  test('a second case of the same sub-item prefills from the previous one', async () => {
    const p = await person('min_age=66&hukou=1');
    const first = await acceptPath('310004004000-01', p, {
      fix: merge(self(p), { elder: { identity: '1' }, agent: { present: false }, applicant: { phone: '13912345678' } }),
    });
    // the first is accepted and still open: a new one of the same sub-item is a duplicate
    // the clerk confirms
    const r = await clerk.post('/api/v1/cases', {
      sub_item_code: '310004004000-01',
      resident_id: first.resident.id,
      allow_duplicate: true,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const c = r.body.case ?? r.body;
    const kase = { no: c.case_no, version: c.version };
    const pf = await prefill(kase);
    // a card carries no phone: the resident record has none, the previous case has it
    assert.equal(first.resident.phone ?? null, null);
    assert.equal(pf.data.applicant.phone, '13912345678');
    assert.equal(pf.sources['applicant.phone'].source, 'previous_case');
    assert.equal(pf.sources['applicant.phone'].label, '上次办件');
    assert.equal(pf.sources['applicant.phone'].case_no, first.kase.no);
    // a stale version is refused
    const stale = await clerk.post(`/api/v1/cases/${kase.no}/prefill`, { version: kase.version - 1 });
    assert.equal(stale.status, 409);
  });

  test('a blocking verdict: refused without an override, accepted by the manager with a reason', async () => {
    const p = await person('min_age=40&max_age=60&hukou=1');
    const resident = await readCard(p);
    const kase = await openCase('310003001000-01', resident);
    const pf = await prefill(kase);
    await saveForm(
      kase,
      merge(merge(await sample('310003001000-01'), pf.data), {
        ...self(p),
        applicant: { ...self(p).applicant, hukou_local: true },
        payment: { channel: 'ssc' },
        agent: { present: false },
      }),
    );
    const pr = await prereview(kase);
    assert.equal(pr.byId.age_65.verdict, 'block');
    assert.equal(pr.blocked, true);
    await attachMaterials(kase);

    const refused = await accept(kase);
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.ok(refused.body.problems.some((x) => x.kind === 'prereview'), JSON.stringify(refused.body));
    // the clerk may not override
    const byClerk = await accept(kase, clerk, { rules: ['age_65'], reason: '经核实户籍材料，年龄信息有误待更正' });
    assert.ok([403, 422].includes(byClerk.status), JSON.stringify(byClerk.body));
    // the manager may, with a reason of 5+ characters
    const short = await accept(kase, manager, { rules: ['age_65'], reason: '同意' });
    assert.ok([400, 422].includes(short.status), JSON.stringify(short.body));
    const ok = await accept(kase, manager, { rules: ['age_65'], reason: '经主任核实户籍材料，年龄信息有误待更正' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const stored = sql(srv, `SELECT override FROM cases WHERE case_no = '${kase.no}'`);
    assert.match(stored, /age_65/);
    assert.match(stored, /经主任核实/);
    const audited = sql(srv, `SELECT count(*) FROM audit_log WHERE action = 'case.accept' AND target LIKE '%${kase.no}%'`);
    assert.equal(audited, '1');
  });

  test('the flows of one prefill run at the same time', async () => {
    const p = await person('min_age=66&max_age=85&hukou=1&enrolled=0');
    const resident = await readCard(p);
    const kase = await openCase('310003001000-01', resident);
    // 民政 and the certificate library each answer after 800 ms
    const slow = await simSend('POST', '/sim/faults', {
      faults: [
        { prefix: '/minzheng', latency_ms: 800 },
        { prefix: '/dsj', latency_ms: 800 },
      ],
    });
    assert.ok(slow.ok);
    try {
      const t0 = Date.now();
      const pf = await prefill(kase);
      const took = Date.now() - t0;
      assert.equal(pf.sources['allowance.status'].source, 'lookup');
      assert.equal(pf.sources['applicant.hukou_address'].source, 'e_cert');
      assert.ok(took >= 800 && took < 1500, `prefill took ${took} ms (one after the other: 1600+)`);
    } finally {
      await simSend('DELETE', '/sim/faults');
    }
  });

  test('a department outage: unknown verdicts, and the case can still be accepted', async () => {
    const p = await person('min_age=66&max_age=85&hukou=1&enrolled=0', (x) => x.name);
    const down = await simSend('POST', '/sim/faults', { prefix: '/minzheng', status: 503 });
    assert.ok(down.ok);
    try {
      const resident = await readCard(p);
      const kase = await openCase('310003001000-01', resident);
      const t0 = Date.now();
      const pf = await prefill(kase);
      const took = Date.now() - t0;
      const err = pf.errors.find((e) => e.flow === 'minzheng.elder_allowance_query');
      assert.ok(err, JSON.stringify(pf.errors));
      assert.deepEqual(err.fields, ['allowance.status']);
      assert.equal(err.source, 'lookup');
      assert.match(err.message, /暂不可用/);
      assert.equal(dig(pf.data, 'allowance.status'), undefined);
      // the other sources still answered
      assert.equal(pf.sources['applicant.hukou_address'].source, 'e_cert');
      assert.ok(took < 30000, `prefill took ${took} ms`);

      await saveForm(
        kase,
        merge(merge(await sample('310003001000-01'), pf.data), {
          ...self(p),
          applicant: { ...self(p).applicant, hukou_local: true },
          payment: { channel: 'ssc' },
          agent: { present: false },
          allowance: { status: null },
        }),
      );
      const pr = await prereview(kase);
      assert.equal(pr.byId.not_receiving.verdict, 'unknown', JSON.stringify(pr.byId.not_receiving));
      assert.match(pr.byId.not_receiving.message, /^无法核验：民政业务中台暂不可用/);
      assert.equal(pr.byId.age_65.verdict, 'pass');
      assert.equal(pr.blocked, false);
      await attachMaterials(kase);
      const acc = await accept(kase);
      assert.equal(acc.status, 200, JSON.stringify(acc.body));
    } finally {
      await simSend('DELETE', '/sim/faults');
    }
  });
});
