/* sim_shebao_yibao.c: 社保业务系统 (insured status, contribution records, pension
 * applications) and 医保业务系统 (insured status, medical e-vouchers that expire, 长护险
 * assessment levels and requests), per docs/gateway.md "Simulator endpoints". */
#include "sim/sim_int.h"

#include "core/str.h"

static int today_age(struct sim_req *q, const struct sim_person *w)
{
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	return sim_person_age(w, y, m, d);
}

/* The ID number of a lookup body ({"id_number"}); NULL after answering, or (with *absent)
 * when the number is well-formed but unknown — the systems answer {"found": false} then. */
static const struct sim_person *lookup(struct sim_req *q, const char *id, bool *absent)
{
	*absent = false;
	const struct sim_person *w = sim_need_person(q, id, "id_number", "PERSON_NOT_FOUND");
	if (!w && q->w->status == 404) {
		json_decref(q->w->json);
		q->w->json = NULL;
		q->answered = false;
		*absent = true;
	}
	return w;
}

static void not_found(struct sim_req *q, const char *id)
{
	sim_reply(q, 200, json_pack("{s:b,s:s}", "found", 0, "id_number", id ? id : ""));
}

/* ---- 社保 ---- */

static const char *si_type(const struct sim_person *w)
{
	return w->insured == SIM_INS_EMPLOYEE   ? "城镇职工基本养老保险"
	       : w->insured == SIM_INS_RESIDENT ? "城乡居民基本养老保险"
	                                        : "";
}

static const char *si_status(const struct sim_person *w)
{
	if (w->insured == SIM_INS_NONE)
		return "未参保";
	static const char *const st[] = {"参保缴费", "暂停缴费", "待遇享受", "终止参保"};
	return st[w->ins_status];
}

static void shebao_fields(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	json_object_set_new(o, "id_number", json_string(w->id_number));
	json_object_set_new(o, "name", json_string(w->name));
	json_object_set_new(o, "insured", json_boolean(w->insured != SIM_INS_NONE));
	json_object_set_new(o, "insured_type", json_string(si_type(w)));
	json_object_set_new(o, "status", json_string(si_status(w)));
	json_object_set_new(o, "region", json_string(w->district));
	json_object_set_new(o, "contribution_months", json_integer(w->contribution_months));
	json_object_set_new(o, "employer", json_string(sim_employer_name(w->employer)));
	json_object_set_new(o, "card_no", json_string(w->si_card));
	json_object_set_new(o, "retired", json_boolean(w->ins_status == SIM_INS_RETIRED));
	json_object_set_new(
	    o, "retire_date",
	    w->ins_status == SIM_INS_RETIRED
	        ? json_string(arena_printf(q->a, "%04d-%02d-01",
	                                   w->birth_y + (w->gender == 'M' ? 60 : 55), w->birth_m))
	        : json_null());
	if (w->pension_cents)
		json_object_set_new(o, "monthly_pension", json_real(w->pension_cents / 100.0));
}

static void person_query(struct sim_req *q)
{
	const char *id = json_get_str(q->body, "id_number");
	bool absent;
	const struct sim_person *w = lookup(q, id, &absent);
	if (!w) {
		if (absent)
			not_found(q, id);
		return;
	}
	json_t *o = json_pack("{s:b}", "found", 1);
	shebao_fields(q, w, o);
	sim_reply(q, 200, o);
}

static bool yyyymm(const char *s, int *y, int *m)
{
	int64_t v;
	if (!s || strlen(s) != 6 || !cstr_to_i64(s, 190001, 999912, &v))
		return false;
	*y = (int)(v / 100);
	*m = (int)(v % 100);
	return *m >= 1 && *m <= 12;
}

/* GET /shebao/persons/{id_number}/contributions?from=YYYYMM&to=YYYYMM */
static void contributions(struct sim_req *q)
{
	const struct sim_person *w =
	    sim_need_person(q, req_param(q->r, "id_number"), "id_number", "PERSON_NOT_FOUND");
	if (!w)
		return;
	int ty, tm, td;
	sim_today(q->now_ms, &ty, &tm, &td);
	int fy, fm, uy = ty, um = tm;
	const char *from = req_query(q->r, "from"), *to = req_query(q->r, "to");
	if (to && !yyyymm(to, &uy, &um)) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
		                    "to 应为 YYYYMM", "field", "to"));
		return;
	}
	fy = uy - 1;
	fm = um + 1;
	if (fm > 12) {
		fm = 1;
		fy++;
	}
	if (from && !yyyymm(from, &fy, &fm)) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
		                    "from 应为 YYYYMM", "field", "from"));
		return;
	}
	int span = (uy - fy) * 12 + (um - fm) + 1;
	if (span < 1 || span > 120) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_RANGE", "message",
		                    "查询区间应为 1 到 120 个月", "field", "from"));
		return;
	}
	json_t *records = json_array();
	/* the latest months of a suspended payer are missing; nobody pays after retiring */
	int cur = ty * 12 + tm - 1;
	int stop =
	    w->ins_status == SIM_INS_SUSPENDED ? cur - 1 - (int)(sim_hash(1, w->id_number) % 10)
	    : w->ins_status == SIM_INS_PAYING  ? cur - 1
	    : w->insured == SIM_INS_EMPLOYEE   ? (w->birth_y + (w->gender == 'M' ? 60 : 55)) * 12
	                                       : -1;
	int start = stop - w->contribution_months + 1;
	for (int k = 0; k < span; k++) {
		int idx = fy * 12 + fm - 1 + k;
		if (w->insured == SIM_INS_NONE || idx > stop || idx < start)
			continue;
		char mon[16];
		snprintf(mon, sizeof(mon), "%04d%02d", idx / 12, idx % 12 + 1);
		if (w->insured == SIM_INS_EMPLOYEE) {
			/* the contribution base moves with the year; 8% is the individual share */
			uint64_t h = sim_hash((uint64_t)(idx / 12), w->id_number);
			int base = 7310 + (int)(h % 20000);
			json_array_append_new(
			    records, json_pack("{s:s,s:i,s:f,s:s,s:s}", "month", mon, "base", base,
			                       "amount", base * 0.08, "kind", "养老保险个人缴费",
			                       "unit", sim_employer_name(w->employer)));
		} else if (idx % 12 == 0) {
			static const int grades[] = {500, 700, 900, 1100, 1300, 1700, 2300};
			int g = grades[sim_hash((uint64_t)(idx / 12), w->id_number) % 7];
			json_array_append_new(records, json_pack("{s:s,s:i,s:i,s:s,s:s}", "month",
			                                         mon, "base", g, "amount", g,
			                                         "kind", "城乡居民养老保险年度缴费",
			                                         "unit", "个人"));
		}
	}
	sim_reply(q, 200,
	          json_pack("{s:s,s:s,s:i,s:o}", "id_number", w->id_number, "name", w->name,
	                    "months", w->contribution_months, "records", records));
}

static json_t *pension_verdict(struct sim_req *q, const struct sim_person *w)
{
	int age = today_age(q, w);
	int need = w->gender == 'M' ? 60 : 55;
	if (w->insured == SIM_INS_NONE)
		return sim_verdict(false, "未查询到养老保险参保记录");
	if (w->ins_status == SIM_INS_RETIRED)
		return sim_verdict(false, "申请人已按月领取基本养老金，不能重复申请");
	if (age < need)
		return sim_verdict(false, "申请人未达到法定退休年龄（%d 周岁）", need);
	if (w->contribution_months < 180)
		return sim_verdict(false, "累计缴费年限不足 15 年（已缴 %d 个月），可申请延长缴费",
		                   w->contribution_months);
	int amount = 2000 + w->contribution_months * 9;
	return sim_verdict(true, "准予办理：核定基本养老金每月 %d 元，自次月起发放", amount);
}

static void pension_apply(struct sim_req *q)
{
	json_t *b = json_deep_copy(q->body);
	json_object_set_new(b, "service", json_string("pension_apply"));
	q->body = json_arena_own(q->a, b);
	sim_apps_apply(q);
}

static json_t *shebao_verdict(struct sim_req *q, const char *service, const struct sim_person *w,
                              const json_t *body)
{
	if (!strcmp(service, "pension_apply") || !strcmp(service, "retire_apply"))
		return pension_verdict(q, w);
	if (!strcmp(service, "auth_verify") && w->ins_status != SIM_INS_RETIRED)
		return sim_verdict(false, "申请人未领取养老保险待遇，无需资格认证");
	if (!strcmp(service, "remote_living") && !w->pension_cents)
		return sim_verdict(false, "申请人未领取养老金，无需办理异地居住登记");
	(void)body;
	return sim_verdict(true, "准予办理");
}

static bool shebao_query(struct sim_req *q, const char *service, const struct sim_person *w,
                         json_t *o)
{
	if (!strcmp(service, "person_query") || !strcmp(service, "si_months_query")) {
		shebao_fields(q, w, o);
		return true;
	}
	return false;
}

static const struct sim_endpoint shebao_endpoints[] = {
    {"POST", "/persons/query", person_query, 0, "参保人员查询"},
    {"GET", "/persons/{id_number}/contributions", contributions, 0, "缴费记录查询"},
    {"POST", "/pension/applications", pension_apply, 0, "养老金申领"},
    SIM_GENERIC_ENDPOINTS,
};

const struct sim_system sim_system_shebao = {
    "shebao",         "社保业务系统",
    shebao_endpoints, sizeof(shebao_endpoints) / sizeof(shebao_endpoints[0]),
    shebao_verdict,   shebao_query,
};

/* ---- 医保 ---- */

static void yibao_fields(const struct sim_person *w, json_t *o)
{
	bool ins = w->medical_region[0] != 0;
	json_object_set_new(o, "id_number", json_string(w->id_number));
	json_object_set_new(o, "name", json_string(w->name));
	json_object_set_new(o, "insured", json_boolean(ins));
	json_object_set_new(o, "insured_type",
	                    json_string(!ins                             ? ""
	                                : w->insured == SIM_INS_EMPLOYEE ? "职工基本医疗保险"
	                                                                 : "城乡居民基本医疗保险"));
	json_object_set_new(o, "region", json_string(w->medical_region));
	json_object_set_new(o, "region_name", json_string(sim_district_name(w->medical_region)));
	json_object_set_new(o, "status",
	                    json_string(!ins          ? "未参保"
	                                : w->deceased ? "终止参保"
	                                              : "正常参保"));
	json_object_set_new(o, "account_balance", json_real(w->medical_balance_cents / 100.0));
}

/* {id_number} or {cert_type: "01", cert_no: <ecToken>} (an e-voucher's ecToken names the
 * person for 30 minutes). */
static void insured_query(struct sim_req *q)
{
	const char *id = json_get_str(q->body, "id_number");
	const char *ct = json_get_str(q->body, "cert_type");
	char from_token[19];
	if (!id && ct && !strcmp(ct, "01")) {
		const char *tok = json_get_str(q->body, "cert_no");
		if (!tok || !sim_ectoken_resolve(q->sim, tok, q->now_ms, from_token)) {
			sim_reply(q, 422,
			          json_pack("{s:s,s:s,s:s}", "code", "EC_TOKEN_INVALID", "message",
			                    "电子凭证令牌（ecToken）无效或已过期，请重新扫码",
			                    "field", "cert_no"));
			return;
		}
		id = from_token;
	}
	bool absent;
	const struct sim_person *w = lookup(q, id, &absent);
	if (!w) {
		if (absent)
			not_found(q, id);
		return;
	}
	json_t *o = json_pack("{s:b}", "found", 1);
	yibao_fields(w, o);
	sim_reply(q, 200, o);
}

static void evoucher_issue(struct sim_req *q)
{
	const struct sim_person *w =
	    sim_need_person(q, json_get_str(q->body, "id_number"), "id_number", "PERSON_NOT_FOUND");
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
	          json_pack("{s:s,s:I,s:s}", "token", qr, "expires_in",
	                    (json_int_t)((exp - q->now_ms + 999) / 1000), "expires_at",
	                    sim_iso(q, exp)));
}

/* Resolve a QR token: 1 ok (person set), 0 unknown, -1 expired. */
static int resolve(struct sim_req *q, const char *tok, const struct sim_person **who, int64_t *exp)
{
	char id[19];
	int rc = tok ? sim_evoucher_resolve(q->sim, tok, q->now_ms, id, exp) : 0;
	*who = rc ? sim_people_find(&q->sim->people, id) : NULL;
	return rc && !*who ? 0 : rc;
}

static void evoucher_verify(struct sim_req *q)
{
	const char *tok = json_get_str(q->body, "token");
	const struct sim_person *w;
	int64_t exp = 0;
	int rc = resolve(q, tok, &w, &exp);
	if (rc <= 0) {
		sim_reply(q, 200,
		          json_pack("{s:b,s:s,s:s}", "valid", 0, "code",
		                    rc < 0 ? "EC_EXPIRED" : "EC_INVALID", "reason",
		                    rc < 0 ? "电子凭证已过期" : "电子凭证无效"));
		return;
	}
	/* the ecToken then names the person in lookups (cert_type 01) for 30 minutes */
	char ec[65];
	sim_ectoken_issue(q->sim, w->id_number, q->now_ms, ec);
	sim_reply(q, 200,
	          json_pack("{s:b,s:s,s:s,s:s,s:s,s:s,s:s}", "valid", 1, "id_number", w->id_number,
	                    "name", w->name, "insured_region", w->medical_region, "ec_token", ec,
	                    "expires_at", sim_iso(q, exp), "ec_token_expires_at",
	                    sim_iso(q, q->now_ms + 30 * 60 * 1000)));
}

/* The national platform's ec.query flavour: {"ecQrCode", "businessType"} → {"data": {idNo,
 * userName, idType, insuOrg, ecToken}}; an expired code is an error there. */
static void ec_query(struct sim_req *q)
{
	const char *tok = json_get_str(q->body, "ecQrCode");
	if (!tok)
		tok = json_get_str(json_object_get(q->body, "data"), "ecQrCode");
	const struct sim_person *w;
	int64_t exp = 0;
	int rc = resolve(q, tok, &w, &exp);
	if (rc < 0) {
		sim_error(q, 422, "EC_QR_EXPIRED",
		          "电子凭证二维码已过期，请患者刷新二维码后重新扫码");
		return;
	}
	if (rc == 0) {
		sim_error(q, 422, "EC_QR_INVALID", "电子凭证二维码无效");
		return;
	}
	char ec[65];
	sim_ectoken_issue(q->sim, w->id_number, q->now_ms, ec);
	sim_reply(q, 200,
	          json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s}}", "code", "0", "message", "成功",
	                    "data", "idNo", w->id_number, "userName", w->name, "idType", "01",
	                    "insuOrg", w->medical_region, "ecToken", ec, "gender",
	                    w->gender == 'M' ? "1" : "2"));
}

/* 长护险 assessment level: some residents of 60 and over have one (levels 1–6). */
static int ltc_level(struct sim_req *q, const struct sim_person *w, int *year)
{
	char key[64];
	snprintf(key, sizeof(key), "yibao:ltc:%s", w->id_number);
	json_t *v = sim_state_get(q->sim, key);
	if (v) {
		int lv = (int)json_get_int(v, "level", 0);
		*year = (int)json_get_int(v, "year", 0);
		json_decref(v);
		return lv;
	}
	uint64_t h = sim_hash(7, w->id_number);
	if (today_age(q, w) < 60 || h % 100 >= 30 || !w->medical_region[0])
		return 0;
	*year = 2023 + (int)((h >> 8) % 2);
	return 1 + (int)((h >> 16) % 6);
}

static void ltc_fields(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	int year = 0, lv = ltc_level(q, w, &year);
	json_object_set_new(o, "found", json_boolean(lv > 0));
	if (lv) {
		char at[24], to[24];
		uint64_t h = sim_hash(8, w->id_number);
		int mon = 1 + (int)(h % 12), day = 1 + (int)((h >> 8) % 28);
		snprintf(at, sizeof(at), "%04d-%02d-%02d", year, mon, day);
		snprintf(to, sizeof(to), "%04d-%02d-%02d", year + 2, mon, day);
		json_object_set_new(o, "level", json_integer(lv));
		json_object_set_new(o, "assessed_at", json_string(at));
		json_object_set_new(o, "valid_to", json_string(to));
		json_object_set_new(
		    o, "assess_no",
		    json_string(arena_printf(q->a, "CH%04d%08llu", year,
		                             (unsigned long long)(h % 100000000ULL))));
		json_object_set_new(
		    o, "service_org",
		    lv >= 2 ? json_string(arena_printf(
		                  q->a, "%s%s长者照护之家", sim_district_name(w->district),
		                  sim_street_name(w->district_idx, w->street_idx)))
		            : json_null());
	}
}

static void ltc_level_query(struct sim_req *q)
{
	const char *id = json_get_str(q->body, "id_number");
	bool absent;
	const struct sim_person *w = lookup(q, id, &absent);
	if (!w) {
		if (absent)
			not_found(q, id);
		return;
	}
	json_t *o = json_pack("{s:s,s:s}", "id_number", w->id_number, "name", w->name);
	ltc_fields(q, w, o);
	sim_reply(q, 200, o);
}

static json_t *ltc_verdict(struct sim_req *q, const struct sim_person *w)
{
	if (today_age(q, w) < 60)
		return sim_verdict(false, "长期护理保险评估申请人应年满 60 周岁");
	if (!w->medical_region[0])
		return sim_verdict(false, "申请人未参加本市基本医疗保险");
	int lv = 1 + (int)(sim_hash(9, w->id_number) % 6);
	return sim_verdict(true, "评估完成：评估等级 %d 级%s", lv,
	                   lv >= 2 ? "，可享受长期护理保险服务" : "，暂不符合享受服务条件");
}

static void ltc_apply(struct sim_req *q)
{
	json_t *b = json_deep_copy(q->body);
	json_object_set_new(b, "service", json_string("ltc_assess"));
	q->body = json_arena_own(q->a, b);
	sim_apps_apply(q);
}

static json_t *yibao_verdict(struct sim_req *q, const char *service, const struct sim_person *w,
                             const json_t *body)
{
	if (strstr(service, "ltc"))
		return ltc_verdict(q, w);
	if (strstr(service, "resident_enroll") && w->insured == SIM_INS_EMPLOYEE &&
	    w->medical_region[0])
		return sim_verdict(false, "申请人已参加职工基本医疗保险，不能重复参加居民医保");
	if ((strstr(service, "transfer") || strstr(service, "remote")) && !w->medical_region[0])
		return sim_verdict(false, "申请人未参加本市基本医疗保险");
	(void)body;
	return sim_verdict(true, "准予办理");
}

static bool yibao_query(struct sim_req *q, const char *service, const struct sim_person *w,
                        json_t *o)
{
	if (!strcmp(service, "insured_query")) {
		yibao_fields(w, o);
		return true;
	}
	if (!strcmp(service, "ltc_level_query")) {
		ltc_fields(q, w, o);
		json_object_set_new(o, "found", json_true());
		return true;
	}
	return false;
}

static const struct sim_endpoint yibao_endpoints[] = {
    {"POST", "/insured/query", insured_query, 0, "参保信息查询（身份证或电子凭证令牌）"},
    {"POST", "/evouchers", evoucher_issue, 0, "生成医保电子凭证二维码"},
    {"POST", "/evouchers/verify", evoucher_verify, 0, "医保电子凭证解码"},
    {"POST", "/ec/query", ec_query, 0, "电子凭证解码（ec.query）"},
    {"POST", "/ltc/level/query", ltc_level_query, 0, "长护险评估等级查询"},
    {"POST", "/ltc/assessments", ltc_apply, 0, "长护险评估申请"},
    SIM_GENERIC_ENDPOINTS,
};

const struct sim_system sim_system_yibao = {
    "yibao",         "医保业务系统",
    yibao_endpoints, sizeof(yibao_endpoints) / sizeof(yibao_endpoints[0]),
    yibao_verdict,   yibao_query,
};
