/* sim_shuiwu_canlian.c: 税务 (委托扣款协议 for residents' social-insurance premiums, 缴费标准,
 * 退费申请/查询; every call SM4-CBC wrapped, see sim.c) and 残联 (残疾人证 query and
 * cancellation), per docs/gateway.md "Simulator endpoints". */
#include "sim/sim_int.h"

#include "core/str.h"

static bool luhn_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 12 || n > 19)
		return false;
	int sum = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[n - 1 - i];
		if (c < '0' || c > '9')
			return false;
		int d = c - '0';
		if (i % 2) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum % 10 == 0;
}

static const char *masked(struct sim_req *q, const char *acct)
{
	size_t n = acct ? strlen(acct) : 0;
	return n >= 8 ? arena_printf(q->a, "%.4s********%s", acct, acct + n - 4) : "****";
}

static const char *lookup_id(const json_t *body)
{
	const char *id = json_get_str(body, "id_number");
	return id ? id : sim_id_of(json_object_get(body, "applicant"));
}

/* ---- 税务 ---- */

/* The person's agreement (new reference) or NULL: one signed here, or the one the
 * population has. */
static json_t *agreement(struct sim_req *q, const struct sim_person *w)
{
	char key[64];
	snprintf(key, sizeof(key), "shuiwu:agreement:%s", w->id_number);
	json_t *a = sim_state_get(q->sim, key);
	if (a) {
		if (!strcmp(json_get_str(a, "status"), "已解除")) {
			json_decref(a);
			return NULL;
		}
		return a;
	}
	if (!w->deduct_agreement)
		return NULL;
	uint64_t h = sim_hash(11, w->id_number);
	return json_pack(
	    "{s:s,s:s,s:s,s:s}", "agreement_no",
	    arena_printf(q->a, "WT%016llu", (unsigned long long)(h % 10000000000000000ULL)), "bank",
	    w->bank[0] ? w->bank : "中国工商银行", "account",
	    masked(q, w->bank_account[0] ? w->bank_account : "6222020000000000000"), "status",
	    "有效");
}

static void agreement_query(struct sim_req *q)
{
	const struct sim_person *w =
	    sim_need_person(q, lookup_id(q->body), "id_number", "PERSON_NOT_FOUND");
	if (!w)
		return;
	json_t *a = agreement(q, w);
	json_t *o = json_pack("{s:b,s:s,s:s}", "found", a != NULL, "id_number", w->id_number,
	                      "name", w->name);
	if (a)
		json_object_update(o, a);
	json_decref(a);
	sim_reply(q, 200, o);
}

static void agreement_submit(struct sim_req *q)
{
	const char *case_no = sim_need_str(q, q->body, "case_no", "受理办件编号");
	if (!case_no)
		return;
	const struct sim_person *w =
	    sim_need_person(q, lookup_id(q->body), "id_number", "PERSON_NOT_FOUND");
	if (!w)
		return;
	const char *bank = json_get_str(q->body, "bank"), *acct = json_get_str(q->body, "account");
	if (!bank || !acct) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "MISSING_FIELD", "message",
		                    "应填写扣款银行和账号", "field", bank ? "account" : "bank"));
		return;
	}
	if (!luhn_ok(acct)) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "INVALID_BANK_ACCOUNT", "message",
		                    "银行账号校验未通过，请核对", "field", "account"));
		return;
	}
	json_t *have = agreement(q, w);
	if (have) {
		json_decref(have);
		sim_reply(q, 422,
		          json_pack("{s:s,s:s}", "code", "AGREEMENT_EXISTS", "message",
		                    "已签订委托扣款协议，如需变更请先解除原协议"));
		return;
	}
	char no[32];
	sim_next_no(q->sim, "WT", q->now_ms, no);
	json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "agreement_no", no, "bank", bank,
	                      "account", masked(q, acct), "status", "有效", "case_no", case_no,
	                      "signed_at", sim_iso(q, q->now_ms));
	char key[64];
	snprintf(key, sizeof(key), "shuiwu:agreement:%s", w->id_number);
	sim_state_set(q->sim, key, json_deep_copy(a));
	sim_reply(q, 200,
	          json_pack("{s:s,s:s,s:s}", "agreement_no", no, "status", "有效", "effective_from",
	                    sim_iso(q, q->now_ms)));
	json_decref(a);
}

/* 缴费标准 (yuan). Shanghai publishes these yearly; the figures are the simulator's. */
static void standards_query(struct sim_req *q)
{
	const char *cat = sim_need_str(q, q->body, "category", "缴费类别");
	if (!cat)
		return;
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	int64_t year = json_get_int(q->body, "year", y);
	if (json_is_string(json_object_get(q->body, "year")) &&
	    !cstr_to_i64(json_get_str(q->body, "year"), 2000, 3000, &year))
		year = 0;
	if (year < 2020 || year > y + 1) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_YEAR", "message",
		                    arena_printf(q->a, "年度应为 2020 到 %d", y + 1), "field",
		                    "year"));
		return;
	}
	json_t *items = json_array();
	const char *title;
	int shift = (int)(year - 2024) * 3; /* the standards creep up a few percent a year */
	if (!strcmp(cat, "jubao") || strstr(cat, "城乡居民养老")) {
		static const int g[] = {500, 700, 900, 1100, 1300, 1700, 2300, 3300, 4300, 5300};
		title = "城乡居民基本养老保险个人缴费档次（元/年）";
		for (int i = 0; i < 10; i++)
			json_array_append_new(
			    items, json_pack("{s:i,s:i}", "grade", i + 1, "amount", g[i]));
	} else if (!strcmp(cat, "jumin_yibao") || strstr(cat, "居民医")) {
		static const struct {
			const char *who;
			int amount;
		} g[] = {{"70周岁以上", 385},
		         {"60至69周岁", 575},
		         {"19至59周岁", 905},
		         {"中小学生和婴幼儿", 175},
		         {"大学生", 175}};
		title = "城乡居民基本医疗保险个人缴费标准（元/年）";
		for (int i = 0; i < 5; i++)
			json_array_append_new(
			    items, json_pack("{s:i,s:s,s:i}", "grade", i + 1, "group", g[i].who,
			                     "amount", g[i].amount + g[i].amount * shift / 100));
	} else if (!strcmp(cat, "flex") || strstr(cat, "灵活就业")) {
		title = "灵活就业人员缴费基数（元/月）";
		int lo = 7310 + 7310 * shift / 100, hi = 36549 + 36549 * shift / 100;
		json_array_append_new(items, json_pack("{s:i,s:s,s:i}", "grade", 1, "group",
		                                       "基数下限", "amount", lo));
		json_array_append_new(items, json_pack("{s:i,s:s,s:i}", "grade", 2, "group",
		                                       "基数上限", "amount", hi));
	} else {
		json_decref(items);
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "UNKNOWN_CATEGORY", "message",
		                    "缴费类别应为 jubao、jumin_yibao 或 flex", "field",
		                    "category"));
		return;
	}
	json_t *grade = json_object_get(q->body, "grade");
	if (grade) {
		json_t *keep = json_array();
		size_t i;
		json_t *it;
		json_array_foreach (items, i, it) {
			if (sim_match_subset(grade, json_object_get(it, "grade")))
				json_array_append(keep, it);
		}
		json_decref(items);
		items = keep;
	}
	sim_reply(q, 200,
	          json_pack("{s:s,s:s,s:I,s:o}", "category", cat, "title", title, "year",
	                    (json_int_t)year, "items", items));
}

static void refund_submit(struct sim_req *q)
{
	const char *case_no = sim_need_str(q, q->body, "case_no", "受理办件编号");
	if (!case_no)
		return;
	const struct sim_person *w =
	    sim_need_person(q, lookup_id(q->body), "id_number", "PERSON_NOT_FOUND");
	if (!w)
		return;
	json_t *amt = json_object_get(q->body, "amount");
	double amount = json_is_number(amt) ? json_number_value(amt) : -1;
	if (amount <= 0 || amount > 100000) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_AMOUNT", "message",
		                    "退费金额应大于 0 且不超过 100000 元", "field", "amount"));
		return;
	}
	const char *reason = sim_need_str(q, q->body, "reason", "退费原因");
	if (!reason)
		return;
	json_t *v = w->insured == SIM_INS_NONE
	                ? sim_verdict(false, "未查询到该纳税人的社会保险费缴费记录，无可退费用")
	            : amount > 20000
	                ? sim_verdict(false, "申请退费金额超过可退金额，请核对缴费记录")
	                : sim_verdict(true, "准予退费 %.2f 元，退至原缴费账户", amount);
	json_t *rec = sim_app_submit(
	    q->sim, "shuiwu", "refund", case_no, w->id_number,
	    json_pack("{s:s,s:f,s:s}", "name", w->name, "amount", amount, "reason", reason), v,
	    q->now_ms);
	if (!rec)
		return;
	sim_reply(q, 200,
	          json_pack("{s:O,s:s,s:O}", "refund_no", json_object_get(rec, "dept_case_no"),
	                    "status", "received", "received_at",
	                    json_object_get(rec, "received_at")));
	json_decref(rec);
}

static void refund_get(struct sim_req *q)
{
	const char *no = req_param(q->r, "refund_no");
	json_t *rec = sim_app_get(q->sim, "shuiwu", no, q->now_ms);
	if (!rec || strcmp(json_get_str(rec, "service"), "refund")) {
		json_decref(rec);
		sim_error(q, 404, "NOT_FOUND", "退费申请不存在：%s", no);
		return;
	}
	const char *st = json_get_str(rec, "status");
	const char *out = !strcmp(st, "approved") ? "refunded" : st;
	static const struct {
		const char *k, *zh;
	} zh[] = {{"received", "已受理"},
	          {"processing", "审核中"},
	          {"refunded", "已退付"},
	          {"rejected", "不予退费"},
	          {"cancelled", "已撤销"}};
	const char *text = "";
	for (size_t i = 0; i < sizeof(zh) / sizeof(zh[0]); i++)
		if (!strcmp(zh[i].k, out))
			text = zh[i].zh;
	json_t *o = json_pack(
	    "{s:s,s:s,s:s,s:O,s:O,s:O}", "refund_no", no, "status", out, "status_text", text,
	    "amount", json_object_get(json_object_get(rec, "detail"), "amount"), "decision",
	    json_object_get(rec, "decision"), "received_at", json_object_get(rec, "received_at"));
	json_object_set(o, "paid_at",
	                !strcmp(out, "refunded") ? json_object_get(rec, "decided_at")
	                                         : json_null());
	sim_reply(q, 200, o);
	json_decref(rec);
}

static json_t *shuiwu_verdict(struct sim_req *q, const char *service, const struct sim_person *w,
                              const json_t *body)
{
	if (strstr(service, "jubao") && w->insured == SIM_INS_EMPLOYEE &&
	    w->ins_status == SIM_INS_PAYING)
		return sim_verdict(false,
		                   "申请人正在参加城镇职工养老保险，不能同时参加城乡居民养老保险");
	(void)q;
	(void)body;
	return sim_verdict(true, "准予办理");
}

static bool shuiwu_query(struct sim_req *q, const char *service, const struct sim_person *w,
                         json_t *o)
{
	if (!strcmp(service, "deduct_agreement_query")) {
		json_t *a = agreement(q, w);
		json_object_set_new(o, "has_agreement", json_boolean(a != NULL));
		if (a)
			json_object_update(o, a);
		json_decref(a);
		return true;
	}
	return false;
}

static const struct sim_endpoint shuiwu_endpoints[] = {
    {"POST", "/deduct-agreements/query", agreement_query, 0, "委托扣款协议查询"},
    {"POST", "/deduct-agreements", agreement_submit, 0, "委托扣款协议签订"},
    {"POST", "/standards/query", standards_query, 0, "缴费标准查询"},
    {"POST", "/refunds", refund_submit, 0, "退费申请"},
    {"GET", "/refunds/{refund_no}", refund_get, 0, "退费查询"},
    SIM_GENERIC_ENDPOINTS,
};

const struct sim_system sim_system_shuiwu = {
    "shuiwu",         "税务社保费征收系统",
    shuiwu_endpoints, sizeof(shuiwu_endpoints) / sizeof(shuiwu_endpoints[0]),
    shuiwu_verdict,   shuiwu_query,
};

/* ---- 残联 ---- */

static json_t *cert_state(struct sim_req *q, const char *cert_no)
{
	char key[64];
	snprintf(key, sizeof(key), "canlian:cert:%s", cert_no);
	return sim_state_get(q->sim, key);
}

static void cert_fields(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	json_object_set_new(o, "found", json_boolean(w->disability_kind != 0));
	if (!w->disability_kind)
		return;
	json_t *st = cert_state(q, w->disability_cert);
	char issued[24], valid[24];
	uint64_t h = sim_hash(12, w->id_number);
	int mon = 1 + (int)(h % 12), day = 1 + (int)((h >> 8) % 28);
	snprintf(issued, sizeof(issued), "%04d-%02d-%02d", w->disability_issued_y, mon, day);
	snprintf(valid, sizeof(valid), "%04d-%02d-%02d", w->disability_issued_y + 10, mon, day);
	static const char *const levels[] = {"", "一级", "二级", "三级", "四级"};
	json_object_set_new(o, "cert_no", json_string(w->disability_cert));
	json_object_set_new(o, "category",
	                    json_string(sim_disability_kind_name(w->disability_kind)));
	json_object_set_new(o, "category_code", json_integer(w->disability_kind));
	json_object_set_new(o, "level", json_string(levels[w->disability_level]));
	json_object_set_new(o, "level_code", json_integer(w->disability_level));
	json_object_set_new(o, "issued_at", json_string(issued));
	json_object_set_new(o, "valid_to", json_string(valid));
	json_object_set_new(o, "status", json_string(st || w->deceased ? "已注销" : "有效"));
	if (st)
		json_object_set(o, "cancel_reason", json_object_get(st, "reason"));
	json_decref(st);
}

static void cert_query(struct sim_req *q)
{
	const struct sim_person *w =
	    sim_need_person(q, lookup_id(q->body), "id_number", "PERSON_NOT_FOUND");
	if (!w)
		return;
	json_t *o = json_pack("{s:s,s:s}", "id_number", w->id_number, "name", w->name);
	cert_fields(q, w, o);
	sim_reply(q, 200, o);
}

/* POST /canlian/certs/{cert_no}/cancel {case_no, reason}: the certificate number is the
 * holder's ID number followed by the category and level digits. */
static void cert_cancel(struct sim_req *q)
{
	const char *no = req_param(q->r, "cert_no");
	char id[19];
	snprintf(id, sizeof(id), "%.18s", no);
	const struct sim_person *w = strlen(no) == 20 ? sim_people_find(&q->sim->people, id) : NULL;
	if (!w || strcmp(w->disability_cert, no)) {
		sim_error(q, 404, "CERT_NOT_FOUND", "残疾人证号不存在：%s", no);
		return;
	}
	const char *reason = sim_need_str(q, q->body, "reason", "注销原因");
	if (!reason)
		return;
	json_t *st = cert_state(q, no);
	if (st || w->deceased) {
		json_decref(st);
		sim_error(q, 409, "CERT_CANCELLED", "该残疾人证已注销");
		return;
	}
	char key[64];
	snprintf(key, sizeof(key), "canlian:cert:%s", no);
	const char *case_no = json_get_str(q->body, "case_no");
	sim_state_set(q->sim, key,
	              json_pack("{s:s,s:s,s:s}", "reason", reason, "case_no",
	                        case_no ? case_no : "", "cancelled_at", sim_iso(q, q->now_ms)));
	sim_reply(q, 200,
	          json_pack("{s:s,s:s,s:s}", "cert_no", no, "status", "cancelled", "cancelled_at",
	                    sim_iso(q, q->now_ms)));
}

static json_t *canlian_verdict(struct sim_req *q, const char *service, const struct sim_person *w,
                               const json_t *body)
{
	json_t *st = w->disability_kind ? cert_state(q, w->disability_cert) : NULL;
	bool valid = w->disability_kind && !st;
	json_decref(st);
	if (!w->hukou_sh)
		return sim_verdict(false, "残疾人证由户籍地区残联办理，申请人非本市户籍");
	if (!strcmp(service, "cert.submit") && valid)
		return sim_verdict(false, "申请人已持有有效的残疾人证（%s）", w->disability_cert);
	if (!strcmp(service, "cert.submit")) {
		int lv = 1 + (int)(sim_hash(13, w->id_number) % 4);
		return sim_verdict(true, "经评定符合残疾标准（%d 级），准予发放残疾人证", lv);
	}
	if (!valid)
		return sim_verdict(false, "申请人未持有有效的残疾人证");
	(void)body;
	return sim_verdict(true, "准予办理");
}

static bool canlian_query(struct sim_req *q, const char *service, const struct sim_person *w,
                          json_t *o)
{
	if (!strcmp(service, "cert_query") || !strcmp(service, "disability_query")) {
		cert_fields(q, w, o);
		json_object_set_new(o, "has_cert", json_boolean(w->disability_kind != 0));
		json_object_set(o, "kind", json_object_get(o, "category"));
		json_object_set(o, "grade", json_object_get(o, "level"));
		json_object_set_new(o, "valid",
		                    json_boolean(json_get_str(o, "status") &&
		                                 !strcmp(json_get_str(o, "status"), "有效")));
		return true;
	}
	return false;
}

static const struct sim_endpoint canlian_endpoints[] = {
    {"POST", "/certs/query", cert_query, 0, "残疾人证查询"},
    {"POST", "/certs/{cert_no}/cancel", cert_cancel, 0, "残疾人证注销"},
    SIM_GENERIC_ENDPOINTS,
};

const struct sim_system sim_system_canlian = {
    "canlian",         "残联业务系统",
    canlian_endpoints, sizeof(canlian_endpoints) / sizeof(canlian_endpoints[0]),
    canlian_verdict,   canlian_query,
};
