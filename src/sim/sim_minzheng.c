/* sim_minzheng.c: 民政业务中台 and its five interfaces (seed row 43): 老年综合津贴 query,
 * submit and payment-channel change, 助餐补贴 submit and change, plus the generic
 * application endpoints for the other civil-affairs services.
 *
 * Eligibility as Shanghai rules it: 老年综合津贴 — 本市户籍, 65 or older (the age is read
 * from the ID number's date of birth), alive, not already receiving it; the monthly amount
 * goes by age band (65–69: 75 元, 70–79: 150, 80–89: 180, 90–99: 350, 100+: 600).
 * 助餐补贴 — 本市户籍 and 70 or older, or 60 or older in a 低保 household. The 中台 checks
 * at submission and refuses an ineligible application outright (422 NOT_ELIGIBLE); an
 * accepted one is decided later. */
#include "sim/sim_int.h"

#include "core/str.h"

static const char *const meal_sites[] = {"社区长者食堂", "社区综合为老服务中心助餐点",
                                         "老年人日间照护中心助餐点"};

/* Age from the ID number itself: digits 7–14 are the date of birth. */
static int id_age(struct sim_req *q, const char *id)
{
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	int by = (id[6] - '0') * 1000 + (id[7] - '0') * 100 + (id[8] - '0') * 10 + (id[9] - '0');
	int bm = (id[10] - '0') * 10 + (id[11] - '0'), bd = (id[12] - '0') * 10 + (id[13] - '0');
	int age = y - by;
	if (m < bm || (m == bm && d < bd))
		age--;
	return age;
}

static int allowance_amount(int age)
{
	return age >= 100 ? 600 : age >= 90 ? 350 : age >= 80 ? 180 : age >= 70 ? 150 : 75;
}

/* The bank account of a submission: "bank" is the catalog's bank_account value {"bank"
 * (code) or "name", "account", "holder"}, or the account number alone. */
static const char *bank_account_of(const json_t *bank)
{
	return json_is_string(bank) ? json_string_value(bank) : json_get_str(bank, "account");
}

/* The newest application of kind for the person that is pending or approved, or NULL (new
 * reference). */
static json_t *live_app(struct sim_req *q, const char *kind, const char *id)
{
	json_t *list = sim_app_find(q->sim, "minzheng", kind, id, q->now_ms);
	size_t i;
	json_t *rec, *found = NULL;
	json_array_foreach (list, i, rec) {
		const char *st = json_get_str(rec, "status");
		if (!strcmp(st, "received") || !strcmp(st, "processing") ||
		    !strcmp(st, "approved")) {
			found = json_incref(rec);
			break;
		}
	}
	json_decref(list);
	return found;
}

struct elig {
	bool eligible;
	const char *status; /* 未申领 / 审核中 / 已享受 / 已注销 */
	const char *reason;
	int age;
};

static struct elig allowance_eligibility(struct sim_req *q, const struct sim_person *w)
{
	struct elig e = {false, "未申领", "", id_age(q, w->id_number)};
	json_t *app = live_app(q, "elder_allowance", w->id_number);
	const char *ast = json_get_str(app, "status");
	if (w->deceased) {
		e.status = "已注销";
		e.reason = "申请人已死亡（户籍已注销）";
	} else if (!w->hukou_sh) {
		e.reason = "非本市户籍人员不符合老年综合津贴申领条件";
	} else if (e.age < 65) {
		e.reason = arena_printf(q->a, "申请人未满 65 周岁（现年 %d 周岁）", e.age);
	} else if (w->allowance_enrolled || (ast && !strcmp(ast, "approved"))) {
		e.status = "已享受";
		e.reason = "已享受老年综合津贴，请勿重复申请";
	} else if (ast) {
		e.status = "审核中";
		e.reason = "已有老年综合津贴申请正在办理中";
	} else {
		e.eligible = true;
	}
	json_decref(app);
	return e;
}

static void not_eligible(struct sim_req *q, const char *reason)
{
	sim_reply(q, 422, json_pack("{s:s,s:s}", "code", "NOT_ELIGIBLE", "message", reason));
}

static const char *applicant_id(const json_t *body)
{
	const char *id = sim_id_of(json_object_get(body, "applicant"));
	return id ? id : json_get_str(body, "id_number");
}

static const char *field_of(const json_t *body)
{
	return json_object_get(body, "applicant") ? "applicant.id_number" : "id_number";
}

/* 1. POST /minzheng/elder-allowance/query {id_number} */
static void allowance_query(struct sim_req *q)
{
	const struct sim_person *w =
	    sim_need_person(q, applicant_id(q->body), field_of(q->body), "PERSON_NOT_FOUND");
	if (!w)
		return;
	struct elig e = allowance_eligibility(q, w);
	json_t *o = json_pack("{s:b,s:s,s:s,s:i,s:s,s:s,s:b}", "eligible", e.eligible, "id_number",
	                      w->id_number, "name", w->name, "age", e.age, "status", e.status,
	                      "reason", e.reason, "hukou_shanghai", w->hukou_sh);
	if (e.age >= 65 && w->hukou_sh && !w->deceased)
		json_object_set_new(o, "monthly_amount", json_integer(allowance_amount(e.age)));
	char key[64];
	snprintf(key, sizeof(key), "minzheng:channel:%s", w->id_number);
	json_t *ch = sim_state_get(q->sim, key);
	if (!ch && !strcmp(e.status, "已享受")) {
		json_t *app = live_app(q, "elder_allowance", w->id_number);
		json_t *det = json_object_get(app, "detail");
		const char *c = json_get_str(det, "channel");
		const char *acct = bank_account_of(json_object_get(det, "bank"));
		if (app)
			ch = json_pack("{s:s,s:s}", "channel", c ? c : "ssc", "account_masked",
			               acct && strlen(acct) >= 4
			                   ? arena_printf(q->a, "****%s", acct + strlen(acct) - 4)
			                   : "");
		else if (w->bank_account[0])
			ch = json_pack("{s:s,s:s,s:s}", "channel", "bank", "bank", w->bank,
			               "account_masked",
			               arena_printf(q->a, "****%s",
			                            w->bank_account + strlen(w->bank_account) - 4));
		else
			ch = json_pack("{s:s}", "channel", "ssc");
		json_decref(app);
	}
	if (!strcmp(e.status, "已享受"))
		json_object_set_new(o, "channel", ch);
	else
		json_decref(ch);
	sim_reply(q, 200, o);
}

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

/* channel "bank" (银行账户) needs an account: 12–30 digits, and UnionPay card numbers (16–19
 * digits starting with 6) must pass the Luhn check; "ssc" (or "si_card") pays to the
 * 社会保障卡. False after answering. */
static bool check_channel(struct sim_req *q, const json_t *body)
{
	const char *ch = json_get_str(body, "channel");
	if (!ch)
		ch = "ssc";
	if (strcmp(ch, "bank") && strcmp(ch, "ssc") && strcmp(ch, "si_card")) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_CHANNEL", "message",
		                    "发放渠道应为 ssc（社会保障卡）或 bank（银行账户）", "field",
		                    "channel"));
		return false;
	}
	if (strcmp(ch, "bank"))
		return true;
	const char *acct = bank_account_of(json_object_get(body, "bank"));
	if (!acct || !acct[0]) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "MISSING_FIELD", "message",
		                    "发放渠道为银行账户时应填写收款银行账户", "field",
		                    "bank.account"));
		return false;
	}
	char digits[40];
	size_t k = 0;
	bool ok = true;
	for (const char *p = acct; *p; p++) {
		if (*p == ' ' || *p == '-')
			continue;
		if (*p < '0' || *p > '9' || k >= sizeof(digits) - 1) {
			ok = false;
			break;
		}
		digits[k++] = *p;
	}
	digits[k] = 0;
	ok = ok && k >= 12 && k <= 30 &&
	     (!(digits[0] == '6' && k >= 16 && k <= 19) || luhn_ok(digits));
	if (!ok) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "INVALID_BANK_ACCOUNT", "message",
		                    "银行账号校验未通过，请核对", "field", "bank.account"));
		return false;
	}
	return true;
}

static void answer_submission(struct sim_req *q, json_t *rec)
{
	if (!rec)
		return;
	json_t *o = json_pack("{s:O,s:O,s:O}", "dept_case_no", json_object_get(rec, "dept_case_no"),
	                      "status", json_object_get(rec, "status"), "received_at",
	                      json_object_get(rec, "received_at"));
	if (json_is_true(json_object_get(rec, "duplicate")))
		json_object_set_new(o, "duplicate", json_true());
	json_decref(rec);
	sim_reply(q, 200, o);
}

/* The submission's person (name checked); NULL after answering. */
static const struct sim_person *submitter(struct sim_req *q, const char **case_no)
{
	*case_no = sim_need_str(q, q->body, "case_no", "受理办件编号");
	if (!*case_no)
		return NULL;
	const struct sim_person *w =
	    sim_need_person(q, applicant_id(q->body), field_of(q->body), "PERSON_NOT_FOUND");
	if (!w)
		return NULL;
	const char *name = json_get_str(json_object_get(q->body, "applicant"), "name");
	if (name && name[0] && strcmp(name, w->name)) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "NAME_MISMATCH", "message",
		                    "申请人姓名与身份证号码不一致", "field", "applicant.name"));
		return NULL;
	}
	return w;
}

/* The same case number again is the same application: answer it before any rule (a retried
 * submission must not be refused because the first one made the person "审核中"). */
static bool replay(struct sim_req *q, const char *kind, const char *case_no, const char *id)
{
	json_t *list = sim_app_find(q->sim, "minzheng", kind, id, q->now_ms);
	size_t i;
	json_t *rec;
	json_array_foreach (list, i, rec) {
		if (!strcmp(json_get_str(rec, "case_no"), case_no)) {
			json_object_set_new(rec, "duplicate", json_true());
			answer_submission(q, json_incref(rec));
			json_decref(list);
			return true;
		}
	}
	json_decref(list);
	return false;
}

/* 2. POST /minzheng/elder-allowance/applications */
static void allowance_submit(struct sim_req *q)
{
	const char *case_no;
	const struct sim_person *w = submitter(q, &case_no);
	if (!w || replay(q, "elder_allowance", case_no, w->id_number))
		return;
	struct elig e = allowance_eligibility(q, w);
	if (!e.eligible) {
		not_eligible(q, e.reason);
		return;
	}
	if (!check_channel(q, q->body))
		return;
	json_t *detail = json_pack(
	    "{s:s,s:i,s:s?,s:O?}", "name", w->name, "monthly_amount", allowance_amount(e.age),
	    "channel", json_get_str(q->body, "channel"), "bank", json_object_get(q->body, "bank"));
	json_t *v = sim_verdict(true, "准予享受老年综合津贴，每月 %d 元，自次月起发放",
	                        allowance_amount(e.age));
	answer_submission(q, sim_app_submit(q->sim, "minzheng", "elder_allowance", case_no,
	                                    w->id_number, detail, v, q->now_ms));
}

/* 3. POST /minzheng/elder-allowance/applications/{dept_case_no}/cancel */
static void allowance_cancel(struct sim_req *q)
{
	sim_apps_cancel(q);
}

/* 4. POST /minzheng/elder-allowance/channel-changes {case_no, id_number, channel, bank} */
static void allowance_channel(struct sim_req *q)
{
	const char *case_no;
	const struct sim_person *w = submitter(q, &case_no);
	if (!w || replay(q, "elder_allowance.change_channel", case_no, w->id_number))
		return;
	struct elig e = allowance_eligibility(q, w);
	if (strcmp(e.status, "已享受")) {
		not_eligible(q, "未享受老年综合津贴，不能变更发放渠道");
		return;
	}
	if (!check_channel(q, q->body))
		return;
	const char *ch = json_get_str(q->body, "channel");
	json_t *bank = json_object_get(q->body, "bank");
	const char *acct = bank_account_of(bank);
	const char *bname = json_get_str(bank, "name");
	if (!bname)
		bname = json_get_str(bank, "bank");
	json_t *now = json_pack(
	    "{s:s,s:s,s:s}", "channel", ch ? ch : "ssc", "bank", bname ? bname : "",
	    "account_masked",
	    acct && strlen(acct) >= 4 ? arena_printf(q->a, "****%s", acct + strlen(acct) - 4) : "");
	char key[64];
	snprintf(key, sizeof(key), "minzheng:channel:%s", w->id_number);
	sim_state_set(q->sim, key, json_deep_copy(now));
	answer_submission(
	    q, sim_app_submit(
	           q->sim, "minzheng", "elder_allowance.change_channel", case_no, w->id_number, now,
	           sim_verdict(true, "发放渠道已变更，自下月起按新渠道发放"), q->now_ms));
}

static const char *meal_reason(struct sim_req *q, const struct sim_person *w)
{
	int age = id_age(q, w->id_number);
	if (w->deceased)
		return "申请人已死亡（户籍已注销）";
	if (!w->hukou_sh)
		return "非本市户籍人员不符合助餐补贴条件";
	if (age < 60 || (age < 70 && !w->dibao))
		return arena_printf(
		    q->a, "申请人现年 %d 周岁，需年满 70 周岁（低保对象年满 60 周岁）", age);
	return NULL;
}

/* 5. POST /minzheng/meal-subsidy/applications {case_no, applicant, form} */
static void meal_submit(struct sim_req *q)
{
	const char *case_no;
	const struct sim_person *w = submitter(q, &case_no);
	if (!w || replay(q, "meal_subsidy", case_no, w->id_number))
		return;
	const char *why = meal_reason(q, w);
	if (why) {
		not_eligible(q, why);
		return;
	}
	json_t *have = live_app(q, "meal_subsidy", w->id_number);
	if (have) {
		json_decref(have);
		not_eligible(q, "已享受助餐补贴，如需调整请办理助餐补贴变更");
		return;
	}
	json_t *form = json_object_get(q->body, "form");
	const char *site = json_get_str(form, "site");
	const char *street = sim_street_name(w->district_idx, w->street_idx);
	int pick = (int)(sim_hash(3, w->id_number) % 3);
	int amount = w->dibao ? 10 : id_age(q, w->id_number) >= 80 ? 8 : 5;
	json_t *detail =
	    json_pack("{s:s,s:s,s:i}", "name", w->name, "site",
	              site ? site : arena_printf(q->a, "%s%s", street, meal_sites[pick]),
	              "subsidy_per_meal", amount);
	answer_submission(
	    q, sim_app_submit(q->sim, "minzheng", "meal_subsidy", case_no, w->id_number, detail,
	                      sim_verdict(true, "准予享受助餐补贴，每餐补贴 %d 元", amount),
	                      q->now_ms));
}

/* 6. POST /minzheng/meal-subsidy/changes {case_no, id_number, form} */
static void meal_change(struct sim_req *q)
{
	const char *case_no;
	const struct sim_person *w = submitter(q, &case_no);
	if (!w || replay(q, "meal_subsidy.change", case_no, w->id_number))
		return;
	json_t *have = live_app(q, "meal_subsidy", w->id_number);
	if (!have) {
		not_eligible(q, "未享受助餐补贴，不能办理变更");
		return;
	}
	json_t *form = json_object_get(q->body, "form");
	if (!json_is_object(form) || !json_object_size(form)) {
		json_decref(have);
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "MISSING_FIELD", "message",
		                    "缺少变更内容（form）", "field", "form"));
		return;
	}
	sim_app_update(q->sim, "minzheng", json_get_str(have, "dept_case_no"), "change", form,
	               q->now_ms, NULL);
	json_decref(have);
	answer_submission(q, sim_app_submit(q->sim, "minzheng", "meal_subsidy.change", case_no,
	                                    w->id_number,
	                                    json_pack("{s:s,s:O}", "name", w->name, "form", form),
	                                    sim_verdict(true, "助餐补贴变更已生效"), q->now_ms));
}

static json_t *verdict(struct sim_req *q, const char *service, const struct sim_person *w,
                       const json_t *body)
{
	if (strstr(service, "elder_allowance")) {
		struct elig e = allowance_eligibility(q, w);
		return e.eligible ? sim_verdict(true, "准予享受老年综合津贴")
		                  : sim_verdict(false, "%s", e.reason);
	}
	if (strstr(service, "dibao") && !w->hukou_sh)
		return sim_verdict(false, "最低生活保障由户籍地受理，申请人非本市户籍");
	(void)body;
	return sim_verdict(true, "准予办理");
}

static bool query(struct sim_req *q, const char *service, const struct sim_person *w, json_t *o)
{
	if (!strcmp(service, "elder_allowance_query")) {
		struct elig e = allowance_eligibility(q, w);
		json_object_set_new(o, "eligible", json_boolean(e.eligible));
		json_object_set_new(o, "age", json_integer(e.age));
		json_object_set_new(o, "status", json_string(e.status));
		json_object_set_new(o, "reason", json_string(e.reason));
		return true;
	}
	return false;
}

static const struct sim_endpoint endpoints[] = {
    {"POST", "/elder-allowance/query", allowance_query, 0, "老年综合津贴资格查询"},
    {"POST", "/elder-allowance/applications", allowance_submit, 0, "老年综合津贴申请"},
    {"POST", "/elder-allowance/applications/{no}/cancel", allowance_cancel, 0,
     "老年综合津贴申请撤销"},
    {"POST", "/elder-allowance/channel-changes", allowance_channel, 0, "老年综合津贴发放渠道变更"},
    {"POST", "/meal-subsidy/applications", meal_submit, 0, "助餐补贴申请"},
    {"POST", "/meal-subsidy/changes", meal_change, 0, "助餐补贴变更"},
    SIM_GENERIC_ENDPOINTS,
};

const struct sim_system sim_system_minzheng = {
    "minzheng", "民政业务中台", endpoints, sizeof(endpoints) / sizeof(endpoints[0]), verdict, query,
};
