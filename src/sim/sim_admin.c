/* sim_admin.c: the simulator's own endpoints under /sim/ (no credentials, no faults): state,
 * reset, faults, scenarios, the population browser the demo, the tests and the training
 * platform use to find residents, e-vouchers for the kiosk demo, and deciding applications
 * on demand. */
#include "sim/sim_int.h"

#include "core/str.h"
#include "core/timeutil.h"

static void healthz(struct sim_req *q)
{
	sim_reply(q, 200, json_pack("{s:s}", "status", "ok"));
}

static json_t *config_json(struct sim *s)
{
	pthread_mutex_lock(&s->lock);
	int64_t delay = s->decision_delay_ms;
	pthread_mutex_unlock(&s->lock);
	return json_pack("{s:I,s:i,s:i,s:I,s:I,s:I,s:b,s:s?,s:s?}", "seed", (json_int_t)s->cfg.seed,
	                 "households", s->people.nhouseholds, "people", s->people.npeople,
	                 "decision_delay_ms", (json_int_t)delay, "evoucher_ttl_ms",
	                 (json_int_t)s->cfg.evoucher_ttl_ms, "token_ttl_s",
	                 (json_int_t)s->cfg.token_ttl_s, "auth", s->cfg.auth, "scenarios_dir",
	                 s->scenarios_dir, "connectors_dir", s->connectors_dir);
}

static void state_get(struct sim_req *q)
{
	struct sim *s = q->sim;
	json_t *o = sim_state_json(s, q->now_ms);
	pthread_mutex_lock(&s->lock);
	json_t *counters = json_pack(
	    "{s:I,s:I,s:i,s:i}", "requests", (json_int_t)s->requests, "scenario_hits",
	    (json_int_t)s->scenario_hits, "scenarios_file", (int)json_array_size(s->scenarios_file),
	    "scenarios_runtime", (int)json_array_size(s->scenarios_runtime));
	pthread_mutex_unlock(&s->lock);
	json_object_set_new(o, "config", config_json(s));
	json_object_set_new(o, "counters", counters);
	json_object_set_new(o, "faults", sim_faults_json(s));
	sim_reply(q, 200, o);
}

static void reset(struct sim_req *q)
{
	sim_reset(q->sim);
	sim_reply(q, 200, json_pack("{s:b}", "reset", 1));
}

static void config_put(struct sim_req *q)
{
	json_t *v = json_object_get(q->body, "decision_delay_ms");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
	          json_integer_value(v) > 30LL * 86400 * 1000)) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
		                    "decision_delay_ms 应为非负整数（毫秒）", "field",
		                    "decision_delay_ms"));
		return;
	}
	if (v) {
		pthread_mutex_lock(&q->sim->lock);
		q->sim->decision_delay_ms = json_integer_value(v);
		pthread_mutex_unlock(&q->sim->lock);
	}
	sim_reply(q, 200, config_json(q->sim));
}

static void systems(struct sim_req *q)
{
	static const char *const kinds[] = {"none", "basic", "token", "hmac_sm3", "sm2"};
	json_t *list = json_array();
	for (const struct sim_system *const *sp = sim_systems; *sp; sp++) {
		const struct sim_system *sys = *sp;
		const struct sim_connector *c = sim_connector_named(q->sim, sys->name);
		json_t *eps = json_array();
		for (size_t i = 0; i < sys->nendpoints; i++)
			json_array_append_new(
			    eps,
			    json_pack(
			        "{s:s,s:s,s:s,s:b}", "method", sys->endpoints[i].method, "path",
			        arena_printf(q->a, "/%s%s", sys->name, sys->endpoints[i].pattern),
			        "title", sys->endpoints[i].title, "soap",
			        (sys->endpoints[i].flags & SIM_EP_SOAP) != 0));
		json_array_append_new(
		    list, json_pack("{s:s,s:s,s:s,s:s,s:o}", "name", sys->name, "title", sys->title,
		                    "prefix", arena_printf(q->a, "/%s", sys->name), "auth",
		                    c ? kinds[c->auth] : "none", "endpoints", eps));
	}
	sim_reply(q, 200, json_pack("{s:o}", "systems", list));
}

/* ---- faults ---- */

static void faults_get(struct sim_req *q)
{
	sim_reply(q, 200, json_pack("{s:o}", "faults", sim_faults_json(q->sim)));
}

static void faults_post(struct sim_req *q)
{
	/* one fault, or {"faults": [...]} */
	json_t *list = json_object_get(q->body, "faults");
	size_t n = list ? json_array_size(list) : 1;
	if (list && !json_is_array(list)) {
		sim_error(q, 400, "BAD_FIELD", "faults 应为数组");
		return;
	}
	struct sim_fault *fs = arena_alloc(q->a, (n ? n : 1) * sizeof(*fs));
	if (!fs)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *field, *msg;
		if (sim_fault_parse(list ? json_array_get(list, i) : q->body, &fs[i], &field,
		                    &msg)) {
			sim_reply(q, 400,
			          json_pack("{s:s,s:s,s:s?}", "code", "BAD_FIELD", "message", msg,
			                    "field", field));
			return;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (sim_fault_set(q->sim, &fs[i])) {
			sim_error(q, 400, "TOO_MANY", "故障设置过多（上限 256 条）");
			return;
		}
	sim_reply(q, 200, json_pack("{s:o}", "faults", sim_faults_json(q->sim)));
}

static void faults_delete(struct sim_req *q)
{
	const char *prefix = req_query(q->r, "prefix");
	size_t n = sim_fault_clear(q->sim, prefix);
	sim_reply(q, 200, json_pack("{s:i}", "removed", (int)n));
}

/* ---- scenarios ---- */

static void scenarios_get(struct sim_req *q)
{
	sim_reply(q, 200, json_pack("{s:o}", "scenarios", sim_scenarios_json(q->sim)));
}

static void scenarios_post(struct sim_req *q)
{
	/* one scenario, or {"scenarios": [...]} */
	json_t *list = json_object_get(q->body, "scenarios");
	const char *field = NULL, *msg = NULL;
	int added = 0;
	if (sim_scenarios_add(q->sim, list ? list : q->body, &added, &field, &msg)) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s?}", "code", "BAD_FIELD", "message", msg, "field",
		                    field));
		return;
	}
	sim_reply(q, 200, json_pack("{s:i}", "added", added));
}

static void scenarios_delete(struct sim_req *q)
{
	sim_scenarios_clear(q->sim);
	sim_reply(q, 200, json_pack("{s:b}", "cleared", 1));
}

/* ---- the population ---- */

static bool flag_arg(struct sim_req *q, const char *name, int *out)
{
	const char *v = req_query(q->r, name);
	*out = -1;
	if (!v)
		return true;
	if (!strcmp(v, "1") || !strcmp(v, "true"))
		*out = 1;
	else if (!strcmp(v, "0") || !strcmp(v, "false"))
		*out = 0;
	else if (strcmp(v, "any")) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
		                    "应为 1、0 或 any", "field", name));
		return false;
	}
	return true;
}

static bool int_arg(struct sim_req *q, const char *name, int64_t min, int64_t max, int64_t def,
                    int64_t *out)
{
	const char *v = req_query(q->r, name);
	*out = def;
	if (v && !cstr_to_i64(v, min, max, out)) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
		                    arena_printf(q->a, "应为 %lld 到 %lld 之间的整数",
		                                 (long long)min, (long long)max),
		                    "field", name));
		return false;
	}
	return true;
}

static bool has_feature(const struct sim_person *w, const char *f)
{
	if (!strcmp(f, "lease_filing"))
		return w->lease_filing[0] != 0;
	if (!strcmp(f, "elder_card"))
		return w->elder_card[0] != 0;
	if (!strcmp(f, "disability"))
		return w->disability_kind != 0;
	if (!strcmp(f, "deduct_agreement"))
		return w->deduct_agreement;
	if (!strcmp(f, "dibao"))
		return w->dibao;
	if (!strcmp(f, "medical"))
		return w->medical_region[0] != 0;
	if (!strcmp(f, "bank"))
		return w->bank_account[0] != 0;
	if (!strcmp(f, "pension"))
		return w->pension_cents != 0;
	if (!strcmp(f, "phone"))
		return w->phone[0] != 0;
	return false;
}

/* GET /sim/people?district=&min_age=&max_age=&gender=&hukou=&deceased=&insured=&enrolled=
 *                &has=&limit=&offset= */
static void people_list(struct sim_req *q)
{
	const struct sim_people *p = &q->sim->people;
	int hukou, deceased, enrolled;
	int64_t min_age, max_age, limit, offset;
	if (!flag_arg(q, "hukou", &hukou) || !flag_arg(q, "deceased", &deceased) ||
	    !flag_arg(q, "enrolled", &enrolled) || !int_arg(q, "min_age", 0, 150, 0, &min_age) ||
	    !int_arg(q, "max_age", 0, 150, 150, &max_age) ||
	    !int_arg(q, "limit", 1, 500, 20, &limit) ||
	    !int_arg(q, "offset", 0, 1000000, 0, &offset))
		return;
	if (!req_query(q->r, "deceased"))
		deceased = 0;
	const char *district = req_query(q->r, "district");
	const char *gender = req_query(q->r, "gender");
	const char *insured = req_query(q->r, "insured");
	const char *has = req_query(q->r, "has");
	static const char *const features[] = {
	    "lease_filing", "elder_card", "disability", "deduct_agreement",
	    "dibao",        "medical",    "bank",       "pension",
	    "phone",        NULL};
	if (has) {
		bool ok = false;
		for (int i = 0; features[i]; i++)
			ok |= !strcmp(features[i], has);
		if (!ok) {
			sim_error(
			    q, 400, "BAD_FIELD",
			    "has 应为 lease_filing、elder_card、disability、deduct_agreement、"
			    "dibao、medical、bank、pension 或 phone");
			return;
		}
	}
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	json_t *list = json_array();
	int64_t total = 0;
	for (int i = 0; i < p->npeople; i++) {
		const struct sim_person *w = &p->people[i];
		int age = sim_person_age(w, y, m, d);
		if (age < min_age || age > max_age)
			continue;
		if (hukou >= 0 && w->hukou_sh != (hukou == 1))
			continue;
		if (deceased >= 0 && w->deceased != (deceased == 1))
			continue;
		if (enrolled >= 0 && w->allowance_enrolled != (enrolled == 1))
			continue;
		if (district && strcmp(district, w->district) &&
		    strcmp(district, sim_district_name(w->district)))
			continue;
		if (gender &&
		    !((!strcmp(gender, "M") || !strcmp(gender, "男") || !strcmp(gender, "1"))
		          ? w->gender == 'M'
		          : w->gender == 'F'))
			continue;
		if (insured && !((!strcmp(insured, "employee") && w->insured == SIM_INS_EMPLOYEE) ||
		                 (!strcmp(insured, "resident") && w->insured == SIM_INS_RESIDENT) ||
		                 (!strcmp(insured, "none") && w->insured == SIM_INS_NONE)))
			continue;
		if (has && !has_feature(w, has))
			continue;
		if (total >= offset && total < offset + limit)
			json_array_append_new(list, sim_person_json(p, w, false, q->now_ms));
		total++;
	}
	sim_reply(q, 200, json_pack("{s:I,s:o}", "total", (json_int_t)total, "people", list));
}

static json_t *household_json(struct sim_req *q, const struct sim_household *h)
{
	const struct sim_people *p = &q->sim->people;
	json_t *members = json_array();
	for (int i = h->first; i < h->first + h->n; i++)
		json_array_append_new(members, sim_person_json(p, &p->people[i], false, q->now_ms));
	return json_pack("{s:s,s:b,s:s,s:s,s:s,s:s,s:o}", "household_no", h->no, "hukou_shanghai",
	                 h->hukou_sh, "district_code", h->district, "district",
	                 sim_district_name(h->district), "street",
	                 sim_street_name(h->district_idx, h->street_idx), "address", h->address,
	                 "members", members);
}

static void person_get(struct sim_req *q)
{
	const struct sim_person *w = sim_need_person(q, req_param(q->r, "id"), "id", NULL);
	if (!w)
		return;
	json_t *o = sim_person_json(&q->sim->people, w, true, q->now_ms);
	const struct sim_household *h = sim_people_household(&q->sim->people, w);
	if (h)
		json_object_set_new(o, "household", household_json(q, h));
	json_t *apps = json_object();
	for (const struct sim_system *const *sp = sim_systems; *sp; sp++) {
		json_t *a = sim_app_find(q->sim, (*sp)->name, NULL, w->id_number, q->now_ms);
		if (json_array_size(a))
			json_object_set_new(apps, (*sp)->name, a);
		else
			json_decref(a);
	}
	json_object_set_new(o, "applications", apps);
	sim_reply(q, 200, o);
}

static void household_get(struct sim_req *q)
{
	const char *no = req_param(q->r, "no");
	const struct sim_people *p = &q->sim->people;
	for (int i = 0; i < p->nhouseholds; i++)
		if (!strcmp(p->households[i].no, no)) {
			sim_reply(q, 200, household_json(q, &p->households[i]));
			return;
		}
	sim_error(q, 404, "NOT_FOUND", "户号不存在");
}

/* ---- helpers for the demo and tests ---- */

/* POST /sim/yibao/evouchers {"id_number"}: what the resident's phone would show. */
static void evoucher_issue(struct sim_req *q)
{
	const struct sim_person *w =
	    sim_need_person(q, json_get_str(q->body, "id_number"), "id_number", NULL);
	if (!w)
		return;
	if (!w->medical_region[0] || w->deceased) {
		sim_error(q, 422, "NOT_INSURED",
		          "该人员未参加本市基本医疗保险，无法激活医保电子凭证");
		return;
	}
	char qr[65];
	int64_t exp;
	sim_evoucher_issue(q->sim, w->id_number, q->now_ms, qr, &exp);
	sim_reply(q, 200,
	          json_pack("{s:s,s:s,s:I,s:s,s:s}", "token", qr, "qr_code", qr, "expires_in",
	                    (json_int_t)((exp - q->now_ms + 999) / 1000), "expires_at",
	                    sim_iso(q, exp), "name", w->name));
}

static bool known_system(const char *name)
{
	for (const struct sim_system *const *sp = sim_systems; *sp; sp++)
		if (!strcmp((*sp)->name, name))
			return true;
	return false;
}

/* POST /sim/{sys}/applications/{no}/decide {"status": "approved"|"rejected"|"correction",
 * "decision": the department's text, "items": [text or {note, material, field}] for a
 * correction, "cert_no": the certificate an approval issues}. The older spelling {"decision":
 * "approved"|"rejected", "opinion"} still works. */
static const char *decision_status(const char *d)
{
	if (!d)
		return NULL;
	if (!strcmp(d, "approved") || !strcmp(d, "approve") || !strcmp(d, "通过"))
		return "approved";
	if (!strcmp(d, "rejected") || !strcmp(d, "reject") || !strcmp(d, "不通过"))
		return "rejected";
	if (!strcmp(d, "correction") || !strcmp(d, "补正"))
		return "correction";
	return NULL;
}

static void app_decide(struct sim_req *q)
{
	const char *sys = req_param(q->r, "sys"), *no = req_param(q->r, "no");
	if (!known_system(sys)) {
		sim_error(q, 404, "NOT_FOUND", "没有这个模拟系统：%s", sys);
		return;
	}
	const char *sv = json_get_str(q->body, "status"), *d = json_get_str(q->body, "decision");
	const char *st = decision_status(sv ? sv : d);
	const char *text = sv ? d : NULL;
	if (!text)
		text = json_get_str(q->body, "opinion");
	if ((sv || d) && !st) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
		                    "status 应为 approved、rejected 或 correction", "field",
		                    sv ? "status" : "decision"));
		return;
	}
	const json_t *items = json_object_get(q->body, "items");
	if (st && !strcmp(st, "correction")) {
		if (!json_is_array(items) || !json_array_size(items)) {
			sim_reply(q, 400,
			          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
			                    "补正须列出补正内容（items）", "field", "items"));
			return;
		}
		if (!text)
			text = "请按补正内容补充材料后再办理";
		/* the items first, while the application is still open to changes */
		json_t *chg = json_pack("{s:O}", "correction_items", items);
		enum err ue =
		    sim_app_update(q->sim, sys, no, "correction_items", chg, q->now_ms, NULL);
		json_decref(chg);
		if (ue == ERR_NOT_FOUND) {
			sim_error(q, 404, "NOT_FOUND", "办件编号不存在：%s", no);
			return;
		}
		if (ue) {
			sim_error(q, 409, "ALREADY_DECIDED", "该申请已办结或已撤销");
			return;
		}
	}
	json_t *rec = NULL;
	const char *cert = json_get_str(q->body, "cert_no");
	if (cert && (!st || strcmp(st, "approved") || strlen(cert) > 64)) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
		                    "证照编号（cert_no）仅用于通过的申请，且不超过 64 个字符",
		                    "field", "cert_no"));
		return;
	}
	enum err e = sim_app_decide(q->sim, sys, no, st, text, cert, q->now_ms, &rec);
	if (e == ERR_NOT_FOUND)
		sim_error(q, 404, "NOT_FOUND", "办件编号不存在：%s", no);
	else if (e)
		sim_error(q, 409, "ALREADY_DECIDED", "该申请已办结或已撤销");
	else
		sim_reply(q, 200, rec);
}

static void app_list(struct sim_req *q)
{
	const char *sys = req_param(q->r, "sys");
	if (!known_system(sys)) {
		sim_error(q, 404, "NOT_FOUND", "没有这个模拟系统：%s", sys);
		return;
	}
	sim_reply(q, 200,
	          json_pack("{s:o}", "applications",
	                    sim_app_find(q->sim, sys, req_query(q->r, "service"),
	                                 req_query(q->r, "id_number"), q->now_ms)));
}

const struct sim_endpoint sim_admin_endpoints[] = {
    {"GET", "/healthz", healthz, 0, "健康检查"},
    {"GET", "/sim/state", state_get, 0, "模拟平台状态"},
    {"POST", "/sim/reset", reset, 0, "重置状态"},
    {"PUT", "/sim/config", config_put, 0, "修改运行参数"},
    {"GET", "/sim/systems", systems, 0, "模拟系统与接口清单"},
    {"GET", "/sim/faults", faults_get, 0, "故障列表"},
    {"POST", "/sim/faults", faults_post, 0, "设置故障"},
    {"DELETE", "/sim/faults", faults_delete, 0, "清除故障"},
    {"GET", "/sim/scenarios", scenarios_get, 0, "场景列表"},
    {"POST", "/sim/scenarios", scenarios_post, 0, "添加场景"},
    {"DELETE", "/sim/scenarios", scenarios_delete, 0, "清除运行时场景"},
    {"GET", "/sim/people", people_list, 0, "查找模拟居民"},
    {"GET", "/sim/people/{id}", person_get, 0, "模拟居民详情"},
    {"GET", "/sim/households/{no}", household_get, 0, "模拟户详情"},
    {"POST", "/sim/yibao/evouchers", evoucher_issue, 0, "生成医保电子凭证二维码"},
    {"GET", "/sim/{sys}/applications", app_list, 0, "申请列表"},
    {"POST", "/sim/{sys}/applications/{no}/decide", app_decide, 0, "办结申请"},
};
const size_t sim_admin_nendpoints = sizeof(sim_admin_endpoints) / sizeof(sim_admin_endpoints[0]);
